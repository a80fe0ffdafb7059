// The history projection (projections/src/history.cc, history_record.cc): the dispute view of a
// conversation, its flags, out-of-order observations, redaction, determinism and rebuild.
//
// Most tests fold Events built here (sequences and times assigned by a small Log, as the ledger
// would) into a MemoryState by calling Apply directly, render, and read the JSON back.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "ledger/test_util.h"
#include "ledger/time.h"
#include "projections/projections.h"

namespace convledger::projections {
namespace {

using nlohmann::json;

constexpr int64_t kT0 = test::FixedClock::kStart;  // 2026-11-24T10:03:00Z
constexpr int64_t kSec = 1000000;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kHour = 60 * kMin;

// A log being written: assigns global and conversation sequences like the ledger, occurred_at as
// given (relative to kT0) and a recorded_at that grows with the global sequence.
class Log {
 public:
  const Event& Add(Event e, int64_t at) {
    e.global_seq = ++global_;
    e.conversation_seq = ++conv_seq_[e.conversation_id];
    e.occurred_at_us = kT0 + at;
    e.recorded_at_us = kT0 + 1000 * kHour + static_cast<int64_t>(global_) * kSec;
    events_.push_back(std::move(e));
    return events_.back();
  }
  const std::vector<Event>& events() const { return events_; }
  std::vector<Event> Of(const std::string& conv) const {
    std::vector<Event> out;
    for (const Event& e : events_)
      if (e.conversation_id == conv) out.push_back(e);
    return out;
  }

