// End-to-end tests of the HTTP API: the real server on a loopback port, spoken to over HTTP.
#include <set>
#include <thread>

#include "http_test_util.h"

namespace convledger::api::test {
namespace {

class ApiTest : public ServerFixture {};

TEST_F(ApiTest, HealthReadyAndMetrics) {
  EXPECT_EQ(Fetch(port_, http::verb::get, "/healthz").status, 200);
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
  Reply ready = Fetch(port_, http::verb::get, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.Json()["status"], "ready");
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m1")).status, 201);
  Reply m = Fetch(port_, http::verb::get, "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.headers["content-type"].find("text/plain"), std::string::npos);
  EXPECT_NE(m.body.find("convledger_http_requests_total{route=\"/v1/events\",status=\"201\"} 1"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("convledger_appended_events_total 1"), std::string::npos);
  EXPECT_NE(m.body.find("convledger_http_request_duration_seconds_bucket{route=\"/healthz\""),
            std::string::npos);
  EXPECT_NE(m.body.find("convledger_rocksdb_live_data_bytes"), std::string::npos);
  EXPECT_NE(m.body.find("convledger_feed_consumers 0"), std::string::npos);
  EXPECT_EQ(Fetch(port_, http::verb::post, "/healthz").status, 405);
}

TEST_F(ApiTest, AppendCreatedThenIdempotentRepeatThenConflict) {
  Reply first = Post("/v1/events", kAcmeWriter, SentJson("c1", "m1"), {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(first.status, 201) << first.body;
  json j = first.Json();
  EXPECT_EQ(j["global_seq"], 1);
  EXPECT_EQ(j["conversation_seq"], 1);
  EXPECT_EQ(j["hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(j["duplicate"], false);
  EXPECT_FALSE(first.headers["x-request-id"].empty());

  Reply again = Post("/v1/events", kAcmeWriter, SentJson("c1", "m1"), {{"Idempotency-Key", "k-1"}});
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.Json()["duplicate"], true);
  EXPECT_EQ(again.Json()["hash"], j["hash"]);

  Reply other =
      Post("/v1/events", kAcmeWriter, SentJson("c1", "m2", "other"), {{"Idempotency-Key", "k-1"}});
  EXPECT_EQ(other.status, 409);
  EXPECT_EQ(other.Code(), "idempotency_key_reused");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_F(ApiTest, BatchIsAtomic) {
  std::string ok = R"({"events":[)" + SentJson("c1", "m1") + "," + SentJson("c1", "m2") + "]}";
  Reply r = Post("/v1/events", kAcmeWriter, ok);
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_EQ(r.Json()["results"].size(), 2u);
  EXPECT_EQ(r.Json()["results"][1]["global_seq"], 2);
  // The second event edits a message never sent: nothing of the batch may be appended.
  std::string bad = R"({"events":[)" + SentJson("c1", "m3") +
                    R"(,{"type":"message.edited","conversation_id":"c1","message_id":"nope",)"
                    R"("actor":{"kind":"agent","id":"agent-7"},"content":{"text":"x"},"reason":"r"}]})";
  Reply rejected = Post("/v1/events", kAcmeWriter, bad);
  EXPECT_EQ(rejected.status, 422);
  EXPECT_EQ(rejected.Code(), "message_not_found");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 2u);
  // A batch repeated under one Idempotency-Key is a repeat of every event in it.
  std::string batch = R"({"events":[)" + SentJson("c2", "m1") + "," + SentJson("c2", "m2") + "]}";
  EXPECT_EQ(Post("/v1/events", kAcmeWriter, batch, {{"Idempotency-Key", "b-1"}}).status, 201);
  Reply repeat = Post("/v1/events", kAcmeWriter, batch, {{"Idempotency-Key", "b-1"}});
  EXPECT_EQ(repeat.status, 200);
  EXPECT_EQ(repeat.Json()["results"][0]["duplicate"], true);
  EXPECT_EQ(ledger_->LastGlobalSeq(), 4u);
}

TEST_F(ApiTest, ExpectedVersionAndInvariants) {
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m1")).status, 201);
  Reply stale = Post("/v1/events", kAcmeWriter, SentJson("c1", "m2", "x", R"(,"expected_version":0)"));
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(stale.Code(), "wrong_expected_version");
  EXPECT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m2", "x", R"(,"expected_version":1)"))
                .status,
            201);
  Reply dup = Post("/v1/events", kAcmeWriter, SentJson("c1", "m1"));
  EXPECT_EQ(dup.status, 422);
  EXPECT_EQ(dup.Code(), "message_already_sent");
}

TEST_F(ApiTest, BadInputIsRefusedWithStableCodesAndChangesNothing) {
  struct Case {
    std::string body;
    int status;
    std::string code;
  } cases[] = {
      {"{not json", 400, ""},
      {R"({"type":"message.sent","conversation_id":5})", 400, ""},
      {R"({"type":"message.teleported","conversation_id":"c"})", 400, ""},
      {std::string("{\"type\":\"message.sent\",\"conversation_id\":\"c\xff\"}"), 400, ""},
      {"[]", 400, ""},
  };
  for (const auto& c : cases) {
    Reply r = Post("/v1/events", kAcmeWriter, c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    EXPECT_FALSE(r.Code().empty()) << r.body;
    EXPECT_TRUE(r.Json()["error"].contains("message"));
  }
  Reply ct = Fetch(port_, http::verb::post, "/v1/events",
                   {{"Authorization", "Bearer " + kAcmeWriter}, {"Content-Type", "text/plain"}},
                   SentJson("c", "m"));
  EXPECT_EQ(ct.status, 415);
  EXPECT_EQ(ct.Code(), "unsupported_media_type");
  Reply big = Post("/v1/events", kAcmeWriter, std::string(5 << 20, ' '));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.Code(), "body_too_large");
  Reply badkey = Post("/v1/events", kAcmeWriter, SentJson("c", "m"), {{"Idempotency-Key", "a b"}});
  EXPECT_EQ(badkey.status, 400);
  EXPECT_EQ(badkey.Code(), "invalid_idempotency_key");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 0u);
  // The server still answers normally afterwards.
  EXPECT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c", "m")).status, 201);
}

TEST_F(ApiTest, AuthenticationAndRoles) {
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m1")).status, 201);
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
  Reply none = Fetch(port_, http::verb::get, "/v1/conversations/c1/history");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.Code(), "unauthenticated");
  EXPECT_EQ(none.headers["www-authenticate"], "Bearer");
  Reply wrong = Get("/v1/conversations/c1/history", "not-a-key-at-all-000000");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.Code(), "invalid_api_key");
  EXPECT_EQ(Fetch(port_, http::verb::get, "/v1/conversations/c1/view",
                  {{"X-API-Key", kAcmeCustomer}})
                .status,
            200);

  EXPECT_EQ(Get("/v1/conversations/c1/history", kAcmeCustomer).status, 403);
  EXPECT_EQ(Get("/v1/conversations/c1/history", kAcmeCustomer).Code(), "forbidden");
  EXPECT_EQ(Get("/v1/conversations/c1/events", kAcmeCustomer).status, 403);
  EXPECT_EQ(Get("/v1/conversations/c1/view", kAcmeCustomer).status, 200);
  EXPECT_EQ(Get("/v1/conversations/c1/history", kAcmeDispute).status, 200);
  EXPECT_EQ(Get("/v1/conversations/c1/view", kAcmeWriter).status, 403);
  EXPECT_EQ(Get("/v1/feed", kAcmeDispute).status, 403);
  EXPECT_EQ(Get("/v1/analytics", kAcmeCustomer).status, 403);
  EXPECT_EQ(Post("/v1/events", kAcmeAnalytics, SentJson("c1", "m9")).status, 403);
  EXPECT_EQ(Post("/v1/events", kAcmeCustomer, SentJson("c1", "m9")).status, 403);
  EXPECT_EQ(Get("/v1/analytics", kAcmeAnalytics).status, 200);
  EXPECT_EQ(Get("/v1/feed", kAcmeAnalytics).status, 200);
  // admin holds every role of its tenant
  EXPECT_EQ(Get("/v1/conversations/c1/history", kAcmeAdmin).status, 200);
  Reply who = Get("/v1/whoami", kAcmeDispute);
  EXPECT_EQ(who.Json()["tenant"], "acme");
  EXPECT_EQ(who.Json()["roles"], "dispute");
  EXPECT_EQ(ledger_->LastGlobalSeq(), 1u);
}

TEST_F(ApiTest, TenantIsolation) {
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("acme-conv", "m1", "secret price")).status,
            201);
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
  for (const char* what : {"history", "view", "events"}) {
    Reply r = Get(std::string("/v1/conversations/acme-conv/") + what, kGlobexAdmin);
    EXPECT_EQ(r.status, 404) << what;
    EXPECT_EQ(r.Code(), "conversation_not_found");
    EXPECT_EQ(r.body.find("secret"), std::string::npos);
  }
  // Same answer as a conversation that does not exist at all.
  EXPECT_EQ(Get("/v1/conversations/nothing-here/history", kAcmeAdmin).Code(),
            "conversation_not_found");
  Reply cross = Post("/v1/events", kGlobexAdmin,
                     SentJson("g1", "m1", "x", R"(,"tenant":"acme")"));
  EXPECT_EQ(cross.status, 403);
  EXPECT_EQ(cross.Code(), "tenant_forbidden");
  // Writing into another tenant's conversation is refused by the ledger.
  EXPECT_EQ(Post("/v1/events", kGlobexAdmin, SentJson("acme-conv", "m2")).status, 422);
  ASSERT_EQ(Post("/v1/events", kGlobexAdmin, SentJson("g1", "m1", "globex text")).status, 201);
  Reply feed = Get("/v1/feed?after=0", kGlobexAdmin);
  ASSERT_EQ(feed.status, 200);
  ASSERT_EQ(feed.Json()["events"].size(), 1u);
  EXPECT_EQ(feed.Json()["events"][0]["conversation_id"], "g1");
  EXPECT_EQ(feed.body.find("secret"), std::string::npos);
  Reply analytics = Get("/v1/analytics", kGlobexAdmin);
  EXPECT_EQ(analytics.body.find("acme"), std::string::npos) << analytics.body;
}

TEST_F(ApiTest, ConversationIdsArePercentDecodedAndValidated) {
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("shop a/b ü", "m1")).status, 201);
  Reply r = Get("/v1/conversations/shop%20a%2Fb%20%C3%BC/events", kAcmeDispute);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["conversation_id"], "shop a/b ü");
  EXPECT_EQ(Get("/v1/conversations/bad%zzid/events", kAcmeDispute).Code(), "invalid_path");
  EXPECT_EQ(Get("/v1/conversations/ctl%00id/events", kAcmeDispute).Code(),
            "invalid_conversation_id");
  EXPECT_EQ(Get("/v1/conversations/bad%FFutf8/events", kAcmeDispute).Code(),
            "invalid_conversation_id");
  EXPECT_EQ(Get("/v1/conversations/" + std::string(300, 'x') + "/events", kAcmeDispute).Code(),
            "invalid_conversation_id");
  EXPECT_EQ(Get("/v1/conversations/c1/unknown", kAcmeDispute).status, 404);
  EXPECT_EQ(Get("/v1/nope", kAcmeDispute).status, 404);
}

