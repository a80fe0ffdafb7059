// Specification of the ledger's append and read paths (ledger/src/ledger_impl.cc): sequences,
// hash chains, optimistic concurrency, idempotency, atomic batches, command invariants,
// observations out of order, reads, tailing, reopening and concurrent writers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ledger/event.h"
#include "ledger/ledger.h"
#include "ledger/status.h"
#include "test_util.h"

namespace convledger {
namespace {

using test::ConsentEv;
using test::Corrected;
using test::Deleted;
using test::Edited;
using test::HoldEv;
using test::Note;
using test::ReactionTo;
using test::Redacted;
using test::Sent;
using test::StatusOf;
using test::WithExpected;
using test::WithKey;

constexpr Digest kZeroDigest{};

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.clock = &clock_;
    Open();
  }

  void Open() {
    ledger_.reset();
    ledger_ = test::OpenOrDie(dir_.path(), options_);
    ASSERT_NE(ledger_, nullptr);
  }
  void Close() { ledger_.reset(); }

  Result<std::vector<AppendResult>> Append(std::vector<Event> events) {
    return ledger_->Append(std::move(events));
  }
  Result<AppendResult> AppendOne(Event e) {
    auto r = ledger_->Append({std::move(e)});
    if (!r.ok()) return r.status();
    if (r->size() != 1)
      return Status::Corruption("test", "Append of one event gave " + std::to_string(r->size()));
    return r->front();
  }

  std::vector<Event> ReadAll() {
    auto r = ledger_->ReadGlobal(0);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : std::vector<Event>{};
  }

  void ExpectNothingAppended() {
    EXPECT_EQ(ledger_->LastGlobalSeq(), 0u);
    EXPECT_TRUE(ReadAll().empty());
  }

  void ExpectVerifies() {
    VerifyReport report;
    ASSERT_OK(ledger_->Verify(&report));
    EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
    EXPECT_EQ(report.events_checked, ledger_->LastGlobalSeq());
    EXPECT_EQ(report.last_global_seq, ledger_->LastGlobalSeq());
  }

  test::TempDir dir_;
  test::FixedClock clock_;
  Options options_;
  std::unique_ptr<Ledger> ledger_;
};

bool MessageNamesIndex(const Status& s, size_t index) {
  const std::string& m = s.message();
  const std::string i = std::to_string(index);
  return m.find("[" + i + "]") != std::string::npos || m.find("index " + i) != std::string::npos ||
         m.find("event " + i) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------

class AppendTest : public LedgerTest {};

TEST_F(AppendTest, EmptyLedgerHasNoEvents) {
  EXPECT_EQ(ledger_->LastGlobalSeq(), 0u);
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_STATUS(ledger_->GetHead("nobody"), kNotFound, "conversation_not_found");
}

TEST_F(AppendTest, AssignsDenseGlobalAndConversationSequences) {
  const std::vector<std::string> order = {"a", "b", "a", "c", "a", "b", "c", "c", "a", "b"};
  std::map<std::string, uint64_t> expected_conv_seq;
  uint64_t expected_global = 0;
  for (const std::string& conv : order) {
    ASSERT_OK_AND_ASSIGN(AppendResult r, AppendOne(Note(conv)));
    EXPECT_EQ(r.global_seq, ++expected_global);
    EXPECT_EQ(r.conversation_seq, ++expected_conv_seq[conv]) << conv;
    EXPECT_FALSE(r.duplicate);
  }
  EXPECT_EQ(ledger_->LastGlobalSeq(), order.size());
  const std::vector<Event> all = ReadAll();
  ASSERT_EQ(all.size(), order.size());
  std::map<std::string, uint64_t> seen;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].global_seq, i + 1);
    EXPECT_EQ(all[i].conversation_id, order[i]);
    EXPECT_EQ(all[i].conversation_seq, ++seen[order[i]]);
  }
}

TEST_F(AppendTest, BatchAssignsSequencesInOrder) {
  ASSERT_OK_AND_ASSIGN(auto results,
                       Append({Note("a"), Note("b"), Note("a"), Note("a"), Note("b")}));
  ASSERT_EQ(results.size(), 5u);
  const uint64_t conv_seqs[] = {1, 1, 2, 3, 2};
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].global_seq, i + 1);
    EXPECT_EQ(results[i].conversation_seq, conv_seqs[i]) << i;
  }
}

TEST_F(AppendTest, ChainsPrevHashWithinEachConversation) {
  std::vector<AppendResult> a, b;
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(AppendResult ra, AppendOne(Note("a", "a" + std::to_string(i))));
    a.push_back(ra);
    ASSERT_OK_AND_ASSIGN(AppendResult rb, AppendOne(Note("b", "b" + std::to_string(i))));
    b.push_back(rb);
  }
  for (const auto* chain : {&a, &b}) {
    EXPECT_EQ((*chain)[0].prev_hash, kZeroDigest);
    for (size_t i = 1; i < chain->size(); ++i) {
      EXPECT_EQ((*chain)[i].prev_hash, (*chain)[i - 1].hash) << i;
    }
  }
  // The chains are per conversation: b's events never chain to a's.
  for (size_t i = 0; i < b.size(); ++i) EXPECT_NE(b[i].prev_hash, a[i].hash);
  // What is read agrees with what Append returned.
  ASSERT_OK_AND_ASSIGN(auto read_a, ledger_->ReadConversation("a"));
  ASSERT_EQ(read_a.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(read_a[i].hash, a[i].hash);
    EXPECT_EQ(read_a[i].prev_hash, a[i].prev_hash);
    EXPECT_EQ(read_a[i].global_seq, a[i].global_seq);
    EXPECT_EQ(read_a[i].conversation_seq, a[i].conversation_seq);
    EXPECT_EQ(read_a[i].event_id, a[i].event_id);
    EXPECT_EQ(read_a[i].recorded_at_us, a[i].recorded_at_us);
  }
}

TEST_F(AppendTest, HashesAndEventIdsAreDistinctAndNonZero) {
  std::set<Digest> hashes;
  std::set<EventId> ids;
  for (int i = 0; i < 10; ++i) {
    // Identical content in one conversation still hashes differently (the chain differs).
    ASSERT_OK_AND_ASSIGN(AppendResult r, AppendOne(Note(i % 2 ? "a" : "b", "same")));
    EXPECT_NE(r.hash, kZeroDigest);
    EXPECT_NE(r.event_id, EventId{});
    hashes.insert(r.hash);
    ids.insert(r.event_id);
  }
  EXPECT_EQ(hashes.size(), 10u);
  EXPECT_EQ(ids.size(), 10u);
}

TEST_F(AppendTest, RecordsTheLedgerClock) {
  const int64_t before = clock_.Peek();
  ASSERT_OK_AND_ASSIGN(AppendResult r, AppendOne(Note("a")));
  EXPECT_GE(r.recorded_at_us, before);
  EXPECT_LT(r.recorded_at_us, clock_.Peek());
  ASSERT_OK_AND_ASSIGN(auto events, ledger_->ReadConversation("a"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].recorded_at_us, r.recorded_at_us);
}

TEST_F(AppendTest, OccurredAtDefaultsToRecordedAtAndIsKeptWhenGiven) {
  Event given = Note("a");
  given.occurred_at_us = 1700000000LL * 1000000 + 42;
  ASSERT_OK(Append({Note("a"), given}));
  ASSERT_OK_AND_ASSIGN(auto events, ledger_->ReadConversation("a"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].occurred_at_us, std::optional<int64_t>(events[0].recorded_at_us));
  EXPECT_EQ(events[1].occurred_at_us, given.occurred_at_us);
}