 private:
  uint64_t global_ = 0;
  std::map<std::string, uint64_t> conv_seq_;
  std::vector<Event> events_;
};

std::unique_ptr<MemoryState> Fold(const std::vector<Event>& events,
                                  const ProjectionOptions& options = {}) {
  auto projection = MakeHistory(options);
  auto state = std::make_unique<MemoryState>();
  for (const Event& e : events) {
    Status s = projection->Apply(e, *state);
    EXPECT_TRUE(s.ok()) << "global_seq " << e.global_seq << ": " << s.ToString();
    state->set_checkpoint(e.global_seq);
  }
  return state;
}

json Render(StateReader& state, const std::string& conv) {
  auto r = RenderHistory(state, conv);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return json();
  json j = json::parse(*r, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << *r;
  return j;
}

json History(const Log& log, const std::string& conv = "c1", const ProjectionOptions& o = {}) {
  auto st = Fold(log.events(), o);
  return Render(*st, conv);
}

json MessageOf(const json& h, const std::string& id) {
  for (const json& m : h.at("messages"))
    if (m.at("message_id") == id) return m;
  ADD_FAILURE() << "no message " << id;
  return json();
}

std::vector<json> FlagsOf(const json& h, const std::string& type, const std::string& id = "") {
  std::vector<json> out;
  for (const json& f : h.at("flags"))
    if (f.at("type") == type && (id.empty() || f.at("message_id") == id)) out.push_back(f);
  return out;
}

// The conversation sequences of a flag's raising events.
std::vector<uint64_t> RaisedBy(const json& flag) {
  std::vector<uint64_t> out;
  for (const json& r : flag.at("raised_by")) out.push_back(r.at("conversation_seq"));
  return out;
}

Event Template(std::string conv, std::string id, std::string category) {
  Event e = test::Sent(std::move(conv), std::move(id), "");
  e.content.reset();
  e.template_ = convledger::Template{"winter_offer", "en", std::move(category), {"Alice", "20%"}};
  return e;
}

Event Consent(std::string conv, ConsentState state, std::string scope = "marketing") {
  Event e = test::ConsentEv(std::move(conv), state);
  e.consent_scope = std::move(scope);
  return e;
}

Event DeleteNoReason(std::string conv, std::string id) {
  Event e = test::Deleted(std::move(conv), std::move(id));
  e.reason.clear();
  return e;
}

Event OnChannel(Event e, Channel c) {
  e.channel = c;
  return e;
}

// ---------------------------------------------------------------------------------------------

TEST(HistoryTest, NameAndVersion) {
  auto p = MakeHistory();
  EXPECT_EQ(p->Name(), "history");
  EXPECT_EQ(p->Version(), 2u);
}

TEST(HistoryTest, UnknownConversationIsNotFound) {
  MemoryState empty;
  EXPECT_STATUS(RenderHistory(empty, "c1"), kNotFound, "conversation_not_found");
  Log log;
  log.Add(test::Sent("a", "m1"), 0);
  auto st = Fold(log.events());
  EXPECT_OK(RenderHistory(*st, "a"));
  // "ab" starts with "a" but is another conversation; "" is nobody's.
  EXPECT_STATUS(RenderHistory(*st, "ab"), kNotFound, "conversation_not_found");
  EXPECT_STATUS(RenderHistory(*st, ""), kNotFound, "conversation_not_found");
}

TEST(HistoryTest, SendRendersTheOriginalAndTheConversation) {
  Log log;
  log.Add(test::Sent("c1", "m1", "hello"), 0);
  Event t = Template("c1", "m2", "utility");
  t.reply_to = "m1";
  t.content = Content{"", {Media{"image/png", 1234, "ab12", "the cap", "ref://x", "x.png"}}};
  log.Add(t, 10 * kSec);
  auto st = Fold(log.events());
  const json h = Render(*st, "c1");

  EXPECT_EQ(h["conversation_id"], "c1");
  EXPECT_EQ(h["tenant"], "acme");
  EXPECT_EQ(h["channel"], "whatsapp");
  EXPECT_EQ(h["as_of_global_seq"], 2);
  EXPECT_EQ(h["events"], 2);
  EXPECT_EQ(h["last_conversation_seq"], 2);
  EXPECT_EQ(h["version"], 1);
  ASSERT_EQ(h["messages"].size(), 2u);
  EXPECT_EQ(h["messages"][0]["message_id"], "m1");

  const json m1 = MessageOf(h, "m1");
  EXPECT_EQ(m1["direction"], "outbound");
  EXPECT_EQ(m1["original"]["actor"]["kind"], "agent");
  EXPECT_EQ(m1["original"]["actor"]["id"], "agent-1");
  EXPECT_EQ(m1["original"]["actor"]["display"], "Display agent");
  EXPECT_EQ(m1["original"]["occurred_at"], "2026-11-24T10:03:00Z");
  EXPECT_EQ(m1["versions"].size(), 1u);
  EXPECT_EQ(m1["versions"][0]["kind"], "original");
  EXPECT_EQ(m1["versions"][0]["content"]["text"], "hello");
  EXPECT_EQ(m1["current_content"]["text"], "hello");
  EXPECT_EQ(m1["edited"], false);
  EXPECT_EQ(m1["deleted"], false);
  ASSERT_EQ(m1["replies"].size(), 1u);
  EXPECT_EQ(m1["replies"][0]["message_id"], "m2");
  EXPECT_TRUE(m1["flags"].empty());

  const json m2 = MessageOf(h, "m2");
  EXPECT_EQ(m2["original"]["reply_to"], "m1");
  EXPECT_EQ(m2["original"]["template"]["name"], "winter_offer");
  EXPECT_EQ(m2["original"]["template"]["language"], "en");
  EXPECT_EQ(m2["original"]["template"]["category"], "utility");
  EXPECT_EQ(m2["original"]["template"]["parameters"], json::array({"Alice", "20%"}));
  EXPECT_EQ(m2["original"]["global_seq"], 2);
  EXPECT_EQ(m2["original"]["conversation_seq"], 2);
  const json media = m2["versions"][0]["content"]["media"][0];
  EXPECT_EQ(media["mime"], "image/png");
  EXPECT_EQ(media["size"], 1234);
  EXPECT_EQ(media["sha256"], "ab12");
  EXPECT_EQ(media["caption"], "the cap");

  ASSERT_EQ(h["timeline"].size(), 2u);
  EXPECT_EQ(h["timeline"][1]["type"], "message.sent");
  EXPECT_EQ(h["timeline"][1]["message_id"], "m2");
  EXPECT_EQ(h["timeline"][1]["summary"],
            "outbound message from template winter_offer (utility) with 1 media replying to m1");
  EXPECT_TRUE(h["flags"].empty());
}

TEST(HistoryTest, EditsKeepEveryVersionWithAuthorTimeAndReason) {
  Log log;
  log.Add(test::Sent("c1", "m1", "Price: 2 EUR"), 0);
  Event e1 = test::Edited("c1", "m1", "Price: 20 EUR");
  e1.reason = "wrong price";
  log.Add(e1, 1 * kMin);
  Event e2 = test::Edited("c1", "m1", "Price: 20 EUR incl. VAT", ActorKind::kBot);
  e2.reason = "add VAT";
  log.Add(e2, 2 * kMin);
  const json m = MessageOf(History(log), "m1");
  ASSERT_EQ(m["versions"].size(), 3u);
  EXPECT_EQ(m["versions"][0]["content"]["text"], "Price: 2 EUR");
  EXPECT_EQ(m["versions"][1]["content"]["text"], "Price: 20 EUR");
  EXPECT_EQ(m["versions"][1]["reason"], "wrong price");
  EXPECT_EQ(m["versions"][1]["kind"], "edit");
  EXPECT_EQ(m["versions"][1]["version"], 2);
  EXPECT_EQ(m["versions"][1]["occurred_at"], "2026-11-24T10:04:00Z");
  EXPECT_EQ(m["versions"][2]["actor"]["kind"], "bot");
  EXPECT_EQ(m["versions"][2]["reason"], "add VAT");
  EXPECT_EQ(m["versions"][2]["global_seq"], 3);
  EXPECT_EQ(m["versions"][2]["conversation_seq"], 3);
  EXPECT_EQ(m["current_content"]["text"], "Price: 20 EUR incl. VAT");
  EXPECT_EQ(m["edited"], true);
  EXPECT_EQ(m["versions"][2]["outside_window"], false);
}

TEST(HistoryTest, DeletionRecordsWhoWhenWhyAndWhatTheCustomerHadSeen) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(test::StatusOf("c1", "m1", Delivery::kDelivered), 10 * kSec);
  log.Add(test::StatusOf("c1", "m1", Delivery::kRead), 20 * kSec);
  log.Add(test::Deleted("c1", "m1"), 90 * kSec);
  log.Add(test::Sent("c1", "m2"), 100 * kSec);
  log.Add(test::StatusOf("c1", "m2", Delivery::kDelivered), 110 * kSec);
  log.Add(test::Deleted("c1", "m2"), 130 * kSec + 500000);
  const json h = History(log);

  const json d = MessageOf(h, "m1")["deletions"][0];
  EXPECT_EQ(d["actor"]["kind"], "agent");
  EXPECT_EQ(d["scope"], "everyone");
  EXPECT_EQ(d["reason_code"], "wrong_price");
  EXPECT_EQ(d["reason"], "price was wrong");
  EXPECT_EQ(d["occurred_at"], "2026-11-24T10:04:30Z");
  EXPECT_EQ(d["seconds_after_sent"], 90);
  EXPECT_EQ(d["customer_had_received"], true);
  EXPECT_EQ(d["customer_had_read"], true);
  EXPECT_EQ(d["explanation"]["status"], "reason_given");
  EXPECT_EQ(MessageOf(h, "m1")["deleted"], true);

  auto flags = FlagsOf(h, "deleted_after_read", "m1");
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_EQ(RaisedBy(flags[0]), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(flags[0]["raised_by"][1]["global_seq"], 4);
  EXPECT_EQ(flags[0]["raised_by"][1]["type"], "message.deleted");

  // Delivered but not read: received, not read, no flag.
  const json d2 = MessageOf(h, "m2")["deletions"][0];
  EXPECT_EQ(d2["seconds_after_sent"], 30);
  EXPECT_EQ(d2["us_after_sent"], 30 * kSec + 500000);
  EXPECT_EQ(d2["customer_had_received"], true);
  EXPECT_EQ(d2["customer_had_read"], false);
  EXPECT_TRUE(FlagsOf(h, "deleted_after_read", "m2").empty());
}

TEST(HistoryTest, DeletedAfterReadUsesPlatformTimeNotRecordingOrder) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(test::Deleted("c1", "m1"), 100 * kSec);
  // Recorded after the deletion, but the customer read it before (platform time): flagged.
  log.Add(test::StatusOf("c1", "m1", Delivery::kRead), 50 * kSec);
  log.Add(test::Sent("c1", "m2"), 0);
  log.Add(test::Deleted("c1", "m2"), 100 * kSec);
  // Read after the deletion (platform time): the customer had not read it when it was deleted.
  log.Add(test::StatusOf("c1", "m2", Delivery::kRead), 200 * kSec);
  const json h = History(log);
  auto f = FlagsOf(h, "deleted_after_read", "m1");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(RaisedBy(f[0]), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(MessageOf(h, "m1")["deletions"][0]["customer_had_read"], true);
  EXPECT_TRUE(FlagsOf(h, "deleted_after_read", "m2").empty());
  EXPECT_EQ(MessageOf(h, "m2")["deletions"][0]["customer_had_read"], false);
}

TEST(HistoryTest, AgentSideDeletionIsNotFlagged) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(test::StatusOf("c1", "m1", Delivery::kRead), 10 * kSec);
  Event d = test::Deleted("c1", "m1", DeleteScope::kAgentOnly);
  d.reason.clear();
  log.Add(d, 20 * kSec);
  log.Add(test::Note("c1"), 3 * kHour);  // long after any window
  const json h = History(log);
  const json m = MessageOf(h, "m1");
  EXPECT_EQ(m["deleted"], false);
  EXPECT_EQ(m["hidden_agent_side"], true);
  EXPECT_EQ(m["deletions"][0]["scope"], "agent_only");
  EXPECT_EQ(m["deletions"][0]["explanation"]["status"], "not_required");
  EXPECT_TRUE(h["flags"].empty()) << h["flags"].dump();
  EXPECT_TRUE(h["pending"].empty());
}

TEST(HistoryTest, DeletedWithoutExplanationIsRaisedOnceTheWindowIsSeenToPass) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(DeleteNoReason("c1", "m1"), 1 * kMin);
  {
    // Nothing recorded yet shows the 10 minutes passed: pending, not flagged.
    const json h = History(log);
    EXPECT_TRUE(FlagsOf(h, "deleted_without_explanation").empty());
    const json ex = MessageOf(h, "m1")["deletions"][0]["explanation"];
    EXPECT_EQ(ex["status"], "pending");
    EXPECT_EQ(ex["deadline"], "2026-11-24T10:14:00Z");
    ASSERT_EQ(h["pending"].size(), 1u);
    EXPECT_EQ(h["pending"][0]["message_id"], "m1");
    EXPECT_EQ(h["pending"][0]["conversation_seq"], 2);
  }
  log.Add(test::Note("c1"), 5 * kMin);  // still inside the window
  EXPECT_TRUE(FlagsOf(History(log), "deleted_without_explanation").empty());
  log.Add(test::Sent("c1", "m2"), 12 * kMin);  // past the deadline (10:14)
  const json h = History(log);
  auto f = FlagsOf(h, "deleted_without_explanation", "m1");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(RaisedBy(f[0]), (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(f[0]["raised_by"][1]["type"], "message.sent");
  const json ex = MessageOf(h, "m1")["deletions"][0]["explanation"];
  EXPECT_EQ(ex["status"], "missing");
  EXPECT_EQ(ex["window_passed_by"]["conversation_seq"], 4);
  EXPECT_TRUE(h["pending"].empty());
}

TEST(HistoryTest, DeletionWithAReasonIsExplained) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(test::Deleted("c1", "m1"), 1 * kMin);
  log.Add(test::Note("c1"), 1 * kHour);
  const json h = History(log);
  EXPECT_TRUE(FlagsOf(h, "deleted_without_explanation").empty());
  EXPECT_EQ(MessageOf(h, "m1")["deletions"][0]["explanation"]["status"], "reason_given");
}

TEST(HistoryTest, CorrectionWithinTheWindowExplainsTheDeletion) {
  Log log;
  log.Add(test::Sent("c1", "m1", "2 EUR"), 0);
  log.Add(DeleteNoReason("c1", "m1"), 1 * kMin);
  log.Add(test::Sent("c1", "m2", "20 EUR"), 5 * kMin);
  log.Add(test::Corrected("c1", "m1", "m2"), 5 * kMin);
  log.Add(test::Note("c1"), 1 * kHour);
  const json h = History(log);
  EXPECT_TRUE(FlagsOf(h, "deleted_without_explanation").empty());
  const json ex = MessageOf(h, "m1")["deletions"][0]["explanation"];
  EXPECT_EQ(ex["status"], "corrected");
  EXPECT_EQ(ex["correction"]["conversation_seq"], 4);
  EXPECT_TRUE(h["pending"].empty());
}

TEST(HistoryTest, CorrectionAfterTheWindowDoesNotClearTheFlag) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(DeleteNoReason("c1", "m1"), 1 * kMin);
  log.Add(test::Sent("c1", "m2"), 15 * kMin);
  log.Add(test::Corrected("c1", "m1", "m2"), 15 * kMin);  // the correction itself is late
  const json h = History(log);
  auto f = FlagsOf(h, "deleted_without_explanation", "m1");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(RaisedBy(f[0]), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(MessageOf(h, "m1")["deletions"][0]["explanation"]["status"], "missing");
  // The links are there all the same.
  EXPECT_EQ(MessageOf(h, "m1")["corrected_by"][0]["replacement_message_id"], "m2");
}

TEST(HistoryTest, TheCorrectionEventCanItselfCloseTheWindow) {
  Log log;
  log.Add(test::Sent("c1", "m2"), 0);
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(DeleteNoReason("c1", "m1"), 1 * kMin);
  log.Add(test::Corrected("c1", "m1", "m2"), 30 * kMin);
  const json h = History(log);
  auto f = FlagsOf(h, "deleted_without_explanation", "m1");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(RaisedBy(f[0]), (std::vector<uint64_t>{3, 4}));
}

TEST(HistoryTest, ExplanationWindowIsAnOption) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(DeleteNoReason("c1", "m1"), 0);
  log.Add(test::Sent("c1", "m2"), 2 * kMin);
  log.Add(test::Corrected("c1", "m1", "m2"), 2 * kMin);
  ProjectionOptions one_minute;
  one_minute.explanation_window_us = 1 * kMin;
  EXPECT_EQ(FlagsOf(History(log, "c1", one_minute), "deleted_without_explanation").size(), 1u);
  EXPECT_TRUE(FlagsOf(History(log), "deleted_without_explanation").empty());
}

TEST(HistoryTest, LateRecordedCorrectionInsideTheWindowClearsARaisedFlag) {
  // Documented choice: the flag is a function of the log. A correction observed late whose
  // occurred_at is inside the window explains the deletion even after the flag was raised.
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(test::Sent("c1", "m2"), 0);
  log.Add(DeleteNoReason("c1", "m1"), 1 * kMin);
  log.Add(test::Note("c1"), 20 * kMin);
  EXPECT_EQ(FlagsOf(History(log), "deleted_without_explanation").size(), 1u);
  log.Add(test::Corrected("c1", "m1", "m2"), 4 * kMin);
  const json h = History(log);
  EXPECT_TRUE(FlagsOf(h, "deleted_without_explanation").empty());
  EXPECT_EQ(MessageOf(h, "m1")["deletions"][0]["explanation"]["status"], "corrected");
}

TEST(HistoryTest, DeletionRecordedAfterItsWindowPassedIsFlaggedAtOnce) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(test::Note("c1"), 1 * kHour);
  log.Add(DeleteNoReason("c1", "m1"), 1 * kMin);  // a late observation of an early deletion
  const json h = History(log);
  auto f = FlagsOf(h, "deleted_without_explanation", "m1");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(RaisedBy(f[0]), (std::vector<uint64_t>{2, 3}));
  EXPECT_TRUE(h["pending"].empty());
}

