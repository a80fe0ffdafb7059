// analytics: counters per tenant, per UTC day, per agent and per template, folded from the log.
// Layout, JSON shapes and the counting rules are written up in docs/analytics.md. Keys (TK is a
// tenant as be16(length) || tenant, DAY the 10 bytes "YYYY-MM-DD" of an event's occurred_at):
//
//   'c' || ConvKey(conv) || 'h'                   conversation working state: marketing consent,
//                                                 the first unanswered inbound, bot-since-agent
//   'c' || ConvKey(conv) || 'm' || message_id     message working state: send time, day,
//                                                 direction, author, template, status flags,
//                                                 unexplained deletions, pending corrections
//   'd' || TK || DAY                              counters and histograms of a tenant's day
//   'a' || TK || DAY || kind || agent_id          the same for one agent ('a') or bot ('b')
//   't' || TK || DAY || be16(len) name || language   one template, by the day it was sent
//
// Values are JSON objects dumped with sorted keys, integers only. Durations are histograms of
// whole seconds with fixed buckets (exact below 128 s, then 64 buckets per power of two), stored
// as [[bucket, count], ...] in bucket order: bounded size, mergeable across days, and the
// reported median / p90 is the lower bound of its bucket (at most 1/64 = 1.6 % below the true
// sample). Counting uses the log order and the events' own timestamps only: no clock.
#include <algorithm>
#include <bit>
#include <cctype>
#include <deque>
#include <map>
#include <type_traits>
#include <vector>
#include <nlohmann/json.hpp>
#include <utility>

#include "projections/projections.h"
#include "state_keys.h"

