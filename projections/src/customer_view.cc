// customer_view: exactly what the customer's app shows, folded from the log on its own (it never
// reads the history state). Layout, JSON shapes and the rules are written up in
// docs/customer_view.md; the short version:
//
//   'c' || ConvKey(conv) || 'h'                         header {"channel"}
//   'c' || ConvKey(conv) || 'r' || message_id           working record of one message (never
//                                                       rendered as is)
//   'c' || ConvKey(conv) || 'm' || be64(sent_at ^ 2^63) || be64(conversation_seq of the send)
//                                                       the message's rendered JSON fragment
//
// (ConvKey starts with a 0x00 length byte for short ids, and keys starting with 0x00 belong to
// the ledger, hence the 'c'.) Every event touches at most one record, one fragment and the
// header, and rendering concatenates the fragments in key order: the platform's own order.
//
// Why a record beside the fragment: observations arrive out of order (an edit, a deletion, a
// status or a reaction before the send it refers to), and whether an edit or deletion reached the
// customer depends on the send's time and channel. The record keeps what is needed to decide
// once the send is known, and nothing the customer could no longer see: content is dropped as
// soon as a deletion for everyone takes effect or the message is redacted.
#include <algorithm>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "channel_rules.h"
#include "export_internal.h"
#include "history_json.h"
#include "ledger/content.h"
#include "ledger/event_json.h"
#include "ledger/time.h"
#include "projections/projections.h"
#include "state_keys.h"

namespace convledger::projections {
namespace {

using json = nlohmann::json;

// What the customer sees in place of redacted (or erased, sealed) content.
constexpr char kRedactedPlaceholder[] = "[redacted]";

// 2: sealed content kept as ciphertext and opened when rendering; subject erasure.
// 3: a message's record (read by the fold alone) stored as MessagePack, not JSON text.
constexpr uint32_t kVersion = 3;

// Envelopes travel in the fragments as standard, padded base64: the same encoder and (strict)
// decoder the export uses.
using exportfmt::Base64;
using exportfmt::Unbase64;

// json::dump() byte for byte, through history's writer: dump()'s character-by-character escaping
// was the fold's largest cost (fragments carry long base64 envelopes). Never throws: invalid
// UTF-8 (only possible from events built in code) becomes U+FFFD.
std::string Dump(const json& j) {
  std::string out;
  history::JsonOut w(&out);
  history::AppendJson(w, j);
  return out;
}

// A message's record, which only the fold reads, is MessagePack: the fold reads and rewrites
// it on every event of the message, and its longest string (a sealed envelope's base64) is then
// copied whole instead of being lexed and escaped character by character as JSON text.
std::string PackRecord(const json& r) {
  std::string out;
  json::to_msgpack(r, out);
  return out;
}

std::string ConvPrefix(std::string_view conv) { return ConversationStatePrefix(conv); }

std::string HeaderKey(std::string_view conv) { return ConvPrefix(conv) + "h"; }

std::string RecordKey(std::string_view conv, std::string_view message_id) {
  std::string k = ConvPrefix(conv) + "r";
  k.append(message_id);
  return k;
}

std::string FragmentKey(std::string_view conv, int64_t sent_at_us, uint64_t seq) {
  std::string k = ConvPrefix(conv) + "m";
  keys::PutBe64(&k, static_cast<uint64_t>(sent_at_us) ^ (uint64_t{1} << 63));
  keys::PutBe64(&k, seq);
  return k;
}

int64_t OccurredAt(const Event& e) { return e.occurred_at_us.value_or(e.recorded_at_us); }

// (time, conversation_seq): the platform's order, ties broken by the log.
bool Later(int64_t ts, uint64_t seq, const json& than) {
  const int64_t t2 = than.value("ts", int64_t{0});
  const uint64_t s2 = than.value("seq", uint64_t{0});
  return ts != t2 ? ts > t2 : seq > s2;
}

json PlainContentJson(const Content& content);

// The content as the customer received it. Sealed content is kept as its ciphertext only,
// {"sealed":"<base64 of SerializeSealed>"} ({"sealed":true} without an envelope), and opened
// when rendering.
json ContentJson(const Event& e) {
  json c = json::object();
  if (e.sealed) {
    c["sealed"] = Base64(SerializeSealed(*e.sealed));
    return c;
  }
  if (e.content_sealing != Sealing::kNone) {
    c["sealed"] = true;
    return c;
  }
  if (!e.content) return c;
  return PlainContentJson(*e.content);
}

json PlainContentJson(const Content& content) {
  json c = json::object();
  if (!content.text.empty()) c["text"] = content.text;
  if (!content.media.empty()) c["media"] = MediaToJson<json>(content.media);
  return c;
}

// The side the customer sees a reaction from. There is one business identity on the customer's
// phone (the business number or page), so every agent, bot and system shares one slot, as on
// the platforms; a platform report of a reaction is the customer's (webhooks report theirs).
const char* ReactionSide(ActorKind k) {
  return (k == ActorKind::kAgent || k == ActorKind::kBot || k == ActorKind::kSystem) ? "business"
                                                                                     : "customer";
}

bool WithinWindow(int64_t sent_at, int64_t at, int64_t window) {
  return window == 0 || at - sent_at <= window;
}

class CustomerViewFold final : public Projection {
 public:
  // The explanation window of ProjectionOptions does not apply: the customer sees what was
  // sent, explained or not.
  CustomerViewFold() = default;
  std::string_view Name() const override { return kCustomerView; }
  uint32_t Version() const override { return kVersion; }
  bool ConversationLocal() const override { return true; }
  Status Apply(const Event& e, StateStore& store) override;

