#include "ledger/status.h"

namespace convledger {

std::string_view Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not_found";
    case Code::kCorruption: return "corruption";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kWrongExpectedVersion: return "wrong_expected_version";
    case Code::kIdempotencyConflict: return "idempotency_conflict";
    case Code::kInvariantViolation: return "invariant_violation";
    case Code::kIOError: return "io_error";
    case Code::kBusy: return "busy";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string s(CodeName(code_));
  if (!reason_.empty() && reason_ != s) s += "/" + reason_;
  if (!message_.empty()) s += ": " + message_;
  return s;
}

}  // namespace convledger
