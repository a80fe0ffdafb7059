// Crypto-shredding (issue 6): content sealed at rest, redaction and subject erasure destroying
// keys so that no copy stays in any file under the data directory, legal holds refusing (and
// recording) requests unless overridden, the master key check, sealed evidence.
#include <openssl/sha.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "projections/projections.h"
#include "test_util.h"

namespace convledger {
namespace {

using test::StatusIs;

Digest Sha(std::string_view s) {
  Digest d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

// Every file under `dir` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, std::string_view needle) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find(needle) != std::string::npos) out.push_back(entry.path().string());
  }
  return out;
}

// Values of the keys column family, read underneath a closed ledger.
std::map<std::string, std::string> KeysCf(const std::string& dir) {
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.push_back({n, rocksdb::ColumnFamilyOptions()});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  std::map<std::string, std::string> out;
  if (!rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir, cfs, &handles, &raw).ok())
    return out;
  std::unique_ptr<rocksdb::DB> db(raw);
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != "keys") continue;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next())
      out[it->key().ToString()] = it->value().ToString();
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  return out;
}

// Wrapped data keys ('d' records) and subject keys ('s' records, active) in the keys CF.
std::vector<std::string> WrappedKeys(const std::string& dir, char tag) {
  std::vector<std::string> out;
  for (const auto& [k, v] : KeysCf(dir))
    if (!k.empty() && k[0] == tag && v.size() >= 60)
      out.push_back(tag == 's' ? v.substr(1, 60) : v);
  return out;
}

class ErasureTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open(Options o = {}) {
    ledger_.reset();
    o.clock = &clock_;
    auto l = Ledger::Open(dir_.path(), o);
    ASSERT_OK(l);
    ledger_ = std::move(*l);
  }
  void Close() { ledger_.reset(); }

  std::vector<Event> Conversation(const std::string& conv) {
    auto r = ledger_->ReadConversation(conv);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<Event>{};
  }

  test::TempDir dir_;
  test::FixedClock clock_;
  std::unique_ptr<Ledger> ledger_;
};

constexpr char kSecret[] = "card 4111-1111-1111-1111 exp 12/29 PLAINTEXT-MARKER";

TEST_F(ErasureTest, ContentIsSealedAtRestAndOpenedOnRead) {
  Event e = test::Sent("c1", "m1", kSecret, ActorKind::kCustomer);
  e.subject = "+4915112345678";
  ASSERT_OK(ledger_->Append({e}));
  auto events = Conversation("c1");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].content_access, ContentAccess::kOpened);
  ASSERT_TRUE(events[0].content);
  EXPECT_EQ(events[0].content->text, kSecret);
  EXPECT_EQ(events[0].subject, "+4915112345678");

  ReadOptions sealed;
  sealed.open_content = false;
  auto raw = ledger_->ReadConversation("c1", 0, sealed);
  ASSERT_OK(raw);
  EXPECT_EQ((*raw)[0].content_access, ContentAccess::kSealed);
  EXPECT_FALSE((*raw)[0].content);
  ASSERT_TRUE((*raw)[0].sealed);
  EXPECT_EQ((*raw)[0].sealed->sealing, Sealing::kAes256Gcm);

  Close();
  EXPECT_TRUE(FilesContaining(dir_.path(), "PLAINTEXT-MARKER").empty());
  EXPECT_FALSE(WrappedKeys(dir_.path(), 'd').empty());
}

