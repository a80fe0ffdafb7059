// Strict JSON <-> Event codec. Every object is read through a FieldReader that remembers which
// keys were consumed, so anything left over is an unknown field (a typo such as "reson" must not
// silently drop the reason a compliance officer will later look for).
#include "ledger/event_json.h"

#include <nlohmann/json.hpp>

#include <set>

#include "ledger/time.h"

namespace convledger {
namespace {

using json = nlohmann::json;


// 64 hex digits (either case) into a digest. An all-zero digest means "none", like absent.
bool ParseHexDigest(std::string_view hex, Digest* out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Digest d{};
  for (size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    d[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  *out = d;
  return true;
}

Status Invalid(std::string reason, const std::string& path, const std::string& what) {
  return Status::InvalidArgument(std::move(reason), path.empty() ? what : path + ": " + what);
}

std::string_view JsonTypeName(const json& j) { return j.type_name(); }

// Reads the fields of one JSON object, tracking which were consumed.
class FieldReader {
 public:
  FieldReader(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  std::string PathOf(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  // Returns the value or nullptr when absent or null.
  const json* Find(std::string_view key) {
    auto it = obj_.find(key);
    if (it == obj_.end()) return nullptr;
    used_.insert(std::string(key));
    if (it->is_null()) return nullptr;
    return &*it;
  }

  Status String(std::string_view key, bool required, size_t max_bytes, std::string* out) {
    const json* v = Find(key);
    if (!v) {
      if (required) return Invalid("missing_field", PathOf(key), "is required");
      return Status::OK();
    }
    if (!v->is_string())
      return Invalid("wrong_type", PathOf(key),
                     "must be a string, not " + std::string(JsonTypeName(*v)));
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > max_bytes)
      return Invalid("field_too_large", PathOf(key),
                     "is " + std::to_string(s.size()) + " bytes; the limit is " +
                         std::to_string(max_bytes));
    if (required && s.empty()) return Invalid("empty_field", PathOf(key), "must not be empty");
    *out = s;
    return Status::OK();
  }

  template <typename E>
  Status Enum(std::string_view key, bool required, std::optional<E> (*parse)(std::string_view),
              E* out) {
    std::string s;
    if (Status st = String(key, required, kMaxIdBytes, &s); !st.ok()) return st;
    if (s.empty() && !required) return Status::OK();
    auto e = parse(s);
    if (!e) return Invalid("invalid_value", PathOf(key), "unknown value \"" + s + "\"");
    *out = *e;
    return Status::OK();
  }

  Status Bool(std::string_view key, bool* out) {
    const json* v = Find(key);
    if (!v) return Status::OK();
    if (!v->is_boolean())
      return Invalid("wrong_type", PathOf(key),
                     "must be true or false, not " + std::string(JsonTypeName(*v)));
    *out = v->get<bool>();
    return Status::OK();
  }

  Status Unsigned(std::string_view key, std::optional<uint64_t>* out) {
    const json* v = Find(key);
    if (!v) return Status::OK();
    if (v->is_number_unsigned()) {
      *out = v->get<uint64_t>();
    } else if (v->is_number_integer()) {
      return Invalid("invalid_value", PathOf(key), "must not be negative");
    } else {
      return Invalid("wrong_type", PathOf(key),
                     "must be a non-negative integer, not " + std::string(JsonTypeName(*v)));
    }
    return Status::OK();
  }

  Status Object(std::string_view key, bool required, const json** out) {
    const json* v = Find(key);
    *out = nullptr;
    if (!v) {
      if (required) return Invalid("missing_field", PathOf(key), "is required");
      return Status::OK();
    }
    if (!v->is_object())
      return Invalid("wrong_type", PathOf(key),
                     "must be an object, not " + std::string(JsonTypeName(*v)));
    *out = v;
    return Status::OK();
  }

  Status Array(std::string_view key, size_t max_items, const json** out) {
    const json* v = Find(key);
    *out = nullptr;
    if (!v) return Status::OK();
    if (!v->is_array())
      return Invalid("wrong_type", PathOf(key),
                     "must be an array, not " + std::string(JsonTypeName(*v)));
    if (v->size() > max_items)
      return Invalid("field_too_large", PathOf(key),
                     "has " + std::to_string(v->size()) + " items; the limit is " +
                         std::to_string(max_items));
    *out = v;
    return Status::OK();
  }

  // Every key not consumed is unknown (for this object, or for this event type).
  Status NoUnknown() const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      if (!used_.count(it.key()))
        return Invalid("unknown_field", PathOf(it.key()), "is not a field here");
    }
    return Status::OK();
  }

 private:
  const json& obj_;
  std::string path_;
  std::set<std::string, std::less<>> used_;
};

#define RETURN_IF_ERROR(expr)           \
  do {                                  \
    if (Status _st = (expr); !_st.ok()) \
      return _st;                       \
  } while (0)

Status ParseContent(const json& obj, const std::string& path, Content* out) {
  FieldReader r(obj, path);
  RETURN_IF_ERROR(r.String("text", false, kMaxTextBytes, &out->text));
  const json* media = nullptr;
  RETURN_IF_ERROR(r.Array("media", kMaxMediaItems, &media));
  if (media) {
    for (size_t i = 0; i < media->size(); ++i) {
      const json& m = (*media)[i];
      const std::string mpath = r.PathOf("media") + "[" + std::to_string(i) + "]";
      if (!m.is_object())
        return Invalid("wrong_type", mpath, "must be an object, not " + std::string(m.type_name()));
      FieldReader mr(m, mpath);
      Media item;
      RETURN_IF_ERROR(mr.String("mime", true, kMaxIdBytes, &item.mime));
      std::optional<uint64_t> size;
      RETURN_IF_ERROR(mr.Unsigned("size", &size));
      item.size = size.value_or(0);
      RETURN_IF_ERROR(mr.String("sha256", false, kMaxIdBytes, &item.sha256));
      RETURN_IF_ERROR(mr.String("caption", false, kMaxTextBytes, &item.caption));
      RETURN_IF_ERROR(mr.String("reference", false, kMaxShortTextBytes, &item.reference));
      RETURN_IF_ERROR(mr.String("filename", false, kMaxShortTextBytes, &item.filename));
      RETURN_IF_ERROR(mr.NoUnknown());
      out->media.push_back(std::move(item));
    }
  }
  RETURN_IF_ERROR(r.NoUnknown());
  if (out->text.empty() && out->media.empty())
    return Invalid("empty_field", path, "needs text or media");
  return Status::OK();
}

Status ParseTemplate(const json& obj, const std::string& path, Template* out) {
  FieldReader r(obj, path);
  RETURN_IF_ERROR(r.String("name", true, kMaxIdBytes, &out->name));
  RETURN_IF_ERROR(r.String("language", false, kMaxIdBytes, &out->language));
  RETURN_IF_ERROR(r.String("category", false, kMaxIdBytes, &out->category));
  const json* params = nullptr;
  RETURN_IF_ERROR(r.Array("parameters", kMaxTemplateParameters, &params));
  if (params) {
    for (size_t i = 0; i < params->size(); ++i) {
      const json& p = (*params)[i];
      const std::string ppath = r.PathOf("parameters") + "[" + std::to_string(i) + "]";
      if (!p.is_string())
        return Invalid("wrong_type", ppath, "must be a string, not " + std::string(p.type_name()));
      if (p.get_ref<const std::string&>().size() > kMaxShortTextBytes)
        return Invalid("field_too_large", ppath, "is too large");
      out->parameters.push_back(p.get<std::string>());
    }
  }
  return r.NoUnknown();
}

constexpr std::string_view kCorrectionReasons[] = {
    "wrong_price", "wrong_availability", "typo", "wrong_recipient", "sensitive_data", "other"};

Status ParseEventObject(const json& obj, const std::string& path, Event* e) {
  if (!obj.is_object())
    return Invalid("not_an_object", path, "an event must be a JSON object");
  FieldReader r(obj, path);

  // Envelope.
  std::string type_name;
  RETURN_IF_ERROR(r.String("type", true, kMaxIdBytes, &type_name));
  auto type = ParseEventType(type_name);
  if (!type) return Invalid("unknown_event_type", r.PathOf("type"), "unknown type \"" + type_name + "\"");
  e->type = *type;
  RETURN_IF_ERROR(r.String("conversation_id", true, kMaxConversationIdBytes, &e->conversation_id));
  RETURN_IF_ERROR(r.String("idempotency_key", false, kMaxIdBytes, &e->idempotency_key));
  RETURN_IF_ERROR(r.Unsigned("expected_version", &e->expected_version));
  std::string occurred;
  RETURN_IF_ERROR(r.String("occurred_at", false, kMaxIdBytes, &occurred));
  if (!occurred.empty()) {
    auto t = ParseRfc3339(occurred);
    if (!t)
      return Invalid("invalid_timestamp", r.PathOf("occurred_at"),
                     "\"" + occurred + "\" is not an RFC 3339 timestamp");
    e->occurred_at_us = *t;
  }
  const json* actor = nullptr;
  RETURN_IF_ERROR(r.Object("actor", true, &actor));
  {
    FieldReader ar(*actor, r.PathOf("actor"));
    RETURN_IF_ERROR(ar.Enum("kind", true, &ParseActorKind, &e->actor.kind));
    RETURN_IF_ERROR(ar.String("id", true, kMaxIdBytes, &e->actor.id));
    RETURN_IF_ERROR(ar.String("display", false, kMaxShortTextBytes, &e->actor.display));
    RETURN_IF_ERROR(ar.NoUnknown());
  }
  RETURN_IF_ERROR(r.Enum("channel", false, &ParseChannel, &e->channel));
  RETURN_IF_ERROR(r.String("tenant", false, kMaxIdBytes, &e->tenant));
  std::string evidence;
  RETURN_IF_ERROR(r.String("evidence", false, kMaxIdBytes, &evidence));
  if (!evidence.empty() && !ParseHexDigest(evidence, &e->evidence))
    return Invalid("invalid_value", r.PathOf("evidence"),
                   "must be 64 hex digits (the SHA-256 of the raw payload)");
  RETURN_IF_ERROR(r.String("subject", e->type == EventType::kSubjectErased, kMaxIdBytes,
                           &e->subject));

  if (NamesMessage(e->type))
    RETURN_IF_ERROR(r.String("message_id", true, kMaxIdBytes, &e->message_id));
  // Fields the ledger assigns are accepted and ignored, so the output of `convledger events`
  // can be fed back (an import keeps its own sequences and hashes).
  for (const char* assigned :
       {"global_seq", "conversation_seq", "recorded_at", "event_id", "hash", "prev_hash"})
    r.Find(assigned);

  const json* obj_field = nullptr;
  switch (e->type) {
    case EventType::kMessageSent: {
      RETURN_IF_ERROR(r.Enum("direction", true, &ParseDirection, &e->direction));
      RETURN_IF_ERROR(r.String("reply_to", false, kMaxIdBytes, &e->reply_to));
      RETURN_IF_ERROR(r.String("kind", false, kMaxIdBytes, &e->kind));
      RETURN_IF_ERROR(r.Object("template", false, &obj_field));
      if (obj_field) {
        Template t;
        RETURN_IF_ERROR(ParseTemplate(*obj_field, r.PathOf("template"), &t));
        e->template_ = std::move(t);
      }
      RETURN_IF_ERROR(r.Object("content", !e->template_.has_value(), &obj_field));
      if (obj_field) {
        Content c;
        RETURN_IF_ERROR(ParseContent(*obj_field, r.PathOf("content"), &c));
        e->content = std::move(c);
      }
      break;
    }
    case EventType::kMessageEdited: {
      RETURN_IF_ERROR(r.Object("content", true, &obj_field));
      Content c;
      RETURN_IF_ERROR(ParseContent(*obj_field, r.PathOf("content"), &c));
      e->content = std::move(c);
      RETURN_IF_ERROR(r.String("reason", false, kMaxShortTextBytes, &e->reason));
      break;
    }
    case EventType::kMessageDeleted:
      RETURN_IF_ERROR(r.Enum("scope", true, &ParseDeleteScope, &e->scope));
      RETURN_IF_ERROR(r.String("reason_code", false, kMaxIdBytes, &e->reason_code));
      RETURN_IF_ERROR(r.String("reason", false, kMaxShortTextBytes, &e->reason));
      break;
    case EventType::kMessageCorrected: {
      RETURN_IF_ERROR(
          r.String("replacement_message_id", true, kMaxIdBytes, &e->replacement_message_id));
      RETURN_IF_ERROR(r.String("reason_code", true, kMaxIdBytes, &e->reason_code));
      bool known = false;
      for (auto c : kCorrectionReasons) known |= (c == e->reason_code);
      if (!known)
        return Invalid("invalid_value", r.PathOf("reason_code"),
                       "unknown value \"" + e->reason_code +
                           "\" (wrong_price, wrong_availability, typo, wrong_recipient, "
                           "sensitive_data, other)");
      RETURN_IF_ERROR(r.String("explanation", false, kMaxShortTextBytes, &e->explanation));
      if (e->replacement_message_id == e->message_id)
        return Invalid("invalid_value", r.PathOf("replacement_message_id"),
                       "must differ from message_id");
      break;
    }
    case EventType::kMessageRedacted:
      RETURN_IF_ERROR(r.String("reason", true, kMaxShortTextBytes, &e->reason));
      RETURN_IF_ERROR(r.Bool("override_hold", &e->override_hold));
      break;
    case EventType::kSubjectErased:
      RETURN_IF_ERROR(r.String("reason", true, kMaxShortTextBytes, &e->reason));
      RETURN_IF_ERROR(r.Bool("override_hold", &e->override_hold));
      break;
    case EventType::kErasureRefused: {
      std::string refused;
      RETURN_IF_ERROR(r.String("refused", true, kMaxIdBytes, &refused));
      auto t = ParseEventType(refused);
      if (!t || (*t != EventType::kMessageRedacted && *t != EventType::kSubjectErased))
        return Invalid("invalid_value", r.PathOf("refused"),
                       "must be message.redacted or subject.erased");
      e->refused = *t;
      RETURN_IF_ERROR(r.String("message_id", false, kMaxIdBytes, &e->message_id));
      RETURN_IF_ERROR(r.String("reason", false, kMaxShortTextBytes, &e->reason));
      RETURN_IF_ERROR(r.String("case_ref", false, kMaxIdBytes, &e->case_ref));
      break;
    }
    case EventType::kMessageStatus: {
      RETURN_IF_ERROR(r.Enum("status", true, &ParseDelivery, &e->status));
      RETURN_IF_ERROR(r.Object("error", false, &obj_field));
      if (obj_field) {
        FieldReader er(*obj_field, r.PathOf("error"));
        RETURN_IF_ERROR(er.String("code", false, kMaxIdBytes, &e->error_code));
        RETURN_IF_ERROR(er.String("title", false, kMaxShortTextBytes, &e->error_title));
        RETURN_IF_ERROR(er.NoUnknown());
      }
      break;
    }
    case EventType::kMessageReaction:
      RETURN_IF_ERROR(r.Enum("action", true, &ParseReactionAction, &e->action));
      RETURN_IF_ERROR(
          r.String("emoji", e->action == ReactionAction::kAdd, kMaxIdBytes, &e->emoji));
      break;
    case EventType::kConsentChanged:
      RETURN_IF_ERROR(r.Enum("consent", true, &ParseConsentState, &e->consent));
      RETURN_IF_ERROR(r.String("scope", true, kMaxIdBytes, &e->consent_scope));
      RETURN_IF_ERROR(r.String("source", false, kMaxShortTextBytes, &e->source));
      break;
    case EventType::kLegalHoldChanged:
      RETURN_IF_ERROR(r.Enum("hold", true, &ParseHoldAction, &e->hold));
      RETURN_IF_ERROR(r.String("case_ref", true, kMaxIdBytes, &e->case_ref));
      RETURN_IF_ERROR(r.Enum("scope", false, &ParseHoldScope, &e->hold_scope));
      break;
    case EventType::kNoteAdded: {
      Content c;
      RETURN_IF_ERROR(r.String("text", true, kMaxTextBytes, &c.text));
      e->content = std::move(c);
      break;
    }
  }
  return r.NoUnknown();
}

Result<json> ParseText(std::string_view text) {
  if (text.size() > kMaxEventJsonBytes * 16)
    return Status::InvalidArgument("body_too_large", "the JSON text is too large");
  if (!IsValidUtf8(text)) return Status::InvalidArgument("invalid_utf8", "the text is not valid UTF-8");
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& err) {
    const std::string what = err.what();
    if (what.find("surrogate") != std::string::npos || what.find("UTF-8") != std::string::npos)
      return Status::InvalidArgument("invalid_utf8", "invalid Unicode in a string: " + what);
    return Status::InvalidArgument("malformed_json", what);
  } catch (const json::exception& err) {
    // Not only parse_error: a number too large for a double ("1E400") is out_of_range (406).
    // Found by tests/fuzz/fuzz_event_json; uncaught, it reached the server as a 500 and
    // terminated `convledger append`.
    return Status::InvalidArgument("malformed_json", err.what());
  }
}

}  // namespace

Result<Event> ParseEventJson(std::string_view text) {
  if (text.size() > kMaxEventJsonBytes)
    return Status::InvalidArgument("field_too_large", "an event is limited to " +
                                                          std::to_string(kMaxEventJsonBytes) +
                                                          " bytes of JSON");
  auto j = ParseText(text);
  if (!j.ok()) return j.status();
  Event e;
  if (Status st = ParseEventObject(*j, "", &e); !st.ok()) return st;
  return e;
}

Result<std::vector<Event>> ParseEventsJson(std::string_view text, bool* is_batch) {
  auto j = ParseText(text);
  if (!j.ok()) return j.status();
  std::vector<Event> out;
  const bool batch = j->is_object() && j->contains("events");
  if (is_batch != nullptr) *is_batch = batch;
  if (batch) {
    FieldReader r(*j, "");
    const json* arr = nullptr;
    if (Status st = r.Array("events", SIZE_MAX, &arr); !st.ok()) return st;
    if (Status st = r.NoUnknown(); !st.ok()) return st;
    if (!arr || arr->empty())
      return Status::InvalidArgument("empty_batch", "events: a batch needs at least one event");
    if (arr->size() > kMaxBatchEvents)
      return Status::InvalidArgument("batch_too_large",
                                     "events: a batch is limited to " +
                                         std::to_string(kMaxBatchEvents) + " events");
    out.reserve(arr->size());
    for (size_t i = 0; i < arr->size(); ++i) {
      Event e;
      if (Status st = ParseEventObject((*arr)[i], "events[" + std::to_string(i) + "]", &e);
          !st.ok())
        return st;
      out.push_back(std::move(e));
    }
    return out;
  }
  Event e;
  if (Status st = ParseEventObject(*j, "", &e); !st.ok()) return st;
  out.push_back(std::move(e));
  return out;
}

namespace {

json ContentToJson(const Event& e) {
  json c = json::object();
  // Content that cannot be shown says why: still sealed (not opened), or gone for good.
  switch (e.content_access) {
    case ContentAccess::kSealed:
      c["sealed"] = true;
      return c;
    case ContentAccess::kRedacted:
      c["redacted"] = true;
      return c;
    case ContentAccess::kErased:
      c["erased"] = true;
      return c;
    default:
      break;
  }
  if (!e.content) return c;
  if (!e.content->text.empty()) c["text"] = e.content->text;
  if (!e.content->media.empty()) c["media"] = MediaToJson<json>(e.content->media);
  return c;
}

}  // namespace

std::string EventToJson(const Event& e) {
  nlohmann::ordered_json j;
  j["global_seq"] = e.global_seq;
  j["conversation_id"] = e.conversation_id;
  j["conversation_seq"] = e.conversation_seq;
  j["type"] = ToString(e.type);
  j["event_id"] = FormatEventId(e.event_id);
  if (!e.idempotency_key.empty()) j["idempotency_key"] = e.idempotency_key;
  if (e.occurred_at_us) j["occurred_at"] = FormatRfc3339(*e.occurred_at_us);
  j["recorded_at"] = FormatRfc3339(e.recorded_at_us);
  nlohmann::ordered_json actor;
  actor["kind"] = ToString(e.actor.kind);
  actor["id"] = e.actor.id;
  if (!e.actor.display.empty()) actor["display"] = e.actor.display;
  j["actor"] = std::move(actor);
  if (e.channel != Channel::kUnknown) j["channel"] = ToString(e.channel);
  if (!e.tenant.empty()) j["tenant"] = e.tenant;
  if (e.evidence != Digest{}) j["evidence"] = HexDigest(e.evidence);
  if (!e.subject.empty() && e.type != EventType::kErasureRefused) j["subject"] = e.subject;
  if (NamesMessage(e.type)) j["message_id"] = e.message_id;
  switch (e.type) {
    case EventType::kMessageSent:
      j["direction"] = ToString(e.direction);
      if (e.content || e.content_access != ContentAccess::kPlain) j["content"] = ContentToJson(e);
      if (!e.reply_to.empty()) j["reply_to"] = e.reply_to;
      if (!e.kind.empty()) j["kind"] = e.kind;
      if (e.template_) {
        nlohmann::ordered_json t;
        t["name"] = e.template_->name;
        if (!e.template_->language.empty()) t["language"] = e.template_->language;
        if (!e.template_->category.empty()) t["category"] = e.template_->category;
        if (!e.template_->parameters.empty()) t["parameters"] = e.template_->parameters;
        j["template"] = std::move(t);
      }
      break;
    case EventType::kMessageEdited:
      j["content"] = ContentToJson(e);
      if (!e.reason.empty()) j["reason"] = e.reason;
      break;
    case EventType::kMessageDeleted:
      j["scope"] = ToString(e.scope);
      if (!e.reason_code.empty()) j["reason_code"] = e.reason_code;
      if (!e.reason.empty()) j["reason"] = e.reason;
      break;
    case EventType::kMessageCorrected:
      j["replacement_message_id"] = e.replacement_message_id;
      j["reason_code"] = e.reason_code;
      if (!e.explanation.empty()) j["explanation"] = e.explanation;
      break;
    case EventType::kMessageRedacted:
      j["reason"] = e.reason;
      if (e.override_hold) j["override_hold"] = true;
      break;
    case EventType::kSubjectErased:
      j["reason"] = e.reason;
      if (e.override_hold) j["override_hold"] = true;
      break;
    case EventType::kErasureRefused:
      j["refused"] = ToString(e.refused);
      if (!e.message_id.empty()) j["message_id"] = e.message_id;
      j["subject"] = e.subject;
      if (!e.reason.empty()) j["reason"] = e.reason;
      j["case_ref"] = e.case_ref;
      break;
    case EventType::kMessageStatus:
      j["status"] = ToString(e.status);
      if (!e.error_code.empty() || !e.error_title.empty()) {
        nlohmann::ordered_json err;
        if (!e.error_code.empty()) err["code"] = e.error_code;
        if (!e.error_title.empty()) err["title"] = e.error_title;
        j["error"] = std::move(err);
      }
      break;
    case EventType::kMessageReaction:
      if (!e.emoji.empty()) j["emoji"] = e.emoji;
      j["action"] = ToString(e.action);
      break;
    case EventType::kConsentChanged:
      j["consent"] = ToString(e.consent);
      j["scope"] = e.consent_scope;
      if (!e.source.empty()) j["source"] = e.source;
      break;
    case EventType::kLegalHoldChanged:
      j["hold"] = ToString(e.hold);
      j["case_ref"] = e.case_ref;
      if (e.hold_scope != HoldScope::kConversation) j["scope"] = ToString(e.hold_scope);
      break;
    case EventType::kNoteAdded:
      if (e.content_access == ContentAccess::kSealed)
        j["text_sealed"] = true;
      else if (e.content_access == ContentAccess::kRedacted)
        j["text_redacted"] = true;
      else if (e.content_access == ContentAccess::kErased)
        j["text_erased"] = true;
      else
        j["text"] = e.content ? e.content->text : std::string();
      break;
  }
  j["prev_hash"] = HexDigest(e.prev_hash);
  j["hash"] = HexDigest(e.hash);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

}  // namespace convledger