TEST_F(AppendTest, EmptyTenantBecomesDefault) {
  Event e = Note("a");
  e.tenant.clear();
  ASSERT_OK(AppendOne(e));
  ASSERT_OK_AND_ASSIGN(auto events, ledger_->ReadConversation("a"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].tenant, "default");
}

TEST_F(AppendTest, StoresEveryFieldOfEveryType) {
  Event sent = Sent("c", "m1", "Delivery in 2 days");
  sent.content->media.push_back(
      Media{"image/jpeg", 12345, "ab12", "the offer", "media-9", "offer.jpg"});
  sent.reply_to = "m0";
  sent.template_ = Template{"refund_notice", "en_US", "utility", {"Ana", "20 EUR"}};
  sent.kind = "image";
  sent.evidence.fill(0xab);
  Event failed = StatusOf("c", "m1", Delivery::kFailed);
  Event removed = ReactionTo("c", "m1", "", ActorKind::kCustomer);
  removed.action = ReactionAction::kRemove;
  std::vector<Event> inputs = {
      sent,
      Edited("c", "m1", "Delivery in 3 days"),
      StatusOf("c", "m1", Delivery::kRead),
      failed,
      ReactionTo("c", "m1"),
      removed,
      Sent("c", "m2", "corrected offer"),
      Corrected("c", "m1", "m2"),
      Deleted("c", "m1", DeleteScope::kAgentOnly),
      Deleted("c", "m1", DeleteScope::kEveryone),
      Redacted("c", "m2"),
      ConsentEv("c", ConsentState::kOptIn),
      ConsentEv("c", ConsentState::kOptOut),
      HoldEv("c", HoldAction::kPlaced),
      HoldEv("c", HoldAction::kReleased),
      Note("c", "customer is angry"),
  };
  int64_t occurred = 1795514580LL * 1000000;
  for (Event& e : inputs) {
    e.occurred_at_us = occurred++;
    e.idempotency_key = "key-" + std::to_string(occurred);
    e.channel = Channel::kMessenger;
  }
  ASSERT_OK_AND_ASSIGN(auto results, Append(inputs));
  ASSERT_OK_AND_ASSIGN(auto events, ledger_->ReadConversation("c"));
  ASSERT_EQ(events.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    Event expected = inputs[i];
    expected.global_seq = results[i].global_seq;
    expected.conversation_seq = results[i].conversation_seq;
    expected.recorded_at_us = results[i].recorded_at_us;
    expected.event_id = results[i].event_id;
    expected.prev_hash = results[i].prev_hash;
    expected.hash = results[i].hash;
    // Content is stored sealed and opened on read: the envelope is the ledger's.
    // m2 is redacted later in the same call: its data key is gone.
    if (expected.content || (expected.template_ && !expected.template_->parameters.empty())) {
      const ContentAccess access =
          expected.message_id == "m2" ? ContentAccess::kRedacted : ContentAccess::kOpened;
      EXPECT_EQ(events[i].content_access, access) << i;
      EXPECT_TRUE(events[i].sealed) << i;
      expected.sealed = events[i].sealed;
      expected.content_sealing = Sealing::kAes256Gcm;
      expected.content_access = access;
      if (access == ContentAccess::kRedacted) expected.content.reset();
    }
    EXPECT_EQ(events[i], expected) << i << ": " << ToString(inputs[i].type);
  }
}

TEST_F(AppendTest, BatchWhoseThirdEventBreaksAnInvariantAppendsNothing) {
  auto r = Append({Sent("a", "m1"), Sent("a", "m2"), Edited("a", "m9")});
  ASSERT_STATUS(r, kInvariantViolation, "message_not_found");
  EXPECT_TRUE(MessageNamesIndex(r.status(), 2)) << r.status().ToString();
  ExpectNothingAppended();
  EXPECT_STATUS(ledger_->GetHead("a"), kNotFound, "conversation_not_found");
  // No sequence was burnt, and m1/m2 were not remembered as sent.
  ASSERT_OK_AND_ASSIGN(auto ok, Append({Sent("a", "m1"), Sent("a", "m2")}));
  EXPECT_EQ(ok[0].global_seq, 1u);
  EXPECT_EQ(ok[0].conversation_seq, 1u);
  EXPECT_EQ(ok[1].global_seq, 2u);
}

TEST_F(AppendTest, BatchWhoseThirdEventIsMalformedAppendsNothing) {
  Event bad = Note("");
  auto r = Append({Note("a"), Note("b"), bad});
  ASSERT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_TRUE(MessageNamesIndex(r.status(), 2)) << r.status().ToString();
  ExpectNothingAppended();
}

TEST_F(AppendTest, BatchWhoseThirdEventHasAStaleVersionAppendsNothing) {
  ASSERT_OK(AppendOne(Note("a")));
  auto r = Append({Note("b"), Note("c"), WithExpected(Note("a"), 0)});
  ASSERT_TRUE(r.status().IsWrongExpectedVersion()) << r.status().ToString();
  EXPECT_TRUE(MessageNamesIndex(r.status(), 2)) << r.status().ToString();
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
  EXPECT_EQ(ReadAll().size(), 1u);
  EXPECT_STATUS(ledger_->GetHead("b"), kNotFound, "conversation_not_found");
}

TEST_F(AppendTest, RejectsEventsWithoutTheirRequiredShape) {
  std::vector<Event> bad;
  bad.push_back(Note(""));                     // no conversation
  bad.push_back(Note(std::string(257, 'c')));  // conversation id too long
  bad.push_back(Edited("a", ""));              // message type without message id
  Event no_actor = Note("a");
  no_actor.actor.kind = ActorKind::kUnknown;
  bad.push_back(no_actor);
  for (const Event& e : bad) {
    auto r = AppendOne(e);
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  }
  ExpectNothingAppended();
}

TEST_F(AppendTest, ABatchOfThousandsIsAppendedWhole) {
  std::vector<Event> batch;
  for (int i = 0; i < 5000; ++i) batch.push_back(Note(i % 2 ? "a" : "b", std::to_string(i)));
  ASSERT_OK_AND_ASSIGN(auto r, Append(std::move(batch)));
  ASSERT_EQ(r.size(), 5000u);
  for (size_t i = 0; i < r.size(); ++i) ASSERT_EQ(r[i].global_seq, i + 1);
  EXPECT_EQ(r.back().conversation_seq, 2500u);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 5000u);
}

TEST_F(AppendTest, EmptyAppendIsRejected) {
  EXPECT_TRUE(Append({}).status().IsInvalidArgument());
  ExpectNothingAppended();
}

TEST_F(AppendTest, OpenWithoutCreateIfMissingNeedsAnExistingLedger) {
  Options no_create;
  no_create.create_if_missing = false;
  auto r = Ledger::Open(dir_.Sub("nothing-here"), no_create);
  EXPECT_FALSE(r.ok());
  ASSERT_OK(AppendOne(Note("a")));
  Close();
  ASSERT_OK_AND_ASSIGN(auto reopened, Ledger::Open(dir_.path(), no_create));
  EXPECT_EQ(reopened->LastGlobalSeq(), 1u);
}

TEST_F(AppendTest, RejectsMoreEventsThanMaxEventsPerAppend) {
  options_.max_events_per_append = 3;
  Open();
  auto r = Append({Note("a"), Note("a"), Note("a"), Note("a")});
  EXPECT_FALSE(r.ok());
  ExpectNothingAppended();
  EXPECT_OK(Append({Note("a"), Note("a"), Note("a")}));
}

