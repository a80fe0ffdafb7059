// Event <-> stored bytes. Private to ledger/.
//
// Append encodes an Event into FlatBuffers with every scalar present (ForceDefaults), so the
// fields the ledger assigns under its lock (sequences, times, id, prev_hash) can be patched in
// place without re-encoding. The fingerprint used for idempotency is taken before patching.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include "ledger/event.h"
#include "ledger/status.h"

namespace convledger::codec {

// The Event table bytes, assigned fields zero, plus the fingerprint idempotency compares: the
// SHA-256 of those bytes without evidence, or, when sealed, an HMAC of the plaintext encoding.
struct Encoded {
  std::string bytes;
  Digest fingerprint{};
};
// How to seal an event's content: its data key, a fresh nonce, the key id stored beside the
// ciphertext (and bound to it as associated data), and the key of the fingerprint HMAC.
struct SealKey {
  std::string key_id;
  std::array<uint8_t, 32> key{};
  std::string nonce;  // 12 bytes
  std::array<uint8_t, 32> fingerprint_key{};
};
// Encodes `e`; its content sealed under `key` when given (plaintext otherwise).
// `sealed_out`, when given, receives the envelope as stored (set only when sealed).
Encoded EncodeEvent(const Event& e, const SealKey* key = nullptr,
                    std::optional<SealedContent>* sealed_out = nullptr);

// Parses a plaintext ContentPlain buffer (as opened from a sealed envelope). Corruption when it
// does not verify.
Status DecodeContentPlain(std::string_view bytes, std::optional<Content>* content,
                          std::vector<std::string>* template_params);

struct Assigned {
  uint64_t global_seq = 0;
  uint64_t conversation_seq = 0;
  int64_t recorded_at_us = 0;
  int64_t occurred_at_us = 0;
  EventId event_id{};
  Digest prev_hash{};
};
// Writes the assigned fields into `bytes` (an Event built by EncodeEvent).
void PatchAssigned(std::string* bytes, const Assigned& a);

// hash = SHA-256("convledger/event/v1" || prev_hash || event bytes)
Digest EventHash(const Digest& prev_hash, std::string_view event_bytes);
Digest Sha256(std::string_view data);

// Wraps event bytes and their hash into the stored Record.
std::string BuildRecord(std::string_view event_bytes, const Digest& hash);

// A verified view into a stored Record. `record` must outlive it.
struct RecordView {
  std::string_view event_bytes;
  Digest hash{};
  uint64_t global_seq = 0;
  uint64_t conversation_seq = 0;
  std::string_view conversation_id;
  std::string_view tenant;
  Digest prev_hash{};
};
// Runs the FlatBuffers verifier on the record and its nested event; with `check_hash` also
// recomputes the hash. Corrupt input gives Status::Corruption, never a crash.
Status ParseRecord(std::string_view record, bool check_hash, RecordView* out);

// Decodes a verified record into an Event.
Result<Event> Decode(std::string_view record, bool check_hash);

// 16 random bytes formatted as a version-4 UUID.
EventId NewEventId();

}  // namespace convledger::codec
