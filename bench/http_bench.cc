// HTTP API benchmarks (issue 4): requests per second over loopback with keep-alive at 64
// connections against the in-process rate of the same work in the same run, and the server's
// memory after many events.
//
//   http_bench --dir=/var/tmp --summary_md=out.md
//   CONVLEDGER_BENCH_EVENTS=1000000 http_bench     (the memory figure; default 200,000)
//   bench/run-http-bench.sh                          (builds Release and runs this binary)
//
// Layout of a run:
//   - The server runs in a child process (forked before any thread exists): it opens its own
//     ledger (durability wal, projections::MakeAll()) and api::Server::Start on a free loopback
//     port, default limits (io_threads 2, worker_threads 32), access log at info level written to
//     a file in the run directory (CONVLEDGER_BENCH_ACCESS_LOG=0: warnings only). Its RSS and CPU
//     time are read from /proc/<pid>/status and /proc/<pid>/stat by the parent, so the client's
//     memory is not counted.
//   - The parent is the client (Boost.Beast/Asio, one io_context thread, CONNECTIONS keep-alive
//     connections opened before timing, each sending its next request as soon as the previous
//     answer is read) and the in-process peer (a ledger of its own, same options, the same work
//     through Ledger::Append / projections::CustomerView on CONNECTIONS threads).
//   - Every round: APPENDS single-event appends on each side (the same events: a ~200-character
//     agent message, each a new message in one of CONVERSATIONS conversations, pre-built before
//     timing, as Event on one side and as its JSON body on the other), then VIEWS customer-view
//     reads on each side (the same conversations; both ledgers hold the same events). The side
//     that goes first alternates between rounds.
//   - Then the server's ledger is filled through HTTP (single-event POSTs, 64 connections) to
//     EVENTS events, a burst of view requests is served, and VmRSS / VmHWM are read.
//
// Environment (all optional): CONVLEDGER_BENCH_EVENTS (200000), CONVLEDGER_BENCH_APPENDS (50000
// per side per round), CONVLEDGER_BENCH_VIEWS (50000), CONVLEDGER_BENCH_ROUNDS (2),
// CONVLEDGER_BENCH_CONNECTIONS (64), CONVLEDGER_BENCH_CONVERSATIONS (5000),
// CONVLEDGER_BENCH_FILL_BATCH (1: events per POST while filling; >1 uses {"events":[...]}),
// CONVLEDGER_BENCH_PRELOAD (0: events the server's ledger gets through Ledger::Append in the
// server process before the server starts; they count in no rate and are not in the in-process
// peer's ledger, so use it for memory figures only), CONVLEDGER_BENCH_ACCESS_LOG (1),
// CONVLEDGER_BENCH_WORKERS and CONVLEDGER_BENCH_IO_THREADS (the
// server's Limits::worker_threads / io_threads; default: Limits' defaults, 32 and 2).

#include <malloc.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include "api/config.h"
#include "api/server.h"
#include "bench_util.h"
#include "ledger/event_json.h"
#include "ledger/ledger.h"
#include "projections/projections.h"

namespace convledger::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr char kTenant[] = "acme-retail";  // MakeAgentMessage's tenant
constexpr char kWriterKey[] = "bench-writer-key-0123456789abcdef";
constexpr char kViewerKey[] = "bench-viewer-key-0123456789abcdef";
constexpr int kConversationGroup = 700;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

struct Params {
  uint64_t events = 200000;
  uint64_t appends = 50000;
  uint64_t views = 50000;
  int rounds = 2;
  int connections = 64;
  int conversations = 5000;
  uint64_t fill_batch = 1;
  bool access_log = true;
  uint64_t preload = 0;  // events the server's ledger gets in-process before the server starts
};
Params g;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "http_bench: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(2);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- /proc readings ---------------------------------------------------------------------------

// VmRSS / VmHWM etc. in KiB, from /proc/<pid>/status; -1 if absent.
long StatusKb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':')
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
  }
  return -1;
}

