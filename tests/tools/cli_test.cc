// The command line as a whole (tools/cli.cc, tools/main.cc): flags, exit codes, and the built
// executable end to end (stdout carries only results, logs go to stderr).

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "test_util.h"

namespace convledger::cli::test {
namespace {

TEST(ExitCodeTest, MapsEveryStatusCode) {
  EXPECT_EQ(ExitCodeFor(Status::OK()), kExitOk);
  EXPECT_EQ(ExitCodeFor(Status::InvalidArgument("malformed_json", "x")), kExitFailed);
  EXPECT_EQ(ExitCodeFor(Status::WrongExpectedVersion("x")), kExitFailed);
  EXPECT_EQ(ExitCodeFor(Status::IdempotencyConflict("x")), kExitFailed);
  EXPECT_EQ(ExitCodeFor(Status::InvariantViolation("message_not_found", "x")), kExitFailed);
  EXPECT_EQ(ExitCodeFor(Status::NotFound("conversation_not_found", "x")), kExitFailed);
  EXPECT_EQ(ExitCodeFor(Status::IOError("x")), kExitIo);
  EXPECT_EQ(ExitCodeFor(Status::Busy("x")), kExitIo);
  EXPECT_EQ(ExitCodeFor(Status::Corruption("hash_mismatch", "x")), kExitCorruption);
  // The documented numbers are a contract with scripts.
  EXPECT_EQ(kExitOk, 0);
  EXPECT_EQ(kExitFailed, 1);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitIo, 3);
  EXPECT_EQ(kExitCorruption, 4);
}

class MainTest : public ::testing::Test {
 protected:
  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
};

TEST_F(MainTest, UsageErrorsExitTwo) {
  EXPECT_EQ(RunMain({}).exit_code, kExitUsage);                     // no subcommand
  EXPECT_EQ(RunMain({"frobnicate"}).exit_code, kExitUsage);         // unknown subcommand
  EXPECT_EQ(RunMain({"events", "--bogus"}).exit_code, kExitUsage);  // unknown option
  EXPECT_EQ(RunMain({"events", "--data", data_, "--limit", "many"}).exit_code, kExitUsage);
  EXPECT_EQ(RunMain({"append", "--data", data_, "--durability", "maybe"}).exit_code, kExitUsage);
  EXPECT_EQ(RunMain({"verify", "--data", data_, "--progress", "loud"}).exit_code, kExitUsage);
  EXPECT_FALSE(std::filesystem::exists(data_));  // nothing ran
}

TEST_F(MainTest, HelpAndVersionExitZero) {
  const CliRun help = RunMain({"--help"});
  EXPECT_EQ(help.exit_code, kExitOk);
  for (const char* sub : {"append", "events", "verify", "demo", "stats"}) {
    EXPECT_NE(help.out.find(sub), std::string::npos) << help.out;
  }
  EXPECT_EQ(RunMain({"append", "--help"}).exit_code, kExitOk);
  const CliRun version = RunMain({"--version"});
  EXPECT_EQ(version.exit_code, kExitOk);
  EXPECT_NE(version.out.find("convledger"), std::string::npos);
}

TEST_F(MainTest, FlagsReachTheSubcommands) {
  std::string input = MessageLine("c1", "m1") + "\n" + MessageLine("c2", "m1") + "\n" +
                      MessageLine("c1", "m2") + "\n";
  CliRun run = RunMain({"append", "--data", data_, "--durability", "fsync"}, input);
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_EQ(JsonLines(run.out).size(), 3u);

  run = RunMain({"events", "--data", data_, "--conversation", "c1", "--after", "1"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  std::vector<json> lines = JsonLines(run.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["message_id"], "m2");

  run = RunMain({"events", "--data", data_, "--limit", "2", "--log-level", "warn"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_EQ(JsonLines(run.out).size(), 2u);

  // --atomic: a bad second line and nothing of the input is appended.
  run = RunMain({"append", "--data", data_, "--atomic"},
                MessageLine("c3", "m1") + "\n{\"type\":\"message.sent\"}\n");
  EXPECT_EQ(run.exit_code, kExitFailed);
  lines = JsonLines(run.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["line"], 2);
  EXPECT_EQ(RunMain({"events", "--data", data_, "--conversation", "c3"}).exit_code, kExitFailed);

  run = RunMain({"stats", "--data", data_});
  ASSERT_EQ(run.exit_code, kExitOk);
  EXPECT_EQ(JsonLines(run.out).at(0)["last_global_seq"], 3);
}

// The built executable, as a person or a script runs it.
class BinaryTest : public ::testing::Test {
 protected:
  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
};

TEST_F(BinaryTest, AppendExitCodeAndCleanStdout) {
  const std::string input = MessageLine("c1", "m1") + "\n" + "{oops\n" +
                            MessageLine("c1", "m2", {{"type", "message.unknown"}}) + "\n";
  const CliRun run = RunBinary(dir_, "append --data '" + data_ + "'", input);
  EXPECT_EQ(run.exit_code, kExitFailed) << run.err;
  const std::vector<json> lines = JsonLines(run.out);  // fails on any non-JSON line
  ASSERT_EQ(lines.size(), 3u) << run.out;
  EXPECT_EQ(lines[0]["ok"], true);
  EXPECT_EQ(lines[1]["error"]["reason"], "malformed_json");
  EXPECT_EQ(lines[2]["error"]["reason"], "unknown_event_type");
  EXPECT_NE(run.err.find("failed"), std::string::npos) << run.err;  // a log line on stderr

  const CliRun ok = RunBinary(dir_, "append --data '" + data_ + "'", MessageLine("c1", "m3"));
  EXPECT_EQ(ok.exit_code, kExitOk) << ok.err;
}

TEST_F(BinaryTest, DemoTwiceThenVerifyAndEvents) {
  CliRun run = RunBinary(dir_, "demo --data '" + data_ + "'");
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_NE(run.out.find("events --data"), std::string::npos) << run.out;
  run = RunBinary(dir_, "demo --data '" + data_ + "'");
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_NE(run.out.find(" 0 appended now"), std::string::npos) << run.out;

  run = RunBinary(dir_, "verify --data '" + data_ + "'");
  EXPECT_EQ(run.exit_code, kExitOk) << run.out << run.err;
  const std::vector<json> summary = JsonLines(run.out);
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_EQ(summary[0]["ok"], true);
  EXPECT_GT(summary[0]["events_checked"].get<uint64_t>(), 0u);

  run = RunBinary(dir_, "events --data '" + data_ + "' --conversation demo-wa-ben");
  EXPECT_EQ(run.exit_code, kExitOk) << run.err;
  std::set<std::string> types;
  for (const json& e : JsonLines(run.out)) types.insert(e["type"].get<std::string>());
  EXPECT_TRUE(types.count("message.deleted"));
  EXPECT_TRUE(types.count("message.status"));
  EXPECT_TRUE(types.count("consent.changed"));
}

TEST_F(BinaryTest, MissingLedgerExitsThree) {
  const CliRun run = RunBinary(dir_, "events --data '" + dir_.Sub("nowhere") + "'");
  EXPECT_EQ(run.exit_code, kExitIo);
  EXPECT_EQ(run.out, "");
  EXPECT_FALSE(run.err.empty());
}

// README.md promises that its example events append cleanly in order; keep it true.
TEST_F(BinaryTest, ReadmeExamplesAppendCleanly) {
  const std::string readme = ReadFile(std::string(CONVLEDGER_SOURCE_DIR) + "/README.md");
  const size_t section = readme.find("### Examples");
  ASSERT_NE(section, std::string::npos) << "README.md has no ### Examples section";
  const size_t begin = readme.find("```json\n", section);
  ASSERT_NE(begin, std::string::npos);
  const size_t end = readme.find("```", begin + 8);
  ASSERT_NE(end, std::string::npos);
  const std::string examples = readme.substr(begin + 8, end - begin - 8);

  const CliRun run = RunMain({"append", "--data", data_}, examples);
  EXPECT_EQ(run.exit_code, kExitOk) << run.out;
  std::set<std::string> types;
  for (const json& line : JsonLines(examples)) {
    if (line.contains("events")) {
      for (const json& e : line["events"]) types.insert(e["type"].get<std::string>());
    } else {
      types.insert(line["type"].get<std::string>());
    }
  }
  for (const json& line : JsonLines(run.out)) EXPECT_EQ(line["ok"], true) << line;
  EXPECT_EQ(types.size(), 10u) << "the examples should show every event type";
}

TEST_F(BinaryTest, UsageErrorExitsTwo) {
  const CliRun run = RunBinary(dir_, "append --data '" + data_ + "' --durability sometimes");
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_FALSE(run.err.empty());
}

}  // namespace
}  // namespace convledger::cli::test
