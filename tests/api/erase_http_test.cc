// Erasure over HTTP (issue 6): POST /v1/subjects/{id}/erase, legal holds as 423, override_hold
// for admins only, erased and redacted content in every read, evidence 410 after a redaction, the
// subject on webhook-mapped events, and no plaintext or key material in errors or logs.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "http_test_util.h"

namespace convledger::api::test {
namespace {

constexpr char kSecretText[] = "my IBAN is DE89 3704 0044 0532 0130 00";
constexpr char kAppSecret[] = "5e6b0c1d9a8f4e27b3c2d1a0f9e8d7c6";  // acme's, in TestConfig()
constexpr char kPhoneId[] = "210987654321098";
constexpr char kPageId[] = "104857600000001";

std::string Sign(const std::string& body) {
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kAppSecret, static_cast<int>(sizeof(kAppSecret) - 1),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static const char* hex = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 15];
  }
  return out;
}

// A WhatsApp Cloud API body: one text message from `wa_id`.
std::string WaMessage(const std::string& wa_id, const std::string& wamid, const std::string& text) {
  json msg{{"from", wa_id}, {"id", wamid}, {"timestamp", "1763629092"}, {"type", "text"},
           {"text", {{"body", text}}}};
  json value{{"messaging_product", "whatsapp"},
             {"metadata", {{"display_phone_number", "15550001111"}, {"phone_number_id", kPhoneId}}},
             {"contacts", json::array({{{"profile", {{"name", "Anna"}}}, {"wa_id", wa_id}}})},
             {"messages", json::array({msg})}};
  json body{{"object", "whatsapp_business_account"},
            {"entry", json::array({{{"id", "109876543210987"},
                                    {"changes", json::array({{{"field", "messages"},
                                                              {"value", value}}})}}})}};
  return body.dump();
}

// A WhatsApp status for a message the business sent to `wa_id`.
std::string WaStatus(const std::string& wa_id, const std::string& wamid, const std::string& status) {
  json st{{"id", wamid}, {"status", status}, {"timestamp", "1763629000"}, {"recipient_id", wa_id}};
  json value{{"messaging_product", "whatsapp"},
             {"metadata", {{"display_phone_number", "15550001111"}, {"phone_number_id", kPhoneId}}},
             {"statuses", json::array({st})}};
  json body{{"object", "whatsapp_business_account"},
            {"entry", json::array({{{"id", "109876543210987"},
                                    {"changes", json::array({{{"field", "messages"},
                                                              {"value", value}}})}}})}};
  return body.dump();
}

std::string FbMessage(const std::string& psid, const std::string& mid, const std::string& text) {
  json item{{"sender", {{"id", psid}}},
            {"recipient", {{"id", kPageId}}},
            {"timestamp", 1763629092000ULL},
            {"message", {{"mid", mid}, {"text", text}}}};
  json body{{"object", "page"},
            {"entry", json::array({{{"id", kPageId}, {"time", 1763629092000ULL},
                                    {"messaging", json::array({item})}}})}};
  return body.dump();
}

// A customer's message with an explicit subject.
std::string CustomerSent(const std::string& conv, const std::string& msg, const std::string& text,
                         const std::string& subject) {
  return json{{"type", "message.sent"},
              {"conversation_id", conv},
              {"message_id", msg},
              {"direction", "inbound"},
              {"channel", "whatsapp"},
              {"subject", subject},
              {"actor", {{"kind", "customer"}, {"id", subject}}},
              {"content", {{"text", text}}}}
      .dump();
}

std::string Hold(const std::string& conv, const std::string& action, const std::string& case_ref) {
  return json{{"type", "legal_hold.changed"}, {"conversation_id", conv},
              {"actor", {{"kind", "agent"}, {"id", "legal-02"}}}, {"hold", action},
              {"case_ref", case_ref}}
      .dump();
}

std::string Redact(const std::string& conv, const std::string& msg, bool override_hold = false) {
  json j{{"type", "message.redacted"}, {"conversation_id", conv}, {"message_id", msg},
         {"actor", {{"kind", "agent"}, {"id", "agent-7"}}}, {"reason", "sent by mistake"}};
  if (override_hold) j["override_hold"] = true;
  return j.dump();
}

