// The request handlers of the HTTP API: routing, authentication, roles and tenant isolation, and
// the thin translation between HTTP and ledger/ + projections/. No sockets here: server.cc reads
// requests and writes what these return, so everything below is plain functions of a request.
#pragma once

#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "api/config.h"
#include "ledger/ledger.h"
#include "metrics.h"
#include "view_cache.h"

namespace convledger::api {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// What a request is, known from its method and path alone (before its body is read).
struct RouteInfo {
  std::string label;        // route template for metrics and logs, e.g. "/v1/feed"
  size_t body_limit = 0;    // most body bytes accepted
  bool stream = false;      // the SSE feed: handled by the server, not by Handle()
  // Work bounded by one append or one conversation's current state (appends, webhooks, current
  // views, a feed page, proofs, health): the server may run it on the I/O thread that read it
  // when nothing else is being handled, instead of handing it to a worker and back.
  bool short_work = false;
};

struct RequestContext {
  std::string request_id;
  std::string route;            // filled by Handle()
  std::string key_name;         // the API key's name once authenticated ("-" otherwise)
  int64_t received_at_us = 0;   // when the request was complete
};

// The parameters of a feed stream, checked by PrepareStream().
struct StreamStart {
  std::string tenant;
  uint64_t after = 0;
};

class App {
 public:
  App(Ledger& ledger, Config config);

  RouteInfo Classify(const Request& req) const;
  // Handles every route except the feed stream.
  Response Handle(const Request& req, RequestContext& ctx);
  // Authenticates and checks a feed stream request; on error, the response to send instead.
  std::variant<StreamStart, Response> PrepareStream(const Request& req, RequestContext& ctx);
  // One chunk of the stream after `*after`: at most `max_events` events of `tenant`, as SSE
  // frames; advances `*after` past every event read (including other tenants' ones).
  Result<std::string> StreamChunk(const std::string& tenant, uint64_t* after, size_t max_events);

  Metrics& metrics() { return metrics_; }
  Ledger& ledger() { return ledger_; }
  const Config& config() const { return config_; }

  // An error response with the JSON body {"error":{"code","message"}}.
  static Response Error(const Request& req, int status, std::string_view code,
                        std::string_view message);

 private:
  const ApiKey* Authenticate(const Request& req) const;
  Response Json(const Request& req, int status, std::string body) const;

  Response HandleAppend(const Request& req, const ApiKey& key, RequestContext& ctx);
  Response HandleConversation(const Request& req, const ApiKey& key, std::string_view id,
                              std::string_view what, std::string_view rest);
  // The current history or customer view (ETag, If-None-Match, the view cache).
  Response HandleCurrentView(const Request& req, std::string_view id, std::string_view what);
  static Response RenderError(const Request& req, const Status& st);
  Response HandleAnalytics(const Request& req, const ApiKey& key);
  Response HandleFeed(const Request& req, const ApiKey& key);
  Response HandleWebhook(const Request& req, RequestContext& ctx, bool whatsapp);
  Response HandleReady(const Request& req);
  Response HandleProof(const Request& req, std::string_view path);
  Response HandleExport(const Request& req, const ApiKey& key, std::string_view id);
  Response HandleEvidence(const Request& req, const ApiKey& key, std::string_view id,
                          std::string_view hex);
  Response HandleErase(const Request& req, const ApiKey& key, const std::string& subject,
                       RequestContext& ctx);

  // NotFound (conversation_not_found) unless the conversation exists and belongs to `tenant`:
  // another tenant's conversation is indistinguishable from a missing one.
  Status CheckTenant(std::string_view conversation_id, const std::string& tenant);

  Ledger& ledger_;
  Config config_;
  Metrics metrics_;
  ViewCache views_;
  std::string etag_instance_;  // per process: an ETag never outlives the server that made it
  std::unordered_map<std::string, ApiKey> keys_;  // hex SHA-256 of the key ->
};

// Percent-decodes one path segment; nullopt on a bad escape.
std::optional<std::string> PercentDecode(std::string_view s);
// The query parameters of a target ("/p?a=1&b=x%20y"), percent-decoded ('+' is a space).
std::unordered_map<std::string, std::string> ParseQuery(std::string_view target);

}  // namespace convledger::api
