// The projection hook inside the ledger (ledger/src/projections.cc): folded in the append's
// WriteBatch, caught up in the background when behind, rebuildable and comparable by digest.
#include <filesystem>
#include <fstream>
#include <thread>

#include "test_util.h"

namespace convledger {
namespace {

using test::TempDir;

// Counts events per conversation and per type; the fold version is settable so tests can
// simulate a changed fold. With `fail_on` set, Apply fails for events whose message id matches.
class CountingProjection : public Projection {
 public:
  explicit CountingProjection(uint32_t version = 1, std::string name = "counts")
      : version_(version), name_(std::move(name)) {}
  std::string_view Name() const override { return name_; }
  uint32_t Version() const override { return version_; }
  Status Apply(const Event& e, StateStore& store) override {
    if (!fail_on.empty() && e.message_id == fail_on)
      return Status::InvalidArgument("test_failure", "asked to fail");
    Bump(store, "conv/" + e.conversation_id);
    Bump(store, "type/" + std::string(ToString(e.type)) + "/v" + std::to_string(version_));
    store.Put("last/" + e.conversation_id, std::to_string(e.global_seq));
    return Status::OK();
  }
  std::string fail_on;

 private:
  static void Bump(StateStore& store, const std::string& key) {
    std::string v;
    uint64_t n = 0;
    if (store.Get(key, &v).ok()) n = std::stoull(v);
    store.Put(key, std::to_string(n + 1));
  }
  uint32_t version_;
  std::string name_;
};

// A conversation-local fold (every key under "c/<conversation>/", depending only on that
// conversation's events), so the ledger may rebuild it in conversation order. It deletes as well
// as writes, and keeps a running chain of the global sequences it saw, so an event folded twice,
// skipped or folded out of order changes the state.
class LocalProjection : public Projection {
 public:
  explicit LocalProjection(std::string name = "local") : name_(std::move(name)) {}
  std::string_view Name() const override { return name_; }
  uint32_t Version() const override { return 1; }
  bool ConversationLocal() const override { return true; }
  Status Apply(const Event& e, StateStore& store) override {
    if (!fail_on.empty() && e.message_id == fail_on)
      return Status::InvalidArgument("test_failure", "asked to fail");
    const std::string p = "c/" + e.conversation_id + "/";
    std::string chain;
    if (Status st = store.Get(p + "chain", &chain); !st.ok() && st.code() != Status::Code::kNotFound)
      return st;
    store.Put(p + "chain", std::to_string(std::hash<std::string>{}(chain + "," + std::to_string(e.global_seq))));
    char seq[32];
    std::snprintf(seq, sizeof seq, "seq/%08llu", static_cast<unsigned long long>(e.conversation_seq));
    store.Put(p + seq, std::to_string(e.global_seq));
    if (e.conversation_seq > 2) {
      std::snprintf(seq, sizeof seq, "seq/%08llu",
                    static_cast<unsigned long long>(e.conversation_seq - 2));
      store.Delete(p + seq);
    }
    return Status::OK();
  }
  std::string fail_on;

 private:
  std::string name_;
};

// The same fold under another name, folded in global order: the reference a conversation-order
// rebuild of "local" must equal byte for byte.
class GlobalTwin : public LocalProjection {
 public:
  explicit GlobalTwin(std::string name = "twin") : LocalProjection(std::move(name)) {}
  bool ConversationLocal() const override { return false; }
};

// LocalProjection plus totals that every conversation adds to, under "t/" (SharedKey): a count of
// all events and one per conversation-id length. Sums commute, so a conversation-order rebuild
// must land on the global-order fold's bytes; were the totals staged with a conversation, each
// conversation's table file would overwrite them with its own count.
class TotalsProjection : public LocalProjection {
 public:
  explicit TotalsProjection(std::string name = "totals", bool local = true)
      : LocalProjection(std::move(name)), local_(local) {}
  bool ConversationLocal() const override { return local_; }
  bool SharedKey(std::string_view key) const override { return key.rfind("t/", 0) == 0; }
  Status Apply(const Event& e, StateStore& store) override {
    if (Status st = LocalProjection::Apply(e, store); !st.ok()) return st;
    for (const std::string& key : {std::string("t/events"),
                                   "t/id-length/" + std::to_string(e.conversation_id.size())}) {
      std::string v;
      uint64_t n = 0;
      if (store.Get(key, &v).ok()) n = std::stoull(v);
      store.Put(key, std::to_string(n + 1));
    }
    return Status::OK();
  }