// Content opened once is kept (keystore.h), looked up by key id and nonce: an envelope whose
// ciphertext or tag differs by one byte from what was opened must still fail to authenticate,
// however often the genuine one was opened before, and the genuine one still opens.
TEST_F(ErasureTest, AnAlteredEnvelopeFailsEvenAfterTheGenuineOneWasOpened) {
  Event e = test::Sent("c1", "m1", kSecret, ActorKind::kCustomer);
  e.subject = "+4915112345678";
  ASSERT_OK(ledger_->Append({e}));
  ReadOptions sealed;
  sealed.open_content = false;
  auto raw = ledger_->ReadConversation("c1", 0, sealed);
  ASSERT_OK(raw);
  ASSERT_TRUE((*raw)[0].sealed);
  const SealedContent genuine = *(*raw)[0].sealed;
  for (int i = 0; i < 2; ++i) {
    auto opened = ledger_->Opener().Open("c1", genuine);
    ASSERT_OK(opened);
    ASSERT_TRUE(opened->content);
    EXPECT_EQ(opened->content->text, kSecret);
  }
  for (size_t at : {size_t{0}, genuine.bytes.size() / 2, genuine.bytes.size() - 1}) {
    SealedContent altered = genuine;
    altered.bytes[at] = static_cast<char>(altered.bytes[at] ^ 0x01);
    auto opened = ledger_->Opener().Open("c1", altered);
    ASSERT_FALSE(opened.ok()) << "byte " << at;
    EXPECT_EQ(opened.status().reason(), "content_auth_failed");
  }
  SealedContent truncated = genuine;
  truncated.bytes.pop_back();
  EXPECT_FALSE(ledger_->Opener().Open("c1", truncated).ok());
  SealedContent other_nonce = genuine;
  other_nonce.nonce[0] = static_cast<char>(other_nonce.nonce[0] ^ 0x01);
  EXPECT_FALSE(ledger_->Opener().Open("c1", other_nonce).ok());
  auto again = ledger_->Opener().Open("c1", genuine);
  ASSERT_OK(again);
  EXPECT_EQ(again->content->text, kSecret);
}

TEST_F(ErasureTest, NoViewStoresPlaintext) {
  // The three views fold every event in the same batch; their column families must hold the
  // sealed envelope only. Read back through the views, the text is there.
  Options o;
  o.projections = projections::MakeAll();
  Open(o);
  Event sent = test::Sent("c1", "m1", kSecret, ActorKind::kCustomer);
  Event edit = test::Edited("c1", "m1", std::string(kSecret) + " v2", ActorKind::kCustomer);
  Event note = test::Envelope(EventType::kNoteAdded, "c1", ActorKind::kAgent);
  note.content = Content{std::string("note: ") + kSecret, {}};
  ASSERT_OK(ledger_->Append({sent, edit, note}));
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(30)));
  auto history = projections::History(*ledger_, "c1", {});
  ASSERT_OK(history);
  EXPECT_NE(history->find("PLAINTEXT-MARKER"), std::string::npos);
  auto view = projections::CustomerView(*ledger_, "c1", {});
  ASSERT_OK(view);
  EXPECT_NE(view->find("PLAINTEXT-MARKER v2"), std::string::npos);
  Close();
  EXPECT_TRUE(FilesContaining(dir_.path(), "PLAINTEXT-MARKER").empty());
  // The control: the same with encryption off puts the text in the views' files too.
  o.encrypt_content = false;
  test::TempDir plain;
  o.clock = &clock_;
  auto l = Ledger::Open(plain.path(), o);
  ASSERT_OK(l);
  ASSERT_OK((*l)->Append({sent}));
  l->reset();
  EXPECT_FALSE(FilesContaining(plain.path(), "PLAINTEXT-MARKER").empty());
}

TEST_F(ErasureTest, WithEncryptionOffThePlaintextIsOnDisk) {
  // The control for the searches above: the search does find plaintext that is there.
  Options o;
  o.encrypt_content = false;
  Open(o);
  ASSERT_OK(ledger_->Append({test::Sent("c1", "m1", kSecret)}));
  Close();
  EXPECT_FALSE(FilesContaining(dir_.path(), "PLAINTEXT-MARKER").empty());
}

