// `convledger append` (tools/append.cc): one JSON result per input line, stable error codes, and
// --atomic all-or-nothing.

#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>

#include "ledger/event_json.h"
#include "ledger/time.h"
#include "test_util.h"

namespace convledger::cli::test {
namespace {

class AppendTest : public ::testing::Test {
 protected:
  // Runs `append` on `input`; returns the exit code, output lines in `lines`.
  int Append(const std::string& input, bool atomic = false) {
    AppendCommand cmd;
    cmd.data_dir = dir_.Sub("data");
    cmd.atomic = atomic;
    std::istringstream in(input);
    std::ostringstream out;
    const int rc = RunAppend(cmd, in, out);
    lines = JsonLines(out.str());
    return rc;
  }

  uint64_t StoredEvents() {
    auto ledger = OpenForCheck(dir_.Sub("data"));
    return ledger ? ledger->LastGlobalSeq() : 0;
  }

  static void ExpectError(const json& line, int line_no, const std::string& code,
                          const std::string& reason) {
    EXPECT_EQ(line.value("ok", true), false) << line;
    EXPECT_EQ(line.value("line", 0), line_no) << line;
    ASSERT_TRUE(line.contains("error")) << line;
    EXPECT_EQ(line["error"].value("code", ""), code) << line;
    EXPECT_EQ(line["error"].value("reason", ""), reason) << line;
    EXPECT_FALSE(line["error"].value("message", "").empty()) << line;
  }

  TempDir dir_;
  std::vector<json> lines;
};

TEST_F(AppendTest, AppendsEachLineAndPrintsItsResult) {
  ASSERT_EQ(Append(MessageLine("c1", "m1") + "\n" + MessageLine("c1", "m2") + "\n"), kExitOk);
  ASSERT_EQ(lines.size(), 2u);
  const std::regex hex64("[0-9a-f]{64}");
  const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  for (size_t i = 0; i < 2; ++i) {
    const json& l = lines[i];
    EXPECT_EQ(l["ok"], true) << l;
    EXPECT_EQ(l["line"], i + 1) << l;
    ASSERT_EQ(l["results"].size(), 1u) << l;
    const json& r = l["results"][0];
    EXPECT_EQ(r["global_seq"], i + 1);
    EXPECT_EQ(r["conversation_seq"], i + 1);
    EXPECT_TRUE(std::regex_match(r["hash"].get<std::string>(), hex64)) << r;
    EXPECT_TRUE(std::regex_match(r["prev_hash"].get<std::string>(), hex64)) << r;
    EXPECT_TRUE(std::regex_match(r["event_id"].get<std::string>(), uuid)) << r;
    EXPECT_TRUE(ParseRfc3339(r["recorded_at"].get<std::string>()).has_value()) << r;
    EXPECT_EQ(r["duplicate"], false);
  }
  // The second event of the conversation chains to the first.
  EXPECT_EQ(lines[1]["results"][0]["prev_hash"], lines[0]["results"][0]["hash"]);
  EXPECT_EQ(StoredEvents(), 2u);
}

TEST_F(AppendTest, SkipsBlankLinesButNumbersLinesAsInTheInput) {
  std::string input = "\n";
  input += MessageLine("c1", "m1") + "\r\n   \n\n" + MessageLine("c1", "m2");
  ASSERT_EQ(Append(input), kExitOk);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["line"], 2);
  EXPECT_EQ(lines[1]["line"], 5);  // the last line has no "\n" and still counts
}

TEST_F(AppendTest, EmptyInputAppendsNothingAndSucceeds) {
  EXPECT_EQ(Append(""), kExitOk);
  EXPECT_TRUE(lines.empty());
  EXPECT_EQ(Append("", /*atomic=*/true), kExitOk);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["ok"], true);
  EXPECT_TRUE(lines[0]["results"].empty());
}