namespace convledger::projections {
namespace {

using json = nlohmann::json;

constexpr uint32_t kVersion = 3;  // 2: erasures, refused requests (issue 6); 3: binary values
constexpr size_t kDayBytes = 10;  // "YYYY-MM-DD"

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int64_t OccurredAt(const Event& e) { return e.occurred_at_us.value_or(e.recorded_at_us); }

std::string TenantOf(const Event& e) { return e.tenant.empty() ? "default" : e.tenant; }

// be16(length) || text: no tenant (or template name) is a prefix of another's keys.
std::string LenPrefixed(std::string_view s) { return keys::ConvKey(s); }

std::string ConvStateKey(std::string_view conv) {
  std::string k(1, 'c');
  k += keys::ConvKey(conv);
  k += 'h';
  return k;
}

std::string MessageStateKey(std::string_view conv, std::string_view message_id) {
  std::string k(1, 'c');
  k += keys::ConvKey(conv);
  k += 'm';
  k.append(message_id);
  return k;
}

std::string DayKey(char tag, std::string_view tenant, std::string_view day) {
  std::string k(1, tag);
  k += LenPrefixed(tenant);
  k.append(day);
  return k;
}

// Agents and bots are the actors analytics attributes work to; '\0' for anyone else.
char AgentKind(ActorKind k) {
  return k == ActorKind::kAgent ? 'a' : k == ActorKind::kBot ? 'b' : '\0';
}

std::string AgentRef(const Event& e) {
  const char kind = AgentKind(e.actor.kind);
  if (kind == '\0') return {};
  return std::string(1, kind) + e.actor.id;
}

// Whole seconds between two instants, never negative (clock skew between sources).
uint64_t Seconds(int64_t from_us, int64_t to_us) {
  return to_us > from_us ? static_cast<uint64_t>((to_us - from_us) / 1000000) : 0;
}

// The histogram bucket (its lower bound) of a duration in seconds.
uint64_t Bucket(uint64_t v) {
  if (v < 128) return v;
  const int shift = std::bit_width(v) - 7;
  return (v >> shift) << shift;
}

// ---- binary state ----
// Values are compact binary records (docs/analytics.md): a tag byte, then varints (signed ones
// zigzag-encoded) and length-prefixed strings. Decoding is strict: a value that is not exactly
// one record of the expected tag is corrupt.

// The counters of a day ('d') or an agent's day ('a'), by index into kDayCounters (the agent
// counters are a subset of the day counters).
enum Counter : uint8_t {
  kMessagesIn,
  kMessagesOut,
  kOutboundByAgent,
  kOutboundByBot,
  kOutboundByOther,
  kEdits,
  kDeletions,
  kDeletionsForEveryone,
  kDeletionsExplained,
  kDeletionsUnexplained,
  kCorrections,
  kRedactions,
  kRedactionsDespiteHold,
  kRedactionsRefused,
  kErasures,
  kErasuresDespiteHold,
  kErasuresRefused,
  kRefusedPending,
  kFailedDeliveries,
  kMarketingTemplatesSent,
  kMarketingWithoutOptIn,
  kHandoffs,
  kNumCounters
};

// Sorted by bucket.
using Hist = std::vector<std::pair<uint64_t, uint64_t>>;

void AddSample(Hist& h, uint64_t seconds) {
  const uint64_t b = Bucket(seconds);
  auto it = std::lower_bound(h.begin(), h.end(), b,
                             [](const std::pair<uint64_t, uint64_t>& p, uint64_t v) {
                               return p.first < v;
                             });
  if (it != h.end() && it->first == b)
    ++it->second;
  else
    h.insert(it, {b, 1});
}

struct Counts {
  int64_t n[kNumCounters] = {};
  std::vector<std::pair<std::string, int64_t>> by_reason;  // sorted by code
  Hist time_to_correction, first_response;
  void Bump(Counter c, int64_t delta = 1) { n[c] += delta; }
  void BumpReason(const std::string& code) {
    auto it = std::lower_bound(
        by_reason.begin(), by_reason.end(), code,
        [](const std::pair<std::string, int64_t>& p, const std::string& v) { return p.first < v; });
    if (it != by_reason.end() && it->first == code)
      ++it->second;
    else
      by_reason.insert(it, {code, 1});
  }
};

struct TemplateCounts {
  int64_t sent = 0, delivered = 0, read = 0;
  Hist time_to_read;
};

// A deletion counted unexplained, or a correction waiting for its send: when, which day, who.
struct Pending {
  int64_t ts = 0;
  std::string day, agent;
};

struct MessageState {
  bool sent = false, out = false, dlv = false, failed = false;
  bool has_rd = false, has_corr_min = false, has_template = false;
  int64_t ts = 0, rd = 0, corr_min = 0;
  std::string day, tn, tl;
  std::vector<Pending> udel, pcorr;
};

struct Refusal {
  std::string day, agent, msg;
};

struct ConvState {
  bool has_await = false, bot = false;
  int64_t await = 0;
  std::string consent;
  std::vector<Refusal> refused;
};

constexpr char kTagCounts = 'D', kTagTemplate = 'T', kTagMessage = 'M', kTagConv = 'C';

class Writer {
 public:
  explicit Writer(std::string* out) : out_(*out) {}
  void U(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void S(int64_t v) { U((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void Str(std::string_view s) {
    U(s.size());
    out_.append(s);
  }
  void Byte(char c) { out_.push_back(c); }
  void H(const Hist& h) {
    U(h.size());
    for (const auto& [b, c] : h) {
      U(b);
      U(c);
    }
  }
  void P(const std::vector<Pending>& v) {
    U(v.size());
    for (const Pending& p : v) {
      S(p.ts);
      Str(p.day);
      Str(p.agent);
    }
  }

 private:
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool Done() const { return ok_ && in_.empty(); }
  uint64_t U() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) break;
      const auto b = static_cast<unsigned char>(in_[0]);
      in_.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok_ = false;
    return 0;
  }
  int64_t S() {
    const uint64_t u = U();
    return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  std::string Str() {
    const uint64_t n = U();
    if (!ok_ || n > in_.size()) {
      ok_ = false;
      return {};
    }
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  char Byte() {
    if (in_.empty()) {
      ok_ = false;
      return 0;
    }
    const char c = in_[0];
    in_.remove_prefix(1);
    return c;
  }
  // A count of items that each take at least one byte.
  uint64_t Count() {
    const uint64_t n = U();
    if (n > in_.size()) ok_ = false;
    return ok_ ? n : 0;
  }
  void H(Hist* h) {
    const uint64_t n = Count();
    h->clear();
    h->reserve(n);
    for (uint64_t i = 0; i < n && ok_; ++i) {
      const uint64_t b = U();
      const uint64_t c = U();
      h->emplace_back(b, c);
    }
  }
  void P(std::vector<Pending>* v) {
    const uint64_t n = Count();
    v->clear();
    for (uint64_t i = 0; i < n && ok_; ++i) {
      Pending p;
      p.ts = S();
      p.day = Str();
      p.agent = Str();
      v->push_back(std::move(p));
    }
  }

 private:
  std::string_view in_;
  bool ok_ = true;
};

void Encode(const Counts& c, std::string* out) {
  Writer w(out);
  w.Byte(kTagCounts);
  size_t nonzero = 0;
  for (int64_t v : c.n) nonzero += v != 0;
  w.U(nonzero);
  for (size_t i = 0; i < kNumCounters; ++i)
    if (c.n[i] != 0) {
      w.U(i);
      w.S(c.n[i]);
    }
  w.U(c.by_reason.size());
  for (const auto& [code, n] : c.by_reason) {
    w.Str(code);
    w.S(n);
  }
  w.H(c.time_to_correction);
  w.H(c.first_response);
}

bool Decode(std::string_view raw, Counts* c) {
  Reader r(raw);
  if (r.Byte() != kTagCounts) return false;
  const uint64_t nonzero = r.Count();
  for (uint64_t i = 0; i < nonzero && r.ok(); ++i) {
    const uint64_t idx = r.U();
    const int64_t v = r.S();
    if (idx >= kNumCounters) return false;
    c->n[idx] = v;
  }
  const uint64_t reasons = r.Count();
  for (uint64_t i = 0; i < reasons && r.ok(); ++i) {
    std::string code = r.Str();
    const int64_t n = r.S();
    c->by_reason.emplace_back(std::move(code), n);
  }
  r.H(&c->time_to_correction);
  r.H(&c->first_response);
  return r.Done();
}

void Encode(const TemplateCounts& t, std::string* out) {
  Writer w(out);
  w.Byte(kTagTemplate);
  w.S(t.sent);
  w.S(t.delivered);
  w.S(t.read);
  w.H(t.time_to_read);
}

bool Decode(std::string_view raw, TemplateCounts* t) {
  Reader r(raw);
  if (r.Byte() != kTagTemplate) return false;
  t->sent = r.S();
  t->delivered = r.S();
  t->read = r.S();
  r.H(&t->time_to_read);
  return r.Done();
}

void Encode(const MessageState& m, std::string* out) {
  Writer w(out);
  w.Byte(kTagMessage);
  w.U(uint64_t{m.sent} | uint64_t{m.out} << 1 | uint64_t{m.dlv} << 2 | uint64_t{m.failed} << 3 |
      uint64_t{m.has_rd} << 4 | uint64_t{m.has_corr_min} << 5 | uint64_t{m.has_template} << 6);
  w.S(m.ts);
  w.S(m.rd);
  w.S(m.corr_min);
  w.Str(m.day);
  w.Str(m.tn);
  w.Str(m.tl);
  w.P(m.udel);
  w.P(m.pcorr);
}

bool Decode(std::string_view raw, MessageState* m) {
  Reader r(raw);
  if (r.Byte() != kTagMessage) return false;
  const uint64_t f = r.U();
  if (f >> 7) return false;
  m->sent = f & 1;
  m->out = f & 2;
  m->dlv = f & 4;
  m->failed = f & 8;
  m->has_rd = f & 16;
  m->has_corr_min = f & 32;
  m->has_template = f & 64;
  m->ts = r.S();
  m->rd = r.S();
  m->corr_min = r.S();
  m->day = r.Str();
  m->tn = r.Str();
  m->tl = r.Str();
  r.P(&m->udel);
  r.P(&m->pcorr);
  return r.Done();
}

void Encode(const ConvState& c, std::string* out) {
  Writer w(out);
  w.Byte(kTagConv);
  w.U(uint64_t{c.has_await} | uint64_t{c.bot} << 1);
  w.S(c.await);
  w.Str(c.consent);
  w.U(c.refused.size());
  for (const Refusal& p : c.refused) {
    w.Str(p.day);
    w.Str(p.agent);
    w.Str(p.msg);
  }
}

bool Decode(std::string_view raw, ConvState* c) {
  Reader r(raw);
  if (r.Byte() != kTagConv) return false;
  const uint64_t f = r.U();
  if (f >> 2) return false;
  c->has_await = f & 1;
  c->bot = f & 2;
  c->await = r.S();
  c->consent = r.Str();
  const uint64_t n = r.Count();
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    Refusal p;
    p.day = r.Str();
    p.agent = r.Str();
    p.msg = r.Str();
    c->refused.push_back(std::move(p));
  }
  return r.Done();
}

// The records one event reads and changes, written back together at the end (only those whose
// bytes changed: a record never stored reads as the empty record).
class Touched {
 public:
  explicit Touched(StateStore& store) : store_(store) {}
  template <typename T>
  Status Load(std::string key, T** out) {
    std::deque<Slot<T>>& slots = Slots<T>();
    for (Slot<T>& s : slots)
      if (s.key == key) {
        *out = &s.value;
        return Status::OK();
      }
    Slot<T>& s = slots.emplace_back();
    s.key = std::move(key);
    if (Status st = store_.Get(s.key, &s.raw); st.ok()) {
      if (!Decode(s.raw, &s.value))
        return Status::Corruption("corrupt_projection_state", "analytics: unreadable value");
    } else if (!st.IsNotFound()) {
      return st;
    } else {
      Encode(s.value, &s.raw);  // the empty record: not written unless it changes
    }
    *out = &s.value;
    return Status::OK();
  }
  void Flush() {
    FlushSlots(counts_);
    FlushSlots(templates_);
    FlushSlots(messages_);
    FlushSlots(convs_);
  }

 private:
  template <typename T>
  struct Slot {
    std::string key, raw;
    T value;
  };
  template <typename T>
  std::deque<Slot<T>>& Slots() {
    if constexpr (std::is_same_v<T, Counts>) return counts_;
    if constexpr (std::is_same_v<T, TemplateCounts>) return templates_;
    if constexpr (std::is_same_v<T, MessageState>) return messages_;
    if constexpr (std::is_same_v<T, ConvState>) return convs_;
  }
  template <typename T>
  void FlushSlots(std::deque<Slot<T>>& slots) {
    std::string buf;
    for (const Slot<T>& s : slots) {
      buf.clear();
      Encode(s.value, &buf);
      if (buf != s.raw) store_.Put(s.key, buf);
    }
  }

  StateStore& store_;
  std::deque<Slot<Counts>> counts_;
  std::deque<Slot<TemplateCounts>> templates_;
  std::deque<Slot<MessageState>> messages_;
  std::deque<Slot<ConvState>> convs_;
};

#define RETURN_IF_ERROR(expr)                       \
  do {                                              \
    if (Status _st = (expr); !_st.ok()) return _st; \
  } while (0)

class AnalyticsFold final : public Projection {
 public:
  explicit AnalyticsFold(const ProjectionOptions& options) : options_(options) {}
  std::string_view Name() const override { return kAnalytics; }
  uint32_t Version() const override { return kVersion; }
  Status Apply(const Event& e, StateStore& store) override;
  // The 'c' keys are one conversation's working state; the others ('d', 'a', 't') are totals
  // that conversations only add to (counters, and histograms kept in bucket order), so the
  // ledger may rebuild the state in conversation order (see ledger/projection.h).
  bool ConversationLocal() const override { return true; }
  bool SharedKey(std::string_view key) const override { return key.empty() || key[0] != 'c'; }

 private:
  // Counters of (tenant, day) and, when `agent` is not empty, of that agent too; `fn` is applied
  // to each.
  template <typename Fn>
  Status ForDayAndAgent(Touched& t, const std::string& tenant, const std::string& day,
                        const std::string& agent, Fn fn) {
    Counts* d = nullptr;
    RETURN_IF_ERROR(t.Load(DayKey('d', tenant, day), &d));
    fn(*d);
    if (!agent.empty()) {
      Counts* a = nullptr;
      RETURN_IF_ERROR(t.Load(DayKey('a', tenant, day) + agent, &a));
      fn(*a);
    }
    return Status::OK();
  }
  Status Template(Touched& t, const std::string& tenant, const MessageState& msg,
                  TemplateCounts** out) {
    std::string k = DayKey('t', tenant, msg.day);
    k += LenPrefixed(msg.tn);
    k += msg.tl;
    return t.Load(std::move(k), out);
  }

  Status ApplyOrThrow(const Event& e, StateStore& store);
  Status OnSent(const Event& e, Touched& t);
  Status OnDeleted(const Event& e, Touched& t);
  Status OnCorrected(const Event& e, Touched& t);
  Status OnStatus(const Event& e, Touched& t);
  Status ApplyRefused(const Event& e, Touched& t, bool erasure);

  const ProjectionOptions options_;
};

Status AnalyticsFold::OnSent(const Event& e, Touched& t) {
  MessageState* m = nullptr;
  RETURN_IF_ERROR(t.Load(MessageStateKey(e.conversation_id, e.message_id), &m));
  if (m->sent) return Status::OK();  // a message id is sent once
  const std::string tenant = TenantOf(e);
  const int64_t at = OccurredAt(e);
  const std::string day = keys::UtcDay(at);
  const std::string agent = AgentRef(e);
  const bool outbound = e.direction == Direction::kOutbound;
  m->sent = true;
  m->ts = at;
  m->day = day;
  m->out = outbound;

  ConvState* conv = nullptr;
  RETURN_IF_ERROR(t.Load(ConvStateKey(e.conversation_id), &conv));
  if (!outbound) {
    RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, "", [](Counts& c) { c.Bump(kMessagesIn); }));
    if (!conv->has_await) {  // the first unanswered inbound
      conv->has_await = true;
      conv->await = at;
    }
  } else {
    const Counter by = e.actor.kind == ActorKind::kAgent ? kOutboundByAgent
                       : e.actor.kind == ActorKind::kBot ? kOutboundByBot
                                                         : kOutboundByOther;
    RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, "", [&](Counts& c) { c.Bump(by); }));
    RETURN_IF_ERROR(
        ForDayAndAgent(t, tenant, day, agent, [](Counts& c) { c.Bump(kMessagesOut); }));
    // First response: the first outbound after (by its own time) an unanswered inbound.
    if (conv->has_await && at >= conv->await) {
      const uint64_t s = Seconds(conv->await, at);
      conv->has_await = false;
      conv->await = 0;
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent,
                                     [&](Counts& c) { AddSample(c.first_response, s); }));
    }
    // Bot-to-agent handoff: an agent message after a bot message with no agent message between.
    if (e.actor.kind == ActorKind::kBot) {
      conv->bot = true;
    } else if (e.actor.kind == ActorKind::kAgent) {
      if (conv->bot)
        RETURN_IF_ERROR(
            ForDayAndAgent(t, tenant, day, agent, [](Counts& c) { c.Bump(kHandoffs); }));
      conv->bot = false;
    }
    if (e.template_) {
      std::string category = e.template_->category;
      std::transform(category.begin(), category.end(), category.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      if (category == "marketing") {
        const bool opted_in = conv->consent == "opt_in";
        RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent, [&](Counts& c) {
          c.Bump(kMarketingTemplatesSent);
          if (!opted_in) c.Bump(kMarketingWithoutOptIn);
        }));
      }
      m->has_template = true;
      m->tn = e.template_->name;
      m->tl = e.template_->language;
      TemplateCounts* tp = nullptr;
      RETURN_IF_ERROR(Template(t, tenant, *m, &tp));
      ++tp->sent;
      // Statuses that arrived before the send.
      if (m->dlv) ++tp->delivered;
      if (m->has_rd) {
        ++tp->read;
        AddSample(tp->time_to_read, Seconds(at, m->rd));
      }
    }
  }
  // Corrections recorded before the send they correct.
  if (!m->pcorr.empty()) {
    std::vector<Pending> pending = std::move(m->pcorr);
    m->pcorr.clear();
    for (const Pending& c : pending) {
      const uint64_t s = Seconds(at, c.ts);
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, c.day, c.agent, [&](Counts& x) {
        AddSample(x.time_to_correction, s);
      }));
    }
  }
  return Status::OK();
}