TEST(HistoryTest, EditedAfterRead) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(test::StatusOf("c1", "m1", Delivery::kRead), 30 * kSec);
  log.Add(test::Edited("c1", "m1"), 60 * kSec);
  log.Add(test::Sent("c1", "m2"), 0);
  log.Add(test::Edited("c1", "m2"), 20 * kSec);
  log.Add(test::StatusOf("c1", "m2", Delivery::kRead), 30 * kSec);
  log.Add(test::Sent("c1", "m3"), 0);
  log.Add(test::Edited("c1", "m3"), 60 * kSec);
  log.Add(test::StatusOf("c1", "m3", Delivery::kRead), 30 * kSec);  // recorded late, read first
  const json h = History(log);
  auto f = FlagsOf(h, "edited_after_read", "m1");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(RaisedBy(f[0]), (std::vector<uint64_t>{2, 3}));
  EXPECT_TRUE(FlagsOf(h, "edited_after_read", "m2").empty());
  auto f3 = FlagsOf(h, "edited_after_read", "m3");
  ASSERT_EQ(f3.size(), 1u);
  EXPECT_EQ(RaisedBy(f3[0]), (std::vector<uint64_t>{8, 9}));
}

TEST(HistoryTest, MarketingWithoutOptIn) {
  Log log;
  log.Add(Template("c1", "never", "marketing"), 0);  // no consent at all
  log.Add(Consent("c1", ConsentState::kOptIn, "transactional"), 1 * kSec);
  log.Add(Template("c1", "transactional_only", "MARKETING"), 2 * kSec);
  log.Add(Consent("c1", ConsentState::kOptIn), 3 * kSec);
  log.Add(Template("c1", "opted_in", "marketing"), 4 * kSec);
  log.Add(Template("c1", "utility", "utility"), 5 * kSec);
  log.Add(Consent("c1", ConsentState::kOptOut), 6 * kSec);
  log.Add(Template("c1", "opted_out", "marketing"), 7 * kSec);
  log.Add(Template("c1", "utility_after_opt_out", "utility"), 8 * kSec);
  const json h = History(log);
  auto never = FlagsOf(h, "marketing_without_opt_in", "never");
  ASSERT_EQ(never.size(), 1u);
  EXPECT_EQ(never[0]["detail"]["consent"], "none");
  EXPECT_EQ(RaisedBy(never[0]), (std::vector<uint64_t>{1}));
  EXPECT_EQ(FlagsOf(h, "marketing_without_opt_in", "transactional_only").size(), 1u);
  EXPECT_TRUE(FlagsOf(h, "marketing_without_opt_in", "opted_in").empty());
  EXPECT_TRUE(FlagsOf(h, "marketing_without_opt_in", "utility").empty());
  auto out = FlagsOf(h, "marketing_without_opt_in", "opted_out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["detail"]["consent"], "opt_out");
  EXPECT_EQ(RaisedBy(out[0]), (std::vector<uint64_t>{7, 8}));
  EXPECT_TRUE(FlagsOf(h, "marketing_without_opt_in", "utility_after_opt_out").empty());
  EXPECT_EQ(FlagsOf(h, "marketing_without_opt_in").size(), 3u);
  EXPECT_EQ(MessageOf(h, "opted_in")["original"]["consent_at_send"]["state"], "opt_in");
}

TEST(HistoryTest, FailedNeverRetried) {
  Log log;
  log.Add(test::Sent("c1", "lost"), 0);
  log.Add(test::StatusOf("c1", "lost", Delivery::kFailed), 10 * kSec);
  log.Add(test::Sent("c1", "redelivered"), 0);
  log.Add(test::StatusOf("c1", "redelivered", Delivery::kFailed), 10 * kSec);
  log.Add(test::StatusOf("c1", "redelivered", Delivery::kDelivered), 20 * kSec);
  log.Add(test::Sent("c1", "stale_sent"), 0);
  log.Add(test::StatusOf("c1", "stale_sent", Delivery::kFailed), 10 * kSec);
  log.Add(test::StatusOf("c1", "stale_sent", Delivery::kSent), 5 * kSec);  // before the failure
  log.Add(test::Sent("c1", "corrected"), 0);
  log.Add(test::StatusOf("c1", "corrected", Delivery::kFailed), 10 * kSec);
  log.Add(test::Sent("c1", "replacement"), 30 * kSec);
  log.Add(test::Corrected("c1", "corrected", "replacement"), 30 * kSec);
  log.Add(test::Sent("c1", "answered"), 0);
  log.Add(test::StatusOf("c1", "answered", Delivery::kFailed), 10 * kSec);
  Event retry = test::Sent("c1", "retry");
  retry.reply_to = "answered";
  log.Add(retry, 40 * kSec);
  log.Add(test::Sent("c1", "customer_replied"), 0);
  log.Add(test::StatusOf("c1", "customer_replied", Delivery::kFailed), 10 * kSec);
  Event inbound = test::Sent("c1", "inbound", "hi", ActorKind::kCustomer);
  inbound.reply_to = "customer_replied";
  log.Add(inbound, 40 * kSec);
  const json h = History(log);

  auto lost = FlagsOf(h, "failed_never_retried", "lost");
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(RaisedBy(lost[0]), (std::vector<uint64_t>{2}));
  EXPECT_EQ(lost[0]["detail"]["error"]["code"], "131047");
  EXPECT_TRUE(FlagsOf(h, "failed_never_retried", "redelivered").empty());
  EXPECT_EQ(FlagsOf(h, "failed_never_retried", "stale_sent").size(), 1u);
  EXPECT_TRUE(FlagsOf(h, "failed_never_retried", "corrected").empty());
  EXPECT_TRUE(FlagsOf(h, "failed_never_retried", "answered").empty());
  EXPECT_EQ(FlagsOf(h, "failed_never_retried", "customer_replied").size(), 1u);
  EXPECT_EQ(FlagsOf(h, "failed_never_retried").size(), 3u);
  EXPECT_EQ(MessageOf(h, "redelivered")["status_current"], "delivered");
}

TEST(HistoryTest, EditOutsideTheChannelWindow) {
  Log log;
  log.Add(test::Sent("c1", "wa_late"), 0);
  log.Add(test::Edited("c1", "wa_late"), 16 * kMin);
  log.Add(test::Sent("c1", "wa_ok"), 0);
  log.Add(test::Edited("c1", "wa_ok"), 14 * kMin);
  log.Add(OnChannel(test::Sent("c1", "sms"), Channel::kSms), 0);
  log.Add(OnChannel(test::Edited("c1", "sms"), Channel::kSms), 1 * kSec);
  log.Add(OnChannel(test::Sent("c1", "web"), Channel::kWebChat), 0);
  log.Add(OnChannel(test::Edited("c1", "web"), Channel::kWebChat), 5 * kHour);
  const json h = History(log);
  auto late = FlagsOf(h, "edit_outside_window", "wa_late");
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0]["detail"]["rule"], "edit_window_exceeded");
  EXPECT_EQ(late[0]["detail"]["window_us"], 15 * kMin);
  EXPECT_EQ(late[0]["detail"]["elapsed_us"], 16 * kMin);
  EXPECT_EQ(RaisedBy(late[0]), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(MessageOf(h, "wa_late")["versions"][1]["outside_window"], true);
  EXPECT_TRUE(FlagsOf(h, "edit_outside_window", "wa_ok").empty());
  auto sms = FlagsOf(h, "edit_outside_window", "sms");
  ASSERT_EQ(sms.size(), 1u);
  EXPECT_EQ(sms[0]["detail"]["rule"], "channel_cannot_edit");
  EXPECT_TRUE(FlagsOf(h, "edit_outside_window", "web").empty());
  EXPECT_EQ(h["channels"], json::array({"whatsapp", "sms", "webchat"}));
}

