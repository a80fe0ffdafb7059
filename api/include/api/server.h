// `convledger serve`: the HTTP/1.1 server (Boost.Beast over Boost.Asio), optionally over TLS.
//
// Threads: `io_threads` run the sockets (reads, writes, timers); every handler that touches the
// ledger runs on a pool of `worker_threads`, so a blocking append (waiting for its group commit)
// never stalls other connections, and concurrent appends share one write; a short request
// (RouteInfo::short_work) runs on the I/O thread that read it instead while fewer than
// `limits.inline_requests` requests are being handled in all, saving a lone client two thread
// hand-offs per request. The feed stream reads
// one bounded chunk at a time and only after the previous one was written to the socket: a slow
// consumer holds at most one chunk of memory and never misses or reorders events, because it
// reads from the log by sequence rather than from a queue.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/config.h"
#include "ledger/ledger.h"

namespace convledger::api {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see Server::port())
};

class Server {
 public:
  // Binds, starts the threads and returns; the ledger must outlive the server.
  static Result<std::unique_ptr<Server>> Start(Ledger& ledger, Config config,
                                               const ServerOptions& options);
  virtual ~Server() = default;

  virtual uint16_t port() const = 0;
  virtual bool tls() const = 0;

  // Graceful stop: stops accepting, closes idle connections and feed streams, lets requests in
  // flight finish and be answered (up to limits.shutdown_grace_ms), then stops the threads.
  // Returns when everything has stopped. Safe to call more than once and from any thread.
  virtual void Shutdown() = 0;
};

}  // namespace convledger::api
