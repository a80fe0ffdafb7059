// What each channel lets a business do to a message already sent, as data. The history flags
// edits and deletions outside these windows; the customer view shows what the platform would
// have shown (an SMS cannot be unsent: a "deleted for everyone" SMS stays on the phone).
#pragma once

#include <cstdint>
#include <string_view>

#include "ledger/event.h"

namespace convledger::projections {

struct ChannelRules {
  std::string_view channel;
  bool can_edit = false;                 // the platform can change a delivered message
  int64_t edit_window_us = 0;            // 0 with can_edit: no limit
  bool can_delete_for_everyone = false;  // the platform can remove it from the customer's app
  int64_t delete_window_us = 0;          // 0 with can_delete_for_everyone: no limit
  std::string_view deleted_placeholder;  // what the customer's app shows instead
  std::string_view source;               // where the numbers come from
};

const ChannelRules& RulesFor(Channel channel);

}  // namespace convledger::projections