TEST_F(AppendTest, PerCallDurabilityOverrideAppends) {
  AppendOptions fsync;
  fsync.durability = Durability::kFsync;
  ASSERT_OK_AND_ASSIGN(auto r, ledger_->Append({Note("a")}, fsync));
  EXPECT_EQ(r[0].global_seq, 1u);
}

TEST_F(AppendTest, ReadOnlyLedgerRejectsAppends) {
  ASSERT_OK(AppendOne(Note("a")));
  Close();
  Options ro = options_;
  ro.read_only = true;
  ledger_ = test::OpenOrDie(dir_.path(), ro);
  ASSERT_NE(ledger_, nullptr);
  EXPECT_STATUS(AppendOne(Note("a")), kIOError, "io_error");
  ASSERT_OK_AND_ASSIGN(auto events, ledger_->ReadConversation("a"));
  EXPECT_EQ(events.size(), 1u);
}

// ---------------------------------------------------------------------------------------------

class ExpectedVersionTest : public LedgerTest {
 protected:
  void AppendNotes(const std::string& conv, int n) {
    for (int i = 0; i < n; ++i) ASSERT_OK(AppendOne(Note(conv)));
  }
};

TEST_F(ExpectedVersionTest, ZeroStartsANewConversation) {
  ASSERT_OK_AND_ASSIGN(AppendResult r, AppendOne(WithExpected(Note("a"), 0)));
  EXPECT_EQ(r.conversation_seq, 1u);
}

TEST_F(ExpectedVersionTest, ZeroIsRejectedForAnExistingConversation) {
  AppendNotes("a", 1);
  auto r = AppendOne(WithExpected(Note("a"), 0));
  EXPECT_STATUS(r, kWrongExpectedVersion, "wrong_expected_version");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_F(ExpectedVersionTest, AcceptsTheCurrentHead) {
  AppendNotes("a", 7);
  ASSERT_OK_AND_ASSIGN(AppendResult r, AppendOne(WithExpected(Note("a"), 7)));
  EXPECT_EQ(r.conversation_seq, 8u);
}

TEST_F(ExpectedVersionTest, RejectsStaleExpectedVersion) {
  AppendNotes("a", 7);
  auto r = AppendOne(WithExpected(Note("a"), 5));
  ASSERT_STATUS(r, kWrongExpectedVersion, "wrong_expected_version");
  EXPECT_NE(r.status().message().find('7'), std::string::npos)
      << "the message should name the current head: " << r.status().ToString();
  EXPECT_EQ(ledger_->LastGlobalSeq(), 7u);
}

TEST_F(ExpectedVersionTest, RejectsExpectedVersionAheadOfTheHead) {
  AppendNotes("a", 3);
  EXPECT_STATUS(AppendOne(WithExpected(Note("a"), 4)), kWrongExpectedVersion, "");
  EXPECT_STATUS(AppendOne(WithExpected(Note("new"), 1)), kWrongExpectedVersion, "");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 3u);
}

TEST_F(ExpectedVersionTest, IsCheckedPerConversation) {
  AppendNotes("a", 3);
  EXPECT_OK(AppendOne(WithExpected(Note("b"), 0)));
  EXPECT_OK(AppendOne(WithExpected(Note("a"), 3)));
}

TEST_F(ExpectedVersionTest, CountsEarlierEventsOfTheSameBatch) {
  ASSERT_OK_AND_ASSIGN(auto r, Append({WithExpected(Note("a"), 0), WithExpected(Note("a"), 1),
                                       WithExpected(Note("b"), 0), WithExpected(Note("a"), 2)}));
  EXPECT_EQ(r[3].conversation_seq, 3u);

  auto stale = Append({WithExpected(Note("a"), 3), WithExpected(Note("a"), 3)});
  ASSERT_STATUS(stale, kWrongExpectedVersion, "wrong_expected_version");
  EXPECT_TRUE(MessageNamesIndex(stale.status(), 1)) << stale.status().ToString();
  EXPECT_EQ(ledger_->LastGlobalSeq(), 4u);
}

TEST_F(ExpectedVersionTest, AbsentMeansAnyVersion) {
  AppendNotes("a", 2);
  EXPECT_OK(AppendOne(Note("a")));
}

TEST_F(ExpectedVersionTest, AppliesToObservationsToo) {
  AppendNotes("a", 2);
  EXPECT_STATUS(AppendOne(WithExpected(StatusOf("a", "m1"), 1)), kWrongExpectedVersion, "");
}

// ---------------------------------------------------------------------------------------------

class IdempotencyTest : public LedgerTest {};

TEST_F(IdempotencyTest, SameKeySameContentReturnsTheOriginalResult) {
  ASSERT_OK_AND_ASSIGN(AppendResult first, AppendOne(WithKey(Sent("a", "m1"), "k1")));
  EXPECT_FALSE(first.duplicate);
  ASSERT_OK_AND_ASSIGN(AppendResult again, AppendOne(WithKey(Sent("a", "m1"), "k1")));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.global_seq, first.global_seq);
  EXPECT_EQ(again.conversation_seq, first.conversation_seq);
  EXPECT_EQ(again.hash, first.hash);
  EXPECT_EQ(again.prev_hash, first.prev_hash);
  EXPECT_EQ(again.event_id, first.event_id);
  EXPECT_EQ(again.recorded_at_us, first.recorded_at_us);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
  EXPECT_EQ(ReadAll().size(), 1u);
}

TEST_F(IdempotencyTest, RetryAfterOtherEventsStillReturnsTheOriginal) {
  ASSERT_OK_AND_ASSIGN(AppendResult first, AppendOne(WithKey(StatusOf("a", "m1"), "wh-1")));
  ASSERT_OK(AppendOne(Note("a")));
  ASSERT_OK(AppendOne(Note("b")));
  ASSERT_OK_AND_ASSIGN(AppendResult again, AppendOne(WithKey(StatusOf("a", "m1"), "wh-1")));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.global_seq, first.global_seq);
  EXPECT_EQ(again.conversation_seq, 1u);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 3u);
}

TEST_F(IdempotencyTest, RetryCarryingItsOriginalExpectedVersionIsADuplicateNotAConflict) {
  // A client retrying a request whose response it lost sends it unchanged, expected_version
  // included; it must get the original result, not a version conflict.
  ASSERT_OK_AND_ASSIGN(AppendResult first,
                       AppendOne(WithKey(WithExpected(Sent("a", "m1"), 0), "k1")));
  ASSERT_OK_AND_ASSIGN(AppendResult again,
                       AppendOne(WithKey(WithExpected(Sent("a", "m1"), 0), "k1")));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.global_seq, first.global_seq);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_F(IdempotencyTest, RetryOfACommandIsADuplicateNotAnInvariantViolation) {
  // Re-sending the same message.sent under the same key must not trip message_already_sent.
  ASSERT_OK(AppendOne(WithKey(Sent("a", "m1"), "k1")));
  ASSERT_OK_AND_ASSIGN(AppendResult again, AppendOne(WithKey(Sent("a", "m1"), "k1")));
  EXPECT_TRUE(again.duplicate);
}