TEST_F(AppendTest, ReportsMalformedJsonAndGoesOn) {
  const std::string input =
      MessageLine("c1", "m1") + "\n{\"conversation_id\": \n" + MessageLine("c1", "m2") + "\n";
  EXPECT_EQ(Append(input), kExitFailed);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["ok"], true);
  ExpectError(lines[1], 2, "invalid_argument", "malformed_json");
  EXPECT_EQ(lines[2]["ok"], true);
  EXPECT_EQ(lines[2]["line"], 3);
  EXPECT_EQ(StoredEvents(), 2u);  // without --atomic the good lines are in
}

TEST_F(AppendTest, ReportsUnknownEventType) {
  EXPECT_EQ(Append(MessageLine("c1", "m1", {{"type", "message.teleported"}})), kExitFailed);
  ASSERT_EQ(lines.size(), 1u);
  ExpectError(lines[0], 1, "invalid_argument", "unknown_event_type");
  EXPECT_EQ(StoredEvents(), 0u);
}

TEST_F(AppendTest, ReportsUnknownFieldAndMissingField) {
  json no_conversation = json::parse(MessageLine("c1", "m1"));
  no_conversation.erase("conversation_id");
  EXPECT_EQ(
      Append(MessageLine("c1", "m1", {{"reson", "typo"}}) + "\n" + no_conversation.dump() + "\n"),
      kExitFailed);
  ASSERT_EQ(lines.size(), 2u);
  ExpectError(lines[0], 1, "invalid_argument", "unknown_field");
  ExpectError(lines[1], 2, "invalid_argument", "missing_field");
}

TEST_F(AppendTest, ReportsStaleExpectedVersion) {
  const std::string input = MessageLine("c1", "m1", {{"expected_version", 0}}) + "\n" +
                            MessageLine("c1", "m2", {{"expected_version", 0}}) + "\n" +
                            MessageLine("c1", "m3", {{"expected_version", 1}}) + "\n";
  EXPECT_EQ(Append(input), kExitFailed);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["ok"], true);
  ExpectError(lines[1], 2, "wrong_expected_version", "wrong_expected_version");
  EXPECT_EQ(lines[2]["ok"], true) << lines[2];
  EXPECT_EQ(StoredEvents(), 2u);
}

TEST_F(AppendTest, RepeatedIdempotencyKeyReturnsTheOriginalResult) {
  const std::string line = MessageLine("c1", "m1", {{"idempotency_key", "k-1"}});
  ASSERT_EQ(Append(line + "\n" + line + "\n"), kExitOk);
  ASSERT_EQ(lines.size(), 2u);
  const json& first = lines[0]["results"][0];
  const json& again = lines[1]["results"][0];
  EXPECT_EQ(first["duplicate"], false);
  EXPECT_EQ(again["duplicate"], true);
  EXPECT_EQ(again["global_seq"], first["global_seq"]);
  EXPECT_EQ(again["hash"], first["hash"]);
  EXPECT_EQ(StoredEvents(), 1u);
}

TEST_F(AppendTest, ReusedIdempotencyKeyWithOtherContentIsAConflict) {
  const std::string input = MessageLine("c1", "m1", {{"idempotency_key", "k-1"}}) + "\n" +
                            MessageLine("c1", "m2", {{"idempotency_key", "k-1"}}) + "\n";
  EXPECT_EQ(Append(input), kExitFailed);
  ASSERT_EQ(lines.size(), 2u);
  ExpectError(lines[1], 2, "idempotency_conflict", "idempotency_key_reused");
  EXPECT_EQ(StoredEvents(), 1u);
}

TEST_F(AppendTest, BatchLineIsOneAtomicAppend) {
  const std::string batch =
      "{\"events\":[" + MessageLine("c1", "m1") + "," + MessageLine("c2", "m1") + "]}";
  ASSERT_EQ(Append(batch), kExitOk);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["results"].size(), 2u);

  // A bad event in a batch line rejects the whole line.
  const std::string bad = "{\"events\":[" + MessageLine("c3", "m1") + "," +
                          MessageLine("c3", "m2", {{"direction", "sideways"}}) + "]}";
  EXPECT_EQ(Append(bad), kExitFailed);
  ASSERT_EQ(lines.size(), 1u);
  ExpectError(lines[0], 1, "invalid_argument", "invalid_value");
  EXPECT_NE(lines[0]["error"]["message"].get<std::string>().find("events[1]"), std::string::npos)
      << lines[0];
  EXPECT_EQ(StoredEvents(), 2u);
}

