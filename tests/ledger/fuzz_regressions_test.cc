// Replays the saved crash inputs of the event JSON and DecodeRecord fuzz harnesses
// (tests/fuzz/regressions/{event_json,decode_record}) through the harnesses' own checks, and
// states the right answer for each finding.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "checks.h"

namespace convledger {
namespace {

std::vector<std::filesystem::path> Inputs(const std::string& harness) {
  std::vector<std::filesystem::path> out;
  const std::filesystem::path dir = std::filesystem::path(FUZZ_REGRESSIONS_DIR) / harness;
  for (const auto& f : std::filesystem::directory_iterator(dir))
    if (f.is_regular_file() && f.path().filename().string()[0] != '.') out.push_back(f.path());
  return out;
}

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(FuzzRegressions, EventJsonInputs) {
  for (const auto& p : Inputs("event_json"))
    EXPECT_EQ(fuzz::CheckEventJson(Slurp(p)), "") << p.filename();
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
  for (const auto& p : Inputs("decode_record"))
    EXPECT_EQ(fuzz::CheckDecodeRecord(Slurp(p)), "") << p.filename();
}

}  // namespace
}  // namespace convledger
