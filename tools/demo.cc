// `convledger demo`: a small, realistic data set, appended through the public JSON form.

#include "tools/demo.h"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ledger/event_json.h"
#include "tools/cli.h"
#include "tools/common.h"

namespace convledger::cli {
namespace {

using nlohmann::json;

json Actor(std::string_view kind, std::string_view id, std::string_view display) {
  return json{{"kind", kind}, {"id", id}, {"display", display}};
}

// Builds one conversation's events: the envelope (conversation, fixed idempotency key, fixed
// occurred_at, channel) around each body.
class ConversationBuilder {
 public:
  ConversationBuilder(std::string conversation_id, std::string title)
      : conversation_{std::move(conversation_id), std::move(title), {}} {}

  ConversationBuilder& Add(std::string_view type, std::string_view occurred_at, const json& actor,
                           json body) {
    json e{{"conversation_id", conversation_.conversation_id},
           {"type", type},
           {"idempotency_key", fmt::format("{}:{:02}", conversation_.conversation_id, ++count_)},
           {"occurred_at", occurred_at},
           {"actor", actor},
           {"channel", "whatsapp"}};
    e.update(body);
    conversation_.events_json.push_back(e.dump());
    return *this;
  }

  DemoConversation Build() && { return std::move(conversation_); }

 private:
  DemoConversation conversation_;
  int count_ = 0;
};

json Text(std::string_view text) { return json{{"text", text}}; }

DemoConversation Anna() {
  const json anna = Actor("customer", "4915112345678", "Anna Berg");
  const json lena = Actor("agent", "agent-17", "Lena (support)");
  const json platform = Actor("platform", "whatsapp-cloud-api", "WhatsApp");
  ConversationBuilder c("demo-wa-anna",
                        "wrong stock figure deleted and corrected with an explanation; an edit "
                        "with a reason, a reaction, an internal note; a card number redacted");
  c.Add("message.sent", "2026-11-20T09:58:12Z", anna,
        {{"message_id", "wamid.DEMO-ANNA-01"},
         {"direction", "inbound"},
         {"content", Text("Hi! Is the Nordic wool sweater in size M in stock? I need it by "
                          "Saturday.")}});
  c.Add("message.sent", "2026-11-20T10:01:05Z", lena,
        {{"message_id", "wamid.DEMO-ANNA-02"},
         {"direction", "outbound"},
         {"reply_to", "wamid.DEMO-ANNA-01"},
         {"content", Text("Yes, we have 12 in size M and it ships today!")}});
  c.Add("message.status", "2026-11-20T10:01:07Z", platform,
        {{"message_id", "wamid.DEMO-ANNA-02"}, {"status", "delivered"}});
  c.Add("message.status", "2026-11-20T10:01:40Z", platform,
        {{"message_id", "wamid.DEMO-ANNA-02"}, {"status", "read"}});
  c.Add("message.deleted", "2026-11-20T10:03:30Z", lena,
        {{"message_id", "wamid.DEMO-ANNA-02"},
         {"scope", "everyone"},
         {"reason_code", "wrong_availability"},
         {"reason", "The stock figure came from a stale warehouse sync: size M is sold out."}});
  c.Add("message.sent", "2026-11-20T10:04:02Z", lena,
        {{"message_id", "wamid.DEMO-ANNA-03"},
         {"direction", "outbound"},
         {"reply_to", "wamid.DEMO-ANNA-01"},
         {"content", Text("Sorry, my mistake: size M is sold out. The next delivery arrives on "
                          "27 November and we can reserve one for you.")}});
  c.Add("message.corrected", "2026-11-20T10:04:10Z", lena,
        {{"message_id", "wamid.DEMO-ANNA-02"},
         {"replacement_message_id", "wamid.DEMO-ANNA-03"},
         {"reason_code", "wrong_availability"},
         {"explanation",
          "We told you size M was in stock. That was wrong: it is sold out "
          "until 27 November."}});
  c.Add("message.edited", "2026-11-20T10:05:15Z", lena,
        {{"message_id", "wamid.DEMO-ANNA-03"},
         {"content", Text("Sorry, my mistake: size M is sold out. The next delivery arrives on "
                          "27 November and we can reserve one for you, free of charge.")},
         {"reason", "added that the reservation is free"}});
  c.Add("message.reaction", "2026-11-20T10:06:02Z", anna,
        {{"message_id", "wamid.DEMO-ANNA-03"}, {"emoji", "\xF0\x9F\x91\x8D"}, {"action", "add"}});
  c.Add("message.sent", "2026-11-20T10:07:30Z", anna,
        {{"message_id", "wamid.DEMO-ANNA-04"},
         {"direction", "inbound"},
         {"content", Text("Yes please, reserve one! My card is 4111 1111 1111 1111, exp 12/28, "
                          "CVC 123")}});
  c.Add("message.redacted", "2026-11-20T10:08:05Z", lena,
        {{"message_id", "wamid.DEMO-ANNA-04"},
         {"reason", "card number sent by the customer by mistake (PCI DSS)"}});
  c.Add("message.sent", "2026-11-20T10:08:40Z", lena,
        {{"message_id", "wamid.DEMO-ANNA-05"},
         {"direction", "outbound"},
         {"content", Text("Thank you! Your sweater is reserved. Please never send card details "
                          "here: I removed your message. You will get a payment link by "
                          "e-mail.")}});
  c.Add("note.added", "2026-11-20T10:09:00Z", lena,
        {{"text",
          "Warehouse sync for size M lagged 40 minutes, so agents saw wrong stock. "
          "Ticket OPS-231. Card number redacted at 10:08."}});
  return std::move(c).Build();
}

DemoConversation Ben() {
  const json ben = Actor("customer", "4917098765432", "Ben Okafor");
  const json checkout = Actor("system", "shop-checkout", "Checkout");
  const json marco = Actor("agent", "agent-04", "Marco (marketing)");
  const json weiss = Actor("agent", "legal-02", "Dr. Weiss (legal)");
  const json platform = Actor("platform", "whatsapp-cloud-api", "WhatsApp");
  ConversationBuilder c("demo-wa-ben",
                        "consent opt-in; a promotion delivered and read, then deleted for "
                        "everyone without explanation; complaint, opt-out, legal hold");
  c.Add("consent.changed", "2026-11-19T18:22:00Z", checkout,
        {{"consent", "opt_in"},
         {"scope", "marketing"},
         {"source", "checkout checkbox, order ORD-1038"}});
  c.Add("message.sent", "2026-11-20T08:00:00Z", marco,
        {{"message_id", "wamid.DEMO-BEN-01"},
         {"direction", "outbound"},
         {"content", Text("Black Week preview: 40% off all winter coats until Sunday with code "
                          "BW40!")}});
  c.Add("message.status", "2026-11-20T08:00:01Z", platform,
        {{"message_id", "wamid.DEMO-BEN-01"}, {"status", "sent"}});
  c.Add("message.status", "2026-11-20T08:00:03Z", platform,
        {{"message_id", "wamid.DEMO-BEN-01"}, {"status", "delivered"}});
  c.Add("message.status", "2026-11-20T08:12:45Z", platform,
        {{"message_id", "wamid.DEMO-BEN-01"}, {"status", "read"}});
  // Deleted for everyone with no reason code and no reason: the case the analytics flag.
  c.Add("message.deleted", "2026-11-20T08:30:00Z", marco,
        {{"message_id", "wamid.DEMO-BEN-01"}, {"scope", "everyone"}});
  c.Add("message.sent", "2026-11-20T08:41:10Z", ben,
        {{"message_id", "wamid.DEMO-BEN-02"},
         {"direction", "inbound"},
         {"content", Text("Where did the 40% offer go? I read it and now it is gone. I want "
                          "that price.")}});
  c.Add("message.sent", "2026-11-20T08:43:00Z", ben,
        {{"message_id", "wamid.DEMO-BEN-03"}, {"direction", "inbound"}, {"content", Text("STOP")}});
  c.Add("consent.changed", "2026-11-20T08:43:01Z", checkout,
        {{"consent", "opt_out"}, {"scope", "marketing"}, {"source", "keyword STOP"}});
  c.Add("note.added", "2026-11-20T09:15:00Z", marco,
        {{"text",
          "BW40 went to the wrong segment and was deleted without a notice. The "
          "customer disputes it; escalated to legal."}});
  c.Add("legal_hold.changed", "2026-11-20T11:00:00Z", weiss,
        {{"hold", "placed"}, {"case_ref", "DISPUTE-2026-0117"}});
  return std::move(c).Build();
}

DemoConversation Carla() {
  const json bot = Actor("bot", "refund-bot", "Refund notices");
  const json platform = Actor("platform", "whatsapp-cloud-api", "WhatsApp");
  ConversationBuilder c("demo-wa-carla",
                        "an automated refund notice sent by a bot from a utility template");
  c.Add("message.sent", "2026-11-21T14:00:00Z", bot,
        {{"message_id", "wamid.DEMO-CARLA-01"},
         {"direction", "outbound"},
         {"content", Text("Hi Carla, your refund of 59.90 EUR for order ORD-1042 has been "
                          "issued. It reaches your account within 5 business days.")},
         {"template",
          {{"name", "refund_issued"},
           {"language", "en"},
           {"category", "utility"},
           {"parameters", {"Carla", "59.90 EUR", "ORD-1042"}}}}});
  c.Add("message.status", "2026-11-21T14:00:02Z", platform,
        {{"message_id", "wamid.DEMO-CARLA-01"}, {"status", "delivered"}});
  c.Add("message.status", "2026-11-21T14:20:31Z", platform,
        {{"message_id", "wamid.DEMO-CARLA-01"}, {"status", "read"}});
  return std::move(c).Build();
}

// Quotes a shell word only when it needs it, so printed commands can be pasted as they are.
std::string ShellWord(const std::string& s) {
  const bool plain = !s.empty() && s.find_first_not_of(
                                       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789-_./:=@+,") == std::string::npos;
  if (plain) return s;
  std::string quoted = "'";
  for (char ch : s) {
    if (ch == '\'') {
      quoted += "'\\''";
    } else {
      quoted += ch;
    }
  }
  return quoted + "'";
}

}  // namespace

std::vector<DemoConversation> DemoConversations() { return {Anna(), Ben(), Carla()}; }

Result<DemoCounts> AppendDemoConversations(Ledger& ledger) {
  DemoCounts counts;
  for (const DemoConversation& conversation : DemoConversations()) {
    std::vector<Event> events;
    for (const std::string& text : conversation.events_json) {
      Result<Event> event = ParseEventJson(text);
      // The demo is fixed data: a failure here is a bug in it or in the parser.
      if (!event.ok())
        return Status::InvalidArgument(event.status().reason(),
                                       "demo event of " + conversation.conversation_id +
                                           " does not parse: " + event.status().message());
      events.push_back(std::move(event).value());
    }
    // One conversation, one atomic append: it is there whole or not at all.
    Result<std::vector<AppendResult>> results = ledger.Append(std::move(events));
    if (!results.ok()) return results.status();
    for (const AppendResult& r : *results) (r.duplicate ? counts.duplicates : counts.appended) += 1;
    ++counts.conversations;
  }
  return counts;
}

int RunDemo(const DemoCommand& cmd, std::ostream& out) {
  Result<std::unique_ptr<Ledger>> opened = OpenLedger(cmd.data_dir, OpenMode::kReadWrite);
  if (!opened.ok()) {
    Log().error("cannot open ledger in '{}': {}", cmd.data_dir, opened.status().ToString());
    return ExitCodeFor(opened.status());
  }
  Ledger& ledger = **opened;

  const std::vector<DemoConversation> demo = DemoConversations();
  Result<DemoCounts> counts = AppendDemoConversations(ledger);
  if (!counts.ok()) {
    Log().error("appending the demo: {}", counts.status().ToString());
    return ExitCodeFor(counts.status());
  }
  const size_t appended = counts->appended, duplicates = counts->duplicates;
  Result<LedgerStats> stats = ledger.Stats();
  if (!stats.ok()) {
    Log().error("stats: {}", stats.status().ToString());
    return ExitCodeFor(stats.status());
  }

  const std::string prog = ShellWord(cmd.program);
  const std::string data = ShellWord(cmd.data_dir);
  out << "convledger demo: " << appended + duplicates << " events in " << demo.size()
      << " conversations, " << appended << " appended now, " << duplicates
      << " already there (fixed idempotency keys: running the demo again appends nothing).\n"
      << "Data directory: " << cmd.data_dir << " (the ledger now holds " << stats->last_global_seq
      << " events in " << stats->conversations << " conversations)\n\n";
  for (const DemoConversation& conversation : demo) {
    out << fmt::format("  {:<14} {:>2} events: {}\n", conversation.conversation_id,
                       conversation.events_json.size(), conversation.title);
  }
  out << "\nLook at it (events are JSON lines; add "
         "`| python3 -m json.tool --json-lines --no-ensure-ascii` to pretty-print):\n";
  for (const DemoConversation& conversation : demo) {
    out << "  " << prog << " events --data " << data << " --conversation "
        << conversation.conversation_id << "\n";
  }
  out << "  " << prog << " history --data " << data << " demo-wa-ben --pretty\n"
      << "  " << prog << " view --data " << data << " demo-wa-anna --pretty\n"
      << "  " << prog << " analytics --data " << data << " --pretty\n";
  out << "  " << prog << " events --data " << data << " --limit 5\n"
      << "  " << prog << " verify --data " << data << "\n"
      << "  " << prog << " stats --data " << data << "\n";
  out.flush();
  return kExitOk;
}

}  // namespace convledger::cli