Status AnalyticsFold::OnDeleted(const Event& e, Touched& t) {
  const std::string tenant = TenantOf(e);
  const int64_t at = OccurredAt(e);
  const std::string day = keys::UtcDay(at);
  const std::string agent = AgentRef(e);
  const bool everyone = e.scope == DeleteScope::kEveryone;
  RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent, [&](Counts& c) {
    c.Bump(kDeletions);
    if (everyone) c.Bump(kDeletionsForEveryone);
  }));
  // Only the business's own deletions for everyone owe the customer an explanation.
  if (!everyone || !IsCommand(e.actor.kind)) return Status::OK();
  MessageState* m = nullptr;
  RETURN_IF_ERROR(t.Load(MessageStateKey(e.conversation_id, e.message_id), &m));
  bool explained = !e.reason.empty();
  if (!explained && m->has_corr_min)
    explained = m->corr_min <= at + options_.explanation_window_us;
  RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent, [&](Counts& c) {
    c.Bump(explained ? kDeletionsExplained : kDeletionsUnexplained);
  }));
  if (!explained) m->udel.push_back(Pending{at, day, agent});
  return Status::OK();
}

Status AnalyticsFold::OnCorrected(const Event& e, Touched& t) {
  const std::string tenant = TenantOf(e);
  const int64_t at = OccurredAt(e);
  const std::string day = keys::UtcDay(at);
  const std::string agent = AgentRef(e);
  RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent, [&](Counts& c) {
    c.Bump(kCorrections);
    c.BumpReason(e.reason_code);
  }));
  MessageState* m = nullptr;
  RETURN_IF_ERROR(t.Load(MessageStateKey(e.conversation_id, e.message_id), &m));
  if (!m->has_corr_min || at < m->corr_min) {
    m->has_corr_min = true;
    m->corr_min = at;
  }
  // Deletions counted as unexplained that this correction explains after all.
  if (!m->udel.empty()) {
    std::vector<Pending> keep;
    for (Pending& d : m->udel) {
      if (at > d.ts + options_.explanation_window_us) {
        keep.push_back(std::move(d));
        continue;
      }
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, d.day, d.agent, [](Counts& c) {
        c.Bump(kDeletionsUnexplained, -1);
        c.Bump(kDeletionsExplained);
      }));
    }
    m->udel = std::move(keep);
  }
  // Time to correction: from the wrong message's send to this correction.
  if (m->sent) {
    const uint64_t s = Seconds(m->ts, at);
    RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent,
                                   [&](Counts& c) { AddSample(c.time_to_correction, s); }));
  } else {
    m->pcorr.push_back(Pending{at, day, agent});
  }
  return Status::OK();
}