TEST(HistoryTest, DeleteOutsideTheChannelWindow) {
  Log log;
  log.Add(test::Sent("c1", "wa_late"), 0);
  log.Add(test::Deleted("c1", "wa_late"), 61 * kHour);
  log.Add(test::Sent("c1", "wa_ok"), 0);
  log.Add(test::Deleted("c1", "wa_ok"), 59 * kHour);
  log.Add(OnChannel(test::Sent("c1", "ms"), Channel::kMessenger), 0);
  log.Add(OnChannel(test::Deleted("c1", "ms"), Channel::kMessenger), 11 * kMin);
  log.Add(OnChannel(test::Sent("c1", "sms"), Channel::kSms), 0);
  log.Add(OnChannel(test::Deleted("c1", "sms"), Channel::kSms), 1 * kSec);
  log.Add(test::Sent("c1", "hidden"), 0);
  log.Add(test::Deleted("c1", "hidden", DeleteScope::kAgentOnly), 100 * kHour);
  const json h = History(log);
  auto late = FlagsOf(h, "delete_outside_window", "wa_late");
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0]["detail"]["rule"], "delete_window_exceeded");
  EXPECT_EQ(RaisedBy(late[0]), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(MessageOf(h, "wa_late")["deletions"][0]["outside_window"], true);
  EXPECT_TRUE(FlagsOf(h, "delete_outside_window", "wa_ok").empty());
  EXPECT_EQ(FlagsOf(h, "delete_outside_window", "ms").size(), 1u);
  auto sms = FlagsOf(h, "delete_outside_window", "sms");
  ASSERT_EQ(sms.size(), 1u);
  EXPECT_EQ(sms[0]["detail"]["rule"], "channel_cannot_delete_for_everyone");
  EXPECT_TRUE(FlagsOf(h, "delete_outside_window", "hidden").empty());
}

TEST(HistoryTest, StatusTimelineInPlatformOrderWithRecordingOrderAndConflicts) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(test::StatusOf("c1", "m1", Delivery::kRead), 30 * kSec);       // seq 2
  log.Add(test::StatusOf("c1", "m1", Delivery::kDelivered), 20 * kSec);  // seq 3, recorded late
  log.Add(test::StatusOf("c1", "m1", Delivery::kSent), 10 * kSec);       // seq 4, recorded late
  log.Add(test::StatusOf("c1", "m1", Delivery::kDelivered), 40 * kSec);  // seq 5, backwards
  log.Add(test::StatusOf("c1", "m1", Delivery::kFailed), 50 * kSec);     // seq 6, backwards
  const json h = History(log);
  const json m = MessageOf(h, "m1");
  const json& s = m["statuses"];
  ASSERT_EQ(s.size(), 5u);
  std::vector<std::string> order;
  std::vector<uint64_t> seqs;
  for (const json& x : s) {
    order.push_back(x["status"]);
    seqs.push_back(x["conversation_seq"]);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"sent", "delivered", "read", "delivered", "failed"}));
  EXPECT_EQ(seqs, (std::vector<uint64_t>{4, 3, 2, 5, 6}));
  // Recorded after an entry that happened later: sent and delivered came in after the read.
  EXPECT_EQ(s[0]["out_of_order"], true);
  EXPECT_EQ(s[1]["out_of_order"], true);
  EXPECT_EQ(s[2]["out_of_order"], false);
  EXPECT_EQ(s[3]["out_of_order"], false);
  EXPECT_EQ(s[2]["conflict"], false);
  EXPECT_EQ(s[3]["conflict"], true);
  EXPECT_EQ(s[3]["conflicts_with"]["conversation_seq"], 2);
  EXPECT_EQ(s[4]["conflict"], true);
  EXPECT_EQ(s[4]["error"]["title"], "Re-engagement message");
  EXPECT_EQ(m["status_current"], "read");
  auto conflicts = FlagsOf(h, "status_conflict", "m1");
  ASSERT_EQ(conflicts.size(), 2u);
  EXPECT_EQ(RaisedBy(conflicts[0]), (std::vector<uint64_t>{2, 5}));
  EXPECT_EQ(RaisedBy(conflicts[1]), (std::vector<uint64_t>{2, 6}));
  // A failure reported after `read` is a conflict, not a delivery that needs a retry.
  EXPECT_TRUE(FlagsOf(h, "failed_never_retried", "m1").empty());
}

