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
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "projections/projections.h"
#include "state_keys.h"

namespace convledger::projections {
namespace {

using json = nlohmann::json;

constexpr uint32_t kVersion = 2;  // 2: erasures, refused requests (issue 6)
constexpr size_t kDayBytes = 10;  // "YYYY-MM-DD"

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int64_t OccurredAt(const Event& e) { return e.occurred_at_us.value_or(e.recorded_at_us); }

std::string TenantOf(const Event& e) { return e.tenant.empty() ? "default" : e.tenant; }

// be16(length) || text: no tenant (or template name) is a prefix of another's keys.
std::string LenPrefixed(std::string_view s) { return keys::ConvKey(s); }

std::string ConvState(std::string_view conv) {
  std::string k(1, 'c');
  k += keys::ConvKey(conv);
  k += 'h';
  return k;
}

std::string MessageState(std::string_view conv, std::string_view message_id) {
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

void Bump(json& obj, const char* name, int64_t delta = 1) {
  obj[name] = obj.value(name, int64_t{0}) + delta;
}

void AddSample(json& obj, const char* name, uint64_t seconds) {
  json& h = obj[name];
  if (!h.is_array()) h = json::array();
  const uint64_t b = Bucket(seconds);
  auto it = std::lower_bound(h.begin(), h.end(), b, [](const json& pair, uint64_t v) {
    return pair[0].get<uint64_t>() < v;
  });
  if (it != h.end() && (*it)[0].get<uint64_t>() == b)
    (*it)[1] = (*it)[1].get<uint64_t>() + 1;
  else
    h.insert(it, json::array({b, 1}));
}

// The JSON objects one event reads and changes, written back together at the end.
class Touched {
 public:
  explicit Touched(StateStore& store) : store_(store) {}
  Status Load(const std::string& key, json** out) {
    auto it = loaded_.find(key);
    if (it == loaded_.end()) {
      std::string raw;
      json v = json::object();
      if (Status st = store_.Get(key, &raw); st.ok()) {
        v = json::parse(raw, nullptr, false);
        if (!v.is_object())
          return Status::Corruption("corrupt_projection_state", "analytics: unreadable value");
      } else if (!st.IsNotFound()) {
        return st;
      }
      it = loaded_.emplace(key, std::move(v)).first;
    }
    *out = &it->second;
    return Status::OK();
  }
  void Flush() {
    for (const auto& [k, v] : loaded_) store_.Put(k, Dump(v));
  }

 private:
  StateStore& store_;
  std::map<std::string, json> loaded_;
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

 private:
  // Counters of (tenant, day) and, when `agent` is not empty, of that agent too; `fn` is applied
  // to each.
  template <typename Fn>
  Status ForDayAndAgent(Touched& t, const std::string& tenant, const std::string& day,
                        const std::string& agent, Fn fn) {
    json* d = nullptr;
    RETURN_IF_ERROR(t.Load(DayKey('d', tenant, day), &d));
    fn(*d);
    if (!agent.empty()) {
      json* a = nullptr;
      RETURN_IF_ERROR(t.Load(DayKey('a', tenant, day) + agent, &a));
      fn(*a);
    }
    return Status::OK();
  }
  Status Template(Touched& t, const std::string& tenant, const json& msg, json** out) {
    std::string k = DayKey('t', tenant, msg.value("day", std::string()));
    k += LenPrefixed(msg.value("tn", std::string()));
    k += msg.value("tl", std::string());
    return t.Load(k, out);
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
  json* m = nullptr;
  RETURN_IF_ERROR(t.Load(MessageState(e.conversation_id, e.message_id), &m));
  if (m->value("sent", false)) return Status::OK();  // a message id is sent once
  const std::string tenant = TenantOf(e);
  const int64_t at = OccurredAt(e);
  const std::string day = keys::UtcDay(at);
  const std::string agent = AgentRef(e);
  const bool outbound = e.direction == Direction::kOutbound;
  (*m)["sent"] = true;
  (*m)["ts"] = at;
  (*m)["day"] = day;
  (*m)["out"] = outbound;

  json* conv = nullptr;
  RETURN_IF_ERROR(t.Load(ConvState(e.conversation_id), &conv));
  if (!outbound) {
    RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, "", [](json& c) { Bump(c, "messages_in"); }));
    if (!conv->contains("await")) (*conv)["await"] = at;  // the first unanswered inbound
  } else {
    const char* by = e.actor.kind == ActorKind::kAgent ? "outbound_by_agent"
                     : e.actor.kind == ActorKind::kBot ? "outbound_by_bot"
                                                       : "outbound_by_other";
    RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, "", [&](json& c) { Bump(c, by); }));
    RETURN_IF_ERROR(
        ForDayAndAgent(t, tenant, day, agent, [](json& c) { Bump(c, "messages_out"); }));
    // First response: the first outbound after (by its own time) an unanswered inbound.
    if (auto it = conv->find("await"); it != conv->end() && at >= it->get<int64_t>()) {
      const uint64_t s = Seconds(it->get<int64_t>(), at);
      conv->erase("await");
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent,
                                     [&](json& c) { AddSample(c, "first_response", s); }));
    }
    // Bot-to-agent handoff: an agent message after a bot message with no agent message between.
    if (e.actor.kind == ActorKind::kBot) {
      (*conv)["bot"] = true;
    } else if (e.actor.kind == ActorKind::kAgent) {
      if (conv->value("bot", false))
        RETURN_IF_ERROR(
            ForDayAndAgent(t, tenant, day, agent, [](json& c) { Bump(c, "handoffs"); }));
      conv->erase("bot");
    }
    if (e.template_) {
      std::string category = e.template_->category;
      std::transform(category.begin(), category.end(), category.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      if (category == "marketing") {
        const bool opted_in = conv->value("consent", std::string()) == "opt_in";
        RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent, [&](json& c) {
          Bump(c, "marketing_templates_sent");
          if (!opted_in) Bump(c, "marketing_without_opt_in");
        }));
      }
      (*m)["tn"] = e.template_->name;
      (*m)["tl"] = e.template_->language;
      json* tp = nullptr;
      RETURN_IF_ERROR(Template(t, tenant, *m, &tp));
      Bump(*tp, "sent");
      // Statuses that arrived before the send.
      if (m->value("dlv", false)) Bump(*tp, "delivered");
      if (auto rd = m->find("rd"); rd != m->end()) {
        Bump(*tp, "read");
        AddSample(*tp, "time_to_read", Seconds(at, rd->get<int64_t>()));
      }
    }
  }
  // Corrections recorded before the send they correct.
  if (auto pc = m->find("pcorr"); pc != m->end()) {
    json pending = std::move(*pc);
    m->erase("pcorr");
    for (const json& c : pending) {
      const uint64_t s = Seconds(at, c.value("ts", int64_t{0}));
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, c.value("day", std::string()),
                                     c.value("agent", std::string()),
                                     [&](json& x) { AddSample(x, "time_to_correction", s); }));
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
  RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent, [&](json& c) {
    Bump(c, "deletions");
    if (everyone) Bump(c, "deletions_for_everyone");
  }));
  // Only the business's own deletions for everyone owe the customer an explanation.
  if (!everyone || !IsCommand(e.actor.kind)) return Status::OK();
  json* m = nullptr;
  RETURN_IF_ERROR(t.Load(MessageState(e.conversation_id, e.message_id), &m));
  bool explained = !e.reason.empty();
  if (auto c = m->find("corr_min"); !explained && c != m->end())
    explained = c->get<int64_t>() <= at + options_.explanation_window_us;
  RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent, [&](json& c) {
    Bump(c, explained ? "deletions_explained" : "deletions_unexplained");
  }));
  if (!explained) {
    json d = json::object();
    d["ts"] = at;
    d["day"] = day;
    if (!agent.empty()) d["agent"] = agent;
    (*m)["udel"].push_back(std::move(d));
  }
  return Status::OK();
}

