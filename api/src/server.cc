#include "api/server.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include "app.h"

namespace convledger::api {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kStreamChunkEvents = 256;
constexpr auto kHeartbeat = std::chrono::seconds(15);
constexpr auto kStreamWriteStall = std::chrono::seconds(60);

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Posts the graceful-stop notice onto the session's own executor.
  virtual void PostShutdown() = 0;
  // For the shutdown log: what the session is doing.
  virtual const char* StateName() const = 0;
};

// Wakes feed streams that have caught up when new events are committed (and every
// kHeartbeat, so idle streams can send a keep-alive comment and notice a dropped client).
class FeedHub {
 public:
  explicit FeedHub(Ledger& ledger) : ledger_(ledger) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~FeedHub() { Stop(); }
  void Stop() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  // Wakes every waiting stream now (graceful stop: they see `stopping` and close).
  void WakeAll() {
    std::vector<std::function<void()>> wake;
    {
      std::lock_guard lk(mu_);
      wake.swap(waiters_);
    }
    for (auto& w : wake) w();
  }
  // Calls `wake` once an event after `cursor` is committed (at once if one already is), or at
  // the next heartbeat tick.
  void Wait(uint64_t cursor, std::function<void()> wake) {
    {
      std::lock_guard lk(mu_);
      if (ledger_.LastGlobalSeq() <= cursor && !stop_) {
        waiters_.push_back(std::move(wake));
        return;
      }
    }
    wake();
  }

 private:
  void Loop() {
    uint64_t seen = ledger_.LastGlobalSeq();
    auto last_tick = Clock::now();
    for (;;) {
      {
        std::lock_guard lk(mu_);
        if (stop_) break;
      }
      const uint64_t last = ledger_.WaitForEvents(seen, std::chrono::milliseconds(250));
      const bool tick = Clock::now() - last_tick >= kHeartbeat;
      if (last <= seen && !tick) continue;
      seen = std::max(seen, last);
      if (tick) last_tick = Clock::now();
      std::vector<std::function<void()>> wake;
      {
        std::lock_guard lk(mu_);
        wake.swap(waiters_);
      }
      for (auto& w : wake) w();
    }
    std::vector<std::function<void()>> wake;
    {
      std::lock_guard lk(mu_);
      wake.swap(waiters_);
    }
    for (auto& w : wake) w();
  }

  Ledger& ledger_;
  std::mutex mu_;
  std::vector<std::function<void()>> waiters_;  // GUARDED_BY(mu_)
  bool stop_ = false;                           // GUARDED_BY(mu_)
  std::thread thread_;
};

// State shared by the listener and every session. Member order matters: the io_context is
// declared last so it is destroyed first, while the counters its pending handlers touch live.
struct Shared {
  Shared(Ledger& ledger, Config config)
      : app(ledger, std::move(config)),
        limits(app.config().limits),
        workers(limits.worker_threads),
        hub(ledger) {
    unsigned char r[4];
    RAND_bytes(r, sizeof r);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
    id_prefix = buf;
  }

  std::string NextRequestId() {
    return id_prefix + "-" + std::to_string(next_request.fetch_add(1) + 1);
  }
  void Register(const std::shared_ptr<SessionBase>& s, std::list<std::weak_ptr<SessionBase>>::iterator* it) {
    std::lock_guard lk(sessions_mu);
    *it = sessions.insert(sessions.end(), s);
  }
  // A short request runs on the I/O thread that read it only while fewer than
  // limits.inline_requests requests are being handled in all (on workers or inline), and only
  // with a second I/O thread to serve the other connections meanwhile: a single client's request
  // skips two thread hand-offs, and concurrent requests still meet on the workers, where their
  // appends share one commit.
  bool TryBeginInline() {
    if (limits.io_threads < 2) return false;
    uint32_t n = handling.load();
    while (n < limits.inline_requests)
      if (handling.compare_exchange_weak(n, n + 1)) return true;
    return false;
  }
  void EndHandling() { handling.fetch_sub(1); }

  void Unregister(std::list<std::weak_ptr<SessionBase>>::iterator it) {
    {
      std::lock_guard lk(sessions_mu);
      sessions.erase(it);
      --active;
    }
    sessions_cv.notify_all();
  }