class EraseTest : public ServerFixture {
 protected:
  Reply Erase(const std::string& subject, const std::string& key, const std::string& body) {
    return Post("/v1/subjects/" + subject + "/erase", key, body);
  }
  json Events(const std::string& conv) {
    Reply r = Get("/v1/conversations/" + conv + "/events", kAcmeDispute);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json()["events"];
  }
  Reply Webhook(const std::string& path, const std::string& body) {
    return Fetch(port_, http::verb::post, path,
                 {{"Content-Type", "application/json"}, {"X-Hub-Signature-256", Sign(body)}}, body);
  }
  // The master key's hex text (the default key file of a ledger without Options::master_key).
  std::string MasterKeyHex() {
    std::ifstream in(dir_.path() + "/keys/master.key");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }
  // Two conversations of subject cust-1 with sensitive content, one of cust-2.
  void SeedTwoConversations() {
    ASSERT_EQ(Post("/v1/events", kAcmeWriter, CustomerSent("c-a", "m1", kSecretText, "cust-1")).status, 201);
    ASSERT_EQ(Post("/v1/events", kAcmeWriter, CustomerSent("c-b", "m1", "second conversation", "cust-1")).status, 201);
    ASSERT_EQ(Post("/v1/events", kAcmeWriter, CustomerSent("c-o", "m1", "someone else", "cust-2")).status, 201);
  }
};

TEST_F(EraseTest, ErasesEveryConversationOfTheSubjectAndReports) {
  SeedTwoConversations();
  // An internal note is sealed under the subject's key too.
  ASSERT_EQ(Post("/v1/events", kAcmeWriter,
                 R"({"type":"note.added","conversation_id":"c-b","actor":{"kind":"agent","id":"a1"},)"
                 R"("text":"customer's IBAN noted"})").status, 201);
  EXPECT_EQ(Events("c-b")[1]["text"], "customer's IBAN noted");
  // Both views of c-a read twice: the second read comes from the view cache, with the text.
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
  for (const auto& [route, key] : {std::pair{"history", kAcmeDispute}, {"view", kAcmeCustomer}}) {
    const std::string target = std::string("/v1/conversations/c-a/") + route;
    ASSERT_EQ(Get(target, key).status, 200);
    Reply cached = Get(target, key);
    ASSERT_EQ(cached.status, 200);
    EXPECT_EQ(cached.headers["x-convledger-cache"], "hit") << route;
    EXPECT_NE(cached.body.find(kSecretText), std::string::npos) << route;
  }
  const uint64_t before = ledger_->LastGlobalSeq();
  Reply r = Erase("cust-1", kAcmeAdmin, R"({"reason":"GDPR art. 17 request #123"})");
  ASSERT_EQ(r.status, 200) << r.body;
  json rep = r.Json();
  EXPECT_EQ(rep["tenant"], "acme");
  EXPECT_EQ(rep["subject"], "cust-1");
  EXPECT_EQ(rep["conversations"], json::array({"c-a", "c-b"}));
  EXPECT_GE(rep["keys_destroyed"].get<uint64_t>(), 3u);  // subject key + two data keys
  EXPECT_EQ(rep["first_global_seq"].get<uint64_t>(), before + 1);
  EXPECT_EQ(rep["last_global_seq"].get<uint64_t>(), before + 2);
  EXPECT_EQ(rep["already_erased"], false);
  EXPECT_EQ(ledger_->LastGlobalSeq(), before + 2);
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));

  json notes = Events("c-b");
  ASSERT_EQ(notes.size(), 3u);
  EXPECT_EQ(notes[1]["type"], "note.added");
  EXPECT_EQ(notes[1]["text_erased"], true);
  EXPECT_FALSE(notes[1].contains("text"));
  for (const char* conv : {"c-a", "c-b"}) {
    json ev = Events(conv);
    ASSERT_GE(ev.size(), 2u) << conv;
    EXPECT_EQ(ev[0]["content"], json({{"erased", true}})) << ev[0].dump();
    const json& erased = ev.back();
    EXPECT_EQ(erased["type"], "subject.erased");
    EXPECT_EQ(erased["subject"], "cust-1");
    EXPECT_EQ(erased["reason"], "GDPR art. 17 request #123");
    EXPECT_EQ(erased["actor"]["kind"], "system");
    EXPECT_EQ(erased["actor"]["id"], "acme-admin");
    EXPECT_FALSE(erased.contains("override_hold"));
    Reply history = Get(std::string("/v1/conversations/") + conv + "/history", kAcmeDispute);
    ASSERT_EQ(history.status, 200) << history.body;
    EXPECT_EQ(history.body.find(kSecretText), std::string::npos);
    EXPECT_EQ(history.body.find("second conversation"), std::string::npos);
    EXPECT_EQ(history.body.find("IBAN noted"), std::string::npos);
    EXPECT_NE(history.body.find("[erased]"), std::string::npos) << history.body;
    EXPECT_NE(history.headers["x-convledger-cache"], "hit");  // the erasure is an event of conv
    Reply view = Get(std::string("/v1/conversations/") + conv + "/view", kAcmeCustomer);
    ASSERT_EQ(view.status, 200) << view.body;
    EXPECT_NE(view.headers["x-convledger-cache"], "hit");
    EXPECT_EQ(view.body.find(kSecretText), std::string::npos);
    EXPECT_EQ(view.body.find("second conversation"), std::string::npos);
  }
  // The feed renders erased content the same way.
  Reply feed = Get("/v1/feed?after=0", kAcmeAnalytics);
  ASSERT_EQ(feed.status, 200);
  EXPECT_EQ(feed.body.find(kSecretText), std::string::npos);
  // Another subject is untouched.
  EXPECT_EQ(Events("c-o")[0]["content"]["text"], "someone else");

  // Again: already erased, nothing appended.
  Reply again = Erase("cust-1", kAcmeAdmin, R"({"reason":"again","override_hold":false})");
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.Json()["already_erased"], true);
  EXPECT_EQ(ledger_->LastGlobalSeq(), before + 2);
}

