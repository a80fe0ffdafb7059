// Messenger Platform webhook body -> ledger events (see api/webhooks.h).
//
// Envelope: {object:"page", entry[{id: page id, time, messaging[{sender{id}, recipient{id},
// timestamp (integer ms), message | message_edit | reaction | delivery | read | ...}]}]}.
//
// Delivery and read arrive as watermarks ("everything the page sent up to this time"), not per
// message, so they are expanded here into one message.status per outbound message at or before
// the watermark that is not already at that tick, using the context's OutboundLookup. The
// idempotency key carries the watermark, so a redelivered body maps to the same keys even if the
// lookup has moved on (and then usually maps to nothing at all).
#include <algorithm>
#include <map>
#include <variant>

#include "api/webhooks.h"
#include "ledger/event_json.h"
#include "webhook_internal.h"

namespace convledger::api {
namespace {

using namespace webhook_detail;

constexpr char kObject[] = "page";

int64_t FbTimestamp(const json& parent, std::string_view key, const std::string& path) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) Fail(Join(path, key), "is required");
  if (!it->is_number_unsigned())
    Fail(Join(path, key), "must be a non-negative integer (ms), not " + std::string(it->type_name()));
  return ToMicros(it->get<uint64_t>(), 1000, Join(path, key));
}

// Messenger names reactions; the emoji is usually given too. The name is the fallback.
std::string ReactionEmoji(std::string_view name) {
  static const std::map<std::string_view, std::string_view> kEmoji = {
      {"love", "\xE2\x9D\xA4\xEF\xB8\x8F"}, {"like", "\xF0\x9F\x91\x8D"},
      {"dislike", "\xF0\x9F\x91\x8E"},      {"smile", "\xF0\x9F\x98\x86"},
      {"angry", "\xF0\x9F\x98\xA0"},        {"sad", "\xF0\x9F\x98\xA2"},
      {"wow", "\xF0\x9F\x98\xAE"}};
  auto it = kEmoji.find(name);
  return it == kEmoji.end() ? std::string(name) : std::string(it->second);
}

// A delivery or read watermark, expanded once the account's tenant is known.
struct Watermark {
  std::string conversation_id;
  std::string subject;  // the customer's PSID
  Delivery status = Delivery::kUnknown;
  int64_t watermark_us = 0;
  uint64_t watermark_ms = 0;
  int64_t occurred_at_us = 0;
  std::vector<std::string> mids;  // delivery.mids: delivered whatever the lookup says
};
using Item = std::variant<Event, Watermark>;

Content MessageContent(const json& msg, const std::string& path, std::string* kind) {
  Content c;
  c.text = OptString(msg, "text", path, kMaxTextBytes);
  *kind = c.text.empty() ? "" : "text";
  if (const json* attachments = OptArray(msg, "attachments", path)) {
    for (size_t i = 0; i < attachments->size(); ++i) {
      const std::string apath = Index(Join(path, "attachments"), i);
      const json& a = (*attachments)[i];
      if (!a.is_object()) Fail(apath, "must be an object");
      const std::string type = ReqString(a, "type", apath, kMaxIdBytes);
      if (kind->empty() || *kind == "text") *kind = type;
      const json* payload = OptObject(a, "payload", apath);
      const std::string ppath = Join(apath, "payload");
      if (type == "image" || type == "video" || type == "audio" || type == "file") {
        Media m;
        // Messenger gives no mime type, only the kind of attachment.
        m.mime = type == "file" ? "application/octet-stream" : type + "/*";
        if (payload) m.reference = OptString(*payload, "url", ppath, kMaxShortTextBytes);
        c.media.push_back(std::move(m));
      } else if (type == "location" && payload) {
        const json* coords = OptObject(*payload, "coordinates", ppath);
        if (coords) {
          const std::string cpath = Join(ppath, "coordinates");
          const std::string line = "\xF0\x9F\x93\x8D (" + ReqNumberText(*coords, "lat", cpath) +
                                   ", " + ReqNumberText(*coords, "long", cpath) + ")";
          c.text += (c.text.empty() ? "" : "\n") + line;
        }
      } else {
        c.text += (c.text.empty() ? "" : "\n") + std::string("[") + type + " attachment]";
      }
    }
  }
  if (kind->empty()) *kind = "unsupported";
  if (c.text.empty() && c.media.empty()) c.text = "[" + *kind + " message]";
  return c;
}

