// Corruption underneath the ledger: values altered, truncated, moved or index entries deleted
// directly in RocksDB while the ledger is closed. On reopen, Verify reports the damage naming
// the global sequence, and reads of the damaged event give Status::Corruption, never a crash.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "test_util.h"

namespace convledger {
namespace {

using test::Note;
using test::Sent;

constexpr char kPayload[] = "CORRUPT-ME-PAYLOAD-0123456789";

// The RocksDB database under a closed ledger, opened with every column family it has.
class RawDb {
 public:
  explicit RawDb(const std::string& dir) {
    rocksdb::DBOptions opts;
    std::vector<std::string> names;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(opts, dir, &names);
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (const std::string& n : names) descs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* db = nullptr;
    s = rocksdb::DB::Open(opts, dir, descs, &handles_, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
    names_ = names;
  }
  ~RawDb() {
    if (!db_) return;
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  bool ok() const { return db_ != nullptr; }
  const std::vector<std::string>& names() const { return names_; }
  rocksdb::DB* db() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(const std::string& name) {
    for (size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return handles_[i];
    }
    ADD_FAILURE() << "no column family " << name;
    return nullptr;
  }

  // The events key and value of the event with this global sequence, found by decoding every
  // stored record (no knowledge of the key layout needed).
  bool FindEvent(uint64_t global_seq, std::string* key, std::string* value) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf("events")));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string v = it->value().ToString();
      auto e = DecodeRecord(v);
      if (e.ok() && e->global_seq == global_seq) {
        *key = it->key().ToString();
        *value = v;
        return true;
      }
    }
    return false;
  }

  // The global index key whose value is `events_key`.
  bool FindIndexEntry(const std::string& events_key, std::string* key) {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cf("global_index")));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->value().ToString() == events_key) {
        *key = it->key().ToString();
        return true;
      }
    }
    return false;
  }

  void PutEvent(const std::string& key, const std::string& value) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status s = db_->Put(wo, cf("events"), key, value);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::vector<std::string> names_;
};

class CorruptionTest : public ::testing::Test {
 protected:
  // Six events, two conversations; global 3 is "a" seq 2 and carries kPayload.
  //   g1 a1  g2 b1  g3 a2*  g4 b2  g5 a3  g6 b3
  void SetUp() override {
    options_.clock = &clock_;
    // Plaintext, so a byte of the payload can be flipped in place: the hash must catch that
    // alone (sealed content would also fail its AEAD tag; erasure_test covers sealed bytes).
    options_.encrypt_content = false;
    auto ledger = test::OpenOrDie(dir_.path(), options_);
    ASSERT_NE(ledger, nullptr);
    ASSERT_OK(ledger->Append({Note("a", "first"), Note("b", "first")}));
    ASSERT_OK(ledger->Append({Sent("a", "m1", kPayload)}));
    ASSERT_OK(ledger->Append({Note("b", "second"), Note("a", "third"), Note("b", "third")}));
    ASSERT_OK_AND_ASSIGN(original_, ledger->ReadGlobal(0));
    ASSERT_EQ(original_.size(), 6u);
    ASSERT_EQ(original_[2].conversation_id, "a");
    ASSERT_EQ(original_[2].conversation_seq, 2u);
    ledger.reset();
    // Where each event is stored, found while every record still decodes.
    RawDb raw(dir_.path());
    ASSERT_TRUE(raw.ok());
    for (uint64_t g = 1; g <= 6; ++g) {
      std::string value;
      ASSERT_TRUE(raw.FindEvent(g, &event_keys_[g], &value)) << "global_seq " << g;
      pristine_[g] = value;
    }
  }

  std::unique_ptr<Ledger> Reopen() { return test::OpenOrDie(dir_.path(), options_); }

  // Verify on a reopened ledger; the Status is OK (problems are in the report) or Corruption.
  VerifyReport VerifyReopened(Ledger* ledger) {
    VerifyReport report;
    Status st = ledger->Verify(&report);
    EXPECT_TRUE(st.ok() || st.IsCorruption()) << st.ToString();
    return report;
  }