TEST_F(EraseTest, RolesTenantsAndUnknownSubjects) {
  SeedTwoConversations();
  const uint64_t before = ledger_->LastGlobalSeq();
  const std::string body = R"({"reason":"r"})";
  for (const std::string& key : {kAcmeWriter, kAcmeDispute, kAcmeCustomer, kAcmeLegal, kAcmeAnalytics}) {
    Reply r = Erase("cust-1", key, body);
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(r.Code(), "forbidden");
  }
  EXPECT_EQ(Fetch(port_, http::verb::post, "/v1/subjects/cust-1/erase",
                  {{"Content-Type", "application/json"}}, body).status, 401);
  // Another tenant's subject is a missing one.
  Reply other = Erase("cust-1", kGlobexAdmin, body);
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.Code(), "subject_not_found");
  Reply missing = Erase("nobody", kAcmeAdmin, body);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Code(), "subject_not_found");
  Reply get = Get("/v1/subjects/cust-1/erase", kAcmeAdmin);
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.headers["allow"], "POST");
  EXPECT_EQ(Erase("bad%zz", kAcmeAdmin, body).Code(), "invalid_path");
  EXPECT_EQ(Erase("a%01b", kAcmeAdmin, body).Code(), "invalid_subject_id");
  EXPECT_EQ(Erase(std::string(300, 'x'), kAcmeAdmin, body).Code(), "invalid_subject_id");
  EXPECT_EQ(ledger_->LastGlobalSeq(), before);
  EXPECT_EQ(Events("c-a")[0]["content"]["text"], kSecretText);
}

TEST_F(EraseTest, PercentDecodedSubjectIds) {
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, CustomerSent("c/1", "m1", "x", "anna berg/1")).status, 201);
  Reply r = Erase("anna%20berg%2F1", kAcmeAdmin, R"({"reason":"asked"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["subject"], "anna berg/1");
  EXPECT_EQ(r.Json()["conversations"], json::array({"c/1"}));
}

