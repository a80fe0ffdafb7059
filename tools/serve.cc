// `convledger serve`: the HTTP API on an embedded ledger (see api/server.h).
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <ostream>

#include "api/config.h"
#include "api/server.h"
#include "tools/cli.h"
#include "tools/common.h"
#include "tools/demo.h"

namespace convledger::cli {
namespace {

// "HOST:PORT", "[v6]:PORT" or ":PORT" (loopback).
bool ParseListen(const std::string& s, std::string* host, uint16_t* port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  std::string h = s.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "127.0.0.1";
  unsigned p = 0;
  std::string_view ps = std::string_view(s).substr(colon + 1);
  auto [end, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), p);
  if (ec != std::errc() || end != ps.data() + ps.size() || p > 65535) return false;
  *host = h;
  *port = static_cast<uint16_t>(p);
  return true;
}

std::string UrlHost(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

int RunApiKeyNew(std::ostream& out) {
  const std::string key = api::NewApiKey();
  out << "{\"key\":\"" << key << "\",\"sha256\":\"" << HexDigest(api::HashApiKey(key))
      << "\"}\n";
  out.flush();
  return out ? kExitOk : kExitIo;
}

int RunServe(const ServeCommand& cmd, std::ostream& out) {
  std::string host;
  uint16_t port = 0;
  if (!ParseListen(cmd.listen, &host, &port)) {
    Log().error("--listen must be HOST:PORT, got '{}'", cmd.listen);
    return kExitUsage;
  }
  // The server logs through spdlog's default logger: structured lines on stderr, so stdout
  // carries only the banner.
  auto logger = spdlog::stderr_color_mt("convledger-serve");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);

  api::Config config;
  std::string admin_key;
  if (cmd.config.empty()) {
    config = api::DemoConfig(&admin_key);
    spdlog::warn("serve: no --config given: running the embedded demo default (tenant "
                 "'default', the webhook corpus test accounts, a generated admin key)");
  } else {
    auto loaded = api::LoadConfig(cmd.config);
    if (!loaded.ok()) {
      spdlog::error("serve: {}", loaded.status().message());
      return kExitUsage;
    }
    config = std::move(*loaded);
    spdlog::info("serve: config {}: {} tenants, {} API keys", cmd.config, config.tenants.size(),
                 config.api_keys.size());
  }

  // glibc gives every thread that allocates its own arena (up to 8 per core); with dozens of
  // worker threads that fragments into hundreds of MB the server never uses again (measured in
  // bench/RESULTS.md, issue 4). Two arenas keep RSS bounded.
  mallopt(M_ARENA_MAX, 2);

  // SIGTERM and SIGINT are taken by sigwait below: block them before any thread starts, so
  // every thread inherits the mask and none is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto opened = OpenLedger(cmd.data_dir, OpenMode::kReadWrite, cmd.durability);
  if (!opened.ok()) {
    spdlog::error("serve: cannot open the ledger in '{}': {}", cmd.data_dir,
                  opened.status().ToString());
    return ExitCodeFor(opened.status());
  }
  Ledger& ledger = **opened;
  if (config.demo && cmd.demo_data) {
    auto counts = AppendDemoConversations(ledger);
    if (!counts.ok()) {
      spdlog::error("serve: loading the demo conversations: {}", counts.status().ToString());
      return ExitCodeFor(counts.status());
    }
    spdlog::info("serve: demo conversations loaded: {} events appended, {} already there",
                 counts->appended, counts->duplicates);
  }

  api::ServerOptions so;
  so.host = host;
  so.port = port;
  auto server = api::Server::Start(ledger, std::move(config), so);
  if (!server.ok()) {
    spdlog::error("serve: {}", server.status().ToString());
    return ExitCodeFor(server.status());
  }
  const std::string base = std::string((*server)->tls() ? "https" : "http") + "://" +
                           UrlHost(host) + ":" + std::to_string((*server)->port());
  out << "convledger serve: listening on " << base << " (data: " << cmd.data_dir << ")\n";
  if (!admin_key.empty()) {
    out << "\nDemo mode (no --config). Admin API key for tenant 'default', shown once:\n\n"
        << "  export CONVLEDGER_KEY=" << admin_key << "\n\n"
        << "Try:\n"
        << "  curl -s " << base << "/healthz\n"
        << "  curl -s -H \"Authorization: Bearer $CONVLEDGER_KEY\" " << base
        << "/v1/conversations/demo-wa-ben/history\n"
        << "  curl -s -H \"Authorization: Bearer $CONVLEDGER_KEY\" " << base
        << "/v1/conversations/demo-wa-anna/view\n"
        << "  curl -s -H \"Authorization: Bearer $CONVLEDGER_KEY\" " << base
        << "/v1/conversations/demo-wa-anna/events\n"
        << "  curl -s -H \"Authorization: Bearer $CONVLEDGER_KEY\" '" << base
        << "/v1/feed?after=0&limit=5'\n"
        << "  curl -sN -H \"Authorization: Bearer $CONVLEDGER_KEY\" " << base
        << "/v1/feed/stream      # live, Ctrl-C to stop\n"
        << "  curl -s -H \"Authorization: Bearer $CONVLEDGER_KEY\" " << base << "/v1/analytics\n"
        << "  curl -s -X POST -H \"Authorization: Bearer $CONVLEDGER_KEY\" -H 'Content-Type: "
           "application/json' \\\n"
        << "       -d '{\"type\":\"message.sent\",\"conversation_id\":\"demo-api\",\"message_id\":"
           "\"m1\",\"direction\":\"outbound\",\"actor\":{\"kind\":\"agent\",\"id\":\"a1\"},"
           "\"content\":{\"text\":\"Hello from curl\"}}' \\\n"
        << "       " << base << "/v1/events\n"
        << "  curl -s " << base << "/metrics | head\n"
        << "\nThe API is described in api/openapi.yaml. Stop with Ctrl-C (SIGINT) or SIGTERM.\n";
  }
  out.flush();

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("serve: received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown();
  server->reset();
  opened->reset();  // closes the ledger: flushes and writes the commit marker
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
  spdlog::info("serve: stopped cleanly");
  return kExitOk;
}

}  // namespace convledger::cli
