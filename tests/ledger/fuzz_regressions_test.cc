// Replays the saved crash inputs of the event JSON and DecodeRecord fuzz harnesses
// (tests/fuzz/regressions/{event_json,decode_record}) through the harnesses' own checks, and
// states the right answer for each finding.
#include <gtest/gtest.h>

#include <string>

#include "checks.h"
#include "regression_inputs.h"

namespace convledger {
namespace {

using fuzz::ReadInput;
using fuzz::RegressionInputs;

TEST(FuzzRegressions, EventJsonInputs) {
  for (const auto& p : RegressionInputs("event_json"))
    EXPECT_EQ(fuzz::CheckEventJson(ReadInput(p)), "") << p.filename();
}

// nlohmann-json throws out_of_range, not parse_error, for a number beyond a double: that escaped
// ParseEventsJson (a 500 from the server, std::terminate in `convledger append`).
TEST(FuzzRegressions, NumberTooLargeForADoubleIsMalformedJson) {
  for (const char* text : {R"({"conversation_id":"c","expected_version":1E400})",
                           R"({"events":[{"conversation_id":1e99999}]})", "-1e400"}) {
    auto one = ParseEventJson(text);
    ASSERT_FALSE(one.ok()) << text;
    EXPECT_EQ(one.status().reason(), "malformed_json") << text;
    auto many = ParseEventsJson(text);
    ASSERT_FALSE(many.ok()) << text;
    EXPECT_EQ(many.status().reason(), "malformed_json") << text;
  }
}

TEST(FuzzRegressions, DecodeRecordInputs) {
  for (const auto& p : RegressionInputs("decode_record"))
    EXPECT_EQ(fuzz::CheckDecodeRecord(ReadInput(p)), "") << p.filename();
}

}  // namespace
}  // namespace convledger