 private:
  Status ApplyOrThrow(const Event& e, StateStore& store);
  // Applies the effects an event has on a message's record; see the .md for the rules.
  static void OnSent(const Event& e, json& r);
  static void OnEdited(const Event& e, json& r);
  static void OnDeleted(const Event& e, json& r);
  static void OnStatus(const Event& e, json& r);
  static void OnReaction(const Event& e, json& r);
  // Settles what was waiting for the send (edits, a deletion) once it is known.
  static void Settle(json& r);
  static void MarkDeleted(json& r);
  static void MarkRedacted(json& r);
  // The fragment the customer sees, or nullopt when the message is not shown.
  static std::optional<json> Fragment(std::string_view message_id, const json& r);

  Status Update(const Event& e, std::string_view message_id, StateStore& store,
                void (*change)(const Event&, json&));
};

void CustomerViewFold::MarkDeleted(json& r) {
  r["deleted"] = true;
  r.erase("content");
  r.erase("pedits");
  r.erase("pdel");
  r.erase("edited");
  r.erase("expl");
}

void CustomerViewFold::MarkRedacted(json& r) {
  r["redacted"] = true;
  r.erase("content");
  r.erase("pedits");
  r.erase("edited");
  r.erase("tpl");
  r.erase("expl");
}

void CustomerViewFold::OnSent(const Event& e, json& r) {
  if (r.value("sent", false)) return;  // a message id is sent once; a repeat changes nothing
  r["sent"] = true;
  r["ts"] = OccurredAt(e);
  r["seq"] = e.conversation_seq;
  r["ch"] = static_cast<int>(e.channel);
  r["dir"] = e.direction == Direction::kOutbound ? "outbound" : "inbound";
  // A display name may be shown (the customer's own, or the business's), never an actor id.
  if (!e.actor.display.empty() && e.actor.display != e.actor.id) r["name"] = e.actor.display;
  if (!e.reply_to.empty()) r["reply_to"] = e.reply_to;
  if (!r.value("redacted", false) && !r.value("deleted", false)) {
    if (e.content || e.sealed || e.content_sealing != Sealing::kNone) r["content"] = ContentJson(e);
    if (e.template_) {
      json t = json::object();
      t["name"] = e.template_->name;
      if (!e.template_->language.empty()) t["language"] = e.template_->language;
      // Never the parameters of a sealed event (even one opened before it reached the fold).
      if (!e.template_->parameters.empty() && !e.sealed && e.content_sealing == Sealing::kNone)
        t["parameters"] = e.template_->parameters;
      // Sealed: the parameters are in the send's envelope, opened when rendering.
      if (e.sealed) t["sealed"] = Base64(SerializeSealed(*e.sealed));
      r["tpl"] = std::move(t);
    }
  }
  Settle(r);
}

void CustomerViewFold::Settle(json& r) {
  if (!r.value("sent", false)) return;
  const ChannelRules& rules = RulesFor(static_cast<Channel>(r.value("ch", 0)));
  const int64_t sent_at = r.value("ts", int64_t{0});
  if (auto it = r.find("pdel"); it != r.end()) {
    // The earliest deletion is the one most likely to fall within the window.
    const int64_t at = it->get<int64_t>();
    r.erase("pdel");
    if (rules.can_delete_for_everyone && WithinWindow(sent_at, at, rules.delete_window_us))
      MarkDeleted(r);
  }
  if (auto it = r.find("pedits"); it != r.end()) {
    json pending = std::move(*it);
    r.erase("pedits");
    if (r.value("deleted", false) || r.value("redacted", false) || !rules.can_edit) return;
    for (const json& ed : pending) {
      const int64_t at = ed.value("ts", int64_t{0});
      if (!WithinWindow(sent_at, at, rules.edit_window_us)) continue;
      if (r.contains("edit") && !Later(at, ed.value("seq", uint64_t{0}), r["edit"])) continue;
      r["edit"] = json{{"ts", at}, {"seq", ed.value("seq", uint64_t{0})}};
      r["content"] = ed["content"];
      r["edited"] = true;
    }
  }
}

void CustomerViewFold::OnEdited(const Event& e, json& r) {
  // Nothing changes a deleted or redacted message for the customer.
  if (r.value("deleted", false) || r.value("redacted", false)) return;
  const int64_t at = OccurredAt(e);
  if (!r.value("sent", false)) {
    json ed = json::object();
    ed["ts"] = at;
    ed["seq"] = e.conversation_seq;
    ed["content"] = ContentJson(e);
    r["pedits"].push_back(std::move(ed));
    return;
  }
  const ChannelRules& rules = RulesFor(static_cast<Channel>(r.value("ch", 0)));
  if (!rules.can_edit || !WithinWindow(r.value("ts", int64_t{0}), at, rules.edit_window_us)) return;
  if (r.contains("edit") && !Later(at, e.conversation_seq, r["edit"])) return;  // an older edit
  r["edit"] = json{{"ts", at}, {"seq", e.conversation_seq}};
  r["content"] = ContentJson(e);
  r["edited"] = true;
}

void CustomerViewFold::OnDeleted(const Event& e, json& r) {
  // Hidden on the agent side only: the customer still has it.
  if (e.scope != DeleteScope::kEveryone || r.value("deleted", false)) return;
  const int64_t at = OccurredAt(e);
  if (!r.value("sent", false)) {
    if (!r.contains("pdel") || at < r["pdel"].get<int64_t>()) r["pdel"] = at;
    return;
  }
  const ChannelRules& rules = RulesFor(static_cast<Channel>(r.value("ch", 0)));
  if (rules.can_delete_for_everyone &&
      WithinWindow(r.value("ts", int64_t{0}), at, rules.delete_window_us))
    MarkDeleted(r);
}

void CustomerViewFold::OnStatus(const Event& e, json& r) {
  int rank = 0;
  switch (e.status) {
    case Delivery::kSent:
      rank = 1;
      break;
    case Delivery::kDelivered:
      rank = 2;
      break;
    case Delivery::kRead:
      rank = 3;
      break;
    case Delivery::kFailed:
      r["failed"] = true;
      return;
    case Delivery::kUnknown:
      return;
  }
  // Ticks only move forward, whatever order the statuses arrive in.
  if (rank > r.value("st", 0)) r["st"] = rank;
}

void CustomerViewFold::OnReaction(const Event& e, json& r) {
  const int64_t at = OccurredAt(e);
  json& slot = r["rx"][ReactionSide(e.actor.kind)];
  if (!slot.is_null() && !Later(at, e.conversation_seq, slot)) return;  // an older change
  slot = json{{"ts", at},
              {"seq", e.conversation_seq},
              {"emoji", e.action == ReactionAction::kAdd ? e.emoji : std::string()}};
}

std::optional<json> CustomerViewFold::Fragment(std::string_view message_id, const json& r) {
  if (!r.value("sent", false)) return std::nullopt;
  const bool outbound = r.value("dir", std::string()) == "outbound";
  const int st = r.value("st", 0);
  // An outbound message that failed and was never delivered never reached the customer.
  if (outbound && r.value("failed", false) && st < 2) return std::nullopt;

  const Channel ch = static_cast<Channel>(r.value("ch", 0));
  json f = json::object();
  f["message_id"] = message_id;
  f["direction"] = outbound ? "outbound" : "inbound";
  f["from"] = outbound ? "business" : "customer";
  if (auto it = r.find("name"); it != r.end()) f["name"] = *it;
  f["sent_at"] = FormatRfc3339(r.value("ts", int64_t{0}));
  const bool deleted = r.value("deleted", false);
  const json* content = r.contains("content") ? &r["content"] : nullptr;
  // Sealed content: its envelope travels in the fragment as "sealed" and RenderCustomerView
  // opens it (or shows the placeholder); sealed content without an envelope never opens.
  const json* sealed = nullptr;
  if (content) {
    if (auto it = content->find("sealed"); it != content->end()) sealed = &*it;
  }
  const bool redacted =
      !deleted && (r.value("redacted", false) || (sealed && !sealed->is_string()));
  f["deleted"] = deleted;
  f["redacted"] = redacted;
  f["edited"] = !deleted && !redacted && r.value("edited", false);
  if (outbound) {
    static constexpr const char* kTicks[] = {"pending", "sent", "delivered", "read"};
    f["status"] = kTicks[std::clamp(st, 0, 3)];
  }
  json reactions = json::array();
  if (deleted || redacted) {
    f["placeholder"] =
        deleted ? std::string(RulesFor(ch).deleted_placeholder) : std::string(kRedactedPlaceholder);
  } else {
    if (content) {
      if (auto t = content->find("text"); t != content->end()) f["text"] = *t;
      if (auto m = content->find("media"); m != content->end()) f["media"] = *m;
      if (sealed) f["sealed"] = *sealed;
    }
    if (auto it = r.find("tpl"); it != r.end()) f["template"] = *it;
    if (auto it = r.find("reply_to"); it != r.end()) f["reply_to"] = *it;
    if (auto it = r.find("expl"); it != r.end()) {
      json c = json::object();
      c["corrects"] = it->value("corrects", std::string());
      if (const std::string text = it->value("text", std::string()); !text.empty())
        c["explanation"] = text;
      f["correction"] = std::move(c);
    }
    if (auto it = r.find("rx"); it != r.end()) {
      for (const auto& [side, slot] : it->items()) {  // sorted: business, customer
        const std::string emoji = slot.value("emoji", std::string());
        if (!emoji.empty()) reactions.push_back(json{{"by", side}, {"emoji", emoji}});
      }
    }
  }
  f["reactions"] = std::move(reactions);
  return f;
}

Status CustomerViewFold::Update(const Event& e, std::string_view message_id, StateStore& store,
                                void (*change)(const Event&, json&)) {
  const std::string rkey = RecordKey(e.conversation_id, message_id);
  std::string raw;
  json r = json::object();
  if (Status st = store.Get(rkey, &raw); st.ok()) {
    r = json::from_msgpack(raw, /*strict=*/true, /*allow_exceptions=*/false);
    if (!r.is_object())
      return Status::Corruption(
          "corrupt_projection_state",
          "customer_view: unreadable record for message " + std::string(message_id));
  } else if (!st.IsNotFound()) {
    return st;
  }
  change(e, r);
  store.Put(rkey, PackRecord(r));
  if (r.value("sent", false)) {
    const std::string fkey =
        FragmentKey(e.conversation_id, r.value("ts", int64_t{0}), r.value("seq", uint64_t{0}));
    if (auto f = Fragment(message_id, r))
      store.Put(fkey, Dump(*f));
    else
      store.Delete(fkey);
  }
  return Status::OK();
}

Status CustomerViewFold::Apply(const Event& e, StateStore& store) {
  // nlohmann::json reports type errors by exception; none may cross projections/. The fold's
  // own records never raise one, so reaching the catch means the stored state is not ours.
  try {
    return ApplyOrThrow(e, store);
  } catch (const std::exception& ex) {
    return Status::Corruption("corrupt_projection_state",
                              std::string("customer_view: ") + ex.what());
  }
}

Status CustomerViewFold::ApplyOrThrow(const Event& e, StateStore& store) {
  // The header: the conversation exists from its first event, whatever it is, as in the log
  // (a conversation that holds only internal events shows no messages). It carries no content.
  const std::string hkey = HeaderKey(e.conversation_id);
  std::string raw;
  Status hs = store.Get(hkey, &raw);
  if (!hs.ok() && !hs.IsNotFound()) return hs;
  json h = json::object();
  bool dirty = false;
  if (hs.IsNotFound()) {
    h["channel"] = std::string(ToString(e.channel));
    dirty = true;
  } else if ((e.channel != Channel::kUnknown && raw.find(R"("channel":"unknown")") != std::string::npos) ||
             e.type == EventType::kSubjectErased) {
    // Parsed only when it may change (the channel was not known yet, or an erasure): as Dump
    // writes it, an unknown channel reads exactly "channel":"unknown".
    h = json::parse(raw, nullptr, false);
    if (!h.is_object())
      return Status::Corruption("corrupt_projection_state", "customer_view: unreadable header");
    if (e.channel != Channel::kUnknown && h.value("channel", std::string()) == "unknown") {
      h["channel"] = std::string(ToString(e.channel));
      dirty = true;
    }
  }
  // subject.erased: every message sent (recorded) before it shows the placeholder from now on;
  // decided when rendering, by the conversation_seq in each fragment's key.
  if (e.type == EventType::kSubjectErased) {
    h["erased_before"] = e.conversation_seq;
    dirty = true;
  }
  if (dirty) store.Put(hkey, Dump(h));
  if (!NamesMessage(e.type)) return Status::OK();  // consent, holds, notes: never shown

  switch (e.type) {
    case EventType::kMessageSent:
      return Update(e, e.message_id, store, &OnSent);
    case EventType::kMessageEdited:
      return Update(e, e.message_id, store, &OnEdited);
    case EventType::kMessageDeleted:
      return Update(e, e.message_id, store, &OnDeleted);
    case EventType::kMessageRedacted:
      return Update(e, e.message_id, store, [](const Event&, json& r) { MarkRedacted(r); });
    case EventType::kMessageStatus:
      return Update(e, e.message_id, store, &OnStatus);
    case EventType::kMessageReaction:
      return Update(e, e.message_id, store, &OnReaction);
    case EventType::kMessageCorrected:
      // The wrong message stays as its own deletion or edit left it; the explanation, which
      // DESIGN says is shown to the customer, travels with the replacement.
      return Update(e, e.replacement_message_id, store, [](const Event& ev, json& r) {
        const int64_t at = OccurredAt(ev);
        if (r.contains("expl") && !Later(at, ev.conversation_seq, r["expl"])) return;
        if (r.value("deleted", false) || r.value("redacted", false)) return;
        r["expl"] = json{{"ts", at},
                         {"seq", ev.conversation_seq},
                         {"corrects", ev.message_id},
                         {"text", ev.explanation}};
      });
    default:
      return Status::OK();
  }
}

}  // namespace

std::shared_ptr<Projection> MakeCustomerView(const ProjectionOptions& /*options*/) {
  return std::make_shared<CustomerViewFold>();
}

namespace {

// A fragment the customer cannot read any more: the placeholder in place of its content.
void ToPlaceholder(json& f) {
  for (const char* k : {"text", "media", "template", "reply_to", "correction", "sealed"}) f.erase(k);
  if (f.value("deleted", false)) return;  // already the platform's deletion placeholder
  f["redacted"] = true;
  f["edited"] = false;
  f["placeholder"] = kRedactedPlaceholder;
  f["reactions"] = json::array();
}

class FragmentOpener {
 public:
  FragmentOpener(ContentOpener* opener, std::string_view conversation_id)
      : opener_(opener), conversation_id_(conversation_id) {}