Status AnalyticsFold::OnCorrected(const Event& e, Touched& t) {
  const std::string tenant = TenantOf(e);
  const int64_t at = OccurredAt(e);
  const std::string day = keys::UtcDay(at);
  const std::string agent = AgentRef(e);
  RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent, [&](json& c) {
    Bump(c, "corrections");
    json& by = c["corrections_by_reason"];
    if (!by.is_object()) by = json::object();
    by[e.reason_code] = by.value(e.reason_code, int64_t{0}) + 1;
  }));
  json* m = nullptr;
  RETURN_IF_ERROR(t.Load(MessageState(e.conversation_id, e.message_id), &m));
  if (!m->contains("corr_min") || at < (*m)["corr_min"].get<int64_t>()) (*m)["corr_min"] = at;
  // Deletions counted as unexplained that this correction explains after all.
  if (auto ud = m->find("udel"); ud != m->end()) {
    json keep = json::array();
    for (const json& d : *ud) {
      if (at > d.value("ts", int64_t{0}) + options_.explanation_window_us) {
        keep.push_back(d);
        continue;
      }
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, d.value("day", std::string()),
                                     d.value("agent", std::string()), [](json& c) {
                                       Bump(c, "deletions_unexplained", -1);
                                       Bump(c, "deletions_explained");
                                     }));
    }
    if (keep.empty())
      m->erase("udel");
    else
      (*m)["udel"] = std::move(keep);
  }
  // Time to correction: from the wrong message's send to this correction.
  if (m->value("sent", false)) {
    const uint64_t s = Seconds(m->value("ts", int64_t{0}), at);
    RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, agent,
                                   [&](json& c) { AddSample(c, "time_to_correction", s); }));
  } else {
    json p = json::object();
    p["ts"] = at;
    p["day"] = day;
    if (!agent.empty()) p["agent"] = agent;
    (*m)["pcorr"].push_back(std::move(p));
  }
  return Status::OK();
}