TEST_F(IdempotencyTest, SameKeyDifferentContentIsAConflict) {
  ASSERT_OK(AppendOne(WithKey(Sent("a", "m1", "price 20 EUR"), "k1")));
  auto r = AppendOne(WithKey(Sent("a", "m2", "price 2 EUR"), "k1"));
  EXPECT_STATUS(r, kIdempotencyConflict, "idempotency_key_reused");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_F(IdempotencyTest, SameKeyInAnotherConversationIsAConflict) {
  ASSERT_OK(AppendOne(WithKey(Note("a", "x"), "k1")));
  EXPECT_STATUS(AppendOne(WithKey(Note("b", "x"), "k1")), kIdempotencyConflict,
                "idempotency_key_reused");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

// Meta may redeliver one message inside another webhook body: same platform id, same content,
// another body hash. The evidence is stored, but the repeat must be a duplicate, not a conflict.
TEST_F(IdempotencyTest, EvidenceIsNotPartOfTheFingerprint) {
  Event first = WithKey(Sent("a", "m1", "hello"), "wa:msg:m1");
  first.actor = Actor{ActorKind::kCustomer, "4915", "Anna"};
  first.direction = Direction::kInbound;
  first.kind = "text";
  first.evidence.fill(0x11);
  ASSERT_OK_AND_ASSIGN(AppendResult original, AppendOne(first));
  Event other_body = first;
  other_body.evidence.fill(0x22);
  ASSERT_OK_AND_ASSIGN(AppendResult again, AppendOne(other_body));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.global_seq, original.global_seq);
  Event no_evidence = first;
  no_evidence.evidence = Digest{};
  ASSERT_OK_AND_ASSIGN(AppendResult plain, AppendOne(no_evidence));
  EXPECT_TRUE(plain.duplicate);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
  // The first body's evidence is what was stored, and the hash covers it.
  ASSERT_OK_AND_ASSIGN(auto events, ledger_->ReadConversation("a"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].evidence, first.evidence);
  EXPECT_EQ(events[0].kind, "text");
  ExpectVerifies();
}

TEST_F(IdempotencyTest, SameEvidenceOtherContentOrKindIsStillAConflict) {
  Event first = WithKey(Sent("a", "m1", "hello"), "k1");
  first.kind = "text";
  first.evidence.fill(0x11);
  ASSERT_OK(AppendOne(first));
  Event other_text = first;
  other_text.content->text = "hullo";
  EXPECT_STATUS(AppendOne(other_text), kIdempotencyConflict, "idempotency_key_reused");
  Event other_kind = first;
  other_kind.kind = "button";
  EXPECT_STATUS(AppendOne(other_kind), kIdempotencyConflict, "idempotency_key_reused");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_F(IdempotencyTest, KeysAreScopedToTheTenant) {
  Event acme = WithKey(Note("acme-conv", "x"), "k1");
  Event globex = WithKey(Note("globex-conv", "y"), "k1");
  globex.tenant = "globex";
  ASSERT_OK(AppendOne(acme));
  ASSERT_OK_AND_ASSIGN(AppendResult other, AppendOne(globex));
  EXPECT_FALSE(other.duplicate);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 2u);
}

TEST_F(IdempotencyTest, SameKeyTwiceInOneBatchAppendsOnce) {
  ASSERT_OK_AND_ASSIGN(auto r,
                       Append({WithKey(Note("a", "x"), "k1"), WithKey(Note("a", "x"), "k1")}));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_FALSE(r[0].duplicate);
  EXPECT_TRUE(r[1].duplicate);
  EXPECT_EQ(r[1].global_seq, r[0].global_seq);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_F(IdempotencyTest, EventsWithoutAKeyAreNeverDeduplicated) {
  ASSERT_OK(AppendOne(Note("a", "same")));
  ASSERT_OK_AND_ASSIGN(AppendResult second, AppendOne(Note("a", "same")));
  EXPECT_FALSE(second.duplicate);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 2u);
}

TEST_F(IdempotencyTest, DuplicateInABatchAppendsOnlyTheNewEvents) {
  ASSERT_OK_AND_ASSIGN(AppendResult first, AppendOne(WithKey(Note("a", "one"), "k1")));
  ASSERT_OK_AND_ASSIGN(auto r,
                       Append({WithKey(Note("a", "one"), "k1"), WithKey(Note("a", "two"), "k2")}));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].duplicate);
  EXPECT_EQ(r[0].global_seq, first.global_seq);
  EXPECT_FALSE(r[1].duplicate);
  EXPECT_EQ(r[1].global_seq, 2u);
  EXPECT_EQ(r[1].conversation_seq, 2u);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 2u);
}

TEST_F(IdempotencyTest, ConflictInABatchAppendsNothing) {
  ASSERT_OK(AppendOne(WithKey(Note("a", "one"), "k1")));
  auto r = Append({WithKey(Note("a", "two"), "k2"), WithKey(Note("a", "other"), "k1")});
  ASSERT_STATUS(r, kIdempotencyConflict, "idempotency_key_reused");
  EXPECT_TRUE(MessageNamesIndex(r.status(), 1)) << r.status().ToString();
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
  // k2 was not remembered: it can now carry other content.
  EXPECT_OK(AppendOne(WithKey(Note("a", "three"), "k2")));
}

TEST_F(IdempotencyTest, RejectedEventDoesNotClaimItsKey) {
  auto r = AppendOne(WithKey(Edited("a", "never-sent"), "k1"));
  ASSERT_STATUS(r, kInvariantViolation, "message_not_found");
  ASSERT_OK_AND_ASSIGN(AppendResult ok, AppendOne(WithKey(Note("a", "other"), "k1")));
  EXPECT_FALSE(ok.duplicate);
}

// ---------------------------------------------------------------------------------------------
// Commands (agent, bot, system) are checked against invariants.

class InvariantTest : public LedgerTest {};

TEST_F(InvariantTest, CommandsNamingANeverSentMessageAreRejected) {
  ASSERT_OK(AppendOne(Sent("a", "m1")));
  const std::vector<Event> commands = {
      Edited("a", "m9"),
      Deleted("a", "m9"),
      Corrected("a", "m9", "m1"),
      Redacted("a", "m9"),
      StatusOf("a", "m9", Delivery::kRead, ActorKind::kAgent),
      ReactionTo("a", "m9"),
      Edited("a", "m9", "x", ActorKind::kBot),
      Deleted("a", "m9", DeleteScope::kEveryone, ActorKind::kSystem),
      StatusOf("a", "m9", Delivery::kSent, ActorKind::kSystem),
  };
  for (const Event& e : commands) {
    auto r = AppendOne(e);
    EXPECT_STATUS(r, kInvariantViolation, "message_not_found")
        << ToString(e.type) << " by " << ToString(e.actor.kind);
  }
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_F(InvariantTest, AMessageSentInAnotherConversationDoesNotCount) {
  ASSERT_OK(AppendOne(Sent("a", "m1")));
  EXPECT_STATUS(AppendOne(Edited("b", "m1")), kInvariantViolation, "message_not_found");
}

TEST_F(InvariantTest, AgentSendingAnExistingMessageIdIsRejected) {
  ASSERT_OK(AppendOne(Sent("a", "m1")));
  EXPECT_STATUS(AppendOne(Sent("a", "m1", "again")), kInvariantViolation, "message_already_sent");
  EXPECT_STATUS(AppendOne(Sent("a", "m1", "again", ActorKind::kBot)), kInvariantViolation,
                "message_already_sent");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
  // The same id in another conversation is another message.
  EXPECT_OK(AppendOne(Sent("b", "m1")));
}

TEST_F(InvariantTest, SameMessageIdTwiceInOneBatchIsRejected) {
  auto r = Append({Sent("a", "m1"), Sent("a", "m1")});
  ASSERT_STATUS(r, kInvariantViolation, "message_already_sent");
  EXPECT_TRUE(MessageNamesIndex(r.status(), 1)) << r.status().ToString();
  ExpectNothingAppended();
}

TEST_F(InvariantTest, EditOfAMessageSentEarlierInTheSameBatchIsAccepted) {
  ASSERT_OK_AND_ASSIGN(auto r, Append({Sent("a", "m1"), Edited("a", "m1"),
                                       StatusOf("a", "m1", Delivery::kSent, ActorKind::kSystem),
                                       ReactionTo("a", "m1")}));
  EXPECT_EQ(r.size(), 4u);
}

TEST_F(InvariantTest, EditAfterDeleteForEveryoneIsRejected) {
  ASSERT_OK(Append({Sent("a", "m1"), Deleted("a", "m1", DeleteScope::kEveryone)}));
  EXPECT_STATUS(AppendOne(Edited("a", "m1")), kInvariantViolation, "message_deleted");
  EXPECT_STATUS(AppendOne(Edited("a", "m1", "x", ActorKind::kBot)), kInvariantViolation,
                "message_deleted");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 2u);
}

