// The customer view (projections/src/customer_view.cc): exactly what the customer's app shows.
// Events are built in C++ and folded into a MemoryState by calling Apply directly (the test
// assigns the sequences and times), then rendered and inspected as JSON; one test runs the same
// through a real Ledger, and the webhook corpus (tests/projections/corpus/) is replayed both ways.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "ledger/event_json.h"
#include "ledger/test_util.h"
#include "projections/projections.h"

namespace convledger::projections {
namespace {

using json = nlohmann::json;

constexpr int64_t kSec = 1000000;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kT0 = 1795514580LL * kSec;  // 2026-11-24T10:03:00Z

// A log being written by hand: Add assigns what the ledger would (sequences, recorded_at) and the
// platform time `at`, relative to kT0.
class Log {
 public:
  Event& Add(Event e, int64_t at) {
    e.global_seq = ++global_;
    e.conversation_seq = ++conv_seq_[e.conversation_id];
    e.recorded_at_us = kT0 + 100 * kHour + static_cast<int64_t>(global_);
    e.occurred_at_us = kT0 + at;
    events_.push_back(std::move(e));
    return events_.back();
  }
  const std::vector<Event>& events() const { return events_; }

 private:
  std::vector<Event> events_;
  uint64_t global_ = 0;
  std::map<std::string, uint64_t> conv_seq_;
};

Status FoldAll(const std::vector<Event>& events, MemoryState* state,
               std::string_view only_conversation = {}) {
  auto view = MakeCustomerView();
  for (const Event& e : events) {
    if (!only_conversation.empty() && e.conversation_id != only_conversation) continue;
    if (Status st = view->Apply(e, *state); !st.ok()) return st;
    state->set_checkpoint(e.global_seq);
  }
  return Status::OK();
}

class CustomerViewTest : public ::testing::Test {
 protected:
  // Folds the whole log and renders `conv` (default "c1"), failing the test on error.
  json View(const std::string& conv = "c1") {
    MemoryState state;
    Status st = FoldAll(log_.events(), &state);
    EXPECT_TRUE(st.ok()) << st.ToString();
    auto r = RenderCustomerView(state, conv);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return json();
    raw_ = *r;
    json j = json::parse(raw_, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << raw_;
    return j;
  }
  // The rendered message with this id, or null.
  static json Msg(const json& view, const std::string& id) {
    for (const json& m : view["messages"])
      if (m["message_id"] == id) return m;
    return json();
  }
  static std::vector<std::string> Ids(const json& view) {
    std::vector<std::string> ids;
    for (const json& m : view["messages"]) ids.push_back(m["message_id"]);
    return ids;
  }
  bool RawContains(std::string_view needle) const { return raw_.find(needle) != std::string::npos; }

  static Event In(std::string id, std::string text, std::string conv = "c1") {
    Event e = test::Sent(std::move(conv), std::move(id), std::move(text), ActorKind::kCustomer);
    e.actor = Actor{ActorKind::kCustomer, "cust-4915", "Anna Berg"};
    return e;
  }
  static Event Out(std::string id, std::string text, std::string conv = "c1") {
    Event e = test::Sent(std::move(conv), std::move(id), std::move(text), ActorKind::kAgent);
    e.actor = Actor{ActorKind::kAgent, "agent-17", "Acme Support"};
    return e;
  }
  static Event On(Event e, Channel ch) {
    e.channel = ch;
    return e;
  }

  Log log_;
  std::string raw_;
};

// ---- sending, order, shape ----

TEST_F(CustomerViewTest, ShowsEachMessageAsDelivered) {
  Event out = Out("m2", "Yes, size M is in stock");
  out.reply_to = "m1";
  log_.Add(In("m1", "Is the sweater in stock?"), 0);
  log_.Add(out, 30 * kSec);
  json v = View();
  EXPECT_EQ(v["conversation_id"], "c1");
  EXPECT_EQ(v["channel"], "whatsapp");
  ASSERT_EQ(v["messages"].size(), 2u);
  json in = v["messages"][0];
  EXPECT_EQ(in["message_id"], "m1");
  EXPECT_EQ(in["direction"], "inbound");
  EXPECT_EQ(in["from"], "customer");
  EXPECT_EQ(in["name"], "Anna Berg");
  EXPECT_EQ(in["text"], "Is the sweater in stock?");
  EXPECT_EQ(in["sent_at"], "2026-11-24T10:03:00Z");
  EXPECT_EQ(in["edited"], false);
  EXPECT_EQ(in["deleted"], false);
  EXPECT_EQ(in["redacted"], false);
  EXPECT_FALSE(in.contains("status")) << "ticks are for outbound messages";
  EXPECT_FALSE(in.contains("placeholder"));
  EXPECT_EQ(in["reactions"], json::array());
  json o = v["messages"][1];
  EXPECT_EQ(o["direction"], "outbound");
  EXPECT_EQ(o["from"], "business");
  EXPECT_EQ(o["name"], "Acme Support");
  EXPECT_EQ(o["status"], "pending");
  EXPECT_EQ(o["reply_to"], "m1");
  EXPECT_EQ(o["sent_at"], "2026-11-24T10:03:30Z");
}

TEST_F(CustomerViewTest, OrdersByPlatformTimeThenConversationSeq) {
  // Recorded in the order m3, m1, m2, m4; sent (platform time) m1, m2 = m4 (tie), m3.
  log_.Add(Out("m3", "third"), 3 * kMin);
  log_.Add(In("m1", "first"), 1 * kMin);
  log_.Add(Out("m2", "second"), 2 * kMin);
  log_.Add(In("m4", "tie, recorded later"), 2 * kMin);
  EXPECT_EQ(Ids(View()), (std::vector<std::string>{"m1", "m2", "m4", "m3"}));
}

TEST_F(CustomerViewTest, ShowsMediaAndTemplateButNeverTheTemplateCategory) {
  Event media = Out("m1", "");
  media.content =
      Content{"", {Media{"image/jpeg", 48213, "9f2c", "the sweater", "media-1234", "s.jpg"}}};
  Event tpl = Out("m2", "Hi Carla, your refund was issued.");
  tpl.actor = Actor{ActorKind::kBot, "refund-bot", ""};
  tpl.template_ = Template{"refund_issued", "en", "utility", {"Carla", "59.90 EUR"}};
  log_.Add(media, 0);
  log_.Add(tpl, kMin);
  json v = View();
  json m1 = Msg(v, "m1");
  ASSERT_TRUE(m1.is_object());
  EXPECT_FALSE(m1.contains("text"));
  ASSERT_EQ(m1["media"].size(), 1u);
  EXPECT_EQ(m1["media"][0]["caption"], "the sweater");
  EXPECT_EQ(m1["media"][0]["mime"], "image/jpeg");
  EXPECT_EQ(m1["media"][0]["filename"], "s.jpg");
  json m2 = Msg(v, "m2");
  EXPECT_EQ(m2["text"], "Hi Carla, your refund was issued.");
  EXPECT_EQ(m2["template"], (json{{"name", "refund_issued"},
                                  {"language", "en"},
                                  {"parameters", {"Carla", "59.90 EUR"}}}));
  EXPECT_FALSE(m2.contains("name")) << "a bot without a display name shows no name";
  EXPECT_FALSE(RawContains("utility"));
  EXPECT_FALSE(RawContains("refund-bot"));
}

TEST_F(CustomerViewTest, NeverShowsActorIdsEvenAsNames) {
  Event out = Out("m1", "hello");
  out.actor = Actor{ActorKind::kAgent, "agent-17", "agent-17"};  // display set to the id
  log_.Add(out, 0);
  log_.Add(In("m2", "hi"), kSec);
  json v = View();
  EXPECT_FALSE(Msg(v, "m1").contains("name"));
  EXPECT_FALSE(RawContains("agent-17"));
  EXPECT_FALSE(RawContains("cust-4915"));
}

TEST_F(CustomerViewTest, UnknownConversationIsNotFound) {
  log_.Add(In("m1", "hi"), 0);
  MemoryState state;
  ASSERT_OK(FoldAll(log_.events(), &state));
  EXPECT_STATUS(RenderCustomerView(state, "c2"), kNotFound, "conversation_not_found");
  // Length-prefixed keys: "c" is not a prefix of "c1" in the state.
  EXPECT_STATUS(RenderCustomerView(state, "c"), kNotFound, "conversation_not_found");
}

// ---- internal items ----

TEST_F(CustomerViewTest, NotesConsentAndHoldsAreNeverShown) {
  log_.Add(test::ConsentEv("c1", ConsentState::kOptIn), 0);
  log_.Add(test::Note("c1", "Warehouse sync lagged; ticket OPS-231"), kSec);
  log_.Add(test::HoldEv("c1"), 2 * kSec);
  // The conversation exists (as in the log) but shows nothing.
  EXPECT_EQ(View()["messages"], json::array());
  for (const char* secret : {"OPS-231", "Warehouse", "CASE-2026-001", "checkout_form"})
    EXPECT_FALSE(RawContains(secret)) << secret << " in " << raw_;
  log_.Add(In("m1", "hi"), 3 * kSec);
  json v = View();
  EXPECT_EQ(v["messages"].size(), 1u);
  for (const char* secret : {"OPS-231", "Warehouse", "CASE-2026-001", "checkout_form", "opt_in",
                             "marketing", "legal", "note"})
    EXPECT_FALSE(RawContains(secret)) << secret << " in " << raw_;
}

// ---- deletion ----

TEST_F(CustomerViewTest, DeletedForEveryoneWithinWindowIsAPlaceholderWithoutContent) {
  Event out = Out("m1", "Size M costs 2 EUR");
  out.reply_to = "m0";
  out.template_ = Template{"price_quote", "en", "marketing", {"2 EUR"}};
  log_.Add(out, 0);
  log_.Add(test::ReactionTo("c1", "m1", "\xF0\x9F\x91\x8D", ActorKind::kCustomer), kMin);
  log_.Add(test::StatusOf("c1", "m1", Delivery::kRead), kMin);
  log_.Add(test::Deleted("c1", "m1"), 5 * kMin);  // reason "price was wrong", wrong_price
  json v = View();
  json m = Msg(v, "m1");
  ASSERT_TRUE(m.is_object()) << raw_;
  EXPECT_EQ(m["deleted"], true);
  EXPECT_EQ(m["placeholder"], "This message was deleted");
  EXPECT_EQ(m["edited"], false);
  EXPECT_EQ(m["status"], "read") << "ticks stay";
  EXPECT_FALSE(m.contains("text"));
  EXPECT_FALSE(m.contains("template"));
  EXPECT_FALSE(m.contains("reply_to"));
  EXPECT_EQ(m["reactions"], json::array());
  for (const char* secret : {"2 EUR", "Size M", "price_quote", "price was wrong", "wrong_price"})
    EXPECT_FALSE(RawContains(secret)) << secret << " in " << raw_;
}

TEST_F(CustomerViewTest, DeletionOutsideTheChannelWindowLeavesTheMessage) {
  // WhatsApp: delete for everyone within 60 hours of the send.
  log_.Add(Out("m1", "still on the phone"), 0);
  log_.Add(Out("m2", "recalled at the limit"), 0);
  log_.Add(test::Deleted("c1", "m1"), 60 * kHour + kSec);
  log_.Add(test::Deleted("c1", "m2"), 60 * kHour);
  json v = View();
  EXPECT_EQ(Msg(v, "m1")["deleted"], false);
  EXPECT_EQ(Msg(v, "m1")["text"], "still on the phone");
  EXPECT_EQ(Msg(v, "m2")["deleted"], true);
}

TEST_F(CustomerViewTest, MessengerUnsendHasItsOwnWindowAndPlaceholder) {
  log_.Add(On(Out("m1", "unsent in time"), Channel::kMessenger), 0);
  log_.Add(On(Out("m2", "too late to unsend"), Channel::kMessenger), 0);
  log_.Add(On(test::Deleted("c1", "m1"), Channel::kMessenger), 10 * kMin);
  log_.Add(On(test::Deleted("c1", "m2"), Channel::kMessenger), 10 * kMin + kSec);
  json v = View();
  EXPECT_EQ(Msg(v, "m1")["placeholder"], "You unsent a message");
  EXPECT_FALSE(RawContains("unsent in time"));
  EXPECT_EQ(Msg(v, "m2")["text"], "too late to unsend");
}

TEST_F(CustomerViewTest, AnSmsCannotBeUnsentOrEdited) {
  log_.Add(On(Out("m1", "Your code is 1234"), Channel::kSms), 0);
  log_.Add(On(Out("m2", "Pickup at 5"), Channel::kSms), 0);
  log_.Add(On(test::Deleted("c1", "m1"), Channel::kSms), kSec);
  log_.Add(On(test::Edited("c1", "m2", "Pickup at 6"), Channel::kSms), kSec);
  json v = View();
  EXPECT_EQ(v["channel"], "sms");
  EXPECT_EQ(Msg(v, "m1")["deleted"], false);
  EXPECT_EQ(Msg(v, "m1")["text"], "Your code is 1234");
  EXPECT_EQ(Msg(v, "m2")["text"], "Pickup at 5");
  EXPECT_EQ(Msg(v, "m2")["edited"], false);
}

TEST_F(CustomerViewTest, DeletedOnTheAgentSideOnlyIsStillShown) {
  log_.Add(Out("m1", "the customer keeps this"), 0);
  log_.Add(test::Deleted("c1", "m1", DeleteScope::kAgentOnly), kSec);
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["deleted"], false);
  EXPECT_EQ(m["text"], "the customer keeps this");
  EXPECT_FALSE(RawContains("price was wrong"));
}

TEST_F(CustomerViewTest, CustomerRevokeOfTheirOwnMessage) {
  Event photo = In("m1", "");
  photo.content =
      Content{"", {Media{"image/jpeg", 0, "", "Here is the box", "1203948571629384", ""}}};
  log_.Add(photo, 0);
  Event revoke = test::Deleted("c1", "m1", DeleteScope::kEveryone, ActorKind::kCustomer);
  revoke.reason.clear();
  revoke.reason_code.clear();
  log_.Add(revoke, 3 * kMin);
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["deleted"], true);
  EXPECT_FALSE(m.contains("media"));
  EXPECT_FALSE(RawContains("Here is the box"));
  EXPECT_FALSE(RawContains("1203948571629384"));
}

// ---- edits ----

TEST_F(CustomerViewTest, EditWithinWindowShowsLatestTextWithMark) {
  log_.Add(Out("m1", "Delivery in 2 days"), 0);
  log_.Add(test::Edited("c1", "m1", "Delivery in 5 days"), 15 * kMin);  // reason "typo"
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["text"], "Delivery in 5 days");
  EXPECT_EQ(m["edited"], true);
  EXPECT_FALSE(RawContains("2 days"));
  EXPECT_FALSE(RawContains("typo"));
}

