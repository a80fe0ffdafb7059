#include "api/errors.h"

#include <nlohmann/json.hpp>

namespace convledger::api {

std::string ErrorBody(std::string_view code, std::string_view message) {
  nlohmann::json j;
  j["error"] = {{"code", std::string(code)}, {"message", std::string(message)}};
  // Replace, not throw, if a message ever carries bytes that are not UTF-8 (it echoes input).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpError FromStatus(const Status& status) {
  using C = Status::Code;
  int http = 500;
  switch (status.code()) {
    case C::kOk: http = 200; break;
    case C::kInvalidArgument: http = 400; break;
    case C::kNotFound: http = 404; break;
    case C::kWrongExpectedVersion: http = 409; break;
    case C::kIdempotencyConflict: http = 409; break;
    case C::kInvariantViolation: http = 422; break;
    case C::kBusy: http = 503; break;
    // A full disk is 507 Insufficient Storage: the client should not retry until space is freed.
    case C::kIOError: http = status.reason() == "disk_full" ? 507 : 503; break;
    case C::kCorruption: http = 500; break;
  }
  // A legal hold blocking a redaction or an erasure is not a broken rule of the request but a
  // resource locked by someone else (the legal case): 423 Locked, wherever it surfaces.
  if (status.reason() == "legal_hold_active") http = 423;
  std::string code = status.reason().empty() ? std::string(status.code_name()) : status.reason();
  return HttpError{http, std::move(code), status.message()};
}

}  // namespace convledger::api