TEST_F(AppendTest, RejectsOversizedLineAndGoesOn) {
  const std::string huge(kMaxEventJsonBytes + 10, 'x');
  EXPECT_EQ(Append(huge + "\n" + MessageLine("c1", "m1") + "\n"), kExitFailed);
  ASSERT_EQ(lines.size(), 2u);
  ExpectError(lines[0], 1, "invalid_argument", "line_too_large");
  EXPECT_EQ(lines[1]["ok"], true);
  EXPECT_EQ(StoredEvents(), 1u);
}

TEST_F(AppendTest, AtomicAppendsEverythingAsOneBatch) {
  const std::string input = MessageLine("c1", "m1") + "\n\n" + MessageLine("c2", "m1") + "\n" +
                            "{\"events\":[" + MessageLine("c1", "m2") + "]}\n";
  ASSERT_EQ(Append(input, /*atomic=*/true), kExitOk);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["ok"], true);
  ASSERT_EQ(lines[0]["results"].size(), 3u);
  EXPECT_EQ(lines[0]["results"][0]["line"], 1);
  EXPECT_EQ(lines[0]["results"][1]["line"], 3);
  EXPECT_EQ(lines[0]["results"][2]["line"], 4);
  EXPECT_EQ(lines[0]["results"][2]["conversation_seq"], 2);
  EXPECT_EQ(StoredEvents(), 3u);
}

TEST_F(AppendTest, AtomicWithOneMalformedLineAppendsNothing) {
  const std::string input = MessageLine("c1", "m1") + "\n" + MessageLine("c1", "m2") + "\n" +
                            "not json\n" + MessageLine("c1", "m3") + "\n";
  EXPECT_EQ(Append(input, /*atomic=*/true), kExitFailed);
  ASSERT_EQ(lines.size(), 1u);
  ExpectError(lines[0], 3, "invalid_argument", "malformed_json");
  EXPECT_EQ(StoredEvents(), 0u);
}

TEST_F(AppendTest, AtomicWithOneRejectedEventAppendsNothing) {
  // Every line parses; the ledger rejects the third (stale expected_version) and so all.
  const std::string input = MessageLine("c1", "m1", {{"expected_version", 0}}) + "\n" +
                            MessageLine("c1", "m2", {{"expected_version", 1}}) + "\n" +
                            MessageLine("c1", "m3", {{"expected_version", 1}}) + "\n";
  EXPECT_EQ(Append(input, /*atomic=*/true), kExitFailed);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["ok"], false);
  EXPECT_EQ(lines[0]["error"]["code"], "wrong_expected_version") << lines[0];
  EXPECT_EQ(lines[0].value("line", 0), 3) << lines[0];  // the ledger's events[2], mapped back
  EXPECT_EQ(StoredEvents(), 0u);
}

TEST_F(AppendTest, MissingInputFileIsAnIoError) {
  AppendCommand cmd;
  cmd.data_dir = dir_.Sub("data");
  cmd.file = dir_.Sub("no-such-file.jsonl");
  std::istringstream in;
  std::ostringstream out;
  EXPECT_EQ(RunAppend(cmd, in, out), kExitIo);
  EXPECT_EQ(out.str(), "");
}

TEST_F(AppendTest, ReadsEventsFromFile) {
  const std::string file = dir_.Sub("events.jsonl");
  std::ofstream(file) << MessageLine("c1", "m1") << "\n" << MessageLine("c1", "m2") << "\n";
  AppendCommand cmd;
  cmd.data_dir = dir_.Sub("data");
  cmd.file = file;
  std::istringstream in(MessageLine("c9", "ignored"));  // --file wins over stdin
  std::ostringstream out;
  EXPECT_EQ(RunAppend(cmd, in, out), kExitOk);
  EXPECT_EQ(JsonLines(out.str()).size(), 2u);
  EXPECT_EQ(StoredEvents(), 2u);
}

}  // namespace
}  // namespace convledger::cli::test