TEST_F(InvariantTest, EditAfterDeleteInTheSameBatchIsRejected) {
  auto r = Append({Sent("a", "m1"), Deleted("a", "m1"), Edited("a", "m1")});
  ASSERT_STATUS(r, kInvariantViolation, "message_deleted");
  EXPECT_TRUE(MessageNamesIndex(r.status(), 2)) << r.status().ToString();
  ExpectNothingAppended();
}

TEST_F(InvariantTest, EditAfterRedactionIsRejected) {
  ASSERT_OK(Append({Sent("a", "m1"), Redacted("a", "m1")}));
  EXPECT_STATUS(AppendOne(Edited("a", "m1")), kInvariantViolation, "message_redacted");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 2u);
}

TEST_F(InvariantTest, CorrectionWhoseReplacementDoesNotExistIsRejected) {
  ASSERT_OK(AppendOne(Sent("a", "m1")));
  EXPECT_STATUS(AppendOne(Corrected("a", "m1", "m2")), kInvariantViolation,
                "replacement_not_found");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_F(InvariantTest, CorrectionWithAnExistingReplacementIsAccepted) {
  ASSERT_OK(Append({Sent("a", "m1"), Sent("a", "m2")}));
  EXPECT_OK(AppendOne(Corrected("a", "m1", "m2")));
  // Or with the replacement sent earlier in the same batch.
  EXPECT_OK(Append({Sent("a", "m3"), Corrected("a", "m2", "m3")}));
}

TEST_F(InvariantTest, DeletedMessageCanStillBeCorrectedAndRedacted) {
  // The demo's story: a wrong stock figure is deleted, then corrected with an explanation; a
  // card number is deleted and then redacted. Only edits are barred after a deletion.
  ASSERT_OK(Append({Sent("a", "stock"), Deleted("a", "stock"), Sent("a", "stock-fixed")}));
  EXPECT_OK(AppendOne(Corrected("a", "stock", "stock-fixed")));
  ASSERT_OK(Append({Sent("a", "card"), Deleted("a", "card")}));
  EXPECT_OK(AppendOne(Redacted("a", "card")));
}

TEST_F(InvariantTest, EditOfAMessageDeletedOnlyOnTheAgentSideIsNotMessageDeleted) {
  // "Hidden for the agent side only" does not remove the message from the customer's view.
  ASSERT_OK(Append({Sent("a", "m1"), Deleted("a", "m1", DeleteScope::kAgentOnly)}));
  auto r = AppendOne(Edited("a", "m1"));
  EXPECT_FALSE(!r.ok() && r.status().reason() == "message_deleted") << r.status().ToString();
}

TEST_F(InvariantTest, AgentCannotChangeACustomersMessage) {
  ASSERT_OK(AppendOne(Sent("a", "c1", "hi", ActorKind::kCustomer)));
  EXPECT_STATUS(AppendOne(Edited("a", "c1")), kInvariantViolation, "not_own_message");
  EXPECT_STATUS(AppendOne(Deleted("a", "c1", DeleteScope::kEveryone)), kInvariantViolation,
                "not_own_message");
  // Hiding it on the agent side only is the agent's own business.
  EXPECT_OK(AppendOne(Deleted("a", "c1", DeleteScope::kAgentOnly)));
}

TEST_F(InvariantTest, SendDirectionMustMatchTheActor) {
  Event inbound_by_agent = Sent("a", "m1");
  inbound_by_agent.direction = Direction::kInbound;
  EXPECT_STATUS(AppendOne(inbound_by_agent), kInvariantViolation, "direction_mismatch");
  Event outbound_by_customer = Sent("a", "c1", "hi", ActorKind::kCustomer);
  outbound_by_customer.direction = Direction::kOutbound;
  EXPECT_STATUS(AppendOne(outbound_by_customer), kInvariantViolation, "direction_mismatch");
  ExpectNothingAppended();
}

TEST_F(InvariantTest, AConversationBelongsToOneTenant) {
  ASSERT_OK(AppendOne(Note("a")));
  Event other = Note("a");
  other.tenant = "globex";
  EXPECT_STATUS(AppendOne(other), kInvariantViolation, "tenant_mismatch");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_F(InvariantTest, DeleteForEveryoneTwiceIsRejected) {
  ASSERT_OK(Append({Sent("a", "m1"), Deleted("a", "m1")}));
  EXPECT_STATUS(AppendOne(Deleted("a", "m1")), kInvariantViolation, "message_deleted");
}

TEST_F(InvariantTest, NotesConsentAndHoldsNeedNoMessage) {
  EXPECT_OK(
      Append({Note("a"), ConsentEv("a", ConsentState::kOptIn, ActorKind::kSystem), HoldEv("a")}));
}

// ---------------------------------------------------------------------------------------------
// Observations (customer, platform) are recorded as they arrive, even out of order.

class ObservationTest : public LedgerTest {};

TEST_F(ObservationTest, PlatformStatusForAMessageNotYetSentIsRecorded) {
  ASSERT_OK(AppendOne(StatusOf("a", "m1", Delivery::kDelivered, ActorKind::kPlatform)));
  ASSERT_OK(AppendOne(StatusOf("a", "m1", Delivery::kRead, ActorKind::kPlatform)));
  // Then our own late original: the message was not "sent" before, so this is no duplicate.
  ASSERT_OK_AND_ASSIGN(AppendResult late, AppendOne(Sent("a", "m1")));
  EXPECT_EQ(late.conversation_seq, 3u);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 3u);
}

TEST_F(ObservationTest, ReadBeforeDeliveredIsRecorded) {
  ASSERT_OK(AppendOne(Sent("a", "m1")));
  EXPECT_OK(AppendOne(StatusOf("a", "m1", Delivery::kRead)));
  EXPECT_OK(AppendOne(StatusOf("a", "m1", Delivery::kDelivered)));
}

TEST_F(ObservationTest, CustomerEditBeforeItsOriginalIsRecordedThenTheLateOriginal) {
  ASSERT_OK(AppendOne(Edited("a", "c1", "fixed typo", ActorKind::kCustomer)));
  ASSERT_OK_AND_ASSIGN(AppendResult late,
                       AppendOne(Sent("a", "c1", "orignal", ActorKind::kCustomer)));
  EXPECT_EQ(late.conversation_seq, 2u);
  ASSERT_OK_AND_ASSIGN(auto events, ledger_->ReadConversation("a"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EventType::kMessageEdited);
  EXPECT_EQ(events[1].type, EventType::kMessageSent);
}

TEST_F(ObservationTest, ObservationsOfEveryKindAreNeverRejectedForOrder) {
  const ActorKind kinds[] = {ActorKind::kCustomer, ActorKind::kPlatform};
  for (ActorKind k : kinds) {
    const std::string conv = std::string("conv-") + std::string(ToString(k));
    EXPECT_OK(AppendOne(Edited(conv, "x1", "e", k)));
    EXPECT_OK(AppendOne(Deleted(conv, "x2", DeleteScope::kEveryone, k)));
    EXPECT_OK(AppendOne(ReactionTo(conv, "x3", "\xF0\x9F\x91\x8D", k)));
    EXPECT_OK(AppendOne(StatusOf(conv, "x4", Delivery::kRead, k)));
    EXPECT_OK(AppendOne(Redacted(conv, "x5", k)));
  }
}

TEST_F(ObservationTest, CustomerEditArrivingAfterTheCustomersDeleteIsRecorded) {
  ASSERT_OK(Append({Sent("a", "c1", "hi", ActorKind::kCustomer),
                    Deleted("a", "c1", DeleteScope::kEveryone, ActorKind::kCustomer)}));
  EXPECT_OK(AppendOne(Edited("a", "c1", "late edit", ActorKind::kCustomer)));
}

// ---------------------------------------------------------------------------------------------

class ReadTest : public LedgerTest {};

TEST_F(ReadTest, ReadGlobalReturnsEventsAfterAWithinALimit) {
  for (int i = 0; i < 10; ++i) ASSERT_OK(AppendOne(Note(i % 3 ? "a" : "b")));
  ReadOptions limit4;
  limit4.limit = 4;
  ASSERT_OK_AND_ASSIGN(auto mid, ledger_->ReadGlobal(3, limit4));
  ASSERT_EQ(mid.size(), 4u);
  for (size_t i = 0; i < mid.size(); ++i) EXPECT_EQ(mid[i].global_seq, 4 + i);

  ReadOptions limit10;
  limit10.limit = 10;
  ASSERT_OK_AND_ASSIGN(auto tail, ledger_->ReadGlobal(8, limit10));
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].global_seq, 9u);
  EXPECT_EQ(tail[1].global_seq, 10u);

  ASSERT_OK_AND_ASSIGN(auto none, ledger_->ReadGlobal(10));
  EXPECT_TRUE(none.empty());
  ASSERT_OK_AND_ASSIGN(auto beyond, ledger_->ReadGlobal(1000));
  EXPECT_TRUE(beyond.empty());
  EXPECT_EQ(ReadAll().size(), 10u);
}

