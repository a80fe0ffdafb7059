// The typed C++ form of one event, shared by the JSON codec, the ledger and (later) projections.
//
// One flat struct for every event type, mirroring the flat JSON form documented in README.md:
// the envelope, then the fields of each body (only those of `type` are meaningful; the others
// stay at their defaults and are rejected by the JSON parser if given). The ledger fills the
// "assigned" fields when it appends; on input they are ignored.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convledger {

enum class EventType : uint8_t {
  kMessageSent = 1,
  kMessageEdited,
  kMessageDeleted,
  kMessageCorrected,
  kMessageRedacted,
  kMessageStatus,
  kMessageReaction,
  kConsentChanged,
  kLegalHoldChanged,
  kNoteAdded,
  // Erasure (crypto-shredding). subject.erased: the subject's key was destroyed, so every
  // message of that customer is unreadable; one such event in each of the subject's
  // conversations. erasure.refused: a redaction or erasure refused because of a legal hold,
  // recorded so the request is not lost (releasing the hold does not apply it).
  kSubjectErased,
  kErasureRefused,
};
enum class ActorKind : uint8_t { kUnknown = 0, kAgent, kCustomer, kBot, kSystem, kPlatform };
enum class Channel : uint8_t { kUnknown = 0, kWhatsApp, kMessenger, kSms, kEmail, kWebChat };
enum class Direction : uint8_t { kUnknown = 0, kInbound, kOutbound };
enum class DeleteScope : uint8_t { kUnknown = 0, kEveryone, kAgentOnly };
enum class Delivery : uint8_t { kUnknown = 0, kSent, kDelivered, kRead, kFailed };
enum class ReactionAction : uint8_t { kUnknown = 0, kAdd, kRemove };
enum class ConsentState : uint8_t { kUnknown = 0, kOptIn, kOptOut };
enum class HoldAction : uint8_t { kUnknown = 0, kPlaced, kReleased };
// What a legal hold covers: its conversation, or every conversation of that conversation's
// subject (present and future).
enum class HoldScope : uint8_t { kConversation = 0, kSubject };
// How stored content is protected; kNone stores the plaintext (ledgers written before
// encryption, or opened with Options::encrypt_content off).
enum class Sealing : uint8_t { kNone = 0, kAes256Gcm, kChaCha20Poly1305 };
// What a reader could do with an event's content (read side, see ledger/content.h).
enum class ContentAccess : uint8_t {
  kPlain = 0,    // stored unencrypted: `content` is what was stored
  kSealed,       // stored encrypted and not opened (yet): `sealed` holds it, `content` is empty
  kOpened,       // decrypted: `content` holds the plaintext
  kRedacted,     // the message's data key was destroyed (message.redacted): gone for good
  kErased,       // the subject's key was destroyed (subject.erased / retention): gone for good
};

// Wire names ("message.sent", "agent", "whatsapp", ...). Parse* return nullopt for unknown names.
std::string_view ToString(EventType t);
std::string_view ToString(ActorKind k);
std::string_view ToString(Channel c);
std::string_view ToString(Direction d);
std::string_view ToString(DeleteScope s);
std::string_view ToString(Delivery d);
std::string_view ToString(ReactionAction a);
std::string_view ToString(ConsentState c);
std::string_view ToString(HoldAction h);
std::string_view ToString(HoldScope s);
std::string_view ToString(ContentAccess a);
std::optional<EventType> ParseEventType(std::string_view s);
std::optional<ActorKind> ParseActorKind(std::string_view s);
std::optional<Channel> ParseChannel(std::string_view s);
std::optional<Direction> ParseDirection(std::string_view s);
std::optional<DeleteScope> ParseDeleteScope(std::string_view s);
std::optional<Delivery> ParseDelivery(std::string_view s);
std::optional<ReactionAction> ParseReactionAction(std::string_view s);
std::optional<ConsentState> ParseConsentState(std::string_view s);
std::optional<HoldAction> ParseHoldAction(std::string_view s);
std::optional<HoldScope> ParseHoldScope(std::string_view s);

// True for the types that name a message (`message_id` required).
bool NamesMessage(EventType t);

// Commands are what our own agents, bots and systems do: checked against invariants before they
// are appended. Observations (customer, platform) are facts reported by a platform: recorded as
// they arrive, even out of order.
inline bool IsCommand(ActorKind k) {
  return k == ActorKind::kAgent || k == ActorKind::kBot || k == ActorKind::kSystem;
}

using Digest = std::array<uint8_t, 32>;
using EventId = std::array<uint8_t, 16>;