TEST_F(CustomerViewTest, EditOutsideWindowIsNotWhatTheCustomerSees) {
  log_.Add(Out("m1", "Delivery in 2 days"), 0);
  log_.Add(test::Edited("c1", "m1", "Delivery in 5 days"), 15 * kMin + kSec);
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["text"], "Delivery in 2 days");
  EXPECT_EQ(m["edited"], false);
  EXPECT_FALSE(RawContains("5 days"));
}

TEST_F(CustomerViewTest, LatestEditByPlatformTimeWinsWhateverTheRecordingOrder) {
  log_.Add(Out("m1", "v0"), 0);
  log_.Add(test::Edited("c1", "m1", "v3"), 3 * kMin);
  log_.Add(test::Edited("c1", "m1", "v1"), 1 * kMin);
  log_.Add(test::Edited("c1", "m1", "v2"), 2 * kMin);
  log_.Add(test::Edited("c1", "m1", "v9 too late"), 20 * kMin);
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["text"], "v3");
  EXPECT_EQ(m["edited"], true);
}

TEST_F(CustomerViewTest, EditRecordedBeforeItsOriginalIsAppliedWhenTheOriginalArrives) {
  Event edit = test::Edited("c1", "m1", "The corner is crushed and the seal is broken",
                            ActorKind::kCustomer);
  Event late_edit = test::Edited("c1", "m1", "outside the window", ActorKind::kCustomer);
  log_.Add(edit, 2 * kMin);
  log_.Add(late_edit, 30 * kMin);
  {
    MemoryState state;
    ASSERT_OK(FoldAll(log_.events(), &state));
    // Nothing the customer could see yet: no message (the conversation exists, empty).
    ASSERT_OK_AND_ASSIGN(std::string r, RenderCustomerView(state, "c1"));
    EXPECT_EQ(json::parse(r)["messages"], json::array());
  }
  log_.Add(In("m1", "The corner is crushed"), 0);
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["text"], "The corner is crushed and the seal is broken");
  EXPECT_EQ(m["edited"], true);
  EXPECT_FALSE(RawContains("outside the window"));
}

