// Peer benchmark (issue 7): the same workload against convledger and against PostgreSQL, in
// turns, in one run. Driven by bench/run, which starts a throwaway PostgreSQL 15 cluster and
// passes its connection string; this binary can also be run by hand against any cluster where it
// may create and drop the databases peer_append and peer_bulk:
//
//   peer_bench --pg='host=127.0.0.1 port=5433 user=postgres' [--dir=/var/tmp] [--summary_md=F]
//
// What is measured (every figure once per round, convledger and PostgreSQL alternating which
// goes first; medians over the rounds, ratios computed within each round):
//   - Appends of a realistic mix (per conversation, out of every 10 events: 6 sends both ways,
//     3 delivery/read statuses, 1 edit), the same events on both sides: the JSON body of
//     POST /v1/events is, byte for byte, the jsonb parameter of PostgreSQL's append. Durable
//     (convledger `fsync` against synchronous_commit=on) and relaxed (`wal` against
//     synchronous_commit=off), with 1 and 16 concurrent writers, each through its own network
//     interface over loopback TCP: HTTP/1.1 keep-alive connections (the Beast client of
//     http_bench.cc, one connection per writer) and libpq (one connection and one thread per
//     writer, one prepared statement per event).
//   - Reads of a 1,000-event conversation (the same mix) by one client, one request at a time,
//     each twice: as served by default (the view cache) and rendered for every read (no-cache):
//     history (GET .../history against SELECT of the conversation's events by seq) and customer
//     view (GET .../view against SELECT from the view table); p50 and p99 latency.
//   - Rebuild of the customer view from CONVLEDGER_PEER_EVENTS events (default 1,000,000; the
//     mix over events/20 conversations). convledger: the log, appended in-process in batches of
//     1,000 events by a ledger without views, copied, opened with projections::MakeCustomerView():
//     its catch-up at open folds the whole log, timed until the view is live. PostgreSQL: the
//     same events loaded with COPY, then TRUNCATE customer_view + INSERT ... SELECT of the fold
//     (a GROUP BY over events) in one transaction.
//   - Bytes on disk per event, on the rebuild data set with the customer view built: convledger's
//     data directory after a flush and full compaction (every file except RocksDB's text LOG
//     files), against pg_total_relation_size of events + customer_view + conversations (heap,
//     TOAST, indexes; WAL not counted on either side).
//
// The servers: convledger runs as http_bench runs it, api::Server::Start in a child process
// forked before any thread exists, with the default Limits and access log at info level to a
// file, over a ledger with projections::MakeAll(); one child opened with Durability::kFsync and
// one with kWal. A third, lean child (kWal) does only what the peer's append does: the customer
// view alone, content not sealed, no Merkle tree; its two relaxed append figures are info rows
// (no target) that show how much of the append cost is work the peer does not do. PostgreSQL's schema and append function are below (kSchema).
//
// Environment (all optional): CONVLEDGER_PEER_EVENTS (1000000: the rebuild data set),
// CONVLEDGER_PEER_APPENDS (20000: events per side per round with 16 writers; a quarter of it with
// 1 writer), CONVLEDGER_PEER_READS (1000 reads per side per round and view),
// CONVLEDGER_PEER_ROUNDS (3), CONVLEDGER_PEER_READ_EVENTS (1000: the read conversation's length).
// Every append figure writes 20 events per conversation into fresh conversations.

#include <libpq-fe.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <cstdarg>
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
#include "ledger/time.h"
#include "projections/projections.h"

namespace convledger::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr char kTenant[] = "acme-retail";
constexpr char kWriterKey[] = "peer-writer-key-0123456789abcdef";
constexpr char kReaderKey[] = "peer-reader-key-0123456789abcdef";  // customer view + dispute
constexpr int64_t kBaseTimeUs = 1795514400LL * 1000000;            // 2026-11-24T10:00:00Z

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

struct Params {
  uint64_t events = 1000000;
  uint64_t appends = 20000;
  uint64_t reads = 1000;
  int rounds = 3;
  uint64_t read_events = 1000;
  std::string pg;  // libpq connection string without dbname
};
Params g;

// The run's directory, removed by Fail in the parent process (the servers' children leave it).
std::string g_run_dir;
pid_t g_parent = 0;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "peer_bench: %s\n", what.c_str());
  std::fflush(stderr);
  if (getpid() == g_parent && !g_run_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(g_run_dir, ec);
  }
  std::_Exit(2);
}

void Log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Log(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

uint64_t DirBytes(const std::string& dir, bool skip_rocksdb_logs) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e2;
    if (!it->is_regular_file(e2)) continue;
    const std::string name = it->path().filename().string();
    if (skip_rocksdb_logs && (name == "LOG" || name.rfind("LOG.old.", 0) == 0)) continue;
    total += it->file_size(e2);
  }
  return total;
}

// ---- the workload -----------------------------------------------------------------------------

// A deterministic event: number n of a stream of events spread over `conversations`
// conversations of group `group` (ConversationId), event k = n / conversations of conversation
// n % conversations. Within a conversation, out of every 10 events: sends at k%10 = 0, 4, 7
// (customer) and 1, 5, 8 (agent), statuses at 2 (delivered, of 1), 3 (read, of 1) and 9
// (delivered, of 8), and at 6 the agent edits the message sent at 5. Depends on nothing but its
// arguments, so writers can build their events in any order and both sides get the same bytes.
std::string MessageId(int group, uint64_t c, uint64_t k) {
  char id[96];
  std::snprintf(id, sizeof id, "wamid.HBgL%03d%05llu%06lluFQIAERgSQkE4RkUwQTBDNUM3MzE3RAA=", group,
                static_cast<unsigned long long>(c), static_cast<unsigned long long>(k));
  return id;
}

std::string Text(uint64_t n, size_t len) {
  static const std::string pool =
      "Hello, thanks for reaching out about your order. The parcel left our warehouse this "
      "morning and should arrive within two working days; you will get a tracking link by "
      "e-mail. Could you confirm the delivery address ends with Gartenstrasse 12? If the size "
      "does not fit you can return it free of charge within 30 days using the label in the box. "
      "Is there anything else I can help you with today? Have a lovely evening and kind regards. ";
  const size_t off = (n * 7919) % (pool.size() - len);
  return pool.substr(off, len);
}