struct Actor {
  ActorKind kind = ActorKind::kUnknown;
  std::string id;
  std::string display;
  bool operator==(const Actor&) const = default;
};

struct Media {
  std::string mime;
  uint64_t size = 0;
  std::string sha256;
  std::string caption;
  std::string reference;
  std::string filename;
  bool operator==(const Media&) const = default;
};

struct Content {
  std::string text;
  std::vector<Media> media;
  bool operator==(const Content&) const = default;
};

// Content as stored when encrypted: the SealedContent envelope of schemas/events.fbs. `bytes`
// is the AEAD ciphertext || 16-byte tag of a ContentPlain buffer; `key_id` names the data key in
// the ledger's `keys` column family. Opaque to everything but the ledger's ContentOpener.
struct SealedContent {
  Sealing sealing = Sealing::kNone;
  std::string key_id;
  std::string nonce;
  std::string bytes;
  bool operator==(const SealedContent&) const = default;
};

struct Template {
  std::string name;
  std::string language;
  std::string category;  // marketing, utility, authentication (free text, lower case)
  std::vector<std::string> parameters;
  bool operator==(const Template&) const = default;
};

struct Event {
  // ---- envelope (input) ----
  EventType type = EventType::kMessageSent;
  std::string conversation_id;
  std::string idempotency_key;                // empty: none
  std::optional<uint64_t> expected_version;   // input only, never stored
  std::optional<int64_t> occurred_at_us;      // absent on input: the ledger uses recorded_at
  Actor actor;
  Channel channel = Channel::kUnknown;
  std::string tenant;                         // empty on input: "default"
  // SHA-256 of the raw platform payload (e.g. a webhook body) this event was mapped from, so a
  // dispute can go back to what the platform delivered. All zero: none. Stored, hashed, but
  // left out of the idempotency fingerprint (the platform's id is the identity, not the body).
  Digest evidence{};
  // The data subject (the customer) whose personal data the conversation holds: the key that
  // erasure works by. Fixed by a conversation's first event: given there, or else the customer
  // actor's id when the first event comes from the customer, or else the conversation id. The
  // ledger stores it on the first event; later events may repeat it (a different one is
  // refused, subject_mismatch). Required on subject.erased and erasure.refused.
  std::string subject;

  // ---- body (only the fields of `type`) ----
  std::string message_id;       // every message.* type
  Direction direction = Direction::kUnknown;  // sent
  std::optional<Content> content;             // sent, edited; note text lives in content.text
  std::string reply_to;                       // sent
  std::optional<Template> template_;          // sent
  std::string kind;                           // sent: the platform's message type (text, image,
                                              // location, unsupported, ...); empty: not given
  std::string reason;                         // edited, deleted, redacted
  DeleteScope scope = DeleteScope::kUnknown;  // deleted
  std::string reason_code;                    // deleted, corrected
  std::string replacement_message_id;         // corrected
  std::string explanation;                    // corrected
  Delivery status = Delivery::kUnknown;       // status
  std::string error_code;                     // status (failed)
  std::string error_title;                    // status (failed)
  std::string emoji;                          // reaction
  ReactionAction action = ReactionAction::kUnknown;  // reaction
  ConsentState consent = ConsentState::kUnknown;     // consent
  std::string consent_scope;                  // consent: marketing, transactional
  std::string source;                         // consent
  HoldAction hold = HoldAction::kUnknown;     // legal hold
  std::string case_ref;                       // legal hold; erasure.refused: the blocking hold
  HoldScope hold_scope = HoldScope::kConversation;  // legal hold
  bool override_hold = false;                 // redacted, subject.erased: applied despite a hold
  EventType refused = EventType::kMessageRedacted;  // erasure.refused: what was refused
                                              // (message.redacted with message_id, or
                                              // subject.erased); `reason` is the request's
  // ---- read side: how the content was stored (see ledger/content.h) ----
  Sealing content_sealing = Sealing::kNone;   // kNone: `content` (and template parameters) are
                                              // the stored plaintext
  std::optional<SealedContent> sealed;        // the stored envelope when content_sealing != kNone
  ContentAccess content_access = ContentAccess::kPlain;  // kSealed until opened

  // ---- assigned by the ledger on append ----
  uint64_t global_seq = 0;
  uint64_t conversation_seq = 0;
  int64_t recorded_at_us = 0;
  EventId event_id{};
  Digest prev_hash{};
  Digest hash{};

  bool operator==(const Event&) const = default;
};

// Lower-case hex of a digest; UUID text of an event id.
std::string HexDigest(const Digest& d);
std::string FormatEventId(const EventId& id);

}  // namespace convledger
