#include "ledger/event.h"

#include <array>
#include <utility>

namespace convledger {
namespace {

// A name table indexed by enum value; index 0 (kUnknown) has an empty name where applicable.
template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& table, E v) {
  for (const auto& [e, name] : table)
    if (e == v) return name;
  return "unknown";
}
template <typename E, size_t N>
std::optional<E> Lookup(const std::array<std::pair<E, std::string_view>, N>& table,
                        std::string_view s) {
  for (const auto& [e, name] : table)
    if (name == s) return e;
  return std::nullopt;
}

constexpr std::array<std::pair<EventType, std::string_view>, 12> kEventTypes{{
    {EventType::kMessageSent, "message.sent"},
    {EventType::kMessageEdited, "message.edited"},
    {EventType::kMessageDeleted, "message.deleted"},
    {EventType::kMessageCorrected, "message.corrected"},
    {EventType::kMessageRedacted, "message.redacted"},
    {EventType::kMessageStatus, "message.status"},
    {EventType::kMessageReaction, "message.reaction"},
    {EventType::kConsentChanged, "consent.changed"},
    {EventType::kLegalHoldChanged, "legal_hold.changed"},
    {EventType::kNoteAdded, "note.added"},
    {EventType::kSubjectErased, "subject.erased"},
    {EventType::kErasureRefused, "erasure.refused"},
}};
constexpr std::array<std::pair<ActorKind, std::string_view>, 5> kActorKinds{{
    {ActorKind::kAgent, "agent"},
    {ActorKind::kCustomer, "customer"},
    {ActorKind::kBot, "bot"},
    {ActorKind::kSystem, "system"},
    {ActorKind::kPlatform, "platform"},
}};
constexpr std::array<std::pair<Channel, std::string_view>, 5> kChannels{{
    {Channel::kWhatsApp, "whatsapp"},
    {Channel::kMessenger, "messenger"},
    {Channel::kSms, "sms"},
    {Channel::kEmail, "email"},
    {Channel::kWebChat, "webchat"},
}};
constexpr std::array<std::pair<Direction, std::string_view>, 2> kDirections{{
    {Direction::kInbound, "inbound"},
    {Direction::kOutbound, "outbound"},
}};
constexpr std::array<std::pair<DeleteScope, std::string_view>, 2> kScopes{{
    {DeleteScope::kEveryone, "everyone"},
    {DeleteScope::kAgentOnly, "agent_only"},
}};
constexpr std::array<std::pair<Delivery, std::string_view>, 4> kDeliveries{{
    {Delivery::kSent, "sent"},
    {Delivery::kDelivered, "delivered"},
    {Delivery::kRead, "read"},
    {Delivery::kFailed, "failed"},
}};
constexpr std::array<std::pair<ReactionAction, std::string_view>, 2> kReactionActions{{
    {ReactionAction::kAdd, "add"},
    {ReactionAction::kRemove, "remove"},
}};
constexpr std::array<std::pair<ConsentState, std::string_view>, 2> kConsents{{
    {ConsentState::kOptIn, "opt_in"},
    {ConsentState::kOptOut, "opt_out"},
}};
constexpr std::array<std::pair<HoldAction, std::string_view>, 2> kHolds{{
    {HoldAction::kPlaced, "placed"},
    {HoldAction::kReleased, "released"},
}};
constexpr std::array<std::pair<HoldScope, std::string_view>, 2> kHoldScopes{{
    {HoldScope::kConversation, "conversation"},
    {HoldScope::kSubject, "subject"},
}};
constexpr std::array<std::pair<ContentAccess, std::string_view>, 5> kAccesses{{
    {ContentAccess::kPlain, "plain"},
    {ContentAccess::kSealed, "sealed"},
    {ContentAccess::kOpened, "opened"},
    {ContentAccess::kRedacted, "redacted"},
    {ContentAccess::kErased, "erased"},
}};

}  // namespace

std::string_view ToString(EventType t) { return NameOf(kEventTypes, t); }
std::string_view ToString(ActorKind k) { return NameOf(kActorKinds, k); }
std::string_view ToString(Channel c) { return NameOf(kChannels, c); }
std::string_view ToString(Direction d) { return NameOf(kDirections, d); }
std::string_view ToString(DeleteScope s) { return NameOf(kScopes, s); }
std::string_view ToString(Delivery d) { return NameOf(kDeliveries, d); }
std::string_view ToString(ReactionAction a) { return NameOf(kReactionActions, a); }
std::string_view ToString(ConsentState c) { return NameOf(kConsents, c); }
std::string_view ToString(HoldAction h) { return NameOf(kHolds, h); }
std::string_view ToString(HoldScope s) { return NameOf(kHoldScopes, s); }
std::string_view ToString(ContentAccess a) { return NameOf(kAccesses, a); }
std::optional<EventType> ParseEventType(std::string_view s) { return Lookup(kEventTypes, s); }
std::optional<ActorKind> ParseActorKind(std::string_view s) { return Lookup(kActorKinds, s); }
std::optional<Channel> ParseChannel(std::string_view s) { return Lookup(kChannels, s); }
std::optional<Direction> ParseDirection(std::string_view s) { return Lookup(kDirections, s); }
std::optional<DeleteScope> ParseDeleteScope(std::string_view s) { return Lookup(kScopes, s); }
std::optional<Delivery> ParseDelivery(std::string_view s) { return Lookup(kDeliveries, s); }
std::optional<ReactionAction> ParseReactionAction(std::string_view s) {
  return Lookup(kReactionActions, s);
}
std::optional<ConsentState> ParseConsentState(std::string_view s) {
  return Lookup(kConsents, s);
}
std::optional<HoldAction> ParseHoldAction(std::string_view s) { return Lookup(kHolds, s); }
std::optional<HoldScope> ParseHoldScope(std::string_view s) { return Lookup(kHoldScopes, s); }

bool NamesMessage(EventType t) {
  switch (t) {
    case EventType::kMessageSent:
    case EventType::kMessageEdited:
    case EventType::kMessageDeleted:
    case EventType::kMessageCorrected:
    case EventType::kMessageRedacted:
    case EventType::kMessageStatus:
    case EventType::kMessageReaction:
      return true;
    default:
      return false;
  }
}

namespace {
constexpr char kHex[] = "0123456789abcdef";
}

std::string HexDigest(const Digest& d) {
  std::string s(64, '0');
  for (size_t i = 0; i < d.size(); ++i) {
    s[2 * i] = kHex[d[i] >> 4];
    s[2 * i + 1] = kHex[d[i] & 0xf];
  }
  return s;
}

std::string FormatEventId(const EventId& id) {
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < id.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[id[i] >> 4];
    s += kHex[id[i] & 0xf];
  }
  return s;
}

}  // namespace convledger