  // Opens the sealed content of a fragment in place (or turns it into the placeholder).
  Status Open(json& f) {
    recent_.clear();
    auto content = f.find("sealed");
    if (content == f.end()) return Status::OK();
    const OpenedContent* opened = nullptr;
    if (Status s = OpenB64(*content, &opened); !s.ok()) return s;
    if (!opened) {
      ToPlaceholder(f);
      return Status::OK();
    }
    f.erase("sealed");
    if (opened->content) {
      json c = PlainContentJson(*opened->content);
      for (const char* k : {"text", "media"})
        if (auto it = c.find(k); it != c.end()) f[k] = *it;
    }
    if (auto t = f.find("template"); t != f.end()) {
      if (auto ts = t->find("sealed"); ts != t->end()) {
        const OpenedContent* params = nullptr;
        if (Status s = OpenB64(*ts, &params); !s.ok()) return s;
        t->erase("sealed");
        if (params && !params->template_parameters.empty())
          (*t)["parameters"] = params->template_parameters;
      }
    }
    return Status::OK();
  }

  // The common case without parsing the fragment: its sealed items (the content, and the
  // template's parameters, from the same envelope) all open. Writes exactly what Open() and
  // Dump() would (keys in sorted order: "media" just before "message_id", the template's
  // "parameters" where its "sealed" was, "text" last) and sets *done; otherwise leaves `out`
  // alone and the caller takes the general path. Outside JSON strings quotes are never
  // escaped, so the patterns below are keys of the fragment itself; the content's "sealed"
  // sorts before "template", the template's own comes inside it.
  //
  // `first_sealed` is where the caller found the first `"sealed":` in v. The keys are in sorted
  // order ("message_id" < "sealed" < "template", the template's own "sealed" inside it) and a
  // base64 string holds no quote or comma, so each is looked for only where it can be: three
  // times fewer memchr calls than searching the whole fragment for each (the searches were a
  // fifth of an uncached render's CPU).
  Status Splice(std::string_view v, size_t first_sealed, std::string* out, bool* done) {
    *done = false;
    recent_.clear();
    constexpr size_t npos = std::string_view::npos;
    static constexpr std::string_view kSealed = R"("sealed":")";
    static constexpr std::string_view kTemplate = R"(,"template":{)";
    if (v.empty() || v.back() != '}' || first_sealed >= v.size()) return Status::OK();
    const std::string_view head = v.substr(0, first_sealed);
    const size_t m = head.find(R"(,"message_id":)");
    if (m == npos) return Status::OK();
    size_t t = head.find(kTemplate);  // npos: not before the first "sealed" (looked for below)
    bool t_known = t != npos;
    struct Item {  // [begin, end): `,"sealed":"<b64>"`; b64 inside
      size_t begin = npos, end = npos;
      std::string_view b64;
      const OpenedContent* opened = nullptr;
    } content, params;
    for (size_t at = first_sealed; at != npos;) {
      if (at == 0 || v[at - 1] != ',' || v.compare(at, kSealed.size(), kSealed) != 0)
        return Status::OK();  // {"sealed":true} or something unexpected: the general path
      const size_t e = v.find('"', at + kSealed.size());
      if (e == npos) return Status::OK();
      if (!t_known) {
        t = v.find(kTemplate, e + 1);
        t_known = true;
      }
      const size_t next = v.find(R"("sealed":)", e + 1);
      Item& item = (t == npos || at < t) ? content : params;
      if (item.begin != npos) return Status::OK();
      item.begin = at - 1;
      item.end = e + 1;
      item.b64 = v.substr(at + kSealed.size(), e - at - kSealed.size());
      at = next;
    }
    if (content.begin == npos && params.begin == npos) return Status::OK();
    if (content.begin != npos && content.begin < m) return Status::OK();
    for (Item* item : {&content, &params}) {
      if (item->begin == npos) continue;
      if (Status st = OpenEnvelope(item->b64, &item->opened); !st.ok()) return st;
      if (!item->opened) return Status::OK();  // a placeholder: the general path
    }
    std::string media, text;
    if (content.opened && content.opened->content) {
      const Content& c = *content.opened->content;
      if (!c.media.empty()) media = Dump(MediaToJson<json>(c.media));
      if (!c.text.empty()) text = Dump(json(c.text));
    }
    out->append(v.substr(0, m));
    if (!media.empty()) {
      out->append(R"(,"media":)");
      out->append(media);
    }
    size_t cursor = m;
    if (content.begin != npos) {
      out->append(v.substr(cursor, content.begin - cursor));
      cursor = content.end;
    }
    if (params.begin != npos) {
      out->append(v.substr(cursor, params.begin - cursor));
      if (!params.opened->template_parameters.empty()) {
        out->append(R"(,"parameters":)");
        out->append(Dump(json(params.opened->template_parameters)));
      }
      cursor = params.end;
    }
    out->append(v.substr(cursor, v.size() - 1 - cursor));
    if (!text.empty()) {
      out->append(R"(,"text":)");
      out->append(text);
    }
    out->push_back('}');
    *done = true;
    return Status::OK();
  }