TEST_F(CustomerViewTest, NothingChangesADeletedMessage) {
  log_.Add(Out("m1", "wrong price 2 EUR"), 0);
  log_.Add(test::Deleted("c1", "m1"), 5 * kMin);
  // An edit observation recorded after the deletion, even one timed before it.
  log_.Add(test::Edited("c1", "m1", "late edit text", ActorKind::kPlatform), 2 * kMin);
  log_.Add(test::Corrected("c1", "m1", "m1"), 6 * kMin);  // nonsense, must not resurrect
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["deleted"], true);
  EXPECT_FALSE(RawContains("late edit text"));
  EXPECT_FALSE(RawContains("2 EUR"));
}

TEST_F(CustomerViewTest, DeletionRecordedBeforeItsOriginal) {
  Event revoke = test::Deleted("c1", "m1", DeleteScope::kEveryone, ActorKind::kCustomer);
  log_.Add(revoke, 5 * kMin);
  log_.Add(test::Edited("c1", "m1", "edited before the revoke", ActorKind::kCustomer), kMin);
  log_.Add(In("m1", "sent first, recorded last"), 0);
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["deleted"], true);
  EXPECT_FALSE(RawContains("sent first"));
  EXPECT_FALSE(RawContains("edited before"));
}

TEST_F(CustomerViewTest, DeletionRecordedBeforeItsOriginalButOutsideTheWindow) {
  log_.Add(test::Deleted("c1", "m1", DeleteScope::kEveryone, ActorKind::kCustomer), 61 * kHour);
  log_.Add(In("m1", "still there"), 0);
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["deleted"], false);
  EXPECT_EQ(m["text"], "still there");
}

