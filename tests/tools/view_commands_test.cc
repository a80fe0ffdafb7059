// `convledger history`, `view`, `analytics` and `rebuild` (tools/view_commands.cc), and
// `verify --projections` (tools/read_commands.cc), on the demo data (tools/demo.cc).

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace convledger::cli::test {
namespace {

// True when some object anywhere in `j` has every key/value of `fields`.
bool ContainsObject(const json& j, const json& fields) {
  if (j.is_object()) {
    bool all = true;
    for (auto it = fields.begin(); it != fields.end(); ++it)
      all = all && j.contains(it.key()) && j[it.key()] == it.value();
    if (all) return true;
    for (const auto& [k, v] : j.items())
      if (ContainsObject(v, fields)) return true;
  } else if (j.is_array()) {
    for (const json& v : j)
      if (ContainsObject(v, fields)) return true;
  }
  return false;
}

bool IsHexDigest(const json& j) {
  if (!j.is_string()) return false;
  const std::string s = j.get<std::string>();
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

class ViewCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DemoCommand demo;
    demo.data_dir = data_;
    std::ostringstream out;
    ASSERT_EQ(RunDemo(demo, out), kExitOk) << out.str();
  }

  // Runs a view command; `out` gets stdout, the exit code is returned.
  template <typename Command>
  int Run(int (*fn)(const Command&, std::ostream&), Command cmd, std::string* out = nullptr) {
    cmd.data_dir = data_;
    std::ostringstream o;
    const int rc = fn(cmd, o);
    if (out) *out = o.str();
    return rc;
  }

  // The one JSON object a view command printed (fails the test when it is not one line).
  static json OneLine(const std::string& out) {
    std::vector<json> lines = JsonLines(out);
    EXPECT_EQ(lines.size(), 1u) << out;
    return lines.empty() ? json() : lines[0];
  }

  ConversationViewCommand Conversation(const std::string& id, const std::string& as_of = "") {
    ConversationViewCommand c;
    c.conversation_id = id;
    c.as_of = as_of;
    return c;
  }

  // The global_seq of the first event of `conversation` matching `pred`.
  uint64_t FindSeq(const std::string& conversation, const std::function<bool(const json&)>& pred) {
    EventsCommand cmd;
    cmd.data_dir = data_;
    cmd.conversation = conversation;
    std::ostringstream out;
    EXPECT_EQ(RunEvents(cmd, out), kExitOk);
    for (const json& e : JsonLines(out.str()))
      if (pred(e)) return e["global_seq"].get<uint64_t>();
    ADD_FAILURE() << "no such event in " << conversation;
    return 0;
  }

  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
};

TEST_F(ViewCommandsTest, HistoryFlagsThePromotionDeletedAfterTheCustomerReadIt) {
  std::string out;
  ASSERT_EQ(Run(RunHistory, Conversation("demo-wa-ben"), &out), kExitOk);
  const json h = OneLine(out);
  EXPECT_TRUE(ContainsObject(h, {{"type", "deleted_after_read"},
                                 {"message_id", "wamid.DEMO-BEN-01"}}))
      << h.dump(2);
  // No reason and no correction within the window either.
  EXPECT_TRUE(ContainsObject(h, {{"type", "deleted_without_explanation"},
                                 {"message_id", "wamid.DEMO-BEN-01"}}))
      << h.dump(2);
  // The history keeps what was deleted, and the internal note.
  EXPECT_NE(out.find("40% off all winter coats"), std::string::npos);
  EXPECT_NE(out.find("BW40 went to the wrong segment"), std::string::npos);
}

TEST_F(ViewCommandsTest, CustomerViewOfAnnaHidesRedactedDeletedAndInternalContent) {
  std::string out;
  ASSERT_EQ(Run(RunView, Conversation("demo-wa-anna"), &out), kExitOk);
  OneLine(out);
  for (const char* secret : {
           "4111",                          // the redacted card number
           "CVC",                           //   ... and the rest of that message
           "Warehouse sync for size M",     // the internal note
           "OPS-231",                       //   ... and its ticket
           "12 in size M",                  // the message deleted for everyone
           "stale warehouse sync",          // the deletion's reason
           "added that the reservation",    // the edit's reason
           "agent-17",                      // an agent's internal id
           "PCI DSS",                       // the redaction's reason
       }) {
    EXPECT_EQ(out.find(secret), std::string::npos) << secret << " leaked into\n" << out;
  }
  // What the customer does see: the edited replacement, and what the agent said afterwards.
  EXPECT_NE(out.find("free of charge"), std::string::npos) << out;
  EXPECT_NE(out.find("Your sweater is reserved"), std::string::npos) << out;
}

TEST_F(ViewCommandsTest, CustomerViewAsOfBeforeTheDeletionShowsThePromotion) {
  const uint64_t deleted = FindSeq("demo-wa-ben", [](const json& e) {
    return e["type"] == "message.deleted" && e["message_id"] == "wamid.DEMO-BEN-01";
  });
  ASSERT_GT(deleted, 1u);
  const std::string kPromotion = "Black Week preview";
  std::string now, before, at;
  ASSERT_EQ(Run(RunView, Conversation("demo-wa-ben"), &now), kExitOk);
  ASSERT_EQ(Run(RunView, Conversation("demo-wa-ben", std::to_string(deleted - 1)), &before),
            kExitOk);
  ASSERT_EQ(Run(RunView, Conversation("demo-wa-ben", std::to_string(deleted)), &at), kExitOk);
  EXPECT_EQ(now.find(kPromotion), std::string::npos) << now;
  EXPECT_NE(before.find(kPromotion), std::string::npos) << before;
  EXPECT_EQ(at.find(kPromotion), std::string::npos) << at;

  // By the source clock: deleted at 08:30:00.
  std::string t_before, t_after;
  ASSERT_EQ(Run(RunView, Conversation("demo-wa-ben", "2026-11-20T08:29:59Z"), &t_before), kExitOk);
  ASSERT_EQ(Run(RunView, Conversation("demo-wa-ben", "2026-11-20T09:30:00+01:00"), &t_after),
            kExitOk);
  EXPECT_NE(t_before.find(kPromotion), std::string::npos) << t_before;
  EXPECT_EQ(t_after.find(kPromotion), std::string::npos) << t_after;
}

TEST_F(ViewCommandsTest, AsOfTheLastSequenceEqualsTheCurrentView) {
  StatsCommand stats;
  stats.data_dir = data_;
  std::ostringstream s;
  ASSERT_EQ(RunStats(stats, s), kExitOk);
  const std::string last = std::to_string(OneLine(s.str())["last_global_seq"].get<uint64_t>());
  for (const char* id : {"demo-wa-anna", "demo-wa-ben", "demo-wa-carla"}) {
    std::string current, folded;
    ASSERT_EQ(Run(RunHistory, Conversation(id), &current), kExitOk);
    ASSERT_EQ(Run(RunHistory, Conversation(id, last), &folded), kExitOk);
    EXPECT_EQ(current, folded) << id;
    ASSERT_EQ(Run(RunView, Conversation(id), &current), kExitOk);
    ASSERT_EQ(Run(RunView, Conversation(id, last), &folded), kExitOk);
    EXPECT_EQ(current, folded) << id;
  }
}

TEST_F(ViewCommandsTest, PrettyIsTheSameJsonIndented) {
  std::string line, pretty;
  ConversationViewCommand c = Conversation("demo-wa-carla");
  ASSERT_EQ(Run(RunHistory, c, &line), kExitOk);
  c.pretty = true;
  ASSERT_EQ(Run(RunHistory, c, &pretty), kExitOk);
  EXPECT_GT(std::count(pretty.begin(), pretty.end(), '\n'), 5);
  EXPECT_EQ(json::parse(pretty), OneLine(line));
}

TEST_F(ViewCommandsTest, AnalyticsCountsTheDemoAndFilters) {
  std::string all, tenant, none, days;
  ASSERT_EQ(Run(RunAnalytics, AnalyticsCommand{}, &all), kExitOk);
  OneLine(all);
  EXPECT_NE(all.find("refund_issued"), std::string::npos) << all;  // per template

  AnalyticsCommand t;
  t.tenant = "default";
  ASSERT_EQ(Run(RunAnalytics, t, &tenant), kExitOk);
  EXPECT_EQ(OneLine(tenant)["tenants"], OneLine(all)["tenants"]);  // the demo has one tenant
  t.tenant = "no-such-tenant";
  ASSERT_EQ(Run(RunAnalytics, t, &none), kExitOk);
  EXPECT_EQ(none.find("refund_issued"), std::string::npos) << none;

  AnalyticsCommand d;
  d.from_day = "2026-11-21";
  d.to_day = "2026-11-21";  // carla's refund notice only
  ASSERT_EQ(Run(RunAnalytics, d, &days), kExitOk);
  EXPECT_NE(days.find("2026-11-21"), std::string::npos) << days;
  EXPECT_EQ(days.find("2026-11-20"), std::string::npos) << days;

  AnalyticsCommand as_of;
  as_of.as_of = "1";  // the log cut after its first event
  ASSERT_EQ(Run(RunAnalytics, as_of, &days), kExitOk);
  OneLine(days);
}

TEST_F(ViewCommandsTest, BadInputExitCodes) {
  // Unknown conversation: exit 1.
  EXPECT_EQ(Run(RunHistory, Conversation("no-such-conversation")), kExitFailed);
  EXPECT_EQ(Run(RunView, Conversation("no-such-conversation")), kExitFailed);
  EXPECT_EQ(Run(RunView, Conversation("no-such-conversation", "3")), kExitFailed);
  // Bad --as-of: a usage error, exit 2, whether malformed or beyond the end of the log.
  for (const char* bad : {"yesterday", "0", "-3", "2026-13-01T00:00:00Z", "99999999",
                          "123456789012345678901234"}) {
    EXPECT_EQ(Run(RunHistory, Conversation("demo-wa-ben", bad)), kExitUsage) << bad;
    EXPECT_EQ(Run(RunView, Conversation("demo-wa-ben", bad)), kExitUsage) << bad;
  }
  AnalyticsCommand a;
  a.as_of = "soon";
  EXPECT_EQ(Run(RunAnalytics, a), kExitUsage);
  a.as_of.clear();
  a.from_day = "2026-11-32";
  EXPECT_EQ(Run(RunAnalytics, a), kExitUsage);
  a.from_day = "20261120";
  EXPECT_EQ(Run(RunAnalytics, a), kExitUsage);
  a.from_day = "2026-11-21";
  a.to_day = "2026-11-20";
  EXPECT_EQ(Run(RunAnalytics, a), kExitUsage);
  // Unknown projection: a usage error too.
  RebuildCommand r;
  r.projection = "histroy";
  r.progress = Progress::kNone;
  EXPECT_EQ(Run(RunRebuild, r), kExitUsage);
  // No ledger: exit 3, and nothing is created.
  ConversationViewCommand c = Conversation("demo-wa-ben");
  c.data_dir = dir_.Sub("nowhere");
  std::ostringstream o;
  EXPECT_EQ(RunHistory(c, o), kExitIo);
  RebuildCommand rn;
  rn.data_dir = dir_.Sub("nowhere");
  EXPECT_EQ(RunRebuild(rn, o), kExitIo);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("nowhere")));
  EXPECT_EQ(o.str(), "");
}

