// Sealed content (crypto-shredding, issue 6) in the projections: state keeps ciphertext only,
// rendering opens it through a ContentOpener, and redaction, erasure, refusals and holds show
// as the README documents. Events are built by hand and sealed by a deterministic fake (the
// ledger's real sealing is not needed to test the folds).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "ledger/content.h"
#include "ledger/test_util.h"
#include "ledger/time.h"
#include "projections/projections.h"

namespace convledger::projections {
namespace {

using nlohmann::json;

constexpr int64_t kT0 = test::FixedClock::kStart;
constexpr int64_t kSec = 1000000;
constexpr int64_t kMin = 60 * kSec;

// A keyring standing in for the ledger's `keys` column family: Seal moves an event's content
// into an envelope whose bytes are the plaintext scrambled (so no plaintext substring is left),
// Open gives it back unless its key was destroyed.
class FakeOpener final : public ContentOpener {
 public:
  // Seals e's content (and template parameters) as the ledger does on append.
  void Seal(Event* e) {
    Stored s;
    if (e->content) s.content = *e->content;
    if (e->template_) {
      s.params = e->template_->parameters;
      e->template_->parameters.clear();
    }
    SealedContent sc;
    sc.sealing = Sealing::kAes256Gcm;
    sc.key_id = "dk-" + std::to_string(++next_);
    sc.nonce = std::string(12, '\x07');
    std::string plain = s.content ? s.content->text : std::string();
    for (const std::string& p : s.params) plain += "|" + p;
    for (char& c : plain) c = static_cast<char>(c ^ 0x5a);
    sc.bytes = plain + std::string(16, '\x01');  // "ciphertext || tag"
    keys_[sc.key_id] = std::move(s);
    subject_of_[sc.key_id] = subject_epoch_;
    e->content.reset();
    e->sealed = std::move(sc);
    e->content_sealing = Sealing::kAes256Gcm;
    e->content_access = ContentAccess::kSealed;
  }
  // The message.redacted of the message whose content `key_id` sealed.
  void Redact(const std::string& key_id) { redacted_.insert(key_id); }
  // subject.erased: every key issued so far becomes unopenable; later ones use a new subject key.
  void EraseSubject() { erased_epochs_.insert(subject_epoch_++); }
  void FailOn(const std::string& key_id) { failing_.insert(key_id); }
  int opens() const { return opens_; }

  Result<OpenedContent> Open(std::string_view, const SealedContent& sealed) override {
    ++opens_;
    if (failing_.count(sealed.key_id))
      return Status::Corruption("content_auth_failed", "tag mismatch");
    auto it = keys_.find(sealed.key_id);
    if (it == keys_.end()) return Status::Corruption("unknown_key", "no such key");
    OpenedContent o;
    if (erased_epochs_.count(subject_of_[sealed.key_id])) {
      o.access = ContentAccess::kErased;
      return o;
    }
    if (redacted_.count(sealed.key_id)) {
      o.access = ContentAccess::kRedacted;
      return o;
    }
    o.access = ContentAccess::kOpened;
    o.content = it->second.content;
    o.template_parameters = it->second.params;
    return o;
  }

 private:
  struct Stored {
    std::optional<Content> content;
    std::vector<std::string> params;
  };
  int next_ = 0;
  int subject_epoch_ = 0;
  int opens_ = 0;
  std::map<std::string, Stored> keys_;
  std::map<std::string, int> subject_of_;
  std::set<std::string> redacted_, failing_;
  std::set<int> erased_epochs_;
};

class Log {
 public:
  const Event& Add(Event e, int64_t at) {
    e.global_seq = ++global_;
    e.conversation_seq = ++conv_seq_[e.conversation_id];
    e.occurred_at_us = kT0 + at;
    e.recorded_at_us = kT0 + static_cast<int64_t>(global_) * kSec;
    if (e.subject.empty() && e.conversation_seq == 1) e.subject = "cust-" + e.conversation_id;
    events_.push_back(std::move(e));
    return events_.back();
  }
  const std::vector<Event>& events() const { return events_; }

