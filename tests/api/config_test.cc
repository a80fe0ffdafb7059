// The config file: parsing, environment secrets, hashed keys, and every refusal.
#include "api/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace convledger::api {
namespace {

using Env = std::map<std::string, std::string>;

Result<Config> Parse(const std::string& text, const Env& env = {}) {
  return ParseConfig(text, [env](const std::string& n) -> std::optional<std::string> {
    auto it = env.find(n);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

const char* kMinimal = R"({
  // comments are allowed
  "tenants": [{"id": "acme", "api_keys": [{"name": "k", "roles": ["writer", "dispute"],
    "sha256": "3c5a3c3e0d2b2f8cd8f1e4bd2ad1d8f2e8f0e0b1a3d6f1c2b8a7e6d5c4b3a291"}]}]
})";

TEST(Config, MinimalFileWithDefaults) {
  auto c = Parse(kMinimal);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->tenants.size(), 1u);
  ASSERT_EQ(c->api_keys.size(), 1u);
  EXPECT_EQ(c->api_keys[0].tenant, "acme");
  EXPECT_TRUE(c->api_keys[0].Has(kRoleWriter));
  EXPECT_TRUE(c->api_keys[0].Has(kRoleDispute));
  EXPECT_FALSE(c->api_keys[0].Has(kRoleLegal));
  EXPECT_EQ(c->limits.max_webhook_body_bytes, 4u << 20);
  EXPECT_EQ(c->limits.view_cache_bytes, 64u << 20);
  EXPECT_EQ(c->limits.inline_requests, 1u);
  EXPECT_FALSE(c->demo);
}

TEST(Config, ViewCacheBytesMayBeZero) {
  for (const auto& [value, expect] : {std::pair{"0", size_t{0}}, {"1048576", size_t{1} << 20}}) {
    auto c = Parse(std::string(R"({"tenants": [{"id": "a"}], "limits": {"view_cache_bytes": )") +
                   value + "}}");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->limits.view_cache_bytes, expect);
  }
}