TEST_F(ReadTest, ReadConversationReturnsOneConversationAfterASequence) {
  for (int i = 0; i < 9; ++i) ASSERT_OK(AppendOne(Note(i % 2 ? "a" : "b", std::to_string(i))));
  ASSERT_OK_AND_ASSIGN(auto b, ledger_->ReadConversation("b", 2));
  ASSERT_EQ(b.size(), 3u);  // b has 5 events
  for (size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ(b[i].conversation_id, "b");
    EXPECT_EQ(b[i].conversation_seq, 3 + i);
  }
  EXPECT_EQ(b[0].content->text, "4");
  ReadOptions limit1;
  limit1.limit = 1;
  ASSERT_OK_AND_ASSIGN(auto one, ledger_->ReadConversation("a", 0, limit1));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].conversation_seq, 1u);
  ASSERT_OK_AND_ASSIGN(auto unknown, ledger_->ReadConversation("zzz"));
  EXPECT_TRUE(unknown.empty());
}

TEST_F(ReadTest, AsOfGlobalSeqPinsReads) {
  for (int i = 0; i < 6; ++i) ASSERT_OK(AppendOne(Note(i % 2 ? "a" : "b")));
  ReadOptions as_of;
  as_of.as_of_global_seq = 3;
  ASSERT_OK_AND_ASSIGN(auto global, ledger_->ReadGlobal(0, as_of));
  ASSERT_EQ(global.size(), 3u);
  EXPECT_EQ(global.back().global_seq, 3u);
  ASSERT_OK_AND_ASSIGN(auto a, ledger_->ReadConversation("a", 0, as_of));
  ASSERT_EQ(a.size(), 1u);  // a has global 2, 4, 6
  EXPECT_EQ(a[0].global_seq, 2u);

  // More appends do not change a pinned read: it is reproducible.
  for (int i = 0; i < 4; ++i) ASSERT_OK(AppendOne(Note("a")));
  ASSERT_OK_AND_ASSIGN(auto global_again, ledger_->ReadGlobal(0, as_of));
  EXPECT_EQ(global_again, global);
  ASSERT_OK_AND_ASSIGN(auto a_again, ledger_->ReadConversation("a", 0, as_of));
  EXPECT_EQ(a_again, a);
}

TEST_F(ReadTest, ScansSeeTheSameRecordsAsReads) {
  ASSERT_OK(Append({Sent("a", "m1"), Note("b"), Edited("a", "m1"), Note("b")}));
  const std::vector<Event> all = ReadAll();
  std::vector<Event> scanned;
  ASSERT_OK(ledger_->ScanGlobal(0, {}, [&](const RawEvent& raw) {
    auto e = DecodeRecord(raw.record);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (e.ok()) {
      EXPECT_EQ(e->content_access, ContentAccess::kSealed);  // scans never open content
      EXPECT_OK(OpenEvent(ledger_->Opener(), &e.value()));
      EXPECT_EQ(e->global_seq, raw.global_seq);
      EXPECT_EQ(e->conversation_seq, raw.conversation_seq);
      EXPECT_EQ(e->hash, raw.hash);
      scanned.push_back(*e);
    }
    return true;
  }));
  EXPECT_EQ(scanned, all);

  std::vector<uint64_t> a_seqs;
  ASSERT_OK(ledger_->ScanConversation("a", 0, {}, [&](const RawEvent& raw) {
    a_seqs.push_back(raw.conversation_seq);
    return true;
  }));
  EXPECT_EQ(a_seqs, (std::vector<uint64_t>{1, 2}));
}

TEST_F(ReadTest, ScanStopsWhenTheCallbackReturnsFalse) {
  for (int i = 0; i < 5; ++i) ASSERT_OK(AppendOne(Note("a")));
  int calls = 0;
  ASSERT_OK(ledger_->ScanGlobal(0, {}, [&](const RawEvent&) { return ++calls < 2; }));
  EXPECT_EQ(calls, 2);
  calls = 0;
  ASSERT_OK(ledger_->ScanConversation("a", 0, {}, [&](const RawEvent&) { return ++calls < 3; }));
  EXPECT_EQ(calls, 3);
}

TEST_F(ReadTest, GetHeadReturnsTheLastEventOfAConversation) {
  ASSERT_OK(AppendOne(Note("a")));
  ASSERT_OK(AppendOne(Note("b")));
  ASSERT_OK_AND_ASSIGN(AppendResult last, AppendOne(Note("a")));
  ASSERT_OK_AND_ASSIGN(Head head, ledger_->GetHead("a"));
  EXPECT_EQ(head.conversation_seq, 2u);
  EXPECT_EQ(head.global_seq, 3u);
  EXPECT_EQ(head.hash, last.hash);
  EXPECT_STATUS(ledger_->GetHead("c"), kNotFound, "conversation_not_found");
}