// utime + stime of a process in seconds, from /proc/<pid>/stat.
double ProcCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = all.rfind(')');
  if (close == std::string::npos) return NAN;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields after the command: state(3) ... utime(14) stime(15).
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// who: RUSAGE_SELF (the whole process) or RUSAGE_THREAD (the calling thread).
double SelfCpuSeconds(int who = RUSAGE_SELF) {
  rusage ru{};
  getrusage(who, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2)) total += it->file_size(e2);
  }
  return total;
}

// ---- the events -------------------------------------------------------------------------------

// Event number n (0-based over the whole run, the same n on both sides): a new agent message in
// conversation n % conversations.
std::string ConversationOf(uint64_t n) {
  return ConversationId(kConversationGroup, static_cast<int>(n % g.conversations));
}
Event EventOf(uint64_t n) { return MakeAgentMessage(ConversationOf(n), 0, n); }

std::string PercentEncode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string AppendRequest(const std::string& body) {
  std::string r;
  r.reserve(body.size() + 200);
  r += "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ";
  r += kWriterKey;
  r += "\r\nContent-Type: application/json\r\nContent-Length: ";
  r += std::to_string(body.size());
  r += "\r\n\r\n";
  r += body;
  return r;
}
std::string AppendRequestFor(uint64_t n) { return AppendRequest(EventToJson(EventOf(n))); }
std::string BatchRequestFor(uint64_t first, uint64_t count) {
  std::string body = "{\"events\":[";
  for (uint64_t i = 0; i < count; ++i) {
    if (i) body += ',';
    body += EventToJson(EventOf(first + i));
  }
  body += "]}";
  return AppendRequest(body);
}

// View request k reads conversation (k * 7919) % conversations (a prime stride: every
// conversation in turn, in an order unrelated to the append order).
// Only conversations that already have events are read (a tiny run may not reach them all).
uint64_t g_populated = 1;
int ViewConversation(uint64_t k) { return static_cast<int>((k * 7919) % g_populated); }
std::string ViewRequestFor(uint64_t k) {
  return "GET /v1/conversations/" +
         PercentEncode(ConversationId(kConversationGroup, ViewConversation(k))) +
         "/view HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kViewerKey + "\r\n\r\n";
}

// ---- the server (child process) ---------------------------------------------------------------

struct Child {
  pid_t pid = -1;
  int control_fd = -1;  // closing it stops the server
  uint16_t port = 0;
  std::string dir;
};

api::Config ServerConfig() {
  api::Config c;
  api::TenantConfig t;
  t.id = kTenant;
  c.tenants.push_back(t);
  c.api_keys.push_back(
      api::ApiKey{"bench-writer", api::HashApiKey(kWriterKey), kTenant, api::kRoleWriter});
  c.api_keys.push_back(
      api::ApiKey{"bench-viewer", api::HashApiKey(kViewerKey), kTenant, api::kRoleCustomerView});
  // Default limits unless CONVLEDGER_BENCH_WORKERS / CONVLEDGER_BENCH_IO_THREADS say otherwise.
  c.limits.worker_threads =
      static_cast<uint32_t>(EnvOr("CONVLEDGER_BENCH_WORKERS", c.limits.worker_threads));
  c.limits.io_threads =
      static_cast<uint32_t>(EnvOr("CONVLEDGER_BENCH_IO_THREADS", c.limits.io_threads));
  return c;
}

