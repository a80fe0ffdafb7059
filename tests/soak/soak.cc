// Soak driver (tests/soak/run): runs `convledger serve` over a data directory on a small file
// system and, for a bounded time, drives it with concurrent appends, change-feed consumers (pages
// and SSE) and view readers while it injects faults:
//
//   kill      SIGKILL of the server mid-load, then a restart;
//   diskfull  the file system filled (a filler file, then big appends) until appends fail, which
//             must be a 507 `disk_full`, the server still up and reading; then space is freed,
//             the server killed and restarted;
//   malformed bad JSON, wrong types, invalid UTF-8, oversized bodies and headers, garbage HTTP
//             between the faults: each must be a 4xx (or a closed connection for garbage) and
//             change nothing.
//
// After every fault, with the server stopped: every acknowledged (2xx) append is in the log
// exactly once, no idempotency key is stored twice, every event a feed consumer saw is still there
// with the same key, nothing of the malformed requests is stored, `convledger verify
// --projections full` passes (log, chains, tree, and every view equal to a rebuild from the log),
// and the restarted server answers /healthz within a second of its start.
//
// Every append carries a unique Idempotency-Key; an append that was not acknowledged (connection
// cut by the kill, 507) is retried with the same key and body until it is, so an append that was
// committed but whose answer was lost must come back as a duplicate, never as a second event.
//
// Prints one summary line on stdout and exits 1 when anything was lost, duplicated or failed.
//
//   convledger_soak --cli build/convledger --data MNT/data --work DIR --seconds 300
#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr char kKeyEnv[] = "CONVLEDGER_SOAK_KEY";
constexpr int kConversations = 40;
constexpr size_t kMaxBodyBytes = 2 << 20;  // limits.max_body_bytes of the soak config

std::string g_key;        // the API key (admin of tenant "soak")
uint16_t g_port = 0;
std::string g_run;        // prefix of every idempotency key of this run
std::atomic<bool> g_stop{false};  // the load threads end

struct Settings {
  std::string cli, data, work;
  double seconds = 300;
  int appenders = 4;
  int diskfull_every = 4;  // every Nth fault fills the disk
  int burst = 40;          // appends an appender sends back to back ...
  int pause_ms = 250;      // ... before it pauses (keeps the log, and the checks, bounded)
};

Settings g_set;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void Log(const std::string& s) {
  static std::mutex mu;
  std::lock_guard lk(mu);
  std::cerr << "soak: " << s << std::endl;
}

// ---------------------------------------------------------------------------------------------
// Failures: every check that fails is counted and its first few details are kept for the log.

struct Failures {
  std::mutex mu;
  std::map<std::string, uint64_t> counts;
  std::vector<std::string> details;
  void Add(const std::string& what, const std::string& detail) {
    std::lock_guard lk(mu);
    ++counts[what];
    if (details.size() < 50) details.push_back(what + ": " + detail);
    Log("FAIL " + what + ": " + detail);
  }
  uint64_t Total() {
    std::lock_guard lk(mu);
    uint64_t n = 0;
    for (auto& [k, v] : counts) n += v;
    return n;
  }
} g_fail;

// ---------------------------------------------------------------------------------------------
// A small blocking HTTP/1.1 client over one kept-alive connection.

struct Reply {
  int status = 0;  // 0: no answer (connection refused, reset, timed out)
  std::string body;
  std::string Code() const {
    if (!json::accept(body)) return "";
    json j = json::parse(body);
    return j.contains("error") && j["error"].is_object() ? j["error"].value("code", "") : "";
  }
};

class Client {
 public:
  Reply Do(http::verb method, const std::string& target, const std::string& body = {},
           const std::map<std::string, std::string>& headers = {}, bool auth = true) {
    Reply r;
    try {
      if (!stream_) Connect();
      http::request<http::string_body> req{method, target, 11};
      req.set(http::field::host, "127.0.0.1");
      req.keep_alive(true);
      if (auth) req.set(http::field::authorization, "Bearer " + g_key);
      for (const auto& [k, v] : headers) req.set(k, v);
      req.body() = body;
      if (!body.empty() || method == http::verb::post) req.prepare_payload();
      stream_->expires_after(std::chrono::seconds(20));
      beast::error_code wec;
      http::write(*stream_, req, wec);  // a 413 may come before the whole body was taken
      http::response_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      http::read(*stream_, buf_, parser);
      r.status = parser.get().result_int();
      r.body = parser.get().body();
      if (!parser.get().keep_alive()) Reset();
    } catch (const std::exception&) {
      Reset();
      r.status = 0;
    }
    return r;
  }
  void Reset() {
    stream_.reset();
    buf_.clear();
  }

 private:
  void Connect() {
    stream_.emplace(ioc_);
    stream_->expires_after(std::chrono::seconds(2));
    stream_->connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), g_port));
  }
  net::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buf_;
};

