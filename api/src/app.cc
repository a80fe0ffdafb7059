#include "app.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "ledger/event_json.h"
#include "ledger/time.h"
#include "projections/projections.h"

namespace convledger::api {
namespace {

using json = nlohmann::json;
using projections::AsOf;
using projections::ParseAsOf;
using projections::AnalyticsQuery;

constexpr size_t kMaxIdempotencyHeader = 200;  // leaves room for ":<index>" within kMaxIdBytes
constexpr size_t kFeedDefaultLimit = 100;

std::string_view PathOf(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string ResultJson(const AppendResult& r) {
  json j;
  j["global_seq"] = r.global_seq;
  j["conversation_seq"] = r.conversation_seq;
  j["recorded_at"] = FormatRfc3339(r.recorded_at_us);
  j["event_id"] = FormatEventId(r.event_id);
  j["hash"] = HexDigest(r.hash);
  j["prev_hash"] = HexDigest(r.prev_hash);
  j["duplicate"] = r.duplicate;
  return j.dump();
}

bool IsJsonContentType(std::string_view ct) {
  auto semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  while (!media.empty() && media.front() == ' ') media.remove_prefix(1);
  std::string lower(media);
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  return lower == "application/json";
}

bool ValidHeaderToken(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, overlong lead (C0, C1) or above F4
    }
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    p += n + 1;
  }
  return true;
}

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi << 4 | lo);
    i += 2;
  }
  return out;
}

std::unordered_map<std::string, std::string> ParseQuery(std::string_view target) {
  std::unordered_map<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string k(part.substr(0, eq));
    std::string v(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
    std::replace(k.begin(), k.end(), '+', ' ');
    std::replace(v.begin(), v.end(), '+', ' ');
    auto dk = PercentDecode(k), dv = PercentDecode(v);
    if (!dk || !dv) continue;  // a malformed pair is ignored, as if absent
    out.emplace(std::move(*dk), std::move(*dv));  // the first of repeated names wins
  }
  return out;
}

App::App(Ledger& ledger, Config config) : ledger_(ledger), config_(std::move(config)) {
  for (const ApiKey& k : config_.api_keys) keys_.emplace(HexDigest(k.sha256), k);
}

