// Shared by the WhatsApp and Messenger mappers (private to api/).
//
// The mappers walk a parsed body with the typed getters below. A getter that finds a known
// field with the wrong shape throws SchemaError; the mapper's entry point catches it and turns
// the whole body into 422 with no events. The exception never leaves api/: it only keeps the
// mapping code a straight walk of the document, since any schema break aborts everything anyway.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/webhooks.h"

namespace convledger::api::webhook_detail {

using json = nlohmann::json;

struct SchemaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool ValidUtf8(std::string_view s);

// UTF-8, depth and syntax checks, then the parse. On failure fills `result` (400) and returns
// nullopt.
std::optional<json> ParseBody(std::string_view raw_body, WebhookResult* result);

// "a.b" / "a[3]" paths for messages.
inline std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
inline std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

[[noreturn]] void Fail(const std::string& path, const std::string& what);

// Absent or null: nullptr. Present with another JSON type: SchemaError.
const json* OptObject(const json& parent, std::string_view key, const std::string& path);
const json* OptArray(const json& parent, std::string_view key, const std::string& path);
const json& ReqObject(const json& parent, std::string_view key, const std::string& path);
const json& ReqArray(const json& parent, std::string_view key, const std::string& path);
// Strings: required ones must be non-empty. max_bytes guards the ledger's field limits.
std::string OptString(const json& parent, std::string_view key, const std::string& path,
                      size_t max_bytes);
std::string ReqString(const json& parent, std::string_view key, const std::string& path,
                      size_t max_bytes);
// A required JSON number (latitude, longitude), rendered as its shortest JSON text.
std::string ReqNumberText(const json& parent, std::string_view key, const std::string& path);

// A non-negative integer within int64 microseconds once scaled by `scale_to_us`.
int64_t ToMicros(uint64_t value, int64_t scale_to_us, const std::string& path);

// Events built for a body share these.
Event NewEvent(EventType type, const std::string& conversation_id, const std::string& tenant,
               Channel channel, const Actor& actor, int64_t occurred_at_us,
               std::string idempotency_key, const Digest& evidence);

// Delivery ticks: sent 1 < delivered 2 < read 3; failed and unknown 0.
int DeliveryRank(Delivery d);

}  // namespace convledger::api::webhook_detail