Event MixEvent(int group, int conversations, uint64_t n) {
  const uint64_t c = n % conversations;
  const uint64_t k = n / conversations;
  Event e;
  e.conversation_id = ConversationId(group, static_cast<int>(c));
  e.occurred_at_us = kBaseTimeUs + static_cast<int64_t>(n) * 1000;
  e.channel = Channel::kWhatsApp;
  e.tenant = kTenant;
  char key[64];
  std::snprintf(key, sizeof key, "wh-%03d-%05llu-%06llu", group,
                static_cast<unsigned long long>(c), static_cast<unsigned long long>(k));
  e.idempotency_key = key;
  const Actor customer{ActorKind::kCustomer, e.conversation_id.substr(3), "Customer"};
  const Actor agent{ActorKind::kAgent, "agent-0042", "Maria Lopez"};
  const Actor platform{ActorKind::kPlatform, "whatsapp", "WhatsApp"};
  const uint64_t base = k - k % 10;
  switch (k % 10) {
    case 0: case 4: case 7:
      e.type = EventType::kMessageSent;
      e.actor = customer;
      e.direction = Direction::kInbound;
      e.message_id = MessageId(group, c, k);
      e.content = Content{Text(n, 40 + n % 120), {}};
      break;
    case 1: case 5: case 8:
      e.type = EventType::kMessageSent;
      e.actor = agent;
      e.direction = Direction::kOutbound;
      e.message_id = MessageId(group, c, k);
      e.content = Content{Text(n, 120 + n % 180), {}};
      break;
    case 2: case 3: case 9:
      e.type = EventType::kMessageStatus;
      e.actor = platform;
      e.message_id = MessageId(group, c, k % 10 == 9 ? base + 8 : base + 1);
      e.status = k % 10 == 3 ? Delivery::kRead : Delivery::kDelivered;
      break;
    default:  // 6
      e.type = EventType::kMessageEdited;
      e.actor = agent;
      e.message_id = MessageId(group, c, base + 5);
      e.content = Content{Text(n + 1, 120 + n % 180), {}};
      e.reason = "typo";
      break;
  }
  return e;
}

std::string MixJson(int group, int conversations, uint64_t n) {
  return EventToJson(MixEvent(group, conversations, n));
}

// ---- PostgreSQL -------------------------------------------------------------------------------

// The peer's schema: what a team would write for the same job in PostgreSQL. One append = one
// call of append_event (one round trip, one transaction): idempotency check, the conversation's
// next seq (a row lock on its head), the event, and the customer view row, all or nothing.
constexpr char kSchema[] = R"sql(
CREATE TABLE conversations (
  conversation_id text PRIMARY KEY,
  tenant text NOT NULL,
  last_seq bigint NOT NULL
);
CREATE TABLE events (
  global_seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  conversation_id text NOT NULL,
  seq bigint NOT NULL,
  idempotency_key text UNIQUE,
  type text NOT NULL,
  occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  payload jsonb NOT NULL,
  UNIQUE (conversation_id, seq)  -- also the index a conversation is read by
);
CREATE TABLE customer_view (
  conversation_id text NOT NULL,
  message_id text NOT NULL,
  seq bigint NOT NULL,             -- the send's seq: ties in sent_at
  sent_at timestamptz NOT NULL,
  direction text NOT NULL,
  sender text NOT NULL,            -- customer | business
  name text,
  text text,                       -- current text; NULL once deleted or redacted
  edited boolean NOT NULL DEFAULT false,
  deleted boolean NOT NULL DEFAULT false,
  redacted boolean NOT NULL DEFAULT false,
  status smallint NOT NULL DEFAULT 0,  -- 0 none, 1 sent, 2 delivered, 3 read
  PRIMARY KEY (conversation_id, message_id)
);

CREATE FUNCTION append_event(p jsonb, OUT out_global_seq bigint, OUT out_seq bigint,
                             OUT out_duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
  conv text := p->>'conversation_id';
  key text := p->>'idempotency_key';
  typ text := p->>'type';
  mid text := p->>'message_id';
  at timestamptz := coalesce((p->>'occurred_at')::timestamptz, now());
BEGIN
  IF key IS NOT NULL THEN
    SELECT e.global_seq, e.seq INTO out_global_seq, out_seq FROM events e
      WHERE e.idempotency_key = key;
    IF FOUND THEN
      out_duplicate := true;
      RETURN;
    END IF;
  END IF;
  INSERT INTO conversations AS c (conversation_id, tenant, last_seq)
    VALUES (conv, coalesce(p->>'tenant', 'default'), 1)
    ON CONFLICT (conversation_id) DO UPDATE SET last_seq = c.last_seq + 1
    RETURNING c.last_seq INTO out_seq;
  INSERT INTO events (conversation_id, seq, idempotency_key, type, occurred_at, payload)
    VALUES (conv, out_seq, key, typ, at, p)
    RETURNING global_seq INTO out_global_seq;
  out_duplicate := false;
  CASE typ
    WHEN 'message.sent' THEN
      INSERT INTO customer_view (conversation_id, message_id, seq, sent_at, direction, sender,
                                 name, text)
        VALUES (conv, mid, out_seq, at, p->>'direction',
                CASE p->>'direction' WHEN 'inbound' THEN 'customer' ELSE 'business' END,
                p->'actor'->>'name', p->'content'->>'text');
    WHEN 'message.edited' THEN
      UPDATE customer_view v SET text = CASE WHEN v.deleted OR v.redacted THEN NULL
                                             ELSE p->'content'->>'text' END, edited = true
        WHERE v.conversation_id = conv AND v.message_id = mid;
    WHEN 'message.deleted' THEN
      UPDATE customer_view v SET text = NULL, deleted = true
        WHERE v.conversation_id = conv AND v.message_id = mid;
    WHEN 'message.redacted' THEN
      UPDATE customer_view v SET text = NULL, redacted = true
        WHERE v.conversation_id = conv AND v.message_id = mid;
    WHEN 'message.status' THEN
      UPDATE customer_view v SET status = greatest(v.status,
          CASE p->>'status' WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3
                            ELSE 0 END)
        WHERE v.conversation_id = conv AND v.message_id = mid;
    ELSE
      NULL;
  END CASE;
END $$;

-- The customer view folded from the log alone: what a rebuild inserts.
CREATE VIEW customer_view_fold AS
SELECT conversation_id, message_id, seq, sent_at, direction, sender, name,
       CASE WHEN deleted OR redacted THEN NULL ELSE text END AS text,
       edited, deleted, redacted, status
FROM (
  SELECT e.conversation_id, e.payload->>'message_id' AS message_id,
    min(e.seq) FILTER (WHERE e.type = 'message.sent') AS seq,
    min(e.occurred_at) FILTER (WHERE e.type = 'message.sent') AS sent_at,
    min(e.payload->>'direction') FILTER (WHERE e.type = 'message.sent') AS direction,
    min(CASE e.payload->>'direction' WHEN 'inbound' THEN 'customer' ELSE 'business' END)
      FILTER (WHERE e.type = 'message.sent') AS sender,
    min(e.payload->'actor'->>'name') FILTER (WHERE e.type = 'message.sent') AS name,
    (array_agg(e.payload->'content'->>'text' ORDER BY e.seq DESC)
      FILTER (WHERE e.type IN ('message.sent', 'message.edited')))[1] AS text,
    bool_or(e.type = 'message.edited') AS edited,
    bool_or(e.type = 'message.deleted') AS deleted,
    bool_or(e.type = 'message.redacted') AS redacted,
    coalesce(max(CASE e.payload->>'status' WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
                                           WHEN 'read' THEN 3 ELSE 0 END)
               FILTER (WHERE e.type = 'message.status'), 0)::smallint AS status
  FROM events e
  WHERE e.type LIKE 'message.%'
  GROUP BY e.conversation_id, e.payload->>'message_id'
) m
WHERE seq IS NOT NULL;
)sql";