 private:
  bool local_;
};

std::string ReadKey(Ledger& l, const std::string& key, std::string_view proj = "counts") {
  auto r = l.NewStateReader(proj);
  if (!r.ok()) return "<" + r.status().ToString() + ">";
  std::string v;
  Status st = (*r)->Get(key, &v);
  return st.ok() ? v : "<" + st.ToString() + ">";
}

class ProjectionHookTest : public ::testing::Test {
 protected:
  std::unique_ptr<Ledger> Open(std::vector<std::shared_ptr<Projection>> projections,
                               size_t rebuild_spill_bytes = Options().rebuild_spill_bytes) {
    Options o;
    o.rebuild_spill_bytes = rebuild_spill_bytes;
    o.clock = &clock_;
    o.projections = std::move(projections);
    auto l = Ledger::Open(dir_.path(), o);
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    return l.ok() ? std::move(l).value() : nullptr;
  }
  void AppendMany(Ledger& l, int n, const std::string& conv) {
    for (int i = 0; i < n; ++i) {
      auto r = l.Append({test::Sent(conv, conv + "-m" + std::to_string(i))});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
  }
  TempDir dir_;
  test::FixedClock clock_;
};

TEST_F(ProjectionHookTest, FoldsInTheSameAppendReadYourWrites) {
  auto l = Open({std::make_shared<CountingProjection>()});
  ASSERT_TRUE(l);
  ASSERT_TRUE(l->WaitForProjections(std::chrono::seconds(10)));
  ASSERT_OK(l->Append({test::Sent("c1", "m1"), test::Sent("c1", "m2"), test::Sent("c2", "m3")}));
  // Visible immediately after Append returns, with the checkpoint at the last sequence.
  EXPECT_EQ(ReadKey(*l, "conv/c1"), "2");
  EXPECT_EQ(ReadKey(*l, "conv/c2"), "1");
  EXPECT_EQ(ReadKey(*l, "last/c2"), "3");
  ASSERT_OK_AND_ASSIGN(auto reader, l->NewStateReader("counts"));
  EXPECT_EQ(reader->Checkpoint(), 3u);
  std::vector<std::string> keys;
  ASSERT_OK(reader->Scan("conv/", [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  }));
  EXPECT_EQ(keys, (std::vector<std::string>{"conv/c1", "conv/c2"}));
}

TEST_F(ProjectionHookTest, RejectedAppendLeavesNoStateBehind) {
  auto proj = std::make_shared<CountingProjection>();
  auto l = Open({proj});
  ASSERT_TRUE(l);
  ASSERT_OK(l->Append({test::Sent("c1", "m1")}));
  // An invariant failure in the second event: nothing of the batch, state included.
  EXPECT_FALSE(l->Append({test::Sent("c1", "m2"), test::Edited("c1", "never-sent")}).ok());
  EXPECT_EQ(ReadKey(*l, "conv/c1"), "1");
  // A failing fold fails its append, and only its append.
  proj->fail_on = "boom";
  EXPECT_STATUS(l->Append({test::Sent("c1", "boom")}), kInvalidArgument, "test_failure");
  EXPECT_EQ(l->LastGlobalSeq(), 1u);
  EXPECT_EQ(ReadKey(*l, "conv/c1"), "1");
}

TEST_F(ProjectionHookTest, AThrowingFoldFailsItsAppendAndNeverStallsTheQueue) {
  class Throwing : public CountingProjection {
   public:
    Status Apply(const Event& e, StateStore& store) override {
      if (e.message_id == "throw") throw std::runtime_error("bad state");
      return CountingProjection::Apply(e, store);
    }
  };
  auto l = Open({std::make_shared<Throwing>()});
  ASSERT_TRUE(l);
  EXPECT_STATUS(l->Append({test::Sent("c1", "throw")}), kCorruption, "projection_failed");
  // The writer queue is free again: later appends (from several threads) go through.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] { EXPECT_OK(l->Append({test::Sent("c1", "m" + std::to_string(t))})); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(l->LastGlobalSeq(), 4u);
  EXPECT_EQ(ReadKey(*l, "conv/c1"), "4");
}

TEST_F(ProjectionHookTest, ReadOnlyOpenOfALedgerWrittenWithoutViewsWorks) {
  {
    auto l = Open({});
    AppendMany(*l, 3, "a");
  }
  Options o;
  o.read_only = true;
  o.projections = {std::make_shared<CountingProjection>()};
  auto l = Ledger::Open(dir_.path(), o);
  ASSERT_OK(l);
  EXPECT_EQ((*l)->LastGlobalSeq(), 3u);
  EXPECT_STATUS((*l)->NewStateReader("counts"), kBusy, "projection_rebuilding");
}

TEST_F(ProjectionHookTest, RebuildEqualsIncrementalAndDigestIsStable) {
  auto l = Open({std::make_shared<CountingProjection>()});
  ASSERT_TRUE(l);
  AppendMany(*l, 50, "a");
  AppendMany(*l, 30, "b");
  ASSERT_OK_AND_ASSIGN(Digest before, l->ProjectionDigest("counts"));
  ASSERT_OK_AND_ASSIGN(RebuildReport rep, l->RebuildProjection("counts", false));
  EXPECT_TRUE(rep.equal) << rep.first_difference;
  EXPECT_EQ(rep.events, 80u);
  EXPECT_EQ(rep.checkpoint, 80u);
  EXPECT_EQ(rep.live_digest, before);
  EXPECT_EQ(rep.rebuilt_digest, before);
  // Replacing gives the same state again.
  ASSERT_OK_AND_ASSIGN(RebuildReport rep2, l->RebuildProjection("counts", true));
  EXPECT_TRUE(rep2.replaced);
  ASSERT_OK_AND_ASSIGN(Digest after, l->ProjectionDigest("counts"));
  EXPECT_EQ(after, before);
  EXPECT_STATUS(l->ProjectionDigest("nope"), kNotFound, "projection_not_found");
}

TEST_F(ProjectionHookTest, RebuildReportsAStateThatDiffersFromTheLog) {
  {
    auto l = Open({std::make_shared<CountingProjection>()});
    AppendMany(*l, 5, "a");
  }
  // Reopened with a projection that now folds differently under the same version: the stored
  // state no longer equals a fold of the log, and the rebuild says where.
  class Drifted : public CountingProjection {
   public:
    Status Apply(const Event& e, StateStore& store) override {
      store.Put("extra/" + e.conversation_id, "x");
      return CountingProjection::Apply(e, store);
    }
  };
  auto l = Open({std::make_shared<Drifted>()});
  ASSERT_TRUE(l);
  ASSERT_OK_AND_ASSIGN(RebuildReport rep, l->RebuildProjection("counts", false));
  EXPECT_FALSE(rep.equal);
  EXPECT_EQ(rep.first_difference, "extra/a");
  ASSERT_OK_AND_ASSIGN(RebuildReport fixed, l->RebuildProjection("counts", true));
  ASSERT_OK_AND_ASSIGN(RebuildReport again, l->RebuildProjection("counts", false));
  EXPECT_TRUE(again.equal);
}

TEST_F(ProjectionHookTest, ProjectionAddedLaterCatchesUpFromTheLog) {
  {
    auto l = Open({});
    AppendMany(*l, 5000, "a");  // more than one catch-up chunk
  }
  auto l = Open({std::make_shared<CountingProjection>()});
  ASSERT_TRUE(l);
  // Appends keep working while it catches up.
  ASSERT_OK(l->Append({test::Sent("b", "b-1")}));
  ASSERT_TRUE(l->WaitForProjections(std::chrono::seconds(60)));
  ASSERT_OK(l->Append({test::Sent("b", "b-2")}));
  EXPECT_EQ(ReadKey(*l, "conv/a"), "5000");
  EXPECT_EQ(ReadKey(*l, "conv/b"), "2");
  ASSERT_OK_AND_ASSIGN(RebuildReport rep, l->RebuildProjection("counts", false));
  EXPECT_TRUE(rep.equal) << rep.first_difference;
  auto infos = l->Projections();
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_TRUE(infos[0].ready);
  EXPECT_EQ(infos[0].checkpoint, 5002u);
}

TEST_F(ProjectionHookTest, NewFoldVersionIsRebuiltWhileOthersStayAvailable) {
  {
    auto l = Open({std::make_shared<CountingProjection>(1),
                   std::make_shared<CountingProjection>(1, "other")});
    AppendMany(*l, 3000, "a");
    EXPECT_EQ(ReadKey(*l, "type/message.sent/v1"), "3000");
  }
  auto l = Open({std::make_shared<CountingProjection>(2),
                 std::make_shared<CountingProjection>(1, "other")});
  ASSERT_TRUE(l);
  // "other" is current and readable at once, whatever "counts" is doing.
  EXPECT_EQ(ReadKey(*l, "conv/a", "other"), "3000");
  ASSERT_TRUE(l->WaitForProjections(std::chrono::seconds(60)));
  // The old version's keys are gone; the new fold produced its own.
  EXPECT_EQ(ReadKey(*l, "type/message.sent/v2"), "3000");
  EXPECT_NE(ReadKey(*l, "type/message.sent/v1"), "3000");
  EXPECT_EQ(l->Projections()[0].version, 2u);
}

TEST_F(ProjectionHookTest, ConcurrentAppendsDuringCatchUpLoseNothing) {
  {
    auto l = Open({});
    AppendMany(*l, 6000, "a");
  }
  auto l = Open({std::make_shared<CountingProjection>()});
  ASSERT_TRUE(l);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i)
        EXPECT_OK(l->Append({test::Sent("t" + std::to_string(t), "m" + std::to_string(i))}));
    });
  for (auto& t : threads) t.join();
  ASSERT_TRUE(l->WaitForProjections(std::chrono::seconds(60)));
  for (int t = 0; t < 4; ++t) EXPECT_EQ(ReadKey(*l, "conv/t" + std::to_string(t)), "200");
  EXPECT_EQ(ReadKey(*l, "conv/a"), "6000");
  ASSERT_OK_AND_ASSIGN(RebuildReport rep, l->RebuildProjection("counts", false));
  EXPECT_TRUE(rep.equal) << rep.first_difference;
}