TEST_F(EraseTest, BadBodiesAre400AndChangeNothing) {
  SeedTwoConversations();
  const uint64_t before = ledger_->LastGlobalSeq();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"reason": "x")", "malformed_json"},
      {"", "malformed_json"},
      {R"(["reason"])", "not_an_object"},
      {R"({"reason":"x","why":"y"})", "unknown_field"},
      {R"({"reason":5})", "wrong_type"},
      {R"({"reason":"x","override_hold":"yes"})", "wrong_type"},
      {R"({"reason":"x","override_hold":1})", "wrong_type"},
      {R"({"override_hold":true})", "missing_field"},
      {R"({"reason":null})", "missing_field"},
      {R"({"reason":""})", "empty_field"},
      {"{\"reason\":\"bad \xff byte\"}", "invalid_utf8"},
      {R"({"reason":")" + std::string(5000, 'r') + R"("})", "field_too_large"},
  };
  for (const auto& [body, code] : cases) {
    Reply r = Erase("cust-1", kAcmeAdmin, body);
    EXPECT_EQ(r.status, 400) << body.substr(0, 60) << " -> " << r.body;
    EXPECT_EQ(r.Code(), code) << body.substr(0, 60);
  }
  Reply big = Erase("cust-1", kAcmeAdmin, R"({"reason":")" + std::string(40000, 'r') + R"("})");
  EXPECT_EQ(big.status, 413);
  Reply plain = Fetch(port_, http::verb::post, "/v1/subjects/cust-1/erase", Auth(kAcmeAdmin),
                      R"({"reason":"x"})");
  EXPECT_EQ(plain.status, 415);
  EXPECT_EQ(ledger_->LastGlobalSeq(), before);
  EXPECT_EQ(Events("c-a")[0]["content"]["text"], kSecretText);
}

TEST_F(EraseTest, LegalHoldIs423RecordedThenAdminOverrides) {
  SeedTwoConversations();
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, Hold("c-b", "placed", "CASE-9")).status, 201);
  const uint64_t before = ledger_->LastGlobalSeq();
  Reply r = Erase("cust-1", kAcmeAdmin, R"({"reason":"GDPR request"})");
  ASSERT_EQ(r.status, 423) << r.body;
  EXPECT_EQ(r.Code(), "legal_hold_active");
  const std::string msg = r.Json()["error"]["message"];
  EXPECT_NE(msg.find("CASE-9"), std::string::npos) << msg;
  EXPECT_NE(msg.find("recorded"), std::string::npos) << msg;
  EXPECT_EQ(r.body.find(kSecretText), std::string::npos);
  // The refusal is on record; the content is not touched.
  EXPECT_GT(ledger_->LastGlobalSeq(), before);
  bool refused = false;
  for (const char* conv : {"c-a", "c-b"})
    for (const json& e : Events(conv))
      if (e["type"] == "erasure.refused") {
        refused = true;
        EXPECT_EQ(e["refused"], "subject.erased");
        EXPECT_EQ(e["case_ref"], "CASE-9");
        EXPECT_EQ(e["reason"], "GDPR request");
      }
  EXPECT_TRUE(refused);
  EXPECT_EQ(Events("c-a")[0]["content"]["text"], kSecretText);

  Reply forced = Erase("cust-1", kAcmeAdmin, R"({"reason":"court order","override_hold":true})");
  ASSERT_EQ(forced.status, 200) << forced.body;
  EXPECT_EQ(forced.Json()["already_erased"], false);
  json ev = Events("c-a");
  EXPECT_EQ(ev[0]["content"], json({{"erased", true}}));
  EXPECT_EQ(ev.back()["type"], "subject.erased");
  EXPECT_EQ(ev.back()["override_hold"], true);
}

TEST_F(EraseTest, RedactionUnderHoldIs423AndDestroysNothing) {
  SeedTwoConversations();
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, Hold("c-a", "placed", "CASE-7")).status, 201);
  const uint64_t before = ledger_->LastGlobalSeq();
  Reply r = Post("/v1/events", kAcmeWriter, Redact("c-a", "m1"));
  ASSERT_EQ(r.status, 423) << r.body;
  EXPECT_EQ(r.Code(), "legal_hold_active");
  EXPECT_NE(r.body.find("CASE-7"), std::string::npos);
  EXPECT_EQ(r.body.find(kSecretText), std::string::npos);
  json ev = Events("c-a");
  EXPECT_EQ(ev[0]["content"]["text"], kSecretText);  // nothing destroyed
  EXPECT_EQ(ev.back()["type"], "erasure.refused");   // only the refusal recorded
  EXPECT_EQ(ev.back()["refused"], "message.redacted");
  EXPECT_EQ(ev.back()["message_id"], "m1");
  EXPECT_EQ(ledger_->LastGlobalSeq(), before + 1);

  // override_hold needs the admin role: refused before anything is appended.
  const uint64_t seq = ledger_->LastGlobalSeq();
  Reply w = Post("/v1/events", kAcmeWriter, Redact("c-a", "m1", /*override_hold=*/true));
  EXPECT_EQ(w.status, 403) << w.body;
  EXPECT_EQ(w.Code(), "override_hold_forbidden");
  Reply wb = Post("/v1/events", kAcmeWriter,
                  R"({"events":[)" + SentJson("c-z", "m9") + "," +
                      Redact("c-a", "m1", true) + "]}");
  EXPECT_EQ(wb.status, 403);
  EXPECT_NE(wb.Json()["error"]["message"].get<std::string>().find("events[1]"), std::string::npos);
  EXPECT_EQ(ledger_->LastGlobalSeq(), seq);
  EXPECT_EQ(Events("c-a")[0]["content"]["text"], kSecretText);

  Reply a = Post("/v1/events", kAcmeAdmin, Redact("c-a", "m1", true));
  ASSERT_EQ(a.status, 201) << a.body;
  ev = Events("c-a");
  EXPECT_EQ(ev[0]["content"], json({{"redacted", true}}));
  EXPECT_EQ(ev.back()["type"], "message.redacted");
  EXPECT_EQ(ev.back()["override_hold"], true);
  // Without a hold, a writer redacts (no override needed).
  Reply b = Post("/v1/events", kAcmeWriter, Redact("c-o", "m1"));
  ASSERT_EQ(b.status, 201) << b.body;
  EXPECT_EQ(Events("c-o")[0]["content"], json({{"redacted", true}}));
}