TEST(Config, InlineRequestsMayBeZero) {
  auto c = Parse(R"({"tenants": [{"id": "a"}], "limits": {"inline_requests": 0}})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->limits.inline_requests, 0u);
}

TEST(Config, SecretsFromTheEnvironment) {
  const char* text = R"({"tenants": [{"id": "acme",
    "whatsapp": [{"business_account_id": "1", "phone_number_ids": ["2"],
                  "app_secret": "env:CONVLEDGER_SECRET", "verify_token": "tok"}],
    "api_keys": [{"name": "ops", "roles": ["admin"], "key": "env:CONVLEDGER_OPS_KEY"}]}]})";
  auto c = Parse(text, {{"CONVLEDGER_SECRET", "s3cr3t"}, {"CONVLEDGER_OPS_KEY", "0123456789abcdefXYZ"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->tenants[0].whatsapp[0].app_secret, "s3cr3t");
  EXPECT_EQ(c->api_keys[0].sha256, HashApiKey("0123456789abcdefXYZ"));
  auto missing = Parse(text, {{"CONVLEDGER_SECRET", "s3cr3t"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().reason(), "config_invalid");
  EXPECT_NE(missing.status().message().find("CONVLEDGER_OPS_KEY"), std::string::npos);
}

TEST(Config, SecretValuesNeverAppearInErrors) {
  const char* text = R"({"tenants": [{"id": "acme",
    "api_keys": [{"name": "ops", "roles": ["wizard"], "key": "env:CONVLEDGER_OPS_KEY"}]}]})";
  auto c = Parse(text, {{"CONVLEDGER_OPS_KEY", "very-secret-value-123"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().find("very-secret-value-123"), std::string::npos);
  EXPECT_NE(c.status().message().find("wizard"), std::string::npos);
}

TEST(Config, Refusals) {
  const std::string hash = "3c5a3c3e0d2b2f8cd8f1e4bd2ad1d8f2e8f0e0b1a3d6f1c2b8a7e6d5c4b3a291";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not json", "not valid JSON"},
      {R"({"tenants": []})", "tenants"},
      {R"({"tenants": [{"id": "a"}], "extra": 1})", "unknown field"},
      {R"({"tenants": [{"id": "a"}, {"id": "a"}]})", "declared twice"},
      {R"({"tenants": [{"id": "a", "api_keys": [{"name": "k", "roles": ["writer"], "key": "plain-text-key-in-file"}]}]})",
       "environment variable"},
      {R"({"tenants": [{"id": "a", "api_keys": [{"name": "k", "roles": ["writer"], "sha256": "abc"}]}]})",
       "64 hex"},
      {R"({"tenants": [{"id": "a", "api_keys": [{"name": "k", "roles": [], "sha256": ")" + hash + R"("}]}]})",
       "roles"},
      {R"({"tenants": [{"id": "a", "api_keys": [{"name": "k", "roles": ["writer"], "sha256": ")" + hash +
           R"("}, {"name": "k2", "roles": ["writer"], "sha256": ")" + hash + R"("}]}]})",
       "twice"},
      {R"({"tenants": [{"id": "a", "whatsapp": [{"business_account_id": "1", "phone_number_ids": ["2"]}]}]})",
       "app_secret"},
      {R"({"tenants": [{"id": "a", "whatsapp": [{"business_account_id": "1", "phone_number_ids": ["2"], "app_secret": "x"}]},
                       {"id": "b", "whatsapp": [{"business_account_id": "3", "phone_number_ids": ["2"], "app_secret": "y"}]}]})",
       "declared twice"},
      {R"({"tenants": [{"id": "a"}], "limits": {"max_connections": 0}})", "positive"},
      {R"({"tenants": [{"id": "a"}], "limits": {"max_connections": "many"}})", "positive"},
      {R"({"tenants": [{"id": "a"}], "limits": {"view_cache_bytes": -1}})", "non-negative"},
      {R"({"tenants": [{"id": "a"}], "limits": {"inline_requests": -1}})", "non-negative"},
      {R"({"tenants": [{"id": "a"}], "limits": {"inline_requests": true}})", "non-negative"},
      {R"({"tenants": [{"id": "a"}], "limits": {"view_cache_bytes": "64MiB"}})", "non-negative"},
      {R"({"tenants": [{"id": "a", "whatsapp": [{"business_account_id": "1", "phone_number_ids": ["2"], "app_secret": "env:HOME"}]}]})",
       "CONVLEDGER_"},
  };
  for (const auto& [text, expect] : bad) {
    auto c = Parse(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().reason(), "config_invalid");
    EXPECT_NE(c.status().message().find(expect), std::string::npos)
        << text << " -> " << c.status().message();
  }
}

TEST(Config, TheExampleInTheRepositoryParses) {
  std::ifstream in(std::string(CONVLEDGER_API_CORPUS_DIR) + "/../../../config/convledger.example.jsonc");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = Parse(ss.str(), {{"CONVLEDGER_ACME_META_APP_SECRET", "s"},
                            {"CONVLEDGER_ACME_VERIFY_TOKEN", "t"},
                            {"CONVLEDGER_ACME_BI_KEY", "bi-key-0123456789abc"},
                            {"CONVLEDGER_ACME_ADMIN_KEY", "admin-key-0123456789"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->api_keys.size(), 4u);
  EXPECT_EQ(c->tenants[0].whatsapp[0].phone_number_ids.size(), 2u);
}

TEST(Config, DemoDefaultHasAFreshAdminKey) {
  std::string k1, k2;
  Config a = DemoConfig(&k1), b = DemoConfig(&k2);
  EXPECT_TRUE(a.demo);
  EXPECT_NE(k1, k2);
  EXPECT_EQ(k1.rfind("clk_", 0), 0u);
  EXPECT_GE(k1.size(), 40u);
  ASSERT_EQ(a.api_keys.size(), 1u);
  EXPECT_EQ(a.api_keys[0].sha256, HashApiKey(k1));
  EXPECT_TRUE(a.api_keys[0].Has(kRoleAdmin));
  EXPECT_EQ(a.tenants[0].whatsapp[0].phone_number_ids.size(), 2u);
}

}  // namespace
}  // namespace convledger::api