// ---- redaction, sealed content ----

TEST_F(CustomerViewTest, RedactedIsAPlaceholderWithoutContent) {
  Event card = In("m1", "My card is 4111 1111 1111 1111");
  card.content->media.push_back(Media{"image/png", 10, "", "card photo caption", "ref-9", ""});
  log_.Add(card, 0);
  log_.Add(test::ReactionTo("c1", "m1"), kSec);
  log_.Add(test::Redacted("c1", "m1"), kMin);  // reason "card number sent by mistake"
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["redacted"], true);
  EXPECT_EQ(m["deleted"], false);
  EXPECT_EQ(m["placeholder"], "[redacted]");
  EXPECT_FALSE(m.contains("text"));
  EXPECT_FALSE(m.contains("media"));
  EXPECT_EQ(m["reactions"], json::array());
  for (const char* secret : {"4111", "card photo caption", "ref-9", "by mistake"})
    EXPECT_FALSE(RawContains(secret)) << secret;
}

TEST_F(CustomerViewTest, RedactionBeforeTheSendAndEditsAfterItShowNoContent) {
  log_.Add(test::Redacted("c1", "m1"), kMin);
  log_.Add(test::Edited("c1", "m1", "edited secret", ActorKind::kCustomer), 2 * kMin);
  log_.Add(In("m1", "original secret"), 0);
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["redacted"], true);
  EXPECT_FALSE(RawContains("secret"));
}

TEST_F(CustomerViewTest, RedactionAlsoRemovesTheContentFromTheState) {
  log_.Add(test::Edited("c1", "m1", "pending edit secret", ActorKind::kCustomer), kMin);
  log_.Add(In("m1", "original secret"), 0);
  log_.Add(test::Redacted("c1", "m1"), 2 * kMin);
  MemoryState state;
  ASSERT_OK(FoldAll(log_.events(), &state));
  for (const auto& [k, v] : state.data()) EXPECT_EQ(v.find("secret"), std::string::npos) << v;
}

TEST_F(CustomerViewTest, SealedContentIsShownAsRedacted) {
  Event sealed = In("m1", "");
  sealed.content.reset();
  sealed.content_sealing = Sealing::kAes256Gcm;
  log_.Add(sealed, 0);
  json m = Msg(View(), "m1");
  EXPECT_EQ(m["redacted"], true);
  EXPECT_EQ(m["placeholder"], "[redacted]");
  EXPECT_FALSE(m.contains("text"));
}

// ---- corrections ----

TEST_F(CustomerViewTest, CorrectionShowsTheWrongMessageAsItsDeletionLeftItAndTheReplacementInTime) {
  log_.Add(In("m0", "How much is size M?"), 0);
  log_.Add(Out("m1", "Size M costs 2 EUR"), kMin);
  log_.Add(In("m2", "Great, I'll take two"), 2 * kMin);
  log_.Add(test::Deleted("c1", "m1"), 4 * kMin);
  log_.Add(Out("m3", "Sorry: size M costs 20 EUR"), 5 * kMin);
  log_.Add(test::Corrected("c1", "m1", "m3"), 5 * kMin);  // explanation "The price is 20 EUR..."
  json v = View();
  EXPECT_EQ(Ids(v), (std::vector<std::string>{"m0", "m1", "m2", "m3"}));
  EXPECT_EQ(Msg(v, "m1")["deleted"], true);
  EXPECT_FALSE(Msg(v, "m1").contains("correction"));
  json m3 = Msg(v, "m3");
  EXPECT_EQ(m3["text"], "Sorry: size M costs 20 EUR");
  EXPECT_EQ(m3["correction"],
            (json{{"corrects", "m1"}, {"explanation", "The price is 20 EUR, not 2 EUR."}}));
  EXPECT_FALSE(RawContains("costs 2 EUR"));
  EXPECT_FALSE(RawContains("wrong_price"));
  EXPECT_FALSE(RawContains("price was wrong"));
}

TEST_F(CustomerViewTest, CorrectionByEditLeavesTheEditedWrongMessage) {
  log_.Add(Out("m1", "In stock"), 0);
  log_.Add(test::Edited("c1", "m1", "In stock in grey only"), kMin);
  log_.Add(Out("m2", "Only grey is left, sorry"), 2 * kMin);
  Event corr = test::Corrected("c1", "m1", "m2");
  corr.explanation.clear();
  corr.reason_code = "wrong_availability";
  log_.Add(corr, 2 * kMin);
  json v = View();
  EXPECT_EQ(Msg(v, "m1")["text"], "In stock in grey only");
  EXPECT_EQ(Msg(v, "m1")["edited"], true);
  EXPECT_EQ(Msg(v, "m2")["correction"], (json{{"corrects", "m1"}}));
  EXPECT_FALSE(RawContains("wrong_availability"));
}

TEST_F(CustomerViewTest, CorrectionRecordedBeforeItsReplacementAndLatestExplanationWins) {
  Event c1 = test::Corrected("c1", "m1", "m2");
  c1.explanation = "first explanation";
  Event c2 = test::Corrected("c1", "m1", "m2");
  c2.explanation = "second explanation";
  log_.Add(Out("m1", "wrong"), 0);
  log_.Add(c2, 3 * kMin);
  log_.Add(c1, 2 * kMin);
  log_.Add(Out("m2", "right"), kMin);
  json m2 = Msg(View(), "m2");
  EXPECT_EQ(m2["correction"]["explanation"], "second explanation");
}