TEST(HistoryTest, ObservationsBeforeTheOriginalArePlacedOnceItArrives) {
  Log log;
  log.Add(test::Sent("c1", "early"), -30 * kSec);                          // seq 1
  log.Add(test::StatusOf("c1", "late", Delivery::kDelivered), 10 * kSec);  // seq 2
  Event edit = test::Edited("c1", "late", "v2", ActorKind::kCustomer);
  log.Add(edit, 60 * kSec);                      // seq 3
  log.Add(test::Sent("c1", "next"), 30 * kSec);  // seq 4
  {
    const json h = History(log);
    const json m = MessageOf(h, "late");
    EXPECT_TRUE(m["original"].is_null());
    EXPECT_EQ(m["versions"].size(), 1u);
    EXPECT_EQ(m["statuses"].size(), 1u);
  }
  log.Add(test::Sent("c1", "late", "v1", ActorKind::kCustomer), 0);   // seq 5
  log.Add(test::StatusOf("c1", "late", Delivery::kRead), 20 * kSec);  // seq 6
  const json h = History(log);
  std::vector<std::string> ids;
  for (const json& m : h["messages"]) ids.push_back(m["message_id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"early", "late", "next"}));
  const json m = MessageOf(h, "late");
  EXPECT_EQ(m["direction"], "inbound");
  ASSERT_EQ(m["versions"].size(), 2u);
  EXPECT_EQ(m["versions"][0]["kind"], "original");
  EXPECT_EQ(m["versions"][0]["content"]["text"], "v1");
  EXPECT_EQ(m["versions"][0]["conversation_seq"], 5);
  EXPECT_EQ(m["versions"][1]["content"]["text"], "v2");
  EXPECT_EQ(m["versions"][1]["recorded_before_original"], true);
  EXPECT_EQ(m["versions"][0]["out_of_order"], true);
  EXPECT_EQ(m["current_content"]["text"], "v2");
  EXPECT_EQ(m["recorded_before_original"], json::array({2, 3}));
  EXPECT_EQ(m["statuses"][0]["status"], "delivered");
  EXPECT_EQ(m["statuses"][1]["status"], "read");
  // The read happened before the edit (platform time), though it was recorded after it.
  EXPECT_EQ(FlagsOf(h, "edited_after_read", "late").size(), 1u);
  // Timeline: recording order, with late entries marked and the platform order alongside.
  ASSERT_EQ(h["timeline"].size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(h["timeline"][i]["conversation_seq"], i + 1);
  EXPECT_EQ(h["timeline"][3]["late"], true);  // next @30s after the edit @60s
  EXPECT_EQ(h["timeline"][4]["late"], true);  // the original @0s
  EXPECT_EQ(h["timeline"][1]["late"], false);
  EXPECT_EQ(h["platform_order"], json::array({1, 5, 2, 6, 4, 3}));
  // No stale copy of the message was left at its first position.
  auto st = Fold(log.events());
  size_t records = 0;
  for (const auto& [k, v] : st->data())
    records += v.find("\"message_id\":\"late\",\"original\"") != std::string::npos;
  EXPECT_EQ(records, 1u);
}

TEST(HistoryTest, CorrectionLinksBothWays) {
  Log log;
  log.Add(test::Sent("c1", "wrong", "2 EUR"), 0);
  log.Add(test::Sent("c1", "right", "20 EUR"), 1 * kMin);
  log.Add(test::Corrected("c1", "wrong", "right"), 1 * kMin);
  const json h = History(log);
  const json w = MessageOf(h, "wrong");
  ASSERT_EQ(w["corrected_by"].size(), 1u);
  EXPECT_EQ(w["corrected_by"][0]["replacement_message_id"], "right");
  EXPECT_EQ(w["corrected_by"][0]["reason_code"], "wrong_price");
  EXPECT_EQ(w["corrected_by"][0]["explanation"], "The price is 20 EUR, not 2 EUR.");
  EXPECT_EQ(w["corrected_by"][0]["actor"]["kind"], "agent");
  const json r = MessageOf(h, "right");
  ASSERT_EQ(r["corrects"].size(), 1u);
  EXPECT_EQ(r["corrects"][0]["message_id"], "wrong");
  EXPECT_EQ(r["corrects"][0]["reason_code"], "wrong_price");
  EXPECT_EQ(r["corrects"][0]["conversation_seq"], 3);
  EXPECT_EQ(h["timeline"][2]["summary"], "corrected by right (wrong_price)");
}

TEST(HistoryTest, RedactionRemovesTheTextEverywhere) {
  const std::string secrets[] = {"4111-1111-1111-1111", "SECRET-EDIT",  "SECRET-CAPTION",
                                 "SECRET-PARAM",        "SECRET-AFTER", "SECRET-REF",
                                 "SECRET-FILE"};
  Log log;
  Event send = test::Sent("c1", "m1", "card 4111-1111-1111-1111");
  send.content->media.push_back(
      Media{"image/jpeg", 10, "cafe", "SECRET-CAPTION", "SECRET-REF", "SECRET-FILE"});
  send.template_ = convledger::Template{"card_check", "en", "utility", {"SECRET-PARAM"}};
  log.Add(send, 0);
  log.Add(test::Edited("c1", "m1", "SECRET-EDIT"), 1 * kMin);
  log.Add(test::Redacted("c1", "m1"), 2 * kMin);
  log.Add(test::Edited("c1", "m1", "SECRET-AFTER", ActorKind::kCustomer), 3 * kMin);
  // Redacted before its original arrives: never stored in the clear.
  log.Add(test::Redacted("c1", "m2", ActorKind::kSystem), 0);
  log.Add(test::Sent("c1", "m2", "card 4111-1111-1111-1111", ActorKind::kCustomer), 0);
  auto st = Fold(log.events());
  auto rendered = RenderHistory(*st, "c1");
  ASSERT_OK(rendered);
  for (const std::string& s : secrets) {
    EXPECT_EQ(rendered->find(s), std::string::npos) << s << " in " << *rendered;
    for (const auto& [k, v] : st->data())
      EXPECT_EQ(v.find(s), std::string::npos) << s << " stored under a key";
  }
  const json h = json::parse(*rendered);
  const json m = MessageOf(h, "m1");
  EXPECT_EQ(m["redacted"], true);
  ASSERT_EQ(m["versions"].size(), 3u);
  for (const json& v : m["versions"]) {
    EXPECT_EQ(v["content"]["text"], "[redacted]");
    EXPECT_EQ(v["content"]["redacted"], true);
  }
  EXPECT_EQ(m["current_content"]["text"], "[redacted]");
  EXPECT_EQ(m["versions"][0]["content"]["media"][0]["caption"], "[redacted]");
  EXPECT_EQ(m["versions"][0]["content"]["media"][0]["sha256"], "cafe");
  EXPECT_EQ(m["original"]["template"]["parameters"], json::array({"[redacted]"}));
  ASSERT_EQ(m["redactions"].size(), 1u);
  EXPECT_EQ(m["redactions"][0]["reason"], "card number sent by mistake");
  EXPECT_EQ(m["redactions"][0]["actor"]["id"], "agent-1");
  EXPECT_EQ(m["redactions"][0]["occurred_at"], "2026-11-24T10:05:00Z");
  EXPECT_EQ(MessageOf(h, "m2")["current_content"]["text"], "[redacted]");
  EXPECT_EQ(MessageOf(h, "m2")["redactions"][0]["actor"]["kind"], "system");
}

TEST(HistoryTest, ReactionsKeepHistoryAndTheCurrentOnePerActor) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(test::ReactionTo("c1", "m1", "A", ActorKind::kCustomer), 1 * kSec);
  log.Add(test::ReactionTo("c1", "m1", "B", ActorKind::kCustomer), 2 * kSec);
  log.Add(test::ReactionTo("c1", "m1", "A", ActorKind::kAgent), 3 * kSec);
  Event remove = test::ReactionTo("c1", "m1", "", ActorKind::kAgent);
  remove.action = ReactionAction::kRemove;
  log.Add(remove, 4 * kSec);
  const json m = MessageOf(History(log), "m1");
  ASSERT_EQ(m["reactions"].size(), 4u);
  EXPECT_EQ(m["reactions"][0]["emoji"], "A");
  EXPECT_EQ(m["reactions"][0]["action"], "add");
  EXPECT_EQ(m["reactions"][3]["action"], "remove");
  ASSERT_EQ(m["reactions_current"].size(), 1u);
  EXPECT_EQ(m["reactions_current"][0]["actor"]["kind"], "customer");
  EXPECT_EQ(m["reactions_current"][0]["emoji"], "B");
}

TEST(HistoryTest, RepliesAreListedOnTheMessageTheyAnswer) {
  Log log;
  log.Add(test::Sent("c1", "q", "question", ActorKind::kCustomer), 0);
  Event a1 = test::Sent("c1", "a1", "answer");
  a1.reply_to = "q";
  log.Add(a1, 10 * kSec);
  Event a2 = test::Sent("c1", "a2", "more", ActorKind::kBot);
  a2.reply_to = "q";
  log.Add(a2, 5 * kSec);
  const json q = MessageOf(History(log), "q");
  ASSERT_EQ(q["replies"].size(), 2u);
  EXPECT_EQ(q["replies"][0]["message_id"], "a2");  // platform order
  EXPECT_EQ(q["replies"][1]["message_id"], "a1");
  EXPECT_EQ(q["replies"][1]["direction"], "outbound");
}

TEST(HistoryTest, ConsentHoldsAndNotes) {
  Log log;
  log.Add(Consent("c1", ConsentState::kOptIn), 0);
  log.Add(test::HoldEv("c1"), 1 * kSec);
  Event other = test::HoldEv("c1");
  other.case_ref = "CASE-2";
  log.Add(other, 2 * kSec);
  log.Add(test::Note("c1", "customer is angry; call back"), 3 * kSec);
  log.Add(Consent("c1", ConsentState::kOptOut), 4 * kSec);
  log.Add(test::HoldEv("c1", HoldAction::kReleased), 5 * kSec);
  const json h = History(log);
  ASSERT_EQ(h["consent"].size(), 2u);
  EXPECT_EQ(h["consent"][0]["state"], "opt_in");
  EXPECT_EQ(h["consent"][0]["scope"], "marketing");
  EXPECT_EQ(h["consent"][0]["source"], "checkout_form");
  EXPECT_EQ(h["consent"][0]["actor"]["kind"], "customer");
  EXPECT_EQ(h["consent"][1]["state"], "opt_out");
  EXPECT_EQ(h["consent"][1]["occurred_at"], "2026-11-24T10:03:04Z");
  EXPECT_EQ(h["consent_current"]["marketing"]["state"], "opt_out");
  EXPECT_EQ(h["consent_current"]["marketing"]["conversation_seq"], 5);
  ASSERT_EQ(h["legal_holds"].size(), 3u);
  EXPECT_EQ(h["legal_holds"][0]["action"], "placed");
  EXPECT_EQ(h["legal_holds"][0]["case_ref"], "CASE-2026-001");
  EXPECT_EQ(h["legal_holds"][2]["action"], "released");
  ASSERT_EQ(h["legal_holds_active"].size(), 1u);
  EXPECT_EQ(h["legal_holds_active"][0]["case_ref"], "CASE-2");
  ASSERT_EQ(h["notes"].size(), 1u);
  EXPECT_EQ(h["notes"][0]["content"]["text"], "customer is angry; call back");
  EXPECT_EQ(h["notes"][0]["actor"]["kind"], "agent");
  EXPECT_EQ(h["timeline"][3]["summary"], "internal note");
  EXPECT_EQ(h["timeline"][3].count("message_id"), 0u);
  EXPECT_TRUE(h["messages"].empty());
}

TEST(HistoryTest, TimelineHasOneCompactEntryPerEventWithoutContent) {
  Log log;
  log.Add(test::Sent("c1", "m1", "TEXT-ONE"), 0);
  log.Add(test::Edited("c1", "m1", "TEXT-TWO"), 1 * kSec);
  log.Add(test::StatusOf("c1", "m1", Delivery::kFailed), 2 * kSec);
  log.Add(test::ReactionTo("c1", "m1", "X", ActorKind::kCustomer), 3 * kSec);
  log.Add(test::Note("c1", "TEXT-NOTE"), 4 * kSec);
  log.Add(test::Deleted("c1", "m1"), 5 * kSec);
  log.Add(test::Redacted("c1", "m1"), 6 * kSec);
  log.Add(test::HoldEv("c1"), 7 * kSec);
  log.Add(Consent("c1", ConsentState::kOptIn), 8 * kSec);
  const json h = History(log);
  const json& t = h["timeline"];
  ASSERT_EQ(t.size(), 9u);
  const std::vector<std::string> summaries = {"outbound message",
                                              "edited",
                                              "failed (error 131047)",
                                              "reaction X added",
                                              "internal note",
                                              "deleted for everyone (wrong_price)",
                                              "redacted",
                                              "legal hold placed CASE-2026-001",
                                              "opt_in marketing"};
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t[i]["summary"], summaries[i]) << i;
    EXPECT_EQ(t[i]["global_seq"], i + 1);
    EXPECT_EQ(t[i]["late"], false);
    EXPECT_FALSE(t[i]["recorded_at"].get<std::string>().empty());
    const std::string dumped = t[i].dump();
    EXPECT_EQ(dumped.find("TEXT-"), std::string::npos) << dumped;
  }
  EXPECT_EQ(t[0]["type"], "message.sent");
  EXPECT_EQ(t[0]["actor"]["id"], "agent-1");
  EXPECT_EQ(t[0]["occurred_at"], "2026-11-24T10:03:00Z");
  EXPECT_EQ(t[8]["type"], "consent.changed");
}