// Raw bytes on a fresh connection; returns what came back (maybe nothing) until close or timeout.
std::string RawExchange(const std::string& bytes, int timeout_ms = 3000) {
  try {
    net::io_context ioc;
    beast::tcp_stream s(ioc);
    s.expires_after(std::chrono::milliseconds(timeout_ms));
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), g_port));
    beast::error_code ec;
    net::write(s, net::buffer(bytes), ec);
    std::string out;
    char buf[4096];
    for (;;) {
      size_t n = s.read_some(net::buffer(buf), ec);
      out.append(buf, n);
      if (ec || out.size() > (1 << 20)) break;
    }
    return out;
  } catch (const std::exception&) {
    return "";
  }
}

int StatusOfRaw(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.substr(9, 3).c_str());
}

// ---------------------------------------------------------------------------------------------
// What the clients saw: acknowledged appends and the feed.

struct Ledgerbook {
  std::mutex mu;
  std::unordered_map<std::string, std::string> acked;  // idempotency key -> conversation id
  std::unordered_map<std::string, std::string> sent;   // every key ever sent -> conversation id
  std::vector<std::string> feed_seen;                  // global_seq - 1 -> key seen in a feed
  uint64_t acked_new = 0, acked_duplicate = 0;

  void Sent(const std::vector<std::string>& keys, const std::string& conv) {
    std::lock_guard lk(mu);
    for (const auto& k : keys) sent.emplace(k, conv);
  }
  void Acked(const std::vector<std::string>& keys, const std::string& conv, bool duplicate) {
    std::lock_guard lk(mu);
    for (const auto& k : keys) acked.emplace(k, conv);
    (duplicate ? acked_duplicate : acked_new) += keys.size();
  }
  // A feed consumer saw `key` at `seq`: another consumer, or the same one after a restart, must
  // see the same key there.
  void Seen(uint64_t seq, const std::string& key, const char* who) {
    std::lock_guard lk(mu);
    if (feed_seen.size() < seq) feed_seen.resize(seq);
    std::string& slot = feed_seen[seq - 1];
    if (slot.empty()) {
      slot = key;
    } else if (slot != key) {
      g_fail.Add("feed_rewrote", std::string(who) + " global_seq " + std::to_string(seq) +
                                     ": '" + key + "', before '" + slot + "'");
    }
  }
} g_book;

std::string Rfc3339Day(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "2026-11-%02dT%02d:%02d:00Z", 1 + i % 28, i % 24, i % 60);
  return buf;
}

json SentEvent(const std::string& conv, const std::string& mid, int n, const std::string& text) {
  const bool agent = n % 3 == 0;
  return {{"conversation_id", conv},
          {"type", "message.sent"},
          {"occurred_at", Rfc3339Day(n)},
          {"actor", {{"kind", agent ? "agent" : "customer"}, {"id", agent ? "agent-1" : "cust-" + conv}}},
          {"channel", "webchat"},
          {"message_id", mid},
          {"direction", agent ? "outbound" : "inbound"},
          {"content", {{"text", text}}}};
}

// One append (single event or batch), retried with the same key and body until acknowledged.
struct PendingAppend {
  std::string conv;
  std::string header_key;
  std::vector<std::string> keys;  // the idempotency keys of its events
  std::string body;
};

PendingAppend MakeAppend(const std::string& who, uint64_t n, std::mt19937_64& rng) {
  PendingAppend p;
  p.conv = "soak-c" + std::to_string(rng() % kConversations);
  p.header_key = g_run + "-" + who + "-" + std::to_string(n);
  const int kind = static_cast<int>(rng() % 10);
  const std::string text = "soak " + p.header_key + " " + std::string(rng() % 400, 'x');
  if (kind < 5) {
    p.keys = {p.header_key};
    p.body = SentEvent(p.conv, p.header_key, static_cast<int>(n), text).dump();
  } else if (kind < 7) {
    p.keys = {p.header_key};
    p.body = json{{"conversation_id", p.conv},
                  {"type", "note.added"},
                  {"occurred_at", Rfc3339Day(static_cast<int>(n))},
                  {"actor", {{"kind", "agent"}, {"id", "agent-2"}}},
                  {"text", text}}
                 .dump();
  } else {
    // A batch: the server derives KEY:0, KEY:1, KEY:2.
    const std::string mid = p.header_key;
    json events = json::array();
    events.push_back(SentEvent(p.conv, mid, 1, text));  // customer, inbound
    events.push_back({{"conversation_id", p.conv},
                      {"type", "message.reaction"},
                      {"occurred_at", Rfc3339Day(2)},
                      {"actor", {{"kind", "customer"}, {"id", "cust-" + p.conv}}},
                      {"message_id", mid},
                      {"action", "add"},
                      {"emoji", "\xF0\x9F\x91\x8D"}});
    events.push_back({{"conversation_id", p.conv},
                      {"type", "message.status"},
                      {"occurred_at", Rfc3339Day(3)},
                      {"actor", {{"kind", "platform"}, {"id", "webchat"}}},
                      {"message_id", mid},
                      {"status", "read"}});
    p.body = json{{"events", events}}.dump();
    for (int i = 0; i < 3; ++i) p.keys.push_back(p.header_key + ":" + std::to_string(i));
  }
  return p;
}