TEST_F(ErasureTest, RedactionDestroysEveryVersionsKeyAndLeavesNoCopyOnDisk) {
  ASSERT_OK(ledger_->Append({test::Sent("c1", "m1", kSecret), test::Edited("c1", "m1", "v2"),
                             test::Sent("c1", "m2", "keep me")}));
  const Digest root_before = *ledger_->MerkleRoot(3);
  Close();
  const auto wrapped = WrappedKeys(dir_.path(), 'd');
  ASSERT_EQ(wrapped.size(), 3u);
  for (const auto& w : wrapped) EXPECT_FALSE(FilesContaining(dir_.path(), w).empty());
  Open();

  ASSERT_OK(ledger_->Append({test::Redacted("c1", "m1")}));
  auto events = Conversation("c1");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].content_access, ContentAccess::kRedacted);
  EXPECT_FALSE(events[0].content);
  EXPECT_EQ(events[1].content_access, ContentAccess::kRedacted);
  EXPECT_EQ(events[2].content_access, ContentAccess::kOpened);
  EXPECT_EQ(events[2].content->text, "keep me");
  // The log, its hashes and proofs are untouched.
  EXPECT_EQ(*ledger_->MerkleRoot(3), root_before);
  VerifyReport report;
  ASSERT_OK(ledger_->Verify(&report));
  EXPECT_TRUE(report.ok());

  // Searched while the ledger is still open: the command has returned, nothing may remain.
  size_t remaining = 0;
  for (const auto& w : wrapped) remaining += FilesContaining(dir_.path(), w).size();
  EXPECT_EQ(remaining, 1u) << "only m2's key may remain";
  Close();
  const auto after = WrappedKeys(dir_.path(), 'd');
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(std::find(wrapped.begin(), wrapped.end(), after[0]), wrapped.end());
}

TEST_F(ErasureTest, EraseSubjectErasesEveryConversationAndItsKeyLeavesTheDisk) {
  for (const char* conv : {"c1", "c2"}) {
    Event e = test::Sent(conv, "m1", kSecret, ActorKind::kCustomer);
    e.subject = "cust-1";
    ASSERT_OK(ledger_->Append({e}));
  }
  Event other = test::Sent("c3", "m1", "another customer", ActorKind::kCustomer);
  other.subject = "cust-2";
  ASSERT_OK(ledger_->Append({other}));
  Close();
  const auto subject_keys_before = WrappedKeys(dir_.path(), 's');
  ASSERT_EQ(subject_keys_before.size(), 2u);
  Open();

  EraseRequest req;
  req.tenant = "acme";
  req.subject = "cust-1";
  req.reason = "GDPR art. 17 request #123";
  req.actor = {ActorKind::kAgent, "dpo-1", "Data protection officer"};
  auto report = ledger_->EraseSubject(req);
  ASSERT_OK(report);
  EXPECT_EQ(report->conversations, (std::vector<std::string>{"c1", "c2"}));
  EXPECT_FALSE(report->already_erased);
  EXPECT_GE(report->keys_destroyed, 3u);
  for (const char* conv : {"c1", "c2"}) {
    auto events = Conversation(conv);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].content_access, ContentAccess::kErased);
    EXPECT_EQ(events[1].type, EventType::kSubjectErased);
    EXPECT_EQ(events[1].subject, "cust-1");
    EXPECT_EQ(events[1].reason, "GDPR art. 17 request #123");
    EXPECT_EQ(events[1].actor.id, "dpo-1");
  }
  EXPECT_EQ(Conversation("c3")[0].content->text, "another customer");

  size_t found = 0;
  for (const auto& k : subject_keys_before) found += !FilesContaining(dir_.path(), k).empty();
  EXPECT_EQ(found, 1u) << "only cust-2's subject key may remain on disk";

  auto again = ledger_->EraseSubject(req);
  ASSERT_OK(again);
  EXPECT_TRUE(again->already_erased);

  // The customer writes again: a new key, readable.
  Event back = test::Sent("c1", "m2", "I am back", ActorKind::kCustomer);
  ASSERT_OK(ledger_->Append({back}));
  auto events = Conversation("c1");
  EXPECT_EQ(events.back().content->text, "I am back");
  EXPECT_EQ(events.front().content_access, ContentAccess::kErased);

  VerifyReport vr;
  ASSERT_OK(ledger_->Verify(&vr));
  EXPECT_TRUE(vr.ok());
  auto subjects = ledger_->ListSubjects("acme");
  ASSERT_OK(subjects);
  ASSERT_EQ(subjects->size(), 2u);
  EXPECT_EQ((*subjects)[0].subject, "cust-1");
  EXPECT_EQ((*subjects)[0].conversations.size(), 2u);
}