TEST_F(ApiTest, ViewsHistoryEventsAndAsOf) {
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m1", "first")).status, 201);
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m2", "second")).status, 201);
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
  Reply view = Get("/v1/conversations/c1/view", kAcmeCustomer);
  ASSERT_EQ(view.status, 200);
  EXPECT_EQ(view.Json()["messages"].size(), 2u);
  Reply then = Get("/v1/conversations/c1/view?as_of=1", kAcmeCustomer);
  ASSERT_EQ(then.status, 200) << then.body;
  ASSERT_EQ(then.Json()["messages"].size(), 1u);
  EXPECT_EQ(then.Json()["messages"][0]["text"], "first");
  Reply history = Get("/v1/conversations/c1/history?as_of=1", kAcmeDispute);
  ASSERT_EQ(history.status, 200);
  EXPECT_EQ(history.body.find("second"), std::string::npos);
  EXPECT_EQ(Get("/v1/conversations/c1/view?as_of=yesterday", kAcmeCustomer).status, 400);
  Reply events = Get("/v1/conversations/c1/events?after=1&limit=5", kAcmeDispute);
  ASSERT_EQ(events.status, 200);
  ASSERT_EQ(events.Json()["events"].size(), 1u);
  EXPECT_EQ(events.Json()["events"][0]["message_id"], "m2");
  EXPECT_EQ(events.Json()["next_after"], 2);
  EXPECT_EQ(Get("/v1/conversations/c1/events?limit=0", kAcmeDispute).Code(), "invalid_limit");
}

