// The history projection: the dispute view of a conversation (docs/history.md).
//
// State layout (column family proj.history). Every key of a conversation starts with
// P = 'c' || ConvKey(conv): the tag byte keeps keys clear of the ledger's reserved 0x00 prefix,
// ConvKey's length prefix keeps conversations disjoint. A conversation is one contiguous range
// and depends only on its own events. After P, one tag byte; the tags sort in the order the
// rendered document needs them, so RenderHistory is one scan that concatenates stored JSON:
//
//   P 'a'                                 conversation record (binary): tenant, channels,
//                                         counts, current consent and holds, pending deadlines
//   P 'c' be64(conversation_seq)          JSON: one consent change
//   P 'f' be64(last) type 0 be64(first) id   JSON: one raised flag (ordered by the
//                                         conversation_seq of the event that completed it)
//   P 'h' be64(conversation_seq)          JSON: one legal hold placed or released
//   P 'i' message_id                      order(16) || binary message record (the fold's state)
//   P 'm' order(16)                       JSON: one message, as rendered
//   P 'n' be64(conversation_seq)          JSON: one internal note
//   P 'p' be64(occurred ^ sign) be64(conversation_seq)   platform-order index (empty value)
//   P 't' be64(conversation_seq)          JSON: one timeline entry
//
// order(16) = be64(occurred_at of the send, sign bit flipped) || be64(its conversation_seq):
// messages in the platform order of their sends, ties by recording. A message seen before its
// original (a status, an edit, a reply to it) is stored at the order of the first event that
// named it and moved once the original arrives.
//
// Each event writes a bounded number of keys: the conversation record, its timeline and
// platform-order entries, and for at most two messages their record, JSON and flags; a deletion
// whose explanation window closes costs one more message update, once. Nothing is parsed on
// either path: the fold decodes small binary records, the render concatenates JSON.
#include <algorithm>
#include <cctype>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "history_codec.h"
#include "history_json.h"
#include "history_record.h"
#include "ledger/content.h"
#include "opened_cache.h"
#include "projections/projections.h"
#include "state_keys.h"