// Reads cache unwrapped keys (keystore.h); a redaction or an erasure must take them out of the
// cache when it commits, or the same open ledger would keep showing destroyed content.
TEST_F(ErasureTest, KeysCachedByReadsAreForgottenWhenDestroyed) {
  for (const char* conv : {"c1", "c2"}) {
    Event a = test::Sent(conv, "m1", kSecret, ActorKind::kCustomer);
    a.subject = "cust-1";
    Event b = test::Sent(conv, "m2", "second message", ActorKind::kCustomer);
    ASSERT_OK(ledger_->Append({a, b}));
  }
  for (int i = 0; i < 2; ++i)  // the second read is served from the cache
    for (const char* conv : {"c1", "c2"}) {
      auto events = Conversation(conv);
      ASSERT_EQ(events.size(), 2u);
      ASSERT_EQ(events[0].content_access, ContentAccess::kOpened);
      EXPECT_EQ(events[0].content->text, kSecret);
    }

  ASSERT_OK(ledger_->Append({test::Redacted("c1", "m1")}));
  auto c1 = Conversation("c1");
  ASSERT_EQ(c1.size(), 3u);
  EXPECT_EQ(c1[0].content_access, ContentAccess::kRedacted);
  EXPECT_FALSE(c1[0].content);
  EXPECT_EQ(c1[1].content->text, "second message");
  EXPECT_EQ(Conversation("c2")[0].content->text, kSecret);  // not this one

  EraseRequest req;
  req.tenant = "acme";
  req.subject = "cust-1";
  req.reason = "GDPR art. 17 request #124";
  req.actor = {ActorKind::kAgent, "dpo-1", "Data protection officer"};
  ASSERT_OK(ledger_->EraseSubject(req));
  for (const char* conv : {"c1", "c2"})
    for (const Event& e : Conversation(conv))
      if (e.type == EventType::kMessageSent) {
        EXPECT_NE(e.content_access, ContentAccess::kOpened) << conv << " " << e.message_id;
        EXPECT_FALSE(e.content) << conv << " " << e.message_id;
      }

  // The customer writes again: sealed under a new subject key, not a cached old one, so it
  // still opens after a restart (when nothing is cached).
  ASSERT_OK(ledger_->Append({test::Sent("c2", "m3", "I am back", ActorKind::kCustomer)}));
  EXPECT_EQ(Conversation("c2").back().content->text, "I am back");
  Open();
  EXPECT_EQ(Conversation("c2").back().content->text, "I am back");
  EXPECT_EQ(Conversation("c2")[0].content_access, ContentAccess::kErased);
}

TEST_F(ErasureTest, UnknownSubjectAndMissingReasonAreRefused) {
  EraseRequest req;
  req.subject = "nobody";
  req.reason = "x";
  EXPECT_TRUE(StatusIs(ledger_->EraseSubject(req).status(), Status::Code::kNotFound,
                       "subject_not_found"));
  req.reason.clear();
  EXPECT_TRUE(StatusIs(ledger_->EraseSubject(req).status(), Status::Code::kInvalidArgument,
                       "missing_field"));
}

Event Hold(const std::string& conv, HoldAction action, HoldScope scope = HoldScope::kConversation) {
  Event e = test::Envelope(EventType::kLegalHoldChanged, conv, ActorKind::kAgent);
  e.hold = action;
  e.case_ref = "CASE-42";
  e.hold_scope = scope;
  return e;
}