Status AnalyticsFold::ApplyRefused(const Event& e, Touched& t, bool erasure) {
  ConvState* conv = nullptr;
  RETURN_IF_ERROR(t.Load(ConvStateKey(e.conversation_id), &conv));
  if (conv->refused.empty()) return Status::OK();
  std::vector<Refusal> keep;
  for (Refusal& p : conv->refused) {
    if (!erasure && p.msg != e.message_id) {
      keep.push_back(std::move(p));
      continue;
    }
    RETURN_IF_ERROR(ForDayAndAgent(t, TenantOf(e), p.day, p.agent,
                                   [](Counts& c) { c.Bump(kRefusedPending, -1); }));
  }
  conv->refused = std::move(keep);
  return Status::OK();
}

Status AnalyticsFold::OnStatus(const Event& e, Touched& t) {
  MessageState* m = nullptr;
  RETURN_IF_ERROR(t.Load(MessageStateKey(e.conversation_id, e.message_id), &m));
  const bool sent = m->sent;
  if (sent && !m->out) return Status::OK();  // receipts are for outbound messages
  const std::string tenant = TenantOf(e);
  const int64_t at = OccurredAt(e);
  const bool has_template = sent && m->has_template;
  switch (e.status) {
    case Delivery::kFailed:
      if (!m->failed) {  // a message fails once, however often it is reported
        m->failed = true;
        RETURN_IF_ERROR(ForDayAndAgent(t, tenant, keys::UtcDay(at), "",
                                       [](Counts& c) { c.Bump(kFailedDeliveries); }));
      }
      return Status::OK();
    case Delivery::kDelivered:
    case Delivery::kRead: {
      // `read` implies delivered (WhatsApp skips `delivered` when a message is read at once).
      if (!m->dlv) {
        m->dlv = true;
        if (has_template) {
          TemplateCounts* tp = nullptr;
          RETURN_IF_ERROR(Template(t, tenant, *m, &tp));
          ++tp->delivered;
        }
      }
      if (e.status == Delivery::kRead && !m->has_rd) {
        m->has_rd = true;
        m->rd = at;
        if (has_template) {
          TemplateCounts* tp = nullptr;
          RETURN_IF_ERROR(Template(t, tenant, *m, &tp));
          ++tp->read;
          AddSample(tp->time_to_read, Seconds(m->ts, at));
        }
      }
      return Status::OK();
    }
    default:
      return Status::OK();
  }
}

