// WhatsApp Business Cloud API webhook body -> ledger events (see api/webhooks.h).
//
// Envelope: {object:"whatsapp_business_account", entry[{id, changes[{field, value{
//   messaging_product, metadata{display_phone_number, phone_number_id}, contacts[{profile{name},
//   wa_id}], messages[] | statuses[] | errors[]}}]}]}.
//
// Everything the customer does is an observation (actor customer): the ledger records it even
// out of order (a reaction or an edit before its original), so no lookup is needed here.
// Statuses are observations by the platform.
#include <charconv>
#include <map>

#include "api/webhooks.h"
#include "ledger/event_json.h"
#include "webhook_internal.h"

namespace convledger::api {
namespace {

using namespace webhook_detail;

constexpr char kObject[] = "whatsapp_business_account";

// WhatsApp sends unix seconds as a string of digits; anything else breaks the schema.
int64_t WaTimestamp(const json& parent, const std::string& path) {
  const std::string s = ReqString(parent, "timestamp", path, 20);
  uint64_t secs = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), secs);
  if (ec != std::errc() || end != s.data() + s.size())
    Fail(Join(path, "timestamp"), "must be a string of digits (unix seconds), not \"" + s + "\"");
  return ToMicros(secs, 1000000, Join(path, "timestamp"));
}

std::string_view DefaultMime(std::string_view type) {
  if (type == "image") return "image/jpeg";
  if (type == "sticker") return "image/webp";
  if (type == "audio") return "audio/ogg";
  if (type == "video") return "video/mp4";
  return "application/octet-stream";
}

// The content of a message object of `type` (a plain message, or the `message` inside an edit).
// Reaction, edit and revoke are not content: the caller handles them before this.
Content MessageContent(const json& msg, const std::string& type, const std::string& path) {
  Content c;
  if (type == "text") {
    const json& text = ReqObject(msg, "text", path);
    c.text = ReqString(text, "body", Join(path, "text"), kMaxTextBytes);
  } else if (type == "image" || type == "video" || type == "audio" || type == "sticker" ||
             type == "document") {
    const std::string mpath = Join(path, type);
    const json& m = ReqObject(msg, type, path);
    Media media;
    media.reference = ReqString(m, "id", mpath, kMaxShortTextBytes);
    media.mime = OptString(m, "mime_type", mpath, kMaxIdBytes);
    if (media.mime.empty()) media.mime = std::string(DefaultMime(type));
    media.sha256 = OptString(m, "sha256", mpath, kMaxIdBytes);
    media.caption = OptString(m, "caption", mpath, kMaxTextBytes);
    media.filename = OptString(m, "filename", mpath, kMaxShortTextBytes);
    c.media.push_back(std::move(media));
  } else if (type == "location") {
    const std::string lpath = Join(path, "location");
    const json& loc = ReqObject(msg, "location", path);
    const std::string lat = ReqNumberText(loc, "latitude", lpath);
    const std::string lon = ReqNumberText(loc, "longitude", lpath);
    const std::string name = OptString(loc, "name", lpath, kMaxShortTextBytes);
    const std::string address = OptString(loc, "address", lpath, kMaxShortTextBytes);
    // One line a person can read in any view; the kind says it was a location.
    std::string place = name;
    if (!address.empty()) place += (place.empty() ? "" : ", ") + address;
    c.text = "\xF0\x9F\x93\x8D " + (place.empty() ? "" : place + " ") + "(" + lat + ", " + lon + ")";
  } else if (type == "interactive") {
    const std::string ipath = Join(path, "interactive");
    const json& in = ReqObject(msg, "interactive", path);
    const std::string itype = ReqString(in, "type", ipath, kMaxIdBytes);
    if (itype == "button_reply" || itype == "list_reply") {
      const json& reply = ReqObject(in, itype, ipath);
      c.text = ReqString(reply, "title", Join(ipath, itype), kMaxTextBytes);
    } else if (itype == "nfm_reply") {
      const json& reply = ReqObject(in, itype, ipath);
      c.text = OptString(reply, "body", Join(ipath, itype), kMaxTextBytes);
      if (c.text.empty())
        c.text = OptString(reply, "response_json", Join(ipath, itype), kMaxTextBytes);
    }
    if (c.text.empty()) c.text = "[interactive reply: " + itype + "]";
  } else if (type == "button") {
    const std::string bpath = Join(path, "button");
    const json& b = ReqObject(msg, "button", path);
    c.text = OptString(b, "text", bpath, kMaxTextBytes);
    if (c.text.empty()) c.text = ReqString(b, "payload", bpath, kMaxTextBytes);
  } else if (type == "unsupported") {
    // Kept as an event, not dropped: the placeholder names what the customer tried to send.
    std::string what;
    if (const json* u = OptObject(msg, "unsupported", path))
      what = OptString(*u, "type", Join(path, "unsupported"), kMaxIdBytes);
    c.text = what.empty() ? "[unsupported message]" : "[unsupported message: " + what + "]";
  } else if (type == "system") {
    std::string body;
    if (const json* s = OptObject(msg, "system", path))
      body = OptString(*s, "body", Join(path, "system"), kMaxTextBytes);
    c.text = body.empty() ? "[system message]" : body;
  } else {
    // contacts, order, and types Meta adds later: kept with their kind and a placeholder.
    c.text = "[" + type + " message]";
  }
  return c;
}

