// The outbound side the webhooks refer to: seed sends recorded through the send path, and the
// ledger-backed lookup Messenger watermarks are expanded against.
#include <nlohmann/json.hpp>

#include "api/webhooks.h"
#include "ledger/event_json.h"
#include "webhook_internal.h"

namespace convledger::api {

namespace {

using namespace webhook_detail;

// The agent that stands for the send path: seed sends were made by the business's systems
// through the Graph API, not by a person we can name.
const Actor kSendPath{ActorKind::kAgent, "send-api", {}};

Event SeedWhatsApp(const json& o, const std::string& path, const WebhookContext& ctx) {
  const std::string phone = ReqString(o, "phone_number_id", path, kMaxIdBytes);
  const json& resp = ReqObject(o, "send_response", path);
  const std::string rpath = Join(path, "send_response");
  // The customer's wa_id as WhatsApp normalised it (the conversation key), else "to".
  std::string wa_id;
  if (const json* contacts = OptArray(resp, "contacts", rpath); contacts && !contacts->empty())
    wa_id = OptString((*contacts)[0], "wa_id", Index(Join(rpath, "contacts"), 0), kMaxIdBytes);
  if (wa_id.empty()) wa_id = ReqString(o, "to", path, kMaxIdBytes);
  const json& messages = ReqArray(resp, "messages", rpath);
  if (messages.empty()) Fail(Join(rpath, "messages"), "needs the sent message's id");
  const std::string id = ReqString(messages[0], "id", Index(Join(rpath, "messages"), 0), kMaxIdBytes);
  auto secs = o.find("sent_at_unix");
  if (secs == o.end() || !secs->is_number_unsigned())
    Fail(Join(path, "sent_at_unix"), "must be a non-negative integer");
  std::optional<std::string> tenant;
  if (ctx.whatsapp_tenant) tenant = ctx.whatsapp_tenant(phone);
  if (!tenant) Fail(Join(path, "phone_number_id"), phone + " is not declared by any tenant");

  Event e = NewEvent(EventType::kMessageSent, "wa:" + phone + ":" + wa_id, *tenant,
                     Channel::kWhatsApp, kSendPath,
                     ToMicros(secs->get<uint64_t>(), 1000000, Join(path, "sent_at_unix")),
                     "wa:msg:" + id, ctx.evidence);
  e.message_id = id;
  e.direction = Direction::kOutbound;
  e.subject = wa_id;  // the customer, as the webhook mapping names them
  e.kind = ReqString(o, "type", path, kMaxIdBytes);
  const json& content = ReqObject(o, "content", path);
  const std::string cpath = Join(path, "content");
  if (e.kind == "template") {
    Template t;
    t.name = ReqString(content, "name", cpath, kMaxIdBytes);
    if (const json* lang = OptObject(content, "language", cpath))
      t.language = OptString(*lang, "code", Join(cpath, "language"), kMaxIdBytes);
    e.template_ = std::move(t);
  } else if (e.kind == "interactive") {
    const json& b = ReqObject(content, "body", cpath);
    e.content = Content{ReqString(b, "text", Join(cpath, "body"), kMaxTextBytes), {}};
  } else {
    e.content = Content{ReqString(content, "body", cpath, kMaxTextBytes), {}};
  }
  return e;
}

Event SeedMessenger(const json& o, const std::string& path, const WebhookContext& ctx) {
  const std::string page = ReqString(o, "page_id", path, kMaxIdBytes);
  const std::string psid = ReqString(o, "recipient_psid", path, kMaxIdBytes);
  const json& resp = ReqObject(o, "send_response", path);
  const std::string mid = ReqString(resp, "message_id", Join(path, "send_response"), kMaxIdBytes);
  auto ms = o.find("sent_at_ms");
  if (ms == o.end() || !ms->is_number_unsigned())
    Fail(Join(path, "sent_at_ms"), "must be a non-negative integer");
  std::optional<std::string> tenant;
  if (ctx.messenger_tenant) tenant = ctx.messenger_tenant(page);
  if (!tenant) Fail(Join(path, "page_id"), page + " is not declared by any tenant");
  Event e = NewEvent(EventType::kMessageSent, "fb:" + page + ":" + psid, *tenant,
                     Channel::kMessenger, kSendPath,
                     ToMicros(ms->get<uint64_t>(), 1000, Join(path, "sent_at_ms")),
                     "fb:msg:" + mid, ctx.evidence);
  e.message_id = mid;
  e.direction = Direction::kOutbound;
  e.subject = psid;  // the customer, as the webhook mapping names them
  e.kind = "text";
  const json& content = ReqObject(o, "content", path);
  e.content = Content{ReqString(content, "text", Join(path, "content"), kMaxTextBytes), {}};
  return e;
}

}  // namespace

Result<std::vector<Event>> SeedOutboundEvents(std::string_view seed_json,
                                              const WebhookContext& ctx) {
  WebhookResult parse;
  std::optional<json> doc = ParseBody(seed_json, &parse);
  if (!doc) return Status::InvalidArgument("invalid_seed", parse.code + ": " + parse.message);
  std::vector<Event> out;
  try {
    if (!doc->is_object()) Fail("", "the seed must be a JSON object");
    const json& outbound = ReqArray(*doc, "outbound", "");
    for (size_t i = 0; i < outbound.size(); ++i) {
      const std::string path = Index("outbound", i);
      const json& o = outbound[i];
      if (!o.is_object()) Fail(path, "must be an object");
      const std::string channel = ReqString(o, "channel", path, kMaxIdBytes);
      if (channel == "whatsapp") out.push_back(SeedWhatsApp(o, path, ctx));
      else if (channel == "messenger") out.push_back(SeedMessenger(o, path, ctx));
      else Fail(Join(path, "channel"), "must be whatsapp or messenger, not \"" + channel + "\"");
    }
  } catch (const SchemaError& e) {
    return Status::InvalidArgument("invalid_seed", e.what());
  }
  return out;
}

OutboundLookup LedgerOutboundLookup(Ledger& ledger) {
  return [&ledger](std::string_view conversation_id) -> Result<std::vector<OutboundMessage>> {
    ReadOptions envelope_only;
    envelope_only.open_content = false;  // directions and statuses only: nothing to decrypt
    auto events = ledger.ReadConversation(conversation_id, 0, envelope_only);
    if (!events.ok()) {
      if (events.status().IsNotFound()) return std::vector<OutboundMessage>{};
      return events.status();
    }
    // Statuses may be recorded before their send (observations out of order): fold both.
    std::map<std::string, Delivery> best;
    std::vector<OutboundMessage> out;
    for (const Event& e : events.value()) {
      if (e.type == EventType::kMessageSent && e.direction == Direction::kOutbound)
        out.push_back(OutboundMessage{e.message_id, e.occurred_at_us.value_or(e.recorded_at_us),
                                      Delivery::kUnknown});
      else if (e.type == EventType::kMessageStatus &&
               DeliveryRank(e.status) > DeliveryRank(best[e.message_id]))
        best[e.message_id] = e.status;
    }
    for (OutboundMessage& m : out)
      if (auto it = best.find(m.message_id); it != best.end()) m.best_status = it->second;
    return out;
  };
}

}  // namespace convledger::api