Status AnalyticsFold::Apply(const Event& e, StateStore& store) {
  // No exception may cross projections/ (an allocation failure is the only one left).
  try {
    return ApplyOrThrow(e, store);
  } catch (const std::exception& ex) {
    return Status::Corruption("corrupt_projection_state", std::string("analytics: ") + ex.what());
  }
}

Status AnalyticsFold::ApplyOrThrow(const Event& e, StateStore& store) {
  Touched t(store);
  const std::string tenant = TenantOf(e);
  const std::string day = keys::UtcDay(OccurredAt(e));
  switch (e.type) {
    case EventType::kMessageSent:
      RETURN_IF_ERROR(OnSent(e, t));
      break;
    case EventType::kMessageEdited:
      RETURN_IF_ERROR(
          ForDayAndAgent(t, tenant, day, AgentRef(e), [](Counts& c) { c.Bump(kEdits); }));
      break;
    case EventType::kMessageDeleted:
      RETURN_IF_ERROR(OnDeleted(e, t));
      break;
    case EventType::kMessageCorrected:
      RETURN_IF_ERROR(OnCorrected(e, t));
      break;
    case EventType::kMessageRedacted:
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, AgentRef(e), [&](Counts& c) {
        c.Bump(kRedactions);
        if (e.override_hold) c.Bump(kRedactionsDespiteHold);
      }));
      RETURN_IF_ERROR(ApplyRefused(e, t, false));
      break;
    case EventType::kSubjectErased:
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, AgentRef(e), [&](Counts& c) {
        c.Bump(kErasures);
        if (e.override_hold) c.Bump(kErasuresDespiteHold);
      }));
      RETURN_IF_ERROR(ApplyRefused(e, t, true));
      break;
    case EventType::kErasureRefused: {
      // Counted on the day of the refusal, pending there until a later redaction of the
      // message (or an erasure of the conversation's subject) applies it.
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, AgentRef(e), [&](Counts& c) {
        c.Bump(e.refused == EventType::kSubjectErased ? kErasuresRefused : kRedactionsRefused);
        c.Bump(kRefusedPending);
      }));
      ConvState* conv = nullptr;
      RETURN_IF_ERROR(t.Load(ConvStateKey(e.conversation_id), &conv));
      Refusal p;
      p.day = day;
      p.agent = AgentRef(e);
      if (e.refused == EventType::kMessageRedacted) p.msg = e.message_id;
      conv->refused.push_back(std::move(p));
      break;
    }
    case EventType::kMessageStatus:
      RETURN_IF_ERROR(OnStatus(e, t));
      break;
    case EventType::kConsentChanged:
      // Marketing consent in log order: what the business's systems knew when they sent.
      if (e.consent_scope == "marketing" && e.consent != ConsentState::kUnknown) {
        ConvState* conv = nullptr;
        RETURN_IF_ERROR(t.Load(ConvStateKey(e.conversation_id), &conv));
        conv->consent = std::string(ToString(e.consent));
      }
      break;
    default:  // reactions, legal holds, notes: not counted
      break;
  }
  t.Flush();
  return Status::OK();
}

