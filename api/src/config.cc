#include "api/config.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace convledger::api {
namespace {

using json = nlohmann::json;
using Getenv = std::function<std::optional<std::string>(const std::string&)>;

Status Bad(const std::string& where, const std::string& what) {
  return Status::InvalidArgument("config_invalid", where + ": " + what);
}

// A string field, or "env:CONVLEDGER_X" resolved through the environment. Secrets read from
// the environment never appear in error messages (only the variable's name does).
Status GetString(const json& obj, const char* field, const std::string& where, bool required,
                 const Getenv& getenv, std::string* out) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) {
    if (required) return Bad(where, std::string("missing \"") + field + "\"");
    return Status::OK();
  }
  if (!it->is_string()) return Bad(where, std::string("\"") + field + "\" must be a string");
  std::string v = it->get<std::string>();
  if (v.starts_with("env:")) {
    const std::string name = v.substr(4);
    if (!name.starts_with("CONVLEDGER_"))
      return Bad(where, "environment variables must start with CONVLEDGER_ (got " + name + ")");
    auto got = getenv(name);
    if (!got || got->empty())
      return Bad(where, std::string("\"") + field + "\" names " + name + ", which is not set");
    v = *got;
  }
  if (required && v.empty()) return Bad(where, std::string("\"") + field + "\" is empty");
  *out = std::move(v);
  return Status::OK();
}

bool ParseHexDigest(std::string_view hex, Digest* out) {
  if (hex.size() != 64) return false;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <typename T>
Status GetUint(const json& obj, const char* field, const std::string& where, T* out,
               bool allow_zero = false) {
  auto it = obj.find(field);
  if (it == obj.end()) return Status::OK();
  if (!it->is_number_unsigned() || (it->get<uint64_t>() == 0 && !allow_zero))
    return Bad(where, std::string("\"") + field + "\" must be a " +
                          (allow_zero ? "non-negative" : "positive") + " integer");
  *out = static_cast<T>(it->get<uint64_t>());
  return Status::OK();
}

Status CheckKeys(const json& obj, const std::string& where, std::set<std::string> allowed) {
  if (!obj.is_object()) return Bad(where, "must be an object");
  for (const auto& [k, v] : obj.items())
    if (!allowed.count(k)) return Bad(where, "unknown field \"" + k + "\"");
  return Status::OK();
}

}  // namespace

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "writer") return kRoleWriter;
  if (name == "customer_view") return kRoleCustomerView;
  if (name == "dispute") return kRoleDispute;
  if (name == "legal") return kRoleLegal;
  if (name == "analytics") return kRoleAnalytics;
  if (name == "admin") return kRoleAdmin;
  return std::nullopt;
}

std::string RoleNames(uint32_t roles) {
  static const std::pair<Role, const char*> kNames[] = {
      {kRoleWriter, "writer"}, {kRoleCustomerView, "customer_view"}, {kRoleDispute, "dispute"},
      {kRoleLegal, "legal"},   {kRoleAnalytics, "analytics"},        {kRoleAdmin, "admin"}};
  std::string out;
  for (auto [r, n] : kNames)
    if (roles & r) {
      if (!out.empty()) out += ',';
      out += n;
    }
  return out;
}

Digest HashApiKey(std::string_view key) {
  Digest d{};
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), d.data());
  return d;
}

std::string NewApiKey() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) std::abort();  // no entropy: nothing safe to do
  unsigned char b64[48];
  int n = EVP_EncodeBlock(b64, raw, sizeof raw);
  std::string s(reinterpret_cast<char*>(b64), static_cast<size_t>(n));
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return "clk_" + s;
}

