// The evidence store: raw webhook bodies kept content-addressed beside the events they produced,
// in the same write (all or nothing), with every delivery recorded.
#include <openssl/sha.h>

#include "test_util.h"

namespace convledger {
namespace {

using test::StatusIs;

Digest Sha(std::string_view s) {
  Digest d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

EvidenceDelivery Delivery(std::string body, int64_t at, bool sig = true) {
  return EvidenceDelivery{std::move(body), "whatsapp", at, sig};
}

class EvidenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.clock = &clock_;
    auto l = Ledger::Open(dir_.path(), o);
    ASSERT_OK(l);
    ledger_ = std::move(*l);
  }
  test::TempDir dir_;
  test::FixedClock clock_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(EvidenceTest, StoredWithTheEventsAndReadBack) {
  const std::string body = R"({"object":"whatsapp_business_account","entry":[]})";
  Event e = test::Sent("c1", "m1", "hi", ActorKind::kCustomer);
  e.idempotency_key = "wa:msg:m1";
  AppendOptions ao;
  ao.evidence.push_back(Delivery(body, 111));
  ASSERT_OK(ledger_->Append({e}, ao));
  auto got = ledger_->GetEvidence(Sha(body));
  ASSERT_OK(got);
  EXPECT_EQ(got->body, body);
  EXPECT_EQ(got->sha256, Sha(body));
  ASSERT_EQ(got->deliveries.size(), 1u);
  EXPECT_EQ(got->deliveries[0].source, "whatsapp");
  EXPECT_EQ(got->deliveries[0].received_at_us, 111);
  EXPECT_TRUE(got->deliveries[0].signature_valid);
}

TEST_F(EvidenceTest, RedeliveryWithoutNewEventsRecordsTheDeliveryOnly) {
  const std::string body = "{\"a\":1}";
  Event e = test::Sent("c1", "m1", "hi", ActorKind::kCustomer);
  e.idempotency_key = "wa:msg:m1";
  AppendOptions first;
  first.evidence.push_back(Delivery(body, 100));
  ASSERT_OK(ledger_->Append({e}, first));
  const uint64_t last = ledger_->LastGlobalSeq();

  AppendOptions again;
  again.evidence.push_back(Delivery(body, 200));
  auto r = ledger_->Append({e}, again);  // Meta's retry: same message, duplicate
  ASSERT_OK(r);
  EXPECT_TRUE((*r)[0].duplicate);
  AppendOptions bare;
  bare.evidence.push_back(Delivery(body, 300, false));
  auto empty = ledger_->Append({}, bare);  // nothing to append at all, evidence only
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(ledger_->LastGlobalSeq(), last);

  auto got = ledger_->GetEvidence(Sha(body));
  ASSERT_OK(got);
  ASSERT_EQ(got->deliveries.size(), 3u);
  EXPECT_EQ(got->deliveries[0].received_at_us, 100);
  EXPECT_EQ(got->deliveries[1].received_at_us, 200);
  EXPECT_EQ(got->deliveries[2].received_at_us, 300);
  EXPECT_FALSE(got->deliveries[2].signature_valid);
}

TEST_F(EvidenceTest, FailedAppendStoresNoEvidence) {
  const std::string body = "{\"b\":2}";
  AppendOptions ao;
  ao.evidence.push_back(Delivery(body, 1));
  // An agent editing a message never sent: invariant violation, nothing may be kept.
  auto r = ledger_->Append({test::Edited("c1", "nope")}, ao);
  EXPECT_TRUE(StatusIs(r.status(), Status::Code::kInvariantViolation, "message_not_found"));
  EXPECT_TRUE(StatusIs(ledger_->GetEvidence(Sha(body)).status(), Status::Code::kNotFound,
                       "evidence_not_found"));
}

TEST_F(EvidenceTest, EmptyAppendWithoutEvidenceIsStillRefused) {
  EXPECT_TRUE(StatusIs(ledger_->Append({}).status(), Status::Code::kInvalidArgument, "empty_batch"));
}

TEST_F(EvidenceTest, SurvivesReopenAndReadOnly) {
  const std::string body(100000, 'x');
  AppendOptions ao;
  ao.evidence.push_back(Delivery(body, 5));
  ASSERT_OK(ledger_->Append({test::Sent("c1", "m1")}, ao));
  ledger_.reset();
  Options o;
  o.read_only = true;
  auto l = Ledger::Open(dir_.path(), o);
  ASSERT_OK(l);
  auto got = (*l)->GetEvidence(Sha(body));
  ASSERT_OK(got);
  EXPECT_EQ(got->body, body);
  EXPECT_TRUE(StatusIs((*l)->GetEvidence(Sha("other")).status(), Status::Code::kNotFound));
}

}  // namespace
}  // namespace convledger