 private:
  uint64_t global_ = 0;
  std::map<std::string, uint64_t> conv_seq_;
  std::vector<Event> events_;
};

Event Sealed(FakeOpener& keys, Event e) {
  keys.Seal(&e);
  return e;
}

Event TemplateSend(std::string conv, std::string id, std::vector<std::string> params) {
  Event e = test::Sent(std::move(conv), std::move(id), "SECRET template body");
  e.template_ = convledger::Template{"order_update", "en", "utility", std::move(params)};
  return e;
}

Event Erased(std::string conv, bool override_hold = false) {
  Event e = test::Envelope(EventType::kSubjectErased, std::move(conv), ActorKind::kSystem);
  e.subject = "cust-c1";
  e.reason = "GDPR art. 17 request #42";
  e.override_hold = override_hold;
  return e;
}

Event Refused(std::string conv, EventType what, std::string message_id = "") {
  Event e = test::Envelope(EventType::kErasureRefused, std::move(conv), ActorKind::kAgent);
  e.subject = "cust-c1";
  e.refused = what;
  e.message_id = std::move(message_id);
  e.reason = "customer asked";
  e.case_ref = "CASE-7";
  return e;
}

struct States {
  MemoryState history, view, analytics;
};

void FoldAll(const std::vector<Event>& events, States* s) {
  auto h = MakeHistory();
  auto v = MakeCustomerView();
  auto a = MakeAnalytics();
  for (const Event& e : events) {
    ASSERT_TRUE(h->Apply(e, s->history).ok());
    ASSERT_TRUE(v->Apply(e, s->view).ok());
    ASSERT_TRUE(a->Apply(e, s->analytics).ok());
    s->history.set_checkpoint(e.global_seq);
    s->view.set_checkpoint(e.global_seq);
    s->analytics.set_checkpoint(e.global_seq);
  }
}

json Parse(const Result<std::string>& r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return json();
  json j = json::parse(*r, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << *r;
  // Compact, sorted keys: what nlohmann writes for the same value.
  EXPECT_EQ(j.dump(), *r);
  return j;
}

json HistoryOf(States& s, ContentOpener* opener, const std::string& conv = "c1") {
  return Parse(RenderHistory(s.history, conv, opener));
}
json ViewOf(States& s, ContentOpener* opener, const std::string& conv = "c1") {
  return Parse(RenderCustomerView(s.view, conv, opener));
}
json AnalyticsOf(States& s) { return Parse(RenderAnalytics(s.analytics, {})); }

json Msg(const json& doc, const std::string& id) {
  for (const json& m : doc["messages"])
    if (m["message_id"] == id) return m;
  ADD_FAILURE() << "no message " << id;
  return json();
}

void ExpectNoPlaintext(const MemoryState& state, const std::string& what) {
  for (const auto& [k, v] : state.data()) {
    EXPECT_EQ(v.find("SECRET"), std::string::npos) << what << " key " << k;
    EXPECT_EQ(k.find("SECRET"), std::string::npos) << what << " key " << k;
  }
}

class SealedTest : public ::testing::Test {
 protected:
  FakeOpener keys_;
  Log log_;
};

TEST_F(SealedTest, StateHoldsCiphertextOnlyAndRenderOpensIt) {
  log_.Add(Sealed(keys_, test::Sent("c1", "m1", "SECRET hello", ActorKind::kCustomer)), 0);
  log_.Add(Sealed(keys_, TemplateSend("c1", "m2", {"SECRET order 991", "SECRET Friday"})), kMin);
  Event media = test::Sent("c1", "m3", "SECRET caption text");
  media.content->media.push_back(Media{"image/jpeg", 1234, "ab12", "SECRET caption", "ref", "SECRET.jpg"});
  log_.Add(Sealed(keys_, media), 2 * kMin);
  log_.Add(Sealed(keys_, test::Edited("c1", "m1", "SECRET hello again", ActorKind::kCustomer)),
           3 * kMin);
  log_.Add(Sealed(keys_, test::Note("c1", "SECRET note: VIP")), 4 * kMin);
  States s;
  FoldAll(log_.events(), &s);
  ExpectNoPlaintext(s.history, "history");
  ExpectNoPlaintext(s.view, "customer_view");
  ExpectNoPlaintext(s.analytics, "analytics");

  // With the opener: the content as it was sent.
  const json h = HistoryOf(s, &keys_);
  EXPECT_EQ(Msg(h, "m1")["versions"][0]["content"]["text"], "SECRET hello");
  EXPECT_EQ(Msg(h, "m1")["versions"][1]["content"]["text"], "SECRET hello again");
  EXPECT_EQ(Msg(h, "m1")["current_content"]["text"], "SECRET hello again");
  EXPECT_EQ(Msg(h, "m2")["original"]["template"]["parameters"],
            json({"SECRET order 991", "SECRET Friday"}));
  EXPECT_EQ(Msg(h, "m2")["original"]["template"]["parameters_sealed"], true);
  EXPECT_EQ(Msg(h, "m3")["current_content"]["media"][0]["caption"], "SECRET caption");
  EXPECT_EQ(Msg(h, "m3")["current_content"]["media"][0]["size"], 1234);
  EXPECT_EQ(h["notes"][0]["content"]["text"], "SECRET note: VIP");
  // The timeline never mentions content (not even how many media).
  EXPECT_EQ(h["timeline"].dump().find("SECRET"), std::string::npos);

  const json v = ViewOf(s, &keys_);
  EXPECT_EQ(Msg(v, "m1")["text"], "SECRET hello again");
  EXPECT_EQ(Msg(v, "m1")["edited"], true);
  EXPECT_EQ(Msg(v, "m1")["redacted"], false);
  EXPECT_EQ(Msg(v, "m2")["template"]["parameters"], json({"SECRET order 991", "SECRET Friday"}));
  EXPECT_FALSE(Msg(v, "m2")["template"].contains("sealed"));
  EXPECT_EQ(Msg(v, "m3")["media"][0]["filename"], "SECRET.jpg");
  EXPECT_EQ(ViewOf(s, &keys_).dump().find("\"sealed\""), std::string::npos);

  // Without one: sealed, as before.
  const json h0 = HistoryOf(s, nullptr);
  EXPECT_EQ(Msg(h0, "m1")["versions"][0]["content"], json({{"sealed", true}}));
  EXPECT_EQ(Msg(h0, "m2")["original"]["template"]["parameters"], json::array());
  EXPECT_EQ(h0["notes"][0]["content"], json({{"sealed", true}}));
  EXPECT_EQ(h0.dump().find("SECRET"), std::string::npos);
  const json v0 = ViewOf(s, nullptr);
  EXPECT_EQ(Msg(v0, "m1")["placeholder"], "[redacted]");
  EXPECT_EQ(Msg(v0, "m1")["redacted"], true);
  EXPECT_EQ(v0.dump().find("SECRET"), std::string::npos);
  EXPECT_EQ(v0.dump().find("\"sealed\""), std::string::npos);
}

// Opening in place (RenderCustomerView's splice of each fragment, or its general path) gives
// exactly what the same log with plaintext content renders, byte for byte: plain and template
// sends (parameters and content from one envelope), media, text with quotes and commas that
// look like keys, edits, replies, reactions, deletions, corrections and statuses.
TEST_F(SealedTest, SealedAndPlainLogsRenderTheSameCustomerView) {
  std::vector<Event> plain;
  Event media = test::Sent("c1", "m3", "SECRET caption text");
  media.content->media.push_back(
      Media{"image/jpeg", 1234, "ab12", "SECRET caption", "ref", "SECRET.jpg"});
  Event reply = test::Sent("c1", "m5", R"(SECRET ,"sealed":"x","template":{ and "message_id":)",
                           ActorKind::kCustomer);
  reply.reply_to = "m1";
  Event only_params = TemplateSend("c1", "m7", {"SECRET only", "SECRET params"});
  only_params.content.reset();
  plain = {test::Sent("c1", "m1", "SECRET hello", ActorKind::kCustomer),
           TemplateSend("c1", "m2", {"SECRET order 991", "SECRET Friday"}),
           media,
           test::Edited("c1", "m1", "SECRET hello again", ActorKind::kCustomer),
           test::StatusOf("c1", "m2", Delivery::kRead),
           test::Sent("c1", "m4", "SECRET price 2 EUR"),
           test::Corrected("c1", "m4", "m6"),
           test::Deleted("c1", "m4"),
           test::Sent("c1", "m6", "SECRET price 20 EUR"),
           reply,
           test::ReactionTo("c1", "m5"),
           only_params,
           TemplateSend("c1", "m8", {})};
  Log plain_log, sealed_log;
  for (size_t i = 0; i < plain.size(); ++i) {
    plain_log.Add(plain[i], static_cast<int64_t>(i) * kMin);
    Event e = plain[i];
    if (e.content || (e.template_ && !e.template_->parameters.empty())) keys_.Seal(&e);
    sealed_log.Add(e, static_cast<int64_t>(i) * kMin);
  }
  States p, s;
  FoldAll(plain_log.events(), &p);
  FoldAll(sealed_log.events(), &s);
  ExpectNoPlaintext(s.view, "customer_view");
  Result<std::string> want = RenderCustomerView(p.view, "c1", nullptr);
  Result<std::string> got = RenderCustomerView(s.view, "c1", &keys_);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, *want);
  EXPECT_NE(want->find("SECRET Friday"), std::string::npos);
  EXPECT_NE(want->find("SECRET params"), std::string::npos);
}

TEST_F(SealedTest, AnEventOpenedBeforeTheFoldStillStoresOnlyCiphertext) {
  // OpenEvent keeps `sealed` beside the plaintext it fills in: the folds must use the envelope.
  Event send = Sealed(keys_, TemplateSend("c1", "m1", {"SECRET p1"}));
  ASSERT_TRUE(OpenEvent(keys_, &send).ok());
  ASSERT_TRUE(send.content.has_value());
  ASSERT_EQ(send.template_->parameters, std::vector<std::string>{"SECRET p1"});
  log_.Add(send, 0);
  Event note = Sealed(keys_, test::Note("c1", "SECRET note"));
  ASSERT_TRUE(OpenEvent(keys_, &note).ok());
  log_.Add(note, kMin);
  States s;
  FoldAll(log_.events(), &s);
  ExpectNoPlaintext(s.history, "history");
  ExpectNoPlaintext(s.view, "customer_view");
  EXPECT_EQ(Msg(ViewOf(s, &keys_), "m1")["template"]["parameters"], json({"SECRET p1"}));
  EXPECT_EQ(HistoryOf(s, &keys_)["notes"][0]["content"]["text"], "SECRET note");
}

TEST_F(SealedTest, RedactionShowsWhoWhenWhyAndTheOverrideFlag) {
  const Event& sent = log_.Add(Sealed(keys_, test::Sent("c1", "m1", "SECRET card 4111")), 0);
  keys_.Redact(sent.sealed->key_id);
  log_.Add(Sealed(keys_, test::Sent("c1", "m2", "SECRET still here")), kMin);
  Event red = test::Redacted("c1", "m1");
  red.override_hold = true;
  log_.Add(red, 2 * kMin);
  States s;
  FoldAll(log_.events(), &s);
  ExpectNoPlaintext(s.history, "history");

  const json h = HistoryOf(s, &keys_);
  const json m = Msg(h, "m1");
  EXPECT_EQ(m["current_content"]["text"], "[redacted]");
  EXPECT_EQ(m["current_content"]["redacted"], true);
  const json& by = m["current_content"]["removed_by"];
  EXPECT_EQ(by["actor"]["id"], "agent-1");
  EXPECT_EQ(by["reason"], "card number sent by mistake");
  EXPECT_EQ(by["occurred_at"], FormatRfc3339(kT0 + 2 * kMin));
  EXPECT_EQ(by["type"], "message.redacted");
  EXPECT_EQ(by["override_hold"], true);
  EXPECT_EQ(m["redactions"][0]["override_hold"], true);
  bool flagged = false;
  for (const json& f : h["flags"]) flagged |= f["type"] == "redacted_despite_hold";
  EXPECT_TRUE(flagged);
  EXPECT_EQ(Msg(h, "m2")["current_content"]["text"], "SECRET still here");
  EXPECT_NE(h["timeline"].dump().find("redacted despite a legal hold"), std::string::npos);

  const json v = ViewOf(s, &keys_);
  EXPECT_EQ(Msg(v, "m1")["placeholder"], "[redacted]");
  EXPECT_EQ(Msg(v, "m2")["text"], "SECRET still here");

  const json a = AnalyticsOf(s);
  EXPECT_EQ(a["totals"]["redactions"], 1);
  EXPECT_EQ(a["totals"]["redactions_despite_hold"], 1);
}

TEST_F(SealedTest, OpenerSaysRedactedBeforeTheFoldKnows) {
  // An as-of view cut before the redaction: the key is gone now, who/when/why not known yet.
  const Event& sent = log_.Add(Sealed(keys_, test::Sent("c1", "m1", "SECRET x")), 0);
  keys_.Redact(sent.sealed->key_id);
  States s;
  FoldAll(log_.events(), &s);
  const json h = HistoryOf(s, &keys_);
  EXPECT_EQ(Msg(h, "m1")["current_content"]["text"], "[redacted]");
  EXPECT_TRUE(Msg(h, "m1")["current_content"]["removed_by"].is_null());
  EXPECT_EQ(Msg(ViewOf(s, &keys_), "m1")["placeholder"], "[redacted]");
}

TEST_F(SealedTest, ErasureHidesWhatCameBeforeItOnly) {
  log_.Add(Sealed(keys_, test::Sent("c1", "m1", "SECRET old 1", ActorKind::kCustomer)), 0);
  log_.Add(Sealed(keys_, test::Sent("c1", "m2", "SECRET old 2")), kMin);
  log_.Add(Sealed(keys_, test::Note("c1", "SECRET old note")), 2 * kMin);
  keys_.EraseSubject();
  log_.Add(Erased("c1"), 3 * kMin);
  // The customer writes again: sealed under a new subject key.
  log_.Add(Sealed(keys_, test::Sent("c1", "m3", "SECRET new", ActorKind::kCustomer)), 4 * kMin);
  States s;
  FoldAll(log_.events(), &s);
  ExpectNoPlaintext(s.history, "history");
  ExpectNoPlaintext(s.view, "customer_view");

  const int before = keys_.opens();
  const json h = HistoryOf(s, &keys_);
  EXPECT_EQ(keys_.opens() - before, 1) << "erased content needs no key";
  for (const char* id : {"m1", "m2"}) {
    const json c = Msg(h, id)["versions"][0]["content"];
    EXPECT_EQ(c["text"], "[erased]") << id;
    EXPECT_EQ(c["erased"], true) << id;
    EXPECT_EQ(c["removed_by"]["type"], "subject.erased");
    EXPECT_EQ(c["removed_by"]["reason"], "GDPR art. 17 request #42");
    EXPECT_EQ(c["removed_by"]["actor"]["kind"], "system");
    EXPECT_EQ(c["removed_by"]["conversation_seq"], 4);
  }
  EXPECT_EQ(h["notes"][0]["content"]["text"], "[erased]");
  EXPECT_EQ(Msg(h, "m3")["current_content"]["text"], "SECRET new");
  ASSERT_EQ(h["erasures"].size(), 1u);
  EXPECT_EQ(h["erasures"][0]["subject"], "cust-c1");
  EXPECT_EQ(h["erasures"][0]["override_hold"], false);
  EXPECT_EQ(h["erasures"][0]["occurred_at"], FormatRfc3339(kT0 + 3 * kMin));
  EXPECT_EQ(h["subject"], "cust-c1");
  // Without an opener the fold still knows which content was erased.
  EXPECT_EQ(Msg(HistoryOf(s, nullptr), "m1")["current_content"],
            json({{"erased", true}, {"sealed", true}}));

  const json v = ViewOf(s, &keys_);
  ASSERT_EQ(v["messages"].size(), 3u);
  for (const char* id : {"m1", "m2"}) {
    EXPECT_EQ(Msg(v, id)["placeholder"], "[redacted]") << id;
    EXPECT_EQ(Msg(v, id)["redacted"], true) << id;
    EXPECT_FALSE(Msg(v, id).contains("text")) << id;
  }
  EXPECT_EQ(Msg(v, "m3")["text"], "SECRET new");
  EXPECT_EQ(Msg(v, "m3")["redacted"], false);
  EXPECT_EQ(v.dump().find("erase"), std::string::npos) << "internal events are never shown";

  const json a = AnalyticsOf(s);
  EXPECT_EQ(a["totals"]["erasures"], 1);
  EXPECT_EQ(a["tenants"][0]["days"][0]["erasures"], 1);
}

TEST_F(SealedTest, ErasureOfPlaintextContentShowsErasedToo) {
  // A ledger written without encryption: the content is plaintext, hidden at render time.
  log_.Add(test::Sent("c1", "m1", "old plain"), 0);
  log_.Add(Erased("c1", /*override_hold=*/true), kMin);
  log_.Add(test::Sent("c1", "m2", "new plain"), 2 * kMin);
  States s;
  FoldAll(log_.events(), &s);
  const json h = HistoryOf(s, nullptr);
  EXPECT_EQ(Msg(h, "m1")["current_content"]["text"], "[erased]");
  EXPECT_EQ(Msg(h, "m1")["current_content"]["removed_by"]["override_hold"], true);
  EXPECT_EQ(Msg(h, "m2")["current_content"]["text"], "new plain");
  EXPECT_EQ(h.dump().find("old plain"), std::string::npos);
  const json v = ViewOf(s, nullptr);
  EXPECT_EQ(Msg(v, "m1")["placeholder"], "[redacted]");
  EXPECT_EQ(Msg(v, "m2")["text"], "new plain");
  EXPECT_EQ(v.dump().find("old plain"), std::string::npos);
  EXPECT_EQ(AnalyticsOf(s)["totals"]["erasures_despite_hold"], 1);
}

TEST_F(SealedTest, RefusedRequestsStayPendingUntilApplied) {
  log_.Add(Sealed(keys_, test::Sent("c1", "m1", "SECRET a")), 0);
  Event hold = test::HoldEv("c1");
  hold.case_ref = "CASE-7";
  hold.hold_scope = HoldScope::kSubject;
  log_.Add(hold, kMin);
  log_.Add(Refused("c1", EventType::kMessageRedacted, "m1"), 2 * kMin);
  log_.Add(Refused("c1", EventType::kSubjectErased), 3 * kMin);
  Event release = test::HoldEv("c1", HoldAction::kReleased);
  release.case_ref = "CASE-7";
  release.hold_scope = HoldScope::kSubject;
  log_.Add(release, 4 * kMin);
  States s;
  FoldAll(log_.events(), &s);

  json h = HistoryOf(s, &keys_);
  EXPECT_EQ(h["legal_holds"][0]["scope"], "subject");
  EXPECT_TRUE(h["legal_holds_active"].empty());
  ASSERT_EQ(h["refused_requests"].size(), 2u);
  const json& r0 = h["refused_requests"][0];
  EXPECT_EQ(r0["requested"], "message.redacted");
  EXPECT_EQ(r0["message_id"], "m1");
  EXPECT_EQ(r0["case_ref"], "CASE-7");
  EXPECT_EQ(r0["reason"], "customer asked");
  EXPECT_EQ(r0["actor"]["id"], "agent-1");
  EXPECT_EQ(r0["status"], "pending");
  EXPECT_TRUE(r0["applied_by"].is_null());
  EXPECT_EQ(h["refused_requests"][1]["requested"], "subject.erased");
  EXPECT_TRUE(h["refused_requests"][1]["message_id"].is_null());
  // Releasing the hold applies nothing by itself.
  EXPECT_EQ(Msg(h, "m1")["current_content"]["text"], "SECRET a");
  json a = AnalyticsOf(s);
  EXPECT_EQ(a["totals"]["redactions_refused"], 1);
  EXPECT_EQ(a["totals"]["erasures_refused"], 1);
  EXPECT_EQ(a["totals"]["refused_pending"], 2);
  EXPECT_EQ(a["tenants"][0]["agents"][0]["refused_pending"], 2);

  // A later redaction applies the refused redaction; the erasure stays pending.
  log_.Add(test::Redacted("c1", "m1"), 5 * kMin);
  States s2;
  FoldAll(log_.events(), &s2);
  h = HistoryOf(s2, &keys_);
  EXPECT_EQ(h["refused_requests"][0]["status"], "applied");
  EXPECT_EQ(h["refused_requests"][0]["applied_by"]["type"], "message.redacted");
  EXPECT_EQ(h["refused_requests"][1]["status"], "pending");
  a = AnalyticsOf(s2);
  EXPECT_EQ(a["totals"]["refused_pending"], 1);
  EXPECT_EQ(a["tenants"][0]["days"][0]["refused_pending"], 1);

  // An erasure applies everything left.
  log_.Add(Erased("c1"), 6 * kMin);
  States s3;
  FoldAll(log_.events(), &s3);
  h = HistoryOf(s3, &keys_);
  EXPECT_EQ(h["refused_requests"][1]["status"], "applied");
  EXPECT_EQ(h["refused_requests"][1]["applied_by"]["type"], "subject.erased");
  EXPECT_EQ(AnalyticsOf(s3)["totals"]["refused_pending"], 0);
  EXPECT_NE(h["timeline"].dump().find("redaction refused (legal hold CASE-7)"), std::string::npos);
  EXPECT_EQ(ViewOf(s3, &keys_).dump().find("CASE-7"), std::string::npos);
}

TEST_F(SealedTest, OpenerErrorFailsTheRender) {
  const Event& sent = log_.Add(Sealed(keys_, test::Sent("c1", "m1", "SECRET a")), 0);
  keys_.FailOn(sent.sealed->key_id);
  States s;
  FoldAll(log_.events(), &s);
  auto h = RenderHistory(s.history, "c1", &keys_);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().reason(), "content_auth_failed");
  auto v = RenderCustomerView(s.view, "c1", &keys_);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().reason(), "content_auth_failed");
  // Without an opener nothing is opened, nothing fails.
  EXPECT_TRUE(RenderHistory(s.history, "c1", nullptr).ok());
}