TEST(HistoryTest, SealedContentRendersAsSealed) {
  Log log;
  Event send = Template("c1", "m1", "utility");
  send.content_sealing = Sealing::kAes256Gcm;
  send.template_->parameters.clear();
  log.Add(send, 0);
  Event edit = test::Edited("c1", "m1");
  edit.content.reset();
  edit.content_sealing = Sealing::kChaCha20Poly1305;
  log.Add(edit, 1 * kSec);
  Event note = test::Note("c1");
  note.content.reset();
  note.content_sealing = Sealing::kAes256Gcm;
  log.Add(note, 2 * kSec);
  log.Add(test::Redacted("c1", "m1"), 3 * kSec);
  const json h = History(log);
  const json m = MessageOf(h, "m1");
  EXPECT_EQ(m["versions"][0]["content"]["sealed"], true);
  EXPECT_EQ(m["versions"][1]["content"]["sealed"], true);
  EXPECT_EQ(m["versions"][1]["content"].count("text"), 0u);
  EXPECT_EQ(m["original"]["template"]["parameters_sealed"], true);
  EXPECT_EQ(h["notes"][0]["content"], json({{"sealed", true}}));
}

TEST(HistoryTest, RenderedJsonIsCompactWithSortedKeys) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(test::StatusOf("c1", "m1", Delivery::kRead), 1 * kSec);
  log.Add(DeleteNoReason("c1", "m1"), 2 * kSec);
  log.Add(test::Note("c1"), 1 * kHour);
  log.Add(Consent("c1", ConsentState::kOptIn), 1 * kHour);
  auto st = Fold(log.events());
  ASSERT_OK_AND_ASSIGN(std::string text, RenderHistory(*st, "c1"));
  // nlohmann::json objects keep keys sorted: re-serializing changes nothing.
  EXPECT_EQ(json::parse(text).dump(), text);
  // Rendering reads only.
  const auto before = st->data();
  ASSERT_OK(RenderHistory(*st, "c1"));
  EXPECT_EQ(st->data(), before);
}