  App app;
  const Limits limits;
  std::string id_prefix;
  std::atomic<uint64_t> next_request{0};
  std::atomic<uint32_t> handling{0};  // requests in App::Handle now, on workers or inline
  std::atomic<bool> stopping{false};
  std::mutex sessions_mu;
  std::condition_variable sessions_cv;
  std::list<std::weak_ptr<SessionBase>> sessions;  // GUARDED_BY(sessions_mu)
  int64_t active = 0;                              // GUARDED_BY(sessions_mu)
  std::optional<ssl::context> tls;
  net::thread_pool workers;
  FeedHub hub;
  net::io_context ioc;
};

bool ValidRequestId(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return false;
  return true;
}

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(Shared& sh, Args&&... args) : sh_(sh), stream_(std::forward<Args>(args)...) {
    ++sh_.app.metrics().open_connections;
  }
  ~Session() override {
    --sh_.app.metrics().open_connections;
    if (streaming_) --sh_.app.metrics().feed_consumers;
    sh_.Unregister(reg_);
  }

  void Run(std::list<std::weak_ptr<SessionBase>>::iterator reg) {
    reg_ = reg;
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Begin(); });
  }

  const char* StateName() const override {
    static const char* kNames[] = {"handshake", "reading", "busy", "streaming", "waiting",
                                   "closed"};
    return kNames[static_cast<int>(state_.load())];
  }

  void PostShutdown() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->OnShutdown(); });
  }

 private:
  enum class State { kHandshake, kReading, kBusy, kStreaming, kStreamWaiting, kClosed };

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void Begin() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      DoRead();
    } else {
      state_ = State::kHandshake;
      Lowest().expires_after(std::chrono::milliseconds(sh_.limits.request_timeout_ms));
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->DoRead();
                              });
    }
  }

  void DoRead() {
    if (sh_.stopping.load()) return Close();
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(sh_.limits.max_header_bytes));
    Lowest().expires_after(std::chrono::milliseconds(first_ ? sh_.limits.request_timeout_ms
                                                            : sh_.limits.idle_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              self->OnHeader(ec);
                            });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    t0_ = Clock::now();
    const RouteInfo ri = sh_.app.Classify(parser_->get());
    route_ = ri.label;
    stream_route_ = ri.stream;
    short_work_ = ri.short_work;
    if (auto len = parser_->content_length(); len && *len > ri.body_limit)
      return Refuse(413, "body_too_large",
                    "the body is over " + std::to_string(ri.body_limit) + " bytes");
    parser_->body_limit(ri.body_limit);
    Lowest().expires_after(std::chrono::milliseconds(sh_.limits.request_timeout_ms));
    const auto& h = parser_->get();
    if (auto e = h.find(http::field::expect);
        e != h.end() && beast::iequals(e->value(), "100-continue") && !parser_->is_done()) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue),
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         if (ec) return self->Close();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return Refuse(413, "body_too_large", "the body is over the size limit for this route");
    if (ec == http::error::header_limit)
      return Refuse(431, "headers_too_large", "the request headers are over the size limit");
    if (ec.category() == beast::error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message)
      return Refuse(400, "bad_request", "malformed HTTP request: " + ec.message());
    // End of stream, timeout (slow or idle client), reset, shutdown: just close.
    if (ec == beast::error::timeout)
      spdlog::info("http connection closed: request or idle timeout ({} ms)",
                   first_ ? sh_.limits.request_timeout_ms : sh_.limits.idle_timeout_ms);
    Close();
  }

  void OnRead(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    first_ = false;
    Request req = parser_->release();
    ctx_ = RequestContext{};
    ctx_.route = route_;
    ctx_.key_name = "-";
    if (auto id = req.find("X-Request-Id"); id != req.end() && ValidRequestId(id->value()))
      ctx_.request_id = std::string(id->value());
    else
      ctx_.request_id = sh_.NextRequestId();
    ctx_.received_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    method_ = std::string(req.method_string());
    state_ = State::kBusy;
    if (stream_route_) return StartStream(std::move(req));
    if (short_work_ && sh_.TryBeginInline()) {
      ++sh_.app.metrics().inline_requests;
      Response res = HandleGuarded(req);
      sh_.EndHandling();
      return Write(std::move(res));
    }
    sh_.handling.fetch_add(1);
    net::post(sh_.workers, [self = this->shared_from_this(), req = std::move(req)]() mutable {
      Response res = self->HandleGuarded(req);
      self->sh_.EndHandling();
      net::post(self->stream_.get_executor(),
                [self, res = std::move(res)]() mutable { self->Write(std::move(res)); });
    });
  }

  Response HandleGuarded(const Request& req) {
    try {
      return sh_.app.Handle(req, ctx_);
    } catch (const std::exception& e) {
      spdlog::error("http handler failed request_id={} error={}", ctx_.request_id, e.what());
      return App::Error(req, 500, "internal_error", "the server failed to handle the request");
    }
  }

  // Answers an unreadable request and closes the connection.
  void Refuse(int status, std::string_view code, std::string message) {
    Request stub;
    stub.version(11);
    stub.keep_alive(false);
    if (ctx_.request_id.empty()) ctx_.request_id = sh_.NextRequestId();
    if (t0_ == Clock::time_point()) t0_ = Clock::now();
    if (route_.empty()) route_ = "unmatched";
    ctx_.route = route_;
    Response res = App::Error(stub, status, code, message);
    res.keep_alive(false);
    Write(std::move(res));
  }

  void Write(Response res) {
    res.set("X-Request-Id", ctx_.request_id);
    if (sh_.stopping.load()) res.keep_alive(false);
    res_ = std::make_shared<Response>(std::move(res));
    state_ = State::kBusy;
    Lowest().expires_after(std::chrono::milliseconds(sh_.limits.request_timeout_ms));
    http::async_write(stream_, *res_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t bytes) {
                        self->OnWrite(ec, bytes);
                      });
  }

  void OnWrite(beast::error_code ec, size_t bytes) {
    const int status = res_->result_int();
    const double secs = std::chrono::duration<double>(Clock::now() - t0_).count();
    const std::string& route = ctx_.route.empty() ? route_ : ctx_.route;
    sh_.app.metrics().ObserveRequest(route, status, secs);
    // The access log names the route template, never the query string (it can carry tokens).
    spdlog::info("http request_id={} method={} route={} status={} bytes={} ms={:.3f} key={}",
                 ctx_.request_id, method_.empty() ? "-" : method_, route, status, bytes,
                 secs * 1000, ctx_.key_name.empty() ? "-" : ctx_.key_name);
    const bool keep = res_->keep_alive();
    res_.reset();
    t0_ = Clock::time_point();
    if (ec || !keep || sh_.stopping.load()) return Close();
    DoRead();
  }

  // ---- the feed stream (Server-Sent Events) ----

  void StartStream(Request req) {
    auto prep = sh_.app.PrepareStream(req, ctx_);
    if (auto* res = std::get_if<Response>(&prep)) return Write(std::move(*res));
    const StreamStart& s = std::get<StreamStart>(prep);
    tenant_ = s.tenant;
    cursor_ = s.after;
    streaming_ = true;
    ++sh_.app.metrics().feed_consumers;
    sh_.app.metrics().ObserveRequest(ctx_.route, 200,
                                     std::chrono::duration<double>(Clock::now() - t0_).count());
    spdlog::info("http request_id={} method=GET route=/v1/feed/stream status=200 key={} after={}",
                 ctx_.request_id, ctx_.key_name, cursor_);
    // The body has no length and ends when the connection closes.
    chunk_ = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
             "Connection: close\r\nX-Accel-Buffering: no\r\nX-Request-Id: " +
             ctx_.request_id + "\r\n\r\n: convledger feed, resume with Last-Event-ID\n\n";
    WriteChunk();
  }

  void WriteChunk() {
    state_ = State::kStreaming;
    Lowest().expires_after(kStreamWriteStall);
    net::async_write(stream_, net::buffer(chunk_),
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Close();
                       self->last_write_ = Clock::now();
                       self->chunk_.clear();
                       self->Fetch();
                     });
  }

  // Reads the next chunk on a worker; only one chunk is ever in memory per stream.
  void Fetch() {
    if (state_ == State::kClosed) return;
    if (sh_.stopping.load()) return Close();
    state_ = State::kStreaming;
    net::post(sh_.workers, [self = this->shared_from_this()] {
      uint64_t cursor = self->cursor_;
      auto chunk = self->sh_.app.StreamChunk(self->tenant_, &cursor, kStreamChunkEvents);
      net::post(self->stream_.get_executor(), [self, cursor, chunk = std::move(chunk)]() mutable {
        self->OnChunk(std::move(chunk), cursor);
      });
    });
  }

  void OnChunk(Result<std::string> chunk, uint64_t cursor) {
    if (state_ == State::kClosed) return;
    if (!chunk.ok()) {
      spdlog::error("feed stream request_id={} read failed: {}", ctx_.request_id,
                    chunk.status().ToString());
      return Close();
    }
    const bool advanced = cursor > cursor_;
    cursor_ = cursor;
    if (!chunk->empty()) {
      chunk_ = std::move(*chunk);
      return WriteChunk();
    }
    if (advanced) return Fetch();  // only other tenants' events: keep reading
    WaitForEvents();
  }

  void WaitForEvents() {
    if (state_ == State::kClosed) return;
    if (sh_.stopping.load()) return Close();
    state_ = State::kStreamWaiting;
    // The hub holds the session while it waits: no socket operation is pending then, so
    // nothing else keeps it alive.
    auto self = this->shared_from_this();
    sh_.hub.Wait(cursor_, [self] {
      net::post(self->stream_.get_executor(), [self] { self->OnWake(); });
    });
  }

  void OnWake() {
    if (state_ != State::kStreamWaiting) return;
    if (sh_.stopping.load()) return Close();
    if (sh_.app.ledger().LastGlobalSeq() > cursor_) return Fetch();
    if (Clock::now() - last_write_ >= kHeartbeat) {
      chunk_ = ": keep-alive\n\n";
      return WriteChunk();
    }
    WaitForEvents();
  }

  // ---- stopping ----

  void OnShutdown() {
    // Idle or waiting connections go now; a request being handled is answered first (Write
    // sees `stopping` and closes after the response).
    if (state_ == State::kReading || state_ == State::kStreamWaiting ||
        state_ == State::kHandshake)
      Close();
  }

  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      stream_.socket().close(ec);
    } else {
      Lowest().expires_after(std::chrono::seconds(1));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        self->Lowest().socket().close(ignored);
      });
    }
  }

  Shared& sh_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::list<std::weak_ptr<SessionBase>>::iterator reg_;
  std::atomic<State> state_{State::kReading};
  bool first_ = true;
  RequestContext ctx_;
  std::string route_;         // route template of the request being read (from its header)
  bool stream_route_ = false;  // ... and whether it is the feed stream
  bool short_work_ = false;    // ... and whether it may run on this I/O thread
  std::string method_;
  Clock::time_point t0_{};
  std::shared_ptr<Response> res_;
  // feed stream
  bool streaming_ = false;
  std::string tenant_;
  uint64_t cursor_ = 0;
  std::string chunk_;
  Clock::time_point last_write_ = Clock::now();
};

