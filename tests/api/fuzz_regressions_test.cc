// Replays the saved crash inputs of the webhook and HTTP fuzz harnesses
// (tests/fuzz/regressions/{webhooks,http}) through the harnesses' own checks, and states the
// right answer for each finding.
#include <gtest/gtest.h>

#include <string>

#include "checks.h"
#include "regression_inputs.h"

namespace convledger::api {
namespace {

using fuzz::ReadInput;
using fuzz::RegressionInputs;

TEST(FuzzRegressions, WebhookInputs) {
  for (const auto& p : RegressionInputs("webhooks"))
    EXPECT_EQ(fuzz::CheckWebhooks(ReadInput(p)), "") << p.filename();
}

TEST(FuzzRegressions, HttpInputs) {
  fuzz::HttpWorld world;
  for (const auto& p : RegressionInputs("http")) EXPECT_EQ(fuzz::CheckHttp(world, ReadInput(p)), "") << p.filename();
}

}  // namespace
}  // namespace convledger::api