TEST_F(CustomerViewTest, NoExplanationOnADeletedReplacement) {
  log_.Add(Out("m1", "wrong"), 0);
  log_.Add(Out("m2", "also wrong"), kMin);
  log_.Add(test::Corrected("c1", "m1", "m2"), kMin);
  log_.Add(test::Deleted("c1", "m2"), 2 * kMin);
  json v = View();
  EXPECT_FALSE(Msg(v, "m2").contains("correction"));
  EXPECT_FALSE(RawContains("20 EUR"));
}

// ---- delivery ticks ----

TEST_F(CustomerViewTest, TicksNeverGoBackwards) {
  log_.Add(Out("m1", "a"), 0);
  log_.Add(test::StatusOf("c1", "m1", Delivery::kRead), 3 * kSec);
  log_.Add(test::StatusOf("c1", "m1", Delivery::kDelivered), 2 * kSec);
  log_.Add(test::StatusOf("c1", "m1", Delivery::kSent), 1 * kSec);
  log_.Add(test::StatusOf("c1", "m1", Delivery::kFailed), 4 * kSec);
  log_.Add(Out("m2", "b"), 0);
  log_.Add(test::StatusOf("c1", "m2", Delivery::kSent), kSec);
  json v = View();
  EXPECT_EQ(Msg(v, "m1")["status"], "read") << "a late delivered or failed after read leaves read";
  EXPECT_EQ(Msg(v, "m2")["status"], "sent");
  EXPECT_FALSE(RawContains("131047")) << "error codes are not the customer's";
  EXPECT_FALSE(RawContains("Re-engagement"));
}

TEST_F(CustomerViewTest, ReadWithoutDeliveredShowsRead) {
  log_.Add(Out("m1", "Refund or replacement?"), 0);
  log_.Add(test::StatusOf("c1", "m1", Delivery::kSent), kSec);
  log_.Add(test::StatusOf("c1", "m1", Delivery::kRead), 15 * kSec);
  EXPECT_EQ(Msg(View(), "m1")["status"], "read");
}

TEST_F(CustomerViewTest, FailedAndNeverDeliveredIsNotShown) {
  log_.Add(Out("m1", "Your invoice 2207 is ready."), 0);
  log_.Add(test::StatusOf("c1", "m1", Delivery::kSent), kSec);
  log_.Add(test::StatusOf("c1", "m1", Delivery::kFailed), 2 * kSec);
  log_.Add(Out("m2", "failed, then delivered to another device"), 0);
  log_.Add(test::StatusOf("c1", "m2", Delivery::kFailed), kSec);
  log_.Add(test::StatusOf("c1", "m2", Delivery::kDelivered), 2 * kSec);
  log_.Add(Out("m3", "failure reported before the send was recorded"), 0);
  log_.Add(test::StatusOf("c1", "m3", Delivery::kFailed), kSec);
  json v = View();
  EXPECT_TRUE(Msg(v, "m1").is_null());
  EXPECT_FALSE(RawContains("invoice 2207"));
  EXPECT_EQ(Msg(v, "m2")["status"], "delivered");
  EXPECT_TRUE(Msg(v, "m3").is_null());
  EXPECT_EQ(Ids(v), (std::vector<std::string>{"m2"}));
}

TEST_F(CustomerViewTest, StatusesBeforeTheSendAreKept) {
  log_.Add(test::StatusOf("c1", "m1", Delivery::kRead), 5 * kSec);
  log_.Add(test::StatusOf("c1", "m1", Delivery::kDelivered), 2 * kSec);
  log_.Add(Out("m1", "late send record"), 0);
  EXPECT_EQ(Msg(View(), "m1")["status"], "read");
}

TEST_F(CustomerViewTest, StatusesInAnyOrderGiveTheSameView) {
  std::vector<Event> statuses = {
      test::StatusOf("c1", "m1", Delivery::kSent), test::StatusOf("c1", "m1", Delivery::kDelivered),
      test::StatusOf("c1", "m1", Delivery::kRead), test::StatusOf("c1", "m1", Delivery::kFailed)};
  std::vector<int> order = {0, 1, 2, 3};
  std::optional<json> first;
  do {
    log_ = Log();
    log_.Add(Out("m1", "x"), 0);
    for (int i : order) log_.Add(statuses[i], (i + 1) * kSec);
    json m = Msg(View(), "m1");
    EXPECT_EQ(m["status"], "read");
    if (!first) first = m;
    EXPECT_EQ(m, *first);
  } while (std::next_permutation(order.begin(), order.end()));
}

// ---- reactions ----

TEST_F(CustomerViewTest, CurrentReactionPerSide) {
  const std::string thumbs = "\xF0\x9F\x91\x8D", heart = "\xE2\x9D\xA4\xEF\xB8\x8F";
  log_.Add(Out("m1", "a"), 0);
  log_.Add(test::ReactionTo("c1", "m1", thumbs, ActorKind::kCustomer), 1 * kSec);
  log_.Add(test::ReactionTo("c1", "m1", heart, ActorKind::kCustomer), 2 * kSec);  // replaces
  log_.Add(In("m2", "b"), 0);
  log_.Add(test::ReactionTo("c1", "m2", thumbs, ActorKind::kAgent), 1 * kSec);
  Event other_agent = test::ReactionTo("c1", "m2", heart, ActorKind::kBot);
  log_.Add(other_agent, 2 * kSec);  // the business has one slot, as on the platform
  Event removed = test::ReactionTo("c1", "m1", "", ActorKind::kAgent);
  removed.action = ReactionAction::kRemove;
  log_.Add(test::ReactionTo("c1", "m1", thumbs, ActorKind::kAgent), 3 * kSec);
  log_.Add(removed, 4 * kSec);
  json v = View();
  EXPECT_EQ(Msg(v, "m1")["reactions"], (json::array({json{{"by", "customer"}, {"emoji", heart}}})));
  EXPECT_EQ(Msg(v, "m2")["reactions"], (json::array({json{{"by", "business"}, {"emoji", heart}}})));
}