// Current views carry an ETag naming the conversation's last event: If-None-Match answers 304
// without rendering; the rendered body is kept until the conversation has a newer event, and
// every check (role, tenant) is made before the cache is looked at.
TEST_F(ApiTest, CurrentViewsHaveETagsAndAreCachedUntilTheConversationChanges) {
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m1", "first")).status, 201);
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m2", "second")).status, 201);
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
  auto get = [&](const std::string& route, const std::string& key,
                 std::map<std::string, std::string> extra = {}) {
    auto h = Auth(key);
    for (auto& [k, v] : extra) h[k] = v;
    return Fetch(port_, http::verb::get, "/v1/conversations/c1/" + route, h);
  };
  Reply first = get("view", kAcmeCustomer);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.headers["x-convledger-cache"], "miss");
  const std::string etag = first.headers["etag"];
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(etag.front(), '"');
  Reply again = get("view", kAcmeCustomer);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.headers["x-convledger-cache"], "hit");
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.headers["etag"], etag);
  EXPECT_EQ(again.headers["cache-control"], "no-store");

  // The history of the same conversation is a separate entry, never the customer view's body.
  Reply history = get("history", kAcmeDispute);
  ASSERT_EQ(history.status, 200);
  EXPECT_EQ(history.headers["x-convledger-cache"], "miss");
  EXPECT_NE(history.headers["etag"], etag);
  EXPECT_NE(history.body, first.body);
  EXPECT_EQ(get("history", kAcmeDispute).body, history.body);
  // Roles and tenants are checked first: a cached view changes nothing about who may read it.
  EXPECT_EQ(get("history", kAcmeCustomer).status, 403);
  Reply other = get("view", kGlobexAdmin, {{"If-None-Match", etag}});
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.Code(), "conversation_not_found");
  EXPECT_EQ(other.headers.count("etag"), 0u);

  // Conditional requests: the current ETag (strong, weak, in a list, or *) is 304 with no body.
  for (const std::string& inm : {etag, "W/" + etag, "\"x\", " + etag, std::string("*")}) {
    Reply nm = get("view", kAcmeCustomer, {{"If-None-Match", inm}});
    EXPECT_EQ(nm.status, 304) << inm;
    EXPECT_TRUE(nm.body.empty());
    EXPECT_EQ(nm.headers["etag"], etag);
  }
  Reply stale = get("view", kAcmeCustomer, {{"If-None-Match", "\"view-1-x\""}});
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.headers["x-convledger-cache"], "hit");  // the third hit
  // Cache-Control: no-cache renders afresh: the same bytes.
  Reply fresh = get("view", kAcmeCustomer, {{"Cache-Control", "no-cache"}});
  EXPECT_EQ(fresh.headers["x-convledger-cache"], "bypass");
  EXPECT_EQ(fresh.body, first.body);

  // A new event: a new ETag, the old one no longer matches, the body has the new message.
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m3", "third")).status, 201);
  Reply changed = get("view", kAcmeCustomer, {{"If-None-Match", etag}});
  ASSERT_EQ(changed.status, 200);
  EXPECT_EQ(changed.headers["x-convledger-cache"], "miss");
  EXPECT_NE(changed.headers["etag"], etag);
  EXPECT_NE(changed.body.find("third"), std::string::npos);
  EXPECT_EQ(changed.Json()["messages"].size(), 3u);
  // An edit changes what the customer sees: the cached body with "second" is not served again.
  ASSERT_EQ(Post("/v1/events", kAcmeWriter,
                 R"({"type":"message.edited","conversation_id":"c1","message_id":"m2",)"
                 R"("actor":{"kind":"agent","id":"agent-7"},"content":{"text":"second, edited"}})")
                .status,
            201);
  Reply edited = get("view", kAcmeCustomer);
  EXPECT_EQ(edited.headers["x-convledger-cache"], "miss");
  EXPECT_NE(edited.body.find("second, edited"), std::string::npos);
  // As-of reads are folded from the log and not cached; they carry no ETag.
  Reply then = get("view?as_of=1", kAcmeCustomer);
  ASSERT_EQ(then.status, 200);
  EXPECT_EQ(then.headers.count("etag"), 0u);
  EXPECT_EQ(then.Json()["messages"].size(), 1u);

  Reply metrics = Fetch(port_, http::verb::get, "/metrics");
  EXPECT_NE(metrics.body.find("convledger_view_cache_hits_total 3"), std::string::npos)
      << metrics.body.substr(0, 2000);
  EXPECT_NE(metrics.body.find("convledger_not_modified_total 4"), std::string::npos);
}

