// Every error the HTTP API answers with: a JSON body {"error":{"code","message"}} with a stable
// snake_case `code`, and the HTTP status that goes with it.
#pragma once

#include <string>
#include <string_view>

#include "ledger/status.h"

namespace convledger::api {

struct HttpError {
  int status = 500;
  std::string code;     // stable, snake_case: clients switch on it
  std::string message;  // for people; may change between versions
};

// The JSON body of an error response (one line, no trailing newline).
std::string ErrorBody(std::string_view code, std::string_view message);

// Maps a ledger Status onto the HTTP status and code of the append/read contract:
// invalid_argument 400, not_found 404, wrong_expected_version/idempotency 409, invariant 422,
// busy 503, io_error 503 (disk_full 507), corruption 500; by reason: legal_hold_active (a
// redaction or erasure refused under a legal hold, the refusal recorded) 423 Locked.
HttpError FromStatus(const Status& status);

}  // namespace convledger::api