TEST_F(CustomerViewTest, ReactionsUseThePlatformTime) {
  const std::string thumbs = "\xF0\x9F\x91\x8D";
  Event removed = test::ReactionTo("c1", "m1", "", ActorKind::kCustomer);
  removed.action = ReactionAction::kRemove;
  log_.Add(removed, 30 * kSec);                                                     // removal...
  log_.Add(test::ReactionTo("c1", "m1", thumbs, ActorKind::kCustomer), 20 * kSec);  // ...of this
  log_.Add(Out("m1", "a"), 0);
  log_.Add(Out("m2", "b"), 0);
  log_.Add(test::ReactionTo("c1", "m2", thumbs, ActorKind::kCustomer), 40 * kSec);
  Event older_removal = removed;
  older_removal.message_id = "m2";
  log_.Add(older_removal, 10 * kSec);
  json v = View();
  EXPECT_EQ(Msg(v, "m1")["reactions"], json::array());
  EXPECT_EQ(Msg(v, "m2")["reactions"].size(), 1u);
}

// ---- determinism and isolation ----

TEST_F(CustomerViewTest, SameLogSameBytesAndEachConversationIsItsOwnSlice) {
  log_.Add(Out("m1", "one", "a"), 0);
  log_.Add(In("m1", "same id, other conversation", "ab"), kSec);
  log_.Add(test::Edited("a", "m1", "one edited"), 2 * kSec);
  log_.Add(test::StatusOf("ab", "m1", Delivery::kRead), 3 * kSec);
  log_.Add(test::Deleted("ab", "m1", DeleteScope::kEveryone, ActorKind::kCustomer), 4 * kSec);
  log_.Add(test::StatusOf("a", "m1", Delivery::kDelivered), 5 * kSec);
  MemoryState full, again, only_a, only_ab;
  ASSERT_OK(FoldAll(log_.events(), &full));
  ASSERT_OK(FoldAll(log_.events(), &again));
  ASSERT_OK(FoldAll(log_.events(), &only_a, "a"));
  ASSERT_OK(FoldAll(log_.events(), &only_ab, "ab"));
  EXPECT_EQ(full.data(), again.data());
  EXPECT_EQ(full.data().size(), only_a.data().size() + only_ab.data().size());
  for (const auto* part : {&only_a, &only_ab})
    for (const auto& [k, v] : part->data()) {
      auto it = full.data().find(k);
      ASSERT_NE(it, full.data().end());
      EXPECT_EQ(it->second, v);
    }
  ASSERT_OK_AND_ASSIGN(std::string a, RenderCustomerView(full, "a"));
  ASSERT_OK_AND_ASSIGN(std::string a_alone, RenderCustomerView(only_a, "a"));
  EXPECT_EQ(a, a_alone);
  EXPECT_EQ(json::parse(a)["messages"][0]["text"], "one edited");
  // Rendering is nlohmann's own sorted dump: parse and dump give the same bytes.
  EXPECT_EQ(json::parse(a).dump(), a);
}

// Random conversations on web chat (no windows: every deletion for everyone takes effect): the
// view never shows the text of a deleted, redacted or internal item, nor a reason.
TEST_F(CustomerViewTest, RandomConversationsNeverLeakHiddenText) {
  std::mt19937_64 rng(20261124);
  for (int round = 0; round < 200; ++round) {
    log_ = Log();
    std::set<std::string> hidden, visible_possible;
    std::vector<std::string> ids;
    const std::string conv = "c1";
    int64_t t = 0;
    const int n = 5 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      t += static_cast<int64_t>(rng() % 120) * kSec;
      std::string tag = "<";
      tag += std::to_string(round);
      tag += '.';
      tag += std::to_string(i);
      tag += '>';
      const int pick = static_cast<int>(rng() % 10);
      const int64_t jitter = static_cast<int64_t>(rng() % 60) * kSec;  // out of order
      if (pick < 3 || ids.empty()) {
        std::string id = "m";
        id += std::to_string(i);
        Event e = (rng() % 2) ? In(id, "text" + tag) : Out(id, "text" + tag);
        e.channel = Channel::kWebChat;
        ids.push_back(id);
        log_.Add(e, t - jitter);
        continue;
      }
      const std::string& id = ids[rng() % ids.size()];
      Event e;
      switch (pick) {
        case 3:
          e = test::Edited(conv, id, "edit" + tag);
          break;
        case 4:
          e = test::Deleted(conv, id,
                            (rng() % 2) ? DeleteScope::kEveryone : DeleteScope::kAgentOnly);
          break;
        case 5:
          e = test::Redacted(conv, id);
          break;
        case 6:
          e = test::StatusOf(conv, id, static_cast<Delivery>(1 + rng() % 4));
          break;
        case 7:
          e = test::Note(conv, "note" + tag);
          hidden.insert("note" + tag);
          break;
        case 8:
          e = test::ReactionTo(conv, id);
          break;
        default:
          e = test::Corrected(conv, id, ids[rng() % ids.size()]);
          break;
      }
      if (e.type == EventType::kMessageCorrected && e.replacement_message_id == e.message_id)
        continue;
      e.reason = "reason" + tag;
      if (e.type == EventType::kMessageCorrected) e.reason.clear();
      if (e.type == EventType::kMessageDeleted || e.type == EventType::kMessageRedacted)
        hidden.insert("reason" + tag);
      e.channel = Channel::kWebChat;
      log_.Add(e, t);
    }
    // Everything written for a message that ends up deleted for everyone or redacted is hidden.
    std::set<std::string> gone;
    for (const Event& e : log_.events())
      if (e.type == EventType::kMessageRedacted ||
          (e.type == EventType::kMessageDeleted && e.scope == DeleteScope::kEveryone))
        gone.insert(e.message_id);
    for (const Event& e : log_.events())
      if (gone.count(e.message_id) && e.content && !e.content->text.empty())
        hidden.insert(e.content->text);
    json v = View(conv);
    for (const std::string& h : hidden)
      ASSERT_FALSE(RawContains(h)) << "round " << round << ": " << h << " in " << raw_;
    for (const char* never : {"wrong_price", "agent-17", "cust-4915", "internal"})
      ASSERT_FALSE(RawContains(never)) << never;
    for (const json& m : v["messages"])
      if (gone.count(m["message_id"])) {
        EXPECT_TRUE(m["deleted"] == true || m["redacted"] == true);
        EXPECT_FALSE(m.contains("text"));
      }
  }
}

// ---- the webhook corpus (tests/projections/corpus/README.md) ----