TEST_F(ViewCommandsTest, RebuildIsEqualAndPrintsDigests) {
  RebuildCommand check;
  check.check_only = true;
  check.progress = Progress::kNone;
  std::string out;
  ASSERT_EQ(Run(RunRebuild, check, &out), kExitOk) << out;
  const std::vector<json> checked = JsonLines(out);
  ASSERT_EQ(checked.size(), 3u) << out;
  std::set<std::string> names;
  for (const json& j : checked) {
    names.insert(j["projection"].get<std::string>());
    EXPECT_EQ(j["equal"], true) << j;
    EXPECT_EQ(j["replaced"], false) << j;
    EXPECT_FALSE(j.contains("first_difference")) << j;
    EXPECT_TRUE(IsHexDigest(j["live_digest"])) << j;
    EXPECT_EQ(j["live_digest"], j["rebuilt_digest"]) << j;
    EXPECT_GT(j["events"].get<uint64_t>(), 20u) << j;
    EXPECT_EQ(j["events"], j["checkpoint"]) << j;
  }
  EXPECT_EQ(names, (std::set<std::string>{"history", "customer_view", "analytics"}));

  // Replacing gives the same state (same digest); one projection only when named.
  RebuildCommand replace;
  replace.projection = "customer_view";
  replace.progress = Progress::kNone;
  ASSERT_EQ(Run(RunRebuild, replace, &out), kExitOk) << out;
  const json replaced = OneLine(out);
  EXPECT_EQ(replaced["projection"], "customer_view");
  EXPECT_EQ(replaced["replaced"], true);
  EXPECT_EQ(replaced["equal"], true);
  for (const json& j : checked) {
    if (j["projection"] == "customer_view") {
      EXPECT_EQ(j["live_digest"], replaced["live_digest"]);
    }
  }
  std::string view;
  EXPECT_EQ(Run(RunView, Conversation("demo-wa-anna"), &view), kExitOk);
  EXPECT_NE(view.find("free of charge"), std::string::npos);
}