 private:
  // nullptr in *out: cannot be opened here (no opener, no envelope, or its keys destroyed).
  Status OpenB64(const json& value, const OpenedContent** out) {
    *out = nullptr;
    if (!opener_ || !value.is_string()) return Status::OK();
    return OpenEnvelope(value.get_ref<const std::string&>(), out);
  }

  Status OpenEnvelope(std::string_view b64, const OpenedContent** out) {
    *out = nullptr;
    if (!opener_) return Status::OK();
    const Recent* found = nullptr;
    for (const Recent& r : recent_)
      if (r.b64 == b64) found = &r;
    if (!found) {
      std::optional<std::string> bytes = Unbase64(b64);
      std::optional<SealedContent> sealed;
      if (bytes) sealed = ParseSealed(*bytes);
      if (!sealed)
        return Status::Corruption("corrupt_projection_state",
                                  "customer_view: unreadable sealed content");
      Result<OpenedContent> opened = opener_->Open(conversation_id_, *sealed);
      if (!opened.ok()) return opened.status();
      recent_.push_back(Recent{std::string(b64), std::move(*opened)});
      found = &recent_.back();
    }
    const ContentAccess a = found->opened.access;
    if (a == ContentAccess::kOpened || a == ContentAccess::kPlain) *out = &found->opened;
    return Status::OK();
  }