[[noreturn]] void RunServerChild(const std::string& dir, int port_fd, int control_fd) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  // As `convledger serve` does (tools/serve.cc): two malloc arenas.
  mallopt(M_ARENA_MAX, 2);
  // The access log goes to a file, as a deployed server's log goes somewhere; at info level it is
  // one line per request.
  auto logger = spdlog::basic_logger_mt("bench-server", dir + "/server.log", true);
  spdlog::set_default_logger(logger);
  spdlog::set_level(g.access_log ? spdlog::level::info : spdlog::level::warn);
  Options o;
  o.durability = Durability::kWal;
  o.projections = projections::MakeAll();
  auto opened = Ledger::Open(dir + "/ledger", o);
  if (!opened.ok()) Fail("server: Ledger::Open: " + opened.status().ToString());
  std::unique_ptr<Ledger> ledger = std::move(opened).value();
  if (g.preload) {
    // In-process appends by 64 threads, events of their own (ids from MakeAgentMessage's thread
    // 1; the measured rounds use thread 0), before the server exists.
    std::atomic<uint64_t> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 64; ++t) {
      pool.emplace_back([&] {
        for (uint64_t n; (n = next.fetch_add(1)) < g.preload;) {
          std::vector<Event> one;
          one.push_back(MakeAgentMessage(ConversationOf(n), 1, n));
          auto r = ledger->Append(std::move(one));
          if (!r.ok()) Fail("server: preload: " + r.status().ToString());
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  api::ServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;
  auto started = api::Server::Start(*ledger, ServerConfig(), so);
  if (!started.ok()) Fail("server: Server::Start: " + started.status().ToString());
  std::unique_ptr<api::Server> server = std::move(started).value();
  const uint16_t port = server->port();
  if (write(port_fd, &port, sizeof port) != sizeof port) Fail("server: write port");
  close(port_fd);
  char c;
  while (read(control_fd, &c, 1) > 0) {
  }
  server->Shutdown();
  server.reset();
  ledger.reset();
  logger->flush();
  std::_Exit(0);
}

Child StartServerChild(const std::string& dir) {
  int port_pipe[2], control_pipe[2];
  if (pipe(port_pipe) != 0 || pipe(control_pipe) != 0) Fail("pipe");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) Fail("fork");
  if (pid == 0) {
    close(port_pipe[0]);
    close(control_pipe[1]);
    RunServerChild(dir, port_pipe[1], control_pipe[0]);
  }
  close(port_pipe[1]);
  close(control_pipe[0]);
  Child c;
  c.pid = pid;
  c.control_fd = control_pipe[1];
  c.dir = dir;
  if (read(port_pipe[0], &c.port, sizeof c.port) != sizeof c.port) Fail("the server did not start");
  close(port_pipe[0]);
  return c;
}

void StopServerChild(Child& c) {
  close(c.control_fd);
  int status = 0;
  waitpid(c.pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    std::fprintf(stderr, "http_bench: the server exited with status %d\n", status);
}

// ---- the HTTP client --------------------------------------------------------------------------

struct Measured {
  uint64_t ok = 0;
  uint64_t errors = 0;
  double seconds = 0;
  double rate = 0;  // ok / seconds
  double p50_ms = NAN, p99_ms = NAN;
  double cpu_us_per_op = NAN;         // in-process: the process; HTTP: the server process
  double client_cpu_us_per_op = NAN;  // HTTP only
  uint64_t response_bytes = 0;
  std::string first_error;
};

void Percentiles(std::vector<uint32_t>& lat_us, Measured* m) {
  if (lat_us.empty()) return;
  std::sort(lat_us.begin(), lat_us.end());
  m->p50_ms = lat_us[lat_us.size() / 2] / 1e3;
  m->p99_ms = lat_us[std::min(lat_us.size() - 1, lat_us.size() * 99 / 100)] / 1e3;
}

// `total` requests over `connections` keep-alive connections on one io_context thread (this
// one). make(i, &out) writes request i's bytes. A response with another status than `expect`
// counts as an error (the connection carries on).
class HttpLoad {
 public:
  HttpLoad(uint16_t port, int connections, uint64_t total, int expect,
           std::function<void(uint64_t, std::string*)> make)
      : port_(port), total_(total), expect_(expect), make_(std::move(make)) {
    conns_.reserve(connections);
    for (int i = 0; i < connections; ++i) conns_.push_back(std::make_unique<Conn>(this, ioc_));
  }

  Measured Run(pid_t server_pid) {
    const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port_);
    for (auto& c : conns_) {
      c->sock.connect(ep);
      c->sock.set_option(tcp::no_delay(true));
    }
    lat_us_.reserve(total_);
    const double server_cpu0 = ProcCpuSeconds(server_pid);
    // The client is this thread alone (the in-process ledger's background threads also live in
    // this process).
    const double client_cpu0 = SelfCpuSeconds(RUSAGE_THREAD);
    const auto t0 = Clock::now();
    for (auto& c : conns_) c->Next();
    ioc_.run();
    Measured m;
    m.seconds = Seconds(Clock::now() - t0);
    const double server_cpu = ProcCpuSeconds(server_pid) - server_cpu0;
    const double client_cpu = SelfCpuSeconds(RUSAGE_THREAD) - client_cpu0;
    m.ok = ok_;
    m.errors = errors_;
    m.rate = ok_ / m.seconds;
    m.response_bytes = response_bytes_;
    m.first_error = first_error_;
    if (ok_) {
      m.cpu_us_per_op = server_cpu * 1e6 / ok_;
      m.client_cpu_us_per_op = client_cpu * 1e6 / ok_;
    }
    Percentiles(lat_us_, &m);
    for (auto& c : conns_) {
      beast::error_code ec;
      c->sock.shutdown(tcp::socket::shutdown_both, ec);
      c->sock.close(ec);
    }
    return m;
  }

 private:
  struct Conn {
    Conn(HttpLoad* load, net::io_context& ioc) : load(load), sock(ioc) {}
    HttpLoad* load;
    tcp::socket sock;
    beast::flat_buffer buf;
    std::optional<http::response_parser<http::string_body>> parser;
    std::string out;
    Clock::time_point start;

    void Next() {
      if (load->next_ >= load->total_) return;
      load->make_(load->next_++, &out);
      start = Clock::now();
      net::async_write(sock, net::buffer(out), [this](beast::error_code ec, size_t) {
        if (ec) return Broken("write", ec);
        parser.emplace();
        parser->body_limit(256 << 20);
        http::async_read(sock, buf, *parser, [this](beast::error_code ec, size_t) {
          if (ec) return Broken("read", ec);
          const auto& res = parser->get();
          if (static_cast<int>(res.result_int()) == load->expect_) {
            ++load->ok_;
            load->lat_us_.push_back(static_cast<uint32_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start)
                    .count()));
            load->response_bytes_ += res.body().size();
          } else {
            load->Error("status " + std::to_string(res.result_int()) + ": " +
                        res.body().substr(0, 300));
          }
          if (!res.keep_alive()) return Broken("server closed the connection", {});
          Next();
        });
      });
    }
    void Broken(const char* what, beast::error_code ec) {
      load->Error(std::string(what) + (ec ? ": " + ec.message() : std::string()));
      beast::error_code ignored;
      sock.close(ignored);
    }
  };

  void Error(std::string what) {
    if (errors_++ == 0) first_error_ = std::move(what);
  }

  net::io_context ioc_{1};
  const uint16_t port_;
  const uint64_t total_;
  const int expect_;
  std::function<void(uint64_t, std::string*)> make_;
  std::vector<std::unique_ptr<Conn>> conns_;
  uint64_t next_ = 0;
  uint64_t ok_ = 0, errors_ = 0, response_bytes_ = 0;
  std::string first_error_;
  std::vector<uint32_t> lat_us_;
};

