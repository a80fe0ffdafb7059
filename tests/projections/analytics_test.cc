// The analytics projection (projections/src/analytics.cc): counters per tenant, UTC day, agent
// and template. Events are built in C++ and folded into a MemoryState through Apply (the test
// assigns the sequences and times); the numbers are checked against a hand-computed example
// (worked out in the comments of HandExample), then the same log runs through a real Ledger.
#include <map>
#include <nlohmann/json.hpp>

#include "ledger/test_util.h"
#include "projections/projections.h"

namespace convledger::projections {
namespace {

using json = nlohmann::json;

constexpr int64_t kSec = 1000000;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kDay1 = 1795165200LL * kSec;       // 2026-11-20T09:00:00Z
constexpr int64_t kDay2 = kDay1 + 24 * 3600 * kSec;  // 2026-11-21T09:00:00Z

Event At(Event e, int64_t occurred_at_us) {
  e.occurred_at_us = occurred_at_us;
  return e;
}
Event By(Event e, ActorKind kind, std::string id) {
  e.actor = Actor{kind, std::move(id), ""};
  return e;
}
Event Customer(std::string conv, std::string id, int64_t at) {
  return At(By(test::Sent(std::move(conv), std::move(id), "question", ActorKind::kCustomer),
               ActorKind::kCustomer, "cust-1"),
            at);
}
Event Agent(std::string conv, std::string id, std::string agent, int64_t at,
            ActorKind kind = ActorKind::kAgent) {
  return At(By(test::Sent(std::move(conv), std::move(id), "answer"), kind, std::move(agent)), at);
}
Event Tpl(std::string conv, std::string id, std::string bot, std::string name, std::string category,
          int64_t at) {
  Event e = Agent(std::move(conv), std::move(id), std::move(bot), at, ActorKind::kBot);
  e.template_ = Template{std::move(name), "en", std::move(category), {}};
  return e;
}
Event StatusAt(std::string conv, std::string id, Delivery d, int64_t at) {
  return At(test::StatusOf(std::move(conv), std::move(id), d), at);
}
Event Delete(std::string conv, std::string id, std::string agent, int64_t at, std::string reason) {
  Event e = By(test::Deleted(std::move(conv), std::move(id)), ActorKind::kAgent, std::move(agent));
  e.reason = std::move(reason);
  e.reason_code = "other";
  return At(e, at);
}
Event Correct(std::string conv, std::string wrong, std::string replacement, std::string agent,
              std::string code, int64_t at) {
  Event e = By(test::Corrected(std::move(conv), std::move(wrong), std::move(replacement)),
               ActorKind::kAgent, std::move(agent));
  e.reason_code = std::move(code);
  return At(e, at);
}

// The worked example. Day 1 (2026-11-20), tenant acme, conversation c1, seconds after 09:00:
//   0 in m1, 30 in m2; 100 faq-bot m3 (first response 100 s, bot); 200 agent-17 m4 (handoff);
//   300 in m5; 420 agent-17 m6 "2 EUR" (first response 120 s); delivered, read;
//   600 agent-17 deletes m6 for everyone, no reason (unexplained for now); 700 agent-17 m7;
//   720 agent-17 corrects m6 -> m7, wrong_price: within 10 min of the deletion, so the deletion
//   becomes explained; time to correction 720 - 420 = 300 s; 800 agent-17 edits m7;
//   900 agent-22 m8, 950 deletes it with a reason (explained);
//   1000 agent-22 m9, 1100 deletes it with no reason, 1800 corrects it (typo): 700 s after the
//   deletion, outside the window, so it stays unexplained; time to correction 800 s;
//   1200 agent-17 redacts m1; m4 fails (reported twice: one failed delivery).
// Day 2 (2026-11-21), conversation c2, seconds after 09:00:
//   0 refund-bot m20 refund_issued (utility): delivered at 5, read at 65 (time to read 65 s);
//   100 promo-bot m21 promo_nov (category "Marketing"): no opt-in yet; delivered;
//   200 customer opts in to marketing; 300 promo-bot m22 promo_nov, read at 310 without
//   delivered (10 s); m23 promo_nov sent at 400 but its read (at 420) is recorded first (20 s).
// Tenant "other", day 1: one inbound message.
std::vector<Event> HandExample() {
  const std::string c1 = "c1", c2 = "c2";
  std::vector<Event> v = {
      Customer(c1, "m1", kDay1),
      Customer(c1, "m2", kDay1 + 30 * kSec),
      Agent(c1, "m3", "faq-bot", kDay1 + 100 * kSec, ActorKind::kBot),
      Agent(c1, "m4", "agent-17", kDay1 + 200 * kSec),
      Customer(c1, "m5", kDay1 + 300 * kSec),
      Agent(c1, "m6", "agent-17", kDay1 + 420 * kSec),
      StatusAt(c1, "m6", Delivery::kDelivered, kDay1 + 480 * kSec),
      StatusAt(c1, "m6", Delivery::kRead, kDay1 + 500 * kSec),
      Delete(c1, "m6", "agent-17", kDay1 + 600 * kSec, ""),
      Agent(c1, "m7", "agent-17", kDay1 + 700 * kSec),
      Correct(c1, "m6", "m7", "agent-17", "wrong_price", kDay1 + 720 * kSec),
      At(By(test::Edited(c1, "m7", "fixed"), ActorKind::kAgent, "agent-17"), kDay1 + 800 * kSec),
      Agent(c1, "m8", "agent-22", kDay1 + 900 * kSec),
      Delete(c1, "m8", "agent-22", kDay1 + 950 * kSec, "sent to the wrong customer"),
      Agent(c1, "m9", "agent-22", kDay1 + 1000 * kSec),
      Delete(c1, "m9", "agent-22", kDay1 + 1100 * kSec, ""),
      Correct(c1, "m9", "m7", "agent-22", "typo", kDay1 + 1800 * kSec),
      At(By(test::Redacted(c1, "m1"), ActorKind::kAgent, "agent-17"), kDay1 + 1200 * kSec),
      StatusAt(c1, "m4", Delivery::kFailed, kDay1 + 210 * kSec),
      StatusAt(c1, "m4", Delivery::kFailed, kDay1 + 211 * kSec),
      Tpl(c2, "m20", "refund-bot", "refund_issued", "utility", kDay2),
      StatusAt(c2, "m20", Delivery::kDelivered, kDay2 + 5 * kSec),
      StatusAt(c2, "m20", Delivery::kRead, kDay2 + 65 * kSec),
      Tpl(c2, "m21", "promo-bot", "promo_nov", "Marketing", kDay2 + 100 * kSec),
      StatusAt(c2, "m21", Delivery::kDelivered, kDay2 + 105 * kSec),
      At(test::ConsentEv(c2, ConsentState::kOptIn), kDay2 + 200 * kSec),
      Tpl(c2, "m22", "promo-bot", "promo_nov", "marketing", kDay2 + 300 * kSec),
      StatusAt(c2, "m22", Delivery::kRead, kDay2 + 310 * kSec),
      StatusAt(c2, "m23", Delivery::kRead, kDay2 + 420 * kSec),
      Tpl(c2, "m23", "promo-bot", "promo_nov", "marketing", kDay2 + 400 * kSec),
  };
  Event other = Customer("c3", "x1", kDay1 + 5 * kSec);
  other.tenant = "other";
  v.push_back(other);
  return v;
}

// Assigns what the ledger would and folds.
Status Fold(std::vector<Event> events, MemoryState* state, const ProjectionOptions& o = {}) {
  auto p = MakeAnalytics(o);
  uint64_t g = 0;
  std::map<std::string, uint64_t> seqs;
  for (Event& e : events) {
    e.global_seq = ++g;
    e.conversation_seq = ++seqs[e.conversation_id];
    e.recorded_at_us = kDay2 + 7 * 24 * 3600 * kSec + static_cast<int64_t>(g);
    if (!e.occurred_at_us) e.occurred_at_us = e.recorded_at_us;
    if (Status st = p->Apply(e, *state); !st.ok()) return st;
    state->set_checkpoint(g);
  }
  return Status::OK();
}

json Render(MemoryState& state, AnalyticsQuery q = {}) {
  auto r = RenderAnalytics(state, q);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return json();
  json j = json::parse(*r, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << *r;
  return j;
}

json Tenant(const json& report, const std::string& name) {
  for (const json& t : report["tenants"])
    if (t["tenant"] == name) return t;
  return json();
}
json Find(const json& list, const std::string& field, const std::string& value) {
  for (const json& x : list)
    if (x[field] == value) return x;
  return json();
}
json Durations(uint64_t n, json median, json p90) {
  return json{{"samples", n}, {"median", median}, {"p90", p90}};
}

class AnalyticsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(Fold(HandExample(), &state_)); }
  MemoryState state_;
};

TEST_F(AnalyticsTest, DayOneCountsMatchTheHandComputedExample) {
  json acme = Tenant(Render(state_, {"acme", "", ""}), "acme");
  ASSERT_TRUE(acme.is_object());
  json d = Find(acme["days"], "day", "2026-11-20");
  ASSERT_TRUE(d.is_object()) << acme.dump();
  EXPECT_EQ(d["messages_in"], 3);
  EXPECT_EQ(d["messages_out"], 6);
  EXPECT_EQ(d["outbound_by_agent"], 5);
  EXPECT_EQ(d["outbound_by_bot"], 1);
  EXPECT_EQ(d["outbound_by_other"], 0);
  EXPECT_DOUBLE_EQ(d["agent_share"].get<double>(), 0.8333);
  EXPECT_DOUBLE_EQ(d["bot_share"].get<double>(), 0.1667);
  EXPECT_EQ(d["edits"], 1);
  EXPECT_EQ(d["deletions"], 3);
  EXPECT_EQ(d["deletions_for_everyone"], 3);
  EXPECT_EQ(d["deletions_explained"], 2);
  EXPECT_EQ(d["deletions_unexplained"], 1);
  EXPECT_EQ(d["corrections"], 2);
  EXPECT_EQ(d["corrections_by_reason"], (json{{"typo", 1}, {"wrong_price", 1}}));
  EXPECT_EQ(d["redactions"], 1);
  EXPECT_EQ(d["failed_deliveries"], 1);
  EXPECT_EQ(d["marketing_templates_sent"], 0);
  EXPECT_EQ(d["marketing_without_opt_in"], 0);
  EXPECT_EQ(d["handoffs"], 1);
  EXPECT_EQ(d["time_to_correction_s"], Durations(2, 300, 800));
  EXPECT_EQ(d["first_response_s"], Durations(2, 100, 120));
}

TEST_F(AnalyticsTest, DayTwoTemplatesAndMarketingWithoutOptIn) {
  json acme = Tenant(Render(state_, {"acme", "2026-11-21", "2026-11-21"}), "acme");
  ASSERT_EQ(acme["days"].size(), 1u);
  json d = acme["days"][0];
  EXPECT_EQ(d["day"], "2026-11-21");
  EXPECT_EQ(d["messages_in"], 0);
  EXPECT_EQ(d["messages_out"], 4);
  EXPECT_DOUBLE_EQ(d["bot_share"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(d["agent_share"].get<double>(), 0.0);
  EXPECT_EQ(d["marketing_templates_sent"], 3);
  EXPECT_EQ(d["marketing_without_opt_in"], 1);
  EXPECT_EQ(d["first_response_s"], Durations(0, nullptr, nullptr));
  ASSERT_EQ(acme["templates"].size(), 2u);
  json promo = Find(acme["templates"], "name", "promo_nov");
  EXPECT_EQ(promo["language"], "en");
  EXPECT_EQ(promo["sent"], 3);
  EXPECT_EQ(promo["delivered"], 3) << "read implies delivered";
  EXPECT_EQ(promo["read"], 2);
  EXPECT_DOUBLE_EQ(promo["delivered_rate"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(promo["read_rate"].get<double>(), 0.6667);
  EXPECT_EQ(promo["time_to_read_s"], Durations(2, 10, 20));
  json refund = Find(acme["templates"], "name", "refund_issued");
  EXPECT_EQ(refund["sent"], 1);
  EXPECT_EQ(refund["delivered"], 1);
  EXPECT_EQ(refund["read"], 1);
  EXPECT_EQ(refund["time_to_read_s"], Durations(1, 65, 65));
  // Day 1 is outside the range: nothing of it.
  EXPECT_EQ(acme["totals"]["messages_in"], 0);
  EXPECT_EQ(acme["totals"]["handoffs"], 0);
}

TEST_F(AnalyticsTest, PerAgentBreakdown) {
  json acme = Tenant(Render(state_, {"acme", "", ""}), "acme");
  json a17 = Find(acme["agents"], "id", "agent-17");
  EXPECT_EQ(a17["kind"], "agent");
  EXPECT_EQ(a17["messages_out"], 3);
  EXPECT_EQ(a17["edits"], 1);
  EXPECT_EQ(a17["deletions"], 1);
  EXPECT_EQ(a17["deletions_explained"], 1);
  EXPECT_EQ(a17["deletions_unexplained"], 0);
  EXPECT_EQ(a17["corrections"], 1);
  EXPECT_EQ(a17["corrections_by_reason"], (json{{"wrong_price", 1}}));
  EXPECT_EQ(a17["redactions"], 1);
  EXPECT_EQ(a17["handoffs"], 1);
  EXPECT_EQ(a17["first_response_s"], Durations(1, 120, 120));
  EXPECT_EQ(a17["time_to_correction_s"], Durations(1, 300, 300));
  json a22 = Find(acme["agents"], "id", "agent-22");
  EXPECT_EQ(a22["messages_out"], 2);
  EXPECT_EQ(a22["deletions"], 2);
  EXPECT_EQ(a22["deletions_explained"], 1);
  EXPECT_EQ(a22["deletions_unexplained"], 1);
  EXPECT_EQ(a22["corrections_by_reason"], (json{{"typo", 1}}));
  EXPECT_EQ(a22["time_to_correction_s"], Durations(1, 800, 800));
  EXPECT_EQ(a22["handoffs"], 0);
  json faq = Find(acme["agents"], "id", "faq-bot");
  EXPECT_EQ(faq["kind"], "bot");
  EXPECT_EQ(faq["messages_out"], 1);
  EXPECT_EQ(faq["first_response_s"], Durations(1, 100, 100));
  json promo = Find(acme["agents"], "id", "promo-bot");
  EXPECT_EQ(promo["messages_out"], 3);
  EXPECT_EQ(promo["marketing_without_opt_in"], 1);
  EXPECT_EQ(acme["agents"].size(), 5u);  // agent-17, agent-22, faq-bot, promo-bot, refund-bot
}

TEST_F(AnalyticsTest, TotalsAcrossTenantsAndDays) {
  json all = Render(state_);
  EXPECT_TRUE(all["tenant"].is_null());
  EXPECT_TRUE(all["from_day"].is_null());
  ASSERT_EQ(all["tenants"].size(), 2u);
  EXPECT_EQ(all["tenants"][0]["tenant"], "acme");
  EXPECT_EQ(all["tenants"][1]["tenant"], "other");
  json acme = all["tenants"][0]["totals"];
  EXPECT_EQ(acme["messages_in"], 3);
  EXPECT_EQ(acme["messages_out"], 10);
  EXPECT_DOUBLE_EQ(acme["agent_share"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(acme["bot_share"].get<double>(), 0.5);
  EXPECT_EQ(acme["time_to_correction_s"], Durations(2, 300, 800));
  EXPECT_EQ(all["totals"]["messages_in"], 4);
  EXPECT_EQ(all["totals"]["messages_out"], 10);
  // A tenant filter sees only its own tenant.
  json other = Render(state_, {"other", "", ""});
  ASSERT_EQ(other["tenants"].size(), 1u);
  EXPECT_EQ(other["totals"]["messages_in"], 1);
  EXPECT_EQ(other["totals"]["messages_out"], 0);
  // An unknown tenant or an empty range is an empty report, not an error.
  json none = Render(state_, {"nobody", "", ""});
  EXPECT_EQ(none["tenants"], json::array());
  EXPECT_EQ(none["totals"]["messages_in"], 0);
  EXPECT_EQ(Render(state_, {"", "2030-01-01", ""})["tenants"], json::array());
}

TEST_F(AnalyticsTest, RejectsBadDays) {
  EXPECT_STATUS(RenderAnalytics(state_, {"", "2026-1-01", ""}), kInvalidArgument, "invalid_day");
  EXPECT_STATUS(RenderAnalytics(state_, {"", "", "yesterday!"}), kInvalidArgument, "invalid_day");
  EXPECT_STATUS(RenderAnalytics(state_, {"", "2026-11-21", "2026-11-20"}), kInvalidArgument,
                "invalid_range");
}

TEST_F(AnalyticsTest, SameLogSameBytes) {
  MemoryState again;
  ASSERT_OK(Fold(HandExample(), &again));
  EXPECT_EQ(again.data(), state_.data());
  ASSERT_OK_AND_ASSIGN(std::string a, RenderAnalytics(state_, {}));
  ASSERT_OK_AND_ASSIGN(std::string b, RenderAnalytics(again, {}));
  EXPECT_EQ(a, b);
  // Values are compact binary records (docs/analytics.md, since version 3), each opening with
  // its record's tag byte: conversation, message, day or agent counters, template.
  for (const auto& [k, v] : state_.data()) {
    ASSERT_FALSE(v.empty()) << "key " << k;
    EXPECT_NE(std::string_view("CMDT").find(v[0]), std::string_view::npos) << "key " << k;
  }
}

// ---- single rules ----

TEST(AnalyticsRulesTest, ACorrectionBeforeTheDeletionExplainsIt) {
  MemoryState s;
  ASSERT_OK(Fold({Agent("c", "m1", "a1", kDay1), Agent("c", "m2", "a1", kDay1 + kMin),
                  Correct("c", "m1", "m2", "a1", "wrong_price", kDay1 + 2 * kMin),
                  Delete("c", "m1", "a1", kDay1 + 3 * kMin, "")},
                 &s));
  json d = Render(s)["totals"];
  EXPECT_EQ(d["deletions_explained"], 1);
  EXPECT_EQ(d["deletions_unexplained"], 0);
}

TEST(AnalyticsRulesTest, TheExplanationWindowIsAnOption) {
  std::vector<Event> log = {Agent("c", "m1", "a1", kDay1), Agent("c", "m2", "a1", kDay1),
                            Delete("c", "m1", "a1", kDay1 + kMin, ""),
                            Correct("c", "m1", "m2", "a1", "typo", kDay1 + 6 * kMin)};
  MemoryState wide, narrow;
  ASSERT_OK(Fold(log, &wide));  // default 10 minutes: 5 minutes later explains it
  ProjectionOptions o;
  o.explanation_window_us = 4 * kMin;
  ASSERT_OK(Fold(log, &narrow, o));
  EXPECT_EQ(Render(wide)["totals"]["deletions_explained"], 1);
  EXPECT_EQ(Render(wide)["totals"]["deletions_unexplained"], 0);
  EXPECT_EQ(Render(narrow)["totals"]["deletions_explained"], 0);
  EXPECT_EQ(Render(narrow)["totals"]["deletions_unexplained"], 1);
}

TEST(AnalyticsRulesTest, OnlyTheBusinessOwesAnExplanationAndOnlyForEveryone) {
  MemoryState s;
  Event revoke = test::Deleted("c", "m1", DeleteScope::kEveryone, ActorKind::kCustomer);
  revoke.reason.clear();
  Event hide = By(test::Deleted("c", "m2", DeleteScope::kAgentOnly), ActorKind::kAgent, "a1");
  hide.reason.clear();
  ASSERT_OK(Fold({Customer("c", "m1", kDay1), Agent("c", "m2", "a1", kDay1), At(revoke, kDay1),
                  At(hide, kDay1)},
                 &s));
  json d = Render(s)["totals"];
  EXPECT_EQ(d["deletions"], 2);
  EXPECT_EQ(d["deletions_for_everyone"], 1);
  EXPECT_EQ(d["deletions_explained"], 0);
  EXPECT_EQ(d["deletions_unexplained"], 0);
}

TEST(AnalyticsRulesTest, AReasonCodeAloneIsNotAnExplanation) {
  MemoryState s;
  ASSERT_OK(Fold({Agent("c", "m1", "a1", kDay1), Delete("c", "m1", "a1", kDay1 + kMin, "")}, &s));
  EXPECT_EQ(Render(s)["totals"]["deletions_unexplained"], 1);  // reason_code "other", no text
}

TEST(AnalyticsRulesTest, FirstResponseNeedsAnOutboundAfterTheInbound) {
  MemoryState s;
  ASSERT_OK(Fold({Customer("c", "m1", kDay1 + 10 * kSec),
                  // Recorded later but sent before the question: not an answer to it.
                  Agent("c", "m0", "a1", kDay1),
                  Customer("c", "m2", kDay1 + 20 * kSec),  // still the same unanswered run
                  Agent("c", "m3", "a1", kDay1 + 70 * kSec),
                  Agent("c", "m4", "a1", kDay1 + 80 * kSec)},  // nothing left to answer
                 &s));
  EXPECT_EQ(Render(s)["totals"]["first_response_s"], Durations(1, 60, 60));
}

TEST(AnalyticsRulesTest, HandoffsAreAgentAfterBotWithoutAgentBetween) {
  MemoryState s;
  ASSERT_OK(Fold({Agent("c", "b1", "bot", kDay1, ActorKind::kBot),
                  Agent("c", "b2", "bot", kDay1 + 1, ActorKind::kBot),
                  Agent("c", "x1", "sys", kDay1 + 2, ActorKind::kSystem),
                  Agent("c", "a1", "agent-1", kDay1 + 3),  // handoff
                  Agent("c", "a2", "agent-2", kDay1 + 4),  // agent after agent: no
                  Agent("c", "b3", "bot", kDay1 + 5, ActorKind::kBot),
                  Agent("c", "a3", "agent-2", kDay1 + 6),   // handoff
                  Agent("d", "a4", "agent-3", kDay1 + 7)},  // another conversation: no
                 &s));
  json r = Render(s);
  EXPECT_EQ(r["totals"]["handoffs"], 2);
  EXPECT_EQ(r["totals"]["outbound_by_other"], 1);
  EXPECT_EQ(Find(r["tenants"][0]["agents"], "id", "agent-2")["handoffs"], 1);
  EXPECT_EQ(Find(r["tenants"][0]["agents"], "id", "agent-3")["handoffs"], 0);
}

TEST(AnalyticsRulesTest, MarketingConsentFollowsTheLogAndOptOutCounts) {
  MemoryState s;
  Event opt_out = At(test::ConsentEv("c", ConsentState::kOptOut), kDay1 + 2);
  Event transactional = At(test::ConsentEv("c", ConsentState::kOptIn), kDay1 + 3);
  transactional.consent_scope = "transactional";
  ASSERT_OK(Fold({At(test::ConsentEv("c", ConsentState::kOptIn), kDay1),
                  Tpl("c", "t1", "bot", "promo", "marketing", kDay1 + 1),  // opted in
                  opt_out,
                  transactional,                                            // not marketing
                  Tpl("c", "t2", "bot", "promo", "marketing", kDay1 + 4),   // opted out
                  Tpl("c", "t3", "bot", "notice", "utility", kDay1 + 5),    // not marketing
                  Tpl("d", "t4", "bot", "promo", "marketing", kDay1 + 6)},  // never asked
                 &s));
  json d = Render(s)["totals"];
  EXPECT_EQ(d["marketing_templates_sent"], 3);
  EXPECT_EQ(d["marketing_without_opt_in"], 2);
}

TEST(AnalyticsRulesTest, FailedDeliveriesCountMessagesNotReports) {
  MemoryState s;
  ASSERT_OK(
      Fold({StatusAt("c", "m1", Delivery::kFailed, kDay1),  // before its send
            Agent("c", "m1", "a1", kDay1 - kSec), StatusAt("c", "m1", Delivery::kFailed, kDay1),
            Agent("c", "m2", "a1", kDay1), StatusAt("c", "m2", Delivery::kDelivered, kDay1),
            Customer("c", "m3", kDay1), StatusAt("c", "m3", Delivery::kFailed, kDay1)},
           &s));
  EXPECT_EQ(Render(s)["totals"]["failed_deliveries"], 1);
}

TEST(AnalyticsRulesTest, DurationsAreBucketedExactlyBelow128SecondsThenWithin1In64) {
  MemoryState s;
  // Time to correction of 100,000 s (27.8 h): bucket 97 * 1024 = 99,328 (0.67 % low).
  ASSERT_OK(Fold(
      {Agent("c", "m1", "a1", kDay1), Agent("c", "m2", "a1", kDay1),
       Correct("c", "m1", "m2", "a1", "other", kDay1 + 100000 * kSec),
       Agent("c", "m3", "a1", kDay1), Correct("c", "m3", "m2", "a1", "other", kDay1 + 127 * kSec)},
      &s));
  json ttc = Render(s)["totals"]["time_to_correction_s"];
  EXPECT_EQ(ttc, Durations(2, 127, 99328));
}

TEST(AnalyticsRulesTest, CorrectionRecordedBeforeItsWrongMessage) {
  MemoryState s;
  ASSERT_OK(Fold(
      {Correct("c", "m1", "m2", "a1", "typo", kDay1 + 90 * kSec), Agent("c", "m1", "a1", kDay1)},
      &s));
  EXPECT_EQ(Render(s)["totals"]["time_to_correction_s"], Durations(1, 90, 90));
}

// ---- end to end: a real ledger ----

TEST(AnalyticsLedgerTest, AppendReadRenderAndRebuildEqual) {
  test::TempDir dir;
  test::FixedClock clock;
  Options o;
  o.clock = &clock;
  o.projections = {MakeAnalytics()};
  auto ledger = test::OpenOrDie(dir.path(), o);
  ASSERT_TRUE(ledger);
  ASSERT_TRUE(ledger->WaitForProjections(std::chrono::seconds(30)));
  std::vector<Event> events = HandExample();
  // Half one event at a time, half in one batch (one commit group, reads its own writes).
  const size_t half = events.size() / 2;
  for (size_t i = 0; i < half; ++i) ASSERT_OK(ledger->Append({events[i]}));
  ASSERT_OK(ledger->Append(std::vector<Event>(events.begin() + half, events.end())));

  ASSERT_OK_AND_ASSIGN(auto reader, ledger->NewStateReader(kAnalytics));
  EXPECT_EQ(reader->Checkpoint(), events.size());
  ASSERT_OK_AND_ASSIGN(std::string from_ledger, RenderAnalytics(*reader, {}));
  json j = json::parse(from_ledger);
  json d = Find(Tenant(j, "acme")["days"], "day", "2026-11-20");
  EXPECT_EQ(d["deletions_explained"], 2);
  EXPECT_EQ(d["deletions_unexplained"], 1);
  EXPECT_EQ(d["time_to_correction_s"], Durations(2, 300, 800));
  // The same as folding the events in memory (the ledger's sequences differ, not the numbers).
  MemoryState state;
  ASSERT_OK(Fold(HandExample(), &state));
  ASSERT_OK_AND_ASSIGN(std::string from_memory, RenderAnalytics(state, {}));
  EXPECT_EQ(from_ledger, from_memory);

  ASSERT_OK_AND_ASSIGN(RebuildReport rep, ledger->RebuildProjection(kAnalytics, false));
  EXPECT_TRUE(rep.equal) << rep.first_difference;
  EXPECT_EQ(rep.events, events.size());
}

}  // namespace
}  // namespace convledger::projections