  static bool AnyProblemNames(const VerifyReport& report, uint64_t global_seq) {
    return std::any_of(report.problems.begin(), report.problems.end(),
                       [&](const std::string& p) { return test::NamesGlobalSeq(p, global_seq); });
  }

  // Replaces the stored value of global_seq with what `mutate` makes of its pristine value.
  template <typename F>
  void AlterEvent(uint64_t global_seq, F mutate) {
    RawDb raw(dir_.path());
    ASSERT_TRUE(raw.ok());
    std::string value = pristine_[global_seq];
    mutate(value);
    raw.PutEvent(event_keys_[global_seq], value);
  }

  // Deletes the global index entry of global_seq.
  void DeleteIndexEntry(uint64_t global_seq) {
    RawDb raw(dir_.path());
    ASSERT_TRUE(raw.ok());
    std::string ikey;
    ASSERT_TRUE(raw.FindIndexEntry(event_keys_[global_seq], &ikey));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    ASSERT_TRUE(raw.db()->Delete(wo, raw.cf("global_index"), ikey).ok());
  }

  // Reads that must fail on event 3 (conversation "a" seq 2), and those that must not. A byte
  // altered inside a string passes the FlatBuffers verifier: reads that check hashes
  // (ReadOptions::verify_hashes, what verify and exports use) refuse it.
  void ExpectReadsOfEventThreeFail(Ledger* ledger) {
    ReadOptions checked;
    checked.verify_hashes = true;
    EXPECT_STATUS(ledger->ReadGlobal(0, checked), kCorruption, "");
    EXPECT_STATUS(ledger->ReadConversation("a", 0, checked), kCorruption, "");
    Status scan = ledger->ScanGlobal(0, checked, [](const RawEvent&) { return true; });
    EXPECT_TRUE(scan.IsCorruption()) << scan.ToString();
    Status scan_conv =
        ledger->ScanConversation("a", 0, checked, [](const RawEvent&) { return true; });
    EXPECT_TRUE(scan_conv.IsCorruption()) << scan_conv.ToString();
    // The damage stays local: everything before and after it, and the other conversation.
    ReadOptions two;
    two.limit = 2;
    ASSERT_OK_AND_ASSIGN(auto before, ledger->ReadGlobal(0, two));
    EXPECT_EQ(before.size(), 2u);
    ASSERT_OK_AND_ASSIGN(auto after, ledger->ReadGlobal(3));
    EXPECT_EQ(after.size(), 3u);
    ASSERT_OK_AND_ASSIGN(auto b, ledger->ReadConversation("b"));
    EXPECT_EQ(b.size(), 3u);
    ASSERT_OK_AND_ASSIGN(auto a_tail, ledger->ReadConversation("a", 2));
    EXPECT_EQ(a_tail.size(), 1u);
  }

  test::TempDir dir_;
  test::FixedClock clock_;
  Options options_;
  std::vector<Event> original_;
  std::map<uint64_t, std::string> event_keys_;  // global_seq -> events key
  std::map<uint64_t, std::string> pristine_;    // global_seq -> stored value before damage
};

TEST_F(CorruptionTest, ColumnFamiliesAreAsDocumented) {
  RawDb raw(dir_.path());
  ASSERT_TRUE(raw.ok());
  const std::set<std::string> names(raw.names().begin(), raw.names().end());
  for (const char* cf : {"default", "events", "global_index", "idempotency", "messages"}) {
    EXPECT_TRUE(names.count(cf)) << "missing column family " << cf;
  }
}

TEST_F(CorruptionTest, IntactLedgerVerifies) {
  auto ledger = Reopen();
  ASSERT_NE(ledger, nullptr);
  VerifyReport report;
  ASSERT_OK(ledger->Verify(&report));
  EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
  EXPECT_EQ(report.events_checked, 6u);
}