// ---- in-process -------------------------------------------------------------------------------

// `total` operations on `threads` threads; op(i) returns "" on success or an error message.
Measured RunThreads(int threads, uint64_t total, const std::function<std::string(uint64_t)>& op) {
  std::atomic<uint64_t> next{0};
  std::vector<std::vector<uint32_t>> lat(threads);
  std::vector<uint64_t> ok(threads, 0), errors(threads, 0);
  std::vector<std::string> first_error(threads);
  const double cpu0 = SelfCpuSeconds();
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      lat[t].reserve(total / threads + 1);
      for (uint64_t i; (i = next.fetch_add(1)) < total;) {
        const auto s = Clock::now();
        std::string err = op(i);
        if (err.empty()) {
          ++ok[t];
          lat[t].push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - s).count()));
        } else {
          if (errors[t]++ == 0) first_error[t] = std::move(err);
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  Measured m;
  m.seconds = Seconds(Clock::now() - t0);
  const double cpu = SelfCpuSeconds() - cpu0;
  std::vector<uint32_t> all;
  for (int t = 0; t < threads; ++t) {
    m.ok += ok[t];
    m.errors += errors[t];
    if (m.first_error.empty()) m.first_error = first_error[t];
    all.insert(all.end(), lat[t].begin(), lat[t].end());
  }
  m.rate = m.ok / m.seconds;
  if (m.ok) m.cpu_us_per_op = cpu * 1e6 / m.ok;
  Percentiles(all, &m);
  return m;
}

