#include "channel_rules.h"

namespace convledger::projections {
namespace {

constexpr int64_t kMinute = 60LL * 1000000;
constexpr int64_t kHour = 60 * kMinute;

// One row per channel. Change numbers here, nowhere else.
constexpr ChannelRules kRules[] = {
    // kUnknown: no platform constraints known; treat like web chat.
    {"unknown", true, 0, true, 0, "This message was deleted", "no platform"},
    // WhatsApp: edits within 15 minutes; "delete for everyone" within about 2 days
    // (2 days 12 hours in current clients).
    {"whatsapp", true, 15 * kMinute, true, 60 * kHour, "This message was deleted",
     "WhatsApp Help Center: edit 15 min, delete for everyone ~2 days"},
    // Messenger: edit within 15 minutes, unsend within 10 minutes.
    {"messenger", true, 15 * kMinute, true, 10 * kMinute, "You unsent a message",
     "Messenger Help Center: edit 15 min, unsend 10 min"},
    // SMS: once delivered, nothing can be changed or recalled.
    {"sms", false, 0, false, 0, "", "SMS has no edit or recall"},
    // E-mail: no recall outside one organisation's server; treat as permanent.
    {"email", false, 0, false, 0, "", "e-mail cannot be recalled from the recipient"},
    // Our own web chat: the business controls the client.
    {"webchat", true, 0, true, 0, "This message was deleted", "own client"},
};

}  // namespace

const ChannelRules& RulesFor(Channel channel) {
  const auto i = static_cast<size_t>(channel);
  return i < std::size(kRules) ? kRules[i] : kRules[0];
}

}  // namespace convledger::projections
