// Helpers of the API tests: a real server on a loopback port over a temporary ledger, and a
// small blocking HTTP client (Beast) that speaks to it.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/config.h"
#include "api/server.h"
#include "ledger/ledger.h"
#include "projections/projections.h"

namespace convledger::api::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;

class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "convledger-api-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  json Json() const {
    try {
      return json::parse(body);
    } catch (...) {
      ADD_FAILURE() << "response is not JSON: " << body.substr(0, 300);
      return json();
    }
  }
  std::string Code() const {
    if (!json::accept(body)) return "";
    json j = json::parse(body);
    return j.contains("error") ? j["error"].value("code", "") : "";
  }
};

// One request on a fresh connection.
inline Reply Fetch(uint16_t port, http::verb method, const std::string& target,
                   const std::map<std::string, std::string>& headers = {},
                   const std::string& body = {}) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  if (!body.empty() || method == http::verb::post) req.prepare_payload();
  // A server refusing a body early (413) may close before all of it is sent: the response is
  // still there to read.
  beast::error_code wec;
  http::write(stream, req, wec);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(stream, buf, parser);
  Reply r;
  auto& res = parser.get();
  r.status = res.result_int();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(f.value());
  }
  r.body = res.body();
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return r;
}

inline std::map<std::string, std::string> Auth(const std::string& key,
                                               bool json_body = false) {
  std::map<std::string, std::string> h{{"Authorization", "Bearer " + key}};
  if (json_body) h["Content-Type"] = "application/json";
  return h;
}

// Keys of the test config (plain text known to the tests; the config holds only hashes).
inline const std::string kAcmeAdmin = "acme-admin-key-0123456789";
inline const std::string kAcmeWriter = "acme-writer-key-0123456789";
inline const std::string kAcmeCustomer = "acme-customer-view-key-0123";
inline const std::string kAcmeDispute = "acme-dispute-key-0123456789";
inline const std::string kAcmeAnalytics = "acme-analytics-key-01234567";
inline const std::string kGlobexAdmin = "globex-admin-key-0123456789";
inline const std::string kAcmeLegal = "acme-legal-key-0123456789ab";

inline Config TestConfig() {
  Config c;
  TenantConfig acme;
  acme.id = "acme";
  acme.whatsapp.push_back(WhatsAppAccount{"109876543210987",
                                          {"210987654321098", "210987654321099"},
                                          "5e6b0c1d9a8f4e27b3c2d1a0f9e8d7c6",
                                          "convledger-verify-7Qx2"});
  acme.messenger.push_back(
      MessengerPage{"104857600000001", "5e6b0c1d9a8f4e27b3c2d1a0f9e8d7c6", "convledger-verify-7Qx2"});
  TenantConfig globex;
  globex.id = "globex";
  c.tenants = {acme, globex};
  auto key = [&](const char* name, const std::string& k, const char* tenant, uint32_t roles) {
    c.api_keys.push_back(ApiKey{name, HashApiKey(k), tenant, roles});
  };
  key("acme-admin", kAcmeAdmin, "acme", kRoleAdmin);
  key("acme-writer", kAcmeWriter, "acme", kRoleWriter);
  key("acme-customer", kAcmeCustomer, "acme", kRoleCustomerView);
  key("acme-dispute", kAcmeDispute, "acme", kRoleDispute);
  key("acme-analytics", kAcmeAnalytics, "acme", kRoleAnalytics);
  key("globex-admin", kGlobexAdmin, "globex", kRoleAdmin);
  key("acme-legal", kAcmeLegal, "acme", kRoleLegal);
  c.limits.worker_threads = 8;
  return c;
}

// A ledger with every view and a server on a free loopback port.
class ServerFixture : public ::testing::Test {
 protected:
  void StartServer(Config config = TestConfig()) {
    Options o;
    o.projections = projections::MakeAll();
    auto l = Ledger::Open(dir_.path(), o);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    ledger_ = std::move(*l);
    ServerOptions so;
    so.port = 0;
    auto s = Server::Start(*ledger_, std::move(config), so);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    port_ = server_->port();
  }
  // Stops the server and the ledger (the data stays) and starts both again with `config`.
  void RestartWith(Config config) {
    server_->Shutdown();
    server_.reset();
    ledger_.reset();
    StartServer(std::move(config));
  }
  void SetUp() override { StartServer(); }
  void TearDown() override {
    if (server_) server_->Shutdown();
    server_.reset();
    ledger_.reset();
  }

  Reply Get(const std::string& target, const std::string& key) {
    return Fetch(port_, http::verb::get, target, Auth(key));
  }
  Reply Post(const std::string& target, const std::string& key, const std::string& body,
             std::map<std::string, std::string> extra = {}) {
    auto h = Auth(key, true);
    for (auto& [k, v] : extra) h[k] = v;
    return Fetch(port_, http::verb::post, target, h, body);
  }

  TempDir dir_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

// A message.sent event as JSON text.
inline std::string SentJson(const std::string& conv, const std::string& msg,
                            const std::string& text = "hello", const std::string& extra = "") {
  return R"({"type":"message.sent","conversation_id":")" + conv + R"(","message_id":")" + msg +
         R"(","direction":"outbound","channel":"whatsapp","actor":{"kind":"agent","id":"agent-7"},)"
         R"("content":{"text":")" + text + "\"}" + extra + "}";
}

}  // namespace convledger::api::test
