// Shared helpers for the ledger tests: Status assertions that print the Status, a temporary
// directory per test, a fixed clock, and builders for events of every type.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ledger/event.h"
#include "ledger/ledger.h"
#include "ledger/status.h"

namespace convledger {

// gtest finds these through ADL, so failed comparisons print something readable.
inline void PrintTo(const Status& s, std::ostream* os) { *os << s.ToString(); }
inline void PrintTo(Durability d, std::ostream* os) {
  *os << (d == Durability::kWal ? "kWal" : "kFsync");
}

namespace test {

inline const Status& ToStatus(const Status& s) { return s; }
template <typename T>
const Status& ToStatus(const Result<T>& r) {
  return r.status();
}

// Passes when `s` has `code` and, when given, `reason`; otherwise says what it got.
inline ::testing::AssertionResult StatusIs(const Status& s, Status::Code code,
                                           std::string_view reason = {}) {
  if (s.code() == code && (reason.empty() || s.reason() == reason)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected " << Status::CodeName(code) << (reason.empty() ? "" : "/") << reason
         << ", got " << (s.ok() ? std::string("OK") : s.ToString());
}

}  // namespace test
}  // namespace convledger

#define CONVLEDGER_CONCAT_INNER(a, b) a##b
#define CONVLEDGER_CONCAT(a, b) CONVLEDGER_CONCAT_INNER(a, b)

// ASSERT_OK(status_or_result) / EXPECT_OK(...): print the Status on failure.
#define ASSERT_OK(expr)                                                             \
  do {                                                                              \
    const ::convledger::Status convledger_s_ = ::convledger::test::ToStatus(expr);  \
    ASSERT_TRUE(convledger_s_.ok()) << #expr << " -> " << convledger_s_.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                                             \
  do {                                                                              \
    const ::convledger::Status convledger_s_ = ::convledger::test::ToStatus(expr);  \
    EXPECT_TRUE(convledger_s_.ok()) << #expr << " -> " << convledger_s_.ToString(); \
  } while (0)

// ASSERT_OK_AND_ASSIGN(auto x, MakeResult()): asserts OK, then moves the value into `lhs`.
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL(CONVLEDGER_CONCAT(convledger_r_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, rexpr)                      \
  auto tmp = (rexpr);                                                   \
  ASSERT_TRUE(tmp.ok()) << #rexpr << " -> " << tmp.status().ToString(); \
  lhs = std::move(tmp).value()

// EXPECT_STATUS(expr, kInvalidArgument, "unknown_field"); the reason may be "" (any).
#define EXPECT_STATUS(expr, code, reason)                                             \
  EXPECT_TRUE(::convledger::test::StatusIs(::convledger::test::ToStatus(expr),        \
                                           ::convledger::Status::Code::code, reason)) \
      << #expr
#define ASSERT_STATUS(expr, code, reason)                                             \
  ASSERT_TRUE(::convledger::test::StatusIs(::convledger::test::ToStatus(expr),        \
                                           ::convledger::Status::Code::code, reason)) \
      << #expr

namespace convledger::test {

// A fresh directory under the system temp dir, removed on destruction (kept when the
// environment variable CONVLEDGER_KEEP_TEST_DIRS is set, for post-mortems).
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "convledger-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    }
    path_ = tmpl;
  }
  ~TempDir() {
    if (std::getenv("CONVLEDGER_KEEP_TEST_DIRS") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // A path inside this directory (not created).
  std::string Sub(std::string_view name) const {
    return (std::filesystem::path(path_) / std::string(name)).string();
  }

 private:
  std::string path_;
};

// A clock that starts at a fixed instant and ticks one microsecond per reading, so recorded_at
// is reproducible and strictly increasing.
class FixedClock : public Clock {
 public:
  // 2026-11-24T10:03:00Z
  static constexpr int64_t kStart = 1795514580LL * 1000000;
  explicit FixedClock(int64_t start = kStart) : now_(start) {}
  int64_t NowMicros() override { return now_.fetch_add(1); }
  int64_t Peek() const { return now_.load(); }

 private:
  std::atomic<int64_t> now_;
};

// ---- event builders: the minimum each type needs, plus a readable payload ----

inline Event Envelope(EventType type, std::string conversation_id, ActorKind kind) {
  Event e;
  e.type = type;
  e.conversation_id = std::move(conversation_id);
  e.actor.kind = kind;
  e.actor.id = std::string(ToString(kind)) + "-1";
  e.actor.display = "Display " + std::string(ToString(kind));
  e.channel = Channel::kWhatsApp;
  e.tenant = "acme";
  return e;
}

inline Event Sent(std::string conv, std::string message_id, std::string text = "hello",
                  ActorKind kind = ActorKind::kAgent) {
  Event e = Envelope(EventType::kMessageSent, std::move(conv), kind);
  e.message_id = std::move(message_id);
  e.direction = (kind == ActorKind::kCustomer) ? Direction::kInbound : Direction::kOutbound;
  e.content = Content{std::move(text), {}};
  return e;
}

inline Event Edited(std::string conv, std::string message_id, std::string text = "edited",
                    ActorKind kind = ActorKind::kAgent) {
  Event e = Envelope(EventType::kMessageEdited, std::move(conv), kind);
  e.message_id = std::move(message_id);
  e.content = Content{std::move(text), {}};
  e.reason = "typo";
  return e;
}

inline Event Deleted(std::string conv, std::string message_id,
                     DeleteScope scope = DeleteScope::kEveryone,
                     ActorKind kind = ActorKind::kAgent) {
  Event e = Envelope(EventType::kMessageDeleted, std::move(conv), kind);
  e.message_id = std::move(message_id);
  e.scope = scope;
  e.reason_code = "wrong_price";
  e.reason = "price was wrong";
  return e;
}

inline Event Corrected(std::string conv, std::string message_id, std::string replacement,
                       ActorKind kind = ActorKind::kAgent) {
  Event e = Envelope(EventType::kMessageCorrected, std::move(conv), kind);
  e.message_id = std::move(message_id);
  e.replacement_message_id = std::move(replacement);
  e.reason_code = "wrong_price";
  e.explanation = "The price is 20 EUR, not 2 EUR.";
  return e;
}

inline Event Redacted(std::string conv, std::string message_id,
                      ActorKind kind = ActorKind::kAgent) {
  Event e = Envelope(EventType::kMessageRedacted, std::move(conv), kind);
  e.message_id = std::move(message_id);
  e.reason = "card number sent by mistake";
  return e;
}

inline Event StatusOf(std::string conv, std::string message_id,
                      Delivery status = Delivery::kDelivered,
                      ActorKind kind = ActorKind::kPlatform) {
  Event e = Envelope(EventType::kMessageStatus, std::move(conv), kind);
  e.message_id = std::move(message_id);
  e.status = status;
  if (status == Delivery::kFailed) {
    e.error_code = "131047";
    e.error_title = "Re-engagement message";
  }
  return e;
}

inline Event ReactionTo(std::string conv, std::string message_id,
                        std::string emoji = "\xF0\x9F\x91\x8D",
                        ActorKind kind = ActorKind::kAgent) {
  Event e = Envelope(EventType::kMessageReaction, std::move(conv), kind);
  e.message_id = std::move(message_id);
  e.emoji = std::move(emoji);
  e.action = ReactionAction::kAdd;
  return e;
}

inline Event Note(std::string conv, std::string text = "internal note",
                  ActorKind kind = ActorKind::kAgent) {
  Event e = Envelope(EventType::kNoteAdded, std::move(conv), kind);
  e.content = Content{std::move(text), {}};
  return e;
}

inline Event ConsentEv(std::string conv, ConsentState consent = ConsentState::kOptIn,
                       ActorKind kind = ActorKind::kCustomer) {
  Event e = Envelope(EventType::kConsentChanged, std::move(conv), kind);
  e.consent = consent;
  e.consent_scope = "marketing";
  e.source = "checkout_form";
  return e;
}

inline Event HoldEv(std::string conv, HoldAction hold = HoldAction::kPlaced,
                    ActorKind kind = ActorKind::kSystem) {
  Event e = Envelope(EventType::kLegalHoldChanged, std::move(conv), kind);
  e.hold = hold;
  e.case_ref = "CASE-2026-001";
  return e;
}

inline Event WithExpected(Event e, uint64_t expected_version) {
  e.expected_version = expected_version;
  return e;
}

inline Event WithKey(Event e, std::string key) {
  e.idempotency_key = std::move(key);
  return e;
}

// Opens a ledger, failing the current test (and returning nullptr) on error.
inline std::unique_ptr<Ledger> OpenOrDie(const std::string& dir, const Options& options) {
  auto r = Ledger::Open(dir, options);
  EXPECT_TRUE(r.ok()) << "Ledger::Open(" << dir << ") -> " << r.status().ToString();
  if (!r.ok()) return nullptr;
  return std::move(r).value();
}

// True when `text` contains "global_seq <n>" not followed by another digit.
inline bool NamesGlobalSeq(std::string_view text, uint64_t n) {
  const std::string needle = "global_seq " + std::to_string(n);
  for (size_t pos = text.find(needle); pos != std::string_view::npos;
       pos = text.find(needle, pos + 1)) {
    const size_t end = pos + needle.size();
    if (end == text.size() || text[end] < '0' || text[end] > '9') return true;
  }
  return false;
}

}  // namespace convledger::test
