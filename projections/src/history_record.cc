#include "history_record.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <limits>
#include <map>
#include <utility>

#include "channel_rules.h"
#include "history_codec.h"
#include "ledger/content.h"
#include "state_keys.h"

namespace convledger::projections::history {
namespace {

constexpr uint8_t kMessageFormat = 2;  // 2: sealed bytes, override_hold

// Platform order: the source's timestamp, ties broken by the order of recording.
bool PlatformLess(const Ref& a, const Ref& b) {
  if (a.occurred != b.occurred) return a.occurred < b.occurred;
  return a.cseq < b.cseq;
}

template <typename T>
void InsertInPlatformOrder(std::vector<T>& v, T item) {
  auto it = std::upper_bound(v.begin(), v.end(), item,
                             [](const T& a, const T& b) { return PlatformLess(a.ref, b.ref); });
  v.insert(it, std::move(item));
}

// For a list in platform order: whether each entry was recorded after an entry of the same list
// that happened later (the order of recording differs from the platform's).
template <typename T>
std::vector<bool> OutOfOrder(const std::vector<T>& v) {
  std::vector<bool> out(v.size(), false);
  uint64_t min_after = std::numeric_limits<uint64_t>::max();
  for (size_t i = v.size(); i-- > 0;) {
    out[i] = min_after < v[i].ref.cseq;
    min_after = std::min(min_after, v[i].ref.cseq);
  }
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool Blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

int StatusRank(Delivery d) {
  switch (d) {
    case Delivery::kSent:
      return 1;
    case Delivery::kDelivered:
      return 2;
    case Delivery::kRead:
      return 3;
    default:
      return 0;  // failed, unknown
  }
}

void RedactContent(ContentRec& c) {
  c.redacted = true;
  if (c.sealed) return;
  c.text = kRedacted;
  for (Media& m : c.media) {
    for (std::string* s : {&m.caption, &m.reference, &m.filename})
      if (!s->empty()) *s = kRedacted;
  }
}

void RedactAll(MessageRec& m) {
  for (VersionRec& v : m.versions) RedactContent(v.content);
  if (m.original)
    for (std::string& p : m.original->tmpl.parameters) p = kRedacted;
}

Ptr PtrOfRef(const Ref& r, EventType type) {
  Ptr p;
  p.cseq = r.cseq;
  p.gseq = r.gseq;
  p.occurred = r.occurred;
  p.type = type;
  return p;
}

// ---- binary codec ----

void Put(Writer& w, const Actor& a) {
  w.Byte(static_cast<uint8_t>(a.kind));
  w.Str(a.id);
  w.Str(a.display);
}
void Get(Reader& r, Actor* a) {
  a->kind = static_cast<ActorKind>(r.Byte());
  a->id = r.Str();
  a->display = r.Str();
}
void Put(Writer& w, const Ref& x) {
  Put(w, x.actor);
  w.U64(x.cseq);
  w.U64(x.gseq);
  w.I64(x.occurred);
  w.I64(x.recorded);
}
void Get(Reader& r, Ref* x) {
  Get(r, &x->actor);
  x->cseq = r.U64();
  x->gseq = r.U64();
  x->occurred = r.I64();
  x->recorded = r.I64();
}
void Put(Writer& w, const ContentRec& c) {
  w.Bool(c.sealed);
  w.Bool(c.redacted);
  w.Str(c.text);
  w.U64(c.media.size());
  for (const Media& m : c.media) {
    w.Str(m.mime);
    w.U64(m.size);
    w.Str(m.sha256);
    w.Str(m.caption);
    w.Str(m.reference);
    w.Str(m.filename);
  }
  w.Str(c.sealed_bytes);
}
void Get(Reader& r, ContentRec* c) {
  c->sealed = r.Bool();
  c->redacted = r.Bool();
  c->text = r.Str();
  c->media.resize(r.Count());
  for (Media& m : c->media) {
    m.mime = r.Str();
    m.size = r.U64();
    m.sha256 = r.Str();
    m.caption = r.Str();
    m.reference = r.Str();
    m.filename = r.Str();
  }
  c->sealed_bytes = r.Str();
}
void Put(Writer& w, const OriginalRec& o) {
  Put(w, o.ref);
  w.Byte(static_cast<uint8_t>(o.channel));
  w.Byte(static_cast<uint8_t>(o.direction));
  w.Str(o.reply_to);
  w.Bool(o.has_template);
  w.Str(o.tmpl.name);
  w.Str(o.tmpl.language);
  w.Str(o.tmpl.category);
  w.U64(o.tmpl.parameters.size());
  for (const std::string& p : o.tmpl.parameters) w.Str(p);
  w.Bool(o.params_sealed);
  w.Bool(o.consent.known);
  PutPtr(w, o.consent.ptr);
  w.Str(o.consent.scope);
  w.Str(o.consent.state);
  w.Str(o.consent.source);
}
void Get(Reader& r, OriginalRec* o) {
  Get(r, &o->ref);
  o->channel = static_cast<Channel>(r.Byte());
  o->direction = static_cast<Direction>(r.Byte());
  o->reply_to = r.Str();
  o->has_template = r.Bool();
  o->tmpl.name = r.Str();
  o->tmpl.language = r.Str();
  o->tmpl.category = r.Str();
  o->tmpl.parameters.resize(r.Count());
  for (std::string& p : o->tmpl.parameters) p = r.Str();
  o->params_sealed = r.Bool();
  o->consent.known = r.Bool();
  GetPtr(r, &o->consent.ptr);
  o->consent.scope = r.Str();
  o->consent.state = r.Str();
  o->consent.source = r.Str();
}

template <typename T, typename F>
void PutList(Writer& w, const std::vector<T>& v, F put) {
  w.U64(v.size());
  for (const T& x : v) put(x);
}
template <typename T, typename F>
void GetList(Reader& r, std::vector<T>* v, F get) {
  v->resize(r.Count());
  for (T& x : *v) get(&x);
}

// ---- derived: channel windows ----

struct WindowCheck {
  bool known = false;  // false when the original is unknown
  bool outside = false;
  std::string_view channel;
  int64_t elapsed = 0;
  int64_t window = 0;
  std::string_view rule;
};

// A change (edit, or deletion for everyone) against the channel's own window, measured from
// the original's occurred_at to the change's.
WindowCheck CheckWindow(const std::optional<OriginalRec>& original, const Ref& change,
                        bool is_edit) {
  WindowCheck w;
  if (!original) return w;
  w.known = true;
  const ChannelRules& r = RulesFor(original->channel);
  w.channel = ToString(original->channel);
  w.elapsed = change.occurred - original->ref.occurred;
  const bool allowed = is_edit ? r.can_edit : r.can_delete_for_everyone;
  w.window = is_edit ? r.edit_window_us : r.delete_window_us;
  if (!allowed) {
    w.outside = true;
    w.rule = is_edit ? "channel_cannot_edit" : "channel_cannot_delete_for_everyone";
  } else if (w.window > 0 && w.elapsed > w.window) {
    w.outside = true;
    w.rule = is_edit ? "edit_window_exceeded" : "delete_window_exceeded";
  }
  return w;
}

void WriteWindowDetail(JsonOut& j, const WindowCheck& w) {
  j.BeginObject();
  j.Key("channel");
  j.String(w.channel);
  j.Key("elapsed_us");
  j.Int(w.elapsed);
  j.Key("rule");
  j.String(w.rule);
  j.Key("window_us");
  j.Int(w.window);
  j.EndObject();
}

// ---- flags ----

class Flags {
 public:
  explicit Flags(const std::string& message_id) : id_(message_id) {}
  // `raised`: the events that raised it; `detail` writes one JSON object.
  void Add(std::string_view type, std::vector<Ptr> raised,
           const std::function<void(JsonOut&)>& detail) {
    std::sort(raised.begin(), raised.end(),
              [](const Ptr& a, const Ptr& b) { return a.cseq < b.cseq; });
    raised.erase(std::unique(raised.begin(), raised.end(),
                             [](const Ptr& a, const Ptr& b) { return a.cseq == b.cseq; }),
                 raised.end());
    FlagOut f;
    keys::PutBe64(&f.key, raised.back().cseq);
    f.key.append(type);
    f.key.push_back('\0');
    keys::PutBe64(&f.key, raised.front().cseq);
    f.key.append(id_);
    JsonOut j(&f.json);
    j.BeginObject();
    j.Key("detail");
    detail(j);
    j.Key("message_id");
    j.String(id_);
    j.Key("raised_by");
    j.BeginArray();
    for (const Ptr& p : raised) WritePtr(j, p);
    j.EndArray();
    j.Key("type");
    j.String(type);
    j.EndObject();
    out_.push_back(std::move(f));
  }
  std::vector<FlagOut> Take() {
    std::sort(out_.begin(), out_.end(),
              [](const FlagOut& a, const FlagOut& b) { return a.key < b.key; });
    return std::move(out_);
  }

 private:
  const std::string& id_;
  std::vector<FlagOut> out_;
};

// The fields every entry shares, written in sorted order among the entry's own keys by the
// callers: actor, conversation_seq, global_seq, occurred_at, occurred_at_us, recorded_at.
void Occurred(JsonOut& j, const Ref& r) {
  j.Key("occurred_at");
  j.Time(r.occurred);
  j.Key("occurred_at_us");
  j.Int(r.occurred);
}
void Seqs(JsonOut& j, const Ref& r) {
  j.Key("conversation_seq");
  j.Uint(r.cseq);
}
void Global(JsonOut& j, const Ref& r) {
  j.Key("global_seq");
  j.Uint(r.gseq);
}
void Recorded(JsonOut& j, const Ref& r) {
  j.Key("recorded_at");
  j.Time(r.recorded);
}
void ActorKey(JsonOut& j, const Ref& r) {
  j.Key("actor");
  WriteActor(j, r.actor);
}

void WriteLink(JsonOut& j, const LinkRec& l, bool corrected_by) {
  j.BeginObject();
  ActorKey(j, l.ref);
  Seqs(j, l.ref);
  j.Key("explanation");
  j.String(l.explanation);
  Global(j, l.ref);
  if (!corrected_by) {
    j.Key("message_id");
    j.String(l.other_id);
  }
  Occurred(j, l.ref);
  j.Key("reason_code");
  j.String(l.reason_code);
  Recorded(j, l.ref);
  if (corrected_by) {
    j.Key("replacement_message_id");
    j.String(l.other_id);
  }
  j.EndObject();
}

}  // namespace

// ---- codec ----

void EncodeMessage(const MessageRec& m, std::string* out) {
  Writer w(out);
  w.Byte(kMessageFormat);
  w.Str(m.id);
  w.Bool(m.original.has_value());
  if (m.original) Put(w, *m.original);
  PutList(w, m.versions, [&](const VersionRec& v) {
    Put(w, v.ref);
    w.Bool(v.original);
    Put(w, v.content);
    w.Str(v.reason);
  });
  PutList(w, m.deletions, [&](const DeletionRec& d) {
    Put(w, d.ref);
    w.Byte(static_cast<uint8_t>(d.scope));
    w.Str(d.reason_code);
    w.Str(d.reason);
    w.I64(d.deadline);
    w.Bool(d.window_passed);
    PutPtr(w, d.window_passed_by);
  });
  for (const auto* links : {&m.corrected_by, &m.corrects}) {
    PutList(w, *links, [&](const LinkRec& l) {
      Put(w, l.ref);
      w.Str(l.other_id);
      w.Str(l.reason_code);
      w.Str(l.explanation);
    });
  }
  PutList(w, m.redactions, [&](const RedactionRec& x) {
    Put(w, x.ref);
    w.Str(x.reason);
    w.Bool(x.override_hold);
  });
  PutList(w, m.statuses, [&](const StatusRec& s) {
    Put(w, s.ref);
    w.Byte(static_cast<uint8_t>(s.status));
    w.Str(s.error_code);
    w.Str(s.error_title);
  });
  PutList(w, m.reactions, [&](const ReactionRec& x) {
    Put(w, x.ref);
    w.Byte(static_cast<uint8_t>(x.action));
    w.Str(x.emoji);
  });
  PutList(w, m.replies, [&](const ReplyRec& x) {
    Put(w, x.ref);
    w.Str(x.message_id);
    w.Byte(static_cast<uint8_t>(x.direction));
  });
  PutList(w, m.cseqs, [&](uint64_t s) { w.U64(s); });
  PutList(w, m.flag_keys, [&](const std::string& k) { w.Str(k); });
  w.U64(m.rendered_bytes);
}

bool DecodeMessage(std::string_view in, MessageRec* m) {
  Reader r(in);
  if (r.Byte() != kMessageFormat) return false;
  m->id = r.Str();
  if (r.Bool()) {
    m->original.emplace();
    Get(r, &*m->original);
  } else {
    m->original.reset();
  }
  GetList(r, &m->versions, [&](VersionRec* v) {
    Get(r, &v->ref);
    v->original = r.Bool();
    Get(r, &v->content);
    v->reason = r.Str();
  });
  GetList(r, &m->deletions, [&](DeletionRec* d) {
    Get(r, &d->ref);
    d->scope = static_cast<DeleteScope>(r.Byte());
    d->reason_code = r.Str();
    d->reason = r.Str();
    d->deadline = r.I64();
    d->window_passed = r.Bool();
    GetPtr(r, &d->window_passed_by);
  });
  for (auto* links : {&m->corrected_by, &m->corrects}) {
    GetList(r, links, [&](LinkRec* l) {
      Get(r, &l->ref);
      l->other_id = r.Str();
      l->reason_code = r.Str();
      l->explanation = r.Str();
    });
  }
  GetList(r, &m->redactions, [&](RedactionRec* x) {
    Get(r, &x->ref);
    x->reason = r.Str();
    x->override_hold = r.Bool();
  });
  GetList(r, &m->statuses, [&](StatusRec* s) {
    Get(r, &s->ref);
    s->status = static_cast<Delivery>(r.Byte());
    s->error_code = r.Str();
    s->error_title = r.Str();
  });
  GetList(r, &m->reactions, [&](ReactionRec* x) {
    Get(r, &x->ref);
    x->action = static_cast<ReactionAction>(r.Byte());
    x->emoji = r.Str();
  });
  GetList(r, &m->replies, [&](ReplyRec* x) {
    Get(r, &x->ref);
    x->message_id = r.Str();
    x->direction = static_cast<Direction>(r.Byte());
  });
  GetList(r, &m->cseqs, [&](uint64_t* s) { *s = r.U64(); });
  GetList(r, &m->flag_keys, [&](std::string* k) { *k = r.Str(); });
  m->rendered_bytes = r.U64();
  return r.ok() && r.done();
}

// ---- facts ----

int64_t OccurredUs(const Event& e) { return e.occurred_at_us.value_or(e.recorded_at_us); }

Ref RefOf(const Event& e) {
  Ref r;
  r.actor = e.actor;
  r.cseq = e.conversation_seq;
  r.gseq = e.global_seq;
  r.occurred = OccurredUs(e);
  r.recorded = e.recorded_at_us;
  return r;
}

Ptr PtrOf(const Event& e) { return PtrOfRef(RefOf(e), e.type); }

ContentRec ContentOf(const Event& e) {
  ContentRec c;
  // Sealed: only the ciphertext is kept, nothing derived from the content (not even sizes).
  if (e.sealed || e.content_sealing != Sealing::kNone) {
    c.sealed = true;
    if (e.sealed) c.sealed_bytes = SerializeSealed(*e.sealed);
    return c;
  }
  if (e.content) {
    c.text = e.content->text;
    c.media = e.content->media;
  }
  return c;
}

void AddSend(MessageRec& m, const Event& e, const ConsentSnap& consent) {
  m.cseqs.push_back(e.conversation_seq);
  if (m.original) return;
  OriginalRec o;
  o.ref = RefOf(e);
  o.channel = e.channel;
  o.direction = e.direction;
  o.reply_to = e.reply_to;
  if (e.template_) {
    o.has_template = true;
    o.tmpl = *e.template_;
    if (e.sealed || e.content_sealing != Sealing::kNone) {
      o.params_sealed = true;
      o.tmpl.parameters.clear();
    }
    o.consent = consent;
  }
  m.original = std::move(o);
  VersionRec v;
  v.ref = RefOf(e);
  v.original = true;
  v.content = ContentOf(e);
  m.versions.insert(m.versions.begin(), std::move(v));
  if (!m.redactions.empty()) RedactAll(m);
}

void AddEdit(MessageRec& m, const Event& e) {
  m.cseqs.push_back(e.conversation_seq);
  VersionRec v;
  v.ref = RefOf(e);
  v.content = ContentOf(e);
  v.reason = e.reason;
  if (!m.redactions.empty()) RedactContent(v.content);
  const auto first_edit = m.versions.begin() + (m.original ? 1 : 0);
  auto it = std::upper_bound(
      first_edit, m.versions.end(), v,
      [](const VersionRec& a, const VersionRec& b) { return PlatformLess(a.ref, b.ref); });
  m.versions.insert(it, std::move(v));
}

void AddDeletion(MessageRec& m, const Event& e, int64_t explanation_window_us,
                 const std::optional<Ptr>& passed_by) {
  m.cseqs.push_back(e.conversation_seq);
  DeletionRec d;
  d.ref = RefOf(e);
  d.scope = e.scope;
  d.reason_code = e.reason_code;
  d.reason = e.reason;
  if (e.scope == DeleteScope::kEveryone) {
    d.deadline = d.ref.occurred + explanation_window_us;
    if (passed_by) {
      d.window_passed = true;
      d.window_passed_by = *passed_by;
    }
  }
  InsertInPlatformOrder(m.deletions, std::move(d));
}

void AddCorrectedBy(MessageRec& wrong, const Event& c) {
  wrong.cseqs.push_back(c.conversation_seq);
  LinkRec l;
  l.ref = RefOf(c);
  l.other_id = c.replacement_message_id;
  l.reason_code = c.reason_code;
  l.explanation = c.explanation;
  InsertInPlatformOrder(wrong.corrected_by, std::move(l));
}

void AddCorrects(MessageRec& replacement, const Event& c) {
  LinkRec l;
  l.ref = RefOf(c);
  l.other_id = c.message_id;
  l.reason_code = c.reason_code;
  l.explanation = c.explanation;
  InsertInPlatformOrder(replacement.corrects, std::move(l));
}

void AddRedaction(MessageRec& m, const Event& e) {
  m.cseqs.push_back(e.conversation_seq);
  RedactionRec r;
  r.ref = RefOf(e);
  r.reason = e.reason;
  r.override_hold = e.override_hold;
  InsertInPlatformOrder(m.redactions, std::move(r));
  RedactAll(m);
}

void AddStatus(MessageRec& m, const Event& e) {
  m.cseqs.push_back(e.conversation_seq);
  StatusRec s;
  s.ref = RefOf(e);
  s.status = e.status;
  s.error_code = e.error_code;
  s.error_title = e.error_title;
  InsertInPlatformOrder(m.statuses, std::move(s));
}

void AddReaction(MessageRec& m, const Event& e) {
  m.cseqs.push_back(e.conversation_seq);
  ReactionRec r;
  r.ref = RefOf(e);
  r.action = e.action;
  r.emoji = e.emoji;
  InsertInPlatformOrder(m.reactions, std::move(r));
}

void AddReply(MessageRec& target, const Event& reply) {
  ReplyRec r;
  r.ref = RefOf(reply);
  r.message_id = reply.message_id;
  r.direction = reply.direction;
  InsertInPlatformOrder(target.replies, std::move(r));
}

void MarkWindowPassed(MessageRec& m, uint64_t deletion_cseq, const Ptr& evidence) {
  for (DeletionRec& d : m.deletions) {
    if (d.ref.cseq != deletion_cseq || d.scope != DeleteScope::kEveryone || d.window_passed)
      continue;
    d.window_passed = true;
    d.window_passed_by = evidence;
  }
}

// ---- JSON ----

void WriteActor(JsonOut& j, const Actor& a) {
  j.BeginObject();
  j.Key("display");
  j.String(a.display);
  j.Key("id");
  j.String(a.id);
  j.Key("kind");
  j.String(ToString(a.kind));
  j.EndObject();
}

void WritePtr(JsonOut& j, const Ptr& p) {
  j.BeginObject();
  j.Key("conversation_seq");
  j.Uint(p.cseq);
  j.Key("global_seq");
  j.Uint(p.gseq);
  j.Key("occurred_at");
  j.Time(p.occurred);
  j.Key("type");
  j.String(ToString(p.type));
  j.EndObject();
}

void WriteRemoval(JsonOut& j, const Ref& ref, EventType type, std::string_view reason,
                  bool override_hold) {
  j.BeginObject();
  j.Key("actor");
  WriteActor(j, ref.actor);
  j.Key("conversation_seq");
  j.Uint(ref.cseq);
  j.Key("global_seq");
  j.Uint(ref.gseq);
  j.Key("occurred_at");
  j.Time(ref.occurred);
  j.Key("override_hold");
  j.Bool(override_hold);
  j.Key("reason");
  j.String(reason);
  j.Key("recorded_at");
  j.Time(ref.recorded);
  j.Key("type");
  j.String(ToString(type));
  j.EndObject();
}

void WriteMarker(JsonOut& j, const Marker& m) {
  std::string payload;
  Writer w(&payload);
  w.Byte(static_cast<uint8_t>(m.kind));
  w.U64(m.cseq);
  w.Bool(m.sealed);
  w.Str(m.data);
  w.Bool(m.redacted);
  w.Str(m.removal);
  std::string raw(1, kMarkerByte);
  const auto n = static_cast<uint32_t>(payload.size());
  for (int i = 3; i >= 0; --i) raw.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  raw.append(payload);
  j.Raw(raw);
}

bool ReadMarker(std::string_view* in, MarkerView* m) {
  if (in->size() < 5 || (*in)[0] != kMarkerByte) return false;
  uint32_t n = 0;
  for (int i = 1; i <= 4; ++i) n = (n << 8) | static_cast<uint8_t>((*in)[i]);
  if (in->size() - 5 < n) return false;
  Reader r(in->substr(5, n));
  const uint8_t kind = r.Byte();
  if (kind != static_cast<uint8_t>(MarkerKind::kContent) &&
      kind != static_cast<uint8_t>(MarkerKind::kParameters))
    return false;
  m->kind = static_cast<MarkerKind>(kind);
  m->cseq = r.U64();
  m->sealed = r.Bool();
  m->data = r.View();
  m->redacted = r.Bool();
  m->removal = r.View();
  if (!r.ok() || !r.done()) return false;
  in->remove_prefix(5 + n);
  return true;
}

void WriteContent(JsonOut& j, const ContentRec& c, uint64_t cseq, const RedactionRec* redaction) {
  Marker mk;
  mk.kind = MarkerKind::kContent;
  mk.cseq = cseq;
  mk.sealed = c.sealed;
  mk.redacted = c.redacted;
  if (c.redacted && redaction) {
    JsonOut r(&mk.removal);
    WriteRemoval(r, redaction->ref, EventType::kMessageRedacted, redaction->reason,
                 redaction->override_hold);
  }
  if (c.sealed) {
    mk.data = c.sealed_bytes;
  } else {
    JsonOut d(&mk.data);
    WriteOpenContent(d, c);
  }
  WriteMarker(j, mk);
}

void WriteOpenContent(JsonOut& j, const ContentRec& c) {
  j.BeginObject();
  j.Key("media");
  j.BeginArray();
  for (const Media& m : c.media) {
    j.BeginObject();
    j.Key("caption");
    j.String(m.caption);
    j.Key("filename");
    j.String(m.filename);
    j.Key("mime");
    j.String(m.mime);
    j.Key("reference");
    j.String(m.reference);
    j.Key("sha256");
    j.String(m.sha256);
    j.Key("size");
    j.Uint(m.size);
    j.EndObject();
  }
  j.EndArray();
  if (c.redacted) {
    j.Key("redacted");
    j.Bool(true);
  }
  j.Key("text");
  j.String(c.text);
  j.EndObject();
}

void RenderMessage(const MessageRec& m, MessageView* out) {
  const std::optional<OriginalRec>& original = m.original;
  const bool has_original = original.has_value();
  const uint64_t original_cseq = has_original ? original->ref.cseq : 0;
  const int64_t original_us = has_original ? original->ref.occurred : 0;
  Flags flags(m.id);
  out->pending.clear();

  // ---- statuses: conflicts (a status going backwards in platform order) ----
  const size_t ns = m.statuses.size();
  std::vector<bool> conflict(ns, false);
  std::vector<size_t> conflicts_with(ns, 0);
  std::optional<Delivery> current_status;
  {
    int best_rank = 0;
    size_t best = 0;
    for (size_t i = 0; i < ns; ++i) {
      const Delivery st = m.statuses[i].status;
      const int rank = StatusRank(st);
      // failed after delivered/read, or sent/delivered after something higher: backwards.
      conflict[i] = st == Delivery::kFailed ? best_rank >= 2 : rank < best_rank;
      if (conflict[i]) {
        conflicts_with[i] = best;
        const StatusRec& before = m.statuses[best];
        const StatusRec& s = m.statuses[i];
        flags.Add("status_conflict",
                  {PtrOfRef(before.ref, EventType::kMessageStatus),
                   PtrOfRef(s.ref, EventType::kMessageStatus)},
                  [&](JsonOut& j) {
                    j.BeginObject();
                    j.Key("after");
                    j.String(ToString(before.status));
                    j.Key("status");
                    j.String(ToString(s.status));
                    j.EndObject();
                  });
        continue;
      }
      current_status = st;
      if (rank > best_rank) {
        best_rank = rank;
        best = i;
      }
    }
  }
  const std::vector<bool> status_ooo = OutOfOrder(m.statuses);
  // The earliest status at or before `t` (platform time) showing the customer had the message.
  auto first_status = [&](int64_t t, bool read_only) -> const StatusRec* {
    for (const StatusRec& s : m.statuses) {
      if (s.ref.occurred > t) break;
      if (s.status == Delivery::kRead || (!read_only && s.status == Delivery::kDelivered))
        return &s;
    }
    return nullptr;
  };

  // ---- versions ----
  const std::vector<bool> version_ooo = OutOfOrder(m.versions);
  std::vector<WindowCheck> version_window(m.versions.size());
  size_t edits = 0;
  for (size_t i = 0; i < m.versions.size(); ++i) {
    const VersionRec& v = m.versions[i];
    if (v.original) continue;
    ++edits;
    const WindowCheck w = CheckWindow(original, v.ref, true);
    version_window[i] = w;
    if (w.outside) {
      flags.Add("edit_outside_window",
                {PtrOfRef(original->ref, EventType::kMessageSent),
                 PtrOfRef(v.ref, EventType::kMessageEdited)},
                [&](JsonOut& j) { WriteWindowDetail(j, w); });
    }
    if (const StatusRec* read = first_status(v.ref.occurred, true)) {
      flags.Add("edited_after_read",
                {PtrOfRef(read->ref, EventType::kMessageStatus),
                 PtrOfRef(v.ref, EventType::kMessageEdited)},
                [&](JsonOut& j) {
                  j.BeginObject();
                  j.Key("edited_at");
                  j.Time(v.ref.occurred);
                  j.Key("read_at");
                  j.Time(read->ref.occurred);
                  j.EndObject();
                });
    }
  }

  // ---- deletions ----
  struct DeletionView {
    bool received = false, read = false;
    WindowCheck window;
    std::string_view status;
    const LinkRec* correction = nullptr;
  };
  const std::vector<bool> deletion_ooo = OutOfOrder(m.deletions);
  std::vector<DeletionView> dv(m.deletions.size());
  bool deleted = false, hidden = false;
  for (size_t i = 0; i < m.deletions.size(); ++i) {
    const DeletionRec& d = m.deletions[i];
    DeletionView& x = dv[i];
    const bool everyone = d.scope == DeleteScope::kEveryone;
    deleted |= everyone;
    hidden |= !everyone;
    const StatusRec* read = first_status(d.ref.occurred, true);
    x.received = first_status(d.ref.occurred, false) != nullptr;
    x.read = read != nullptr;
    if (!everyone) {
      x.status = "not_required";
      continue;
    }
    x.window = CheckWindow(original, d.ref, false);
    if (x.window.outside) {
      flags.Add("delete_outside_window",
                {PtrOfRef(original->ref, EventType::kMessageSent),
                 PtrOfRef(d.ref, EventType::kMessageDeleted)},
                [&](JsonOut& j) { WriteWindowDetail(j, x.window); });
    }
    if (read) {
      flags.Add("deleted_after_read",
                {PtrOfRef(read->ref, EventType::kMessageStatus),
                 PtrOfRef(d.ref, EventType::kMessageDeleted)},
                [&](JsonOut& j) {
                  j.BeginObject();
                  j.Key("deleted_at");
                  j.Time(d.ref.occurred);
                  j.Key("read_at");
                  j.Time(read->ref.occurred);
                  j.EndObject();
                });
    }
    // A reason text, or a correction whose occurred_at is within the window, explains it. A
    // correction after the deadline never does; until a recorded event shows the deadline
    // passed, the outcome is "pending" (the fold reads no clock).
    for (const LinkRec& c : m.corrected_by) {
      if (c.ref.occurred <= d.deadline) {
        x.correction = &c;
        break;
      }
    }
    if (!Blank(d.reason)) {
      x.status = "reason_given";
    } else if (x.correction) {
      x.status = "corrected";
    } else if (d.window_passed) {
      x.status = "missing";
      flags.Add("deleted_without_explanation",
                {PtrOfRef(d.ref, EventType::kMessageDeleted), d.window_passed_by}, [&](JsonOut& j) {
                  j.BeginObject();
                  j.Key("deadline");
                  j.Time(d.deadline);
                  j.Key("reason_code");
                  j.String(d.reason_code);
                  j.EndObject();
                });
    } else {
      x.status = "pending";
      out->pending.push_back(PendingOut{d.ref.cseq, d.ref.gseq, d.deadline});
    }
  }

  // ---- marketing template without opt-in (consent as held when the send was recorded) ----
  if (has_original && original->has_template && Lower(original->tmpl.category) == "marketing") {
    const ConsentSnap& c = original->consent;
    const std::string state = c.known ? c.state : std::string("none");
    if (state != "opt_in") {
      std::vector<Ptr> raised = {PtrOfRef(original->ref, EventType::kMessageSent)};
      if (c.known) raised.push_back(c.ptr);
      flags.Add("marketing_without_opt_in", std::move(raised), [&](JsonOut& j) {
        j.BeginObject();
        j.Key("consent");
        j.String(state);
        j.Key("template");
        j.String(original->tmpl.name);
        j.EndObject();
      });
    }
  }

  // ---- failed delivery never retried ----
  // The last failure (platform order) that is not itself a conflict (a failure reported after
  // delivered/read is a status going backwards, not an undelivered message) counts as retried
  // when the platform later reports the message sent, delivered or read; or the message was
  // corrected (its replacement is the retry); or a later outbound message replies to it.
  {
    const StatusRec* failed = nullptr;
    for (size_t i = 0; i < ns; ++i)
      if (m.statuses[i].status == Delivery::kFailed && !conflict[i]) failed = &m.statuses[i];
    if (failed) {
      const int64_t t = failed->ref.occurred;
      bool retried = !m.corrected_by.empty();
      for (const StatusRec& s : m.statuses)
        retried |= StatusRank(s.status) > 0 && s.ref.occurred > t;
      for (const ReplyRec& r : m.replies)
        retried |= r.direction == Direction::kOutbound && r.ref.occurred > t;
      if (!retried) {
        flags.Add("failed_never_retried", {PtrOfRef(failed->ref, EventType::kMessageStatus)},
                  [&](JsonOut& j) {
                    j.BeginObject();
                    j.Key("error");
                    j.BeginObject();
                    j.Key("code");
                    j.String(failed->error_code);
                    j.Key("title");
                    j.String(failed->error_title);
                    j.EndObject();
                    j.EndObject();
                  });
      }
    }
  }
  // ---- redacted despite a legal hold (the operator's explicit override, recorded) ----
  for (const RedactionRec& r : m.redactions) {
    if (!r.override_hold) continue;
    flags.Add("redacted_despite_hold", {PtrOfRef(r.ref, EventType::kMessageRedacted)},
              [&](JsonOut& j) {
                j.BeginObject();
                j.Key("reason");
                j.String(r.reason);
                j.EndObject();
              });
  }
  out->flags = flags.Take();

  // ---- reactions: the current one per actor ----
  const std::vector<bool> reaction_ooo = OutOfOrder(m.reactions);
  std::map<std::pair<uint8_t, std::string>, const ReactionRec*> current_reactions;
  for (const ReactionRec& r : m.reactions) {
    const auto key = std::make_pair(static_cast<uint8_t>(r.ref.actor.kind), r.ref.actor.id);
    if (r.action == ReactionAction::kAdd) {
      current_reactions[key] = &r;
    } else if (auto it = current_reactions.find(key);
               it != current_reactions.end() && (r.emoji.empty() || it->second->emoji == r.emoji)) {
      current_reactions.erase(it);
    }
  }

  // ---- the JSON, keys in sorted order ----
  std::string& s = out->json;
  s.clear();
  s.reserve(m.rendered_bytes + 256);
  JsonOut j(&s);
  j.BeginObject();
  j.Key("channel");
  if (has_original)
    j.String(ToString(original->channel));
  else
    j.Null();
  j.Key("conversation_seqs");
  j.BeginArray();
  for (uint64_t c : m.cseqs) j.Uint(c);
  j.EndArray();
  j.Key("corrected_by");
  j.BeginArray();
  for (const LinkRec& l : m.corrected_by) WriteLink(j, l, true);
  j.EndArray();
  j.Key("corrects");
  j.BeginArray();
  for (const LinkRec& l : m.corrects) WriteLink(j, l, false);
  j.EndArray();
  j.Key("current_content");
  if (m.versions.empty())
    j.Null();
  else
    WriteContent(j, m.versions.back().content, m.versions.back().ref.cseq,
                 m.redactions.empty() ? nullptr : &m.redactions.front());
  j.Key("deleted");
  j.Bool(deleted);
  j.Key("deletions");
  j.BeginArray();
  for (size_t i = 0; i < m.deletions.size(); ++i) {
    const DeletionRec& d = m.deletions[i];
    const DeletionView& x = dv[i];
    const bool everyone = d.scope == DeleteScope::kEveryone;
    j.BeginObject();
    ActorKey(j, d.ref);
    Seqs(j, d.ref);
    j.Key("customer_had_read");
    j.Bool(x.read);
    j.Key("customer_had_received");
    j.Bool(x.received);
    j.Key("explanation");
    j.BeginObject();
    if (everyone) {
      j.Key("correction");
      if (x.correction)
        WritePtr(j, PtrOfRef(x.correction->ref, EventType::kMessageCorrected));
      else
        j.Null();
      j.Key("deadline");
      j.Time(d.deadline);
      j.Key("deadline_us");
      j.Int(d.deadline);
    }
    j.Key("status");
    j.String(x.status);
    if (everyone) {
      j.Key("window_passed_by");
      if (d.window_passed)
        WritePtr(j, d.window_passed_by);
      else
        j.Null();
    }
    j.EndObject();
    Global(j, d.ref);
    Occurred(j, d.ref);
    j.Key("out_of_order");
    j.Bool(deletion_ooo[i]);
    j.Key("outside_window");
    if (!everyone)
      j.Bool(false);  // hiding on the agent side is always possible
    else if (x.window.known)
      j.Bool(x.window.outside);
    else
      j.Null();
    j.Key("reason");
    j.String(d.reason);
    j.Key("reason_code");
    j.String(d.reason_code);
    Recorded(j, d.ref);
    j.Key("scope");
    j.String(ToString(d.scope));
    j.Key("seconds_after_sent");
    if (has_original)
      j.Int((d.ref.occurred - original_us) / 1000000);
    else
      j.Null();
    j.Key("us_after_sent");
    if (has_original)
      j.Int(d.ref.occurred - original_us);
    else
      j.Null();
    j.EndObject();
  }
  j.EndArray();
  j.Key("direction");
  if (has_original)
    j.String(ToString(original->direction));
  else
    j.Null();
  j.Key("edited");
  j.Bool(edits > 0);
  j.Key("flags");
  j.BeginArray();
  for (const FlagOut& f : out->flags) j.Raw(f.json);
  j.EndArray();
  j.Key("hidden_agent_side");
  j.Bool(hidden);
  j.Key("message_id");
  j.String(m.id);
  j.Key("original");
  if (!has_original) {
    j.Null();
  } else {
    const OriginalRec& o = *original;
    j.BeginObject();
    ActorKey(j, o.ref);
    j.Key("channel");
    j.String(ToString(o.channel));
    j.Key("consent_at_send");
    if (!o.has_template) {
      j.Null();
    } else {
      j.BeginObject();
      if (o.consent.known) {
        j.Key("conversation_seq");
        j.Uint(o.consent.ptr.cseq);
        j.Key("global_seq");
        j.Uint(o.consent.ptr.gseq);
        j.Key("occurred_at");
        j.Time(o.consent.ptr.occurred);
        j.Key("scope");
        j.String(o.consent.scope);
        j.Key("source");
        j.String(o.consent.source);
        j.Key("state");
        j.String(o.consent.state);
        j.Key("type");
        j.String(ToString(o.consent.ptr.type));
      } else {
        j.Key("scope");
        j.String("marketing");
        j.Key("state");
        j.String("none");
      }
      j.EndObject();
    }
    Seqs(j, o.ref);
    j.Key("direction");
    j.String(ToString(o.direction));
    Global(j, o.ref);
    Occurred(j, o.ref);
    Recorded(j, o.ref);
    j.Key("reply_to");
    if (o.reply_to.empty())
      j.Null();
    else
      j.String(o.reply_to);
    j.Key("template");
    if (!o.has_template) {
      j.Null();
    } else {
      j.BeginObject();
      j.Key("category");
      j.String(o.tmpl.category);
      j.Key("language");
      j.String(o.tmpl.language);
      j.Key("name");
      j.String(o.tmpl.name);
      j.Key("parameters");
      {
        Marker mk;
        mk.kind = MarkerKind::kParameters;
        mk.cseq = o.ref.cseq;
        mk.redacted = !m.redactions.empty();
        const VersionRec* first = !m.versions.empty() && m.versions.front().original
                                      ? &m.versions.front()
                                      : nullptr;
        mk.sealed = o.params_sealed;
        if (o.params_sealed) {
          if (first) mk.data = first->content.sealed_bytes;
        } else {
          JsonOut d(&mk.data);
          d.BeginArray();
          for (const std::string& p : o.tmpl.parameters) d.String(p);
          d.EndArray();
        }
        WriteMarker(j, mk);
      }
      j.Key("parameters_sealed");
      j.Bool(o.params_sealed);
      j.EndObject();
    }
    j.EndObject();
  }
  j.Key("reactions");
  j.BeginArray();
  for (size_t i = 0; i < m.reactions.size(); ++i) {
    const ReactionRec& r = m.reactions[i];
    j.BeginObject();
    j.Key("action");
    j.String(ToString(r.action));
    ActorKey(j, r.ref);
    Seqs(j, r.ref);
    j.Key("emoji");
    j.String(r.emoji);
    Global(j, r.ref);
    Occurred(j, r.ref);
    j.Key("out_of_order");
    j.Bool(reaction_ooo[i]);
    Recorded(j, r.ref);
    j.EndObject();
  }
  j.EndArray();
  j.Key("reactions_current");
  j.BeginArray();
  for (const auto& [key, r] : current_reactions) {
    j.BeginObject();
    ActorKey(j, r->ref);
    Seqs(j, r->ref);
    j.Key("emoji");
    j.String(r->emoji);
    Global(j, r->ref);
    j.Key("occurred_at");
    j.Time(r->ref.occurred);
    j.EndObject();
  }
  j.EndArray();
  j.Key("recorded_before_original");
  j.BeginArray();
  if (has_original)
    for (uint64_t c : m.cseqs)
      if (c < original_cseq) j.Uint(c);
  j.EndArray();
  j.Key("redacted");
  j.Bool(!m.redactions.empty());
  j.Key("redactions");
  j.BeginArray();
  for (const RedactionRec& r : m.redactions) {
    j.BeginObject();
    ActorKey(j, r.ref);
    Seqs(j, r.ref);
    Global(j, r.ref);
    Occurred(j, r.ref);
    j.Key("override_hold");
    j.Bool(r.override_hold);
    j.Key("reason");
    j.String(r.reason);
    Recorded(j, r.ref);
    j.EndObject();
  }
  j.EndArray();
  j.Key("replies");
  j.BeginArray();
  for (const ReplyRec& r : m.replies) {
    j.BeginObject();
    ActorKey(j, r.ref);
    Seqs(j, r.ref);
    j.Key("direction");
    j.String(ToString(r.direction));
    Global(j, r.ref);
    j.Key("message_id");
    j.String(r.message_id);
    Occurred(j, r.ref);
    Recorded(j, r.ref);
    j.EndObject();
  }
  j.EndArray();
  j.Key("status_current");
  if (current_status)
    j.String(ToString(*current_status));
  else
    j.Null();
  j.Key("statuses");
  j.BeginArray();
  for (size_t i = 0; i < ns; ++i) {
    const StatusRec& st = m.statuses[i];
    j.BeginObject();
    ActorKey(j, st.ref);
    j.Key("conflict");
    j.Bool(conflict[i]);
    j.Key("conflicts_with");
    if (conflict[i]) {
      WritePtr(j, PtrOfRef(m.statuses[conflicts_with[i]].ref, EventType::kMessageStatus));
    } else {
      j.Null();
    }
    Seqs(j, st.ref);
    j.Key("error");
    if (st.error_code.empty() && st.error_title.empty()) {
      j.Null();
    } else {
      j.BeginObject();
      j.Key("code");
      j.String(st.error_code);
      j.Key("title");
      j.String(st.error_title);
      j.EndObject();
    }
    Global(j, st.ref);
    Occurred(j, st.ref);
    j.Key("out_of_order");
    j.Bool(status_ooo[i]);
    Recorded(j, st.ref);
    j.Key("status");
    j.String(ToString(st.status));
    j.EndObject();
  }
  j.EndArray();
  j.Key("versions");
  j.BeginArray();
  for (size_t i = 0; i < m.versions.size(); ++i) {
    const VersionRec& v = m.versions[i];
    j.BeginObject();
    ActorKey(j, v.ref);
    j.Key("content");
    WriteContent(j, v.content, v.ref.cseq, m.redactions.empty() ? nullptr : &m.redactions.front());
    Seqs(j, v.ref);
    Global(j, v.ref);
    j.Key("kind");
    j.String(v.original ? "original" : "edit");
    Occurred(j, v.ref);
    j.Key("out_of_order");
    j.Bool(version_ooo[i]);
    j.Key("outside_window");
    if (v.original || !version_window[i].known)
      j.Null();
    else
      j.Bool(version_window[i].outside);
    j.Key("reason");
    if (v.original)
      j.Null();
    else
      j.String(v.reason);
    Recorded(j, v.ref);
    j.Key("recorded_before_original");
    j.Bool(has_original && v.ref.cseq < original_cseq);
    j.Key("version");
    j.Uint(i + 1);
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
}

void PutPtr(Writer& w, const Ptr& p) {
  w.U64(p.cseq);
  w.U64(p.gseq);
  w.I64(p.occurred);
  w.Byte(static_cast<uint8_t>(p.type));
}

void GetPtr(Reader& r, Ptr* p) {
  p->cseq = r.U64();
  p->gseq = r.U64();
  p->occurred = r.I64();
  p->type = static_cast<EventType>(r.Byte());
}

}  // namespace convledger::projections::history