TEST_F(EraseTest, ReservedTypesAndSubjectMismatchAre400) {
  SeedTwoConversations();
  const uint64_t before = ledger_->LastGlobalSeq();
  Reply r = Post("/v1/events", kAcmeAdmin,
                 R"({"type":"subject.erased","conversation_id":"c-a","subject":"cust-1",)"
                 R"("actor":{"kind":"system","id":"x"},"reason":"r"})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Code(), "reserved_event_type");
  Reply m = Post("/v1/events", kAcmeWriter, CustomerSent("c-a", "m2", "hi", "cust-2"));
  EXPECT_EQ(m.status, 400) << m.body;
  EXPECT_EQ(m.Code(), "subject_mismatch");
  EXPECT_EQ(ledger_->LastGlobalSeq(), before);
}

TEST_F(EraseTest, WebhookEventsCarryTheSubjectAndErasureWorksByPlatformId) {
  const std::string wa = "4915112345678";
  const std::string conv = std::string("wa:") + kPhoneId + ":" + wa;
  Reply w = Webhook("/v1/webhooks/whatsapp", WaMessage(wa, "wamid.E1", kSecretText));
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(w.Json()["appended"], 1);
  const std::string evidence = w.Json()["evidence"];
  json ev = Events(conv);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["subject"], wa);
  EXPECT_EQ(ev[0]["content"]["text"], kSecretText);
  // Redelivery: a duplicate, not a conflict.
  Reply again = Webhook("/v1/webhooks/whatsapp", WaMessage(wa, "wamid.E1", kSecretText));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.Json()["appended"], 0);
  EXPECT_EQ(again.Json()["duplicates"], 1);
  EXPECT_EQ(again.Json()["conflicting_redeliveries"], 0);

  // Statuses before any message: the status fixes the same subject the messages name.
  const std::string wa2 = "4915199999999";
  const std::string conv2 = std::string("wa:") + kPhoneId + ":" + wa2;
  Reply s = Webhook("/v1/webhooks/whatsapp", WaStatus(wa2, "wamid.OUT1", "delivered"));
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.Json()["appended"], 1);
  Reply m2 = Webhook("/v1/webhooks/whatsapp", WaMessage(wa2, "wamid.E2", "hello back"));
  ASSERT_EQ(m2.status, 200) << m2.body;
  EXPECT_EQ(m2.Json()["appended"], 1);
  Reply s2 = Webhook("/v1/webhooks/whatsapp", WaStatus(wa2, "wamid.OUT1", "delivered"));
  EXPECT_EQ(s2.Json()["duplicates"], 1);
  for (const json& e : Events(conv2)) EXPECT_EQ(e["subject"], wa2) << e.dump();

  // Messenger: the PSID.
  const std::string psid = "7000000000000001";
  Reply f = Webhook("/v1/webhooks/messenger", FbMessage(psid, "m_fb1", "fb text"));
  ASSERT_EQ(f.status, 200) << f.body;
  EXPECT_EQ(f.Json()["appended"], 1);
  json fe = Events(std::string("fb:") + kPageId + ":" + psid);
  ASSERT_EQ(fe.size(), 1u);
  EXPECT_EQ(fe[0]["subject"], psid);

  // Erasure by the customer's WhatsApp id.
  Reply e = Erase(wa2, kAcmeAdmin, R"({"reason":"customer asked"})");
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e.Json()["conversations"], json::array({conv2}));
  for (const json& x : Events(conv2))
    if (x["type"] == "message.sent") EXPECT_EQ(x["content"], json({{"erased", true}}));
  EXPECT_EQ(Events(conv)[0]["content"]["text"], kSecretText);  // another customer
  (void)evidence;
}