struct Account {
  std::string phone_number_id;
  std::string tenant;
  std::map<std::string, std::string> names;  // wa_id -> profile name
};

void MapMessage(const json& msg, const std::string& path, const Account& acct,
                const WebhookContext& ctx, std::vector<Event>* out) {
  if (!msg.is_object()) Fail(path, "must be an object, not " + std::string(msg.type_name()));
  const std::string from = ReqString(msg, "from", path, kMaxIdBytes);
  const std::string id = ReqString(msg, "id", path, kMaxIdBytes);
  const int64_t at = WaTimestamp(msg, path);
  const std::string type = ReqString(msg, "type", path, kMaxIdBytes);
  const std::string conv = "wa:" + acct.phone_number_id + ":" + from;
  Actor customer{ActorKind::kCustomer, from, {}};
  if (auto it = acct.names.find(from); it != acct.names.end()) customer.display = it->second;
  auto make = [&](EventType t, std::string key) {
    Event e = NewEvent(t, conv, acct.tenant, Channel::kWhatsApp, customer, at, std::move(key),
                       ctx.evidence);
    // The data subject is the customer's WhatsApp id, on every event (the same on every
    // redelivery, so redeliveries stay duplicates): erasure works by it.
    e.subject = from;
    return e;
  };

  if (type == "reaction") {
    const std::string rpath = Join(path, "reaction");
    const json& r = ReqObject(msg, "reaction", path);
    Event e = make(EventType::kMessageReaction, "wa:reaction:" + id);
    e.message_id = ReqString(r, "message_id", rpath, kMaxIdBytes);
    e.emoji = OptString(r, "emoji", rpath, kMaxIdBytes);
    // An empty or missing emoji is how WhatsApp says the reaction was removed.
    e.action = e.emoji.empty() ? ReactionAction::kRemove : ReactionAction::kAdd;
    out->push_back(std::move(e));
    return;
  }
  if (type == "edit") {
    const std::string epath = Join(path, "edit");
    const json& edit = ReqObject(msg, "edit", path);
    Event e = make(EventType::kMessageEdited, "wa:edit:" + id);
    e.message_id = ReqString(edit, "original_message_id", epath, kMaxIdBytes);
    const json& inner = ReqObject(edit, "message", epath);
    const std::string ipath = Join(epath, "message");
    const std::string itype = ReqString(inner, "type", ipath, kMaxIdBytes);
    e.content = MessageContent(inner, itype, ipath);
    out->push_back(std::move(e));
    return;
  }
  if (type == "revoke") {
    const json& revoke = ReqObject(msg, "revoke", path);
    Event e = make(EventType::kMessageDeleted, "wa:revoke:" + id);
    e.message_id = ReqString(revoke, "original_message_id", Join(path, "revoke"), kMaxIdBytes);
    e.scope = DeleteScope::kEveryone;
    // The customer deleted their own message: say so, so no view mistakes it for a business
    // deletion that still owes an explanation.
    e.reason_code = "customer_revoke";
    e.reason = "revoked by the customer on WhatsApp";
    out->push_back(std::move(e));
    return;
  }
  Event e = make(EventType::kMessageSent, "wa:msg:" + id);
  e.message_id = id;
  e.direction = Direction::kInbound;
  e.kind = type;
  e.content = MessageContent(msg, type, path);
  if (const json* context = OptObject(msg, "context", path))
    e.reply_to = OptString(*context, "id", Join(path, "context"), kMaxIdBytes);
  out->push_back(std::move(e));
}

void MapStatus(const json& st, const std::string& path, const Account& acct,
               const WebhookContext& ctx, WebhookResult* result) {
  if (!st.is_object()) Fail(path, "must be an object, not " + std::string(st.type_name()));
  const std::string id = ReqString(st, "id", path, kMaxIdBytes);
  const std::string status = ReqString(st, "status", path, kMaxIdBytes);
  const int64_t at = WaTimestamp(st, path);
  const std::string recipient = ReqString(st, "recipient_id", path, kMaxIdBytes);
  const std::string ts = ReqString(st, "timestamp", path, 20);
  const json* errors = OptArray(st, "errors", path);
  auto delivery = ParseDelivery(status);
  if (!delivery) {
    // e.g. "deleted" or "warning": not a tick the ledger models; acknowledged, noted.
    result->ignored.push_back(path + ": status \"" + status + "\" of " + id + " is not modelled");
    return;
  }
  Event e = NewEvent(EventType::kMessageStatus, "wa:" + acct.phone_number_id + ":" + recipient,
                     acct.tenant, Channel::kWhatsApp,
                     Actor{ActorKind::kPlatform, kWhatsAppPlatformActor, "WhatsApp"}, at,
                     "wa:status:" + id + ":" + status + ":" + ts, ctx.evidence);
  e.message_id = id;
  e.status = *delivery;
  // The recipient is the customer: a status may be the first event of a conversation (a
  // business-initiated message recorded elsewhere), and it must fix the same subject as the
  // customer's messages will name.
  e.subject = recipient;
  if (errors && !errors->empty()) {
    const json& err = (*errors)[0];
    const std::string epath = Index(Join(path, "errors"), 0);
    if (!err.is_object()) Fail(epath, "must be an object");
    // Meta sends the code as a number (131047); keep its decimal text.
    if (auto it = err.find("code"); it != err.end() && !it->is_null()) {
      if (it->is_number_integer()) e.error_code = std::to_string(it->get<int64_t>());
      else if (it->is_string()) e.error_code = OptString(err, "code", epath, kMaxIdBytes);
      else Fail(Join(epath, "code"), "must be a number");
    }
    e.error_title = OptString(err, "title", epath, kMaxShortTextBytes);
  }
  result->events.push_back(std::move(e));
}