TEST_F(ViewCommandsTest, VerifyChecksTheViewsOnASampleOrInFull) {
  VerifyCommand v;
  v.data_dir = data_;
  v.progress = Progress::kNone;
  std::ostringstream sample_out;
  ASSERT_EQ(RunVerify(v, sample_out), kExitOk) << sample_out.str();
  const json sample = OneLine(sample_out.str());
  EXPECT_EQ(sample["ok"], true);
  ASSERT_EQ(sample["projections"].size(), 3u) << sample;
  for (const json& p : sample["projections"]) {
    EXPECT_EQ(p["ok"], true) << p;
    EXPECT_TRUE(IsHexDigest(p["digest"])) << p;
    if (p["name"] == "analytics") {
      EXPECT_EQ(p["checked"], "none") << p;
    } else {
      EXPECT_EQ(p["checked"], "sample") << p;
      EXPECT_EQ(p["conversations"], 3) << p;  // the demo has three
      EXPECT_TRUE(p["mismatches"].empty()) << p;
    }
  }

  v.projections = ProjectionCheck::kFull;
  std::ostringstream full_out;
  ASSERT_EQ(RunVerify(v, full_out), kExitOk) << full_out.str();
  const json full = OneLine(full_out.str());
  EXPECT_EQ(full["ok"], true);
  ASSERT_EQ(full["projections"].size(), 3u) << full;
  for (size_t i = 0; i < 3; ++i) {
    const json& p = full["projections"][i];
    EXPECT_EQ(p["checked"], "full") << p;
    EXPECT_EQ(p["ok"], true) << p;
    // The same state gives the same digest, whichever way it was checked.
    EXPECT_EQ(p["digest"], sample["projections"][i]["digest"]) << p;
  }

  v.projections = ProjectionCheck::kNone;
  std::ostringstream none_out;
  ASSERT_EQ(RunVerify(v, none_out), kExitOk);
  EXPECT_TRUE(OneLine(none_out.str())["projections"].empty());
}