// limits.view_cache_bytes = 0: every read renders, ETags and 304 still work.
TEST_F(ApiTest, ViewCacheCanBeTurnedOff) {
  Config c = TestConfig();
  c.limits.view_cache_bytes = 0;
  RestartWith(c);
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m1", "first")).status, 201);
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
  Reply a = Get("/v1/conversations/c1/view", kAcmeCustomer);
  Reply b = Get("/v1/conversations/c1/view", kAcmeCustomer);
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(b.headers["x-convledger-cache"], "miss");
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(Fetch(port_, http::verb::get, "/v1/conversations/c1/view",
                  {{"Authorization", "Bearer " + kAcmeCustomer}, {"If-None-Match", a.headers["etag"]}})
                .status,
            304);
}

// The value of an unlabelled counter in a /metrics body.
uint64_t MetricValue(const std::string& body, const std::string& name) {
  const std::string line = "\n" + name + " ";
  const size_t at = body.find(line);
  if (at == std::string::npos) {
    ADD_FAILURE() << name << " not in /metrics";
    return 0;
  }
  return std::stoull(body.substr(at + line.size()));
}

// limits.inline_requests: a single client's short requests run on the I/O thread that read them
// (no hand-off to a worker and back); an export and an as-of view always go to a worker.
TEST_F(ApiTest, ShortRequestsOfASingleClientRunOnTheIoThread) {
  auto inline_total = [&] {
    return MetricValue(Fetch(port_, http::verb::get, "/metrics").body,
                       "convledger_inline_requests_total");
  };
  const uint64_t m0 = inline_total();  // counts itself
  EXPECT_EQ(m0, 1u);
  for (int i = 1; i <= 3; ++i)
    ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m" + std::to_string(i))).status,
              201);
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
  Reply view = Get("/v1/conversations/c1/view", kAcmeCustomer);
  ASSERT_EQ(view.status, 200);
  EXPECT_EQ(view.Json()["messages"].size(), 3u);
  ASSERT_EQ(Get("/v1/conversations/c1/history", kAcmeDispute).status, 200);
  const uint64_t m1 = inline_total();
  EXPECT_EQ(m1 - m0, 6u);  // 3 appends, 2 views, this read of /metrics
  ASSERT_EQ(Get("/v1/conversations/c1/export?format=bundle", kAcmeLegal).status, 200);
  ASSERT_EQ(Get("/v1/conversations/c1/view?as_of=2", kAcmeCustomer).status, 200);
  ASSERT_EQ(Get("/v1/analytics", kAcmeAnalytics).status, 200);
  EXPECT_EQ(inline_total() - m1, 1u);  // only this read of /metrics
}