constexpr char kAppendSql[] = "SELECT out_global_seq, out_seq, out_duplicate FROM append_event($1::jsonb)";
constexpr char kHistorySql[] =
    "SELECT global_seq, seq, recorded_at, payload FROM events WHERE conversation_id = $1 "
    "ORDER BY seq";
constexpr char kViewSql[] =
    "SELECT message_id, sent_at, direction, sender, name, text, edited, deleted, redacted, status "
    "FROM customer_view WHERE conversation_id = $1 ORDER BY sent_at, seq";
constexpr char kRebuildSql[] =
    "BEGIN; TRUNCATE customer_view; INSERT INTO customer_view SELECT * FROM customer_view_fold; "
    "COMMIT";

struct PgConn {
  PGconn* c = nullptr;
  explicit PgConn(const std::string& db) {
    c = PQconnectdb((g.pg + " dbname=" + db).c_str());
    if (PQstatus(c) != CONNECTION_OK) Fail("PostgreSQL: " + std::string(PQerrorMessage(c)));
    PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);  // "does not exist, skipping"
  }
  ~PgConn() { PQfinish(c); }
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Runs sql (one or several statements); fails the bench on error.
  void Exec(const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    const auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      Fail("PostgreSQL: " + sql.substr(0, 80) + ": " + PQresultErrorMessage(r));
    PQclear(r);
  }
  std::string Value(const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
      Fail("PostgreSQL: " + sql.substr(0, 80) + ": " + PQresultErrorMessage(r));
    std::string v = PQgetvalue(r, 0, 0);
    PQclear(r);
    return v;
  }
  void Prepare(const char* name, const char* sql) {
    PGresult* r = PQprepare(c, name, sql, 1, nullptr);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
      Fail(std::string("PostgreSQL: prepare ") + name + ": " + PQresultErrorMessage(r));
    PQclear(r);
  }
  // Executes a prepared statement with one text parameter; "" on success (PGRES_TUPLES_OK),
  // else the error. *bytes gets the size of the values returned.
  std::string Run(const char* name, const std::string& param, uint64_t* bytes = nullptr,
                  int* rows = nullptr) {
    const char* values[1] = {param.c_str()};
    PGresult* r = PQexecPrepared(c, name, 1, values, nullptr, nullptr, 0);
    std::string err;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      err = PQresultErrorMessage(r);
    } else {
      if (rows) *rows = PQntuples(r);
      if (bytes) {
        uint64_t b = 0;
        for (int i = 0, n = PQntuples(r), f = PQnfields(r); i < n; ++i)
          for (int j = 0; j < f; ++j) b += PQgetlength(r, i, j);
        *bytes = b;
      }
    }
    PQclear(r);
    return err;
  }
};

constexpr char kAppendDb[] = "peer_append";
constexpr char kBulkDb[] = "peer_bulk";

void CreateDatabases() {
  PgConn admin("postgres");
  for (const char* db : {kAppendDb, kBulkDb}) {
    admin.Exec(std::string("DROP DATABASE IF EXISTS ") + db);
    admin.Exec(std::string("CREATE DATABASE ") + db);
    PgConn conn(db);
    conn.Exec(kSchema);
  }
}

// ---- the convledger server (child process), as in http_bench.cc ------------------------------

struct Child {
  pid_t pid = -1;
  int control_fd = -1;  // a byte written: the server answers with its sync count; closed: it stops
  int reply_fd = -1;    // the port, then the answers
  uint16_t port = 0;
  std::string dir;
};

api::Config ServerConfig() {
  api::Config c;
  api::TenantConfig t;
  t.id = kTenant;
  c.tenants.push_back(t);
  c.api_keys.push_back(
      api::ApiKey{"peer-writer", api::HashApiKey(kWriterKey), kTenant, api::kRoleWriter});
  c.api_keys.push_back(api::ApiKey{"peer-reader", api::HashApiKey(kReaderKey), kTenant,
                                   api::kRoleCustomerView | api::kRoleDispute});
  return c;
}

// A lean server does only what the peer's append does: the customer view is its only view, and
// content is stored unsealed with no Merkle tree (the peer has neither). Used for info figures
// that show how much of the append cost is the work the peer does not do.
[[noreturn]] void RunServerChild(const std::string& dir, Durability durability, bool lean,
                                 int port_fd, int control_fd) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  mallopt(M_ARENA_MAX, 2);  // as `convledger serve` does
  std::filesystem::create_directories(dir);
  auto logger = spdlog::basic_logger_mt("peer-server", dir + "/server.log", true);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::info);
  Options o;
  o.durability = durability;
  if (lean) {
    o.projections.push_back(projections::MakeCustomerView());
    o.encrypt_content = false;
    o.merkle_tree = false;
  } else {
    o.projections = projections::MakeAll();
  }
  auto opened = Ledger::Open(dir + "/ledger", o);
  if (!opened.ok()) Fail("server: Ledger::Open: " + opened.status().ToString());
  std::unique_ptr<Ledger> ledger = std::move(opened).value();
  api::ServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;
  auto started = api::Server::Start(*ledger, ServerConfig(), so);
  if (!started.ok()) Fail("server: Server::Start: " + started.status().ToString());
  std::unique_ptr<api::Server> server = std::move(started).value();
  const uint16_t port = server->port();
  if (write(port_fd, &port, sizeof port) != sizeof port) Fail("server: write port");
  // Every byte on the control pipe asks for the number of fsync + fdatasync calls this process
  // has made so far (bench_util interposes both), so the durable figures show the syncs per
  // event; end of file stops the server.
  char c;
  while (read(control_fd, &c, 1) > 0) {
    const uint64_t syncs = SyncCalls();
    if (write(port_fd, &syncs, sizeof syncs) != sizeof syncs) Fail("server: write syncs");
  }
  close(port_fd);
  server->Shutdown();
  server.reset();
  ledger.reset();
  logger->flush();
  std::_Exit(0);
}

// Control pipes of the children started so far: a later child must not hold them open.
std::vector<int> g_control_fds;

Child StartServerChild(const std::string& dir, Durability durability, bool lean = false) {
  int port_pipe[2], control_pipe[2];
  if (pipe(port_pipe) != 0 || pipe(control_pipe) != 0) Fail("pipe");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) Fail("fork");
  if (pid == 0) {
    close(port_pipe[0]);
    close(control_pipe[1]);
    for (int fd : g_control_fds) close(fd);
    RunServerChild(dir, durability, lean, port_pipe[1], control_pipe[0]);
  }
  close(port_pipe[1]);
  close(control_pipe[0]);
  Child c;
  c.pid = pid;
  c.control_fd = control_pipe[1];
  g_control_fds.push_back(c.control_fd);
  c.dir = dir;
  c.reply_fd = port_pipe[0];
  g_control_fds.push_back(c.reply_fd);
  if (read(port_pipe[0], &c.port, sizeof c.port) != sizeof c.port) Fail("the server did not start");
  return c;
}

