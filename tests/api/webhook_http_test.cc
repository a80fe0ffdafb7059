// The webhook corpus replayed over HTTP against a real server: signatures, the handshake, the
// HTTP policy of tests/api/corpus/README.md, idempotent redelivery, evidence; and the proof routes.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "http_test_util.h"
#include "ledger/event_json.h"
#include "ledger/merkle.h"
#include "webhook_test_util.h"

namespace convledger::api::test {
namespace {

std::string Sign(const std::string& secret, const std::string& body) {
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static const char* hex = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 15];
  }
  return out;
}

std::string FromHex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

std::string Unbase64(const std::string& b64) {
  std::string out(b64.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  // EVP_DecodeBlock keeps a zero byte for every '=' of padding.
  size_t pad = 0;
  for (size_t i = b64.size(); i > 0 && b64[i - 1] == '='; --i) ++pad;
  out.resize(out.size() - std::min(pad, out.size()));
  return out;
}

int ExpectedStatus(const std::string& file) {
  if (file.rfind("wa-16", 0) == 0 || file.rfind("wa-19", 0) == 0) return 400;
  if (file.rfind("wa-17", 0) == 0 || file.rfind("wa-18", 0) == 0) return 422;
  return 200;
}

class WebhookHttpTest : public ServerFixture {
 protected:
  Reply PostWebhook(const std::string& file, const std::string& header) {
    const std::string path =
        file.rfind("fb-", 0) == 0 ? "/v1/webhooks/messenger" : "/v1/webhooks/whatsapp";
    std::map<std::string, std::string> h{{"Content-Type", "application/json"}};
    if (!header.empty()) h["X-Hub-Signature-256"] = header;
    return Fetch(port_, http::verb::post, path, h, ReadCorpus(file));
  }
  void Seed() {
    auto seeds = SeedOutboundEvents(ReadCorpus("seed-outbound.json"), CorpusContext());
    ASSERT_TRUE(seeds.ok()) << seeds.status().ToString();
    for (const Event& e : *seeds) {
      Reply r = Post("/v1/events", kAcmeWriter, EventToJson(e));
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }
  // Replays every corpus POST in order; returns the events appended.
  uint64_t Replay() {
    uint64_t appended = 0;
    const Signatures sigs = ReadSignatures();
    for (const std::string& file : CorpusPosts()) {
      std::string header;
      for (const auto& f : sigs.files)
        if (f.file == file) header = f.header;
      Reply r = PostWebhook(file, header);
      EXPECT_EQ(r.status, ExpectedStatus(file)) << file << ": " << r.body;
      if (r.status == 200) appended += r.Json()["appended"].get<uint64_t>();
      else EXPECT_FALSE(r.Code().empty()) << file;
    }
    return appended;
  }
};

TEST_F(WebhookHttpTest, CorpusReplaysWithItsExpectedStatusesAndOnlyOnce) {
  Seed();
  const uint64_t seeded = ledger_->LastGlobalSeq();
  ASSERT_EQ(seeded, 5u);
  const uint64_t first = Replay();
  EXPECT_EQ(first, 25u);  // wa-13 (a redelivery) and the four malformed bodies add nothing
  EXPECT_EQ(ledger_->LastGlobalSeq(), seeded + first);
  // Meta retries everything: nothing is appended twice.
  EXPECT_EQ(Replay(), 0u);
  EXPECT_EQ(ledger_->LastGlobalSeq(), seeded + first);
  VerifyReport report;
  ASSERT_TRUE(ledger_->Verify(&report).ok());
  EXPECT_TRUE(report.ok());
  // The customer view of Maya's conversation, over HTTP.
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
  Reply view = Get("/v1/conversations/wa:210987654321098:12025550143/view", kAcmeCustomer);
  ASSERT_EQ(view.status, 200) << view.body;
  EXPECT_NE(view.body.find("This message was deleted"), std::string::npos);
  EXPECT_NE(view.body.find("photo of the damage?"), std::string::npos);
}

TEST_F(WebhookHttpTest, BadSignaturesAre401AndAppendNothing) {
  const Signatures sigs = ReadSignatures();
  ASSERT_EQ(sigs.negatives.size(), 5u);
  for (const NegativeCase& n : sigs.negatives) {
    Reply r = PostWebhook(n.file, n.header);
    EXPECT_EQ(r.status, 401) << n.name << ": " << r.body;
    EXPECT_FALSE(r.Code().empty());
  }
  // Only the legacy SHA-1 header.
  Reply legacy = Fetch(port_, http::verb::post, "/v1/webhooks/whatsapp",
                       {{"X-Hub-Signature", "sha1=2fc39105a16adff3ca18f175ea4897007d2b4fee"}},
                       ReadCorpus("wa-01-text.json"));
  EXPECT_EQ(legacy.status, 401);
  // A Messenger body signed right but posted to the WhatsApp route maps to nothing of ours.
  EXPECT_EQ(ledger_->LastGlobalSeq(), 0u);
}

TEST_F(WebhookHttpTest, HandshakeCases) {
  json cases = json::parse(ReadCorpus("wa-00-verify-handshake.json"))["cases"];
  ASSERT_EQ(cases.size(), 6u);
  for (const char* route : {"/v1/webhooks/whatsapp", "/v1/webhooks/messenger"}) {
    for (const auto& c : cases) {
      const std::string q = c["query"];
      Reply r = Fetch(port_, http::verb::get, std::string(route) + (q.empty() ? "" : "?" + q));
      EXPECT_EQ(r.status, c["expect_status"].get<int>()) << route << " " << c["name"];
      if (!c["expect_body"].is_null()) {
        EXPECT_EQ(r.body, c["expect_body"].get<std::string>());
        EXPECT_NE(r.headers["content-type"].find("text/plain"), std::string::npos);
      }
    }
  }
}

TEST_F(WebhookHttpTest, UnknownAccountIsAcknowledgedAndIgnored) {
  std::string body = ReadCorpus("wa-01-text.json");
  const std::string known = "210987654321098";
  body.replace(body.find(known), known.size(), "999999999999999");
  Reply r = Fetch(port_, http::verb::post, "/v1/webhooks/whatsapp",
                  {{"X-Hub-Signature-256", Sign(ReadSignatures().app_secret, body)}}, body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["appended"], 0);
  EXPECT_FALSE(r.Json()["ignored"].empty());
  EXPECT_EQ(ledger_->LastGlobalSeq(), 0u);
  // Another app's secret cannot speak for these accounts.
  Reply other = Fetch(port_, http::verb::post, "/v1/webhooks/whatsapp",
                      {{"X-Hub-Signature-256", Sign("another-app-secret", body)}}, body);
  EXPECT_EQ(other.status, 401);
}

TEST_F(WebhookHttpTest, OversizedWebhookIs413) {
  Config c = TestConfig();
  server_->Shutdown();
  c.limits.max_webhook_body_bytes = 600;
  ServerOptions so;
  auto s = Server::Start(*ledger_, c, so);
  ASSERT_TRUE(s.ok());
  server_ = std::move(*s);
  port_ = server_->port();
  Reply r = PostWebhook("wa-02-image-caption.json", "sha256=" + std::string(64, '0'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 0u);
}

TEST_F(WebhookHttpTest, EvidenceIsKeptAndServedOnlyThroughItsConversation) {
  Seed();
  Replay();
  const std::string body = ReadCorpus("wa-01-text.json");
  const std::string hex = HexDigest(BodyDigest(body));
  const std::string route = "/v1/conversations/wa:210987654321098:12025550143/evidence/" + hex;
  Reply r = Get(route, kAcmeDispute);
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.Json();
  EXPECT_EQ(j["sha256"], hex);
  EXPECT_EQ(Unbase64(j["body_base64"]), body);
  // wa-01 and its byte-identical redelivery wa-13: one body, two deliveries.
  EXPECT_EQ(j["deliveries"].size(), 2u);
  EXPECT_EQ(j["deliveries"][0]["signature_valid"], true);
  EXPECT_FALSE(j["linked_events"].empty());
  EXPECT_EQ(Get(route, kAcmeCustomer).status, 403);
  EXPECT_EQ(Get(route, kGlobexAdmin).status, 404);
  // Not linked from another conversation of the same tenant.
  Reply elsewhere =
      Get("/v1/conversations/wa:210987654321098:13125550187/evidence/" + hex, kAcmeDispute);
  EXPECT_EQ(elsewhere.status, 404);
  EXPECT_EQ(Get("/v1/conversations/wa:210987654321098:12025550143/evidence/xyz", kAcmeDispute)
                .Code(),
            "invalid_evidence_id");
  // The events carry the link.
  Reply events = Get("/v1/conversations/wa:210987654321098:12025550143/events", kAcmeDispute);
  EXPECT_NE(events.body.find(hex), std::string::npos);
}

TEST_F(WebhookHttpTest, ProofRoutesVerifyOffline) {
  for (int i = 0; i < 9; ++i)
    ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m" + std::to_string(i))).status, 201);
  Reply head = Get("/v1/tree-head", kAcmeCustomer);  // any role
  ASSERT_EQ(head.status, 200) << head.body;
  json h = head.Json();
  SignedTreeHead sth;
  sth.tree_size = h["tree_size"];
  sth.timestamp_us = h["timestamp_us"];
  std::string root = FromHex(h["root_hash"]);
  std::copy(root.begin(), root.end(), sth.root_hash.begin());
  sth.signature = Unbase64(h["signature"]);
  EXPECT_EQ(sth.tree_size, 9u);
  EXPECT_TRUE(merkle::VerifyTreeHead(sth, h["public_key"].get<std::string>()).ok());
  sth.tree_size = 8;
  EXPECT_FALSE(merkle::VerifyTreeHead(sth, h["public_key"].get<std::string>()).ok());

  Reply inc = Get("/v1/proofs/inclusion?seq=3&tree_size=9", kAcmeDispute);
  ASSERT_EQ(inc.status, 200) << inc.body;
  json p = inc.Json();
  std::vector<std::string> path;
  for (const auto& x : p["audit_path"]) path.push_back(FromHex(x));
  std::vector<std::string_view> views(path.begin(), path.end());
  EXPECT_TRUE(merkle::VerifyInclusion(FromHex(p["leaf_hash"]), p["leaf_index"], 9, views, root).ok());

  Reply cons = Get("/v1/proofs/consistency?first=4&second=9", kAcmeAnalytics);
  ASSERT_EQ(cons.status, 200) << cons.body;
  json c = cons.Json();
  std::vector<std::string> cp;
  for (const auto& x : c["proof"]) cp.push_back(FromHex(x));
  std::vector<std::string_view> cviews(cp.begin(), cp.end());
  EXPECT_TRUE(merkle::VerifyConsistency(4, 9, FromHex(c["first_root"]), root, cviews).ok());

  EXPECT_EQ(Get("/v1/proofs/inclusion", kAcmeDispute).Code(), "missing_parameter");
  EXPECT_EQ(Get("/v1/proofs/inclusion?seq=abc", kAcmeDispute).Code(), "invalid_parameter");
  EXPECT_EQ(Get("/v1/proofs/inclusion?seq=99", kAcmeDispute).status, 400);
  EXPECT_EQ(Fetch(port_, http::verb::get, "/v1/tree-head").status, 401);
}

}  // namespace
}  // namespace convledger::api::test
