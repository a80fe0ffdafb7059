#include "api/errors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace convledger::api {
namespace {

TEST(Errors, BodyIsJsonWithCodeAndMessage) {
  auto j = nlohmann::json::parse(ErrorBody("bad_json", "line 1: \"x\""));
  EXPECT_EQ(j["error"]["code"], "bad_json");
  EXPECT_EQ(j["error"]["message"], "line 1: \"x\"");
}

TEST(Errors, BodySurvivesInvalidUtf8InMessage) {
  auto body = ErrorBody("invalid_utf8", std::string("bad \xff byte"));
  EXPECT_TRUE(nlohmann::json::accept(body));
}

TEST(Errors, StatusMapping) {
  EXPECT_EQ(FromStatus(Status::InvalidArgument("bad_json", "x")).status, 400);
  EXPECT_EQ(FromStatus(Status::InvalidArgument("bad_json", "x")).code, "bad_json");
  EXPECT_EQ(FromStatus(Status::WrongExpectedVersion("x")).status, 409);
  EXPECT_EQ(FromStatus(Status::WrongExpectedVersion("x")).code, "wrong_expected_version");
  EXPECT_EQ(FromStatus(Status::IdempotencyConflict("x")).status, 409);
  EXPECT_EQ(FromStatus(Status::InvariantViolation("message_not_found", "x")).status, 422);
  EXPECT_EQ(FromStatus(Status::NotFound("conversation_not_found", "x")).status, 404);
  EXPECT_EQ(FromStatus(Status::Busy("projection_rebuilding", "x")).status, 503);
  EXPECT_EQ(FromStatus(Status::Corruption("hash_mismatch", "x")).status, 500);
  EXPECT_EQ(FromStatus(Status::IOError("x")).status, 503);
  EXPECT_EQ(FromStatus(Status::IOError("x")).code, "io_error");
  // Erasure (issue 6): a legal hold is 423 Locked by reason; the ledger's other refusals keep
  // the house mapping by code.
  EXPECT_EQ(FromStatus(Status::InvariantViolation("legal_hold_active", "x")).status, 423);
  EXPECT_EQ(FromStatus(Status::InvariantViolation("legal_hold_active", "x")).code,
            "legal_hold_active");
  EXPECT_EQ(FromStatus(Status::InvalidArgument("reserved_event_type", "x")).status, 400);
  EXPECT_EQ(FromStatus(Status::InvalidArgument("subject_mismatch", "x")).status, 400);
  EXPECT_EQ(FromStatus(Status::NotFound("subject_not_found", "x")).status, 404);
}

TEST(Errors, DiskFullIs507WithItsOwnCode) {
  const HttpError e = FromStatus(Status::DiskFull("append failed: No space left on device"));
  EXPECT_EQ(e.status, 507);
  EXPECT_EQ(e.code, "disk_full");
  EXPECT_EQ(e.message, "append failed: No space left on device");
  // Still an I/O error for everything that looks at the code (the CLI's exit code 3).
  EXPECT_TRUE(Status::DiskFull("x").IsIOError());
}

}  // namespace
}  // namespace convledger::api