// fsync + fdatasync calls the server process has made so far.
uint64_t ServerSyncs(const Child& c) {
  const char ask = 's';
  uint64_t syncs = 0;
  if (write(c.control_fd, &ask, 1) != 1 || read(c.reply_fd, &syncs, sizeof syncs) != sizeof syncs)
    Fail("the server did not answer");
  return syncs;
}

void StopServerChild(Child& c) {
  close(c.control_fd);
  close(c.reply_fd);
  int status = 0;
  waitpid(c.pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    Log("peer_bench: the server exited with status %d", status);
}

// ---- measurements -----------------------------------------------------------------------------

struct Measured {
  uint64_t ok = 0;
  uint64_t errors = 0;
  double seconds = 0;
  double rate = 0;  // ok / seconds
  double p50_ms = NAN, p99_ms = NAN;
  uint64_t response_bytes = 0;
  std::string first_error;
};

void Percentiles(std::vector<uint32_t>& lat_us, Measured* m) {
  if (lat_us.empty()) return;
  std::sort(lat_us.begin(), lat_us.end());
  m->p50_ms = lat_us[lat_us.size() / 2] / 1e3;
  m->p99_ms = lat_us[std::min(lat_us.size() - 1, lat_us.size() * 99 / 100)] / 1e3;
}

// The HTTP client of http_bench.cc: `total` requests over `connections` keep-alive connections
// on one io_context thread (this one), each connection sending its next request when the
// previous answer is read. make(i, &out) writes request i's bytes; a response with another
// status than `expect` counts as an error. Unlike http_bench, requests are partitioned:
// connection j sends i = j, j + connections, j + 2 * connections, ... in that order (so a
// conversation whose events all fall to one writer gets them in order, as from one webhook
// stream; a status never overtakes the send it reports on).
class HttpLoad {
 public:
  HttpLoad(uint16_t port, int connections, uint64_t total, int expect,
           std::function<void(uint64_t, std::string*)> make)
      : port_(port), total_(total), expect_(expect), make_(std::move(make)) {
    conns_.reserve(connections);
    for (int i = 0; i < connections; ++i)
      conns_.push_back(std::make_unique<Conn>(this, ioc_, static_cast<uint64_t>(i)));
  }

  Measured Run() {
    const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port_);
    for (auto& c : conns_) {
      c->sock.connect(ep);
      c->sock.set_option(tcp::no_delay(true));
    }
    lat_us_.reserve(total_);
    const auto t0 = Clock::now();
    for (auto& c : conns_) c->Next();
    ioc_.run();
    Measured m;
    m.seconds = Seconds(Clock::now() - t0);
    m.ok = ok_;
    m.errors = errors_;
    m.rate = ok_ / m.seconds;
    m.response_bytes = response_bytes_;
    m.first_error = first_error_;
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
    Conn(HttpLoad* load, net::io_context& ioc, uint64_t first)
        : load(load), sock(ioc), next(first) {}
    HttpLoad* load;
    tcp::socket sock;
    beast::flat_buffer buf;
    std::optional<http::response_parser<http::string_body>> parser;
    uint64_t next;  // the index of this connection's next request
    std::string out;
    std::string body;
    Clock::time_point start;

    void Next() {
      if (next >= load->total_) return;
      load->make_(next, &out);
      next += load->conns_.size();
      start = Clock::now();
      net::async_write(sock, net::buffer(out), [this](beast::error_code ec, size_t) {
        if (ec) return Broken("write", ec);
        parser.emplace();
        parser->body_limit(256 << 20);
        // The header through Beast's parser, the body (Content-Length bytes: the server always
        // sends it) straight into its string with reads as large as what is left, as libpq
        // reads a result: Beast's own body reads go 64 KiB at a time, which made this client,
        // not the server, most of the time of a 1.4 MB history.
        http::async_read_header(sock, buf, *parser, [this](beast::error_code ec, size_t) {
          if (ec) return Broken("read", ec);
          const auto len = parser->content_length();
          if (!len) return Broken("response without Content-Length", {});
          body.resize(*len);
          const size_t have = std::min<size_t>(buf.size(), *len);
          net::buffer_copy(net::buffer(body.data(), have), buf.data());
          buf.consume(have);
          net::async_read(sock, net::buffer(body.data() + have, *len - have),
                          [this](beast::error_code ec, size_t) {
                            if (ec) return Broken("read", ec);
                            Done();
                          });
        });
      });
    }
    void Done() {
      const auto& res = parser->get();
      if (static_cast<int>(res.result_int()) == load->expect_) {
        ++load->ok_;
        load->lat_us_.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count()));
        load->response_bytes_ += body.size();
      } else {
        load->Error("status " + std::to_string(res.result_int()) + ": " + body.substr(0, 300));
      }
      if (!res.keep_alive()) return Broken("server closed the connection", {});
      Next();
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
  uint64_t ok_ = 0, errors_ = 0, response_bytes_ = 0;
  std::string first_error_;
  std::vector<uint32_t> lat_us_;
};

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

// no_cache: `Cache-Control: no-cache`, so the server renders the view from its stored state for
// every request instead of serving the body kept in its view cache.
std::string ReadRequest(const std::string& conversation, const char* what, bool no_cache) {
  return "GET /v1/conversations/" + PercentEncode(conversation) + "/" + what +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kReaderKey + "\r\n" +
         (no_cache ? "Cache-Control: no-cache\r\n" : "") + "\r\n";
}

// `total` operations on `threads` threads, each with its own PostgreSQL connection (opened
// before timing, `setup` run on it); op(conn, i) returns "" on success or an error message.
// Partitioned as HttpLoad: thread t runs i = t, t + threads, t + 2 * threads, ...
Measured RunPg(const char* db, int threads, uint64_t total, const std::string& setup,
               const std::function<void(PgConn&)>& prepare,
               const std::function<std::string(PgConn&, uint64_t, uint64_t*)>& op) {
  std::vector<std::unique_ptr<PgConn>> conns;
  for (int t = 0; t < threads; ++t) {
    conns.push_back(std::make_unique<PgConn>(db));
    if (!setup.empty()) conns.back()->Exec(setup);
    prepare(*conns.back());
  }
  std::vector<std::vector<uint32_t>> lat(threads);
  std::vector<uint64_t> ok(threads, 0), errors(threads, 0), bytes(threads, 0);
  std::vector<std::string> first_error(threads);
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      lat[t].reserve(total / threads + 1);
      for (uint64_t i = t; i < total; i += threads) {
        const auto s = Clock::now();
        uint64_t b = 0;
        std::string err = op(*conns[t], i, &b);
        if (err.empty()) {
          ++ok[t];
          bytes[t] += b;
          lat[t].push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - s).count()));
        } else if (errors[t]++ == 0) {
          first_error[t] = std::move(err);
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  Measured m;
  m.seconds = Seconds(Clock::now() - t0);
  std::vector<uint32_t> all;
  for (int t = 0; t < threads; ++t) {
    m.ok += ok[t];
    m.errors += errors[t];
    m.response_bytes += bytes[t];
    if (m.first_error.empty()) m.first_error = first_error[t];
    all.insert(all.end(), lat[t].begin(), lat[t].end());
  }
  m.rate = m.ok / m.seconds;
  Percentiles(all, &m);
  return m;
}

