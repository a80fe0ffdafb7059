// api/openapi.yaml describes the routes the server serves: every documented path is routed, and
// the documented set is the served set.
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "http_test_util.h"

namespace convledger::api::test {
namespace {

std::vector<std::string> DocumentedPaths() {
  std::ifstream in(std::string(CONVLEDGER_API_CORPUS_DIR) + "/../../../api/openapi.yaml");
  EXPECT_TRUE(in.good());
  std::vector<std::string> out;
  std::string line;
  std::regex path(R"(^  (/[^:]*):\s*$)");
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_match(line, m, path)) out.push_back(m[1]);
  return out;
}

class OpenApiTest : public ServerFixture {};

TEST_F(OpenApiTest, EveryDocumentedPathIsServed) {
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m1")).status, 201);
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
  const auto paths = DocumentedPaths();
  const std::set<std::string> want = {
      "/v1/events", "/v1/conversations/{id}/history", "/v1/conversations/{id}/view",
      "/v1/conversations/{id}/events", "/v1/conversations/{id}/evidence/{sha256}", "/v1/conversations/{id}/export",
      "/v1/analytics", "/v1/feed", "/v1/feed/stream", "/v1/webhooks/whatsapp",
      "/v1/webhooks/messenger", "/v1/tree-head", "/v1/proofs/inclusion",
      "/v1/proofs/consistency", "/v1/whoami", "/healthz", "/readyz", "/metrics",
      "/v1/subjects/{id}/erase"};
  EXPECT_EQ(std::set<std::string>(paths.begin(), paths.end()), want);
  for (std::string p : paths) {
    if (p == "/v1/feed/stream" || p == "/v1/events") continue;  // endless / POST only
    // POST only: a GET is 405, which still says the route is served.
    p = std::regex_replace(p, std::regex(R"(\{id\})"), "c1");
    p = std::regex_replace(p, std::regex(R"(\{sha256\})"), std::string(64, 'a'));
    if (p == "/v1/proofs/inclusion") p += "?seq=1";
    if (p == "/v1/proofs/consistency") p += "?first=1&second=1";
    Reply r = Get(p, kAcmeAdmin);
    // Served means: not the router's "no such route" (evidence 404 has its own code).
    EXPECT_NE(r.Code(), "not_found") << p << " -> " << r.status << " " << r.body;
    EXPECT_LT(r.status, 500) << p;
  }
  EXPECT_EQ(Get("/v1/undocumented", kAcmeAdmin).Code(), "not_found");
}

}  // namespace
}  // namespace convledger::api::test