TEST_F(ProjectionHookTest, StateSurvivesReopenWithoutRefolding) {
  Digest d{};
  {
    auto l = Open({std::make_shared<CountingProjection>()});
    AppendMany(*l, 20, "a");
    ASSERT_OK_AND_ASSIGN(d, l->ProjectionDigest("counts"));
  }
  auto l = Open({std::make_shared<CountingProjection>()});
  ASSERT_TRUE(l);
  // Ready at open: nothing to catch up.
  EXPECT_TRUE(l->Projections()[0].ready);
  ASSERT_OK_AND_ASSIGN(Digest again, l->ProjectionDigest("counts"));
  EXPECT_EQ(again, d);
}

TEST_F(ProjectionHookTest, ConversationLocalCatchUpEqualsAGlobalOrderFold) {
  {
    auto l = Open({});
    // Interleaved conversations: global order differs from conversation order.
    for (int i = 0; i < 3000; ++i) {
      const std::string conv = "conv-" + std::to_string(i % 37);
      ASSERT_OK(l->Append({test::Sent(conv, conv + "-m" + std::to_string(i))}));
    }
  }
  // The same fold, once as a global-order projection (folded incrementally: the hook's path and
  // the reference) is not possible on an existing log, so compare with a second ledger state:
  // "local" is rebuilt by conversation at open while appends go on, then checked against
  // RebuildProjection (conversation order again) and against a global-order fold of the same
  // class under another name that is not ConversationLocal (GlobalTwin).
  auto l = Open({std::make_shared<LocalProjection>(), std::make_shared<GlobalTwin>()});
  ASSERT_TRUE(l);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        // Old conversations and new ones, while the catch-up runs.
        const std::string conv = "conv-" + std::to_string((t * 150 + i) % 50);
        EXPECT_OK(l->Append({test::Sent(conv, "x" + std::to_string(t) + "-" + std::to_string(i))}));
      }
    });
  for (auto& t : threads) t.join();
  ASSERT_TRUE(l->WaitForProjections(std::chrono::seconds(60)));
  for (const ProjectionInfo& info : l->Projections()) {
    EXPECT_TRUE(info.ready);
    EXPECT_EQ(info.checkpoint, 3450u);
    EXPECT_TRUE(info.error.empty()) << info.error;
  }
  ASSERT_OK_AND_ASSIGN(Digest local, l->ProjectionDigest("local"));
  ASSERT_OK_AND_ASSIGN(Digest twin, l->ProjectionDigest("twin"));
  EXPECT_EQ(local, twin);
  ASSERT_OK_AND_ASSIGN(RebuildReport rep, l->RebuildProjection("local", false));
  EXPECT_TRUE(rep.equal) << rep.first_difference;
  EXPECT_EQ(rep.events, 3450u);
  // Replace goes through the same conversation-order rebuild and lands on the same state.
  ASSERT_OK_AND_ASSIGN(RebuildReport replaced, l->RebuildProjection("local", true));
  EXPECT_TRUE(replaced.replaced);
  ASSERT_OK_AND_ASSIGN(Digest again, l->ProjectionDigest("local"));
  EXPECT_EQ(again, twin);
  ASSERT_OK(l->Append({test::Sent("conv-1", "after")}));
  ASSERT_OK_AND_ASSIGN(Digest after_local, l->ProjectionDigest("local"));
  ASSERT_OK_AND_ASSIGN(Digest after_twin, l->ProjectionDigest("twin"));
  EXPECT_EQ(after_local, after_twin);
}