Response App::Error(const Request& req, int status, std::string_view code,
                    std::string_view message) {
  Response res{static_cast<http::status>(status), req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = ErrorBody(code, message);
  res.prepare_payload();
  return res;
}

Response App::Json(const Request& req, int status, std::string body) const {
  Response res{static_cast<http::status>(status), req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

RouteInfo App::Classify(const Request& req) const {
  const std::string_view path = PathOf(req.target());
  RouteInfo r;
  r.body_limit = config_.limits.max_body_bytes;
  auto seg = Segments(path);
  if (path == "/healthz" || path == "/readyz" || path == "/metrics") {
    r.label = std::string(path);
    r.body_limit = 0;
  } else if (path == "/v1/events") {
    r.label = "/v1/events";
  } else if (path == "/v1/webhooks/whatsapp" || path == "/v1/webhooks/messenger") {
    r.label = std::string(path);
    r.body_limit = config_.limits.max_webhook_body_bytes;
  } else if (path == "/v1/feed/stream") {
    r.label = "/v1/feed/stream";
    r.stream = req.method() == http::verb::get;
    r.body_limit = 0;
  } else if (seg.size() >= 3 && seg[0] == "v1" && seg[1] == "conversations") {
    r.label = seg.size() == 4 ? "/v1/conversations/{id}/" + std::string(seg[3])
                              : "/v1/conversations/{id}/...";
    if (seg.size() == 5 && seg[3] == "evidence") r.label = "/v1/conversations/{id}/evidence/{sha256}";
    r.body_limit = 0;
  } else if (path == "/v1/feed" || path == "/v1/analytics" || path == "/v1/whoami") {
    r.label = std::string(path);
    r.body_limit = 0;
  } else {
    r.label = "unmatched";
    r.body_limit = 0;
  }
  // A GET with a body is odd but harmless; cap it small rather than refuse it.
  if (r.body_limit == 0) r.body_limit = 64 << 10;
  return r;
}

const ApiKey* App::Authenticate(const Request& req) const {
  std::string_view presented;
  if (auto it = req.find(http::field::authorization); it != req.end()) {
    std::string_view v = it->value();
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer "))
      presented = v.substr(7);
  } else if (auto x = req.find("X-API-Key"); x != req.end()) {
    presented = x->value();
  }
  if (presented.empty()) return nullptr;
  // Looked up by the key's SHA-256: the comparison never touches the secret itself.
  auto it = keys_.find(HexDigest(HashApiKey(presented)));
  return it == keys_.end() ? nullptr : &it->second;
}

Response App::Handle(const Request& req, RequestContext& ctx) {
  const std::string_view target = req.target();
  const std::string_view path = PathOf(target);
  ctx.route = Classify(req).label;
  ctx.key_name = "-";
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  auto method_not_allowed = [&](const char* allow) {
    Response r = Error(req, 405, "method_not_allowed",
                       std::string(req.method_string()) + " is not allowed here; use " + allow);
    r.set(http::field::allow, allow);
    return r;
  };

  if (path == "/healthz") {
    if (!get) return method_not_allowed("GET");
    return Json(req, 200, R"({"status":"ok"})");
  }
  if (path == "/readyz") {
    if (!get) return method_not_allowed("GET");
    return HandleReady(req);
  }
  if (path == "/metrics") {
    if (!get) return method_not_allowed("GET");
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = metrics_.Render(ledger_);
    res.prepare_payload();
    return res;
  }
  if (path == "/v1/webhooks/whatsapp" || path == "/v1/webhooks/messenger")
    return HandleWebhook(req, ctx, path == "/v1/webhooks/whatsapp");

  // Everything else needs an API key.
  const ApiKey* key = Authenticate(req);
  const bool known_route = ctx.route != "unmatched";
  if (key == nullptr) {
    const bool presented = req.find(http::field::authorization) != req.end() ||
                           req.find("X-API-Key") != req.end();
    if (!known_route && !presented) return Error(req, 404, "not_found", "no such route");
    Response r = presented ? Error(req, 401, "invalid_api_key", "the API key is not known")
                           : Error(req, 401, "unauthenticated",
                                   "send an API key: Authorization: Bearer <key>");
    r.set(http::field::www_authenticate, "Bearer");
    return r;
  }
  ctx.key_name = key->name;
  auto forbidden = [&](const char* role) {
    return Error(req, 403, "forbidden",
                 std::string("this key lacks the role this route needs: ") + role);
  };

  if (path == "/v1/whoami") {
    if (!get) return method_not_allowed("GET");
    json j{{"name", key->name}, {"tenant", key->tenant}, {"roles", RoleNames(key->roles)}};
    return Json(req, 200, j.dump());
  }
  if (path == "/v1/events") {
    if (req.method() != http::verb::post) return method_not_allowed("POST");
    if (!key->Has(kRoleWriter)) return forbidden("writer");
    return HandleAppend(req, *key, ctx);
  }
  if (path == "/v1/analytics") {
    if (!get) return method_not_allowed("GET");
    if (!key->Has(kRoleAnalytics)) return forbidden("analytics");
    return HandleAnalytics(req, *key);
  }
  if (path == "/v1/feed") {
    if (!get) return method_not_allowed("GET");
    if (!key->Has(kRoleAnalytics)) return forbidden("analytics");
    return HandleFeed(req, *key);
  }
  if (path == "/v1/feed/stream") return method_not_allowed("GET");
  auto seg = Segments(path);
  if (seg.size() >= 4 && seg[0] == "v1" && seg[1] == "conversations") {
    if (!get) return method_not_allowed("GET");
    auto id = PercentDecode(seg[2]);
    if (!id) return Error(req, 400, "invalid_path", "bad percent-encoding in the conversation id");
    const bool control = std::any_of(id->begin(), id->end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (id->empty() || id->size() > kMaxConversationIdBytes || !IsValidUtf8(*id) || control)
      return Error(req, 400, "invalid_conversation_id",
                   "a conversation id is 1 to " + std::to_string(kMaxConversationIdBytes) +
                       " bytes of UTF-8 without control characters");
    std::string rest = seg.size() >= 5 ? std::string(seg[4]) : std::string();
    if (seg.size() > 5) return Error(req, 404, "not_found", "no such route");
    return HandleConversation(req, *key, *id, seg[3], rest);
  }
  return Error(req, 404, "not_found", "no such route");
}

Response App::HandleReady(const Request& req) {
  json projections = json::array();
  bool ready = true;
  for (const auto& p : ledger_.Projections()) {
    projections.push_back({{"name", p.name}, {"ready", p.ready}, {"checkpoint", p.checkpoint}});
    ready = ready && p.ready;
  }
  json j{{"status", ready ? "ready" : "not_ready"},
         {"last_global_seq", ledger_.LastGlobalSeq()},
         {"projections", projections}};
  return Json(req, ready ? 200 : 503, j.dump());
}

Response App::HandleAppend(const Request& req, const ApiKey& key, RequestContext& ctx) {
  auto ct = req.find(http::field::content_type);
  if (ct == req.end() || !IsJsonContentType(ct->value()))
    return Error(req, 415, "unsupported_media_type", "send Content-Type: application/json");
  if (req.body().size() > config_.limits.max_body_bytes)
    return Error(req, 413, "body_too_large",
                 "the body is over " + std::to_string(config_.limits.max_body_bytes) + " bytes");
  bool batch = false;
  auto parsed = ParseEventsJson(req.body(), &batch);
  if (!parsed.ok()) {
    const HttpError e = FromStatus(parsed.status());
    return Error(req, e.status, e.code, e.message);
  }
  std::vector<Event> events = std::move(*parsed);
  if (auto ik = req.find("Idempotency-Key"); ik != req.end()) {
    std::string_view k = ik->value();
    if (!ValidHeaderToken(k, kMaxIdempotencyHeader))
      return Error(req, 400, "invalid_idempotency_key",
                   "Idempotency-Key is 1 to " + std::to_string(kMaxIdempotencyHeader) +
                       " visible ASCII characters");
    for (size_t i = 0; i < events.size(); ++i) {
      // A batch derives one key per event from the header, so a retried batch is a repeat of
      // every event in it.
      std::string derived = batch ? std::string(k) + ":" + std::to_string(i) : std::string(k);
      if (events[i].idempotency_key.empty()) {
        events[i].idempotency_key = std::move(derived);
      } else if (!batch && events[i].idempotency_key != k) {
        return Error(req, 400, "idempotency_key_mismatch",
                     "the Idempotency-Key header and the event's idempotency_key differ");
      }
    }
  }
  for (size_t i = 0; i < events.size(); ++i) {
    Event& e = events[i];
    if (e.tenant.empty()) {
      e.tenant = key.tenant;
    } else if (e.tenant != key.tenant) {
      return Error(req, 403, "tenant_forbidden",
                   (batch ? "events[" + std::to_string(i) + "]: " : std::string()) +
                       "this key may only append to tenant " + key.tenant);
    }
  }
  auto appended = ledger_.Append(std::move(events));
  if (!appended.ok()) {
    const HttpError e = FromStatus(appended.status());
    return Error(req, e.status, e.code, e.message);
  }
  size_t fresh = 0;
  for (const AppendResult& r : *appended) fresh += r.duplicate ? 0 : 1;
  metrics_.appended_events += fresh;
  metrics_.duplicate_events += appended->size() - fresh;
  std::string body;
  if (batch) {
    body = "{\"results\":[";
    for (size_t i = 0; i < appended->size(); ++i) {
      if (i) body += ',';
      body += ResultJson((*appended)[i]);
    }
    body += "]}";
  } else {
    body = ResultJson(appended->front());
  }
  // 201 when anything was appended; 200 when the whole request was an idempotent repeat.
  return Json(req, fresh > 0 ? 201 : 200, std::move(body));
}

Status App::CheckTenant(std::string_view conversation_id, const std::string& tenant) {
  ReadOptions ro;
  ro.limit = 1;
  auto first = ledger_.ReadConversation(conversation_id, 0, ro);
  if (!first.ok()) return first.status();
  if (first->empty() || first->front().tenant != tenant)
    return Status::NotFound("conversation_not_found",
                            "no conversation " + std::string(conversation_id));
  return Status::OK();
}

Response App::HandleConversation(const Request& req, const ApiKey& key, std::string_view id,
                                 std::string_view what, std::string_view rest) {
  auto q = ParseQuery(req.target());
  const bool history = what == "history", view = what == "view", events = what == "events";
  if (!rest.empty() || !(history || view || events))
    return Error(req, 404, "not_found", "no such route");
  if ((history || events) && !key.Has(kRoleDispute)) {
    return Error(req, 403, "forbidden",
                 "this key lacks the role this route needs: dispute");
  }
  if (view && !key.Has(kRoleCustomerView) && !key.Has(kRoleDispute))
    return Error(req, 403, "forbidden",
                 "this key lacks the role this route needs: customer_view or dispute");
  if (Status st = CheckTenant(id, key.tenant); !st.ok()) {
    const HttpError e = FromStatus(st);
    return Error(req, e.status, e.code, e.message);
  }
  AsOf as_of;
  if (auto it = q.find("as_of"); it != q.end()) {
    auto parsed = ParseAsOf(it->second);
    if (!parsed.ok()) return Error(req, 400, parsed.status().reason(), parsed.status().message());
    as_of = *parsed;
  }
  if (events) {
    uint64_t after = 0, limit = 0;
    if (auto it = q.find("after"); it != q.end() && !ParseU64(it->second, &after))
      return Error(req, 400, "invalid_after", "after must be a conversation sequence number");
    if (auto it = q.find("limit"); it != q.end() && (!ParseU64(it->second, &limit) || !limit))
      return Error(req, 400, "invalid_limit", "limit must be a positive integer");
    if (as_of.time_us)
      return Error(req, 400, "invalid_as_of", "events take as_of as a global sequence only");
    ReadOptions ro;
    ro.as_of_global_seq = as_of.global_seq;
    ro.limit = limit;
    auto read = ledger_.ReadConversation(id, after, ro);
    if (!read.ok()) {
      const HttpError e = FromStatus(read.status());
      return Error(req, e.status, e.code, e.message);
    }
    std::string body = "{\"conversation_id\":" + json(std::string(id)).dump() + ",\"events\":[";
    for (size_t i = 0; i < read->size(); ++i) {
      if (i) body += ',';
      body += EventToJson((*read)[i]);
    }
    body += "],\"next_after\":" +
            std::to_string(read->empty() ? after : read->back().conversation_seq) + "}";
    return Json(req, 200, std::move(body));
  }
  auto rendered = history ? projections::History(ledger_, id, as_of)
                          : projections::CustomerView(ledger_, id, as_of);
  if (!rendered.ok()) {
    const HttpError e = FromStatus(rendered.status());
    Response r = Error(req, e.status, e.code, e.message);
    if (e.status == 503) r.set(http::field::retry_after, "1");
    return r;
  }
  return Json(req, 200, std::move(*rendered));
}

Response App::HandleAnalytics(const Request& req, const ApiKey& key) {
  auto q = ParseQuery(req.target());
  AnalyticsQuery query;
  query.tenant = key.tenant;
  if (auto it = q.find("from"); it != q.end()) query.from_day = it->second;
  if (auto it = q.find("to"); it != q.end()) query.to_day = it->second;
  AsOf as_of;
  if (auto it = q.find("as_of"); it != q.end()) {
    auto parsed = ParseAsOf(it->second);
    if (!parsed.ok()) return Error(req, 400, parsed.status().reason(), parsed.status().message());
    as_of = *parsed;
  }
  auto rendered = projections::Analytics(ledger_, query, as_of);
  if (!rendered.ok()) {
    const HttpError e = FromStatus(rendered.status());
    return Error(req, e.status, e.code, e.message);
  }
  return Json(req, 200, std::move(*rendered));
}

Response App::HandleFeed(const Request& req, const ApiKey& key) {
  auto q = ParseQuery(req.target());
  uint64_t after = 0, limit = kFeedDefaultLimit;
  if (auto it = q.find("after"); it != q.end() && !ParseU64(it->second, &after))
    return Error(req, 400, "invalid_after", "after must be a global sequence number");
  if (auto it = q.find("limit"); it != q.end() &&
                                 (!ParseU64(it->second, &limit) || limit == 0 ||
                                  limit > config_.limits.feed_max_limit))
    return Error(req, 400, "invalid_limit",
                 "limit must be 1 to " + std::to_string(config_.limits.feed_max_limit));
  std::string body = "{\"events\":[";
  size_t n = 0;
  uint64_t cursor = after;
  // Other tenants' events are skipped; scanning stops after 10 pages so one request stays
  // bounded, and next_after tells the consumer where to go on.
  const uint64_t last = ledger_.LastGlobalSeq();
  for (int page = 0; page < 10 && n < limit && cursor < last; ++page) {
    ReadOptions ro;
    ro.limit = limit;
    auto read = ledger_.ReadGlobal(cursor, ro);
    if (!read.ok()) {
      const HttpError e = FromStatus(read.status());
      return Error(req, e.status, e.code, e.message);
    }
    if (read->empty()) break;
    for (const Event& e : *read) {
      cursor = e.global_seq;
      if (e.tenant != key.tenant) continue;
      if (n) body += ',';
      body += EventToJson(e);
      if (++n == limit) break;
    }
  }
  body += "],\"next_after\":" + std::to_string(cursor) +
          ",\"last_global_seq\":" + std::to_string(std::max(last, cursor)) + "}";
  return Json(req, 200, std::move(body));
}

std::variant<StreamStart, Response> App::PrepareStream(const Request& req, RequestContext& ctx) {
  ctx.route = "/v1/feed/stream";
  const ApiKey* key = Authenticate(req);
  if (key == nullptr) {
    Response r = Error(req, 401, "unauthenticated", "send a valid API key");
    r.set(http::field::www_authenticate, "Bearer");
    return r;
  }
  ctx.key_name = key->name;
  if (!key->Has(kRoleAnalytics))
    return Error(req, 403, "forbidden", "this key lacks the role this route needs: analytics");
  StreamStart s;
  s.tenant = key->tenant;
  auto q = ParseQuery(req.target());
  // Last-Event-ID (sent by an EventSource reconnecting) wins over ?after=.
  if (auto it = req.find("Last-Event-ID"); it != req.end()) {
    if (!ParseU64(it->value(), &s.after))
      return Error(req, 400, "invalid_last_event_id", "Last-Event-ID must be a global sequence");
  } else if (auto a = q.find("after"); a != q.end()) {
    if (!ParseU64(a->second, &s.after))
      return Error(req, 400, "invalid_after", "after must be a global sequence number");
  }
  return s;
}

Result<std::string> App::StreamChunk(const std::string& tenant, uint64_t* after,
                                     size_t max_events) {
  ReadOptions ro;
  ro.limit = max_events;
  auto read = ledger_.ReadGlobal(*after, ro);
  if (!read.ok()) return read.status();
  std::string out;
  for (const Event& e : *read) {
    *after = e.global_seq;
    if (e.tenant != tenant) continue;
    out += "id: " + std::to_string(e.global_seq) + "\nevent: " + std::string(ToString(e.type)) +
           "\ndata: " + EventToJson(e) + "\n\n";
  }
  return out;
}

// Until the webhook mapping lands (branch `webhooks`), the webhook routes are not served.
Response App::HandleWebhook(const Request& req, RequestContext& ctx, bool whatsapp) {
  return Error(req, 404, "not_found", "webhooks are not enabled in this build");
}

}  // namespace convledger::api