// limits.inline_requests = 0: every request goes to a worker, and everything still answers.
TEST_F(ApiTest, InlineRequestsCanBeTurnedOff) {
  Config c = TestConfig();
  c.limits.inline_requests = 0;
  RestartWith(c);
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m1", "first")).status, 201);
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
  Reply view = Get("/v1/conversations/c1/view", kAcmeCustomer);
  ASSERT_EQ(view.status, 200);
  EXPECT_NE(view.body.find("first"), std::string::npos);
  EXPECT_EQ(MetricValue(Fetch(port_, http::verb::get, "/metrics").body,
                        "convledger_inline_requests_total"),
            0u);
}

TEST_F(ApiTest, FeedPagesInOrder) {
  for (int i = 0; i < 25; ++i)
    ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c" + std::to_string(i % 3),
                                                       "m" + std::to_string(i)))
                  .status,
              201);
  uint64_t after = 0;
  std::vector<uint64_t> seen;
  for (int page = 0; page < 10; ++page) {
    Reply r = Get("/v1/feed?after=" + std::to_string(after) + "&limit=10", kAcmeAnalytics);
    ASSERT_EQ(r.status, 200);
    const json j = r.Json();
    for (const auto& e : j["events"]) seen.push_back(e["global_seq"]);
    after = j["next_after"];
    if (j["events"].empty()) break;
  }
  ASSERT_EQ(seen.size(), 25u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i + 1);
  EXPECT_EQ(Get("/v1/feed?limit=100000", kAcmeAnalytics).Code(), "invalid_limit");
  EXPECT_EQ(Get("/v1/feed?after=-1", kAcmeAnalytics).Code(), "invalid_after");
}