class ServerImpl final : public Server {
 public:
  ServerImpl(Ledger& ledger, Config config)
      : sh_(std::make_unique<Shared>(ledger, std::move(config))),
        acceptor_(sh_->ioc),
        work_(net::make_work_guard(sh_->ioc)) {}
  ~ServerImpl() override { Shutdown(); }

  Status Listen(const ServerOptions& options) {
    const Config& cfg = sh_->app.config();
    if (!cfg.tls_certificate.empty()) {
      try {
        sh_->tls.emplace(ssl::context::tls_server);
        sh_->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                              ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                              ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
        sh_->tls->use_certificate_chain_file(cfg.tls_certificate);
        sh_->tls->use_private_key_file(cfg.tls_private_key, ssl::context::pem);
      } catch (const std::exception& e) {
        return Status::InvalidArgument("tls_invalid",
                                       std::string("cannot load the TLS certificate or key: ") +
                                           e.what());
      }
    }
    beast::error_code ec;
    auto addr = net::ip::make_address(options.host, ec);
    if (ec) return Status::InvalidArgument("invalid_listen", "not an IP address: " + options.host);
    tcp::endpoint ep(addr, options.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec)
      return Status::IOError("cannot listen on " + options.host + ":" +
                             std::to_string(options.port) + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    DoAccept();
    for (uint32_t i = 0; i < sh_->limits.io_threads; ++i)
      threads_.emplace_back([this] { sh_->ioc.run(); });
    spdlog::info("http listening on {}:{} tls={} io_threads={} worker_threads={} "
                 "inline_requests={}",
                 options.host, port_, sh_->tls.has_value(), sh_->limits.io_threads,
                 sh_->limits.worker_threads, sh_->limits.inline_requests);
    return Status::OK();
  }

  uint16_t port() const override { return port_; }
  bool tls() const override { return sh_->tls.has_value(); }

  void Shutdown() override {
    std::lock_guard once(shutdown_mu_);
    if (stopped_) return;
    stopped_ = true;
    spdlog::info("http shutting down: no new connections, finishing requests in flight");
    sh_->stopping = true;
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    {
      std::vector<std::shared_ptr<SessionBase>> live;
      {
        std::lock_guard lk(sh_->sessions_mu);
        for (auto& w : sh_->sessions)
          if (auto s = w.lock()) live.push_back(std::move(s));
      }
      for (auto& s : live) s->PostShutdown();
    }
    sh_->hub.WakeAll();
    {
      std::unique_lock lk(sh_->sessions_mu);
      const bool drained =
          sh_->sessions_cv.wait_for(lk, std::chrono::milliseconds(sh_->limits.shutdown_grace_ms),
                                    [&] { return sh_->active == 0; });
      if (!drained) {
        std::string states;
        for (auto& w : sh_->sessions)
          if (auto s = w.lock()) states += std::string(states.empty() ? "" : ",") + s->StateName();
        spdlog::warn("http shutdown: {} connections still open after the grace period ({}), "
                     "closing them", sh_->active, states);
      }
    }
    sh_->hub.Stop();
    sh_->workers.join();
    work_.reset();
    sh_->ioc.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    spdlog::info("http stopped");
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(sh_->ioc),
                           [this](beast::error_code ec, tcp::socket socket) {
                             OnAccept(ec, std::move(socket));
                           });
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || sh_->stopping.load()) return;
    if (!ec) {
      bool over;
      {
        std::lock_guard lk(sh_->sessions_mu);
        over = sh_->active >= static_cast<int64_t>(sh_->limits.max_connections);
        if (!over) ++sh_->active;
      }
      if (over) {
        ++sh_->app.metrics().rejected_connections;
        if (!sh_->tls) {
          static const std::string kBusy =
              "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
              "Connection: close\r\nRetry-After: 1\r\nContent-Length: 87\r\n\r\n"
              "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"connection limit "
              "reached\"}}\n";
          beast::error_code ignored;
          net::write(socket, net::buffer(kBusy), ignored);
        }
        beast::error_code ignored;
        socket.close(ignored);
      } else if (sh_->tls) {
        Spawn(std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
            *sh_, std::move(socket), *sh_->tls));
      } else {
        Spawn(std::make_shared<Session<beast::tcp_stream>>(*sh_, std::move(socket)));
      }
    } else {
      spdlog::warn("http accept failed: {}", ec.message());
    }
    DoAccept();
  }

  template <class S>
  void Spawn(std::shared_ptr<S> s) {
    std::list<std::weak_ptr<SessionBase>>::iterator it;
    sh_->Register(s, &it);
    s->Run(it);
  }

  std::unique_ptr<Shared> sh_;
  tcp::acceptor acceptor_;
  // Keeps the I/O threads running while no socket operation is pending (every connection's
  // request on a worker, the acceptor closed during shutdown): a worker's response must still
  // find a thread to write it.
  net::executor_work_guard<net::io_context::executor_type> work_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::mutex shutdown_mu_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(Ledger& ledger, Config config,
                                              const ServerOptions& options) {
  auto server = std::make_unique<ServerImpl>(ledger, std::move(config));
  if (Status st = server->Listen(options); !st.ok()) return st;
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace convledger::api