Status AnalyticsFold::ApplyRefused(const Event& e, Touched& t, bool erasure) {
  json* conv = nullptr;
  RETURN_IF_ERROR(t.Load(ConvState(e.conversation_id), &conv));
  auto it = conv->find("refused");
  if (it == conv->end()) return Status::OK();
  json keep = json::array();
  for (const json& p : *it) {
    if (!erasure && p.value("msg", std::string()) != e.message_id) {
      keep.push_back(p);
      continue;
    }
    RETURN_IF_ERROR(ForDayAndAgent(t, TenantOf(e), p.value("day", std::string()),
                                   p.value("agent", std::string()),
                                   [](json& c) { Bump(c, "refused_pending", -1); }));
  }
  if (keep.empty())
    conv->erase("refused");
  else
    (*conv)["refused"] = std::move(keep);
  return Status::OK();
}

Status AnalyticsFold::OnStatus(const Event& e, Touched& t) {
  json* m = nullptr;
  RETURN_IF_ERROR(t.Load(MessageState(e.conversation_id, e.message_id), &m));
  const bool sent = m->value("sent", false);
  if (sent && !m->value("out", false)) return Status::OK();  // receipts are for outbound messages
  const std::string tenant = TenantOf(e);
  const int64_t at = OccurredAt(e);
  const bool has_template = sent && m->contains("tn");
  switch (e.status) {
    case Delivery::kFailed:
      if (!m->value("failed", false)) {  // a message fails once, however often it is reported
        (*m)["failed"] = true;
        RETURN_IF_ERROR(ForDayAndAgent(t, tenant, keys::UtcDay(at), "",
                                       [](json& c) { Bump(c, "failed_deliveries"); }));
      }
      return Status::OK();
    case Delivery::kDelivered:
    case Delivery::kRead: {
      // `read` implies delivered (WhatsApp skips `delivered` when a message is read at once).
      if (!m->value("dlv", false)) {
        (*m)["dlv"] = true;
        if (has_template) {
          json* tp = nullptr;
          RETURN_IF_ERROR(Template(t, tenant, *m, &tp));
          Bump(*tp, "delivered");
        }
      }
      if (e.status == Delivery::kRead && !m->contains("rd")) {
        (*m)["rd"] = at;
        if (has_template) {
          json* tp = nullptr;
          RETURN_IF_ERROR(Template(t, tenant, *m, &tp));
          Bump(*tp, "read");
          AddSample(*tp, "time_to_read", Seconds(m->value("ts", int64_t{0}), at));
        }
      }
      return Status::OK();
    }
    default:
      return Status::OK();
  }
}