// Reads SSE frames from a raw socket until `want` events arrived; returns their ids.
struct SseClient {
  net::io_context ioc;
  tcp::socket sock{ioc};
  std::string buf;
  explicit SseClient(uint16_t port, const std::string& key, const std::string& extra_header = "",
                     const std::string& query = "") {
    sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    std::string req = "GET /v1/feed/stream" + query + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                      key + "\r\n" + extra_header + "\r\n";
    net::write(sock, net::buffer(req));
  }
  std::vector<uint64_t> Read(size_t want) {
    std::vector<uint64_t> ids;
    for (;;) {
      size_t pos;
      while ((pos = buf.find("\n\n")) != std::string::npos) {
        std::string frame = buf.substr(0, pos);
        buf.erase(0, pos + 2);
        if (frame.rfind("id: ", 0) == 0) ids.push_back(std::stoull(frame.substr(4)));
        if (ids.size() == want) return ids;
      }
      char tmp[65536];
      beast::error_code ec;
      size_t n = sock.read_some(net::buffer(tmp), ec);
      if (ec) return ids;
      buf.append(tmp, n);
    }
  }
};

TEST_F(ApiTest, SseStreamsLiveAndResumesWithoutLossOrDuplicate) {
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m" + std::to_string(i))).status, 201);
  std::vector<uint64_t> got;
  {
    SseClient c(port_, kAcmeAnalytics);
    auto first = c.Read(4);
    ASSERT_EQ(first.size(), 4u);
    got = first;
  }  // connection dropped after four events
  for (int i = 10; i < 20; ++i)
    ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m" + std::to_string(i))).status, 201);
  SseClient c(port_, kAcmeAnalytics, "Last-Event-ID: " + std::to_string(got.back()) + "\r\n");
  auto rest = c.Read(16);
  got.insert(got.end(), rest.begin(), rest.end());
  // Live: an event appended while the stream waits arrives on it.
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "live")).status, 201);
  });
  auto live = c.Read(1);
  writer.join();
  got.insert(got.end(), live.begin(), live.end());
  ASSERT_EQ(got.size(), 21u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], i + 1);
}

TEST_F(ApiTest, SseSlowConsumerDoesNotBlockAppendsAndMissesNothing) {
  SseClient slow(port_, kAcmeAnalytics, "", "?after=0");
  // The consumer reads nothing while 3,000 events (about 1.5 MB of frames) are appended.
  for (int b = 0; b < 30; ++b) {
    std::string batch = R"({"events":[)";
    for (int i = 0; i < 100; ++i) {
      if (i) batch += ',';
      batch += SentJson("c" + std::to_string(b), "m" + std::to_string(i), std::string(300, 'x'));
    }
    batch += "]}";
    ASSERT_EQ(Post("/v1/events", kAcmeWriter, batch).status, 201);
  }
  Reply m = Fetch(port_, http::verb::get, "/metrics");
  EXPECT_NE(m.body.find("convledger_feed_consumers 1"), std::string::npos);
  auto ids = slow.Read(3000);
  ASSERT_EQ(ids.size(), 3000u);
  for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], i + 1);
}

TEST_F(ApiTest, StreamNeedsAnalyticsRole) {
  EXPECT_EQ(Get("/v1/feed/stream", kAcmeCustomer).status, 403);
  EXPECT_EQ(Fetch(port_, http::verb::get, "/v1/feed/stream").status, 401);
  EXPECT_EQ(Fetch(port_, http::verb::get, "/v1/feed/stream",
                  {{"Authorization", "Bearer " + kAcmeAnalytics}, {"Last-Event-ID", "x"}})
                .Code(),
            "invalid_last_event_id");
}