  // The envelopes the fragment being rendered has opened (emptied at the start of each): a
  // send's content and its template parameters share one envelope, which is then opened once.
  // No envelope is in two fragments, so a map of every envelope of the render only hashed and
  // copied each of them for nothing (8-12 % of an uncached render; the KeyStore keeps opened
  // content across renders). A deque: a push leaves references to earlier entries valid.
  struct Recent {
    std::string b64;
    OpenedContent opened;
  };
  ContentOpener* opener_;
  const std::string_view conversation_id_;
  std::deque<Recent> recent_;
};

}  // namespace

Result<std::string> RenderCustomerView(StateReader& state, std::string_view conversation_id,
                                       ContentOpener* opener) {
  std::string header;
  if (Status st = state.Get(HeaderKey(conversation_id), &header); !st.ok()) {
    if (st.IsNotFound())
      return Status::NotFound("conversation_not_found",
                              "no customer view for conversation " + std::string(conversation_id));
    return st;
  }
  json h = json::parse(header, nullptr, false);
  if (!h.is_object() || !h.contains("channel") || !h["channel"].is_string())
    return Status::Corruption("corrupt_projection_state", "customer_view: unreadable header");

  // Keys in sorted order, as nlohmann's dump() would write them: channel, conversation_id,
  // messages. The fragments are complete JSON objects already.
  uint64_t erased_before = 0;
  if (auto it = h.find("erased_before"); it != h.end() && it->is_number_unsigned())
    erased_before = it->get<uint64_t>();
  FragmentOpener fragments(opener, conversation_id);
  Status open_error;

  std::string out = R"({"channel":)";
  out += Dump(h["channel"]);
  out += R"(,"conversation_id":)";
  out += Dump(json(std::string(conversation_id)));
  out += R"(,"messages":[)";
  bool first = true;
  Status st =
      state.Scan(ConvPrefix(conversation_id) + "m", [&](std::string_view k, std::string_view v) {
        if (!first) out.push_back(',');
        first = false;
        // The fragment key ends with the conversation_seq of the send.
        const bool erased = k.size() >= 8 && keys::GetBe64(k.substr(k.size() - 8)) < erased_before;
        // Outside a JSON string a quote is never escaped: a key "sealed" is found as is, and
        // text can never look like one.
        const size_t sealed = erased ? std::string_view::npos : v.find(R"("sealed":)");
        if (!erased && sealed == std::string_view::npos) {
          out.append(v);
          return true;
        }
        if (!erased) {
          bool done = false;
          if (Status s = fragments.Splice(v, sealed, &out, &done); !s.ok()) {
            open_error = s;
            return false;
          }
          if (done) return true;
        }
        json f = json::parse(v, nullptr, false);
        if (!f.is_object()) {
          open_error = Status::Corruption("corrupt_projection_state",
                                          "customer_view: unreadable message fragment");
          return false;
        }
        if (erased) {
          ToPlaceholder(f);
        } else if (Status s = fragments.Open(f); !s.ok()) {
          open_error = s;
          return false;
        }
        out.append(Dump(f));
        return true;
      });
  if (!st.ok()) return st;
  if (!open_error.ok()) return open_error;
  out += "]}";
  return out;
}

}  // namespace convledger::projections