// ---- report -----------------------------------------------------------------------------------

std::string Fixed(double v, int decimals) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
std::string WithCommas(double v) {
  if (std::isnan(v)) return "n/a";
  std::string s = std::to_string(static_cast<long long>(std::llround(v)));
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(i, ",");
  return s;
}
double Median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}
std::string Join(const std::vector<double>& v, int decimals) {
  std::string out;
  for (double x : v) {
    if (!out.empty()) out += ", ";
    out += Fixed(x, decimals);
  }
  return out;
}
std::string Mib(long kb) { return kb < 0 ? "n/a" : Fixed(kb / 1024.0, 1) + " MiB"; }

// VmRSS of a process with its split (RssAnon: heap, memtables, block cache; RssFile: mapped
// files such as the binary and its libraries).
struct Rss {
  long rss_kb = -1, anon_kb = -1, file_kb = -1;
  static Rss Of(pid_t pid) {
    return {StatusKb(pid, "VmRSS"), StatusKb(pid, "RssAnon"), StatusKb(pid, "RssFile")};
  }
  std::string Text() const {
    return Mib(rss_kb) + " (anon " + Mib(anon_kb) + ", file " + Mib(file_kb) + ")";
  }
};

void Log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Log(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

void LogMeasured(const char* what, int round, const Measured& m) {
  Log("round %d %-22s %9llu ok %4llu err %7.2f s %10.0f /s  p50 %6.2f ms p99 %7.2f ms  cpu "
      "%6.1f us/op%s",
      round, what, static_cast<unsigned long long>(m.ok), static_cast<unsigned long long>(m.errors),
      m.seconds, m.rate, m.p50_ms, m.p99_ms, m.cpu_us_per_op,
      std::isnan(m.client_cpu_us_per_op)
          ? ""
          : (" (server; client " + Fixed(m.client_cpu_us_per_op, 1) + " us/op)").c_str());
  if (m.errors) Log("  first error: %s", m.first_error.c_str());
}

}  // namespace
}  // namespace convledger::bench