void MapValue(const json& value, const std::string& path, const WebhookContext& ctx,
              WebhookResult* result) {
  const json& metadata = ReqObject(value, "metadata", path);
  Account acct;
  acct.phone_number_id = ReqString(metadata, "phone_number_id", Join(path, "metadata"), kMaxIdBytes);
  if (const json* contacts = OptArray(value, "contacts", path)) {
    for (size_t i = 0; i < contacts->size(); ++i) {
      const std::string cpath = Index(Join(path, "contacts"), i);
      const json& c = (*contacts)[i];
      if (!c.is_object()) Fail(cpath, "must be an object");
      const std::string wa_id = ReqString(c, "wa_id", cpath, kMaxIdBytes);
      if (const json* profile = OptObject(c, "profile", cpath))
        acct.names[wa_id] = OptString(*profile, "name", Join(cpath, "profile"), kMaxShortTextBytes);
    }
  }
  const json* messages = OptArray(value, "messages", path);
  const json* statuses = OptArray(value, "statuses", path);
  const json* errors = OptArray(value, "errors", path);
  // Validate the whole value before deciding the account is unknown: a broken body is 422
  // whoever it is for, so the answer does not depend on our configuration.
  std::vector<Event> events;
  WebhookResult scratch;
  if (messages)
    for (size_t i = 0; i < messages->size(); ++i)
      MapMessage((*messages)[i], Index(Join(path, "messages"), i), acct, ctx, &events);
  if (statuses)
    for (size_t i = 0; i < statuses->size(); ++i)
      MapStatus((*statuses)[i], Index(Join(path, "statuses"), i), acct, ctx, &scratch);
  if (errors && !errors->empty())
    result->ignored.push_back(path + ".errors: " + errors->dump(-1, ' ', false,
                                                                json::error_handler_t::replace));
  std::optional<std::string> tenant;
  if (ctx.whatsapp_tenant) tenant = ctx.whatsapp_tenant(acct.phone_number_id);
  if (!tenant) {
    result->ignored.push_back(path + ": phone_number_id " + acct.phone_number_id +
                              " is not declared by any tenant");
    return;
  }
  // Events are built after the walk in document order: messages first, then statuses, as they
  // appear in the value. Stamp the tenant now that it is known.
  for (Event& e : events) e.tenant = *tenant;
  for (Event& e : scratch.events) e.tenant = *tenant;
  for (Event& e : events) result->events.push_back(std::move(e));
  for (Event& e : scratch.events) result->events.push_back(std::move(e));
  for (std::string& note : scratch.ignored) result->ignored.push_back(std::move(note));
}

}  // namespace

WebhookResult MapWhatsApp(std::string_view raw_body, const WebhookContext& ctx) {
  WebhookResult result;
  std::optional<json> body = ParseBody(raw_body, &result);
  if (!body) return result;
  try {
    if (!body->is_object()) Fail("", "the body must be a JSON object");
    const std::string object = ReqString(*body, "object", "", kMaxIdBytes);
    if (object != kObject) {
      result.ignored.push_back("object \"" + object + "\" is not " + kObject);
      return result;
    }
    const json& entries = ReqArray(*body, "entry", "");
    for (size_t i = 0; i < entries.size(); ++i) {
      const std::string epath = Index("entry", i);
      const json& entry = entries[i];
      if (!entry.is_object()) Fail(epath, "must be an object");
      const json& changes = ReqArray(entry, "changes", epath);
      for (size_t k = 0; k < changes.size(); ++k) {
        const std::string cpath = Index(Join(epath, "changes"), k);
        const json& change = changes[k];
        if (!change.is_object()) Fail(cpath, "must be an object");
        const std::string field = ReqString(change, "field", cpath, kMaxIdBytes);
        if (field != "messages") {
          result.ignored.push_back(cpath + ": field \"" + field + "\" is not messages");
          continue;
        }
        MapValue(ReqObject(change, "value", cpath), Join(cpath, "value"), ctx, &result);
      }
    }
  } catch (const SchemaError& e) {
    result.http_status = 422;
    result.code = "webhook_schema";
    result.message = e.what();
    result.events.clear();
    return result;
  }
  return result;
}

}  // namespace convledger::api