TEST_F(CorruptionTest, FlippedByteInAnEventIsReportedAndReadsFail) {
  AlterEvent(3, [](std::string& v) {
    const size_t at = v.find(kPayload);
    ASSERT_NE(at, std::string::npos) << "payload not stored in the clear";
    v[at + 5] ^= 0x01;  // 'P' -> 'Q': still valid FlatBuffers, only the hash can tell
  });
  auto ledger = Reopen();
  ASSERT_NE(ledger, nullptr);
  const VerifyReport report = VerifyReopened(ledger.get());
  EXPECT_FALSE(report.ok());
  EXPECT_TRUE(AnyProblemNames(report, 3)) << ::testing::PrintToString(report.problems);
  ExpectReadsOfEventThreeFail(ledger.get());
}

TEST_F(CorruptionTest, TruncatedEventIsReportedAndReadsFail) {
  AlterEvent(3, [](std::string& v) { v.resize(v.size() / 2); });
  auto ledger = Reopen();
  ASSERT_NE(ledger, nullptr);
  const VerifyReport report = VerifyReopened(ledger.get());
  EXPECT_TRUE(AnyProblemNames(report, 3)) << ::testing::PrintToString(report.problems);
  ExpectReadsOfEventThreeFail(ledger.get());
}

TEST_F(CorruptionTest, GarbageEventIsReportedAndReadsFail) {
  for (const std::string& garbage :
       {std::string("garbage"), std::string(), std::string(4, '\xff'), std::string(64, '\0')}) {
    SCOPED_TRACE("garbage of " + std::to_string(garbage.size()) + " bytes");
    AlterEvent(3, [&](std::string& v) { v = garbage; });
    auto ledger = Reopen();
    ASSERT_NE(ledger, nullptr);
    const VerifyReport report = VerifyReopened(ledger.get());
    EXPECT_TRUE(AnyProblemNames(report, 3)) << ::testing::PrintToString(report.problems);
    ExpectReadsOfEventThreeFail(ledger.get());
  }
}

TEST_F(CorruptionTest, RecordMovedUnderAnotherKeyIsReported) {
  // Event 5 (a seq 3) copied over event 3 (a seq 2): each record is intact, but not the one its
  // key names.
  AlterEvent(3, [&](std::string& v) { v = pristine_[5]; });
  auto ledger = Reopen();
  ASSERT_NE(ledger, nullptr);
  const VerifyReport report = VerifyReopened(ledger.get());
  EXPECT_TRUE(AnyProblemNames(report, 3)) << ::testing::PrintToString(report.problems);
  EXPECT_STATUS(ledger->ReadGlobal(0), kCorruption, "");
  EXPECT_STATUS(ledger->ReadConversation("a"), kCorruption, "");
}

TEST_F(CorruptionTest, DeletedIndexEntryIsReportedAsAGap) {
  DeleteIndexEntry(3);
  auto ledger = Reopen();
  ASSERT_NE(ledger, nullptr);
  const VerifyReport report = VerifyReopened(ledger.get());
  EXPECT_TRUE(AnyProblemNames(report, 3)) << ::testing::PrintToString(report.problems);
  // A reader never sees event 4 without event 3.
  EXPECT_STATUS(ledger->ReadGlobal(0), kCorruption, "");
  EXPECT_STATUS(ledger->ReadGlobal(2), kCorruption, "");
  // The conversation itself is intact: its range scan does not go through the index.
  ASSERT_OK_AND_ASSIGN(auto a, ledger->ReadConversation("a"));
  EXPECT_EQ(a.size(), 3u);
}

TEST_F(CorruptionTest, DeletedLastIndexEntryIsReported) {
  DeleteIndexEntry(6);
  auto ledger = Reopen();
  ASSERT_NE(ledger, nullptr);
  const VerifyReport report = VerifyReopened(ledger.get());
  EXPECT_FALSE(report.ok());
  EXPECT_TRUE(AnyProblemNames(report, 6)) << ::testing::PrintToString(report.problems);
  // Event 6 is still stored; the ledger must not hand its global sequence out again (refusing
  // to append at all would be fine too).
  auto r = ledger->Append({Note("c", "after the damage")});
  if (r.ok()) {
    EXPECT_NE(r->front().global_seq, 6u) << "global_seq 6 handed out a second time";
  }
}