TEST_F(ReadTest, ConversationIdsThatArePrefixesOfEachOtherNeverMix) {
  // Prefixes, and ids whose bytes look like the length prefix or sequence of another's keys.
  const std::vector<std::string> ids = {
      "a",
      "ab",
      "abc",
      std::string("a\0", 2),
      std::string("\x01", 1) + "a",
      std::string("\x00\x01", 2) + "a",
      std::string("\x02", 1) + "ab",
      std::string("a\0\0\0\0\0\0\0\x01", 9),
      std::string("a\0\0\0\0\0\0\0\x02", 9),
      std::string("\0\x01", 2),
  };
  // id i gets i+1 events, appended round-robin.
  for (size_t round = 0; round < ids.size(); ++round) {
    for (size_t i = round; i < ids.size(); ++i) {
      ASSERT_OK(AppendOne(Note(ids[i], "round " + std::to_string(round))));
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(auto events, ledger_->ReadConversation(ids[i]));
    ASSERT_EQ(events.size(), i + 1) << "id #" << i;
    for (size_t k = 0; k < events.size(); ++k) {
      EXPECT_EQ(events[k].conversation_id, ids[i]) << "id #" << i;
      EXPECT_EQ(events[k].conversation_seq, k + 1) << "id #" << i;
    }
    ASSERT_OK_AND_ASSIGN(Head head, ledger_->GetHead(ids[i]));
    EXPECT_EQ(head.conversation_seq, i + 1) << "id #" << i;
    EXPECT_EQ(head.hash, events.back().hash) << "id #" << i;
    size_t scanned = 0;
    ASSERT_OK(ledger_->ScanConversation(ids[i], 0, {}, [&](const RawEvent&) {
      ++scanned;
      return true;
    }));
    EXPECT_EQ(scanned, i + 1) << "id #" << i;
  }
  ExpectVerifies();
}

TEST_F(ReadTest, StatsCountEventsAndConversations) {
  // Separate appends, so each conversation's head is rewritten several times.
  for (const char* conv : {"a", "b", "a", "a", "b"}) ASSERT_OK(AppendOne(Note(conv)));
  ASSERT_OK_AND_ASSIGN(LedgerStats stats, ledger_->Stats());
  EXPECT_EQ(stats.last_global_seq, 5u);
  EXPECT_EQ(stats.conversations, 2u);
}

// ---------------------------------------------------------------------------------------------

class WaitForEventsTest : public LedgerTest {};

TEST_F(WaitForEventsTest, ReturnsAtOnceWhenEventsAreAlreadyThere) {
  ASSERT_OK(Append({Note("a"), Note("a")}));
  EXPECT_EQ(ledger_->WaitForEvents(0, std::chrono::seconds(30)), 2u);
  EXPECT_EQ(ledger_->WaitForEvents(1, std::chrono::seconds(30)), 2u);
}

TEST_F(WaitForEventsTest, ReturnsAfterAnAppendFromAnotherThread) {
  ASSERT_OK(AppendOne(Note("a")));
  const auto timeout = std::chrono::seconds(60);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_OK(AppendOne(Note("a")));
  });
  const auto start = std::chrono::steady_clock::now();
  const uint64_t last = ledger_->WaitForEvents(1, timeout);
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  writer.join();
  EXPECT_EQ(last, 2u);
  // It was the append that woke it, not the timeout.
  EXPECT_LT(waited.count(), std::chrono::milliseconds(timeout).count());
}

TEST_F(WaitForEventsTest, TimesOutWhenNothingIsAppended) {
  EXPECT_EQ(ledger_->WaitForEvents(0, std::chrono::milliseconds(20)), 0u);
  ASSERT_OK(AppendOne(Note("a")));
  EXPECT_EQ(ledger_->WaitForEvents(1, std::chrono::milliseconds(20)), 1u);
}

TEST_F(WaitForEventsTest, AFailedAppendDoesNotWakeWithNewEvents) {
  ASSERT_OK(AppendOne(Note("a")));
  EXPECT_FALSE(AppendOne(Edited("a", "never-sent")).ok());
  EXPECT_EQ(ledger_->WaitForEvents(1, std::chrono::milliseconds(20)), 1u);
}

// ---------------------------------------------------------------------------------------------

class ReopenTest : public LedgerTest {};

TEST_F(ReopenTest, KeepsEverythingAndContinuesSequences) {
  ASSERT_OK(Append({Sent("a", "m1"), Note("b"), Edited("a", "m1"), Note("b"), Note("c")}));
  const std::vector<Event> before = ReadAll();
  ASSERT_OK_AND_ASSIGN(Head head_a, ledger_->GetHead("a"));
  Close();
  Open();
  EXPECT_EQ(ledger_->LastGlobalSeq(), 5u);
  EXPECT_EQ(ReadAll(), before);
  ASSERT_OK_AND_ASSIGN(Head head_a_again, ledger_->GetHead("a"));
  EXPECT_EQ(head_a_again.conversation_seq, head_a.conversation_seq);
  EXPECT_EQ(head_a_again.hash, head_a.hash);
  EXPECT_EQ(head_a_again.global_seq, head_a.global_seq);

  ASSERT_OK_AND_ASSIGN(AppendResult next, AppendOne(Note("a")));
  EXPECT_EQ(next.global_seq, 6u);
  EXPECT_EQ(next.conversation_seq, 3u);
  EXPECT_EQ(next.prev_hash, head_a.hash);
  ASSERT_OK_AND_ASSIGN(AppendResult fresh, AppendOne(Note("d")));
  EXPECT_EQ(fresh.global_seq, 7u);
  EXPECT_EQ(fresh.conversation_seq, 1u);
  ExpectVerifies();
}

TEST_F(ReopenTest, IdempotencyKeysSurvive) {
  ASSERT_OK_AND_ASSIGN(AppendResult first, AppendOne(WithKey(Note("a", "x"), "k1")));
  Close();
  Open();
  ASSERT_OK_AND_ASSIGN(AppendResult again, AppendOne(WithKey(Note("a", "x"), "k1")));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.global_seq, first.global_seq);
  EXPECT_EQ(again.hash, first.hash);
  EXPECT_STATUS(AppendOne(WithKey(Note("a", "y"), "k1")), kIdempotencyConflict, "");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_F(ReopenTest, MessageStateSurvives) {
  ASSERT_OK(Append({Sent("a", "m1"), Sent("a", "m2"), Deleted("a", "m2"), Sent("a", "m3"),
                    Redacted("a", "m3")}));
  Close();
  Open();
  EXPECT_OK(AppendOne(Edited("a", "m1")));
  EXPECT_STATUS(AppendOne(Sent("a", "m1")), kInvariantViolation, "message_already_sent");
  EXPECT_STATUS(AppendOne(Edited("a", "m2")), kInvariantViolation, "message_deleted");
  EXPECT_STATUS(AppendOne(Edited("a", "m3")), kInvariantViolation, "message_redacted");
  EXPECT_STATUS(AppendOne(Edited("a", "m4")), kInvariantViolation, "message_not_found");
}

TEST_F(ReopenTest, ExpectedVersionSeesTheStoredHead) {
  ASSERT_OK(Append({Note("a"), Note("a")}));
  Close();
  Open();
  EXPECT_STATUS(AppendOne(WithExpected(Note("a"), 0)), kWrongExpectedVersion, "");
  EXPECT_OK(AppendOne(WithExpected(Note("a"), 2)));
}