TEST(HistoryTest, TextIsEscapedLikeNlohmannAndKeptExact) {
  const std::string tricky =
      "quote \" backslash \\ slash / tab \t newline \n nul-free \x01\x1f del \x7f "
      "\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x91\x8D";
  Log log;
  Event s = test::Sent("c1", "m1", tricky);
  s.actor.display = "Ann \"the\" Agent";
  log.Add(s, 0);
  log.Add(test::Note("c1", tricky), 1 * kSec);
  auto st = Fold(log.events());
  ASSERT_OK_AND_ASSIGN(std::string text, RenderHistory(*st, "c1"));
  const json h = json::parse(text);
  EXPECT_EQ(h.dump(), text);
  EXPECT_EQ(MessageOf(h, "m1")["current_content"]["text"], tricky);
  EXPECT_EQ(MessageOf(h, "m1")["original"]["actor"]["display"], "Ann \"the\" Agent");
  EXPECT_EQ(h["notes"][0]["content"]["text"], tricky);
}

TEST(HistoryTest, InvalidUtf8IsReplacedSoTheOutputStaysJson) {
  Log log;
  log.Add(test::Sent("c1", "m1", std::string("bad \xFF\xC3 end \xED\xA0\x80")), 0);
  auto st = Fold(log.events());
  ASSERT_OK_AND_ASSIGN(std::string text, RenderHistory(*st, "c1"));
  const json h = json::parse(text, nullptr, false);
  ASSERT_FALSE(h.is_discarded());
  const std::string got = MessageOf(h, "m1")["current_content"]["text"];
  EXPECT_EQ(got.rfind("bad \xEF\xBF\xBD\xEF\xBF\xBD end ", 0), 0u) << got;
}

TEST(HistoryTest, TimesAreRfc3339LikeTheLedger) {
  const int64_t times[] = {
      0,                             // 1970-01-01T00:00:00Z
      951782400LL * kSec + 1,        // 2000-02-29, one microsecond
      1709164800LL * kSec + 123456,  // 2024-02-29
      1798761599LL * kSec + 999999,  // 2026-12-31T23:59:59.999999Z
      253402300799LL * kSec,         // 9999-12-31T23:59:59Z
  };
  Log log;
  int i = 0;
  for (int64_t t : times)
    log.Add(test::Sent("c1", std::string("m").append(std::to_string(i++))), t - kT0);
  const json h = History(log);
  ASSERT_EQ(h["timeline"].size(), std::size(times));
  for (size_t k = 0; k < std::size(times); ++k) {
    EXPECT_EQ(h["timeline"][k]["occurred_at"], FormatRfc3339(times[k])) << times[k];
    EXPECT_EQ(
        MessageOf(h, std::string("m").append(std::to_string(k)))["original"]["occurred_at_us"],
        times[k]);
  }
}

TEST(HistoryTest, DamagedStateIsReportedNeverCrashes) {
  Log log;
  log.Add(test::Sent("c1", "m1"), 0);
  log.Add(test::StatusOf("c1", "m1", Delivery::kRead), 1 * kSec);
  log.Add(DeleteNoReason("c1", "m1"), 2 * kSec);
  log.Add(test::Note("c1"), 3 * kSec);
  const auto good = Fold(log.events());
  Event next = test::Edited("c1", "m1");
  next.global_seq = 100;
  next.conversation_seq = 5;
  next.occurred_at_us = kT0 + 1 * kHour;
  next.recorded_at_us = kT0 + 1 * kHour;
  size_t corruption = 0;
  for (const auto& [key, value] : good->data()) {
    for (size_t cut : {size_t{0}, value.size() / 2, value.size() > 0 ? value.size() - 1 : 0}) {
      MemoryState damaged = *good;
      damaged.Put(key, value.substr(0, cut));
      auto r = RenderHistory(damaged, "c1");
      EXPECT_TRUE(r.ok() || r.status().IsCorruption()) << r.status().ToString();
      Status s = MakeHistory()->Apply(next, damaged);
      EXPECT_TRUE(s.ok() || s.IsCorruption()) << s.ToString();
      corruption += (!r.ok()) + (!s.ok());
    }
  }
  // The binary records (conversation and message) are checked, not trusted.
  EXPECT_GT(corruption, 0u);
}

// ---- determinism, isolation, cost -----------------------------------------------------------

// A mixed, interleaved log over several conversations, with out-of-order observations.
Log MixedLog(int rounds) {
  Log log;
  const std::string convs[] = {"a", "ab", "c\x01", "conversation-4"};
  for (int r = 0; r < rounds; ++r) {
    for (size_t ci = 0; ci < std::size(convs); ++ci) {
      const std::string& c = convs[ci];
      std::string m = "m";
      m += std::to_string(r);
      const int64_t t = (r * 7 + static_cast<int64_t>(ci)) * kMin;
      switch ((r + static_cast<int>(ci)) % 5) {
        case 0:
          log.Add(test::Sent(c, m, "text " + m), t);
          log.Add(test::StatusOf(c, m, Delivery::kRead), t + 2 * kSec);
          log.Add(test::StatusOf(c, m, Delivery::kDelivered), t + 1 * kSec);
          log.Add(DeleteNoReason(c, m), t + 3 * kSec);
          break;
        case 1:
          log.Add(test::StatusOf(c, m, Delivery::kDelivered), t + 1 * kSec);  // before original
          log.Add(test::Sent(c, m, "hi", ActorKind::kCustomer), t);
          log.Add(test::ReactionTo(c, m), t + 2 * kSec);
          break;
        case 2: {
          log.Add(Template(c, m, "marketing"), t);
          log.Add(test::Edited(c, m), t + 20 * kMin);
          log.Add(Consent(c, r % 2 ? ConsentState::kOptIn : ConsentState::kOptOut), t);
          break;
        }
        case 3: {
          log.Add(test::Sent(c, m, "wrong"), t);
          const std::string fix = m + "-fix";
          Event s = test::Sent(c, fix, "right");
          s.reply_to = m;
          log.Add(s, t + 1 * kMin);
          log.Add(test::Corrected(c, m, fix), t + 1 * kMin);
          log.Add(test::StatusOf(c, fix, Delivery::kFailed), t + 2 * kMin);
          break;
        }
        default:
          log.Add(test::Sent(c, m, "secret " + m), t);
          log.Add(test::Redacted(c, m), t + 1 * kSec);
          log.Add(test::Note(c), t + 2 * kSec);
          log.Add(test::HoldEv(c), t + 3 * kSec);
          break;
      }
    }
  }
  return log;
}

TEST(HistoryTest, FoldingTwiceGivesIdenticalState) {
  const Log log = MixedLog(30);
  auto a = Fold(log.events());
  auto b = Fold(log.events());
  EXPECT_EQ(a->data(), b->data());
  EXPECT_GT(a->data().size(), 100u);
}

TEST(HistoryTest, AConversationFoldedAloneEqualsItsPartOfTheFullState) {
  const Log log = MixedLog(30);
  auto full = Fold(log.events());
  std::map<std::string, std::string, std::less<>> merged;
  for (const std::string c : {"a", "ab", "c\x01", "conversation-4"}) {
    auto alone = Fold(log.Of(c));
    for (const auto& [k, v] : alone->data()) {
      EXPECT_TRUE(merged.emplace(k, v).second) << "two conversations wrote one key";
    }
    // Rendered alone and from the full state: the same document (the checkpoint aside).
    json x = Render(*alone, c), y = Render(*full, c);
    x.erase("as_of_global_seq");
    y.erase("as_of_global_seq");
    EXPECT_EQ(x, y) << c;
  }
  EXPECT_EQ(merged, full->data());
}