std::vector<Event> LoadCorpus() {
  const auto path = std::filesystem::path(__FILE__).parent_path() / "corpus" / "replay.jsonl";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<Event> events;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    auto e = ParseEventJson(line);
    EXPECT_TRUE(e.ok()) << "line " << n << ": " << e.status().ToString();
    if (e.ok()) events.push_back(std::move(e).value());
  }
  return events;
}

const std::string kMaya = "wa:210987654321098:12025550143";
const std::string kLuis = "wa:210987654321098:13125550187";
const std::string kPriya = "wa:210987654321098:14155550123";
const std::string kPage = "fb:104857600000001:7365012345678901";
const std::string kWa = "wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDc";
const std::string kA1 = kWa + "wMQA=", kA2 = kWa + "wMgA=", kA3 = kWa + "wMwA=",
                  kA8 = kWa + "wOAA=", kA20 = kWa + "yMAA=";
const std::string kB1 = "wamid.HBgLMTIwMjU1NTAxNDMVAgARGBI1RjJBOUMwRDFFM0I0QTZDNzcA";
const std::string kB2 = "wamid.HBgLMTIwMjU1NTAxNDMVAgARGBI1RjJBOUMwRDFFM0I0QTZDNzgA";
const std::string kB3 = "wamid.HBgLMTMxMjU1NTAxODcVAgARGBI1RjJBOUMwRDFFM0I0QTZDNzkA";
const std::string kB5 = "wamid.HBgLMTIwMjU1NTAxNDMVAgARGBI1RjJBOUMwRDFFM0I0QTZDODAA";
const std::string kMidPage =
    "m_UGFnZS1zZW50LW1lc3NhZ2UtbWlkLWZvci1kZWxpdmVyeS1hbmQtcmVhZC0wMDAwMDAwMDE";
const std::string kFbMid =
    "m_Q1c2VmRnZXR0aW5nLXJlYWxpc3RpYy1taWQtdmFsdWUtMDAwMDAwMDAwMDAwMDAwMDAwMDE";