int main(int argc, char** argv) {
  using namespace convledger;
  using namespace convledger::bench;
  std::string summary_path;
  std::string base;
  if (const char* tmp = std::getenv("TMPDIR")) base = tmp;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.rfind("--summary_md=", 0) == 0) {
      summary_path = arg.substr(13);
    } else if (arg.rfind("--dir=", 0) == 0) {
      base = arg.substr(6);
    } else {
      std::fprintf(stderr, "usage: http_bench [--dir=DIR] [--summary_md=FILE] (see the source for "
                           "the CONVLEDGER_BENCH_* variables)\n");
      return 1;
    }
  }
  g.events = EnvOr("CONVLEDGER_BENCH_EVENTS", g.events);
  g.appends = EnvOr("CONVLEDGER_BENCH_APPENDS", g.appends);
  g.views = EnvOr("CONVLEDGER_BENCH_VIEWS", g.views);
  g.rounds = static_cast<int>(std::max<uint64_t>(1, EnvOr("CONVLEDGER_BENCH_ROUNDS", g.rounds)));
  g.connections =
      static_cast<int>(std::max<uint64_t>(1, EnvOr("CONVLEDGER_BENCH_CONNECTIONS", g.connections)));
  g.conversations = static_cast<int>(
      std::clamp<uint64_t>(EnvOr("CONVLEDGER_BENCH_CONVERSATIONS", g.conversations), 1, 99999));
  g.fill_batch = std::clamp<uint64_t>(EnvOr("CONVLEDGER_BENCH_FILL_BATCH", 1), 1, 1000);
  g.access_log = EnvOr("CONVLEDGER_BENCH_ACCESS_LOG", 1) != 0;
  g.preload = EnvOr("CONVLEDGER_BENCH_PRELOAD", 0);
  if (!base.empty()) SetBaseDir(base);

  // The run directory; the server child is forked now, before this process starts any thread.
  TempDir run("http");
  Child server = StartServerChild(run.path() + "/server");
  Log("http_bench: server pid %d on 127.0.0.1:%u, data under %s; load average %s", server.pid,
      server.port, run.path().c_str(), [] {
        std::ifstream in("/proc/loadavg");
        std::string s;
        std::getline(in, s);
        return s;
      }().c_str());
  const Rss rss_start = Rss::Of(server.pid);

  Options o;
  o.durability = Durability::kWal;
  o.projections = projections::MakeAll();
  auto opened = Ledger::Open(run.path() + "/inproc", o);
  if (!opened.ok()) Fail("Ledger::Open: " + opened.status().ToString());
  std::unique_ptr<Ledger> ledger = std::move(opened).value();

  {  // The JSON body must be the same event as the Event.
    const std::string text = EventToJson(EventOf(0));
    auto parsed = ParseEventJson(text);
    if (!parsed.ok()) Fail("the JSON form does not parse: " + parsed.status().ToString());
    if (EventToJson(*parsed) != text) Fail("the JSON form does not round-trip: " + text);
  }

  std::vector<Measured> http_append, inproc_append, http_view, inproc_view;
  uint64_t appended = 0;  // events in each ledger so far
  for (int round = 1; round <= g.rounds; ++round) {
    const uint64_t first = appended;
    // Pre-built before timing, on both sides.
    std::vector<Event> events;
    std::vector<std::string> requests;
    events.reserve(g.appends);
    requests.reserve(g.appends);
    for (uint64_t i = 0; i < g.appends; ++i) {
      events.push_back(EventOf(first + i));
      requests.push_back(AppendRequestFor(first + i));
    }
    auto inproc_appends = [&] {
      Measured m = RunThreads(g.connections, g.appends, [&](uint64_t i) -> std::string {
        std::vector<Event> one;
        one.push_back(std::move(events[i]));
        auto r = ledger->Append(std::move(one));
        if (!r.ok()) return r.status().ToString();
        if (r->front().duplicate) return "duplicate";
        return {};
      });
      LogMeasured("in-process append", round, m);
      inproc_append.push_back(m);
    };
    auto http_appends = [&] {
      HttpLoad load(server.port, g.connections, g.appends, 201,
                    [&](uint64_t i, std::string* out) { out->assign(requests[i]); });
      Measured m = load.Run(server.pid);
      LogMeasured("HTTP append", round, m);
      http_append.push_back(m);
    };
    auto inproc_views = [&] {
      Measured m = RunThreads(g.connections, g.views, [&](uint64_t k) -> std::string {
        auto r = projections::CustomerView(
            *ledger, ConversationId(kConversationGroup, ViewConversation(k)), {});
        if (!r.ok()) return r.status().ToString();
        return {};
      });
      LogMeasured("in-process view", round, m);
      inproc_view.push_back(m);
    };
    auto http_views = [&] {
      HttpLoad load(server.port, g.connections, g.views, 200,
                    [&](uint64_t k, std::string* out) { *out = ViewRequestFor(k); });
      Measured m = load.Run(server.pid);
      LogMeasured("HTTP view", round, m);
      http_view.push_back(m);
    };
    g_populated = std::max<uint64_t>(1, std::min<uint64_t>(g.conversations, first + g.appends));
    if (round % 2 == 1) {
      inproc_appends();
      http_appends();
      inproc_views();
      http_views();
    } else {
      http_appends();
      inproc_appends();
      http_views();
      inproc_views();
    }
    appended += g.appends;
  }
  const uint64_t inproc_events = ledger->LastGlobalSeq();
  ledger.reset();
  const Rss rss_after_rounds = Rss::Of(server.pid);

  // Fill the server's ledger to g.events through HTTP.
  Measured fill;
  if (g.events > appended) {
    const uint64_t remaining = g.events - appended;
    const uint64_t first = appended;
    const uint64_t requests = (remaining + g.fill_batch - 1) / g.fill_batch;
    Log("http_bench: filling the server's ledger with %llu more events (%llu requests)...",
        static_cast<unsigned long long>(remaining), static_cast<unsigned long long>(requests));
    HttpLoad load(server.port, g.connections, requests, 201, [&](uint64_t i, std::string* out) {
      const uint64_t n = first + i * g.fill_batch;
      const uint64_t count = std::min(g.fill_batch, g.events - n);
      *out = g.fill_batch == 1 ? AppendRequestFor(n) : BatchRequestFor(n, count);
    });
    fill = load.Run(server.pid);
    LogMeasured("HTTP fill", 0, fill);
    appended = g.events;
  }
  const Rss rss_after_fill = Rss::Of(server.pid);
  const long rss_after_fill_kb = rss_after_fill.rss_kb;
  HttpLoad big_views(server.port, g.connections, g.views, 200,
                     [&](uint64_t k, std::string* out) { *out = ViewRequestFor(k); });
  Measured views_at_end = big_views.Run(server.pid);
  LogMeasured("HTTP view at end", 0, views_at_end);
  const Rss rss_end = Rss::Of(server.pid);
  const long rss_end_kb = rss_end.rss_kb;
  const long hwm_end_kb = StatusKb(server.pid, "VmHWM");
  const uint64_t server_dir_bytes = DirBytes(server.dir + "/ledger");
  const uint64_t log_bytes = DirBytes(server.dir) - server_dir_bytes;
  StopServerChild(server);

  // ---- summary ----
  auto rates = [](const std::vector<Measured>& v) {
    std::vector<double> r;
    for (const auto& m : v) r.push_back(m.rate);
    return r;
  };
  auto field = [](const std::vector<Measured>& v, double Measured::*f) {
    std::vector<double> r;
    for (const auto& m : v) r.push_back(m.*f);
    return r;
  };
  auto ratios = [](const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> r;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) r.push_back(a[i] / b[i]);
    return r;
  };
  uint64_t total_errors = fill.errors + views_at_end.errors;
  for (const auto* v : {&http_append, &inproc_append, &http_view, &inproc_view})
    for (const auto& m : *v) total_errors += m.errors;

  std::ostringstream out;
  out << "| measure | HTTP | in-process | ratio HTTP / in-process | per round | target | met |\n"
      << "|---|---|---|---|---|---|---|\n";
  auto rate_row = [&](const char* what, const std::vector<Measured>& h,
                      const std::vector<Measured>& p, double target) {
    const auto r = ratios(rates(h), rates(p));
    const double med = Median(r);
    out << "| " << what << " | " << WithCommas(Median(rates(h))) << " req/s | "
        << WithCommas(Median(rates(p))) << " calls/s | " << Fixed(med, 2) << " | " << Join(r, 2)
        << " | " << (std::isnan(target) ? "—" : "≥ " + Fixed(target, 2)) << " | "
        << (std::isnan(target) ? "info" : (med >= target ? "yes" : "**no**")) << " |\n";
  };
  auto pair_row = [&](const char* what, const std::vector<Measured>& h,
                      const std::vector<Measured>& p, double Measured::*f, int decimals,
                      const char* unit) {
    out << "| " << what << " | " << Fixed(Median(field(h, f)), decimals) << unit << " | "
        << Fixed(Median(field(p, f)), decimals) << unit << " | | " << Join(field(h, f), decimals)
        << " / " << Join(field(p, f), decimals) << " | | info |\n";
  };
  rate_row("1. append, one event per request, wal, all views", http_append, inproc_append, 0.40);
  pair_row("1. append latency p50", http_append, inproc_append, &Measured::p50_ms, 3, " ms");
  pair_row("1. append latency p99", http_append, inproc_append, &Measured::p99_ms, 3, " ms");
  pair_row("1. append CPU per event (HTTP: server process)", http_append, inproc_append,
           &Measured::cpu_us_per_op, 1, " µs");
  out << "| 1. append CPU per event, HTTP client (its thread) | "
      << Fixed(Median(field(http_append, &Measured::client_cpu_us_per_op)), 1)
      << " µs | | | " << Join(field(http_append, &Measured::client_cpu_us_per_op), 1)
      << " | | info |\n";
  rate_row("2. customer view (GET .../view)", http_view, inproc_view, NAN);
  pair_row("2. view latency p50", http_view, inproc_view, &Measured::p50_ms, 3, " ms");
  pair_row("2. view latency p99", http_view, inproc_view, &Measured::p99_ms, 3, " ms");
  pair_row("2. view CPU per read (HTTP: server process)", http_view, inproc_view,
           &Measured::cpu_us_per_op, 1, " µs");
  out << "\n| memory of the server process (VmRSS from /proc/<pid>/status) | value | target | met |\n"
      << "|---|---|---|---|\n"
      << "| after start, "
      << (g.preload ? WithCommas(static_cast<double>(g.preload)) +
                          " events appended in-process (Ledger::Append, 64 threads) before the "
                          "server started"
                    : std::string("empty ledger"))
      << " | " << rss_start.Text() << " | | |\n"
      << "| after the measured rounds (" << WithCommas(static_cast<double>(g.rounds * g.appends))
      << " events) | " << rss_after_rounds.Text() << " | | |\n"
      << "| after " << WithCommas(static_cast<double>(appended + g.preload)) << " events ("
      << (g.preload ? WithCommas(static_cast<double>(g.preload)) + " in-process, " +
                          WithCommas(static_cast<double>(appended)) + " through HTTP"
                    : std::string("all appended through HTTP"))
      << ") | " << rss_after_fill.Text() << " | < 300 MiB | "
      << (rss_after_fill_kb >= 0 && rss_after_fill_kb < 300 * 1024 ? "yes" : "**no**") << " |\n"
      << "| after " << WithCommas(static_cast<double>(g.views))
      << " more view requests | " << rss_end.Text() << " | < 300 MiB | "
      << (rss_end_kb >= 0 && rss_end_kb < 300 * 1024 ? "yes" : "**no**") << " |\n"
      << "| peak (VmHWM) over the whole run | " << Mib(hwm_end_kb) << " | < 300 MiB | "
      << (hwm_end_kb >= 0 && hwm_end_kb < 300 * 1024 ? "yes" : "**no**") << " |\n\n";
  out << "Events: " << WithCommas(static_cast<double>(g.appends)) << " single-event appends per "
      << "side per round, " << g.rounds << " rounds (first side alternating), " << g.conversations
      << " conversations, " << g.connections << " connections / threads (server: "
      << ServerConfig().limits.io_threads << " I/O threads, " << ServerConfig().limits.worker_threads
      << " workers); request body "
      << EventToJson(EventOf(0)).size() << " bytes of JSON (message.sent, 200 characters of "
      << "text). Views: " << WithCommas(static_cast<double>(g.views)) << " reads per side per round"
      << " (in-process ledger at " << WithCommas(static_cast<double>(inproc_events))
      << " events at the end). Fill: " << WithCommas(static_cast<double>(fill.ok)) << " requests of "
      << g.fill_batch << " event(s) at " << WithCommas(fill.rate) << " req/s; view at "
      << WithCommas(static_cast<double>(appended)) << " events: " << WithCommas(views_at_end.rate)
      << " req/s (p99 " << Fixed(views_at_end.p99_ms, 2) << " ms). Server ledger on disk: "
      << Fixed(server_dir_bytes / 1048576.0, 1) << " MiB; access log "
      << (g.access_log ? "on" : "off") << " (" << Fixed(log_bytes / 1048576.0, 1) << " MiB).\n";
  if (total_errors) out << "ERRORS: " << total_errors << " failed requests/calls (see stderr).\n";

  const std::string summary = out.str();
  std::printf("\n%s", summary.c_str());
  std::fflush(stdout);
  if (!summary_path.empty()) std::ofstream(summary_path) << summary;
  return total_errors ? 3 : 0;
}