// A StateStore that counts the keys each Apply writes.
class CountingStore final : public StateStore {
 public:
  explicit CountingStore(MemoryState& inner) : inner_(inner) {}
  Status Get(std::string_view key, std::string* value) override { return inner_.Get(key, value); }
  void Put(std::string_view key, std::string_view value) override {
    touched_.insert(std::string(key));
    bytes_ += key.size() + value.size();
    inner_.Put(key, value);
  }
  void Delete(std::string_view key) override {
    touched_.insert(std::string(key));
    inner_.Delete(key);
  }
  void Reset() {
    touched_.clear();
    bytes_ = 0;
  }
  size_t touched() const { return touched_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  MemoryState& inner_;
  std::set<std::string> touched_;
  size_t bytes_ = 0;
};

TEST(HistoryTest, EachEventWritesABoundedNumberOfSmallValues) {
  // One conversation of about 1,000 events: what one event writes must not grow with it.
  Log log;
  for (int i = 0; i < 250; ++i) {
    std::string m = "m";
    m += std::to_string(i);
    const int64_t t = i * kMin;
    log.Add(test::Sent("big", m, "message " + m), t);
    log.Add(test::StatusOf("big", m, Delivery::kRead), t + 10 * kSec);
    if (i % 2) {
      log.Add(test::Edited("big", m), t + 20 * kSec);
    } else {
      log.Add(DeleteNoReason("big", m), t + 20 * kSec);
    }
    log.Add(test::Note("big"), t + 30 * kSec);
  }
  auto projection = MakeHistory();
  MemoryState state;
  CountingStore store(state);
  size_t max_keys = 0, max_bytes = 0;
  for (const Event& e : log.events()) {
    store.Reset();
    ASSERT_OK(projection->Apply(e, store));
    max_keys = std::max(max_keys, store.touched());
    max_bytes = std::max(max_bytes, store.bytes());
  }
  EXPECT_LE(max_keys, 10u);
  EXPECT_LT(max_bytes, 16u * 1024);
  ASSERT_OK_AND_ASSIGN(std::string text, RenderHistory(state, "big"));
  const json h = json::parse(text);
  EXPECT_EQ(h["timeline"].size(), 1000u);
  EXPECT_EQ(h["messages"].size(), 250u);
  EXPECT_EQ(FlagsOf(h, "deleted_after_read").size(), 125u);
  EXPECT_EQ(FlagsOf(h, "edited_after_read").size(), 125u);
  // The last five deletions' windows end after the last event: pending, not flagged.
  EXPECT_EQ(FlagsOf(h, "deleted_without_explanation").size(), 120u);
  EXPECT_EQ(h["pending"].size(), 5u);
}

// ---- end to end through the ledger ----------------------------------------------------------

TEST(HistoryLedgerTest, AppendRenderAndRebuildEqual) {
  test::TempDir dir;
  test::FixedClock clock;
  Options options;
  options.clock = &clock;
  options.projections = {MakeHistory()};
  std::unique_ptr<Ledger> ledger = test::OpenOrDie(dir.path(), options);
  ASSERT_TRUE(ledger);
  ASSERT_TRUE(ledger->WaitForProjections(std::chrono::seconds(10)));

  auto at = [](Event e, int64_t t) {
    e.occurred_at_us = kT0 + t;
    return e;
  };
  Event offer = test::Sent("conv-1", "wamid.1", "Delivery in 2 days, 5 EUR");
  ASSERT_OK(ledger->Append({at(offer, 0), at(test::Sent("conv-2", "wamid.9", "other"), 0)}));
  // The platform reports a read before the delivered (observations, out of order).
  ASSERT_OK(
      ledger->Append({at(test::StatusOf("conv-1", "wamid.1", Delivery::kRead), 30 * kSec),
                      at(test::StatusOf("conv-1", "wamid.1", Delivery::kDelivered), 20 * kSec)}));
  Event del = DeleteNoReason("conv-1", "wamid.1");
  ASSERT_OK(ledger->Append({at(del, 1 * kMin)}));
  ASSERT_OK(ledger->Append({at(test::Sent("conv-1", "wamid.2", "Delivery in 5 days"), 2 * kMin),
                            at(test::Corrected("conv-1", "wamid.1", "wamid.2"), 2 * kMin)}));
  ASSERT_OK(ledger->Append({at(test::Redacted("conv-1", "wamid.2"), 3 * kMin),
                            at(test::Note("conv-1", "escalated"), 4 * kMin),
                            at(Consent("conv-1", ConsentState::kOptOut), 5 * kMin),
                            at(Template("conv-1", "wamid.3", "marketing"), 6 * kMin),
                            at(test::HoldEv("conv-1"), 7 * kMin)}));

  ASSERT_OK_AND_ASSIGN(auto reader, ledger->NewStateReader("history"));
  EXPECT_EQ(reader->Checkpoint(), ledger->LastGlobalSeq());
  ASSERT_OK_AND_ASSIGN(std::string text, RenderHistory(*reader, "conv-1", &ledger->Opener()));
  const json h = json::parse(text);
  EXPECT_EQ(h["as_of_global_seq"], ledger->LastGlobalSeq());
  EXPECT_EQ(h["events"], 11);
  const json m1 = MessageOf(h, "wamid.1");
  EXPECT_EQ(m1["deletions"][0]["customer_had_read"], true);
  EXPECT_EQ(m1["deletions"][0]["explanation"]["status"], "corrected");
  EXPECT_EQ(m1["corrected_by"][0]["replacement_message_id"], "wamid.2");
  EXPECT_EQ(m1["statuses"][0]["status"], "delivered");
  EXPECT_EQ(m1["statuses"][1]["out_of_order"], false);
  EXPECT_EQ(m1["statuses"][0]["out_of_order"], true);
  EXPECT_EQ(FlagsOf(h, "deleted_after_read", "wamid.1").size(), 1u);
  EXPECT_TRUE(FlagsOf(h, "deleted_without_explanation").empty());
  EXPECT_EQ(FlagsOf(h, "marketing_without_opt_in", "wamid.3").size(), 1u);
  EXPECT_EQ(text.find("Delivery in 5 days"), std::string::npos);
  EXPECT_EQ(MessageOf(h, "wamid.2")["corrects"][0]["message_id"], "wamid.1");
  EXPECT_EQ(h["legal_holds_active"].size(), 1u);
  EXPECT_EQ(h["notes"][0]["content"]["text"], "escalated");
  EXPECT_EQ(text.find("wamid.9"), std::string::npos);  // conv-2 stays apart
  EXPECT_STATUS(RenderHistory(*reader, "conv-3"), kNotFound, "conversation_not_found");

  // The stored state equals a fold of the events as the log returns them (decoded records).
  ASSERT_OK_AND_ASSIGN(std::vector<Event> all, ledger->ReadGlobal(0));
  auto folded = Fold(all);
  std::map<std::string, std::string, std::less<>> stored;
  ASSERT_OK(reader->Scan("", [&](std::string_view k, std::string_view v) {
    stored.emplace(std::string(k), std::string(v));
    return true;
  }));
  EXPECT_EQ(stored, folded->data());

  ASSERT_OK_AND_ASSIGN(RebuildReport report, ledger->RebuildProjection("history", false));
  EXPECT_TRUE(report.equal) << "first difference at " << report.first_difference;
  EXPECT_EQ(report.events, ledger->LastGlobalSeq());
  EXPECT_EQ(report.live_digest, report.rebuilt_digest);
}

}  // namespace
}  // namespace convledger::projections