// ---- rendering ----

bool ValidDay(std::string_view d) {
  if (d.size() != kDayBytes || d[4] != '-' || d[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (d[i] < '0' || d[i] > '9') return false;
  return true;
}

// A key's tenant and day: tag || be16(len) || tenant || day || rest.
bool SplitKey(std::string_view key, std::string_view* tenant, std::string_view* day,
              std::string_view* rest) {
  if (key.size() < 3) return false;
  const size_t len = (static_cast<unsigned char>(key[1]) << 8) | static_cast<unsigned char>(key[2]);
  if (key.size() < 3 + len + kDayBytes) return false;
  *tenant = key.substr(3, len);
  *day = key.substr(3 + len, kDayBytes);
  *rest = key.substr(3 + len + kDayBytes);
  return true;
}

using Histogram = std::map<uint64_t, uint64_t>;

struct Counters {
  std::map<std::string, int64_t> n;
  std::map<std::string, int64_t> by_reason;
  Histogram ttc, frt;
  void Add(const Counts& v);
  void Add(const Counters& o) {
    for (const auto& [k, x] : o.n) n[k] += x;
    for (const auto& [k, x] : o.by_reason) by_reason[k] += x;
    for (const auto& [k, x] : o.ttc) ttc[k] += x;
    for (const auto& [k, x] : o.frt) frt[k] += x;
  }
  int64_t Get(const std::string& k) const {
    auto it = n.find(k);
    return it == n.end() ? 0 : it->second;
  }
};

// Nearest rank: the ceil(q * n)-th smallest sample, q = num / den; the lower bound of its bucket.
json Quantile(const Histogram& h, uint64_t total, uint64_t num, uint64_t den) {
  if (total == 0) return nullptr;
  const uint64_t rank = std::max<uint64_t>(1, (num * total + den - 1) / den);
  uint64_t seen = 0;
  for (const auto& [b, c] : h) {
    seen += c;
    if (seen >= rank) return b;
  }
  return h.rbegin()->first;
}

json Durations(const Histogram& h) {
  uint64_t total = 0;
  for (const auto& [b, c] : h) total += c;
  return json{
      {"samples", total}, {"median", Quantile(h, total, 1, 2)}, {"p90", Quantile(h, total, 9, 10)}};
}

// num / den rounded to 4 decimals (0 when den is 0), from integers so every machine agrees.
json Rate(int64_t num, int64_t den) {
  if (den <= 0) return 0.0;
  const int64_t bp = (num * 10000 + den / 2) / den;
  return static_cast<double>(bp) / 10000.0;
}

constexpr const char* kDayCounters[] = {"messages_in",
                                        "messages_out",
                                        "outbound_by_agent",
                                        "outbound_by_bot",
                                        "outbound_by_other",
                                        "edits",
                                        "deletions",
                                        "deletions_for_everyone",
                                        "deletions_explained",
                                        "deletions_unexplained",
                                        "corrections",
                                        "redactions",
                                        "redactions_despite_hold",
                                        "redactions_refused",
                                        "erasures",
                                        "erasures_despite_hold",
                                        "erasures_refused",
                                        "refused_pending",
                                        "failed_deliveries",
                                        "marketing_templates_sent",
                                        "marketing_without_opt_in",
                                        "handoffs"};
constexpr const char* kAgentCounters[] = {"messages_out",
                                          "edits",
                                          "deletions",
                                          "deletions_for_everyone",
                                          "deletions_explained",
                                          "deletions_unexplained",
                                          "corrections",
                                          "redactions",
                                          "redactions_despite_hold",
                                          "redactions_refused",
                                          "erasures",
                                          "erasures_despite_hold",
                                          "erasures_refused",
                                          "refused_pending",
                                          "marketing_templates_sent",
                                          "marketing_without_opt_in",
                                          "handoffs"};

static_assert(std::size(kDayCounters) == kNumCounters);

void Counters::Add(const Counts& v) {
  for (size_t i = 0; i < kNumCounters; ++i)
    if (v.n[i] != 0) n[kDayCounters[i]] += v.n[i];
  for (const auto& [code, c] : v.by_reason) by_reason[code] += c;
  for (const auto& [b, c] : v.time_to_correction) ttc[b] += c;
  for (const auto& [b, c] : v.first_response) frt[b] += c;
}

json Summary(const Counters& c, bool agent) {
  json j = json::object();
  if (agent) {
    for (const char* k : kAgentCounters) j[k] = c.Get(k);
  } else {
    for (const char* k : kDayCounters) j[k] = c.Get(k);
    const int64_t out = c.Get("messages_out");
    j["agent_share"] = Rate(c.Get("outbound_by_agent"), out);
    j["bot_share"] = Rate(c.Get("outbound_by_bot"), out);
  }
  j["corrections_by_reason"] = json::object();
  for (const auto& [code, n] : c.by_reason) j["corrections_by_reason"][code] = n;
  j["time_to_correction_s"] = Durations(c.ttc);
  j["first_response_s"] = Durations(c.frt);
  return j;
}

struct TemplateStats {
  int64_t sent = 0, delivered = 0, read = 0;
  Histogram ttr;
};

struct TenantReport {
  Counters totals;
  std::map<std::string, Counters> days;
  std::map<std::pair<char, std::string>, Counters> agents;
  std::map<std::pair<std::string, std::string>, TemplateStats> templates;
};

}  // namespace

std::shared_ptr<Projection> MakeAnalytics(const ProjectionOptions& options) {
  return std::make_shared<AnalyticsFold>(options);
}

namespace {
Result<std::string> RenderOrThrow(StateReader& state, const AnalyticsQuery& query);
}  // namespace

Result<std::string> RenderAnalytics(StateReader& state, const AnalyticsQuery& query) {
  try {
    return RenderOrThrow(state, query);
  } catch (const std::exception& ex) {
    return Status::Corruption("corrupt_projection_state", std::string("analytics: ") + ex.what());
  }
}

namespace {
Result<std::string> RenderOrThrow(StateReader& state, const AnalyticsQuery& query) {
  if ((!query.from_day.empty() && !ValidDay(query.from_day)) ||
      (!query.to_day.empty() && !ValidDay(query.to_day)))
    return Status::InvalidArgument("invalid_day", "days are YYYY-MM-DD");
  if (!query.from_day.empty() && !query.to_day.empty() && query.from_day > query.to_day)
    return Status::InvalidArgument("invalid_range", "from_day is after to_day");
  auto in_range = [&](std::string_view day) {
    return (query.from_day.empty() || day >= query.from_day) &&
           (query.to_day.empty() || day <= query.to_day);
  };
  std::map<std::string, TenantReport> tenants;
  bool corrupt = false;
  auto scan = [&](char tag, const std::function<void(TenantReport&, std::string_view day,
                                                     std::string_view rest,
                                                     std::string_view value)>& fn) {
    std::string prefix(1, tag);
    if (!query.tenant.empty()) prefix += LenPrefixed(query.tenant);
    return state.Scan(prefix, [&](std::string_view key, std::string_view value) {
      std::string_view tenant, day, rest;
      if (!SplitKey(key, &tenant, &day, &rest)) {
        corrupt = true;
        return false;
      }
      if (!in_range(day)) return true;
      fn(tenants[std::string(tenant)], day, rest, value);
      return !corrupt;
    });
  };
  RETURN_IF_ERROR(scan('d', [&](TenantReport& r, std::string_view day, std::string_view,
                                std::string_view value) {
    Counts v;
    if (!Decode(value, &v)) {
      corrupt = true;
      return;
    }
    r.days[std::string(day)].Add(v);
  }));
  RETURN_IF_ERROR(scan(
      'a', [&](TenantReport& r, std::string_view, std::string_view rest, std::string_view value) {
        Counts v;
        if (!Decode(value, &v)) {
          corrupt = true;
          return;
        }
        if (rest.empty()) return;
        r.agents[{rest[0], std::string(rest.substr(1))}].Add(v);
      }));
  RETURN_IF_ERROR(scan(
      't', [&](TenantReport& r, std::string_view, std::string_view rest, std::string_view value) {
        TemplateCounts v;
        if (!Decode(value, &v)) {
          corrupt = true;
          return;
        }
        if (rest.size() < 2) return;
        const size_t len =
            (static_cast<unsigned char>(rest[0]) << 8) | static_cast<unsigned char>(rest[1]);
        if (rest.size() < 2 + len) {
          corrupt = true;
          return;
        }
        TemplateStats& s =
            r.templates[{std::string(rest.substr(2, len)), std::string(rest.substr(2 + len))}];
        s.sent += v.sent;
        s.delivered += v.delivered;
        s.read += v.read;
        for (const auto& [b, c] : v.time_to_read) s.ttr[b] += c;
      }));
  if (corrupt)
    return Status::Corruption("corrupt_projection_state", "analytics: unreadable key or value");

  json out = json::object();
  out["tenant"] = query.tenant.empty() ? json(nullptr) : json(query.tenant);
  out["from_day"] = query.from_day.empty() ? json(nullptr) : json(query.from_day);
  out["to_day"] = query.to_day.empty() ? json(nullptr) : json(query.to_day);
  Counters all;
  json tenant_list = json::array();
  for (auto& [name, r] : tenants) {
    json days = json::array();
    for (const auto& [day, c] : r.days) {
      r.totals.Add(c);
      json d = Summary(c, false);
      d["day"] = day;
      days.push_back(std::move(d));
    }
    all.Add(r.totals);
    json agents = json::array();
    for (const auto& [who, c] : r.agents) {
      json a = Summary(c, true);
      a["kind"] = who.first == 'a' ? "agent" : "bot";
      a["id"] = who.second;
      agents.push_back(std::move(a));
    }
    json templates = json::array();
    for (const auto& [key, s] : r.templates) {
      json tj = json::object();
      tj["name"] = key.first;
      tj["language"] = key.second;
      tj["sent"] = s.sent;
      tj["delivered"] = s.delivered;
      tj["read"] = s.read;
      tj["delivered_rate"] = Rate(s.delivered, s.sent);
      tj["read_rate"] = Rate(s.read, s.sent);
      tj["time_to_read_s"] = Durations(s.ttr);
      templates.push_back(std::move(tj));
    }
    json tj = json::object();
    tj["tenant"] = name;
    tj["totals"] = Summary(r.totals, false);
    tj["days"] = std::move(days);
    tj["agents"] = std::move(agents);
    tj["templates"] = std::move(templates);
    tenant_list.push_back(std::move(tj));
  }
  out["totals"] = Summary(all, false);
  out["tenants"] = std::move(tenant_list);
  return Dump(out);
}
}  // namespace

}  // namespace convledger::projections
