// Key encodings of the column families (written up in schemas/README.md).
//
//   events       ConvPrefix(conv) || be64(conversation_seq)  -> Record bytes (written once)
//   global_index be64(global_seq)                             -> events key
//   idempotency  be16(len) tenant || key                      -> be64(global_seq) || fingerprint(32)
//   messages     ConvPrefix(conv) || message id               -> flags(1)
//   evidence     'b' || sha256(body)                          -> body (written once per body)
//   evidence     'B' || sha256(body)                          -> nonce || AES-256-GCM(body) || tag
//                                                                (encryption on; key in `keys`)
//   keys         see keystore.h
//   evidence     'd' || sha256(body) || be64(received_at_us) || be64(global_seq_at_write)
//                                                             -> flags(1) || source
//   default      "format"                                     -> "1"
//   default      "last_global_seq"                            -> be64 (written with every commit)
//   default      "conversations"                              -> be64 (number of conversations)
//
// ConvPrefix(conv) = be16(len(conv)) || conv. The length prefix makes the prefixes of two
// different ids disjoint: no conversation's keys can fall inside another's range.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/event.h"
#include "ledger/status.h"

namespace convledger::keys {

inline constexpr char kEventsCf[] = "events";
inline constexpr char kGlobalIndexCf[] = "global_index";
inline constexpr char kIdempotencyCf[] = "idempotency";
inline constexpr char kMessagesCf[] = "messages";
inline constexpr char kEvidenceCf[] = "evidence";
inline constexpr char kLastGlobalSeqKey[] = "last_global_seq";
inline constexpr char kConversationsKey[] = "conversations";

void PutBe64(std::string* dst, uint64_t v);
uint64_t GetBe64(const char* p);

std::string ConvPrefix(std::string_view conversation_id);
std::string EventKey(std::string_view conversation_id, uint64_t conversation_seq);
// Upper bound (exclusive) of a conversation's events range.
std::string EventRangeEnd(std::string_view conversation_id);
// Splits an events key; false if malformed.
bool ParseEventKey(std::string_view key, std::string_view* conversation_id,
                   uint64_t* conversation_seq);
std::string GlobalKey(uint64_t global_seq);
std::string IdempotencyKey(std::string_view tenant, std::string_view key);
std::string MessageKey(std::string_view conversation_id, std::string_view message_id);
std::string EvidenceBodyKey(const Digest& sha256);
// 'B' || sha256: a body sealed under its own key (keys column family 'e' || sha256).
std::string SealedEvidenceBodyKey(const Digest& sha256);
// Prefix of every delivery key of one body; a delivery key adds be64 received_at and be64 seq.
std::string EvidenceDeliveryPrefix(const Digest& sha256);

// A conversation's head (read from its last event; cached by the writer).
struct HeadValue {
  uint64_t conversation_seq = 0;
  uint64_t global_seq = 0;
  Digest hash{};
  std::string tenant;
};

// Projection column families reserve keys starting with 0x00; the checkpoint is
// "\0checkpoint" -> be64(last folded global_seq) || be32(fold version).
inline const std::string kCheckpointKey("\0checkpoint", 11);
std::string EncodeCheckpoint(uint64_t global_seq, uint32_t version);
// A key a projection may write: not empty, not reserved (0x00 first), at most
// kMaxStateKeyBytes. InvalidArgument (invalid_state_key) otherwise.
Status CheckStateKey(std::string_view key);
bool DecodeCheckpoint(std::string_view v, uint64_t* global_seq, uint32_t* version);

// messages flags
enum MessageFlags : uint8_t {
  kMsgSent = 1,
  kMsgDeletedEveryone = 2,
  kMsgRedacted = 4,
  kMsgOutbound = 8,
  kMsgDeletedAgentOnly = 16,
};

}  // namespace convledger::keys