Status AnalyticsFold::Apply(const Event& e, StateStore& store) {
  // nlohmann::json reports type errors by exception; none may cross projections/. The fold's
  // own values never raise one, so reaching the catch means the stored state is not ours.
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
          ForDayAndAgent(t, tenant, day, AgentRef(e), [](json& c) { Bump(c, "edits"); }));
      break;
    case EventType::kMessageDeleted:
      RETURN_IF_ERROR(OnDeleted(e, t));
      break;
    case EventType::kMessageCorrected:
      RETURN_IF_ERROR(OnCorrected(e, t));
      break;
    case EventType::kMessageRedacted:
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, AgentRef(e), [&](json& c) {
        Bump(c, "redactions");
        if (e.override_hold) Bump(c, "redactions_despite_hold");
      }));
      RETURN_IF_ERROR(ApplyRefused(e, t, false));
      break;
    case EventType::kSubjectErased:
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, AgentRef(e), [&](json& c) {
        Bump(c, "erasures");
        if (e.override_hold) Bump(c, "erasures_despite_hold");
      }));
      RETURN_IF_ERROR(ApplyRefused(e, t, true));
      break;
    case EventType::kErasureRefused: {
      // Counted on the day of the refusal, pending there until a later redaction of the
      // message (or an erasure of the conversation's subject) applies it.
      RETURN_IF_ERROR(ForDayAndAgent(t, tenant, day, AgentRef(e), [&](json& c) {
        Bump(c, e.refused == EventType::kSubjectErased ? "erasures_refused" : "redactions_refused");
        Bump(c, "refused_pending");
      }));
      json* conv = nullptr;
      RETURN_IF_ERROR(t.Load(ConvState(e.conversation_id), &conv));
      json p = json::object();
      p["day"] = day;
      p["agent"] = AgentRef(e);
      if (e.refused == EventType::kMessageRedacted) p["msg"] = e.message_id;
      (*conv)["refused"].push_back(std::move(p));
      break;
    }
    case EventType::kMessageStatus:
      RETURN_IF_ERROR(OnStatus(e, t));
      break;
    case EventType::kConsentChanged:
      // Marketing consent in log order: what the business's systems knew when they sent.
      if (e.consent_scope == "marketing" && e.consent != ConsentState::kUnknown) {
        json* conv = nullptr;
        RETURN_IF_ERROR(t.Load(ConvState(e.conversation_id), &conv));
        (*conv)["consent"] = std::string(ToString(e.consent));
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
  void Add(const json& v) {
    for (const auto& [k, x] : v.items()) {
      if (x.is_number_integer()) {
        n[k] += x.get<int64_t>();
      } else if (k == "corrections_by_reason" && x.is_object()) {
        for (const auto& [code, c] : x.items())
          if (c.is_number_integer()) by_reason[code] += c.get<int64_t>();
      } else if (x.is_array() && (k == "time_to_correction" || k == "first_response")) {
        Histogram& h = k == "time_to_correction" ? ttc : frt;
        for (const json& p : x)
          if (p.is_array() && p.size() == 2) h[p[0].get<uint64_t>()] += p[1].get<uint64_t>();
      }
    }
  }
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
                                                     std::string_view rest, const json&)>& fn) {
    std::string prefix(1, tag);
    if (!query.tenant.empty()) prefix += LenPrefixed(query.tenant);
    return state.Scan(prefix, [&](std::string_view key, std::string_view value) {
      std::string_view tenant, day, rest;
      if (!SplitKey(key, &tenant, &day, &rest)) {
        corrupt = true;
        return false;
      }
      if (!in_range(day)) return true;
      json v = json::parse(value, nullptr, false);
      if (!v.is_object()) {
        corrupt = true;
        return false;
      }
      fn(tenants[std::string(tenant)], day, rest, v);
      return true;
    });
  };
  RETURN_IF_ERROR(scan('d', [](TenantReport& r, std::string_view day, std::string_view,
                               const json& v) { r.days[std::string(day)].Add(v); }));
  RETURN_IF_ERROR(
      scan('a', [](TenantReport& r, std::string_view, std::string_view rest, const json& v) {
        if (rest.empty()) return;
        r.agents[{rest[0], std::string(rest.substr(1))}].Add(v);
      }));
  RETURN_IF_ERROR(
      scan('t', [&](TenantReport& r, std::string_view, std::string_view rest, const json& v) {
        if (rest.size() < 2) return;
        const size_t len =
            (static_cast<unsigned char>(rest[0]) << 8) | static_cast<unsigned char>(rest[1]);
        if (rest.size() < 2 + len) {
          corrupt = true;
          return;
        }
        TemplateStats& s =
            r.templates[{std::string(rest.substr(2, len)), std::string(rest.substr(2 + len))}];
        s.sent += v.value("sent", int64_t{0});
        s.delivered += v.value("delivered", int64_t{0});
        s.read += v.value("read", int64_t{0});
        if (auto h = v.find("time_to_read"); h != v.end() && h->is_array())
          for (const json& p : *h)
            if (p.is_array() && p.size() == 2) s.ttr[p[0].get<uint64_t>()] += p[1].get<uint64_t>();
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