TEST_F(CorruptionTest, CorruptLastEventStillOpensSoVerifyCanReportIt) {
  // The last event is what Open reads to resume; damage there must not lock out `verify`.
  AlterEvent(6, [](std::string& v) { v.resize(v.size() / 2); });
  auto opened = Ledger::Open(dir_.path(), options_);
  ASSERT_TRUE(opened.ok()) << "Open refused the ledger, so Verify cannot run: "
                           << opened.status().ToString();
  std::unique_ptr<Ledger> ledger = std::move(opened).value();
  const VerifyReport report = VerifyReopened(ledger.get());
  EXPECT_TRUE(AnyProblemNames(report, 6)) << ::testing::PrintToString(report.problems);
  EXPECT_STATUS(ledger->ReadGlobal(5), kCorruption, "");
  EXPECT_STATUS(ledger->ReadConversation("b"), kCorruption, "");
}

TEST_F(CorruptionTest, AnyFlippedByteIsDetectedOrHarmless) {
  // Flip bytes across the whole stored value: either Verify names event 3 and reading it fails,
  // or the flip hit bytes that carry no meaning (padding) and event 3 reads back unchanged.
  const std::string pristine = pristine_[3];
  const size_t positions = 24;
  size_t detected = 0;
  for (size_t k = 0; k < positions; ++k) {
    const size_t at = k * (pristine.size() - 1) / (positions - 1);
    SCOPED_TRACE("byte " + std::to_string(at) + " of " + std::to_string(pristine.size()));
    AlterEvent(3, [&](std::string& v) { v[at] ^= 0x5a; });
    auto ledger = Reopen();
    ASSERT_NE(ledger, nullptr);
    const VerifyReport report = VerifyReopened(ledger.get());
    ReadOptions one_checked;
    one_checked.limit = 1;
    one_checked.verify_hashes = true;
    auto read = ledger->ReadGlobal(2, one_checked);
    if (AnyProblemNames(report, 3)) {
      ++detected;
      EXPECT_TRUE(read.status().IsCorruption()) << read.status().ToString();
    } else {
      EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
      ASSERT_OK(read);
      ASSERT_EQ(read->size(), 1u);
      EXPECT_EQ(read->front(), original_[2]) << "an undetected flip changed the event";
    }
  }
  std::cout << "[ corrupt  ] " << detected << " of " << positions << " flips detected\n";
  EXPECT_GT(detected, positions / 2);
}

TEST_F(CorruptionTest, DecodeRecordNeverCrashesOnDamagedBytes) {
  const std::string pristine = pristine_[3];
  ASSERT_OK_AND_ASSIGN(Event decoded, DecodeRecord(pristine));
  EXPECT_EQ(decoded, original_[2]);
  size_t rejected = 0, total = 0;
  for (size_t at = 0; at < pristine.size(); ++at) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string v = pristine;
      v[at] = static_cast<char>(v[at] ^ mask);
      auto r = DecodeRecord(v);
      ++total;
      if (!r.ok()) {
        ++rejected;
        EXPECT_TRUE(r.status().IsCorruption()) << "byte " << at << ": " << r.status().ToString();
      }
    }
  }
  for (size_t len = 0; len < pristine.size(); ++len) {
    auto r = DecodeRecord(std::string_view(pristine).substr(0, len));
    ++total;
    if (!r.ok()) {
      ++rejected;
      EXPECT_TRUE(r.status().IsCorruption()) << "length " << len << ": " << r.status().ToString();
    }
  }
  EXPECT_FALSE(DecodeRecord("").ok());
  EXPECT_FALSE(DecodeRecord(std::string(1000, '\xff')).ok());
  std::cout << "[ corrupt  ] DecodeRecord rejected " << rejected << " of " << total
            << " damaged records\n";
}

}  // namespace
}  // namespace convledger