TEST_F(ProjectionHookTest, AFailedCatchUpIsReportedAndTheOthersGoLive) {
  {
    auto l = Open({});
    for (int i = 0; i < 500; ++i) {
      const std::string conv = "conv-" + std::to_string(i % 7);
      ASSERT_OK(l->Append({test::Sent(conv, "m" + std::to_string(i))}));
    }
  }
  auto bad_local = std::make_shared<LocalProjection>("bad_local");
  bad_local->fail_on = "m321";
  auto bad_global = std::make_shared<CountingProjection>(1, "bad_global");
  bad_global->fail_on = "m123";
  auto l = Open({std::make_shared<LocalProjection>(), bad_local,
                 std::make_shared<CountingProjection>(), bad_global});
  ASSERT_TRUE(l);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::vector<ProjectionInfo> infos;
  while (std::chrono::steady_clock::now() < deadline) {
    infos = l->Projections();
    if (infos[0].ready && infos[2].ready && !infos[1].error.empty() && !infos[3].error.empty())
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(infos.size(), 4u);
  EXPECT_TRUE(infos[0].ready);
  EXPECT_TRUE(infos[2].ready);
  EXPECT_TRUE(infos[0].error.empty());
  EXPECT_FALSE(infos[1].ready);
  EXPECT_FALSE(infos[3].ready);
  EXPECT_NE(infos[1].error.find("asked to fail"), std::string::npos) << infos[1].error;
  EXPECT_NE(infos[1].error.find("bad_local"), std::string::npos) << infos[1].error;
  EXPECT_NE(infos[3].error.find("asked to fail"), std::string::npos) << infos[3].error;
  auto r = l->NewStateReader("bad_local");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "projection_rebuilding");
  // The healthy ones are complete and stay live.
  ASSERT_OK(l->Append({test::Sent("conv-0", "later")}));
  ASSERT_OK_AND_ASSIGN(RebuildReport rep, l->RebuildProjection("local", false));
  EXPECT_TRUE(rep.equal) << rep.first_difference;
  EXPECT_EQ(rep.checkpoint, 501u);
  EXPECT_EQ(ReadKey(*l, "conv/conv-0"), "73");
}