// A writer without the views (an older version) appended after the views were last folded: a
// read-only open cannot catch them up, so history and view fold the log instead of failing, and
// `rebuild` (read-write) catches them up before comparing.
TEST_F(ViewCommandsTest, ReadOnlyReadsFallBackToAFoldWhenTheStoredViewIsBehind) {
  {
    auto ledger = OpenForCheck(data_);  // no projections: they fall behind
    ASSERT_TRUE(ledger);
    Event e;
    e.type = EventType::kMessageSent;
    e.conversation_id = "demo-wa-ben";
    e.actor = {ActorKind::kCustomer, "4917098765432", "Ben Okafor"};
    e.channel = Channel::kWhatsApp;
    e.message_id = "wamid.DEMO-BEN-LATE";
    e.direction = Direction::kInbound;
    e.content = Content{"a late message from Ben", {}};
    auto r = ledger->Append({e});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  std::string out;
  ASSERT_EQ(Run(RunView, Conversation("demo-wa-ben"), &out), kExitOk);
  EXPECT_NE(out.find("a late message from Ben"), std::string::npos) << out;
  ASSERT_EQ(Run(RunHistory, Conversation("demo-wa-ben"), &out), kExitOk);
  EXPECT_NE(out.find("a late message from Ben"), std::string::npos) << out;
  ASSERT_EQ(Run(RunAnalytics, AnalyticsCommand{}, &out), kExitOk);

  RebuildCommand check;
  check.check_only = true;
  check.progress = Progress::kNone;
  ASSERT_EQ(Run(RunRebuild, check, &out), kExitOk) << out;
  for (const json& j : JsonLines(out)) EXPECT_EQ(j["equal"], true) << j;
  // Caught up now: served from the stored view.
  ASSERT_EQ(Run(RunView, Conversation("demo-wa-ben"), &out), kExitOk);
  EXPECT_NE(out.find("a late message from Ben"), std::string::npos) << out;
}

// The subcommands through the command line, and their errors on stderr.
TEST_F(ViewCommandsTest, CommandLine) {
  CliRun run = RunMain({"history", "--data", data_, "demo-wa-ben", "--pretty"});
  ASSERT_EQ(run.exit_code, kExitOk);
  EXPECT_TRUE(json::parse(run.out).is_object());
  run = RunMain({"view", "--data", data_, "--as-of", "5", "demo-wa-anna"});
  ASSERT_EQ(run.exit_code, kExitOk);
  OneLine(run.out);
  run = RunMain({"analytics", "--data", data_, "--tenant", "default", "--from", "2026-11-19",
                 "--to", "2026-11-30"});
  ASSERT_EQ(run.exit_code, kExitOk);
  run = RunMain({"rebuild", "--data", data_, "--projection", "history", "--check-only",
                 "--progress", "none"});
  ASSERT_EQ(run.exit_code, kExitOk);
  EXPECT_EQ(OneLine(run.out)["equal"], true);
  run = RunMain({"verify", "--data", data_, "--projections", "full", "--progress", "none"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.out;

  EXPECT_EQ(RunMain({"view", "--data", data_}).exit_code, kExitUsage);  // no ID
  EXPECT_EQ(RunMain({"verify", "--data", data_, "--projections", "most"}).exit_code, kExitUsage);
  EXPECT_EQ(RunMain({"rebuild", "--data", data_, "--projection", "nope"}).exit_code, kExitUsage);
  const CliRun help = RunMain({"--help"});
  for (const char* sub : {"history", "view", "analytics", "rebuild"})
    EXPECT_NE(help.out.find(sub), std::string::npos) << sub;

  // The built executable: errors go to stderr as JSON with their reason, stdout stays empty.
  run = RunBinary(dir_, "history --data '" + data_ + "' no-such-conversation");
  EXPECT_EQ(run.exit_code, kExitFailed);
  EXPECT_EQ(run.out, "");
  EXPECT_NE(run.err.find("conversation_not_found"), std::string::npos) << run.err;
  run = RunBinary(dir_, "view --data '" + data_ + "' demo-wa-ben --as-of yesterday");
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(run.out, "");
  EXPECT_NE(run.err.find("invalid_as_of"), std::string::npos) << run.err;
  run = RunBinary(dir_, "rebuild --data '" + data_ + "' --projection nope");
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_NE(run.err.find("projection_not_found"), std::string::npos) << run.err;
  run = RunBinary(dir_, "--log-level debug view --data '" + data_ + "' demo-wa-carla");
  EXPECT_EQ(run.exit_code, kExitOk);
  EXPECT_NE(run.err.find("stored view"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace convledger::cli::test
