// `convledger demo` (tools/demo.cc): the scenario it promises, through the public JSON form, and
// that a second run appends nothing.

#include "tools/demo.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>

#include "ledger/event_json.h"
#include "test_util.h"

namespace convledger::cli::test {
namespace {

std::vector<Event> ReadConversation(Ledger& ledger, const std::string& id) {
  Result<std::vector<Event>> events = ledger.ReadConversation(id);
  if (!events.ok()) {
    ADD_FAILURE() << id << ": " << events.status().ToString();
    return {};
  }
  return std::move(events).value();
}

// Index of the first event matching `pred`, or -1.
template <typename Pred>
int Find(const std::vector<Event>& events, Pred pred) {
  auto it = std::find_if(events.begin(), events.end(), pred);
  return it == events.end() ? -1 : static_cast<int>(it - events.begin());
}

size_t TotalDemoEvents() {
  size_t n = 0;
  for (const DemoConversation& c : DemoConversations()) n += c.events_json.size();
  return n;
}

TEST(DemoDataTest, EveryEventParsesWithAFixedKeyAndTime) {
  std::set<std::string> keys;
  std::set<EventType> types;
  for (const DemoConversation& c : DemoConversations()) {
    ASSERT_FALSE(c.events_json.empty()) << c.conversation_id;
    for (const std::string& text : c.events_json) {
      Result<Event> e = ParseEventJson(text);
      ASSERT_TRUE(e.ok()) << text << " -> " << e.status().ToString();
      EXPECT_EQ(e->conversation_id, c.conversation_id);
      EXPECT_FALSE(e->idempotency_key.empty()) << text;
      EXPECT_TRUE(keys.insert(e->idempotency_key).second) << "duplicate key in " << text;
      EXPECT_TRUE(e->occurred_at_us.has_value()) << text;
      types.insert(e->type);
    }
  }
  // The demo shows every kind of event the ledger knows.
  for (EventType t :
       {EventType::kMessageSent, EventType::kMessageEdited, EventType::kMessageDeleted,
        EventType::kMessageCorrected, EventType::kMessageRedacted, EventType::kMessageStatus,
        EventType::kMessageReaction, EventType::kConsentChanged, EventType::kLegalHoldChanged,
        EventType::kNoteAdded}) {
    EXPECT_TRUE(types.count(t)) << "no " << ToString(t) << " in the demo";
  }
}

class DemoTest : public ::testing::Test {
 protected:
  int RunDemoOnce(std::string* printed = nullptr) {
    DemoCommand cmd;
    cmd.data_dir = data_;
    cmd.program = "./build/convledger";
    std::ostringstream out;
    const int rc = RunDemo(cmd, out);
    if (printed) *printed = out.str();
    return rc;
  }

  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
};

TEST_F(DemoTest, SecondRunAppendsNothing) {
  std::string first, second;
  ASSERT_EQ(RunDemoOnce(&first), kExitOk);
  const size_t total = TotalDemoEvents();
  {
    auto ledger = OpenForCheck(data_);
    ASSERT_TRUE(ledger);
    EXPECT_EQ(ledger->LastGlobalSeq(), total);
  }
  EXPECT_NE(first.find(std::to_string(total) + " appended now"), std::string::npos) << first;

  ASSERT_EQ(RunDemoOnce(&second), kExitOk);
  auto ledger = OpenForCheck(data_);
  ASSERT_TRUE(ledger);
  EXPECT_EQ(ledger->LastGlobalSeq(), total);
  EXPECT_NE(second.find("0 appended now, " + std::to_string(total) + " already there"),
            std::string::npos)
      << second;
}

TEST_F(DemoTest, PrintsWhereToLook) {
  std::string printed;
  ASSERT_EQ(RunDemoOnce(&printed), kExitOk);
  EXPECT_NE(printed.find(data_), std::string::npos) << printed;
  for (const DemoConversation& c : DemoConversations()) {
    EXPECT_NE(printed.find("./build/convledger events --data " + data_ + " --conversation " +
                           c.conversation_id),
              std::string::npos)
        << printed;
  }
  EXPECT_NE(printed.find("./build/convledger verify --data " + data_), std::string::npos);
}

TEST_F(DemoTest, PromotionIsReadThenDeletedForEveryoneWithoutExplanation) {
  ASSERT_EQ(RunDemoOnce(), kExitOk);
  auto ledger = OpenForCheck(data_);
  ASSERT_TRUE(ledger);
  const std::vector<Event> ben = ReadConversation(*ledger, "demo-wa-ben");
  const int sent = Find(ben, [](const Event& e) {
    return e.type == EventType::kMessageSent && e.direction == Direction::kOutbound;
  });
  ASSERT_GE(sent, 0);
  const std::string promo = ben[sent].message_id;
  auto status_index = [&](Delivery d) {
    return Find(ben, [&](const Event& e) {
      return e.type == EventType::kMessageStatus && e.message_id == promo && e.status == d &&
             e.actor.kind == ActorKind::kPlatform;
    });
  };
  const int delivered = status_index(Delivery::kDelivered);
  const int read = status_index(Delivery::kRead);
  const int deleted = Find(ben, [&](const Event& e) {
    return e.type == EventType::kMessageDeleted && e.message_id == promo;
  });
  ASSERT_GE(status_index(Delivery::kSent), 0);
  ASSERT_GE(delivered, 0);
  ASSERT_GE(read, 0);
  ASSERT_GE(deleted, 0);
  EXPECT_LT(sent, delivered);
  EXPECT_LT(delivered, read);
  EXPECT_LT(read, deleted);
  EXPECT_EQ(ben[deleted].scope, DeleteScope::kEveryone);
  EXPECT_EQ(ben[deleted].actor.kind, ActorKind::kAgent);
  EXPECT_TRUE(ben[deleted].reason.empty());
  EXPECT_TRUE(ben[deleted].reason_code.empty());
  // No correction follows it.
  EXPECT_LT(Find(ben, [](const Event& e) { return e.type == EventType::kMessageCorrected; }), 0);

  const int opt_in = Find(ben, [](const Event& e) {
    return e.type == EventType::kConsentChanged && e.consent == ConsentState::kOptIn;
  });
  const int opt_out = Find(ben, [](const Event& e) {
    return e.type == EventType::kConsentChanged && e.consent == ConsentState::kOptOut;
  });
  ASSERT_GE(opt_in, 0);
  ASSERT_GT(opt_out, opt_in);
  EXPECT_EQ(ben[opt_out].consent_scope, "marketing");
}

TEST_F(DemoTest, WrongStockIsDeletedAndCorrectedWithAnExplanation) {
  ASSERT_EQ(RunDemoOnce(), kExitOk);
  auto ledger = OpenForCheck(data_);
  ASSERT_TRUE(ledger);
  const std::vector<Event> anna = ReadConversation(*ledger, "demo-wa-anna");
  const int corrected =
      Find(anna, [](const Event& e) { return e.type == EventType::kMessageCorrected; });
  ASSERT_GE(corrected, 0);
  const Event& c = anna[corrected];
  EXPECT_EQ(c.reason_code, "wrong_availability");
  EXPECT_FALSE(c.explanation.empty());
  const int wrong = Find(anna, [&](const Event& e) {
    return e.type == EventType::kMessageSent && e.message_id == c.message_id;
  });
  const int deleted = Find(anna, [&](const Event& e) {
    return e.type == EventType::kMessageDeleted && e.message_id == c.message_id;
  });
  const int replacement = Find(anna, [&](const Event& e) {
    return e.type == EventType::kMessageSent && e.message_id == c.replacement_message_id;
  });
  ASSERT_GE(wrong, 0);
  ASSERT_GT(deleted, wrong);
  ASSERT_GT(replacement, deleted);
  EXPECT_GT(corrected, replacement);
  EXPECT_FALSE(anna[deleted].reason.empty());

  const int edited = Find(anna, [](const Event& e) { return e.type == EventType::kMessageEdited; });
  ASSERT_GE(edited, 0);
  EXPECT_FALSE(anna[edited].reason.empty());
  EXPECT_GE(Find(anna, [](const Event& e) { return e.type == EventType::kMessageReaction; }), 0);
  EXPECT_GE(Find(anna, [](const Event& e) { return e.type == EventType::kNoteAdded; }), 0);

  // The card number, sent by the customer, redacted by an agent.
  const int redacted =
      Find(anna, [](const Event& e) { return e.type == EventType::kMessageRedacted; });
  ASSERT_GE(redacted, 0);
  EXPECT_EQ(anna[redacted].actor.kind, ActorKind::kAgent);
  const int card = Find(anna, [&](const Event& e) {
    return e.type == EventType::kMessageSent && e.message_id == anna[redacted].message_id;
  });
  ASSERT_GE(card, 0);
  EXPECT_EQ(anna[card].actor.kind, ActorKind::kCustomer);
  EXPECT_LT(card, redacted);
}

TEST_F(DemoTest, RefundNoticeIsSentByABotFromAUtilityTemplate) {
  ASSERT_EQ(RunDemoOnce(), kExitOk);
  auto ledger = OpenForCheck(data_);
  ASSERT_TRUE(ledger);
  const std::vector<Event> carla = ReadConversation(*ledger, "demo-wa-carla");
  const int notice = Find(carla, [](const Event& e) { return e.template_.has_value(); });
  ASSERT_GE(notice, 0);
  const Event& e = carla[notice];
  EXPECT_EQ(e.actor.kind, ActorKind::kBot);
  EXPECT_EQ(e.template_->category, "utility");
  EXPECT_FALSE(e.template_->name.empty());
  EXPECT_FALSE(e.template_->language.empty());
  EXPECT_FALSE(e.template_->parameters.empty());
}

TEST_F(DemoTest, DemoLedgerVerifies) {
  ASSERT_EQ(RunDemoOnce(), kExitOk);
  ASSERT_EQ(RunDemoOnce(), kExitOk);
  VerifyCommand cmd;
  cmd.data_dir = data_;
  cmd.progress = Progress::kNone;
  std::ostringstream out;
  EXPECT_EQ(RunVerify(cmd, out), kExitOk) << out.str();
}

}  // namespace
}  // namespace convledger::cli::test