TEST_F(ReopenTest, EmptyLedgerReopensEmpty) {
  Close();
  Open();
  ExpectNothingAppended();
  ASSERT_OK_AND_ASSIGN(AppendResult r, AppendOne(Note("a")));
  EXPECT_EQ(r.global_seq, 1u);
}

// ---------------------------------------------------------------------------------------------

class ConcurrentAppendTest : public LedgerTest, public ::testing::WithParamInterface<Durability> {
 protected:
  void SetUp() override {
    options_.durability = GetParam();
    LedgerTest::SetUp();
  }
};

TEST_P(ConcurrentAppendTest, SixteenWritersProduceDenseSequences) {
  constexpr int kThreads = 16;
  constexpr int kAppendsPerThread = 100;
  std::vector<std::vector<AppendResult>> results(kThreads);
  std::vector<std::vector<std::string>> convs(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppendsPerThread; ++i) {
        // Own conversation, a conversation shared by all, and now and then a batch of two.
        const std::string own = "writer-" + std::to_string(t);
        std::vector<Event> batch = {Note(i % 2 ? own : "shared", std::to_string(i))};
        if (i % 5 == 0) batch.push_back(Note(own, "batched"));
        std::vector<std::string> batch_convs;
        for (const Event& e : batch) batch_convs.push_back(e.conversation_id);
        auto r = ledger_->Append(std::move(batch));
        if (!r.ok()) {
          ++failures;
          ADD_FAILURE() << r.status().ToString();
          continue;
        }
        for (size_t k = 0; k < r->size(); ++k) {
          results[t].push_back((*r)[k]);
          convs[t].push_back(batch_convs[k]);
        }
        // Within one batch, sequences are consecutive.
        if (r->size() == 2) {
          EXPECT_EQ((*r)[1].global_seq, (*r)[0].global_seq + 1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);

  std::set<uint64_t> global;
  std::map<std::string, std::set<uint64_t>> per_conv;
  size_t total = 0;
  for (int t = 0; t < kThreads; ++t) {
    uint64_t prev = 0;
    for (size_t k = 0; k < results[t].size(); ++k) {
      const AppendResult& r = results[t][k];
      EXPECT_TRUE(global.insert(r.global_seq).second) << "duplicate global_seq " << r.global_seq;
      EXPECT_TRUE(per_conv[convs[t][k]].insert(r.conversation_seq).second)
          << "duplicate conversation_seq " << r.conversation_seq << " in " << convs[t][k];
      EXPECT_GT(r.global_seq, prev) << "one writer's appends are ordered";
      prev = r.global_seq;
      ++total;
    }
  }
  EXPECT_EQ(ledger_->LastGlobalSeq(), total);
  ASSERT_FALSE(global.empty());
  EXPECT_EQ(*global.begin(), 1u);
  EXPECT_EQ(*global.rbegin(), total) << "global sequences have a gap";
  for (const auto& [conv, seqs] : per_conv) {
    EXPECT_EQ(*seqs.begin(), 1u) << conv;
    EXPECT_EQ(*seqs.rbegin(), seqs.size()) << conv << " has a gap";
  }
  const std::vector<Event> all = ReadAll();
  ASSERT_EQ(all.size(), total);
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i].global_seq, i + 1);
  ExpectVerifies();
}

TEST_P(ConcurrentAppendTest, RacingRetriesOfOneKeyAppendOnce) {
  constexpr int kThreads = 16;
  std::vector<AppendResult> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = ledger_->Append({WithKey(StatusOf("a", "m1"), "webhook-1")});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      results[t] = r->front();
    });
  }
  for (auto& th : threads) th.join();
  int originals = 0;
  for (const AppendResult& r : results) {
    originals += r.duplicate ? 0 : 1;
    EXPECT_EQ(r.global_seq, 1u);
    EXPECT_EQ(r.hash, results[0].hash);
  }
  EXPECT_EQ(originals, 1);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_P(ConcurrentAppendTest, RacingWritersExpectingANewConversationOneWins) {
  constexpr int kThreads = 16;
  std::atomic<int> won{0}, conflicted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = ledger_->Append({WithExpected(Note("a", std::to_string(t)), 0)});
      if (r.ok()) {
        ++won;
      } else if (r.status().IsWrongExpectedVersion()) {
        ++conflicted;
      } else {
        ADD_FAILURE() << r.status().ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(conflicted.load(), kThreads - 1);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_P(ConcurrentAppendTest, RacingAgentsSendingOneMessageIdOneWins) {
  constexpr int kThreads = 16;
  std::atomic<int> won{0}, rejected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = ledger_->Append({Sent("a", "m1", "from " + std::to_string(t))});
      if (r.ok()) {
        ++won;
      } else if (r.status().reason() == "message_already_sent") {
        ++rejected;
      } else {
        ADD_FAILURE() << r.status().ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(rejected.load(), kThreads - 1);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_P(ConcurrentAppendTest, ReadersNeverSeeAGapWhileWritersAppend) {
  constexpr int kWriters = 8;
  constexpr int kAppendsPerWriter = 50;
  std::atomic<int> writers_left{kWriters};
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppendsPerWriter; ++i) {
        std::string own = "w";
        own += std::to_string(t);
        std::vector<Event> batch = {Note(t % 2 ? "odd" : "even"), Note(own)};
        EXPECT_OK(ledger_->Append(std::move(batch)));
      }
      --writers_left;
    });
  }
  size_t reads = 0;
  while (writers_left.load() > 0 || reads < 3) {
    const uint64_t committed = ledger_->LastGlobalSeq();
    ASSERT_OK_AND_ASSIGN(auto global, ledger_->ReadGlobal(0));
    ASSERT_GE(global.size(), committed) << "a committed event is not readable";
    for (size_t i = 0; i < global.size(); ++i) {
      ASSERT_EQ(global[i].global_seq, i + 1) << "reader saw a gap";
    }
    ASSERT_OK_AND_ASSIGN(auto even, ledger_->ReadConversation("even"));
    for (size_t i = 0; i < even.size(); ++i) {
      ASSERT_EQ(even[i].conversation_seq, i + 1) << "reader saw a gap in a conversation";
      if (i > 0) {
        ASSERT_EQ(even[i].prev_hash, even[i - 1].hash);
      }
    }
    ++reads;
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ledger_->LastGlobalSeq(), 2u * kWriters * kAppendsPerWriter);
}

INSTANTIATE_TEST_SUITE_P(BothDurabilityModes, ConcurrentAppendTest,
                         ::testing::Values(Durability::kWal, Durability::kFsync),
                         [](const ::testing::TestParamInfo<Durability>& info) {
                           return info.param == Durability::kWal ? std::string("Wal")
                                                                 : std::string("Fsync");
                         });

// ---------------------------------------------------------------------------------------------

class VerifyTest : public LedgerTest {};

TEST_F(VerifyTest, EmptyLedgerVerifies) {
  VerifyReport report;
  ASSERT_OK(ledger_->Verify(&report));
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.events_checked, 0u);
  EXPECT_EQ(report.last_global_seq, 0u);
}

TEST_F(VerifyTest, IntactLedgerVerifies) {
  ASSERT_OK(Append({Sent("a", "m1"), Note("b"), Edited("a", "m1"), Note("c"), Note("b")}));
  VerifyReport report;
  ASSERT_OK(ledger_->Verify(&report));
  EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
  EXPECT_EQ(report.events_checked, 5u);
  EXPECT_EQ(report.conversations, 3u);
  EXPECT_EQ(report.last_global_seq, 5u);
}

}  // namespace
}  // namespace convledger
