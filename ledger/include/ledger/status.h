// Errors as values for ledger/ (and projections/). No exception crosses these libraries.
//
// A Status carries a storage-level Code, a stable machine-readable `reason` (snake_case, part of
// the public contract: the CLI and the HTTP API print it verbatim, clients match on it) and a
// human-readable message. Ignoring a returned Status is a compile warning ([[nodiscard]]); write
// `.PermitUnchecked()` when dropping one is deliberate.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace convledger {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,
    kCorruption,
    kInvalidArgument,       // malformed input: bad JSON, wrong type, missing or oversized field
    kWrongExpectedVersion,  // optimistic concurrency: expected_version is not the current head
    kIdempotencyConflict,   // idempotency key reused with different content
    kInvariantViolation,    // a command breaks a rule (edit of an unknown or deleted message...)
    kIOError,
    kBusy,
  };

  Status() = default;  // OK

  static Status OK() { return Status(); }
  static Status NotFound(std::string reason, std::string msg) {
    return Status(Code::kNotFound, std::move(reason), std::move(msg));
  }
  static Status Corruption(std::string reason, std::string msg) {
    return Status(Code::kCorruption, std::move(reason), std::move(msg));
  }
  static Status InvalidArgument(std::string reason, std::string msg) {
    return Status(Code::kInvalidArgument, std::move(reason), std::move(msg));
  }
  static Status WrongExpectedVersion(std::string msg) {
    return Status(Code::kWrongExpectedVersion, "wrong_expected_version", std::move(msg));
  }
  static Status IdempotencyConflict(std::string msg) {
    return Status(Code::kIdempotencyConflict, "idempotency_key_reused", std::move(msg));
  }
  static Status InvariantViolation(std::string reason, std::string msg) {
    return Status(Code::kInvariantViolation, std::move(reason), std::move(msg));
  }
  static Status IOError(std::string msg) {
    return Status(Code::kIOError, "io_error", std::move(msg));
  }
  // An I/O error because the disk (the ledger's file system) is full: reason "disk_full".
  static Status DiskFull(std::string msg) {
    return Status(Code::kIOError, "disk_full", std::move(msg));
  }
  static Status Busy(std::string msg) { return Status(Code::kBusy, "busy", std::move(msg)); }
  static Status Busy(std::string reason, std::string msg) {
    return Status(Code::kBusy, std::move(reason), std::move(msg));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  // Stable snake_case identifier of what went wrong, e.g. "message_not_found".
  const std::string& reason() const { return reason_; }
  const std::string& message() const { return message_; }

  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsWrongExpectedVersion() const { return code_ == Code::kWrongExpectedVersion; }
  bool IsIdempotencyConflict() const { return code_ == Code::kIdempotencyConflict; }
  bool IsInvariantViolation() const { return code_ == Code::kInvariantViolation; }
  bool IsIOError() const { return code_ == Code::kIOError; }

  // Stable snake_case name of the code: "invalid_argument", "wrong_expected_version", ...
  static std::string_view CodeName(Code code);
  std::string_view code_name() const { return CodeName(code_); }

  // "invalid_argument/missing_field: conversation_id is required"
  std::string ToString() const;

  void PermitUnchecked() const {}

 private:
  Status(Code code, std::string reason, std::string msg)
      : code_(code), reason_(std::move(reason)), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  std::string reason_;
  std::string message_;
};

// A value or an error Status (like absl::StatusOr). Accessing value() of an error is a bug.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {     // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace convledger
