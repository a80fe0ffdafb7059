// Replays the saved crash inputs of the webhook and HTTP fuzz harnesses
// (tests/fuzz/regressions/{webhooks,http}) through the harnesses' own checks, and states the
// right answer for each finding.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "checks.h"

namespace convledger::api {
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

TEST(FuzzRegressions, WebhookInputs) {
  for (const auto& p : Inputs("webhooks"))
    EXPECT_EQ(fuzz::CheckWebhooks(Slurp(p)), "") << p.filename();
}

TEST(FuzzRegressions, HttpInputs) {
  fuzz::HttpWorld world;
  for (const auto& p : Inputs("http")) EXPECT_EQ(fuzz::CheckHttp(world, Slurp(p)), "") << p.filename();
}

}  // namespace
}  // namespace convledger::api