// Sends one append once. Returns the HTTP status (0: no answer).
int SendAppend(Client& c, const PendingAppend& p, std::string* code) {
  g_book.Sent(p.keys, p.conv);
  Reply r = c.Do(http::verb::post, "/v1/events", p.body,
                 {{"Content-Type", "application/json"}, {"Idempotency-Key", p.header_key}});
  *code = r.Code();
  if (r.status == 200 || r.status == 201) {
    bool duplicate = false;
    try {
      json j = json::parse(r.body);
      duplicate = j.contains("results") ? j["results"][0].value("duplicate", false)
                                        : j.value("duplicate", false);
    } catch (const std::exception&) {
      g_fail.Add("append_reply_not_json", r.body.substr(0, 200));
    }
    g_book.Acked(p.keys, p.conv, duplicate);
  }
  return r.status;
}

std::atomic<uint64_t> g_unexpected_append_status{0};
std::atomic<uint64_t> g_disk_full_replies{0};

void AppenderLoop(int id) {
  std::mt19937_64 rng(static_cast<uint64_t>(id) * 7919 + 17);
  Client c;
  uint64_t n = 0;
  std::optional<PendingAppend> pending;
  while (!g_stop.load()) {
    if (!pending) pending = MakeAppend("a" + std::to_string(id), n++, rng);
    std::string code;
    const int st = SendAppend(c, *pending, &code);
    if (st == 200 || st == 201) {
      pending.reset();
      if (n % g_set.burst == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % (2 * g_set.pause_ms + 1)));
    } else if (st == 0 || st == 503 || st == 507) {
      if (st == 507) ++g_disk_full_replies;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // retry the same append
    } else {
      // 4xx on a well-formed append is a bug; dropping the key keeps the loop going.
      g_fail.Add("append_status", std::to_string(st) + " " + code + " key " + pending->header_key);
      pending.reset();
    }
  }
}