// A conversation started through POST /v1/events without a subject (its subject is then the
// conversation id): the customer's answer by webhook is recorded under that subject, not refused
// (Meta would retry it for days), and its redelivery is still a duplicate.
TEST_F(EraseTest, WebhookIntoAConversationWithAnotherSubjectIsRecordedNotRefused) {
  const std::string wa = "4915100000003";
  const std::string conv = std::string("wa:") + kPhoneId + ":" + wa;
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson(conv, "wamid.T1", "your order shipped")).status, 201);
  Reply w = Webhook("/v1/webhooks/whatsapp", WaMessage(wa, "wamid.A1", "thanks"));
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(w.Json()["appended"], 1);
  Reply again = Webhook("/v1/webhooks/whatsapp", WaMessage(wa, "wamid.A1", "thanks"));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.Json()["appended"], 0);
  EXPECT_EQ(again.Json()["duplicates"], 1);
  json ev = Events(conv);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1]["content"]["text"], "thanks");
  EXPECT_FALSE(ev[1].contains("subject"));
  // Erasable by the subject the conversation has (its id), not by the wa_id.
  EXPECT_EQ(Erase(wa, kAcmeAdmin, R"({"reason":"r"})").status, 404);
  Reply e = Erase("wa:210987654321098:4915100000003", kAcmeAdmin, R"({"reason":"r"})");
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(Events(conv)[1]["content"], json({{"erased", true}}));
}

// An event recorded before mapped events carried a subject (the same event without it, under
// the same platform key, so the conversation's subject is its id): its redelivery is a
// duplicate, neither refused (subject_mismatch) nor a conflicting redelivery.
TEST_F(EraseTest, RedeliveryOfAnEventRecordedWithoutSubjectIsADuplicate) {
  const std::string wa = "4915100000004";
  const std::string conv = std::string("wa:") + kPhoneId + ":" + wa;
  json old{{"type", "message.sent"}, {"conversation_id", conv}, {"idempotency_key", "wa:msg:wamid.OLD"},
           {"occurred_at", "2025-11-20T08:58:12Z"}, {"tenant", "acme"}, {"channel", "whatsapp"},
           {"actor", {{"kind", "customer"}, {"id", wa}, {"display", "Anna"}}},
           {"message_id", "wamid.OLD"}, {"direction", "inbound"}, {"kind", "text"},
           {"content", {{"text", "from before subjects"}}}};
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, old.dump()).status, 201);
  const uint64_t before = ledger_->LastGlobalSeq();
  Reply w = Webhook("/v1/webhooks/whatsapp", WaMessage(wa, "wamid.OLD", "from before subjects"));
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(w.Json()["appended"], 0) << w.body;
  EXPECT_EQ(w.Json()["duplicates"], 1) << w.body;
  EXPECT_EQ(w.Json()["conflicting_redeliveries"], 0) << w.body;
  EXPECT_EQ(ledger_->LastGlobalSeq(), before);
}