TEST_F(ProjectionHookTest, AConversationOrderRebuildIngestsItsFilesAndLeavesNoneBehind) {
  {
    auto l = Open({});
    // Ids of one length: the state keys come in ascending order, so the fold's table files are
    // never cut short (the test above covers keys that do not sort by conversation).
    for (int i = 0; i < 900; ++i) {
      const std::string conv = "conv-" + std::to_string(i % 9);
      ASSERT_OK(l->Append({test::Sent(conv, conv + "-m" + std::to_string(i))}));
    }
  }
  // A crash during an earlier rebuild may have left a half-written file in bulk/.
  const std::filesystem::path bulk = std::filesystem::path(dir_.path()) / "bulk";
  std::filesystem::create_directories(bulk);
  std::ofstream(bulk / "proj.local-7.sst") << "half-written";
  auto l = Open({std::make_shared<LocalProjection>(), std::make_shared<GlobalTwin>()});
  ASSERT_TRUE(l);
  ASSERT_TRUE(l->WaitForProjections(std::chrono::seconds(60)));
  auto bulk_files = [&] {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(bulk, ec))
      names.push_back(f.path().filename().string());
    return names;
  };
  EXPECT_EQ(bulk_files(), std::vector<std::string>{});
  // The ingested state is the global-order fold's, byte for byte.
  ASSERT_OK_AND_ASSIGN(Digest local, l->ProjectionDigest("local"));
  ASSERT_OK_AND_ASSIGN(Digest twin, l->ProjectionDigest("twin"));
  EXPECT_EQ(local, twin);
  EXPECT_EQ(ReadKey(*l, "c/conv-8/seq/00000100", "local"), "900");
  EXPECT_EQ(ReadKey(*l, "c/conv-8/seq/00000098", "local").rfind("<", 0), 0u);  // deleted
  // A check-only rebuild goes the same way, into a scratch state, and cleans up as well.
  ASSERT_OK_AND_ASSIGN(RebuildReport rep, l->RebuildProjection("local", false));
  EXPECT_TRUE(rep.equal) << rep.first_difference;
  EXPECT_EQ(bulk_files(), std::vector<std::string>{});
  // And the live state takes appends on top of the ingested files.
  ASSERT_OK(l->Append({test::Sent("conv-8", "after")}));
  EXPECT_EQ(ReadKey(*l, "c/conv-8/seq/00000101", "local"), "901");
  ASSERT_OK_AND_ASSIGN(Digest after_local, l->ProjectionDigest("local"));
  ASSERT_OK_AND_ASSIGN(Digest after_twin, l->ProjectionDigest("twin"));
  EXPECT_EQ(after_local, after_twin);
}