void LogMeasured(const char* side, const std::string& what, int round, const Measured& m) {
  Log("round %d %-10s %-28s %8llu ok %3llu err %7.2f s %9.0f /s  p50 %7.3f ms p99 %7.3f ms", round,
      side, what.c_str(), static_cast<unsigned long long>(m.ok),
      static_cast<unsigned long long>(m.errors), m.seconds, m.rate, m.p50_ms, m.p99_ms);
  if (m.errors) Log("  first error: %s", m.first_error.c_str());
}

// ---- the rebuild data set ---------------------------------------------------------------------

constexpr int kBulkGroup = 900;
int BulkConversations() {
  return static_cast<int>(std::clamp<uint64_t>(g.events / 20, 1, 99999));
}

// COPY text format: backslash, tab, newline and carriage return escaped.
void CopyEscape(std::string_view s, std::string* out) {
  for (char ch : s) {
    switch (ch) {
      case '\\': *out += "\\\\"; break;
      case '\t': *out += "\\t"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      default: *out += ch;
    }
  }
}

// Loads the rebuild data set into PostgreSQL with COPY; returns the seconds it took.
double LoadPgBulk() {
  PgConn conn(kBulkDb);
  const auto t0 = Clock::now();
  PGresult* r = PQexec(conn.c,
                       "COPY events (conversation_id, seq, idempotency_key, type, occurred_at, "
                       "payload) FROM STDIN");
  if (PQresultStatus(r) != PGRES_COPY_IN) Fail("COPY: " + std::string(PQresultErrorMessage(r)));
  PQclear(r);
  const int conversations = BulkConversations();
  std::string buf;
  for (uint64_t n = 0; n < g.events; ++n) {
    const Event e = MixEvent(kBulkGroup, conversations, n);
    buf += e.conversation_id;
    buf += '\t';
    buf += std::to_string(n / conversations + 1);
    buf += '\t';
    CopyEscape(e.idempotency_key, &buf);
    buf += '\t';
    buf += ToString(e.type);
    buf += '\t';
    buf += FormatRfc3339(*e.occurred_at_us);
    buf += '\t';
    CopyEscape(EventToJson(e), &buf);
    buf += '\n';
    if (buf.size() > (1 << 20) || n + 1 == g.events) {
      if (PQputCopyData(conn.c, buf.data(), static_cast<int>(buf.size())) != 1)
        Fail("COPY data: " + std::string(PQerrorMessage(conn.c)));
      buf.clear();
    }
  }
  if (PQputCopyEnd(conn.c, nullptr) != 1) Fail("COPY end: " + std::string(PQerrorMessage(conn.c)));
  r = PQgetResult(conn.c);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) Fail("COPY: " + std::string(PQresultErrorMessage(r)));
  PQclear(r);
  while ((r = PQgetResult(conn.c)) != nullptr) PQclear(r);
  conn.Exec(
      "INSERT INTO conversations SELECT conversation_id, 'acme-retail', max(seq) FROM events "
      "GROUP BY conversation_id");
  conn.Exec("VACUUM ANALYZE");
  return Seconds(Clock::now() - t0);
}

// Appends the rebuild data set to a convledger log without views (batches of 1,000 events, one
// writer, durability wal); returns the seconds it took.
double LoadLedgerBulk(const std::string& dir) {
  Options o;
  o.durability = Durability::kWal;
  auto opened = Ledger::Open(dir, o);
  if (!opened.ok()) Fail("Ledger::Open: " + opened.status().ToString());
  std::unique_ptr<Ledger> ledger = std::move(opened).value();
  const int conversations = BulkConversations();
  const auto t0 = Clock::now();
  for (uint64_t n = 0; n < g.events;) {
    std::vector<Event> batch;
    for (; n < g.events && batch.size() < 1000; ++n)
      batch.push_back(MixEvent(kBulkGroup, conversations, n));
    auto r = ledger->Append(std::move(batch));
    if (!r.ok()) Fail("bulk append: " + r.status().ToString());
  }
  ledger.reset();
  return Seconds(Clock::now() - t0);
}

