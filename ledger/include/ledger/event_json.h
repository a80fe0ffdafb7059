// The JSON form of an event (documented in README.md), shared by the CLI and the HTTP API.
//
// Parsing is strict: unknown fields, fields that do not belong to the event's type, wrong JSON
// types, missing required fields, oversized strings, invalid UTF-8 and unknown enum names are all
// rejected with Status::InvalidArgument and a stable reason (see kReason* below). Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ledger/event.h"
#include "ledger/status.h"

namespace convledger {

// Size limits on the JSON form. Exceeding one is `field_too_large`.
inline constexpr size_t kMaxConversationIdBytes = 256;
inline constexpr size_t kMaxIdBytes = 256;             // message ids, actor ids, keys, codes
inline constexpr size_t kMaxTextBytes = 64 * 1024;     // message and note text
inline constexpr size_t kMaxShortTextBytes = 4 * 1024; // reasons, explanations, names
inline constexpr size_t kMaxMediaItems = 32;
inline constexpr size_t kMaxTemplateParameters = 64;
inline constexpr size_t kMaxEventJsonBytes = 1024 * 1024;  // one event line
inline constexpr size_t kMaxBatchEvents = 1000;

// Parses one event object from JSON text. Reasons: malformed_json, invalid_utf8, not_an_object,
// unknown_field, wrong_type, missing_field, field_too_large, empty_field, unknown_event_type,
// invalid_value, invalid_timestamp. The fields the ledger assigns (global_seq, conversation_seq,
// recorded_at, event_id, hash, prev_hash) are accepted and ignored, so output parses as input.
// A correction's reason_code is one of wrong_price, wrong_availability, typo, wrong_recipient,
// sensitive_data, other.
Result<Event> ParseEventJson(std::string_view json_text);

// Parses either one event object or {"events":[...]} (a batch). Same reasons, plus
// empty_batch, batch_too_large and body_too_large (over 16 MiB of text); errors name the failing
// index ("events[2].actor.kind").
// `is_batch`, when given, tells which of the two forms the text was (set once it is JSON).
Result<std::vector<Event>> ParseEventsJson(std::string_view json_text, bool* is_batch = nullptr);

// Strict UTF-8: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no
// truncated sequence. The one validator of the code base: the JSON parser, the webhook layer and
// the HTTP routes all use it.
bool IsValidUtf8(std::string_view s);
// Renders an event (as stored, with the assigned fields) as one line of compact JSON:
// the input form plus global_seq, conversation_seq, recorded_at, event_id, hash, prev_hash.
std::string EventToJson(const Event& e);

// The JSON array of a message's media items, exactly as EventToJson writes it (mime always; size,
// sha256, caption, reference and filename when set), so that an item reads the same in the event
// JSON and in every view. A template so that nlohmann::json (the only `Json` used) stays out of
// this header: callers that already include it instantiate it.
template <class Json>
Json MediaToJson(const std::vector<Media>& media) {
  Json arr = Json::array();
  for (const Media& m : media) {
    Json mj = Json::object();
    mj["mime"] = m.mime;
    if (m.size) mj["size"] = m.size;
    if (!m.sha256.empty()) mj["sha256"] = m.sha256;
    if (!m.caption.empty()) mj["caption"] = m.caption;
    if (!m.reference.empty()) mj["reference"] = m.reference;
    if (!m.filename.empty()) mj["filename"] = m.filename;
    arr.push_back(std::move(mj));
  }
  return arr;
}

}  // namespace convledger