// Validates one messaging item and adds what it maps to. Unknown kinds are noted, not errors.
void MapItem(const json& item, const std::string& path, const std::string& page_id,
             const Digest& evidence, std::vector<Item>* out, std::vector<std::string>* ignored) {
  if (!item.is_object()) Fail(path, "must be an object, not " + std::string(item.type_name()));
  const std::string sender =
      ReqString(ReqObject(item, "sender", path), "id", Join(path, "sender"), kMaxIdBytes);
  ReqString(ReqObject(item, "recipient", path), "id", Join(path, "recipient"), kMaxIdBytes);
  const int64_t at = FbTimestamp(item, "timestamp", path);
  const std::string conv = "fb:" + page_id + ":" + sender;
  const Actor customer{ActorKind::kCustomer, sender, {}};
  auto make = [&](EventType t, std::string key) {
    // The tenant is stamped once the page is known to belong to one.
    Event e = NewEvent(t, conv, "", Channel::kMessenger, customer, at, std::move(key), evidence);
    // The data subject is the customer's page-scoped id (PSID): erasure works by it.
    e.subject = sender;
    return e;
  };

  if (const json* msg = OptObject(item, "message", path)) {
    const std::string mpath = Join(path, "message");
    const std::string mid = ReqString(*msg, "mid", mpath, kMaxIdBytes);
    if (auto echo = msg->find("is_echo"); echo != msg->end() && echo->is_boolean() && *echo) {
      // What the page itself sent: recorded by our send path, not as an observation here (a
      // second send of the same id would be refused by the ledger).
      ignored->push_back(mpath + ": echo of page message " + mid);
      return;
    }
    if (sender == page_id) {
      ignored->push_back(mpath + ": sent by the page itself (" + mid + ")");
      return;
    }
    Event e = make(EventType::kMessageSent, "fb:msg:" + mid);
    e.message_id = mid;
    e.direction = Direction::kInbound;
    e.content = MessageContent(*msg, mpath, &e.kind);
    if (const json* reply = OptObject(*msg, "reply_to", mpath))
      e.reply_to = OptString(*reply, "mid", Join(mpath, "reply_to"), kMaxIdBytes);
    out->push_back(std::move(e));
    return;
  }
  if (const json* edit = OptObject(item, "message_edit", path)) {
    const std::string epath = Join(path, "message_edit");
    const std::string mid = ReqString(*edit, "mid", epath, kMaxIdBytes);
    std::string num = "0";
    if (auto it = edit->find("num_edit"); it != edit->end() && !it->is_null()) {
      if (!it->is_number_unsigned()) Fail(Join(epath, "num_edit"), "must be a non-negative integer");
      num = std::to_string(it->get<uint64_t>());
    }
    Event e = make(EventType::kMessageEdited, "fb:edit:" + mid + ":" + num);
    e.message_id = mid;
    e.content = Content{ReqString(*edit, "text", epath, kMaxTextBytes), {}};
    out->push_back(std::move(e));
    return;
  }
  if (const json* r = OptObject(item, "reaction", path)) {
    const std::string rpath = Join(path, "reaction");
    const std::string mid = ReqString(*r, "mid", rpath, kMaxIdBytes);
    const std::string action = ReqString(*r, "action", rpath, kMaxIdBytes);
    if (action != "react" && action != "unreact")
      Fail(Join(rpath, "action"), "must be react or unreact, not \"" + action + "\"");
    std::string emoji = OptString(*r, "emoji", rpath, kMaxIdBytes);
    const std::string name = OptString(*r, "reaction", rpath, kMaxIdBytes);
    Event e = make(EventType::kMessageReaction,
                   "fb:reaction:" + mid + ":" + sender + ":" + action + ":" +
                       std::to_string(at / 1000));
    e.message_id = mid;
    if (action == "react") {
      if (emoji.empty()) emoji = ReactionEmoji(name);
      if (emoji.empty()) Fail(rpath, "a react needs an emoji or a reaction name");
      e.action = ReactionAction::kAdd;
    } else {
      e.action = ReactionAction::kRemove;
    }
    e.emoji = emoji;
    out->push_back(std::move(e));
    return;
  }
  for (const char* key : {"delivery", "read"}) {
    const json* w = OptObject(item, key, path);
    if (!w) continue;
    const std::string wpath = Join(path, key);
    Watermark wm;
    wm.conversation_id = conv;
    wm.subject = sender;
    wm.status = std::string_view(key) == "read" ? Delivery::kRead : Delivery::kDelivered;
    wm.watermark_us = FbTimestamp(*w, "watermark", wpath);
    wm.watermark_ms = static_cast<uint64_t>(wm.watermark_us / 1000);
    wm.occurred_at_us = at;
    if (const json* mids = OptArray(*w, "mids", wpath)) {
      for (size_t i = 0; i < mids->size(); ++i) {
        const json& m = (*mids)[i];
        if (!m.is_string() || m.get_ref<const std::string&>().empty() ||
            m.get_ref<const std::string&>().size() > kMaxIdBytes)
          Fail(Index(Join(wpath, "mids"), i), "must be a message id string");
        wm.mids.push_back(m.get<std::string>());
      }
    }
    out->push_back(std::move(wm));
    return;
  }
  std::string kinds;
  for (auto it = item.begin(); it != item.end(); ++it)
    if (it.key() != "sender" && it.key() != "recipient" && it.key() != "timestamp")
      kinds += (kinds.empty() ? "" : ",") + it.key();
  ignored->push_back(path + ": messaging item (" + kinds + ") is not mapped");
}

// Expands watermarks against the outbound messages the ledger knows, plus the ticks this body
// has already produced (a delivery then a read in one body).
class WatermarkExpander {
 public:
  explicit WatermarkExpander(const WebhookContext& ctx) : ctx_(ctx) {}

