// The demo data set of `convledger demo`: three small conversations of a web shop on WhatsApp
// that show what the ledger is for (see DemoConversations() for the story).
//
// Every event is written as the public JSON form and carries a fixed idempotency_key and a fixed
// occurred_at, so appending the demo again appends nothing.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "ledger/ledger.h"

namespace convledger::cli {

struct DemoConversation {
  std::string conversation_id;
  std::string title;  // one line for people: what happens in it
  // The events, in order, as JSON objects of the public form (one line each).
  std::vector<std::string> events_json;
};

// The demo, in the order it is appended:
//  - "demo-wa-anna": a wrong stock figure deleted and corrected with an explanation (wrong
//    message, delete, replacement, message.corrected), an edit with a reason, a reaction, an
//    internal note, and a card number sent by the customer by mistake and redacted by an agent.
//  - "demo-wa-ben": consent opt-in, a promotion sent, delivered and read, then deleted for
//    everyone without explanation; the customer complains and opts out; a legal hold.
//  - "demo-wa-carla": an automated refund notice sent by a bot from a "utility" template.
std::vector<DemoConversation> DemoConversations();

struct DemoCounts {
  size_t conversations = 0;
  size_t appended = 0;    // events appended now
  size_t duplicates = 0;  // events already there (the demo's idempotency keys)
};
// Appends the demo, one atomic append per conversation; idempotent.
Result<DemoCounts> AppendDemoConversations(Ledger& ledger);

}  // namespace convledger::cli