namespace convledger::projections {
namespace {

using history::JsonOut;
using history::MessageRec;
using history::Ptr;
using history::Reader;
using history::Writer;

constexpr char kTagConversation = 'a';
constexpr char kTagConsent = 'c';
constexpr char kTagFlag = 'f';
constexpr char kTagHold = 'h';
constexpr char kTagIndex = 'i';
constexpr char kTagMessage = 'm';
constexpr char kTagNote = 'n';
constexpr char kTagPlatform = 'p';
constexpr char kTagTimeline = 't';
constexpr size_t kOrderBytes = 16;
constexpr uint8_t kConversationFormat = 2;  // 2: subject, hold scope, erasures, refusals

std::string Prefix(std::string_view conv) { return ConversationStatePrefix(conv); }

std::string Order(int64_t occurred_us, uint64_t conversation_seq) {
  std::string o;
  keys::PutBe64(&o, static_cast<uint64_t>(occurred_us) ^ (uint64_t{1} << 63));
  keys::PutBe64(&o, conversation_seq);
  return o;
}

std::string Key(const std::string& prefix, char tag, std::string_view rest = {}) {
  std::string k;
  k.reserve(prefix.size() + 1 + rest.size());
  k.append(prefix);
  k.push_back(tag);
  k.append(rest);
  return k;
}

std::string SeqKey(const std::string& prefix, char tag, uint64_t seq) {
  std::string rest;
  keys::PutBe64(&rest, seq);
  return Key(prefix, tag, rest);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Status CorruptState(const std::string& what) {
  return Status::Corruption("corrupt_state", "history state: " + what);
}

// ---- the conversation record ----

struct ConsentCur {
  std::string key;  // lower-cased scope
  Ptr ptr;
  std::string scope, state, source;
};
struct HoldCur {
  Ptr ptr;
  Actor actor;
  std::string case_ref;
  HoldScope scope = HoldScope::kConversation;
};
// A subject.erased event: content recorded before it (lower conversation_seq) shows "[erased]".
struct ErasureCur {
  uint64_t cseq = 0;
  std::string json;  // its entry in "erasures" (WriteRemoval plus subject)
};
// An erasure.refused event, pending until a later redaction or erasure applies it.
struct RefusedCur {
  history::Ref ref;
  EventType requested = EventType::kMessageRedacted;
  std::string message_id, case_ref, reason;
  bool applied = false;
  Ptr applied_by;
};
struct PendingCur {
  std::string message_id;
  uint64_t cseq = 0, gseq = 0;
  int64_t deadline = 0;
};
struct ConvRec {
  std::string conversation_id, tenant;
  Channel channel = Channel::kUnknown;
  std::vector<Channel> channels;  // first-seen order
  uint64_t events = 0, last_cseq = 0, last_gseq = 0;
  bool has_max = false;
  Ptr max;                          // the event with the latest occurred_at so far
  std::vector<ConsentCur> consent;  // sorted by key
  std::vector<HoldCur> holds;       // active, in the order placed
  std::vector<PendingCur> pending;  // sorted by (deadline, cseq)
  uint64_t rendered_bytes = 0;      // JSON stored for the conversation (a render-size hint)
  std::string subject;              // the first subject any event named
  std::vector<ErasureCur> erasures;  // in recording order
  std::vector<RefusedCur> refused;   // in recording order
};

void PutRef(Writer& w, const history::Ref& x) {
  w.Byte(static_cast<uint8_t>(x.actor.kind));
  w.Str(x.actor.id);
  w.Str(x.actor.display);
  w.U64(x.cseq);
  w.U64(x.gseq);
  w.I64(x.occurred);
  w.I64(x.recorded);
}
void GetRef(Reader& r, history::Ref* x) {
  x->actor.kind = static_cast<ActorKind>(r.Byte());
  x->actor.id = r.Str();
  x->actor.display = r.Str();
  x->cseq = r.U64();
  x->gseq = r.U64();
  x->occurred = r.I64();
  x->recorded = r.I64();
}


std::string EncodeConv(const ConvRec& c) {
  std::string out;
  Writer w(&out);
  w.Byte(kConversationFormat);
  w.Str(c.conversation_id);
  w.Str(c.tenant);
  w.Byte(static_cast<uint8_t>(c.channel));
  w.U64(c.channels.size());
  for (Channel ch : c.channels) w.Byte(static_cast<uint8_t>(ch));
  w.U64(c.events);
  w.U64(c.last_cseq);
  w.U64(c.last_gseq);
  w.Bool(c.has_max);
  PutPtr(w, c.max);
  w.U64(c.consent.size());
  for (const ConsentCur& x : c.consent) {
    w.Str(x.key);
    PutPtr(w, x.ptr);
    w.Str(x.scope);
    w.Str(x.state);
    w.Str(x.source);
  }
  w.U64(c.holds.size());
  for (const HoldCur& x : c.holds) {
    PutPtr(w, x.ptr);
    w.Byte(static_cast<uint8_t>(x.actor.kind));
    w.Str(x.actor.id);
    w.Str(x.actor.display);
    w.Str(x.case_ref);
    w.Byte(static_cast<uint8_t>(x.scope));
  }
  w.U64(c.pending.size());
  for (const PendingCur& x : c.pending) {
    w.Str(x.message_id);
    w.U64(x.cseq);
    w.U64(x.gseq);
    w.I64(x.deadline);
  }
  w.U64(c.rendered_bytes);
  w.Str(c.subject);
  w.U64(c.erasures.size());
  for (const ErasureCur& x : c.erasures) {
    w.U64(x.cseq);
    w.Str(x.json);
  }
  w.U64(c.refused.size());
  for (const RefusedCur& x : c.refused) {
    PutRef(w, x.ref);
    w.Byte(static_cast<uint8_t>(x.requested));
    w.Str(x.message_id);
    w.Str(x.case_ref);
    w.Str(x.reason);
    w.Bool(x.applied);
    PutPtr(w, x.applied_by);
  }
  return out;
}

bool DecodeConv(std::string_view in, ConvRec* c) {
  Reader r(in);
  if (r.Byte() != kConversationFormat) return false;
  c->conversation_id = r.Str();
  c->tenant = r.Str();
  c->channel = static_cast<Channel>(r.Byte());
  c->channels.resize(r.Count());
  for (Channel& ch : c->channels) ch = static_cast<Channel>(r.Byte());
  c->events = r.U64();
  c->last_cseq = r.U64();
  c->last_gseq = r.U64();
  c->has_max = r.Bool();
  GetPtr(r, &c->max);
  c->consent.resize(r.Count());
  for (ConsentCur& x : c->consent) {
    x.key = r.Str();
    GetPtr(r, &x.ptr);
    x.scope = r.Str();
    x.state = r.Str();
    x.source = r.Str();
  }
  c->holds.resize(r.Count());
  for (HoldCur& x : c->holds) {
    GetPtr(r, &x.ptr);
    x.actor.kind = static_cast<ActorKind>(r.Byte());
    x.actor.id = r.Str();
    x.actor.display = r.Str();
    x.case_ref = r.Str();
    x.scope = static_cast<HoldScope>(r.Byte());
  }
  c->pending.resize(r.Count());
  for (PendingCur& x : c->pending) {
    x.message_id = r.Str();
    x.cseq = r.U64();
    x.gseq = r.U64();
    x.deadline = r.I64();
  }
  c->rendered_bytes = r.U64();
  c->subject = r.Str();
  c->erasures.resize(r.Count());
  for (ErasureCur& x : c->erasures) {
    x.cseq = r.U64();
    x.json = r.Str();
  }
  c->refused.resize(r.Count());
  for (RefusedCur& x : c->refused) {
    GetRef(r, &x.ref);
    x.requested = static_cast<EventType>(r.Byte());
    x.message_id = r.Str();
    x.case_ref = r.Str();
    x.reason = r.Str();
    x.applied = r.Bool();
    GetPtr(r, &x.applied_by);
  }
  return r.ok() && r.done();
}

// One line about an event for the timeline. Never message or note content: the timeline is not
// rewritten on redaction, so it must not hold anything a redaction would have to remove.
std::string Summary(const Event& e) {
  switch (e.type) {
    case EventType::kMessageSent: {
      std::string s = e.direction == Direction::kInbound ? "inbound message" : "outbound message";
      if (e.template_) {
        s += " from template " + e.template_->name;
        if (!e.template_->category.empty()) s += " (" + e.template_->category + ")";
      }
      // Nothing derived from sealed content, even when it arrives opened.
      if (!e.sealed && e.content_sealing == Sealing::kNone && e.content &&
          !e.content->media.empty())
        s += " with " + std::to_string(e.content->media.size()) + " media";
      if (!e.reply_to.empty()) s += " replying to " + e.reply_to;
      return s;
    }
    case EventType::kMessageEdited:
      return "edited";
    case EventType::kMessageDeleted: {
      std::string s =
          e.scope == DeleteScope::kEveryone ? "deleted for everyone" : "deleted on the agent side";
      if (!e.reason_code.empty()) s += " (" + e.reason_code + ")";
      return s;
    }
    case EventType::kMessageCorrected:
      return "corrected by " + e.replacement_message_id + " (" + e.reason_code + ")";
    case EventType::kMessageRedacted:
      return e.override_hold ? "redacted despite a legal hold" : "redacted";
    case EventType::kMessageStatus: {
      std::string s(ToString(e.status));
      if (!e.error_code.empty()) s += " (error " + e.error_code + ")";
      return s;
    }
    case EventType::kMessageReaction:
      return e.action == ReactionAction::kAdd ? "reaction " + e.emoji + " added"
                                              : "reaction removed";
    case EventType::kConsentChanged:
      return std::string(ToString(e.consent)) + " " + e.consent_scope;
    case EventType::kLegalHoldChanged:
      return "legal hold " + std::string(ToString(e.hold)) +
             (e.case_ref.empty() ? std::string() : " " + e.case_ref) +
             (e.hold_scope == HoldScope::kSubject ? " (subject)" : "");
    case EventType::kNoteAdded:
      return "internal note";
    case EventType::kSubjectErased:
      return e.override_hold ? "subject erased despite a legal hold" : "subject erased";
    case EventType::kErasureRefused:
      return std::string(e.refused == EventType::kSubjectErased ? "erasure" : "redaction") +
             " refused (legal hold" + (e.case_ref.empty() ? std::string() : " " + e.case_ref) +
             ")";
  }
  return "";
}

// The fields every entry has, in their sorted places among the entry's own keys.
void WriteRefHead(JsonOut& j, const Event& e) {  // actor (callers add keys between)
  j.Key("actor");
  history::WriteActor(j, e.actor);
}
void WriteRefSeqs(JsonOut& j, const Event& e) {
  j.Key("conversation_seq");
  j.Uint(e.conversation_seq);
  j.Key("global_seq");
  j.Uint(e.global_seq);
}
void WriteRefTimes(JsonOut& j, const Event& e) {
  j.Key("occurred_at");
  j.Time(history::OccurredUs(e));
  j.Key("occurred_at_us");
  j.Int(history::OccurredUs(e));
  j.Key("recorded_at");
  j.Time(e.recorded_at_us);
}

// One fold step over a conversation's keys.
class Folder {
 public:
  Folder(const ProjectionOptions& options, const Event& e, StateStore& store)
      : options_(options), e_(e), store_(store), prefix_(Prefix(e.conversation_id)) {}

  Status Run() {
    if (Status s = LoadConversation(); !s.ok()) return s;
    const int64_t occurred = history::OccurredUs(e_);
    const bool late = conv_.has_max && occurred < conv_.max.occurred;

    Status s;
    switch (e_.type) {
      case EventType::kConsentChanged:
        FoldConsent();
        break;
      case EventType::kLegalHoldChanged:
        FoldHold();
        break;
      case EventType::kNoteAdded:
        FoldNote();
        break;
      case EventType::kSubjectErased:
        FoldErasure();
        break;
      case EventType::kErasureRefused:
        FoldRefused();
        break;
      default:
        s = FoldMessageEvent();
        break;
    }
    if (!s.ok()) return s;

    // Timeline (recording order) and the platform-order index.
    std::string t;
    JsonOut j(&t);
    j.BeginObject();
    WriteRefHead(j, e_);
    j.Key("conversation_seq");
    j.Uint(e_.conversation_seq);
    j.Key("global_seq");
    j.Uint(e_.global_seq);
    j.Key("late");
    j.Bool(late);
    if (NamesMessage(e_.type) ||
        (e_.type == EventType::kErasureRefused && !e_.message_id.empty())) {
      j.Key("message_id");
      j.String(e_.message_id);
    }
    j.Key("occurred_at");
    j.Time(occurred);
    j.Key("recorded_at");
    j.Time(e_.recorded_at_us);
    j.Key("summary");
    j.String(Summary(e_));
    j.Key("type");
    j.String(ToString(e_.type));
    j.EndObject();
    PutJson(SeqKey(prefix_, kTagTimeline, e_.conversation_seq), t);
    store_.Put(Key(prefix_, kTagPlatform, Order(occurred, e_.conversation_seq)), "");

    // The conversation record.
    if (conv_.subject.empty()) conv_.subject = e_.subject;
    ++conv_.events;
    conv_.last_cseq = e_.conversation_seq;
    conv_.last_gseq = e_.global_seq;
    if (std::find(conv_.channels.begin(), conv_.channels.end(), e_.channel) == conv_.channels.end())
      conv_.channels.push_back(e_.channel);
    if (!conv_.has_max || occurred > conv_.max.occurred) {
      conv_.has_max = true;
      conv_.max = history::PtrOf(e_);
    }

    // Deletions whose explanation window this event shows to have passed.
    if (Status p = ClosePendingWindows(occurred); !p.ok()) return p;

    store_.Put(Key(prefix_, kTagConversation), EncodeConv(conv_));
    return Status::OK();
  }

 private:
  struct Msg {
    std::string order;  // where its JSON is stored now; empty for a new message
    MessageRec rec;
  };

  // A JSON value that is written once (timeline, consent, hold, note entries).
  void PutJson(const std::string& key, const std::string& json) {
    conv_.rendered_bytes += json.size() + 1;
    store_.Put(key, json);
  }

  Status LoadConversation() {
    std::string v;
    Status s = store_.Get(Key(prefix_, kTagConversation), &v);
    if (s.IsNotFound()) {
      conv_ = ConvRec();
      conv_.conversation_id = e_.conversation_id;
      conv_.tenant = e_.tenant;
      conv_.channel = e_.channel;
      return Status::OK();
    }
    if (!s.ok()) return s;
    if (!DecodeConv(v, &conv_)) return CorruptState("conversation record");
    return Status::OK();
  }

  Status LoadMsg(std::string_view id, Msg* m) {
    std::string v;
    Status s = store_.Get(Key(prefix_, kTagIndex, id), &v);
    if (s.IsNotFound()) {
      m->order.clear();
      m->rec = MessageRec();
      m->rec.id = std::string(id);
      return Status::OK();
    }
    if (!s.ok()) return s;
    if (v.size() < kOrderBytes ||
        !history::DecodeMessage(std::string_view(v).substr(kOrderBytes), &m->rec))
      return CorruptState("message " + std::string(id));
    m->order = v.substr(0, kOrderBytes);
    return Status::OK();
  }

  // Renders the message and stores its JSON at its order (moving it when the original has
  // arrived), its flags, and its record; keeps the pending deadlines in step.
  void SaveMsg(Msg& m) {
    history::MessageView view;
    history::RenderMessage(m.rec, &view);
    std::string order = m.order;
    if (m.rec.original) {
      order = Order(m.rec.original->ref.occurred, m.rec.original->ref.cseq);
    } else if (order.empty()) {
      order = Order(history::OccurredUs(e_), e_.conversation_seq);
    }
    if (!m.order.empty() && order != m.order) store_.Delete(Key(prefix_, kTagMessage, m.order));
    store_.Put(Key(prefix_, kTagMessage, order), view.json);

    uint64_t bytes = view.json.size() + 1;
    std::vector<std::string> flag_keys;
    for (const history::FlagOut& f : view.flags) {
      store_.Put(Key(prefix_, kTagFlag, f.key), f.json);
      flag_keys.push_back(f.key);
      bytes += f.json.size() + 1;
    }
    for (const std::string& old : m.rec.flag_keys)
      if (std::find(flag_keys.begin(), flag_keys.end(), old) == flag_keys.end())
        store_.Delete(Key(prefix_, kTagFlag, old));
    m.rec.flag_keys = std::move(flag_keys);
    conv_.rendered_bytes = conv_.rendered_bytes - m.rec.rendered_bytes + bytes;
    m.rec.rendered_bytes = bytes;

    std::string value = order;
    history::EncodeMessage(m.rec, &value);
    store_.Put(Key(prefix_, kTagIndex, m.rec.id), value);
    m.order = std::move(order);

    // Pending deadlines of this message, replaced by what it shows now.
    std::vector<PendingCur>& pending = conv_.pending;
    pending.erase(std::remove_if(pending.begin(), pending.end(),
                                 [&](const PendingCur& p) { return p.message_id == m.rec.id; }),
                  pending.end());
    for (const history::PendingOut& p : view.pending)
      pending.push_back(PendingCur{m.rec.id, p.cseq, p.gseq, p.deadline});
    std::stable_sort(pending.begin(), pending.end(), [](const PendingCur& a, const PendingCur& b) {
      if (a.deadline != b.deadline) return a.deadline < b.deadline;
      return a.cseq < b.cseq;
    });
  }

  Status ClosePendingWindows(int64_t occurred) {
    std::vector<std::pair<std::string, uint64_t>> due;
    for (const PendingCur& p : conv_.pending)
      if (occurred > p.deadline) due.emplace_back(p.message_id, p.cseq);
    if (due.empty()) return Status::OK();
    const Ptr evidence = history::PtrOf(e_);
    for (const auto& [id, cseq] : due) {
      Msg m;
      if (Status s = LoadMsg(id, &m); !s.ok()) return s;
      history::MarkWindowPassed(m.rec, cseq, evidence);
      SaveMsg(m);
    }
    return Status::OK();
  }

  Status FoldMessageEvent() {
    Msg m;
    if (Status s = LoadMsg(e_.message_id, &m); !s.ok()) return s;
    // The other message this event points at (reply target, replacement), if any.
    std::string other_id;
    switch (e_.type) {
      case EventType::kMessageSent:
        if (!m.rec.original) other_id = e_.reply_to;
        history::AddSend(m.rec, e_, ConsentAtSend());
        break;
      case EventType::kMessageEdited:
        history::AddEdit(m.rec, e_);
        break;
      case EventType::kMessageDeleted: {
        std::optional<Ptr> passed;
        if (e_.scope == DeleteScope::kEveryone && conv_.has_max &&
            conv_.max.occurred > history::OccurredUs(e_) + options_.explanation_window_us)
          passed = conv_.max;
        history::AddDeletion(m.rec, e_, options_.explanation_window_us, passed);
        break;
      }
      case EventType::kMessageCorrected:
        history::AddCorrectedBy(m.rec, e_);
        other_id = e_.replacement_message_id;
        break;
      case EventType::kMessageRedacted:
        history::AddRedaction(m.rec, e_);
        ApplyRefused(false);
        break;
      case EventType::kMessageStatus:
        history::AddStatus(m.rec, e_);
        break;
      case EventType::kMessageReaction:
        history::AddReaction(m.rec, e_);
        break;
      default:
        break;
    }
    if (!other_id.empty() && other_id == m.rec.id) {
      // Points at itself: one record, updated in place.
      if (e_.type == EventType::kMessageSent) history::AddReply(m.rec, e_);
      if (e_.type == EventType::kMessageCorrected) history::AddCorrects(m.rec, e_);
      other_id.clear();
    }
    SaveMsg(m);
    if (!other_id.empty()) {
      Msg o;
      if (Status s = LoadMsg(other_id, &o); !s.ok()) return s;
      if (e_.type == EventType::kMessageSent) history::AddReply(o.rec, e_);
      if (e_.type == EventType::kMessageCorrected) history::AddCorrects(o.rec, e_);
      SaveMsg(o);
    }
    return Status::OK();
  }

  // The marketing consent as the ledger held it when this send was recorded.
  history::ConsentSnap ConsentAtSend() const {
    history::ConsentSnap snap;
    for (const ConsentCur& c : conv_.consent) {
      if (c.key != "marketing") continue;
      snap.known = true;
      snap.ptr = c.ptr;
      snap.scope = c.scope;
      snap.state = c.state;
      snap.source = c.source;
    }
    return snap;
  }

  void FoldConsent() {
    std::string out;
    JsonOut j(&out);
    j.BeginObject();
    WriteRefHead(j, e_);
    WriteRefSeqs(j, e_);
    WriteRefTimes(j, e_);
    j.Key("scope");
    j.String(e_.consent_scope);
    j.Key("source");
    j.String(e_.source);
    j.Key("state");
    j.String(ToString(e_.consent));
    j.EndObject();
    PutJson(SeqKey(prefix_, kTagConsent, e_.conversation_seq), out);

    ConsentCur cur{Lower(e_.consent_scope), history::PtrOf(e_), e_.consent_scope,
                   std::string(ToString(e_.consent)), e_.source};
    auto it = std::lower_bound(conv_.consent.begin(), conv_.consent.end(), cur.key,
                               [](const ConsentCur& c, const std::string& k) { return c.key < k; });
    if (it != conv_.consent.end() && it->key == cur.key)
      *it = std::move(cur);
    else
      conv_.consent.insert(it, std::move(cur));
  }

  void FoldHold() {
    std::string out;
    JsonOut j(&out);
    j.BeginObject();
    j.Key("action");
    j.String(ToString(e_.hold));
    WriteRefHead(j, e_);
    j.Key("case_ref");
    j.String(e_.case_ref);
    WriteRefSeqs(j, e_);
    WriteRefTimes(j, e_);
    j.Key("scope");
    j.String(ToString(e_.hold_scope));
    j.EndObject();
    PutJson(SeqKey(prefix_, kTagHold, e_.conversation_seq), out);

    std::vector<HoldCur>& active = conv_.holds;
    if (e_.hold == HoldAction::kPlaced) {
      const bool known = std::any_of(active.begin(), active.end(),
                                     [&](const HoldCur& h) { return h.case_ref == e_.case_ref; });
      if (!known)
        active.push_back(HoldCur{history::PtrOf(e_), e_.actor, e_.case_ref, e_.hold_scope});
    } else if (e_.hold == HoldAction::kReleased) {
      // A release names its case; a release without a case reference releases every hold.
      active.erase(std::remove_if(active.begin(), active.end(),
                                  [&](const HoldCur& h) {
                                    return e_.case_ref.empty() || h.case_ref == e_.case_ref;
                                  }),
                   active.end());
    }
  }

  void FoldNote() {
    std::string out;
    JsonOut j(&out);
    j.BeginObject();
    WriteRefHead(j, e_);
    j.Key("content");
    history::WriteContent(j, history::ContentOf(e_), e_.conversation_seq, nullptr);
    WriteRefSeqs(j, e_);
    WriteRefTimes(j, e_);
    j.EndObject();
    PutJson(SeqKey(prefix_, kTagNote, e_.conversation_seq), out);
  }

  // subject.erased: recorded once on the conversation; the content recorded before it is shown
  // "[erased]" when rendering (the fold cannot visit every message, and needs not: the keys are
  // gone, so sealed content cannot be opened; plaintext content, only in ledgers written without
  // encryption, is hidden the same way).
  void FoldErasure() {
    ErasureCur x;
    x.cseq = e_.conversation_seq;
    JsonOut j(&x.json);
    // WriteRemoval's keys plus "subject", in sorted order.
    j.BeginObject();
    j.Key("actor");
    history::WriteActor(j, e_.actor);
    j.Key("conversation_seq");
    j.Uint(e_.conversation_seq);
    j.Key("global_seq");
    j.Uint(e_.global_seq);
    j.Key("occurred_at");
    j.Time(history::OccurredUs(e_));
    j.Key("override_hold");
    j.Bool(e_.override_hold);
    j.Key("reason");
    j.String(e_.reason);
    j.Key("recorded_at");
    j.Time(e_.recorded_at_us);
    j.Key("subject");
    j.String(e_.subject);
    j.Key("type");
    j.String(ToString(e_.type));
    j.EndObject();
    conv_.erasures.push_back(std::move(x));
    ApplyRefused(true);
  }

  void FoldRefused() {
    RefusedCur x;
    x.ref = history::RefOf(e_);
    x.requested = e_.refused;
    if (e_.refused == EventType::kMessageRedacted) x.message_id = e_.message_id;
    x.case_ref = e_.case_ref;
    x.reason = e_.reason;
    conv_.refused.push_back(std::move(x));
  }

  // A redaction of a message applies the refused redactions of it; an erasure every refused
  // request of the conversation.
  void ApplyRefused(bool erasure) {
    for (RefusedCur& x : conv_.refused) {
      if (x.applied) continue;
      if (!erasure && (x.requested != EventType::kMessageRedacted || x.message_id != e_.message_id))
        continue;
      x.applied = true;
      x.applied_by = history::PtrOf(e_);
    }
  }

  const ProjectionOptions& options_;
  const Event& e_;
  StateStore& store_;
  const std::string prefix_;
  ConvRec conv_;
};

class HistoryProjection final : public Projection {
 public:
  explicit HistoryProjection(const ProjectionOptions& options) : options_(options) {}
  std::string_view Name() const override { return kHistory; }
  // 2: sealed content kept as ciphertext (markers), erasure, refusals, hold scope.
  uint32_t Version() const override { return 2; }
  bool ConversationLocal() const override { return true; }
  Status Apply(const Event& event, StateStore& store) override {
    if (event.conversation_id.empty())
      return Status::InvalidArgument("missing_field", "conversation_id is required");
    try {
      return Folder(options_, event, store).Run();
    } catch (const std::exception& ex) {  // allocation failure; nothing else throws here
      return CorruptState(std::string("fold failed at global_seq ") +
                          std::to_string(event.global_seq) + ": " + ex.what());
    }
  }

 private:
  const ProjectionOptions options_;
};

// ---- rendering ----

void WriteConsentCurrent(std::string* out, const ConvRec& c) {
  JsonOut j(out);
  j.BeginObject();
  for (const ConsentCur& x : c.consent) {
    j.Key(x.key);
    j.BeginObject();
    j.Key("conversation_seq");
    j.Uint(x.ptr.cseq);
    j.Key("global_seq");
    j.Uint(x.ptr.gseq);
    j.Key("occurred_at");
    j.Time(x.ptr.occurred);
    j.Key("scope");
    j.String(x.scope);
    j.Key("source");
    j.String(x.source);
    j.Key("state");
    j.String(x.state);
    j.Key("type");
    j.String(ToString(x.ptr.type));
    j.EndObject();
  }
  j.EndObject();
}

void WriteHoldsActive(std::string* out, const ConvRec& c) {
  JsonOut j(out);
  j.BeginArray();
  for (const HoldCur& h : c.holds) {
    j.BeginObject();
    j.Key("actor");
    history::WriteActor(j, h.actor);
    j.Key("case_ref");
    j.String(h.case_ref);
    j.Key("conversation_seq");
    j.Uint(h.ptr.cseq);
    j.Key("global_seq");
    j.Uint(h.ptr.gseq);
    j.Key("occurred_at");
    j.Time(h.ptr.occurred);
    j.Key("scope");
    j.String(ToString(h.scope));
    j.Key("type");
    j.String(ToString(h.ptr.type));
    j.EndObject();
  }
  j.EndArray();
}

void WriteErasures(std::string* out, const ConvRec& c) {
  JsonOut j(out);
  j.BeginArray();
  for (const ErasureCur& x : c.erasures) j.Raw(x.json);
  j.EndArray();
}

void WriteRefused(std::string* out, const ConvRec& c) {
  JsonOut j(out);
  j.BeginArray();
  for (const RefusedCur& x : c.refused) {
    j.BeginObject();
    j.Key("actor");
    history::WriteActor(j, x.ref.actor);
    j.Key("applied_by");
    if (x.applied)
      history::WritePtr(j, x.applied_by);
    else
      j.Null();
    j.Key("case_ref");
    j.String(x.case_ref);
    j.Key("conversation_seq");
    j.Uint(x.ref.cseq);
    j.Key("global_seq");
    j.Uint(x.ref.gseq);
    j.Key("message_id");
    if (x.message_id.empty())
      j.Null();
    else
      j.String(x.message_id);
    j.Key("occurred_at");
    j.Time(x.ref.occurred);
    j.Key("reason");
    j.String(x.reason);
    j.Key("recorded_at");
    j.Time(x.ref.recorded);
    j.Key("requested");
    j.String(ToString(x.requested));
    j.Key("status");
    j.String(x.applied ? "applied" : "pending");
    j.Key("type");
    j.String(ToString(EventType::kErasureRefused));
    j.EndObject();
  }
  j.EndArray();
}

// "[redacted]" / "[erased]" in place of content; `removal` is the removed_by JSON (empty: null).
void WriteRemoved(std::string* out, bool erased, std::string_view removal) {
  JsonOut j(out);
  j.BeginObject();
  if (erased) {
    j.Key("erased");
    j.Bool(true);
  }
  j.Key("media");
  j.BeginArray();
  j.EndArray();
  if (!erased) {
    j.Key("redacted");
    j.Bool(true);
  }
  j.Key("removed_by");
  if (removal.empty())
    j.Null();
  else
    j.Raw(removal);
  j.Key("text");
  j.String(erased ? history::kErased : history::kRedacted);
  j.EndObject();
}

// Expands the content markers of stored fragments (history_record.h): opens sealed content
// through the opener, or shows "[redacted]" / "[erased]" with who, when and why.
class MarkerExpander {
 public:
  MarkerExpander(ContentOpener* opener, std::string_view conversation_id)
      : opener_(opener), conversation_id_(conversation_id) {}

  void SetConversation(const ConvRec* c) { conv_ = c; }

  Status Append(std::string* out, std::string_view fragment) {
    while (!fragment.empty()) {
      const size_t at = fragment.find(history::kMarkerByte);
      out->append(fragment.substr(0, at));
      if (at == std::string_view::npos) break;
      fragment.remove_prefix(at);
      history::MarkerView m;
      if (!history::ReadMarker(&fragment, &m))
        return Status::Corruption("corrupt_state", "history state: content marker");
      if (Status s = Expand(out, m); !s.ok()) return s;
    }
    return Status::OK();
  }

 private:
  // The first erasure recorded after the content, if any.
  const ErasureCur* ErasureAfter(uint64_t cseq) const {
    if (!conv_) return nullptr;
    for (const ErasureCur& x : conv_->erasures)
      if (x.cseq > cseq) return &x;
    return nullptr;
  }

  Status Expand(std::string* out, const history::MarkerView& m) {
    const bool params = m.kind == history::MarkerKind::kParameters;
    const ErasureCur* erasure = m.redacted ? nullptr : ErasureAfter(m.cseq);
    if (!m.sealed) {
      if (!erasure) {
        out->append(m.data);
      } else if (params) {
        out->append("[]");
      } else {
        WriteRemoved(out, true, erasure->json);
      }
      return Status::OK();
    }
    if (!opener_ || m.data.empty()) {  // cannot be opened here: as it was stored
      if (params) {
        out->append("[]");
        return Status::OK();
      }
      JsonOut j(out);
      j.BeginObject();
      if (erasure) {
        j.Key("erased");
        j.Bool(true);
      }
      if (m.redacted) {
        j.Key("redacted");
        j.Bool(true);
      }
      j.Key("sealed");
      j.Bool(true);
      j.EndObject();
      return Status::OK();
    }
    if (m.redacted || erasure) {  // the fold knows: no need to ask for the key
      if (params)
        out->append("[]");
      else
        WriteRemoved(out, erasure != nullptr, erasure ? std::string_view(erasure->json) : m.removal);
      return Status::OK();
    }
    const OpenedContent* opened = nullptr;
    if (Status s = Open(m.data, &opened); !s.ok()) return s;
    switch (opened->access) {
      case ContentAccess::kRedacted:
      case ContentAccess::kErased: {
        if (params) {
          out->append("[]");
          return Status::OK();
        }
        const bool erased = opened->access == ContentAccess::kErased;
        // An as-of view may predate the removal: then who/when/why is not known yet (null).
        std::string_view removal;
        if (erased && conv_ && !conv_->erasures.empty()) removal = conv_->erasures.back().json;
        WriteRemoved(out, erased, removal);
        return Status::OK();
      }
      default:
        break;
    }
    JsonOut j(out);
    if (params) {
      j.BeginArray();
      for (const std::string& p : opened->template_parameters) j.String(p);
      j.EndArray();
      return Status::OK();
    }
    history::ContentRec c;
    if (opened->content) {
      c.text = opened->content->text;
      c.media = opened->content->media;
    }
    history::WriteOpenContent(j, c);
    return Status::OK();
  }

  // Opens each envelope once per render (a template send's content and parameters share one).
  Status Open(std::string_view bytes, const OpenedContent** out) {
    auto it = cache_.find(bytes);
    if (it == cache_.end()) {
      std::optional<SealedContent> sealed = ParseSealed(bytes);
      if (!sealed) return Status::Corruption("corrupt_state", "history state: sealed content");
      Result<OpenedContent> opened = opener_->Open(conversation_id_, *sealed);
      if (!opened.ok()) return opened.status();
      it = cache_.emplace(std::string(bytes), std::move(*opened)).first;
    }
    *out = &it->second;
    return Status::OK();
  }

  ContentOpener* opener_;
  const std::string_view conversation_id_;
  const ConvRec* conv_ = nullptr;
  OpenedCache cache_;
};

void WritePending(std::string* out, const ConvRec& c) {
  JsonOut j(out);
  j.BeginArray();
  for (const PendingCur& p : c.pending) {
    j.BeginObject();
    j.Key("conversation_seq");
    j.Uint(p.cseq);
    j.Key("deadline");
    j.Time(p.deadline);
    j.Key("deadline_us");
    j.Int(p.deadline);
    j.Key("global_seq");
    j.Uint(p.gseq);
    j.Key("message_id");
    j.String(p.message_id);
    j.Key("type");
    j.String("deleted_without_explanation");
    j.EndObject();
  }
  j.EndArray();
}

// The document, section by section: each stored list is streamed between the fixed parts.
class Renderer {
 public:
  Renderer(std::string* out, uint64_t as_of, MarkerExpander* expander)
      : out_(out), as_of_(as_of), expander_(expander) {}

  // Sections in key (and document) order.
  static int SectionOf(char tag) {
    switch (tag) {
      case kTagConsent:
        return 0;
      case kTagFlag:
        return 1;
      case kTagHold:
        return 2;
      case kTagMessage:
        return 3;
      case kTagNote:
        return 4;
      case kTagPlatform:
        return 5;
      case kTagTimeline:
        return 6;
      default:
        return -1;
    }
  }

  void Begin(const ConvRec& c) {
    conv_ = &c;
    out_->reserve(c.rendered_bytes + c.events * 24 + 4096);
    out_->append("{\"as_of_global_seq\":");
    JsonOut(out_).Uint(as_of_);
    out_->append(",\"channel\":");
    JsonOut(out_).String(ToString(c.channel));
    out_->append(",\"channels\":");
    JsonOut j(out_);
    j.BeginArray();
    for (Channel ch : c.channels) j.String(ToString(ch));
    j.EndArray();
    out_->append(",\"consent\":[");
    section_ = 0;
    first_ = true;
  }

  Status Item(int section, std::string_view json) {
    Advance(section);
    if (!first_) out_->push_back(',');
    first_ = false;
    return expander_->Append(out_, json);
  }

  void End() { Advance(7); }

 private:
  // Closes sections up to `section` and opens it.
  void Advance(int section) {
    while (section_ < section) {
      Close(section_);
      ++section_;
      first_ = true;
    }
  }
  void Close(int section) {
    const ConvRec& c = *conv_;
    switch (section) {
      case 0:
        out_->append("],\"consent_current\":");
        WriteConsentCurrent(out_, c);
        out_->append(",\"conversation_id\":");
        JsonOut(out_).String(c.conversation_id);
        out_->append(",\"erasures\":");
        WriteErasures(out_, c);
        out_->append(",\"events\":");
        JsonOut(out_).Uint(c.events);
        out_->append(",\"flags\":[");
        break;
      case 1:
        out_->append("],\"last_conversation_seq\":");
        JsonOut(out_).Uint(c.last_cseq);
        out_->append(",\"last_global_seq\":");
        JsonOut(out_).Uint(c.last_gseq);
        out_->append(",\"legal_holds\":[");
        break;
      case 2:
        out_->append("],\"legal_holds_active\":");
        WriteHoldsActive(out_, c);
        out_->append(",\"messages\":[");
        break;
      case 3:
        out_->append("],\"notes\":[");
        break;
      case 4:
        out_->append("],\"pending\":");
        WritePending(out_, c);
        out_->append(",\"platform_order\":[");
        break;
      case 5:
        out_->append("],\"refused_requests\":");
        WriteRefused(out_, c);
        out_->append(",\"subject\":");
        JsonOut(out_).String(c.subject);
        out_->append(",\"tenant\":");
        JsonOut(out_).String(c.tenant);
        out_->append(",\"timeline\":[");
        break;
      case 6:
        out_->append("],\"version\":1}");
        break;
    }
  }

  std::string* out_;
  const uint64_t as_of_;
  MarkerExpander* expander_;
  const ConvRec* conv_ = nullptr;
  int section_ = 0;
  bool first_ = true;
};

}  // namespace

std::shared_ptr<Projection> MakeHistory(const ProjectionOptions& options) {
  return std::make_shared<HistoryProjection>(options);
}

Result<std::string> RenderHistory(StateReader& state, std::string_view conversation_id,
                                  ContentOpener* opener) {
  try {
    const std::string prefix = Prefix(conversation_id);
    std::string out;
    ConvRec conv;
    bool have_conv = false, corrupt = false;
    Status item_error;
    MarkerExpander expander(opener, conversation_id);
    Renderer r(&out, state.Checkpoint(), &expander);
    std::string number;
    Status s = state.Scan(prefix, [&](std::string_view key, std::string_view value) {
      if (key.size() <= prefix.size()) return true;
      const char tag = key[prefix.size()];
      if (tag == kTagConversation) {
        if (!DecodeConv(value, &conv)) {
          corrupt = true;
          return false;
        }
        have_conv = true;
        expander.SetConversation(&conv);
        r.Begin(conv);
        return true;
      }
      const int section = Renderer::SectionOf(tag);
      if (section < 0) return true;  // the fold's message records
      if (!have_conv) {              // the record sorts first: without it the state is damaged
        corrupt = true;
        return false;
      }
      if (tag == kTagPlatform) {
        number.clear();
        JsonOut(&number).Uint(keys::GetBe64(key.substr(key.size() - 8)));
        item_error = r.Item(section, number);
      } else {
        item_error = r.Item(section, value);
      }
      return item_error.ok();
    });
    if (!s.ok()) return s;
    if (!item_error.ok()) return item_error;
    if (corrupt) return CorruptState("conversation " + std::string(conversation_id));
    if (!have_conv)
      return Status::NotFound("conversation_not_found",
                              "no history for conversation " + std::string(conversation_id));
    r.End();
    return out;
  } catch (const std::exception& ex) {  // allocation failure
    return CorruptState(std::string("render failed: ") + ex.what());
  }
}

}  // namespace convledger::projections