TEST_F(ErasureTest, LegalHoldRefusesRedactionRecordsTheRequestAndAnOverrideApplies) {
  ASSERT_OK(ledger_->Append({test::Sent("c1", "m1", kSecret), Hold("c1", HoldAction::kPlaced)}));
  auto refused = ledger_->Append({test::Redacted("c1", "m1")});
  EXPECT_TRUE(StatusIs(refused.status(), Status::Code::kInvariantViolation, "legal_hold_active"));
  EXPECT_NE(refused.status().message().find("CASE-42"), std::string::npos);
  auto events = Conversation("c1");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].type, EventType::kErasureRefused);
  EXPECT_EQ(events[2].refused, EventType::kMessageRedacted);
  EXPECT_EQ(events[2].message_id, "m1");
  EXPECT_EQ(events[2].case_ref, "CASE-42");
  EXPECT_EQ(events[0].content_access, ContentAccess::kOpened);  // nothing destroyed

  Event forced = test::Redacted("c1", "m1");
  forced.override_hold = true;
  ASSERT_OK(ledger_->Append({forced}));
  events = Conversation("c1");
  EXPECT_EQ(events[0].content_access, ContentAccess::kRedacted);
  EXPECT_TRUE(events.back().override_hold);
}

TEST_F(ErasureTest, ReleasingTheHoldDoesNotApplyRefusedRequestsButAllowsNewOnes) {
  ASSERT_OK(ledger_->Append({test::Sent("c1", "m1", kSecret), Hold("c1", HoldAction::kPlaced)}));
  EXPECT_FALSE(ledger_->Append({test::Redacted("c1", "m1")}).ok());
  ASSERT_OK(ledger_->Append({Hold("c1", HoldAction::kReleased)}));
  EXPECT_EQ(Conversation("c1")[0].content_access, ContentAccess::kOpened);
  ASSERT_OK(ledger_->Append({test::Redacted("c1", "m1")}));
  EXPECT_EQ(Conversation("c1")[0].content_access, ContentAccess::kRedacted);
}

TEST_F(ErasureTest, SubjectHoldRefusesErasureOfEveryConversation) {
  for (const char* conv : {"c1", "c2"}) {
    Event e = test::Sent(conv, "m1", kSecret, ActorKind::kCustomer);
    e.subject = "cust-1";
    ASSERT_OK(ledger_->Append({e}));
  }
  ASSERT_OK(ledger_->Append({Hold("c1", HoldAction::kPlaced, HoldScope::kSubject)}));
  EraseRequest req;
  req.tenant = "acme";
  req.subject = "cust-1";
  req.reason = "GDPR";
  EXPECT_TRUE(StatusIs(ledger_->EraseSubject(req).status(), Status::Code::kInvariantViolation,
                       "legal_hold_active"));
  for (const char* conv : {"c1", "c2"}) {
    auto events = Conversation(conv);
    EXPECT_EQ(events.front().content_access, ContentAccess::kOpened);
    EXPECT_EQ(events.back().type, EventType::kErasureRefused) << conv;
    EXPECT_EQ(events.back().refused, EventType::kSubjectErased);
  }
  auto subjects = ledger_->ListSubjects();
  ASSERT_OK(subjects);
  ASSERT_EQ(subjects->size(), 1u);
  EXPECT_TRUE((*subjects)[0].held);

  req.override_hold = true;
  ASSERT_OK(ledger_->EraseSubject(req));
  EXPECT_EQ(Conversation("c2").front().content_access, ContentAccess::kErased);
  EXPECT_TRUE(Conversation("c2").back().override_hold);
}