Result<Config> ParseConfig(std::string_view text, const Getenv& getenv_in) {
  Getenv getenv = getenv_in ? getenv_in : [](const std::string& n) -> std::optional<std::string> {
    const char* v = std::getenv(n.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  json root;
  try {
    root = json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {
    return Bad("config", std::string("not valid JSON: ") + e.what());
  }
  if (Status st = CheckKeys(root, "config", {"tenants", "limits", "tls"}); !st.ok()) return st;
  Config cfg;
  std::set<std::string> tenant_ids, phone_ids, page_ids, key_names;
  std::set<Digest> key_hashes;
  auto tenants = root.find("tenants");
  if (tenants == root.end() || !tenants->is_array() || tenants->empty())
    return Bad("config", "\"tenants\" must be a non-empty array");
  for (size_t ti = 0; ti < tenants->size(); ++ti) {
    const json& t = (*tenants)[ti];
    std::string where = "tenants[" + std::to_string(ti) + "]";
    if (Status st = CheckKeys(t, where, {"id", "whatsapp", "messenger", "api_keys"}); !st.ok())
      return st;
    TenantConfig tc;
    if (Status st = GetString(t, "id", where, true, getenv, &tc.id); !st.ok()) return st;
    if (!tenant_ids.insert(tc.id).second) return Bad(where, "tenant " + tc.id + " declared twice");
    if (auto wa = t.find("whatsapp"); wa != t.end()) {
      if (!wa->is_array()) return Bad(where, "\"whatsapp\" must be an array");
      for (size_t i = 0; i < wa->size(); ++i) {
        const json& a = (*wa)[i];
        std::string w = where + ".whatsapp[" + std::to_string(i) + "]";
        if (Status st = CheckKeys(a, w, {"business_account_id", "phone_number_ids", "app_secret",
                                         "verify_token"});
            !st.ok())
          return st;
        WhatsAppAccount acc;
        if (Status st = GetString(a, "business_account_id", w, true, getenv,
                                  &acc.business_account_id);
            !st.ok())
          return st;
        if (Status st = GetString(a, "app_secret", w, true, getenv, &acc.app_secret); !st.ok())
          return st;
        if (Status st = GetString(a, "verify_token", w, false, getenv, &acc.verify_token);
            !st.ok())
          return st;
        auto ids = a.find("phone_number_ids");
        if (ids == a.end() || !ids->is_array() || ids->empty())
          return Bad(w, "\"phone_number_ids\" must be a non-empty array of strings");
        for (const json& id : *ids) {
          if (!id.is_string() || id.get<std::string>().empty())
            return Bad(w, "\"phone_number_ids\" must hold non-empty strings");
          if (!phone_ids.insert(id.get<std::string>()).second)
            return Bad(w, "phone number id " + id.get<std::string>() + " declared twice");
          acc.phone_number_ids.push_back(id.get<std::string>());
        }
        tc.whatsapp.push_back(std::move(acc));
      }
    }
    if (auto ms = t.find("messenger"); ms != t.end()) {
      if (!ms->is_array()) return Bad(where, "\"messenger\" must be an array");
      for (size_t i = 0; i < ms->size(); ++i) {
        const json& a = (*ms)[i];
        std::string w = where + ".messenger[" + std::to_string(i) + "]";
        if (Status st = CheckKeys(a, w, {"page_id", "app_secret", "verify_token"}); !st.ok())
          return st;
        MessengerPage p;
        if (Status st = GetString(a, "page_id", w, true, getenv, &p.page_id); !st.ok()) return st;
        if (Status st = GetString(a, "app_secret", w, true, getenv, &p.app_secret); !st.ok())
          return st;
        if (Status st = GetString(a, "verify_token", w, false, getenv, &p.verify_token); !st.ok())
          return st;
        if (!page_ids.insert(p.page_id).second)
          return Bad(w, "page id " + p.page_id + " declared twice");
        tc.messenger.push_back(std::move(p));
      }
    }
    if (auto ks = t.find("api_keys"); ks != t.end()) {
      if (!ks->is_array()) return Bad(where, "\"api_keys\" must be an array");
      for (size_t i = 0; i < ks->size(); ++i) {
        const json& k = (*ks)[i];
        std::string w = where + ".api_keys[" + std::to_string(i) + "]";
        if (Status st = CheckKeys(k, w, {"name", "sha256", "key", "roles"}); !st.ok()) return st;
        ApiKey key;
        key.tenant = tc.id;
        if (Status st = GetString(k, "name", w, true, getenv, &key.name); !st.ok()) return st;
        if (!key_names.insert(key.name).second) return Bad(w, "key name " + key.name + " used twice");
        std::string hex, plain;
        if (Status st = GetString(k, "sha256", w, false, getenv, &hex); !st.ok()) return st;
        // A key in clear text is accepted only from the environment: a config file holds hashes.
        if (k.contains("key")) {
          if (!k["key"].is_string() || !k["key"].get<std::string>().starts_with("env:"))
            return Bad(w, "\"key\" must name an environment variable (\"env:CONVLEDGER_...\"); "
                          "put the key's SHA-256 in \"sha256\" instead");
          if (Status st = GetString(k, "key", w, true, getenv, &plain); !st.ok()) return st;
        }
        if (hex.empty() == plain.empty()) return Bad(w, "give exactly one of \"sha256\" or \"key\"");
        if (!plain.empty()) {
          if (plain.size() < 16) return Bad(w, "a key must be at least 16 characters");
          key.sha256 = HashApiKey(plain);
        } else if (!ParseHexDigest(hex, &key.sha256)) {
          return Bad(w, "\"sha256\" must be 64 hex digits");
        }
        if (!key_hashes.insert(key.sha256).second) return Bad(w, "the same key is declared twice");
        auto roles = k.find("roles");
        if (roles == k.end() || !roles->is_array() || roles->empty())
          return Bad(w, "\"roles\" must be a non-empty array");
        for (const json& r : *roles) {
          auto role = r.is_string() ? ParseRole(r.get<std::string>()) : std::nullopt;
          if (!role)
            return Bad(w, "unknown role " + r.dump() +
                              " (writer, customer_view, dispute, legal, analytics, admin)");
          key.roles |= *role;
        }
        cfg.api_keys.push_back(std::move(key));
      }
    }
    cfg.tenants.push_back(std::move(tc));
  }
  if (auto l = root.find("limits"); l != root.end()) {
    if (Status st = CheckKeys(*l, "limits",
                              {"max_body_bytes", "max_webhook_body_bytes", "max_header_bytes",
                               "request_timeout_ms", "idle_timeout_ms", "max_connections",
                               "worker_threads", "io_threads", "inline_requests", "feed_max_limit",
                               "shutdown_grace_ms", "view_cache_bytes"});
        !st.ok())
      return st;
    Limits& L = cfg.limits;
    for (Status st : {GetUint(*l, "max_body_bytes", "limits", &L.max_body_bytes),
                      GetUint(*l, "max_webhook_body_bytes", "limits", &L.max_webhook_body_bytes),
                      GetUint(*l, "max_header_bytes", "limits", &L.max_header_bytes),
                      GetUint(*l, "request_timeout_ms", "limits", &L.request_timeout_ms),
                      GetUint(*l, "idle_timeout_ms", "limits", &L.idle_timeout_ms),
                      GetUint(*l, "max_connections", "limits", &L.max_connections),
                      GetUint(*l, "worker_threads", "limits", &L.worker_threads),
                      GetUint(*l, "io_threads", "limits", &L.io_threads),
                      GetUint(*l, "inline_requests", "limits", &L.inline_requests, true),
                      GetUint(*l, "feed_max_limit", "limits", &L.feed_max_limit),
                      GetUint(*l, "shutdown_grace_ms", "limits", &L.shutdown_grace_ms),
                      GetUint(*l, "view_cache_bytes", "limits", &L.view_cache_bytes, true)})
      if (!st.ok()) return st;
  }
  if (auto t = root.find("tls"); t != root.end()) {
    if (Status st = CheckKeys(*t, "tls", {"certificate", "private_key"}); !st.ok()) return st;
    if (Status st = GetString(*t, "certificate", "tls", true, getenv, &cfg.tls_certificate);
        !st.ok())
      return st;
    if (Status st = GetString(*t, "private_key", "tls", true, getenv, &cfg.tls_private_key);
        !st.ok())
      return st;
  }
  return cfg;
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("config_invalid", "cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str());
}

Config DemoConfig(std::string* admin_key) {
  Config cfg;
  cfg.demo = true;
  TenantConfig t;
  t.id = "default";
  // The made-up accounts and secrets of the webhook corpus (tests/api/corpus/signatures.txt), so
  // the corpus replays against a fresh demo server. Never use these outside the demo.
  const std::string secret = "5e6b0c1d9a8f4e27b3c2d1a0f9e8d7c6";
  const std::string token = "convledger-verify-7Qx2";
  t.whatsapp.push_back(
      WhatsAppAccount{"109876543210987", {"210987654321098", "210987654321099"}, secret, token});
  t.messenger.push_back(MessengerPage{"104857600000001", secret, token});
  cfg.tenants.push_back(std::move(t));
  *admin_key = NewApiKey();
  cfg.api_keys.push_back(ApiKey{"demo-admin", HashApiKey(*admin_key), "default", kRoleAdmin});
  return cfg;
}

}  // namespace convledger::api