TEST_F(ApiTest, HeadersTooLargeAndMalformedRequests) {
  Reply big = Fetch(port_, http::verb::get, "/healthz", {{"X-Big", std::string(20000, 'a')}});
  EXPECT_EQ(big.status, 431);
  EXPECT_EQ(big.Code(), "headers_too_large");
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  net::write(s, net::buffer(std::string("GARBAGE\r\n\r\n")));
  std::string out;
  beast::error_code ec;
  char tmp[4096];
  for (;;) {
    size_t n = s.read_some(net::buffer(tmp), ec);
    if (ec) break;
    out.append(tmp, n);
  }
  EXPECT_NE(out.find("400"), std::string::npos) << out;
  EXPECT_NE(out.find("bad_request"), std::string::npos) << out;
}

class LimitsTest : public ServerFixture {
 protected:
  void SetUp() override {
    Config c = TestConfig();
    c.limits.request_timeout_ms = 400;
    c.limits.idle_timeout_ms = 400;
    c.limits.max_connections = 3;
    StartServer(std::move(c));
  }
};

// Reads until the peer closes or `limit` passes; true when it closed.
bool ClosedWithin(tcp::socket& s, std::chrono::milliseconds limit, std::string* got = nullptr) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  s.non_blocking(true);
  char tmp[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    beast::error_code ec;
    size_t n = s.read_some(net::buffer(tmp), ec);
    if (ec == net::error::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (ec) return true;
    if (got) got->append(tmp, n);
  }
  return false;
}

TEST_F(LimitsTest, SlowlorisIsCutOff) {
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  // Headers trickle in and never finish.
  net::write(s, net::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n")));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  net::write(s, net::buffer(std::string("X-Slow: 1\r\n")));
  EXPECT_TRUE(ClosedWithin(s, std::chrono::seconds(3)));
}

TEST_F(LimitsTest, IdleKeepAliveConnectionIsClosed) {
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  net::write(s, net::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string got;
  EXPECT_TRUE(ClosedWithin(s, std::chrono::seconds(3), &got));
  EXPECT_NE(got.find("200 OK"), std::string::npos);
}

TEST_F(LimitsTest, ConnectionCapAnswers503) {
  net::io_context ioc;
  std::vector<std::unique_ptr<tcp::socket>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<tcp::socket>(ioc));
    held.back()->connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  tcp::socket extra(ioc);
  extra.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  std::string got;
  EXPECT_TRUE(ClosedWithin(extra, std::chrono::seconds(3), &got));
  EXPECT_NE(got.find("503"), std::string::npos) << got;
  EXPECT_NE(got.find("too_many_connections"), std::string::npos);
  held.clear();
  // Once they are gone (closed by the idle timeout at the latest) the server serves again.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(Fetch(port_, http::verb::get, "/healthz").status, 200);
}

TEST_F(ApiTest, ShutdownAnswersRequestsInFlightAndLosesNothing) {
  std::atomic<int> acked{0};
  std::atomic<bool> go{true};
  std::vector<std::thread> clients;
  std::mutex mu;
  std::vector<std::string> acked_ids;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; go.load(); ++i) {
        std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        try {
          Reply r = Post("/v1/events", kAcmeWriter, SentJson("c" + std::to_string(t), id));
          if (r.status != 201) {
            ADD_FAILURE() << "status " << r.status << " " << r.body;
            return;
          }
          std::lock_guard lk(mu);
          acked_ids.push_back(id);
          ++acked;
        } catch (const std::exception&) {
          return;  // refused or closed by the stopping server: not acknowledged
        }
      }
    });
  }
  while (acked.load() < 200) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server_->Shutdown();
  go = false;
  for (auto& c : clients) c.join();
  // Every acknowledged append is in the ledger.
  auto all = ledger_->ReadGlobal(0);
  ASSERT_TRUE(all.ok());
  std::set<std::string> stored;
  for (const auto& e : *all) stored.insert(e.message_id);
  for (const auto& id : acked_ids) EXPECT_TRUE(stored.count(id)) << id;
  EXPECT_GE(all->size(), acked_ids.size());
  // And nothing is served any more.
  EXPECT_ANY_THROW(Fetch(port_, http::verb::get, "/healthz"));
}

}  // namespace
}  // namespace convledger::api::test