TEST_F(ErasureTest, WrongMasterKeyFailsAtOpenWithoutShowingAKey) {
  ASSERT_OK(ledger_->Append({test::Sent("c1", "m1", kSecret)}));
  Close();
  std::ifstream in(dir_.path() + "/keys/master.key");
  std::string real_hex;
  in >> real_hex;
  ASSERT_EQ(real_hex.size(), 64u);
  EXPECT_EQ(std::filesystem::status(dir_.path() + "/keys/master.key").permissions() &
                std::filesystem::perms::group_all,
            std::filesystem::perms::none);
  Options o;
  o.clock = &clock_;
  o.master_key = std::string(32, '\x07');
  auto l = Ledger::Open(dir_.path(), o);
  EXPECT_TRUE(StatusIs(l.status(), Status::Code::kCorruption, "wrong_master_key"));
  EXPECT_EQ(l.status().message().find(real_hex), std::string::npos);
  EXPECT_EQ(l.status().message().find(std::string(32, '\x07')), std::string::npos);
  o.master_key = "short";
  EXPECT_TRUE(StatusIs(Ledger::Open(dir_.path(), o).status(), Status::Code::kInvalidArgument,
                       "bad_master_key"));
}

TEST_F(ErasureTest, EvidenceBodiesAreSealedAndGoWithTheRedaction) {
  const std::string body = std::string(R"({"text":")") + kSecret + "\"}";
  Event e = test::Sent("c1", "m1", kSecret, ActorKind::kCustomer);
  e.evidence = Sha(body);
  AppendOptions ao;
  ao.evidence.push_back(EvidenceDelivery{body, "whatsapp", 1, true});
  ASSERT_OK(ledger_->Append({e}, ao));
  auto got = ledger_->GetEvidence(e.evidence);
  ASSERT_OK(got);
  EXPECT_EQ(got->body, body);
  EXPECT_EQ(got->body_access, ContentAccess::kOpened);
  Close();
  EXPECT_TRUE(FilesContaining(dir_.path(), "PLAINTEXT-MARKER").empty());
  Open();
  Event r = test::Redacted("c1", "m1", ActorKind::kCustomer);
  ASSERT_OK(ledger_->Append({r}));
  got = ledger_->GetEvidence(e.evidence);
  ASSERT_OK(got);
  EXPECT_EQ(got->body_access, ContentAccess::kErased);
  EXPECT_TRUE(got->body.empty());
  EXPECT_EQ(got->deliveries.size(), 1u);
  // A redelivery of the same body does not bring it back.
  ASSERT_OK(ledger_->Append({}, ao));
  EXPECT_EQ(ledger_->GetEvidence(e.evidence)->body_access, ContentAccess::kErased);
}

TEST_F(ErasureTest, ReservedTypesAndSubjectMismatchAreRefused) {
  Event erased = test::Envelope(EventType::kSubjectErased, "c1", ActorKind::kAgent);
  erased.subject = "x";
  erased.reason = "y";
  EXPECT_TRUE(StatusIs(ledger_->Append({erased}).status(), Status::Code::kInvalidArgument,
                       "reserved_event_type"));
  Event a = test::Sent("c1", "m1");
  a.subject = "alice";
  ASSERT_OK(ledger_->Append({a}));
  Event b = test::Sent("c1", "m2");
  b.subject = "bob";
  EXPECT_TRUE(StatusIs(ledger_->Append({b}).status(), Status::Code::kInvalidArgument,
                       "subject_mismatch"));
  b.subject = "alice";
  ASSERT_OK(ledger_->Append({b}));
  b.subject.clear();
  b.message_id = "m3";
  ASSERT_OK(ledger_->Append({b}));
}

TEST_F(ErasureTest, SealedRetriesAreDuplicatesNotConflicts) {
  Event e = test::Sent("c1", "m1", kSecret);
  e.idempotency_key = "k1";
  e.subject = "alice";
  auto first = ledger_->Append({e});
  ASSERT_OK(first);
  auto again = ledger_->Append({e});
  ASSERT_OK(again);
  EXPECT_TRUE((*again)[0].duplicate);
  EXPECT_EQ((*again)[0].global_seq, (*first)[0].global_seq);
  e.content->text = "different";
  EXPECT_TRUE(StatusIs(ledger_->Append({e}).status(), Status::Code::kIdempotencyConflict));
}

}  // namespace
}  // namespace convledger