// Checks the corpus README's end state for the customer view; `render` gives a conversation's
// rendered view.
void ExpectCorpusEndState(const std::function<std::string(const std::string&)>& render) {
  auto parse = [&](const std::string& conv) {
    const std::string raw = render(conv);
    json j = json::parse(raw, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << conv << ": " << raw;
    return std::make_pair(raw, j);
  };
  auto msg = [](const json& v, const std::string& id) {
    json found;
    int count = 0;
    for (const json& m : v["messages"])
      if (m["message_id"] == id) {
        found = m;
        ++count;
      }
    EXPECT_LE(count, 1) << id << " shown more than once";
    return found;
  };
  {
    auto [raw, v] = parse(kMaya);
    SCOPED_TRACE("Maya: " + raw);
    std::vector<std::string> ids;
    for (const json& m : v["messages"]) ids.push_back(m["message_id"]);
    // By the platform's timestamps, although the seed (B1, B2, B5) was recorded first.
    EXPECT_EQ(ids, (std::vector<std::string>{kA1, kB1, kA2, kA3, kB2, kA8, kB5, kA20}));
    EXPECT_EQ(msg(v, kA1)["text"], "Hi, my order #4471 arrived damaged. Can I get a refund?");
    json a2 = msg(v, kA2);
    EXPECT_EQ(a2["deleted"], true);
    EXPECT_EQ(a2["placeholder"], "This message was deleted");
    EXPECT_FALSE(a2.contains("media"));
    EXPECT_EQ(raw.find("Here is the box"), std::string::npos);
    EXPECT_EQ(raw.find("q3Kx8WcP0v1n3y8bT2H5sL9fJw6Zk4RaUe1oCm7dXgA="), std::string::npos);
    json a3 = msg(v, kA3);
    EXPECT_EQ(a3["text"],
              "The corner is crushed and the seal is broken \xE2\x80\x94 see the photo above.");
    EXPECT_EQ(a3["edited"], true);
    EXPECT_EQ(a3["reply_to"], kB1);
    EXPECT_EQ(raw.find("Danke"), std::string::npos);
    json b1 = msg(v, kB1);
    EXPECT_EQ(b1["reactions"], json::array()) << "set, then cleared";
    EXPECT_EQ(b1["status"], "read");
    EXPECT_EQ(b1["name"], "Acme Support");
    EXPECT_EQ(msg(v, kB2)["status"], "read") << "read without delivered";
    EXPECT_EQ(msg(v, kA8)["reply_to"], kB2);
    EXPECT_EQ(msg(v, kA20)["reply_to"], kB5);
    EXPECT_EQ(msg(v, kB5)["template"],
              (json{{"name", "pickup_confirm_v1"}, {"language", "en_US"}}));
    EXPECT_EQ(msg(v, kA1)["name"], "Maya Okafor");
    EXPECT_EQ(raw.find("agent-send-path"), std::string::npos);
    EXPECT_EQ(v["messages"].dump().find("12025550143"), std::string::npos)
        << "the customer's id is not shown";
  }
  {
    auto [raw, v] = parse(kLuis);
    SCOPED_TRACE("Luis: " + raw);
    EXPECT_EQ(msg(v, "wamid.HBgLMTMxMjU1NTAxODcVAgASGBQzRUIwQjdBOEM5RDBFMUYyMDMwOQA=")["text"],
              "Hello?");
    EXPECT_EQ(msg(v, "wamid.HBgLMTMxMjU1NTAxODcVAgASGBQzRUIwQjdBOEM5RDBFMUYyMDMxMAA=")["text"],
              "Is anyone there? I need help with invoice 2207.");
    EXPECT_TRUE(msg(v, kB3).is_null()) << "B3 failed and was never delivered";
    EXPECT_EQ(raw.find("Your invoice 2207 is ready."), std::string::npos);
    EXPECT_EQ(raw.find("Where is my refund?"), std::string::npos) << "A19 (wa-17) was rejected";
    EXPECT_EQ(v["messages"].size(), 2u);
  }
  {
    auto [raw, v] = parse(kPriya);
    SCOPED_TRACE("Priya: " + raw);
    ASSERT_EQ(v["messages"].size(), 3u);
    EXPECT_EQ(v["messages"][0]["text"], "Unsupported message (poll_creation)");
    EXPECT_EQ(v["messages"][1]["media"][0]["filename"], "invoice-2207.pdf");
    EXPECT_EQ(v["messages"][1]["media"][0]["caption"], "Invoice 2207");
    EXPECT_NE(v["messages"][2]["text"].get<std::string>().find("1 Example Plaza"),
              std::string::npos);
  }
  {
    auto [raw, v] = parse(kPage);
    SCOPED_TRACE("Messenger: " + raw);
    EXPECT_EQ(v["channel"], "messenger");
    json in = msg(v, kFbMid);
    EXPECT_EQ(in["text"], "Hi, I was charged twice for order 5521");
    EXPECT_EQ(in["edited"], true);
    EXPECT_EQ(raw.find("5512"), std::string::npos);
    json page = msg(v, kMidPage);
    EXPECT_EQ(page["status"], "read");
    EXPECT_EQ(page["reactions"],
              json::array({json{{"by", "customer"}, {"emoji", "\xE2\x9D\xA4\xEF\xB8\x8F"}}}));
  }
}

TEST(CustomerViewCorpusTest, FoldedCorpusShowsWhatTheReadmeExpects) {
  std::vector<Event> events = LoadCorpus();
  ASSERT_EQ(events.size(), 31u);
  // Assign what the ledger would. The duplicate (wa-13) is folded too: a repeat send changes
  // nothing, even without the ledger's idempotency check.
  uint64_t g = 0;
  std::map<std::string, uint64_t> seqs;
  for (Event& e : events) {
    e.global_seq = ++g;
    e.conversation_seq = ++seqs[e.conversation_id];
    e.recorded_at_us = kT0 + static_cast<int64_t>(g);
  }
  MemoryState state;
  ASSERT_OK(FoldAll(events, &state));
  ExpectCorpusEndState([&](const std::string& conv) {
    auto r = RenderCustomerView(state, conv);
    EXPECT_TRUE(r.ok()) << conv << ": " << r.status().ToString();
    return r.ok() ? *r : std::string();
  });
}

// ---- end to end: a real ledger ----

TEST(CustomerViewLedgerTest, AppendReadRenderAndRebuildEqual) {
  test::TempDir dir;
  test::FixedClock clock;
  Options o;
  o.clock = &clock;
  o.projections = {MakeCustomerView()};
  auto ledger = test::OpenOrDie(dir.path(), o);
  ASSERT_TRUE(ledger);
  ASSERT_TRUE(ledger->WaitForProjections(std::chrono::seconds(30)));

  // The corpus, one webhook event per append, as the ingestion path would.
  std::vector<Event> events = LoadCorpus();
  ASSERT_EQ(events.size(), 31u);
  int duplicates = 0;
  for (const Event& e : events) {
    ASSERT_OK_AND_ASSIGN(auto results, ledger->Append({e}));
    duplicates += results[0].duplicate ? 1 : 0;
  }
  EXPECT_EQ(duplicates, 1) << "wa-13 is a redelivery of wa-01";
  // Commands on top: an agent message deleted for everyone, a correction, a note.
  auto agent = [](Event e) {
    e.actor = Actor{ActorKind::kAgent, "agent-17", "Acme Support"};
    e.tenant = "corpus-shop";
    e.channel = Channel::kWhatsApp;
    return e;
  };
  const std::string kOther = "wa:210987654321098:447700900123";
  ASSERT_OK(ledger->Append({agent(test::Sent(kOther, "out-1", "Invoice total: 2 EUR")),
                            agent(test::Deleted(kOther, "out-1")),
                            agent(test::Sent(kOther, "out-2", "Invoice total: 20 EUR")),
                            agent(test::Corrected(kOther, "out-1", "out-2")),
                            agent(test::Note(kOther, "customer is upset; escalate"))}));

  ExpectCorpusEndState([&](const std::string& conv) {
    auto reader = ledger->NewStateReader(kCustomerView);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) return std::string();
    auto r = RenderCustomerView(**reader, conv, &ledger->Opener());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::string();
  });
  ASSERT_OK_AND_ASSIGN(auto reader, ledger->NewStateReader(kCustomerView));
  EXPECT_EQ(reader->Checkpoint(), ledger->LastGlobalSeq());
  ASSERT_OK_AND_ASSIGN(std::string other, RenderCustomerView(*reader, kOther, &ledger->Opener()));
  EXPECT_EQ(other.find("total: 2 EUR"), std::string::npos) << other;
  EXPECT_EQ(other.find("escalate"), std::string::npos) << other;
  json out2;
  const json other_view = json::parse(other);
  for (const json& m : other_view["messages"])
    if (m["message_id"] == "out-2") out2 = m;
  EXPECT_EQ(out2["text"], "Invoice total: 20 EUR") << other;
  EXPECT_EQ(out2["correction"]["explanation"], "The price is 20 EUR, not 2 EUR.");

  // The stored state equals a fold of the log from nothing, byte for byte...
  ASSERT_OK_AND_ASSIGN(RebuildReport rep, ledger->RebuildProjection(kCustomerView, false));
  EXPECT_TRUE(rep.equal) << rep.first_difference;
  EXPECT_EQ(rep.checkpoint, ledger->LastGlobalSeq());
  // ...and a MemoryState fold of the events read back renders the same bytes.
  ASSERT_OK_AND_ASSIGN(std::vector<Event> stored, ledger->ReadGlobal(0));
  MemoryState state;
  ASSERT_OK(FoldAll(stored, &state));
  for (const std::string& conv : {kMaya, kLuis, kPriya, kPage, kOther}) {
    ASSERT_OK_AND_ASSIGN(std::string from_memory, RenderCustomerView(state, conv, &ledger->Opener()));
    ASSERT_OK_AND_ASSIGN(std::string from_ledger,
                         RenderCustomerView(*reader, conv, &ledger->Opener()));
    EXPECT_EQ(from_memory, from_ledger) << conv;
  }
}

}  // namespace
}  // namespace convledger::projections