  Status Expand(const Watermark& wm, const std::string& tenant, std::vector<Event>* out) {
    auto loaded = Load(wm.conversation_id);
    if (!loaded.ok()) return loaded.status();
    std::map<std::string, OutboundMessage>& known = *loaded.value();
    for (const std::string& mid : wm.mids)
      if (!known.count(mid)) known[mid] = OutboundMessage{mid, wm.watermark_us, Delivery::kUnknown};
    std::vector<OutboundMessage*> due;
    for (auto& [mid, m] : known)
      if ((m.occurred_at_us <= wm.watermark_us ||
           std::find(wm.mids.begin(), wm.mids.end(), mid) != wm.mids.end()) &&
          DeliveryRank(m.best_status) < DeliveryRank(wm.status))
        due.push_back(&m);
    // Platform order, then id, so the same inputs always give the same event order.
    std::sort(due.begin(), due.end(), [](const OutboundMessage* a, const OutboundMessage* b) {
      return std::tie(a->occurred_at_us, a->message_id) < std::tie(b->occurred_at_us, b->message_id);
    });
    const std::string status(ToString(wm.status));
    for (OutboundMessage* m : due) {
      Event e = NewEvent(EventType::kMessageStatus, wm.conversation_id, tenant,
                         Channel::kMessenger,
                         Actor{ActorKind::kPlatform, kMessengerPlatformActor, "Messenger"},
                         wm.occurred_at_us,
                         "fb:status:" + m->message_id + ":" + status + ":" +
                             std::to_string(wm.watermark_ms),
                         ctx_.evidence);
      e.message_id = m->message_id;
      e.status = wm.status;
      e.subject = wm.subject;
      out->push_back(std::move(e));
      m->best_status = wm.status;
    }
    return Status::OK();
  }

 private:
  Result<std::map<std::string, OutboundMessage>*> Load(const std::string& conv) {
    auto it = cache_.find(conv);
    if (it != cache_.end()) return &it->second;
    std::map<std::string, OutboundMessage> known;
    if (ctx_.messenger_outbound) {
      auto r = ctx_.messenger_outbound(conv);
      if (!r.ok()) return r.status();
      for (OutboundMessage& m : r.value()) known[m.message_id] = std::move(m);
    }
    return &cache_.emplace(conv, std::move(known)).first->second;
  }

  const WebhookContext& ctx_;
  std::map<std::string, std::map<std::string, OutboundMessage>> cache_;
};

}  // namespace

WebhookResult MapMessenger(std::string_view raw_body, const WebhookContext& ctx) {
  WebhookResult result;
  std::optional<json> body = ParseBody(raw_body, &result);
  if (!body) return result;
  // Pass 1 validates the whole body (a schema break anywhere rejects all of it, whatever our
  // configuration); pass 2 resolves tenants and expands watermarks.
  struct EntryItems {
    std::string path, page_id;
    std::vector<Item> items;
  };
  std::vector<EntryItems> entries_items;
  try {
    if (!body->is_object()) Fail("", "the body must be a JSON object");
    const std::string object = ReqString(*body, "object", "", kMaxIdBytes);
    if (object != kObject) {
      result.ignored.push_back("object \"" + object + "\" is not " + kObject);
      return result;
    }
    const json& entries = ReqArray(*body, "entry", "");
    for (size_t i = 0; i < entries.size(); ++i) {
      EntryItems ei;
      ei.path = Index("entry", i);
      const json& entry = entries[i];
      if (!entry.is_object()) Fail(ei.path, "must be an object");
      ei.page_id = ReqString(entry, "id", ei.path, kMaxIdBytes);
      const json* messaging = OptArray(entry, "messaging", ei.path);
      if (!messaging) {
        result.ignored.push_back(ei.path + ": no messaging array (e.g. page feed changes)");
        continue;
      }
      for (size_t k = 0; k < messaging->size(); ++k)
        MapItem((*messaging)[k], Index(Join(ei.path, "messaging"), k), ei.page_id, ctx.evidence,
                &ei.items, &result.ignored);
      entries_items.push_back(std::move(ei));
    }
  } catch (const SchemaError& e) {
    result.http_status = 422;
    result.code = "webhook_schema";
    result.message = e.what();
    result.ignored.clear();
    return result;
  }
  // One expander for the whole body: two entries of one page share what they already produced.
  WatermarkExpander expander(ctx);
  for (EntryItems& ei : entries_items) {
    std::optional<std::string> tenant;
    if (ctx.messenger_tenant) tenant = ctx.messenger_tenant(ei.page_id);
    if (!tenant) {
      result.ignored.push_back(ei.path + ": page " + ei.page_id + " is not declared by any tenant");
      continue;
    }
    for (Item& item : ei.items) {
      if (Event* e = std::get_if<Event>(&item)) {
        e->tenant = *tenant;
        result.events.push_back(std::move(*e));
        continue;
      }
      if (Status st = expander.Expand(std::get<Watermark>(item), *tenant, &result.events); !st.ok()) {
        result.http_status = 500;
        result.code = "outbound_lookup_failed";
        result.message = st.ToString();
        result.events.clear();
        return result;
      }
    }
  }
  return result;
}

}  // namespace convledger::api