TEST_F(SealedTest, OneConversationAloneGivesItsPartOfTheState) {
  log_.Add(Sealed(keys_, test::Sent("c1", "m1", "SECRET a")), 0);
  log_.Add(Sealed(keys_, test::Sent("c2", "m1", "SECRET b")), 0);
  log_.Add(Refused("c1", EventType::kSubjectErased), kMin);
  log_.Add(Erased("c2"), 2 * kMin);
  log_.Add(Erased("c1"), 3 * kMin);
  States all;
  FoldAll(log_.events(), &all);
  for (const std::string conv : {"c1", "c2"}) {
    std::vector<Event> only;
    for (const Event& e : log_.events())
      if (e.conversation_id == conv) only.push_back(e);
    States one;
    FoldAll(only, &one);
    for (auto [a, b] : {std::pair{&all.history, &one.history}, {&all.view, &one.view}}) {
      const std::string prefix = ConversationStatePrefix(conv);
      std::map<std::string, std::string> part;
      for (const auto& [k, v] : a->data())
        if (k.compare(0, prefix.size(), prefix) == 0) part[k] = v;
      EXPECT_EQ(part, (std::map<std::string, std::string>(b->data().begin(), b->data().end())))
          << conv;
    }
  }
}

}  // namespace
}  // namespace convledger::projections