// Pages through /v1/feed from 0 again after every restart (the whole log must be the same).
void FeedPager() {
  Client c;
  uint64_t after = 0;
  while (!g_stop.load()) {
    Reply r = c.Do(http::verb::get, "/v1/feed?after=" + std::to_string(after) + "&limit=500");
    if (r.status == 0) {
      after = 0;  // re-read everything after a restart
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (r.status != 200) {
      g_fail.Add("feed_status", std::to_string(r.status) + " " + r.Code());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) {
      g_fail.Add("feed_not_json", r.body.substr(0, 200));
      continue;
    }
    for (const json& e : j["events"]) {
      const uint64_t seq = e["global_seq"].get<uint64_t>();
      if (seq != after + 1)
        g_fail.Add("feed_gap", "after " + std::to_string(after) + " came " + std::to_string(seq));
      g_book.Seen(seq, e.value("idempotency_key", ""), "feed");
      after = seq;
    }
    if (j["events"].empty()) std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
}

// Follows /v1/feed/stream, resuming with Last-Event-ID after every disconnect.
void StreamFollower() {
  uint64_t last = 0;
  while (!g_stop.load()) {
    try {
      net::io_context ioc;
      tcp::socket s(ioc);
      s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), g_port));
      const std::string req = "GET /v1/feed/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                              g_key + "\r\nLast-Event-ID: " + std::to_string(last) + "\r\n\r\n";
      net::write(s, net::buffer(req));
      // Reads in a thread of its own would need cancellation; a receive timeout is enough here.
      timeval tv{0, 200000};
      setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string buf;
      bool header_done = false;
      char tmp[65536];
      while (!g_stop.load()) {
        ssize_t n = ::recv(s.native_handle(), tmp, sizeof tmp, 0);
        if (n == 0) break;
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
          break;
        }
        buf.append(tmp, static_cast<size_t>(n));
        if (!header_done) {
          auto end = buf.find("\r\n\r\n");
          if (end == std::string::npos) continue;
          if (buf.rfind("HTTP/1.1 200", 0) != 0) {
            g_fail.Add("stream_status", buf.substr(0, buf.find("\r\n")));
            break;
          }
          buf.erase(0, end + 4);
          header_done = true;
        }
        // Whole SSE events end with a blank line.
        size_t pos;
        while ((pos = buf.find("\n\n")) != std::string::npos) {
          std::string ev = buf.substr(0, pos);
          buf.erase(0, pos + 2);
          if (ev.rfind("id: ", 0) != 0) continue;  // the opening comment
          const uint64_t id = std::stoull(ev.substr(4, ev.find('\n') - 4));
          if (id != last + 1)
            g_fail.Add("stream_gap", "after " + std::to_string(last) + " came " + std::to_string(id));
          auto d = ev.find("\ndata: ");
          json j = json::parse(d == std::string::npos ? std::string() : ev.substr(d + 7), nullptr,
                               false);
          if (j.is_discarded()) {
            g_fail.Add("stream_not_json", ev.substr(0, 200));
          } else {
            g_book.Seen(id, j.value("idempotency_key", ""), "stream");
          }
          last = id;
        }
      }
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::atomic<uint64_t> g_reads{0};

// Reads views, history, events and analytics; a conversation's event count (in its events and
// in its history, which the server may serve from its view cache) never goes down, not even
// across a kill (every event a reader saw was committed).
void ViewReader(int id) {
  std::mt19937_64 rng(static_cast<uint64_t>(id) * 104729 + 3);
  Client c;
  std::vector<uint64_t> seen(kConversations, 0), seen_history(kConversations, 0);
  while (!g_stop.load()) {
    const int k = static_cast<int>(rng() % kConversations);
    const std::string conv = "soak-c" + std::to_string(k);
    const char* what[] = {"view", "history", "events?limit=5000", "analytics"};
    const int w = static_cast<int>(rng() % 4);
    const std::string target =
        w == 3 ? "/v1/analytics" : "/v1/conversations/" + conv + "/" + what[w];
    Reply r = c.Do(http::verb::get, target);
    if (r.status == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    ++g_reads;
    if (r.status == 404 && r.Code() == "conversation_not_found") continue;
    if (r.status != 200) {
      g_fail.Add("read_status", target + " " + std::to_string(r.status) + " " + r.Code());
      continue;
    }
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) {
      g_fail.Add("read_not_json", target);
      continue;
    }
    if (w == 2) {
      const uint64_t n = j["events"].size();
      if (n < seen[k])
        g_fail.Add("read_went_back", conv + ": " + std::to_string(n) + " events after " +
                                         std::to_string(seen[k]));
      seen[k] = std::max(seen[k], n);
    }
    if (w == 1) {
      const uint64_t n = j.value("events", uint64_t{0});
      if (n < seen_history[k])
        g_fail.Add("history_went_back", conv + ": " + std::to_string(n) + " events after " +
                                            std::to_string(seen_history[k]));
      seen_history[k] = std::max(seen_history[k], n);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Malformed requests: every one must be answered 4xx (or, for garbage, at worst a closed
// connection) and leave nothing behind: conversation "soak-bad" and keys "bad-" stay absent.

uint64_t g_malformed = 0;

void ExpectStatus(const std::string& what, int got, std::initializer_list<int> want) {
  ++g_malformed;
  if (std::find(want.begin(), want.end(), got) == want.end())
    g_fail.Add("malformed_status", what + " answered " + std::to_string(got));
}

void SendMalformed(int round) {
  Client c;
  const std::string key = "bad-" + g_run + "-" + std::to_string(round);
  const std::map<std::string, std::string> hj{{"Content-Type", "application/json"},
                                             {"Idempotency-Key", key}};
  const std::string good =
      SentEvent("soak-bad", key, 1, "never stored").dump();  // the valid shape, varied below
  auto post = [&](const std::string& body, const std::map<std::string, std::string>& h) {
    return c.Do(http::verb::post, "/v1/events", body, h).status;
  };
  ExpectStatus("truncated json", post(good.substr(0, good.size() / 2), hj), {400});
  ExpectStatus("not an object", post("[1,2,3]", hj), {400});
  {
    json j = json::parse(good);
    j["conversation_id"] = 12345;
    ExpectStatus("wrong type", post(j.dump(), hj), {400});
    j = json::parse(good);
    j["colour"] = "blue";
    ExpectStatus("unknown field", post(j.dump(), hj), {400});
    j = json::parse(good);
    j.erase("actor");
    ExpectStatus("missing field", post(j.dump(), hj), {400});
    j = json::parse(good);
    j["type"] = "message.exploded";
    ExpectStatus("unknown type", post(j.dump(), hj), {400});
  }
  {
    std::string bad_utf8 = good;
    bad_utf8.replace(bad_utf8.find("never stored"), 12, "never \xff\xfe\xc3 stored");
    ExpectStatus("invalid utf-8", post(bad_utf8, hj), {400});
  }
  ExpectStatus("empty batch", post(R"({"events":[]})", hj), {400});
  ExpectStatus("wrong content type", post(good, {{"Content-Type", "text/plain"}, {"Idempotency-Key", key}}),
               {415});
  ExpectStatus("bad idempotency header",
               post(good, {{"Content-Type", "application/json"}, {"Idempotency-Key", "a b\tc"}}),
               {400});
  ExpectStatus("no api key",
               c.Do(http::verb::post, "/v1/events", good, hj, /*auth=*/false).status, {401});
  {
    // Over max_body_bytes: a valid event padded with spaces.
    std::string big = good;
    big.append(kMaxBodyBytes + 1024 - big.size(), ' ');
    ExpectStatus("oversized body", post(big, hj), {413});
    c.Reset();
  }
  ExpectStatus("bad conversation id",
               c.Do(http::verb::get, "/v1/conversations/%FF%FE/view").status, {400});
  ExpectStatus("bad as_of",
               c.Do(http::verb::get, "/v1/conversations/soak-c1/history?as_of=yesterday").status,
               {400, 404});
  ExpectStatus("bad feed limit", c.Do(http::verb::get, "/v1/feed?limit=-4").status, {400});
  // Raw bytes: garbage, a header over the limit, a lying Content-Length, a broken chunk.
  const std::string auth = "Authorization: Bearer " + g_key + "\r\n";
  ExpectStatus("garbage http", StatusOfRaw(RawExchange("\x16\x03\x01garbage\r\n\r\n")), {0, 400});
  ExpectStatus("huge header",
               StatusOfRaw(RawExchange("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " +
                                       std::string(40000, 'p') + "\r\n\r\n")),
               {0, 431, 400});
  ExpectStatus("content-length over limit",
               StatusOfRaw(RawExchange("POST /v1/events HTTP/1.1\r\nHost: x\r\n" + auth +
                                       "Content-Type: application/json\r\nIdempotency-Key: " + key +
                                       "\r\nContent-Length: 999999999\r\n\r\n{")),
               {413});
  ExpectStatus("broken chunked body",
               StatusOfRaw(RawExchange("POST /v1/events HTTP/1.1\r\nHost: x\r\n" + auth +
                                       "Content-Type: application/json\r\nIdempotency-Key: " + key +
                                       "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + good +
                                       "\r\n0\r\n\r\n")),
               {0, 400});
  ExpectStatus("half a request then close",
               StatusOfRaw(RawExchange("POST /v1/events HTTP/1.1\r\nHost: x\r\n" + auth +
                                       "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"conv",
                                       300)),
               {0, 408});
  // The server is still there.
  Client h;
  if (h.Do(http::verb::get, "/healthz", {}, {}, false).status != 200)
    g_fail.Add("malformed_killed_server", "no /healthz after the malformed round");
}

// ---------------------------------------------------------------------------------------------
// Processes.

struct Proc {
  pid_t pid = -1;
};

Proc Spawn(const std::vector<std::string>& args, const std::string& out_path,
           const std::string& err_path) {
  Proc p;
  p.pid = fork();
  if (p.pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) dup2(out, 1);
    if (err >= 0) dup2(err, 2);
    std::vector<std::string> a = args;
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return p;
}

int WaitExit(pid_t pid, int timeout_s) {
  int status = 0;
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < deadline) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

// Runs a command to completion; its stdout into *out.
int RunCapture(const std::vector<std::string>& args, const std::string& err_path, std::string* out,
               int timeout_s = 600) {
  const std::string tmp = err_path + ".out";
  fs::remove(tmp);
  Proc p = Spawn(args, tmp, err_path);
  int rc = WaitExit(p.pid, timeout_s);
  std::ifstream in(tmp, std::ios::binary);
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  fs::remove(tmp);
  return rc;
}


Proc g_server;
double g_max_health_ms = 0, g_max_ready_ms = 0;
uint64_t g_restarts_over_1s = 0;

bool StartServer() {
  const auto t0 = Clock::now();
  std::vector<std::string> args;
  // SOAK_SERVER_WRAPPER (e.g. "gdb -batch -ex run -ex bt --args") runs the server under a tool.
  if (const char* w = getenv("SOAK_SERVER_WRAPPER")) {
    std::string word;
    for (const char* p = w;; ++p) {
      if (*p == ' ' || *p == '\0') {
        if (!word.empty()) args.push_back(word);
        word.clear();
        if (*p == '\0') break;
      } else {
        word += *p;
      }
    }
  }
  for (const std::string& a :
       {g_set.cli, std::string("serve"), std::string("--data"), g_set.data, std::string("--listen"),
        "127.0.0.1:" + std::to_string(g_port), std::string("--config"), g_set.work + "/soak.jsonc"})
    args.push_back(a);
  g_server = Spawn(args, g_set.work + "/serve.stdout", g_set.work + "/serve.log");
  // For tests/soak/run's trap: the server must not outlive an interrupted soak.
  std::ofstream(g_set.work + "/serve.pid") << g_server.pid << "\n";
  Client c;
  double health = -1;
  while (MsSince(t0) < 30000) {
    int st;
    if (waitpid(g_server.pid, &st, WNOHANG) == g_server.pid) {
      g_fail.Add("server_start", "serve exited during start; see " + g_set.work + "/serve.log");
      g_server.pid = -1;
      return false;
    }
    Reply r = c.Do(http::verb::get, health < 0 ? "/healthz" : "/readyz", {}, {}, false);
    if (r.status == 200) {
      if (health < 0) {
        health = MsSince(t0);
        continue;
      }
      const double ready = MsSince(t0);
      g_max_health_ms = std::max(g_max_health_ms, health);
      g_max_ready_ms = std::max(g_max_ready_ms, ready);
      if (health > 1000) {
        ++g_restarts_over_1s;
        g_fail.Add("slow_restart", "first /healthz after " + std::to_string(health) + " ms");
      }
      return true;
    }
    c.Reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  g_fail.Add("server_start", "no /readyz within 30 s");
  return false;
}

// SIGKILL, or SIGTERM, after which serve must stop cleanly (exit 0) within a minute.
void KillServer(int sig) {
  if (g_server.pid <= 0) return;
  kill(g_server.pid, sig);
  const int rc = WaitExit(g_server.pid, 60);
  if (sig == SIGTERM && rc != 0)
    g_fail.Add("graceful_stop", "serve exited " + std::to_string(rc) + " after SIGTERM (" +
                                    (rc > 128 ? "killed by signal " + std::to_string(rc - 128)
                                              : rc < 0 ? "hung" : "an error") + ")");
  g_server.pid = -1;
}

// ---------------------------------------------------------------------------------------------
// The checks, with the server stopped.

uint64_t g_stored_events = 0, g_lost = 0, g_duplicated = 0;
bool g_verify_ok = true, g_views_ok = true;

void CheckStore(const std::string& when) {
  const std::string err = g_set.work + "/cli.log";
  std::string out;
  int rc = RunCapture({g_set.cli, "events", "--data", g_set.data, "--log-level", "warn"}, err, &out);
  if (rc != 0) {
    g_fail.Add("events_cli", when + ": convledger events exited " + std::to_string(rc));
    return;
  }
  std::unordered_map<std::string, std::pair<int, std::string>> stored;  // key -> (count, conv)
  std::vector<std::string> by_seq;
  size_t start = 0;
  uint64_t n = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    if (end > start) {
      json e = json::parse(out.begin() + start, out.begin() + end, nullptr, false);
      if (e.is_discarded()) {
        g_fail.Add("events_not_json", when);
      } else {
        ++n;
        const std::string key = e.value("idempotency_key", "");
        const std::string conv = e.value("conversation_id", "");
        by_seq.push_back(key);
        if (e.value("global_seq", uint64_t{0}) != n)
          g_fail.Add("global_seq_gap", when + ": event " + std::to_string(n));
        if (key.empty()) {
          g_fail.Add("event_without_key", when + ": global_seq " + std::to_string(n));
        } else {
          auto& s = stored[key];
          if (++s.first == 2) {
            ++g_duplicated;
            g_fail.Add("duplicated", when + ": key " + key + " stored twice");
          }
          s.second = conv;
        }
        if (conv == "soak-bad" || key.rfind("bad-", 0) == 0)
          g_fail.Add("malformed_stored", when + ": " + key);
      }
    }
    start = end + 1;
  }
  g_stored_events = n;
  std::lock_guard lk(g_book.mu);
  uint64_t lost = 0;
  for (const auto& [key, conv] : g_book.acked) {
    auto it = stored.find(key);
    if (it == stored.end()) {
      ++lost;
      g_fail.Add("lost", when + ": acknowledged key " + key + " is not stored");
    } else if (it->second.second != conv) {
      g_fail.Add("wrong_conversation", when + ": key " + key);
    }
  }
  g_lost = std::max(g_lost, lost);
  for (const auto& [key, v] : stored)
    if (!g_book.sent.count(key)) g_fail.Add("stored_unknown_key", when + ": " + key);
  for (size_t i = 0; i < g_book.feed_seen.size(); ++i) {
    const std::string& seen = g_book.feed_seen[i];
    if (seen.empty()) continue;
    if (i >= by_seq.size()) {
      ++g_lost;
      g_fail.Add("lost", when + ": global_seq " + std::to_string(i + 1) +
                             " was served by the feed and is gone");
    } else if (by_seq[i] != seen) {
      g_fail.Add("feed_mismatch", when + ": global_seq " + std::to_string(i + 1));
    }
  }
  // Everything a feed showed was committed; what is stored now beyond it may be read again.
  if (g_book.feed_seen.size() > by_seq.size()) g_book.feed_seen.resize(by_seq.size());
}

void Verify(const std::string& when) {
  const std::string err = g_set.work + "/cli.log";
  std::string out;
  int rc = RunCapture({g_set.cli, "verify", "--data", g_set.data, "--projections", "full",
                       "--progress", "none", "--log-level", "warn"},
                      err, &out);
  json j = json::parse(out, nullptr, false);
  bool log_ok = rc == 0 && !j.is_discarded() && j.value("ok", false);
  bool views_ok = !j.is_discarded() && j.contains("projections");
  if (views_ok) {
    for (const json& p : j["projections"])
      if (!p.value("ok", false) || p.value("checked", "") != "full") views_ok = false;
  }
  if (!log_ok) {
    g_verify_ok = false;
    g_fail.Add("verify", when + ": exit " + std::to_string(rc) + " " + out.substr(0, 500));
  }
  if (!views_ok) {
    g_views_ok = false;
    g_fail.Add("views", when + ": " + out.substr(0, 500));
  }
}

// ---------------------------------------------------------------------------------------------
// Disk full.

uint64_t g_diskfull_507 = 0, g_diskfull_self_recovered = 0;

bool FillDisk(int round, std::mt19937_64& rng) {
  const std::string filler = fs::path(g_set.data).parent_path() / "filler";
  struct statvfs sv {};
  if (statvfs(g_set.data.c_str(), &sv) != 0) {
    g_fail.Add("diskfull", "statvfs failed");
    return false;
  }
  uint64_t free_bytes = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  uint64_t keep = 4 << 20;  // left for the appends to fill
  int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  // The appenders keep writing (and RocksDB preallocates WAL files), so the space may shrink
  // while the filler is allocated: leave more room and try again.
  bool filled = false;
  for (int attempt = 0; fd >= 0 && attempt < 6 && !filled; ++attempt, keep *= 2) {
    if (statvfs(g_set.data.c_str(), &sv) == 0)
      free_bytes = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
    filled = free_bytes > keep && posix_fallocate(fd, 0, static_cast<off_t>(free_bytes - keep)) == 0;
  }
  if (fd >= 0) close(fd);
  if (!filled) {
    g_fail.Add("diskfull", "cannot write the filler file (" + std::to_string(free_bytes) + " free)");
    fs::remove(filler);
    return false;
  }
  Log("disk full round " + std::to_string(round) + ": filler of " +
      std::to_string((free_bytes - keep) >> 20) + " MiB, appending big events");
  Client c;
  bool got507 = false;
  uint64_t n = 0;
  const auto t0 = Clock::now();
  std::optional<PendingAppend> pending;
  while (MsSince(t0) < 60000) {
    if (!pending) {
      PendingAppend p;
      p.conv = "soak-c" + std::to_string(rng() % kConversations);
      p.header_key = g_run + "-big" + std::to_string(round) + "-" + std::to_string(n++);
      p.keys = {p.header_key};
      p.body = SentEvent(p.conv, p.header_key, 4, std::string(60000, 'F')).dump();
      pending = std::move(p);
    }
    std::string code;
    const int st = SendAppend(c, *pending, &code);
    if (st == 200 || st == 201) {
      pending.reset();
      continue;
    }
    if (st == 507 && code == "disk_full") {
      got507 = true;
      break;
    }
    g_fail.Add("diskfull_status", "a big append on a full disk answered " + std::to_string(st) +
                                      " '" + code + "' (want 507 disk_full)");
    if (st == 0) break;
  }
  if (!got507) {
    g_fail.Add("diskfull", "no 507 disk_full within 60 s");
  } else {
    ++g_diskfull_507;
    // Still up, still reading, and refusing every append (nothing written half).
    Client h;
    if (h.Do(http::verb::get, "/healthz", {}, {}, false).status != 200)
      g_fail.Add("diskfull_health", "/healthz does not answer 200 with the disk full");
    Reply r = h.Do(http::verb::get, "/v1/conversations/soak-c1/events?limit=5");
    if (r.status != 200 && r.status != 404)
      g_fail.Add("diskfull_read", "a read with the disk full answered " + std::to_string(r.status));
  }
  fs::remove(filler);
  // Does the server take appends again by itself once there is space?
  bool recovered = false;
  const auto t1 = Clock::now();
  while (got507 && MsSince(t1) < 3000) {
    std::string code;
    const int st = SendAppend(c, *pending, &code);  // the refused append, same key and body
    if (st == 200 || st == 201) {
      recovered = true;
      pending.reset();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (recovered) ++g_diskfull_self_recovered;
  Log(std::string("disk full round ") + std::to_string(round) + ": " +
      (got507 ? "507 disk_full" : "no 507") + ", " + std::to_string(n) + " big appends, " +
      (recovered ? "recovered by itself" : "still refusing appends after space was freed"));
  return got507;
}

void WriteConfig() {
  std::ofstream cfg(g_set.work + "/soak.jsonc");
  cfg << "// written by tests/soak: one tenant, one admin key from the environment\n"
      << json{{"tenants",
               {{{"id", "soak"},
                 {"api_keys",
                  {{{"name", "soak-admin"}, {"roles", {"admin"}}, {"key", std::string("env:") + kKeyEnv}}}}}}},
              {"limits",
               {{"max_body_bytes", kMaxBodyBytes},
                {"request_timeout_ms", 5000},
                {"worker_threads", 16}}}}
             .dump(2)
      << "\n";
}

uint16_t FreePort() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

void Usage() {
  std::cerr << "usage: convledger_soak --cli PATH --data DIR --work DIR [--seconds N] "
               "[--appenders N] [--diskfull-every N] [--burst N] [--pause-ms MS]\n";
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--cli") g_set.cli = v;
    else if (a == "--data") g_set.data = v;
    else if (a == "--work") g_set.work = v;
    else if (a == "--seconds") g_set.seconds = std::stod(v);
    else if (a == "--appenders") g_set.appenders = std::stoi(v);
    else if (a == "--diskfull-every") g_set.diskfull_every = std::stoi(v);
    else if (a == "--burst") g_set.burst = std::max(1, std::stoi(v));
    else if (a == "--pause-ms") g_set.pause_ms = std::stoi(v);
    else return Usage(), 2;
  }
  if (g_set.cli.empty() || g_set.data.empty() || g_set.work.empty()) return Usage(), 2;
  signal(SIGPIPE, SIG_IGN);
  const auto t_start = Clock::now();
  g_key = "soak-key-" + std::to_string(std::random_device{}()) + "-0123456789";
  setenv(kKeyEnv, g_key.c_str(), 1);
  g_run = "s" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000007);
  g_port = FreePort();
  WriteConfig();
  Log("data " + g_set.data + ", port " + std::to_string(g_port) + ", " +
      std::to_string(static_cast<int>(g_set.seconds)) + " s");

  if (!StartServer()) return 1;
  std::vector<std::thread> load;
  for (int i = 0; i < g_set.appenders; ++i) load.emplace_back(AppenderLoop, i);
  load.emplace_back(FeedPager);
  load.emplace_back(StreamFollower);
  load.emplace_back(ViewReader, 1);
  load.emplace_back(ViewReader, 2);

  std::mt19937_64 rng(42);
  uint64_t kills = 0, terms = 0, diskfulls = 0, rounds = 0;
  // Leave time for the last checks: they grow with the log.
  double last_check_ms = 0;
  while (MsSince(t_start) + 2 * last_check_ms + 8000 < g_set.seconds * 1000) {
    ++rounds;
    // Load for a while, with a malformed round in the middle.
    std::this_thread::sleep_for(std::chrono::milliseconds(1000 + rng() % 2500));
    SendMalformed(static_cast<int>(rounds));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1500));
    std::string what = "kill";
    int sig = SIGKILL;
    if (g_set.diskfull_every > 0 && rounds % g_set.diskfull_every == 0) {
      FillDisk(static_cast<int>(rounds), rng);
      ++diskfulls;
      // Every other disk-full round stops gracefully: closing a ledger whose disk was full (and
      // whose last writes failed) must not crash either.
      sig = diskfulls % 2 == 0 ? SIGTERM : SIGKILL;
      what = sig == SIGTERM ? "diskfull+sigterm" : "diskfull+kill";
    }
    KillServer(sig);
    ++(sig == SIGKILL ? kills : terms);
    const auto t_check = Clock::now();
    const std::string when = "after fault " + std::to_string(rounds) + " (" + what + ")";
    CheckStore(when);
    Verify(when);
    last_check_ms = MsSince(t_check);
    Log(when + ": " + std::to_string(g_stored_events) + " events stored, " +
        std::to_string(g_book.acked.size()) + " acknowledged, checks " +
        std::to_string(static_cast<int>(last_check_ms)) + " ms, failures " +
        std::to_string(g_fail.Total()));
    if (!StartServer()) break;
  }
  // A last malformed round, then a graceful stop and the final checks.
  if (g_server.pid > 0) SendMalformed(static_cast<int>(++rounds));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  KillServer(SIGTERM);
  ++terms;
  g_stop = true;
  for (auto& t : load) t.join();
  CheckStore("at the end");
  Verify("at the end");

  uint64_t acked;
  {
    std::lock_guard lk(g_book.mu);
    acked = g_book.acked.size();
  }
  const bool ok = g_fail.Total() == 0;
  std::printf(
      "soak: %s duration=%.0fs faults=%llu (kill=%llu diskfull=%llu malformed=%llu) sigterm=%llu "
      "acknowledged=%llu stored=%llu lost=%llu duplicated=%llu verify=%s views=%s "
      "diskfull_507=%llu diskfull_self_recovered=%llu max_restart_ms=%.0f max_ready_ms=%.0f "
      "reads=%llu failures=%llu\n",
      ok ? "ok" : "FAILED", MsSince(t_start) / 1000,
      static_cast<unsigned long long>(kills + diskfulls + g_malformed),
      static_cast<unsigned long long>(kills), static_cast<unsigned long long>(diskfulls),
      static_cast<unsigned long long>(g_malformed), static_cast<unsigned long long>(terms),
      static_cast<unsigned long long>(acked),
      static_cast<unsigned long long>(g_stored_events), static_cast<unsigned long long>(g_lost),
      static_cast<unsigned long long>(g_duplicated), g_verify_ok ? "ok" : "FAILED",
      g_views_ok ? "ok" : "FAILED", static_cast<unsigned long long>(g_diskfull_507),
      static_cast<unsigned long long>(g_diskfull_self_recovered), g_max_health_ms, g_max_ready_ms,
      static_cast<unsigned long long>(g_reads.load()), static_cast<unsigned long long>(g_fail.Total()));
  if (!ok) {
    std::lock_guard lk(g_fail.mu);
    for (const auto& [k, v] : g_fail.counts) std::fprintf(stderr, "soak: failed %s x%llu\n", k.c_str(), static_cast<unsigned long long>(v));
  }
  return ok ? 0 : 1;
}