// Shared totals (Projection::SharedKey) in a conversation-order rebuild (beside another
// conversation-local view in the same pass): held across
// conversations and written at the end; and, with a spill limit of one byte, both a conversation's
// state and the totals written out after every event and read back from RocksDB (deletions of a
// spilled conversation's keys included).
TEST_F(ProjectionHookTest, AConversationOrderRebuildKeepsSharedTotalsAndSpillsAtItsLimit) {
  {
    auto l = Open({});
    for (int i = 0; i < 2000; ++i) {
      const std::string conv = (i % 3 == 0 ? "long-conv-" : "conv-") + std::to_string(i % 23);
      ASSERT_OK(l->Append({test::Sent(conv, conv + "-m" + std::to_string(i))}));
    }
  }
  // Each round adds views under new names, so they are rebuilt from the log at open.
  uint64_t events = 2000;
  for (const auto& [suffix, spill] : {std::pair<std::string, size_t>{"a", Options().rebuild_spill_bytes},
                                      std::pair<std::string, size_t>{"b", 1}}) {
    SCOPED_TRACE("rebuild_spill_bytes " + std::to_string(spill));
    const std::string name = "totals_" + suffix, twin_name = "twin_" + suffix;
    // Two conversation-local views in the one conversation-order pass, each folding on its own
    // thread, beside their global-order twins.
    auto l = Open({std::make_shared<TotalsProjection>(name),
                   std::make_shared<TotalsProjection>(twin_name, false),
                   std::make_shared<LocalProjection>("local_" + suffix),
                   std::make_shared<GlobalTwin>("local_twin_" + suffix)},
                  spill);
    ASSERT_TRUE(l);
    ASSERT_TRUE(l->WaitForProjections(std::chrono::seconds(60)));
    for (const ProjectionInfo& info : l->Projections()) EXPECT_TRUE(info.error.empty()) << info.error;
    EXPECT_EQ(ReadKey(*l, "t/events", name), std::to_string(events));
    EXPECT_EQ(ReadKey(*l, "t/id-length/11", name), "290");  // "long-conv-N", N one digit
    ASSERT_OK_AND_ASSIGN(Digest local, l->ProjectionDigest(name));
    ASSERT_OK_AND_ASSIGN(Digest twin, l->ProjectionDigest(twin_name));
    EXPECT_EQ(local, twin);
    ASSERT_OK_AND_ASSIGN(Digest other, l->ProjectionDigest("local_" + suffix));
    ASSERT_OK_AND_ASSIGN(Digest other_twin, l->ProjectionDigest("local_twin_" + suffix));
    EXPECT_EQ(other, other_twin);
    ASSERT_OK_AND_ASSIGN(RebuildReport rep, l->RebuildProjection(name, false));
    EXPECT_TRUE(rep.equal) << rep.first_difference;
    ASSERT_OK(l->Append({test::Sent("conv-1", "after-" + suffix)}));
    ++events;
    EXPECT_EQ(ReadKey(*l, "t/events", name), std::to_string(events));
    ASSERT_OK_AND_ASSIGN(Digest after_local, l->ProjectionDigest(name));
    ASSERT_OK_AND_ASSIGN(Digest after_twin, l->ProjectionDigest(twin_name));
    EXPECT_EQ(after_local, after_twin);
  }
}

TEST_F(ProjectionHookTest, AConversationLocalRebuildInterruptedByCloseStartsOverAtNextOpen) {
  {
    auto l = Open({});
    AppendMany(*l, 20000, "a");
    AppendMany(*l, 10, "b");
  }
  {
    // Closed at once: the catch-up stops wherever it is (maybe before writing a checkpoint).
    auto l = Open({std::make_shared<LocalProjection>()});
    ASSERT_TRUE(l);
  }
  auto l = Open({std::make_shared<LocalProjection>()});
  ASSERT_TRUE(l);
  ASSERT_TRUE(l->WaitForProjections(std::chrono::seconds(120)));
  ASSERT_OK_AND_ASSIGN(RebuildReport rep, l->RebuildProjection("local", false));
  EXPECT_TRUE(rep.equal) << rep.first_difference;
  EXPECT_EQ(rep.checkpoint, 20010u);
  EXPECT_EQ(ReadKey(*l, "c/b/seq/00000010", "local"), "20010");
}

}  // namespace
}  // namespace convledger
