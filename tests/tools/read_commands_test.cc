// `convledger events`, `verify` and `stats` (tools/read_commands.cc).

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "test_util.h"

namespace convledger::cli::test {
namespace {

class ReadCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // c1: m1 m2 m3; c2: m1 m2 -- interleaved: global 1..5 = c1 c2 c1 c2 c1.
    std::string input;
    input += MessageLine("c1", "m1") + "\n";
    input += MessageLine("c2", "m1") + "\n";
    input += MessageLine("c1", "m2") + "\n";
    input += MessageLine("c2", "m2") + "\n";
    input += MessageLine("c1", "m3") + "\n";
    AppendCommand cmd;
    cmd.data_dir = data_;
    std::istringstream in(input);
    std::ostringstream out;
    ASSERT_EQ(RunAppend(cmd, in, out), kExitOk) << out.str();
  }

  int Events(EventsCommand cmd) {
    cmd.data_dir = data_;
    std::ostringstream out;
    const int rc = RunEvents(cmd, out);
    events = JsonLines(out.str());
    return rc;
  }

  std::vector<uint64_t> GlobalSeqs() const {
    std::vector<uint64_t> seqs;
    for (const json& e : events) seqs.push_back(e["global_seq"].get<uint64_t>());
    return seqs;
  }

  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
  std::vector<json> events;
};

TEST_F(ReadCommandsTest, EventsPrintsTheWholeLogInGlobalOrder) {
  ASSERT_EQ(Events({}), kExitOk);
  EXPECT_EQ(GlobalSeqs(), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(events[1]["conversation_id"], "c2");
  EXPECT_EQ(events[1]["type"], "message.sent");
  EXPECT_EQ(events[1]["message_id"], "m1");
  EXPECT_EQ(events[1]["content"]["text"], "hello m1");
  for (const char* field : {"event_id", "recorded_at", "hash", "prev_hash", "conversation_seq"}) {
    EXPECT_TRUE(events[0].contains(field)) << field;
  }
}

TEST_F(ReadCommandsTest, EventsAfterAndLimitUseGlobalSeq) {
  EventsCommand cmd;
  cmd.after = 2;
  cmd.limit = 2;
  ASSERT_EQ(Events(cmd), kExitOk);
  EXPECT_EQ(GlobalSeqs(), (std::vector<uint64_t>{3, 4}));
  cmd.after = 5;
  cmd.limit = 0;
  ASSERT_EQ(Events(cmd), kExitOk);
  EXPECT_TRUE(events.empty());
}

TEST_F(ReadCommandsTest, EventsOfOneConversationUseConversationSeq) {
  EventsCommand cmd;
  cmd.conversation = "c1";
  ASSERT_EQ(Events(cmd), kExitOk);
  EXPECT_EQ(GlobalSeqs(), (std::vector<uint64_t>{1, 3, 5}));
  cmd.after = 1;  // conversation_seq, not global_seq
  cmd.limit = 1;
  ASSERT_EQ(Events(cmd), kExitOk);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["conversation_seq"], 2);
  EXPECT_EQ(events[0]["global_seq"], 3);
  // Nothing after the last event is not an error.
  cmd.after = 3;
  cmd.limit = 0;
  EXPECT_EQ(Events(cmd), kExitOk);
  EXPECT_TRUE(events.empty());
}

TEST_F(ReadCommandsTest, EventsOfUnknownConversationFails) {
  EventsCommand cmd;
  cmd.conversation = "no-such-conversation";
  EXPECT_EQ(Events(cmd), kExitFailed);
  EXPECT_TRUE(events.empty());
}

TEST_F(ReadCommandsTest, ReadingAMissingLedgerIsAnIoErrorAndCreatesNothing) {
  const std::string missing = dir_.Sub("missing");
  std::ostringstream out;
  EventsCommand events_cmd;
  events_cmd.data_dir = missing;
  EXPECT_EQ(RunEvents(events_cmd, out), kExitIo);
  StatsCommand stats_cmd;
  stats_cmd.data_dir = missing;
  EXPECT_EQ(RunStats(stats_cmd, out), kExitIo);
  VerifyCommand verify_cmd;
  verify_cmd.data_dir = missing;
  verify_cmd.progress = Progress::kNone;
  EXPECT_EQ(RunVerify(verify_cmd, out), kExitIo);
  EXPECT_FALSE(std::filesystem::exists(missing));
}

TEST_F(ReadCommandsTest, VerifyOfAnIntactLedgerExitsZero) {
  for (Progress progress : {Progress::kNone, Progress::kLog, Progress::kBar}) {
    VerifyCommand cmd;
    cmd.data_dir = data_;
    cmd.progress = progress;
    std::ostringstream out;
    ASSERT_EQ(RunVerify(cmd, out), kExitOk) << out.str();
    const std::vector<json> summary = JsonLines(out.str());
    ASSERT_EQ(summary.size(), 1u);
    EXPECT_EQ(summary[0]["ok"], true);
    EXPECT_EQ(summary[0]["events_checked"], 5);
    EXPECT_EQ(summary[0]["conversations"], 2);
    EXPECT_EQ(summary[0]["last_global_seq"], 5);
    EXPECT_TRUE(summary[0]["problems"].empty());
  }
}

TEST_F(ReadCommandsTest, StatsPrintsTheLedgerStats) {
  StatsCommand cmd;
  cmd.data_dir = data_;
  std::ostringstream out;
  ASSERT_EQ(RunStats(cmd, out), kExitOk);
  const std::vector<json> stats = JsonLines(out.str());
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0]["last_global_seq"], 5);
  // Ledger::Stats counts conversations from a RocksDB estimate: at least the two we wrote.
  EXPECT_GE(stats[0]["conversations"].get<uint64_t>(), 2u);
  EXPECT_TRUE(stats[0].contains("live_data_bytes"));
  EXPECT_TRUE(stats[0].contains("events_sst_bytes"));
}

}  // namespace
}  // namespace convledger::cli::test