TEST_F(EraseTest, EvidenceOfARedactedWebhookMessageIsGone) {
  const std::string wa = "4915112345678";
  const std::string conv = std::string("wa:") + kPhoneId + ":" + wa;
  const std::string body = WaMessage(wa, "wamid.E1", kSecretText);
  Reply w = Webhook("/v1/webhooks/whatsapp", body);
  ASSERT_EQ(w.status, 200) << w.body;
  const std::string sha = w.Json()["evidence"];
  const std::string path = "/v1/conversations/" + conv + "/evidence/" + sha;
  Reply ok = Get(path, kAcmeDispute);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_FALSE(ok.Json()["body_base64"].get<std::string>().empty());

  ASSERT_EQ(Post("/v1/events", kAcmeWriter, Redact(conv, "wamid.E1")).status, 201);
  for (const std::string& key : {kAcmeDispute, kAcmeLegal}) {
    Reply gone = Get(path, key);
    EXPECT_EQ(gone.status, 410) << gone.body;
    EXPECT_EQ(gone.Code(), "evidence_erased");
    json err = gone.Json()["error"];
    EXPECT_EQ(err["sha256"], sha);
    ASSERT_EQ(err["deliveries"].size(), 1u);
    EXPECT_EQ(err["deliveries"][0]["source"], "whatsapp");
    EXPECT_EQ(err["deliveries"][0]["signature_valid"], true);
    EXPECT_EQ(err["linked_events"], json::array({1}));
    EXPECT_FALSE(gone.Json().contains("body_base64"));
    EXPECT_EQ(gone.body.find(kSecretText), std::string::npos);
    EXPECT_EQ(gone.body.find("IBAN"), std::string::npos);
  }
  EXPECT_EQ(Events(conv)[0]["content"], json({{"redacted", true}}));
  // A redelivery of the same body after the redaction: still a duplicate of the message.
  Reply again = Webhook("/v1/webhooks/whatsapp", body);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.Json()["appended"], 0);
  // ... and its body is not stored again in the clear: still gone.
  Reply still = Get(path, kAcmeDispute);
  EXPECT_EQ(still.status, 410) << still.body.substr(0, 300);
  EXPECT_EQ(still.body.find(kSecretText), std::string::npos);
}

// Error bodies and the server log never carry message plaintext, the master key or API keys.
TEST_F(EraseTest, NoPlaintextOrKeyMaterialInErrorsOrLogs) {
  auto previous = spdlog::default_logger();
  auto out = std::make_shared<std::ostringstream>();
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out);
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));

  std::vector<Reply> replies;
  SeedTwoConversations();
  const std::string wa = "4915112345678";
  const std::string conv = std::string("wa:") + kPhoneId + ":" + wa;
  replies.push_back(Webhook("/v1/webhooks/whatsapp", WaMessage(wa, "wamid.E1", kSecretText)));
  const std::string sha = replies.back().Json()["evidence"];
  replies.push_back(Post("/v1/events", kAcmeWriter, Hold("c-a", "placed", "CASE-1")));
  replies.push_back(Post("/v1/events", kAcmeWriter, Redact("c-a", "m1")));
  replies.push_back(Post("/v1/events", kAcmeWriter, Redact("c-a", "m1", true)));
  replies.push_back(Erase("cust-1", kAcmeAdmin, R"({"reason":"r"})"));
  replies.push_back(Erase("cust-1", kAcmeAdmin, R"({"reason":"r","override_hold":true})"));
  replies.push_back(Post("/v1/events", kAcmeWriter, Redact(conv, "wamid.E1")));
  replies.push_back(Get("/v1/conversations/" + conv + "/evidence/" + sha, kAcmeDispute));
  replies.push_back(Post("/v1/events", kAcmeWriter,
                         CustomerSent("c-a", "m2", kSecretText, "someone-else")));
  replies.push_back(Erase(wa, kAcmeAdmin, R"({"reason":"bye"})"));
  replies.push_back(Erase(wa, kAcmeAdmin, R"({"reason":"bye", "extra": ")" + std::string(kSecretText) + "\"}"));
  replies.push_back(Erase("nobody", kAcmeAdmin, R"({"reason":"x"})"));
  replies.push_back(Erase("cust-1", kAcmeWriter, R"({"reason":"x"})"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the access log's last lines
  spdlog::default_logger()->flush();
  spdlog::set_default_logger(previous);

  const std::string master = MasterKeyHex();
  ASSERT_EQ(master.size(), 64u);
  std::vector<int> statuses;
  for (const Reply& r : replies) {
    statuses.push_back(r.status);
    if (r.status < 400) continue;
    EXPECT_EQ(r.body.find(kSecretText), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(master), std::string::npos);
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 201, 423, 403, 423, 200, 201, 410, 400, 200, 400, 404, 403}));
  const std::string log = out->str();
  EXPECT_NE(log.find("erase request_id="), std::string::npos) << log;
  EXPECT_EQ(log.find(kSecretText), std::string::npos) << log;
  EXPECT_EQ(log.find("IBAN"), std::string::npos);
  EXPECT_EQ(log.find(master), std::string::npos);
  for (const std::string& k : {kAcmeAdmin, kAcmeWriter, kAcmeDispute})
    EXPECT_EQ(log.find(k), std::string::npos);
}

}  // namespace
}  // namespace convledger::api::test
