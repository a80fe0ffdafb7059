#include "app.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/errors.h"
#include "api/webhooks.h"
#include "webhook_internal.h"
#include "ledger/event_json.h"
#include "ledger/proof_json.h"
#include "ledger/time.h"
#include "projections/export.h"
#include "projections/projections.h"

namespace convledger::api {
namespace {

using json = nlohmann::json;
using projections::AsOf;
using projections::ParseAsOf;
using projections::AnalyticsQuery;

constexpr size_t kMaxIdempotencyHeader = 200;  // leaves room for ":<index>" within kMaxIdBytes
constexpr size_t kFeedDefaultLimit = 100;
// POST /v1/subjects/{id}/erase: {"reason": <= 4 KiB, "override_hold": bool} fits easily.
constexpr size_t kMaxEraseBodyBytes = 16 << 10;

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

bool ParseHexDigest(std::string_view hex, Digest* out) {
  if (hex.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, v, 16);
    if (ec != std::errc() || p != hex.data() + 2 * i + 2) return false;
    (*out)[i] = static_cast<uint8_t>(v);
  }
  return true;
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

App::App(Ledger& ledger, Config config)
    : ledger_(ledger), config_(std::move(config)), views_(config_.limits.view_cache_bytes) {
  for (const ApiKey& k : config_.api_keys) keys_.emplace(HexDigest(k.sha256), k);
  unsigned char r[6];
  if (RAND_bytes(r, sizeof r) != 1) {
    const uint64_t t = static_cast<uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    std::memcpy(r, &t, sizeof r);
  }
  static const char* hex = "0123456789abcdef";
  for (unsigned char c : r) {
    etag_instance_.push_back(hex[c >> 4]);
    etag_instance_.push_back(hex[c & 15]);
  }
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
    r.short_work = true;
  } else if (path == "/v1/events") {
    r.label = "/v1/events";
    r.short_work = true;
  } else if (path == "/v1/webhooks/whatsapp" || path == "/v1/webhooks/messenger") {
    r.label = std::string(path);
    r.body_limit = config_.limits.max_webhook_body_bytes;
    r.short_work = true;
  } else if (path == "/v1/feed/stream") {
    r.label = "/v1/feed/stream";
    r.stream = req.method() == http::verb::get;
    r.body_limit = 0;
  } else if (seg.size() >= 3 && seg[0] == "v1" && seg[1] == "conversations") {
    // Only known words become metric labels: a label per arbitrary path would grow without end.
    const bool known = seg.size() == 4 && (seg[3] == "history" || seg[3] == "view" ||
                                           seg[3] == "events" || seg[3] == "export");
    r.label = known ? "/v1/conversations/{id}/" + std::string(seg[3])
                    : "/v1/conversations/{id}/...";
    if (seg.size() == 5 && seg[3] == "evidence") r.label = "/v1/conversations/{id}/evidence/{sha256}";
    r.body_limit = 0;
    // The current views (served from stored state or the view cache); not an as-of fold or an
    // export, which can take much longer.
    r.short_work = seg.size() == 4 && (seg[3] == "history" || seg[3] == "view") &&
                   req.target().find("as_of") == std::string_view::npos;
  } else if (seg.size() == 4 && seg[0] == "v1" && seg[1] == "subjects" && seg[3] == "erase") {
    r.label = "/v1/subjects/{id}/erase";
    r.body_limit = kMaxEraseBodyBytes;
  } else if (path == "/v1/feed" || path == "/v1/analytics" || path == "/v1/whoami" ||
             path == "/v1/tree-head" || path == "/v1/proofs/inclusion" ||
             path == "/v1/proofs/consistency") {
    r.label = std::string(path);
    r.body_limit = 0;
    r.short_work = path != "/v1/analytics";  // analytics may read a tenant's whole range
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
  // The server classified the request from its header already; classify only when called alone.
  if (ctx.route.empty()) ctx.route = Classify(req).label;
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
  if (path == "/v1/tree-head" || path == "/v1/proofs/inclusion" ||
      path == "/v1/proofs/consistency") {
    if (!get) return method_not_allowed("GET");
    return HandleProof(req, path);  // any authenticated role: proofs reveal only hashes
  }
  auto seg = Segments(path);
  if (seg.size() == 4 && seg[0] == "v1" && seg[1] == "subjects" && seg[3] == "erase") {
    if (req.method() != http::verb::post) return method_not_allowed("POST");
    if (!key->Has(kRoleAdmin)) return forbidden("admin");
    auto id = PercentDecode(seg[2]);
    if (!id) return Error(req, 400, "invalid_path", "bad percent-encoding in the subject id");
    const bool control = std::any_of(id->begin(), id->end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (id->empty() || id->size() > kMaxIdBytes || !webhook_detail::ValidUtf8(*id) || control)
      return Error(req, 400, "invalid_subject_id",
                   "a subject id is 1 to " + std::to_string(kMaxIdBytes) +
                       " bytes of UTF-8 without control characters");
    return HandleErase(req, *key, *id, ctx);
  }
  if (seg.size() >= 4 && seg[0] == "v1" && seg[1] == "conversations") {
    if (!get) return method_not_allowed("GET");
    auto id = PercentDecode(seg[2]);
    if (!id) return Error(req, 400, "invalid_path", "bad percent-encoding in the conversation id");
    const bool control = std::any_of(id->begin(), id->end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (id->empty() || id->size() > kMaxConversationIdBytes || !webhook_detail::ValidUtf8(*id) || control)
      return Error(req, 400, "invalid_conversation_id",
                   "a conversation id is 1 to " + std::to_string(kMaxConversationIdBytes) +
                       " bytes of UTF-8 without control characters");
    std::string rest = seg.size() >= 5 ? std::string(seg[4]) : std::string();
    if (seg.size() > 5) return Error(req, 404, "not_found", "no such route");
    if (seg[3] == "evidence" && !rest.empty()) return HandleEvidence(req, *key, *id, rest);
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
    // Redacting despite a legal hold is an admin's decision: refused before anything is
    // appended (the ledger would record it, override and all).
    if (e.type == EventType::kMessageRedacted && e.override_hold && !key.Has(kRoleAdmin))
      return Error(req, 403, "override_hold_forbidden",
                   (batch ? "events[" + std::to_string(i) + "]: " : std::string()) +
                       "override_hold (redacting despite a legal hold) needs the admin role");
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
  // The first record's tenant, read without decoding the event (or opening its content).
  ReadOptions ro;
  ro.limit = 1;
  bool ours = false;
  if (Status st = ledger_.ScanConversation(conversation_id, 0, ro,
                                           [&](const RawEvent& raw) {
                                             ours = raw.tenant == tenant;
                                             return false;
                                           });
      !st.ok())
    return st;
  if (!ours)
    return Status::NotFound("conversation_not_found",
                            "no conversation " + std::string(conversation_id));
  return Status::OK();
}

Response App::HandleConversation(const Request& req, const ApiKey& key, std::string_view id,
                                 std::string_view what, std::string_view rest) {
  auto q = ParseQuery(req.target());
  const bool history = what == "history", view = what == "view", events = what == "events";
  if (rest.empty() && what == "export") return HandleExport(req, key, id);
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
  if (!as_of.IsCurrent()) {
    auto rendered = history ? projections::History(ledger_, id, as_of)
                            : projections::CustomerView(ledger_, id, as_of);
    if (!rendered.ok()) return RenderError(req, rendered.status());
    return Json(req, 200, std::move(*rendered));
  }
  return HandleCurrentView(req, id, what);
}

Response App::RenderError(const Request& req, const Status& st) {
  const HttpError e = FromStatus(st);
  Response r = Error(req, e.status, e.code, e.message);
  if (e.status == 503) r.set(http::field::retry_after, "1");
  return r;
}

namespace {

// True when an If-None-Match header value ("a", W/"b", or *) names `etag`.
bool EtagMatches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == "*") return true;
    if (item.size() > 2 && item.substr(0, 2) == "W/") item.remove_prefix(2);  // weak comparison
    if (item == etag) return true;
  }
  return false;
}

bool HasNoCache(const Request& req) {
  for (http::field f : {http::field::cache_control, http::field::pragma}) {
    auto it = req.find(f);
    if (it == req.end()) continue;
    std::string v(it->value());
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (v.find("no-cache") != std::string::npos || v.find("max-age=0") != std::string::npos)
      return true;
  }
  return false;
}

}  // namespace

// The current history or customer view. Its ETag names the conversation's last event (and this
// server process), so a client that has it gets 304 without anything being rendered, and a body
// rendered at that event is kept in the view cache until the conversation changes. The tenant and
// role checks have been made by the caller.
Response App::HandleCurrentView(const Request& req, std::string_view id, std::string_view what) {
  auto head = ledger_.GetHead(id);
  if (!head.ok()) return RenderError(req, head.status());
  const uint64_t stamp = head->global_seq;
  const std::string etag =
      "\"" + std::string(what) + "-" + std::to_string(stamp) + "-" + etag_instance_ + "\"";
  auto finish = [&](Response res, const char* cache) {
    res.set(http::field::etag, etag);
    res.set("X-Convledger-Cache", cache);
    return res;
  };
  if (auto inm = req.find(http::field::if_none_match);
      inm != req.end() && EtagMatches(inm->value(), etag)) {
    ++metrics_.not_modified;
    Response res{http::status::not_modified, req.version()};
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    return finish(std::move(res), "not-modified");
  }
  const bool history = what == "history";
  const bool bypass = HasNoCache(req);
  if (!bypass) {
    if (ViewCache::Body body = views_.Get(what, id, stamp)) {
      ++metrics_.view_cache_hits;
      return finish(Json(req, 200, *body), "hit");
    }
  }
  ++metrics_.view_cache_misses;
  auto rendered = history ? projections::History(ledger_, id, AsOf{})
                          : projections::CustomerView(ledger_, id, AsOf{});
  if (!rendered.ok()) return RenderError(req, rendered.status());
  auto body = std::make_shared<const std::string>(std::move(*rendered));
  views_.Put(what, id, stamp, body);
  return finish(Json(req, 200, *body), bypass ? "bypass" : "miss");
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

Response App::HandleExport(const Request& req, const ApiKey& key, std::string_view id) {
  if (!key.Has(kRoleLegal))
    return Error(req, 403, "forbidden", "this key lacks the role this route needs: legal");
  if (Status st = CheckTenant(id, key.tenant); !st.ok()) {
    const HttpError e = FromStatus(st);
    return Error(req, e.status, e.code, e.message);
  }
  auto q = ParseQuery(req.target());
  auto it = q.find("format");
  auto format = projections::ParseExportFormat(it == q.end() ? "bundle" : it->second);
  if (!format.ok()) return Error(req, 400, format.status().reason(), format.status().message());
  projections::ExportSelection selection;
  selection.conversation_ids.push_back(std::string(id));
  std::vector<projections::ExportFile> files;
  auto summary = projections::Export(
      ledger_, selection, *format,
      [&](const std::string& path, std::string_view bytes) {
        files.push_back({path, std::string(bytes)});
        return Status::OK();
      });
  if (!summary.ok()) {
    const HttpError e = FromStatus(summary.status());
    return Error(req, e.status, e.code, e.message);
  }
  // The file name says what it is; the id is reduced to characters safe in a header.
  std::string name;
  for (char c : std::string(id)) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  name = name.substr(0, 64);
  std::string body, type, file;
  if (*format == projections::ExportFormat::kHtml && files.size() == 1) {
    body = std::move(files[0].bytes);
    type = "text/html; charset=utf-8";
    file = name + ".html";
  } else if (*format == projections::ExportFormat::kRsmf && files.size() == 1) {
    body = std::move(files[0].bytes);
    type = "application/octet-stream";
    file = name + ".rsmf";
  } else {
    auto zip = projections::ZipFiles(files);
    if (!zip.ok()) {
      const HttpError e = FromStatus(zip.status());
      return Error(req, e.status, e.code, e.message);
    }
    body = std::move(*zip);
    type = "application/zip";
    file = name + "-" + std::string(projections::ToString(*format)) + ".zip";
  }
  Response res{http::status::ok, req.version()};
  res.set(http::field::content_type, type);
  res.set(http::field::content_disposition, "attachment; filename=\"" + file + "\"");
  res.set(http::field::cache_control, "no-store");
  res.set("X-Convledger-Tree-Size", std::to_string(summary->tree_head.tree_size));
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response App::HandleProof(const Request& req, std::string_view path) {
  auto q = ParseQuery(req.target());
  auto number = [&](const char* name, uint64_t* out, bool required) -> std::optional<Response> {
    auto it = q.find(name);
    if (it == q.end()) {
      if (!required) return std::nullopt;
      return Error(req, 400, "missing_parameter", std::string(name) + " is required");
    }
    if (!ParseU64(it->second, out))
      return Error(req, 400, "invalid_parameter", std::string(name) + " must be a number");
    return std::nullopt;
  };
  auto fail = [&](const Status& st) {
    const HttpError e = FromStatus(st);
    return Error(req, e.status, e.code, e.message);
  };
  if (path == "/v1/tree-head") {
    auto sth = ledger_.SignTreeHead();
    if (!sth.ok()) return fail(sth.status());
    auto pem = ledger_.PublicKeyPem();
    if (!pem.ok()) return fail(pem.status());
    return Json(req, 200, TreeHeadToJson(*sth, *pem));
  }
  if (path == "/v1/proofs/inclusion") {
    uint64_t seq = 0, size = 0;
    if (auto r = number("seq", &seq, true)) return *r;
    if (auto r = number("tree_size", &size, false)) return *r;
    auto p = ledger_.ProveInclusion(seq, size);
    if (!p.ok()) return fail(p.status());
    return Json(req, 200, InclusionProofToJson(*p));
  }
  uint64_t first = 0, second = 0;
  if (auto r = number("first", &first, true)) return *r;
  if (auto r = number("second", &second, true)) return *r;
  auto p = ledger_.ProveConsistency(first, second);
  if (!p.ok()) return fail(p.status());
  return Json(req, 200, ConsistencyProofToJson(*p));
}

Response App::HandleEvidence(const Request& req, const ApiKey& key, std::string_view id,
                             std::string_view hex) {
  if (!key.Has(kRoleDispute) && !key.Has(kRoleLegal))
    return Error(req, 403, "forbidden", "this key lacks the role this route needs: dispute or legal");
  Digest digest{};
  if (!ParseHexDigest(hex, &digest))
    return Error(req, 400, "invalid_evidence_id", "evidence is named by 64 hex digits of SHA-256");
  if (Status st = CheckTenant(id, key.tenant); !st.ok()) {
    const HttpError e = FromStatus(st);
    return Error(req, e.status, e.code, e.message);
  }
  // Served only through a conversation that links it: a body is never reachable from a tenant
  // none of whose events came from it.
  ReadOptions envelope_only;
  envelope_only.open_content = false;  // only the evidence links are needed
  auto events = ledger_.ReadConversation(id, 0, envelope_only);
  if (!events.ok()) {
    const HttpError e = FromStatus(events.status());
    return Error(req, e.status, e.code, e.message);
  }
  json linked = json::array();
  for (const Event& e : *events)
    if (e.evidence == digest) linked.push_back(e.global_seq);
  if (linked.empty())
    return Error(req, 404, "evidence_not_found", "no event of this conversation links it");
  auto ev = ledger_.GetEvidence(digest);
  if (!ev.ok()) {
    const HttpError e = FromStatus(ev.status());
    return Error(req, e.status, e.code, e.message);
  }
  json deliveries = json::array();
  for (const auto& d : ev->deliveries)
    deliveries.push_back({{"source", d.source},
                          {"received_at", FormatRfc3339(d.received_at_us)},
                          {"signature_valid", d.signature_valid}});
  if (ev->body_access == ContentAccess::kErased) {
    // The body's key was destroyed with what it carried (a redaction or an erasure): the body
    // is gone for good, never served. What remains is said: its digest, its deliveries and
    // the events that link it, inside the usual error object.
    json j;
    j["error"] = {{"code", "evidence_erased"},
                  {"message", "this evidence body was destroyed by the redaction or erasure of "
                              "the content it carried; its digest and deliveries remain"},
                  {"sha256", HexDigest(ev->sha256)},
                  {"deliveries", deliveries},
                  {"linked_events", linked}};
    return Json(req, 410, j.dump());
  }
  json j{{"sha256", HexDigest(ev->sha256)},
         {"size", ev->body.size()},
         {"deliveries", deliveries},
         {"linked_events", linked},
         {"body_base64", Base64Encode(ev->body)}};
  return Json(req, 200, j.dump());
}

Response App::HandleErase(const Request& req, const ApiKey& key, const std::string& subject,
                          RequestContext& ctx) {
  auto ct = req.find(http::field::content_type);
  if (ct == req.end() || !IsJsonContentType(ct->value()))
    return Error(req, 415, "unsupported_media_type", "send Content-Type: application/json");
  const std::string& body = req.body();
  if (body.size() > kMaxEraseBodyBytes)
    return Error(req, 413, "body_too_large",
                 "the body is over " + std::to_string(kMaxEraseBodyBytes) + " bytes");
  // Strict, like the event parser: same reasons, nothing unknown, nothing of the wrong type.
  if (!IsValidUtf8(body)) return Error(req, 400, "invalid_utf8", "the body is not valid UTF-8");
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error(req, 400, "malformed_json", "the body is not JSON");
  if (!j.is_object())
    return Error(req, 400, "not_an_object",
                 R"(the body must be a JSON object: {"reason": "...", "override_hold": false})");
  EraseRequest er;
  er.tenant = key.tenant;
  er.subject = subject;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "reason") {
      if (v.is_null()) continue;  // null counts as absent
      if (!v.is_string())
        return Error(req, 400, "wrong_type",
                     "reason must be a string, not " + std::string(v.type_name()));
      er.reason = v.get<std::string>();
    } else if (name == "override_hold") {
      if (v.is_null()) continue;
      if (!v.is_boolean())
        return Error(req, 400, "wrong_type",
                     "override_hold must be a boolean, not " + std::string(v.type_name()));
      er.override_hold = v.get<bool>();
    } else {
      // The name is not echoed: it is arbitrary client input.
      return Error(req, 400, "unknown_field",
                   "unknown field in the body (allowed: reason, override_hold)");
    }
  }
  if (!j.contains("reason") || j["reason"].is_null())
    return Error(req, 400, "missing_field", "reason is required: why the subject is erased");
  if (er.reason.empty()) return Error(req, 400, "empty_field", "reason must not be empty");
  if (er.reason.size() > kMaxShortTextBytes)
    return Error(req, 400, "field_too_large",
                 "reason is over " + std::to_string(kMaxShortTextBytes) + " bytes");
  // Who asked: the API key, a system of the tenant (keys name clients, not people).
  er.actor = Actor{ActorKind::kSystem, key.name, "API key " + key.name};
  auto report = ledger_.EraseSubject(er);
  if (!report.ok()) {
    const HttpError e = FromStatus(report.status());
    // Logged by code only: the message names the subject and its conversations (personal data).
    spdlog::info("erase request_id={} key={} tenant={} refused: {}", ctx.request_id, key.name,
                 key.tenant, e.code);
    return Error(req, e.status, e.code, e.message);
  }
  spdlog::info("erase request_id={} key={} tenant={} conversations={} keys_destroyed={} "
               "already_erased={} override_hold={}",
               ctx.request_id, key.name, key.tenant, report->conversations.size(),
               report->keys_destroyed, report->already_erased, er.override_hold);
  json out{{"tenant", report->tenant},
           {"subject", report->subject},
           {"conversations", report->conversations},
           {"keys_destroyed", report->keys_destroyed},
           {"first_global_seq", report->first_global_seq},
           {"last_global_seq", report->last_global_seq},
           {"already_erased", report->already_erased}};
  return Json(req, 200, out.dump(-1, ' ', false, json::error_handler_t::replace));
}

Response App::HandleWebhook(const Request& req, RequestContext& ctx, bool whatsapp) {
  const char* platform = whatsapp ? "whatsapp" : "messenger";
  // Every account of this platform across tenants; secrets and tokens never leave this function.
  struct Account {
    std::string id;  // phone_number_id or page id
    std::string tenant;
    const std::string* secret;
  };
  std::vector<Account> accounts;
  std::vector<std::string> tokens;
  for (const TenantConfig& t : config_.tenants) {
    if (whatsapp) {
      for (const WhatsAppAccount& a : t.whatsapp) {
        for (const std::string& phone : a.phone_number_ids)
          accounts.push_back({phone, t.id, &a.app_secret});
        if (!a.verify_token.empty()) tokens.push_back(a.verify_token);
      }
    } else {
      for (const MessengerPage& p : t.messenger) {
        accounts.push_back({p.page_id, t.id, &p.app_secret});
        if (!p.verify_token.empty()) tokens.push_back(p.verify_token);
      }
    }
  }
  if (req.method() == http::verb::get) {
    std::string_view target = req.target();
    auto qm = target.find('?');
    HandshakeResult h = VerifyHandshakeQuery(
        qm == std::string_view::npos ? std::string_view() : target.substr(qm + 1), tokens);
    metrics_.CountWebhook(platform, h.http_status == 200 ? "handshake_ok" : "handshake_refused");
    if (h.http_status != 200) {
      Response r = Json(req, h.http_status, h.body);
      return r;
    }
    Response r{http::status::ok, req.version()};
    r.set(http::field::content_type, "text/plain; charset=utf-8");
    r.keep_alive(req.keep_alive());
    r.body() = h.body;
    r.prepare_payload();
    return r;
  }
  if (req.method() != http::verb::post) {
    Response r = Error(req, 405, "method_not_allowed", "use GET (verification) or POST");
    r.set(http::field::allow, "GET, POST");
    return r;
  }
  const std::string& body = req.body();
  if (body.size() > config_.limits.max_webhook_body_bytes)
    return Error(req, 413, "body_too_large", "the body is over the webhook size limit");
  auto sig = req.find("X-Hub-Signature-256");
  if (sig == req.end()) {
    metrics_.CountWebhook(platform, "bad_signature");
    return Error(req, 401, "signature_missing",
                 "X-Hub-Signature-256 is required (the legacy SHA-1 header is not accepted)");
  }
  // The signature names the app: only that app's accounts may be spoken for by this body.
  const std::string* matched = nullptr;
  for (const Account& a : accounts) {
    if (matched != nullptr && *a.secret == *matched) continue;
    if (CheckMetaSignature(sig->value(), body, *a.secret)) {
      matched = a.secret;
      break;
    }
  }
  if (matched == nullptr) {
    metrics_.CountWebhook(platform, "bad_signature");
    return Error(req, 401, "signature_invalid", "X-Hub-Signature-256 does not match the body");
  }
  std::unordered_map<std::string, std::string> tenant_of;
  for (const Account& a : accounts)
    if (*a.secret == *matched) tenant_of.emplace(a.id, a.tenant);
  auto lookup = [&](std::string_view id) -> std::optional<std::string> {
    auto it = tenant_of.find(std::string(id));
    if (it == tenant_of.end()) return std::nullopt;
    return it->second;
  };
  WebhookContext wctx;
  wctx.evidence = BodyDigest(body);
  wctx.whatsapp_tenant = lookup;
  wctx.messenger_tenant = lookup;
  wctx.messenger_outbound = LedgerOutboundLookup(ledger_);
  WebhookResult mapped = whatsapp ? MapWhatsApp(body, wctx) : MapMessenger(body, wctx);
  for (const std::string& note : mapped.ignored)
    spdlog::info("webhook request_id={} platform={} ignored: {}", ctx.request_id, platform, note);
  if (!mapped.ok()) {
    metrics_.CountWebhook(platform, mapped.code);
    return Error(req, mapped.http_status, mapped.code, mapped.message);
  }
  json ignored = mapped.ignored;
  if (mapped.events.empty()) {
    // Nothing for any account we know (another field, another account): acknowledged so the
    // platform stops retrying, and not kept: it holds no event of ours.
    metrics_.CountWebhook(platform, "ignored");
    return Json(req, 200, json{{"appended", 0}, {"duplicates", 0}, {"ignored", ignored}}.dump());
  }
  AppendOptions ao;
  ao.evidence.push_back(EvidenceDelivery{body, platform, ctx.received_at_us, true});
  size_t appended = 0, duplicates = 0, conflicting = 0;
  const size_t mapped_count = mapped.events.size();
  auto result = ledger_.Append(mapped.events, ao);
  if (result.ok()) {
    for (const AppendResult& r : *result) (r.duplicate ? duplicates : appended) += 1;
  } else if (result.status().IsIdempotencyConflict() ||
             result.status().reason() == "subject_mismatch") {
    // A redelivery whose content differs from the first delivery (a profile name changed, say).
    // The platform's id is the message's identity: keep what was recorded first, record the
    // rest of the body event by event so no new fact in it is lost, and keep the body as
    // evidence of what was delivered.
    // Or a conversation whose subject was fixed otherwise (its first event appended through
    // POST /v1/events without `subject`, so the conversation id): its events are recorded
    // under the subject it has rather than refused, which Meta would retry for days.
    bool first = true;
    for (Event& e : mapped.events) {
      AppendOptions one;
      if (first) one.evidence = ao.evidence;
      auto r = ledger_.Append({e}, one);
      if (!r.ok() && r.status().reason() == "subject_mismatch" && !e.subject.empty()) {
        spdlog::warn("webhook request_id={} platform={} conversation has another subject than "
                     "the customer's platform id: key={} recorded under the conversation's",
                     ctx.request_id, platform, e.idempotency_key);
        e.subject.clear();
        r = ledger_.Append({e}, one);
      } else if (!r.ok() && r.status().IsIdempotencyConflict() && !e.subject.empty()) {
        // Recorded before mapped events named their subject: the same event without it is
        // the original (a duplicate), not a conflict. The key exists, so this appends nothing.
        Event bare = e;
        bare.subject.clear();
        if (auto b = ledger_.Append({bare}, one); b.ok()) r = std::move(b);
      }
      if (r.ok()) {
        first = false;
        ((*r)[0].duplicate ? duplicates : appended) += 1;
      } else if (r.status().IsIdempotencyConflict()) {
        ++conflicting;
        spdlog::warn("webhook request_id={} platform={} redelivery differs from the recorded "
                     "event: key={} kept the first",
                     ctx.request_id, platform, e.idempotency_key);
      } else {
        const HttpError err = FromStatus(r.status());
        metrics_.CountWebhook(platform, err.code);
        return Error(req, err.status, err.code, err.message);
      }
    }
    if (first) {
      // Every event conflicted: still record the delivery.
      auto r = ledger_.Append({}, ao);
      if (!r.ok()) {
        const HttpError err = FromStatus(r.status());
        return Error(req, err.status, err.code, err.message);
      }
    }
  } else {
    const HttpError err = FromStatus(result.status());
    metrics_.CountWebhook(platform, err.code);
    spdlog::warn("webhook request_id={} platform={} append refused: {}", ctx.request_id, platform,
                 result.status().ToString());
    return Error(req, err.status, err.code, err.message);
  }
  metrics_.appended_events += appended;
  metrics_.duplicate_events += duplicates;
  ++metrics_.evidence_bodies;
  metrics_.CountWebhook(platform, appended ? "appended" : "duplicate");
  json j{{"appended", appended},
         {"duplicates", duplicates},
         {"conflicting_redeliveries", conflicting},
         {"events", mapped_count},
         {"evidence", HexDigest(wctx.evidence)},
         {"ignored", ignored}};
  return Json(req, 200, j.dump());
}

}  // namespace convledger::api