// Opens a copy of the log with the customer view only; timed until the view is live.
double RebuildLedger(const std::string& log_dir, const std::string& copy) {
  std::filesystem::remove_all(copy);
  std::filesystem::copy(log_dir, copy, std::filesystem::copy_options::recursive);
  const auto t0 = Clock::now();
  Options o;
  o.durability = Durability::kWal;
  o.projections = {projections::MakeCustomerView()};
  auto opened = Ledger::Open(copy, o);
  if (!opened.ok()) Fail("Ledger::Open: " + opened.status().ToString());
  std::unique_ptr<Ledger> ledger = std::move(opened).value();
  if (!ledger->WaitForProjections(std::chrono::minutes(30))) Fail("rebuild: not ready in 30 min");
  const double s = Seconds(Clock::now() - t0);
  for (const auto& info : ledger->Projections())
    if (!info.error.empty()) Fail("rebuild: " + info.error);
  return s;
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

// One figure: per-round values of both sides; `higher_better` says which way the ratio goes
// (the ratio is always > 1 when convledger is better).
struct Figure {
  std::string name;
  std::string unit;
  bool higher_better = true;
  int decimals = 0;
  double target = NAN;  // ratio to reach; NaN: no target (info)
  std::vector<double> ours, theirs;
  std::vector<double> Ratios() const {
    std::vector<double> r;
    for (size_t i = 0; i < ours.size() && i < theirs.size(); ++i)
      r.push_back(higher_better ? ours[i] / theirs[i] : theirs[i] / ours[i]);
    return r;
  }
};

std::string Format(double v, const Figure& f) {
  return (f.decimals == 0 ? WithCommas(v) : Fixed(v, f.decimals)) + " " + f.unit;
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
    } else if (arg.rfind("--pg=", 0) == 0) {
      g.pg = arg.substr(5);
    } else {
      std::fprintf(stderr, "usage: peer_bench --pg=CONNINFO [--dir=DIR] [--summary_md=FILE] (see "
                           "the source for the CONVLEDGER_PEER_* variables)\n");
      return 1;
    }
  }
  if (g.pg.empty()) Fail("--pg=CONNINFO is required (bench/run passes it)");
  g.events = std::max<uint64_t>(1000, EnvOr("CONVLEDGER_PEER_EVENTS", g.events));
  g.appends = std::max<uint64_t>(64, EnvOr("CONVLEDGER_PEER_APPENDS", g.appends));
  g.reads = std::max<uint64_t>(10, EnvOr("CONVLEDGER_PEER_READS", g.reads));
  g.rounds = static_cast<int>(std::clamp<uint64_t>(EnvOr("CONVLEDGER_PEER_ROUNDS", g.rounds), 1, 9));
  g.read_events = std::max<uint64_t>(10, EnvOr("CONVLEDGER_PEER_READ_EVENTS", g.read_events));
  if (!base.empty()) SetBaseDir(base);

  {  // The JSON body must be the same event as the Event, for every kind of the mix.
    for (uint64_t n = 0; n < 10; ++n) {
      const std::string text = MixJson(1, 1, n);
      auto parsed = ParseEventJson(text);
      if (!parsed.ok()) Fail("the JSON form does not parse: " + parsed.status().ToString());
      if (EventToJson(*parsed) != text) Fail("the JSON form does not round-trip: " + text);
    }
  }

  // The servers are forked now, before this process starts any thread.
  TempDir run("peer");
  g_run_dir = run.path();
  g_parent = getpid();
  Child durable = StartServerChild(run.path() + "/fsync", Durability::kFsync);
  Child relaxed = StartServerChild(run.path() + "/wal", Durability::kWal);
  Child lean = StartServerChild(run.path() + "/wal-lean", Durability::kWal, /*lean=*/true);
  Log("peer_bench: convledger fsync server pid %d on 127.0.0.1:%u, wal server pid %d on "
      "127.0.0.1:%u, lean wal server pid %d on 127.0.0.1:%u, data under %s",
      durable.pid, durable.port, relaxed.pid, relaxed.port, lean.pid, lean.port,
      run.path().c_str());
  CreateDatabases();
  {
    PgConn conn(kAppendDb);
    Log("peer_bench: %s", conn.Value("SELECT version()").c_str());
  }

  const auto run0 = bench::Clock::now();
  std::vector<Figure> figures;

  // ---- appends ----
  struct AppendCase {
    const char* name;
    bool durable;
    int writers;
    bool lean = false;  // info: the lean server (only the peer's work), no target
  };
  const AppendCase cases[] = {
      {"append, durable (fsync / synchronous_commit=on), 1 writer", true, 1},
      {"append, durable (fsync / synchronous_commit=on), 16 writers", true, 16},
      {"append, relaxed (wal / synchronous_commit=off), 1 writer", false, 1},
      {"append, relaxed (wal / synchronous_commit=off), 16 writers", false, 16},
      {"append, relaxed, 1 writer, convledger doing only the peer's work (customer view only, "
       "content not sealed, no Merkle tree)", false, 1, true},
      {"append, relaxed, 16 writers, convledger doing only the peer's work", false, 16, true},
  };
  uint64_t body_bytes = 0, body_count = 0, body_min = UINT64_MAX, body_max = 0;
  std::vector<Figure> append_p50;
  std::vector<std::vector<double>> syncs_per_event(std::size(cases));  // convledger
  std::vector<std::vector<double>> pg_syncs_per_event(std::size(cases)), pg_wal_per_event(std::size(cases));
  // PostgreSQL's WAL syncs and bytes so far (pg_stat_wal; backends report at most once a second
  // and on exit, so it is read a little after a measurement's connections are closed).
  auto pg_wal = [] {
    PgConn conn(kAppendDb);
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    const std::string v = conn.Value("SELECT wal_sync || ' ' || wal_bytes FROM pg_stat_wal");
    double syncs = 0, bytes = 0;
    std::sscanf(v.c_str(), "%lf %lf", &syncs, &bytes);
    return std::pair<double, double>(syncs, bytes);
  };
  for (const auto& c : cases) {
    Figure f;
    f.name = c.name;
    f.unit = "ev/s";
    f.target = c.lean ? NAN : 3;
    figures.push_back(f);
    Figure lat;
    lat.name = std::string(c.name) + ": latency p50";
    lat.unit = "ms";
    lat.higher_better = false;
    lat.decimals = 3;
    append_p50.push_back(lat);
  }
  for (int round = 1; round <= g.rounds; ++round) {
    for (size_t ci = 0; ci < std::size(cases); ++ci) {
      const AppendCase& c = cases[ci];
      const uint64_t total = c.writers == 1 ? g.appends / 4 : g.appends;
      const int group = static_cast<int>(ci * 10 + round);  // fresh conversations and keys
      // About 20 events per conversation, a multiple of the writers: every conversation is
      // written by one writer, in order.
      const int conversations = static_cast<int>(
          std::clamp<uint64_t>((total / 20 + c.writers - 1) / c.writers * c.writers, 1, 99984));
      std::vector<std::string> bodies;
      bodies.reserve(total);
      for (uint64_t i = 0; i < total; ++i) {
        bodies.push_back(MixJson(group, conversations, i));
        body_bytes += bodies.back().size();
        body_min = std::min<uint64_t>(body_min, bodies.back().size());
        body_max = std::max<uint64_t>(body_max, bodies.back().size());
        ++body_count;
      }
      auto ours = [&] {
        std::vector<std::string> requests;
        requests.reserve(total);
        for (const auto& b : bodies) requests.push_back(AppendRequest(b));
        const Child& server = c.lean ? lean : c.durable ? durable : relaxed;
        HttpLoad load(server.port, c.writers, total, 201,
                      [&](uint64_t i, std::string* out) { out->assign(requests[i]); });
        const uint64_t syncs0 = ServerSyncs(server);
        Measured m = load.Run();
        syncs_per_event[ci].push_back(static_cast<double>(ServerSyncs(server) - syncs0) / total);
        LogMeasured("convledger", c.name, round, m);
        figures[ci].ours.push_back(m.errors ? NAN : m.rate);
        append_p50[ci].ours.push_back(m.p50_ms);
      };
      auto theirs = [&] {
        const auto wal0 = pg_wal();
        Measured m = RunPg(
            kAppendDb, c.writers, total,
            c.durable ? "SET synchronous_commit = on" : "SET synchronous_commit = off",
            [](PgConn& conn) { conn.Prepare("append", kAppendSql); },
            [&](PgConn& conn, uint64_t i, uint64_t*) { return conn.Run("append", bodies[i]); });
        LogMeasured("PostgreSQL", c.name, round, m);
        const auto wal1 = pg_wal();
        pg_syncs_per_event[ci].push_back((wal1.first - wal0.first) / total);
        pg_wal_per_event[ci].push_back((wal1.second - wal0.second) / total);
        figures[ci].theirs.push_back(m.errors ? NAN : m.rate);
        append_p50[ci].theirs.push_back(m.p50_ms);
      };
      if (round % 2 == 1) {
        ours();
        theirs();
      } else {
        theirs();
        ours();
      }
    }
  }
  for (auto& f : append_p50) figures.push_back(std::move(f));

  // The incrementally maintained view table must equal the fold of the log (checks the peer's
  // append function and its rebuild query against each other).
  {
    PgConn conn(kAppendDb);
    const std::string diff = conn.Value(
        "SELECT (SELECT count(*) FROM (SELECT * FROM customer_view EXCEPT SELECT * FROM "
        "customer_view_fold) a) + (SELECT count(*) FROM (SELECT * FROM customer_view_fold EXCEPT "
        "SELECT * FROM customer_view) b)");
    if (diff != "0") {
      Log("%s", conn.Value("SELECT string_agg(x::text, E'\\n') FROM (SELECT 'live' AS side, * FROM "
                           "(SELECT * FROM customer_view EXCEPT SELECT * FROM customer_view_fold) a "
                           "UNION ALL SELECT 'fold', * FROM (SELECT * FROM customer_view_fold EXCEPT "
                           "SELECT * FROM customer_view) b LIMIT 6) x").c_str());
      Fail("PostgreSQL: customer_view differs from its fold in " + diff + " rows");
    }
  }

  // ---- reads of one long conversation ----
  const int kReadGroup = 800;
  const std::string read_conv = ConversationId(kReadGroup, 0);
  {
    HttpLoad load(relaxed.port, 1, g.read_events, 201, [&](uint64_t i, std::string* out) {
      *out = AppendRequest(MixJson(kReadGroup, 1, i));
    });
    Measured m = load.Run();
    if (m.errors) Fail("loading the read conversation into convledger: " + m.first_error);
    Measured p = RunPg(
        kAppendDb, 1, g.read_events, "", [](PgConn& conn) { conn.Prepare("append", kAppendSql); },
        [&](PgConn& conn, uint64_t i, uint64_t*) {
          return conn.Run("append", MixJson(kReadGroup, 1, i));
        });
    if (p.errors) Fail("loading the read conversation into PostgreSQL: " + p.first_error);
  }
  // Each view twice: as a client reads it by default (the server's view cache serves the body it
  // rendered for the conversation's last event), and rendered afresh for every request
  // (Cache-Control: no-cache), which is what every read costs right after the conversation
  // changed. PostgreSQL runs the same query for both.
  struct ReadCase {
    const char* name;
    const char* path;
    const char* sql;
    bool no_cache;
  };
  const ReadCase reads[] = {
      {"history of a 1,000-event conversation", "history", kHistorySql, false},
      {"customer view of a 1,000-event conversation", "view", kViewSql, false},
      {"history of a 1,000-event conversation, rendered for every read (no-cache)", "history",
       kHistorySql, true},
      {"customer view of a 1,000-event conversation, rendered for every read (no-cache)", "view",
       kViewSql, true},
  };
  std::vector<Figure> read_figs;
  uint64_t ours_bytes[std::size(reads)] = {}, theirs_bytes[std::size(reads)] = {};
  for (const auto& rc : reads) {
    for (const char* which : {"p50", "p99"}) {
      Figure f;
      f.name = std::string(rc.name) + ", latency " + which + " (one client)";
      f.unit = "ms";
      f.higher_better = false;
      f.decimals = 3;
      f.target = 3;
      read_figs.push_back(f);
    }
  }
  for (int round = 1; round <= g.rounds; ++round) {
    for (size_t ri = 0; ri < std::size(reads); ++ri) {
      const ReadCase& rc = reads[ri];
      const std::string request = ReadRequest(read_conv, rc.path, rc.no_cache);
      auto ours = [&] {
        HttpLoad warm(relaxed.port, 1, 20, 200,
                      [&](uint64_t, std::string* out) { out->assign(request); });
        warm.Run();
        HttpLoad load(relaxed.port, 1, g.reads, 200,
                      [&](uint64_t, std::string* out) { out->assign(request); });
        Measured m = load.Run();
        LogMeasured("convledger", rc.name, round, m);
        read_figs[ri * 2].ours.push_back(m.errors ? NAN : m.p50_ms);
        read_figs[ri * 2 + 1].ours.push_back(m.errors ? NAN : m.p99_ms);
        ours_bytes[ri] = m.ok ? m.response_bytes / m.ok : 0;
      };
      auto theirs = [&] {
        auto prepare = [&](PgConn& conn) { conn.Prepare("read", rc.sql); };
        auto op = [&](PgConn& conn, uint64_t, uint64_t* bytes) {
          int rows = 0;
          std::string err = conn.Run("read", read_conv, bytes, &rows);
          if (err.empty() && rows == 0) err = "no rows";
          return err;
        };
        RunPg(kAppendDb, 1, 20, "", prepare, op);
        Measured m = RunPg(kAppendDb, 1, g.reads, "", prepare, op);
        LogMeasured("PostgreSQL", rc.name, round, m);
        read_figs[ri * 2].theirs.push_back(m.errors ? NAN : m.p50_ms);
        read_figs[ri * 2 + 1].theirs.push_back(m.errors ? NAN : m.p99_ms);
        theirs_bytes[ri] = m.ok ? m.response_bytes / m.ok : 0;
      };
      if (round % 2 == 1) {
        ours();
        theirs();
      } else {
        theirs();
        ours();
      }
    }
  }
  for (auto& f : read_figs) figures.push_back(std::move(f));
  const uint64_t served_bytes[2] = {DirBytes(durable.dir, true), DirBytes(relaxed.dir, true)};
  StopServerChild(durable);
  StopServerChild(relaxed);
  StopServerChild(lean);
  uint64_t pg_append_events = 0;
  {
    PgConn conn(kAppendDb);
    pg_append_events = std::stoull(conn.Value("SELECT count(*) FROM events"));
  }

  // ---- rebuild ----
  Log("peer_bench: loading %llu events into both for the rebuild...",
      static_cast<unsigned long long>(g.events));
  const std::string log_dir = run.path() + "/bulk-log";
  const double ledger_load_s = LoadLedgerBulk(log_dir);
  Log("peer_bench: convledger: %.1f s (in-process Append, batches of 1,000, no views)",
      ledger_load_s);
  const double pg_load_s = LoadPgBulk();
  Log("peer_bench: PostgreSQL: %.1f s (COPY + VACUUM ANALYZE)", pg_load_s);
  Figure rebuild;
  rebuild.name = "rebuild the customer view from " + WithCommas(static_cast<double>(g.events)) +
                 " events";
  rebuild.unit = "ev/s";
  rebuild.target = NAN;
  const std::string copy = run.path() + "/bulk-rebuilt";
  for (int round = 1; round <= g.rounds; ++round) {
    auto ours = [&] {
      const double s = RebuildLedger(log_dir, copy);
      Log("round %d convledger rebuild: %.1f s (%.0f ev/s)", round, s, g.events / s);
      rebuild.ours.push_back(g.events / s);
    };
    auto theirs = [&] {
      PgConn conn(kBulkDb);
      const auto t0 = bench::Clock::now();
      conn.Exec(kRebuildSql);
      const double s = Seconds(bench::Clock::now() - t0);
      Log("round %d PostgreSQL rebuild: %.1f s (%.0f ev/s)", round, s, g.events / s);
      rebuild.theirs.push_back(g.events / s);
    };
    if (round % 2 == 1) {
      ours();
      theirs();
    } else {
      theirs();
      ours();
    }
  }
  figures.push_back(rebuild);

  // ---- bytes on disk ----
  std::string error;
  if (!FlushAndCompactClosedDb(copy, &error)) Fail("flush and compact: " + error);
  const uint64_t ours_disk = DirBytes(copy, true);
  uint64_t theirs_disk = 0;
  uint64_t pg_view_rows = 0;
  {
    PgConn conn(kBulkDb);
    conn.Exec("VACUUM ANALYZE");
    theirs_disk = std::stoull(conn.Value(
        "SELECT pg_total_relation_size('events') + pg_total_relation_size('customer_view') + "
        "pg_total_relation_size('conversations')"));
    pg_view_rows = std::stoull(conn.Value("SELECT count(*) FROM customer_view"));
  }
  Figure disk;
  disk.name = "bytes on disk per event (" + WithCommas(static_cast<double>(g.events)) +
              " events, customer view built)";
  disk.unit = "B";
  disk.higher_better = false;
  disk.target = 1;
  disk.ours.push_back(static_cast<double>(ours_disk) / g.events);
  disk.theirs.push_back(static_cast<double>(theirs_disk) / g.events);
  figures.push_back(disk);
  const double run_s = Seconds(bench::Clock::now() - run0);

  // ---- summary ----
  std::ostringstream out;
  out << "| figure | convledger | PostgreSQL | ratio | per round | target | met |\n"
      << "|---|---|---|---|---|---|---|\n";
  int missed = 0;
  for (const auto& f : figures) {
    const auto r = f.Ratios();
    const double med = Median(r);
    const bool has_target = !std::isnan(f.target);
    const bool met = has_target && med > f.target - 1e-9;
    if (has_target && !met) ++missed;
    std::string target = "—";
    if (has_target) target = f.target == 1 ? "less space" : "≥ " + Fixed(f.target, 0) + "×";
    out << "| " << f.name << " | " << Format(Median(f.ours), f) << " | "
        << Format(Median(f.theirs), f) << " | " << Fixed(med, 2) << "× | " << Join(r, 2) << " | "
        << target << " | " << (has_target ? (met ? "yes" : "**no**") : "info") << " |\n";
  }
  out << "\nRatio: > 1 means convledger is better (rates: convledger / PostgreSQL; latencies and "
         "bytes: PostgreSQL / convledger), computed within each round; the figures are medians "
         "over "
      << g.rounds << " rounds, the side going first alternating.\n\n"
      << "Appends: " << WithCommas(static_cast<double>(g.appends)) << " events per side per round "
      << "with 16 writers, " << WithCommas(static_cast<double>(g.appends / 4)) << " with 1, 20 per "
      << "conversation, fresh conversations for every figure and round (6 sends, 3 "
      << "statuses, 1 edit in every 10 events; request bodies " << body_min << "-" << body_max
      << " bytes of JSON, " << body_bytes / std::max<uint64_t>(1, body_count)
      << " on average). Reads: " << g.reads
      << " per side per round and figure, one client, one request at a time, after 20 warm-up "
      << "requests; the " << g.read_events << "-event conversation's history is "
      << WithCommas(static_cast<double>(ours_bytes[0])) << " B of JSON from convledger and "
      << WithCommas(static_cast<double>(theirs_bytes[0]))
      << " B of row values from PostgreSQL, the customer view "
      << WithCommas(static_cast<double>(ours_bytes[1])) << " B and "
      << WithCommas(static_cast<double>(theirs_bytes[1])) << " B.\n\n"
      << "Rebuild: " << WithCommas(static_cast<double>(g.events)) << " events over "
      << BulkConversations() << " conversations, loaded in " << Fixed(ledger_load_s, 1)
      << " s into convledger (in-process Ledger::Append, batches of 1,000 events, no views) and "
      << Fixed(pg_load_s, 1) << " s into PostgreSQL (COPY, then VACUUM ANALYZE); "
      << WithCommas(static_cast<double>(pg_view_rows)) << " customer view rows. Disk: convledger "
      << Fixed(ours_disk / 1048576.0, 1) << " MiB (data directory after flush and full compaction, "
      << "RocksDB LOG files excluded), PostgreSQL " << Fixed(theirs_disk / 1048576.0, 1)
      << " MiB (pg_total_relation_size of events, customer_view and conversations; WAL not "
         "counted). Served ledgers at the end (all three views, WAL included): fsync "
      << Fixed(served_bytes[0] / 1048576.0, 1) << " MiB, wal " << Fixed(served_bytes[1] / 1048576.0, 1)
      << " MiB; PostgreSQL's append database holds " << WithCommas(static_cast<double>(pg_append_events))
      << " events. Measured part of the run: " << Fixed(run_s / 60, 1) << " minutes.\n";
  out << "\nconvledger's fsync + fdatasync calls per event appended (server process, per round): ";
  for (size_t ci = 0; ci < std::size(cases); ++ci) {
    if (cases[ci].lean) continue;
    out << (ci ? "; " : "") << cases[ci].writers << (cases[ci].writers == 1 ? " writer " : " writers ")
        << (cases[ci].durable ? "fsync " : "wal ") << Join(syncs_per_event[ci], 2);
  }
  out << ". PostgreSQL's WAL syncs per event (pg_stat_wal.wal_sync, whole cluster, per round): ";
  for (size_t ci = 0; ci < std::size(cases); ++ci) {
    if (cases[ci].lean) continue;
    out << (ci ? "; " : "") << cases[ci].writers << (cases[ci].writers == 1 ? " writer " : " writers ")
        << (cases[ci].durable ? "on " : "off ") << Join(pg_syncs_per_event[ci], 2);
  }
  out << "; WAL bytes per event: ";
  for (size_t ci = 0; ci < std::size(cases); ++ci) {
    if (cases[ci].lean) continue;
    out << (ci ? "; " : "") << cases[ci].writers << (cases[ci].writers == 1 ? " writer " : " writers ")
        << (cases[ci].durable ? "on " : "off ") << Join(pg_wal_per_event[ci], 0);
  }
  out << ".\n";
  if (missed) out << "\nTargets missed: " << missed << ".\n";

  const std::string summary = out.str();
  std::printf("\n%s", summary.c_str());
  std::fflush(stdout);
  if (!summary_path.empty()) std::ofstream(summary_path) << summary;
  return 0;
}
