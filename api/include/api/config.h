// Configuration of `convledger serve`: tenants, their channel accounts and webhook secrets, API
// keys with roles, limits and TLS. Read from a JSON file (comments allowed); every secret may
// instead name an environment variable ("env:CONVLEDGER_..."). The format is documented in
// README.md and api/convledger.example.jsonc.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/event.h"
#include "ledger/status.h"

namespace convledger::api {

enum Role : uint32_t {
  kRoleWriter = 1u << 0,        // append events
  kRoleCustomerView = 1u << 1,  // the customer view
  kRoleDispute = 1u << 2,       // history, events, evidence
  kRoleLegal = 1u << 3,         // exports, evidence, proofs
  kRoleAnalytics = 1u << 4,     // feed, analytics
  kRoleAdmin = 1u << 5,         // everything of its tenant
};
// "writer", "customer_view", ... ; nullopt for an unknown name.
std::optional<Role> ParseRole(std::string_view name);
std::string RoleNames(uint32_t roles);  // "writer,dispute"

struct ApiKey {
  std::string name;    // for logs and metrics; never the key itself
  Digest sha256{};     // SHA-256 of the key text
  std::string tenant;
  uint32_t roles = 0;
  bool Has(Role r) const { return (roles & (r | kRoleAdmin)) != 0; }
};

struct WhatsAppAccount {
  std::string business_account_id;
  std::vector<std::string> phone_number_ids;
  std::string app_secret;
  std::string verify_token;
};

struct MessengerPage {
  std::string page_id;
  std::string app_secret;
  std::string verify_token;
};

struct TenantConfig {
  std::string id;
  std::vector<WhatsAppAccount> whatsapp;
  std::vector<MessengerPage> messenger;
};

struct Limits {
  size_t max_body_bytes = 4 << 20;          // POST /v1/events
  size_t max_webhook_body_bytes = 4 << 20;  // Meta's bodies are at most about 3 MB
  size_t max_header_bytes = 16 << 10;
  uint32_t request_timeout_ms = 15000;      // to receive a whole request, headers and body
  uint32_t idle_timeout_ms = 60000;         // a kept-alive connection waiting for its next request
  uint32_t max_connections = 1024;
  uint32_t worker_threads = 32;             // blocking ledger calls run here, not on I/O threads
  uint32_t io_threads = 2;
  // A short request (an append, a webhook, a current view, a feed page, a proof) runs on the I/O
  // thread that read it, with no hand-off to a worker and back, while fewer than this many
  // requests are being handled in all and there are at least 2 I/O threads (0: never). Under
  // concurrent load requests go to the workers, where concurrent appends share one commit.
  uint32_t inline_requests = 1;
  uint32_t feed_max_limit = 1000;           // most events per GET /v1/feed
  uint32_t shutdown_grace_ms = 30000;       // in-flight requests get this long on SIGTERM
  // Rendered current histories and customer views kept between requests (0: none), each served
  // only while its conversation has no newer event.
  size_t view_cache_bytes = 64 << 20;
};

struct Config {
  std::vector<TenantConfig> tenants;
  std::vector<ApiKey> api_keys;
  Limits limits;
  std::string tls_certificate;  // PEM file paths; both set: HTTPS only
  std::string tls_private_key;
  bool demo = false;  // the embedded demo default (no config file)
};

// Reads and checks a config file. `getenv` resolves "env:NAME" values (default: ::getenv).
// InvalidArgument (reason config_invalid) naming the field on any problem; secrets never appear
// in messages.
Result<Config> LoadConfig(const std::string& path);
Result<Config> ParseConfig(std::string_view text,
                           const std::function<std::optional<std::string>(const std::string&)>&
                               getenv = nullptr);

// The embedded demo default: tenant "default", the test accounts and secrets of the webhook
// corpus (tests/api/corpus/signatures.txt), and one admin key generated now and returned in
// `admin_key` (printed once by `serve`, stored only as its hash).
Config DemoConfig(std::string* admin_key);

// A new random API key ("clk_" + 43 base64url characters) and the SHA-256 of a key's text.
std::string NewApiKey();
Digest HashApiKey(std::string_view key);

}  // namespace convledger::api
