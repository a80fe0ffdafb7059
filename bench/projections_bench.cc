// convledger view benchmarks (issue 3): how fast the three views are rebuilt from the log,
// against the raw scan rate of the same log in the same run, and how fast a 1,000-event
// conversation's current history and customer view (and an as-of query on it) are read.
//
//   projections_bench [--dir=/var/tmp] [--summary_md=out.md] [--log=KEPT_LEDGER]
//   CONVLEDGER_BENCH_EVENTS=100000 projections_bench      (a quick run; default 1,000,000)
//
// Phases, one fixture:
//  1. generate: CONVLEDGER_BENCH_EVENTS events of a realistic mix over events/20 conversations
//     (sends both ways, receipts, edits, deletions, corrections, redactions, reactions, notes,
//     consent, holds), one of them a 1,000-event conversation spread over the whole log; appended
//     through a ledger opened without views, then flushed and compacted to SST.
//  2. scan baselines: a raw RocksDB iterator over the `events` column family (conversation
//     order, no checks) and Ledger::ScanGlobal with a no-op callback (the global-order read a
//     rebuild folds from; plus DecodeRecord with the large cache), with the ledger's default
//     64 MiB block cache and with CONVLEDGER_BENCH_CACHE_MB (default 1024) that holds the log.
//  3. rebuild, for each cache size, in a copy of the log: open read-write with
//     projections::MakeAll(); the views are empty, so the ledger folds the whole log into all
//     three (its background catch-up, the path a new fold version takes), timed until every
//     view is live (with the small cache: stopped after CONVLEDGER_BENCH_SMALL_CACHE_BUDGET_S,
//     default 30 s, and the rate so far reported). Then the folds alone (in memory, first 100,000 events) and
//     `rebuild --check-only` per view (RebuildProjection(name, false); only with
//     CONVLEDGER_BENCH_CHECK=1: it takes about 4.5 minutes over 1,000,000 events).
//  4. latency: current history and customer view of the 1,000-event conversation (stored state,
//     no fold), and as-of reads of it (a fold of its events up to mid-log or a time), p50/p99;
//     the current history both right after the rebuild and after a full compaction, and the
//     current reads with both cache sizes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <rocksdb/db.h>

#include "bench_util.h"
#include "ledger/ledger.h"
#include "projections/projections.h"

namespace convledger::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

[[noreturn]] void Fail(const std::string& what, const Status& st) {
  std::fprintf(stderr, "projections_bench: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(1);
}

// ---- the event mix --------------------------------------------------------------------------

constexpr int64_t kSecond = 1000000;
constexpr int64_t kStart = 1794787200LL * kSecond;  // 2026-11-16T00:00:00Z

std::string Words(std::mt19937_64& rng, size_t chars) {
  static const char* kWords[] = {"order", "delivery", "size",  "refund", "tomorrow", "thanks",
                                 "please", "price",   "stock", "colour", "return",   "invoice",
                                 "hello",  "sorry",   "today", "shipping"};
  std::string s;
  while (s.size() < chars) {
    if (!s.empty()) s += ' ';
    s += kWords[rng() % std::size(kWords)];
  }
  return s;
}

struct ConvState {
  std::string id;
  std::string tenant;
  std::string agent;
  int64_t now = 0;
  uint32_t next_message = 0;
  struct Out {
    std::string id;
    uint8_t next_status = 0;  // 0 sent, 1 delivered, 2 read, 3 done
    bool deleted = false;
    bool redacted = false;
  };
  std::vector<Out> outbound;
  std::vector<std::string> inbound;
};

// A realistic mix: about a third sends, a third receipts, the rest changes, reactions, notes,
// consent and holds; every command valid (the ledger checks them).
class Mix {
 public:
  explicit Mix(uint64_t seed) : rng_(seed) {}

  Event Next(ConvState& c) {
    c.now += static_cast<int64_t>(1 + rng_() % 600) * kSecond;
    const int r = static_cast<int>(rng_() % 1000);
    if (r < 160 || (c.outbound.empty() && c.inbound.empty())) return Inbound(c);
    if (r < 350) return Outbound(c);
    if (r < 700) {
      if (Event e; Receipt(c, &e)) return e;
      return Outbound(c);
    }
    if (r < 760) {
      if (Event e; Edit(c, &e)) return e;
      return Inbound(c);
    }
    if (r < 800) {
      if (Event e; Delete(c, &e)) return e;
      return Inbound(c);
    }
    if (r < 815) {
      if (Event e; Correct(c, &e)) return e;
      return Outbound(c);
    }
    if (r < 822) {
      if (Event e; Redact(c, &e)) return e;
      return Inbound(c);
    }
    if (r < 900) {
      if (Event e; React(c, &e)) return e;
      return Inbound(c);
    }
    if (r < 960) return Note(c);
    if (r < 990) return Consent(c);
    return Hold(c);
  }

 private:
  Event Base(ConvState& c, EventType type, ActorKind kind, const std::string& actor) {
    Event e;
    e.type = type;
    e.conversation_id = c.id;
    e.tenant = c.tenant;
    e.channel = Channel::kWhatsApp;
    e.actor.kind = kind;
    e.actor.id = actor;
    e.actor.display = kind == ActorKind::kCustomer ? "Customer" : "Support";
    e.occurred_at_us = c.now;
    return e;
  }
  std::string NewId(ConvState& c) { return "wamid." + c.id + "." + std::to_string(c.next_message++); }

  Event Inbound(ConvState& c) {
    Event e = Base(c, EventType::kMessageSent, ActorKind::kCustomer, "cust-" + c.id);
    e.message_id = NewId(c);
    e.direction = Direction::kInbound;
    e.content = Content{Words(rng_, 20 + rng_() % 200), {}};
    c.inbound.push_back(e.message_id);
    return e;
  }
  Event Outbound(ConvState& c) {
    const bool bot = rng_() % 4 == 0;
    Event e = Base(c, EventType::kMessageSent, bot ? ActorKind::kBot : ActorKind::kAgent,
                   bot ? "refund-bot" : c.agent);
    e.message_id = NewId(c);
    e.direction = Direction::kOutbound;
    e.content = Content{Words(rng_, 40 + rng_() % 260), {}};
    if (bot || rng_() % 20 == 0) {
      Template t;
      t.name = bot ? "refund_issued" : "promo_week";
      t.language = "en";
      t.category = bot ? "utility" : "marketing";
      t.parameters = {"Carla", "59.90 EUR"};
      e.template_ = t;
    }
    c.outbound.push_back({e.message_id});
    return e;
  }
  ConvState::Out* PickOut(ConvState& c) {
    if (c.outbound.empty()) return nullptr;
    // Mostly recent messages.
    const size_t n = c.outbound.size();
    const size_t back = std::min<size_t>(n - 1, rng_() % 4);
    return &c.outbound[n - 1 - back];
  }
  bool Receipt(ConvState& c, Event* e) {
    ConvState::Out* m = PickOut(c);
    if (!m || m->next_status >= 3) return false;
    static const Delivery kOrder[] = {Delivery::kSent, Delivery::kDelivered, Delivery::kRead};
    *e = Base(c, EventType::kMessageStatus, ActorKind::kPlatform, "whatsapp-cloud-api");
    e->message_id = m->id;
    e->status = kOrder[m->next_status++];
    if (rng_() % 50 == 0) {
      e->status = Delivery::kFailed;
      e->error_code = "131026";
      e->error_title = "Message undeliverable";
      m->next_status = 3;
    }
    return true;
  }
  bool Edit(ConvState& c, Event* e) {
    ConvState::Out* m = PickOut(c);
    if (!m || m->deleted || m->redacted) return false;
    *e = Base(c, EventType::kMessageEdited, ActorKind::kAgent, c.agent);
    e->message_id = m->id;
    e->content = Content{Words(rng_, 60 + rng_() % 200), {}};
    if (rng_() % 2) e->reason = "fixed a detail";
    return true;
  }
  bool Delete(ConvState& c, Event* e) {
    ConvState::Out* m = PickOut(c);
    if (!m || m->deleted) return false;
    *e = Base(c, EventType::kMessageDeleted, ActorKind::kAgent, c.agent);
    e->message_id = m->id;
    e->scope = rng_() % 4 ? DeleteScope::kEveryone : DeleteScope::kAgentOnly;
    if (e->scope == DeleteScope::kEveryone) m->deleted = true;
    if (rng_() % 2) {
      e->reason_code = "wrong_price";
      e->reason = "price from an old list";
    }
    return true;
  }
  bool Correct(ConvState& c, Event* e) {
    if (c.outbound.size() < 2) return false;
    ConvState::Out& wrong = c.outbound[c.outbound.size() - 2];
    if (wrong.redacted) return false;
    *e = Base(c, EventType::kMessageCorrected, ActorKind::kAgent, c.agent);
    e->message_id = wrong.id;
    e->replacement_message_id = c.outbound.back().id;
    e->reason_code = "wrong_price";
    e->explanation = "The price in our previous message was wrong; this one is right.";
    return true;
  }
  bool Redact(ConvState& c, Event* e) {
    if (c.inbound.empty()) return false;
    *e = Base(c, EventType::kMessageRedacted, ActorKind::kAgent, c.agent);
    e->message_id = c.inbound.back();
    c.inbound.pop_back();  // never redacted twice
    e->reason = "card number sent by mistake";
    // The ledger refuses a redaction under a legal hold unless it overrides it (issue 6), and
    // this generator places holds: its redactions override.
    e->override_hold = true;
    return true;
  }
  bool React(ConvState& c, Event* e) {
    ConvState::Out* m = PickOut(c);
    if (!m) return false;
    *e = Base(c, EventType::kMessageReaction, ActorKind::kCustomer, "cust-" + c.id);
    e->message_id = m->id;
    e->action = ReactionAction::kAdd;
    e->emoji = "\xF0\x9F\x91\x8D";
    return true;
  }
  Event Note(ConvState& c) {
    Event e = Base(c, EventType::kNoteAdded, ActorKind::kAgent, c.agent);
    e.content = Content{"internal: " + Words(rng_, 80), {}};
    return e;
  }
  Event Consent(ConvState& c) {
    Event e = Base(c, EventType::kConsentChanged, ActorKind::kSystem, "shop-checkout");
    e.consent = rng_() % 3 ? ConsentState::kOptIn : ConsentState::kOptOut;
    e.consent_scope = "marketing";
    e.source = "checkout checkbox";
    return e;
  }
  Event Hold(ConvState& c) {
    Event e = Base(c, EventType::kLegalHoldChanged, ActorKind::kAgent, "legal-02");
    e.hold = HoldAction::kPlaced;
    e.case_ref = "DISPUTE-" + c.id;
    return e;
  }

  std::mt19937_64 rng_;
};

// ---- measurements -----------------------------------------------------------------------------

struct Latency {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  size_t reads = 0;
  size_t bytes = 0;  // size of one answer
};

template <typename Fn>
Latency Measure(size_t reads, Fn&& read) {
  std::vector<double> ms;
  ms.reserve(reads);
  Latency l;
  for (size_t i = 0; i < reads; ++i) {
    const auto t0 = Clock::now();
    l.bytes = read();
    ms.push_back(Seconds(Clock::now() - t0) * 1000);
  }
  std::sort(ms.begin(), ms.end());
  l.reads = reads;
  l.p50_ms = ms[ms.size() / 2];
  l.p99_ms = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  l.max_ms = ms.back();
  return l;
}

std::unique_ptr<Ledger> OpenLedger(const std::string& dir, bool with_views, bool read_only,
                                   size_t cache_bytes = Options{}.block_cache_bytes) {
  Options o;
  o.block_cache_bytes = cache_bytes;
  o.read_only = read_only;
  o.create_if_missing = !read_only;
  if (with_views) o.projections = projections::MakeAll();
  auto l = Ledger::Open(dir, o);
  if (!l.ok()) Fail("opening " + dir, l.status());
  return std::move(l).value();
}

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

// Best of `runs` full passes of `pass` (which returns events seen), after a warm-up pass when
// `warm` (block cache and page cache).
template <typename Fn>
double BestRate(int runs, bool warm, uint64_t expect, const char* what, Fn&& pass) {
  if (warm) pass();
  double best = 0;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    const uint64_t n = pass();
    const double s = Seconds(Clock::now() - t0);
    if (n != expect)
      std::fprintf(stderr, "projections_bench: %s saw %llu events, expected %llu\n", what,
                   static_cast<unsigned long long>(n), static_cast<unsigned long long>(expect));
    best = std::max(best, static_cast<double>(n) / s);
  }
  return best;
}

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// --reads_only=DIR: only the current reads of the big conversation, on a ledger kept by an
// earlier run (CONVLEDGER_BENCH_KEEP=1); for profiling them (perf record) without the rest.
int ReadsOnly(const std::string& dir) {
  const std::string big_id = "bench-big-conversation";
  auto ledger = OpenLedger(dir, true, /*read_only=*/true);
  const size_t reads = EnvOr("CONVLEDGER_BENCH_READS", 2000);
  auto size_of = [](const Result<std::string>& r, const char* what) -> size_t {
    if (!r.ok()) Fail(what, r.status());
    return r->size();
  };
  // CONVLEDGER_BENCH_ONLY=history|view: one of the two (for a profile of it alone).
  const char* only_env = std::getenv("CONVLEDGER_BENCH_ONLY");
  const std::string only = only_env ? only_env : "";
  (void)projections::History(*ledger, big_id, {});
  Latency h, v;
  if (only != "view")
    h = Measure(reads, [&] {
      return size_of(projections::History(*ledger, big_id, {}), "history");
    });
  if (only != "history")
    v = Measure(reads, [&] {
      return size_of(projections::CustomerView(*ledger, big_id, {}), "customer view");
    });
  std::printf("history: %zu B, p50 %.3f ms, p99 %.3f ms\n", h.bytes, h.p50_ms, h.p99_ms);
  std::printf("customer view: %zu B, p50 %.3f ms, p99 %.3f ms\n", v.bytes, v.p50_ms, v.p99_ms);
  return 0;
}

// Drops the views' column families of the ledger in `dir` (a copy of a kept one): the next
// read-write open with views rebuilds them all from the log.
void DropViews(const std::string& dir) {
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names);
  if (!s.ok()) Fail("listing column families", Status::IOError(s.ToString()));
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.push_back({n, rocksdb::ColumnFamilyOptions()});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::Open(rocksdb::DBOptions(), dir, cfs, &handles, &raw);
  if (!s.ok()) Fail("opening the copy", Status::IOError(s.ToString()));
  for (auto* h : handles) {
    if (h->GetName().rfind("proj.", 0) == 0) raw->DropColumnFamily(h).PermitUncheckedError();
    raw->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  delete raw;
}

// --rebuild_only=DIR: only the rebuild of all three views (the catch-up at open), on a copy of a
// ledger kept by an earlier run with its views' column families dropped; for profiling it.
int RebuildOnly(const std::string& dir) {
  TempDir tmp("rebuild-only");
  const std::string copy = tmp.path() + "/ledger";
  std::filesystem::copy(dir, copy, std::filesystem::copy_options::recursive);
  DropViews(copy);
  const auto r0 = Clock::now();
  auto ledger = OpenLedger(copy, /*with_views=*/true, false);
  const uint64_t total = ledger->LastGlobalSeq();
  std::vector<bool> seen(3, false);
  while (true) {
    const auto infos = ledger->Projections();
    bool all = true;
    for (size_t i = 0; i < infos.size(); ++i) {
      if (infos[i].ready && !seen[i]) {
        seen[i] = true;
        std::printf("%s live after %.2f s\n", infos[i].name.c_str(), Seconds(Clock::now() - r0));
      }
      if (!infos[i].error.empty()) Fail(infos[i].name, Status::Corruption("catch_up", infos[i].error));
      all = all && infos[i].ready;
    }
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double s = Seconds(Clock::now() - r0);
  std::printf("rebuilt all three views: %llu events in %.2f s (%.0f ev/s)\n",
              static_cast<unsigned long long>(total), s, total / s);
  return 0;
}

int Run(int argc, char** argv) {
  std::string dir, summary, reads_only, rebuild_only, log;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--dir=", 0) == 0) dir = a.substr(6);
    else if (a.rfind("--log=", 0) == 0) log = a.substr(6);
    else if (a.rfind("--summary_md=", 0) == 0) summary = a.substr(13);
    else if (a.rfind("--reads_only=", 0) == 0) reads_only = a.substr(13);
    else if (a.rfind("--rebuild_only=", 0) == 0) rebuild_only = a.substr(15);
    else {
      std::fprintf(stderr,
                   "usage: projections_bench [--dir=DIR] [--summary_md=FILE] [--log=KEPT_LEDGER] "
                   "[--reads_only=KEPT_LEDGER] [--rebuild_only=KEPT_LEDGER]\n");
      return 2;
    }
  }
  if (!reads_only.empty()) return ReadsOnly(reads_only);
  if (!dir.empty()) SetBaseDir(dir);
  if (!rebuild_only.empty()) return RebuildOnly(rebuild_only);
  // --log=KEPT: the log of a ledger kept by an earlier run (CONVLEDGER_BENCH_KEEP=1) instead of
  // generating one (24 minutes for 1,000,000 events: the mix's redactions each flush and compact,
  // see ledger/src/erasure.cc); its views are dropped, the rest of the run is the same.
  uint64_t kept_events = 0;
  if (!log.empty()) {
    auto kept = OpenLedger(log, /*with_views=*/false, /*read_only=*/true);
    kept_events = kept->LastGlobalSeq();
  }
  const uint64_t total = log.empty() ? EnvOr("CONVLEDGER_BENCH_EVENTS", 1000000) : kept_events;
  const uint64_t conversations = std::max<uint64_t>(1, total / 20);
  const uint64_t big_events = std::min<uint64_t>(1000, total / 20);
  const std::string big_id = "bench-big-conversation";
  std::printf("projections_bench: %llu events, %llu conversations, one of %llu events; dir %s\n",
              static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(conversations),
              static_cast<unsigned long long>(big_events), BaseDir().c_str());
  std::fflush(stdout);

  TempDir tmp("projections");
  const std::string path = tmp.path() + "/ledger";

  // 1. generate (or copy a kept log)
  auto t0 = Clock::now();
  if (!log.empty()) {
    std::filesystem::copy(log, path, std::filesystem::copy_options::recursive);
    DropViews(path);
  } else {
    auto ledger = OpenLedger(path, /*with_views=*/false, /*read_only=*/false);
    std::mt19937_64 rng(42);
    Mix mix(7);
    std::vector<ConvState> convs(conversations);
    for (uint64_t i = 0; i < conversations; ++i) {
      convs[i].id = ConversationId(static_cast<int>(i / 1000), static_cast<int>(i % 1000));
      convs[i].tenant = "tenant-" + std::to_string(i % 5);
      convs[i].agent = "agent-" + std::to_string(i % 97);
      convs[i].now = kStart + static_cast<int64_t>(rng() % (7 * 86400)) * kSecond;
    }
    ConvState big;
    big.id = big_id;
    big.tenant = "tenant-0";
    big.agent = "agent-1";
    big.now = kStart;
    uint64_t big_left = big_events;
    std::vector<Event> batch;
    for (uint64_t n = 0; n < total; ++n) {
      // Spread the big conversation's events evenly over the log.
      const bool to_big = big_left > 0 && (rng() % (total - n)) < big_left;
      ConvState& c = to_big ? big : convs[rng() % conversations];
      if (to_big) --big_left;
      batch.push_back(mix.Next(c));
      if (batch.size() == 1000) {
        auto r = ledger->Append(std::move(batch));
        if (!r.ok()) Fail("append", r.status());
        batch.clear();
      }
    }
    if (!batch.empty()) {
      auto r = ledger->Append(std::move(batch));
      if (!r.ok()) Fail("append", r.status());
    }
    if (ledger->LastGlobalSeq() != total) Fail("generate", Status::Corruption("count", "short"));
  }
  std::string error;
  if (!FlushAndCompactClosedDb(path, &error)) Fail("compact", Status::IOError(error));
  const double generate_s = Seconds(Clock::now() - t0);
  std::printf("%s in %.1f s\n", log.empty() ? "generated and compacted" : "copied the kept log",
              generate_s);
  std::fflush(stdout);

  // 2. scan baselines, 3. rebuild, with the ledger's default block cache (64 MiB: smaller than
  // this log's events once it has ~300k events) and with a large one that holds it.
  struct CacheRun {
    std::string label;
    size_t cache_bytes = 0;
    bool warm = false;       // warm-up pass before timing (pointless when the log exceeds it)
    double scan_rate = 0;    // ScanGlobal, no-op
    double decode_rate = 0;  // ScanGlobal + DecodeRecord (large cache only)
    double budget_s = 0;        // stop the rebuild after this long (0: no limit)
    double rebuild_s = 0;
    uint64_t partial_events = 0;  // when stopped: events folded into every view (averaged)
    std::vector<std::pair<std::string, double>> ready_at;  // when each view went live
  };
  const size_t large_cache = static_cast<size_t>(EnvOr("CONVLEDGER_BENCH_CACHE_MB", 1024)) << 20;
  std::vector<CacheRun> runs = {{"default 64 MiB block cache", Options{}.block_cache_bytes, false, 0, 0,
                                 static_cast<double>(EnvOr("CONVLEDGER_BENCH_SMALL_CACHE_BUDGET_S", 30)),
                                 0, 0, {}},
                                {std::to_string(large_cache >> 20) + " MiB block cache",
                                 large_cache, true, 0, 0, 0, 0, 0, {}}};
  double raw_rate = 0;
  {
    rocksdb::DBOptions dbo = LedgerLikeDbOptions();
    auto cache = rocksdb::NewLRUCache(64 << 20);
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, LedgerLikeCfOptions(cache, false)},
        {"events", LedgerLikeCfOptions(cache, false)}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::OpenForReadOnly(dbo, path, cfs, &handles, &raw);
    if (!s.ok()) Fail("raw open", Status::IOError(s.ToString()));
    raw_rate = BestRate(2, true, total, "raw events iterator", [&] {
      uint64_t n = 0;
      std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions(), handles[1]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) n += it->value().size() > 0 ? 1 : 0;
      return n;
    });
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    delete raw;
  }
  std::printf("scan: raw events CF iterator %.0f ev/s\n", raw_rate);
  std::fflush(stdout);

  for (CacheRun& run : runs) {
    {
      auto ledger = OpenLedger(path, false, /*read_only=*/true, run.cache_bytes);
      run.scan_rate = BestRate(1, run.warm, total, "ScanGlobal", [&] {
        uint64_t n = 0;
        Status st = ledger->ScanGlobal(0, {}, [&](const RawEvent&) {
          ++n;
          return true;
        });
        if (!st.ok()) Fail("ScanGlobal", st);
        return n;
      });
      if (run.warm) {
        run.decode_rate = BestRate(1, false, total, "ScanGlobal+decode", [&] {
          uint64_t n = 0;
          Status st = ledger->ScanGlobal(0, {}, [&](const RawEvent& raw) {
            n += DecodeRecord(raw.record).ok() ? 1 : 0;
            return true;
          });
          if (!st.ok()) Fail("ScanGlobal", st);
          return n;
        });
      }
    }
    std::printf("scan (%s): ScanGlobal %.0f ev/s\n", run.label.c_str(), run.scan_rate);
    std::fflush(stdout);

    // Rebuild all three views from the log: the ledger's catch-up at open (the views are empty
    // in this copy of the log), timed until every view is live.
    const std::string copy = tmp.path() + "/rebuild-" + std::to_string(run.cache_bytes >> 20);
    std::filesystem::copy(path, copy, std::filesystem::copy_options::recursive);
    const auto r0 = Clock::now();
    auto ledger = OpenLedger(copy, /*with_views=*/true, false, run.cache_bytes);
    std::vector<bool> seen(3, false);
    while (true) {
      const auto infos = ledger->Projections();
      bool all = true;
      uint64_t folded = 0;  // events folded so far, summed over the three views
      for (size_t i = 0; i < infos.size(); ++i) {
        if (infos[i].ready && !seen[i]) {
          seen[i] = true;
          run.ready_at.push_back({infos[i].name, Seconds(Clock::now() - r0)});
        }
        all = all && infos[i].ready;
        folded += infos[i].ready ? total : infos[i].progress;
      }
      if (all) break;
      if (run.budget_s > 0 && Seconds(Clock::now() - r0) > run.budget_s) {
        // Too slow to finish within the bench's time: report the rate so far (events folded,
        // averaged over the three views).
        run.partial_events = folded / 3;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    run.rebuild_s = Seconds(Clock::now() - r0);
    const double done = run.partial_events ? run.partial_events : total;
    std::printf("%s all three views (%s): %.0f of %llu events in %.1f s (%.0f ev/s)\n",
                run.partial_events ? "stopped rebuilding" : "rebuilt", run.label.c_str(), done,
                static_cast<unsigned long long>(total), run.rebuild_s, done / run.rebuild_s);
    std::fflush(stdout);
    ledger.reset();  // stops a catch-up still running
    if (&run != &runs.back()) std::filesystem::remove_all(copy);
  }
  const std::string live = tmp.path() + "/rebuild-" + std::to_string(runs.back().cache_bytes >> 20);

  // The folds alone: decode + Apply into an in-memory state (no RocksDB writes), over the first
  // events of the log (the history state of a million events would not fit in memory).
  const uint64_t fold_events = std::min<uint64_t>(total, 100000);
  std::vector<std::pair<std::string, double>> fold_rate;
  {
    auto ledger = OpenLedger(path, false, /*read_only=*/true, large_cache);
    for (const auto& projection : projections::MakeAll()) {
      ReadOptions ro;
      ro.as_of_global_seq = fold_events;
      const auto f0 = Clock::now();
      projections::MemoryState state;
      Status fold;
      Status st = ledger->ScanGlobal(0, ro, [&](const RawEvent& raw) {
        auto ev = DecodeRecord(raw.record);
        fold = ev.ok() ? projection->Apply(*ev, state) : ev.status();
        return fold.ok();
      });
      if (!st.ok()) Fail("fold scan", st);
      if (!fold.ok()) Fail("fold", fold);
      fold_rate.push_back({std::string(projection->Name()),
                           fold_events / Seconds(Clock::now() - f0)});
      std::printf("in-memory fold %s: %.0f ev/s\n", fold_rate.back().first.c_str(),
                  fold_rate.back().second);
      std::fflush(stdout);
    }
  }

  // `rebuild --check-only` per view (RebuildProjection(name, false): fold into a scratch state,
  // digest both, compare), on the rebuilt copy with the large cache.
  std::vector<std::pair<std::string, double>> check_s;
  Latency cur_history, cur_view, asof_history, asof_view, asof_time_view, fresh_history;
  Latency large_history, large_view;
  double compact_s = 0;
  struct Slice {
    std::string name;
    uint64_t keys, bytes;
    double scan_ms;
  };
  std::vector<Slice> state_slices;
  {
    auto ledger = OpenLedger(live, /*with_views=*/true, false, large_cache);
    if (!ledger->WaitForProjections(std::chrono::minutes(10)))
      Fail("views", Status::Busy("not ready"));
    if (EnvOr("CONVLEDGER_BENCH_CHECK", 0)) {
      for (const char* name :
           {projections::kHistory, projections::kCustomerView, projections::kAnalytics}) {
        const auto c0 = Clock::now();
        auto report = ledger->RebuildProjection(name, /*replace=*/false);
        if (!report.ok()) Fail(std::string("rebuild ") + name, report.status());
        if (!report->equal) std::printf("WARNING: %s differs from its rebuild\n", name);
        check_s.push_back({name, Seconds(Clock::now() - c0)});
        std::printf("rebuild --check-only %s: %.1f s\n", name, check_s.back().second);
        std::fflush(stdout);
      }
    }

    // 4. latency of the big conversation's views (in-process, the ledger's default cache).
    // First right after the rebuild, with the views' state as the catch-up left it (many
    // overlapping L0/L1 files), then after a full compaction (the steady state).
    ledger.reset();
    ledger = OpenLedger(live, true, /*read_only=*/true);
    (void)projections::History(*ledger, big_id, {});
    fresh_history = Measure(1000, [&] {
      auto r = projections::History(*ledger, big_id, {});
      if (!r.ok()) Fail("history", r.status());
      return r->size();
    });
    ledger.reset();
    const auto k0 = Clock::now();
    std::string error;
    if (!FlushAndCompactClosedDb(live, &error)) Fail("compact", Status::IOError(error));
    compact_s = Seconds(Clock::now() - k0);
    ledger = OpenLedger(live, true, /*read_only=*/true);
    auto size_of = [](const Result<std::string>& r, const char* what) -> size_t {
      if (!r.ok()) Fail(what, r.status());
      return r->size();
    };
    projections::AsOf mid;
    mid.global_seq = total / 2;
    projections::AsOf time_point;
    time_point.time_us = kStart + 3 * 86400 * kSecond;
    (void)projections::History(*ledger, big_id, {});  // warm up
    // What a current read scans: the conversation's slice of each view's stored state
    // ('c' || be16(length) || id, projections/src/history.cc).
    std::string prefix(1, 'c');
    prefix.push_back(static_cast<char>(big_id.size() >> 8));
    prefix.push_back(static_cast<char>(big_id.size() & 0xff));
    prefix += big_id;
    for (const char* name : {projections::kHistory, projections::kCustomerView}) {
      auto reader = ledger->NewStateReader(name);
      if (!reader.ok()) Fail("reader", reader.status());
      uint64_t keys = 0, bytes = 0;
      const auto s0 = Clock::now();
      Status st = (*reader)->Scan(prefix, [&](std::string_view k, std::string_view v) {
        ++keys;
        bytes += k.size() + v.size();
        return true;
      });
      if (!st.ok()) Fail("scan state", st);
      state_slices.push_back({name, keys, bytes, Seconds(Clock::now() - s0) * 1000});
    }
    cur_history = Measure(2000, [&] {
      return size_of(projections::History(*ledger, big_id, {}), "history");
    });
    cur_view = Measure(2000, [&] {
      return size_of(projections::CustomerView(*ledger, big_id, {}), "customer view");
    });
    asof_history = Measure(200, [&] {
      return size_of(projections::History(*ledger, big_id, mid), "history as of");
    });
    asof_view = Measure(200, [&] {
      return size_of(projections::CustomerView(*ledger, big_id, mid), "customer view as of");
    });
    asof_time_view = Measure(200, [&] {
      return size_of(projections::CustomerView(*ledger, big_id, time_point), "view as of time");
    });
    // The same current reads with the large block cache: with the default 64 MiB LRU cache
    // (64 shards of 1 MiB) the index blocks of compacted SST files (1-2.5 MiB each at this
    // size) cannot stay cached, so every seek re-reads one.
    ledger.reset();
    ledger = OpenLedger(live, true, /*read_only=*/true, large_cache);
    (void)projections::History(*ledger, big_id, {});
    large_history = Measure(2000, [&] {
      return size_of(projections::History(*ledger, big_id, {}), "history");
    });
    large_view = Measure(2000, [&] {
      return size_of(projections::CustomerView(*ledger, big_id, {}), "customer view");
    });
  }

  // Summary.
  std::ostringstream md;
  md << "| measure | value | target | met |\n|---|---|---|---|\n";
  md << "| events / conversations | " << total << " / " << conversations << " | | |\n";
  md << "| scan: raw RocksDB iterator over `events` (no checks, conversation order) | "
     << Fmt("%.0f", raw_rate) << " ev/s | | |\n";
  for (const CacheRun& run : runs) {
    const double rate = (run.partial_events ? run.partial_events : total) / run.rebuild_s;
    md << "| **" << run.label << "** | | | |\n";
    md << "| scan: `ScanGlobal`, no-op callback | " << Fmt("%.0f", run.scan_rate)
       << " ev/s | | |\n";
    if (run.decode_rate > 0)
      md << "| scan: `ScanGlobal` + `DecodeRecord` | " << Fmt("%.0f", run.decode_rate)
         << " ev/s | | |\n";
    if (run.partial_events)
      md << "| rebuild of all three views (catch-up at open), stopped after "
         << Fmt("%.0f", run.rebuild_s) << " s with " << run.partial_events << " of " << total
         << " events folded per view | " << Fmt("%.0f", rate) << " ev/s | | |\n";
    else
      md << "| rebuild of all three views (catch-up at open) | " << Fmt("%.0f", rate)
         << " ev/s (" << Fmt("%.1f", run.rebuild_s) << " s) | | |\n";
    md << "| rebuild / `ScanGlobal` | " << Fmt("%.3f", rate / run.scan_rate) << " | >= 0.333 | "
       << (rate * 3 >= run.scan_rate ? "yes" : "no") << " |\n";
    md << "| rebuild / raw `events` iterator | " << Fmt("%.3f", rate / raw_rate)
       << " | >= 0.333 | " << (rate * 3 >= raw_rate ? "yes" : "no") << " |\n";
    // Views that went live together were folded in the same pass: one row for the pass. The
    // passes (conversation order, global order) run side by side from the start, so each pass's
    // rate is the events over the time until its views went live.
    for (size_t i = 0; i < run.ready_at.size();) {
      const double at = run.ready_at[i].second;
      std::string names = run.ready_at[i].first;
      size_t j = i + 1;
      for (; j < run.ready_at.size() && run.ready_at[j].second - at < 0.05; ++j)
        names += " + " + run.ready_at[j].first;
      md << "| rebuild pass: " << names << " (live after " << Fmt("%.1f", at)
         << " s; the passes run side by side) | " << Fmt("%.0f", total / at) << " ev/s | | |\n";
      i = j;
    }
  }
  md << "| **folds and checks** | | | |\n";
  for (const auto& [name, rate] : fold_rate)
    md << "| fold alone, " << name << " (decode + Apply into memory, first " << fold_events
       << " events) | " << Fmt("%.0f", rate) << " ev/s | | |\n";
  for (const auto& [name, secs] : check_s)
    md << "| `rebuild --check-only` " << name << " (fold + 2 digests, large cache) | "
       << Fmt("%.1f", secs) << " s | | |\n";
  md << "| **reads of the " << big_events << "-event conversation** | | | |\n";
  auto row = [&](const char* what, const Latency& l, bool target) {
    md << "| " << what << " (" << l.bytes << " B JSON, " << l.reads << " reads) | p50 "
       << Fmt("%.3f", l.p50_ms) << " ms, p99 " << Fmt("%.3f", l.p99_ms) << " ms | "
       << (target ? "p99 < 2 ms" : "") << " | "
       << (target ? (l.p99_ms < 2.0 ? "yes" : "no") : "") << " |\n";
  };
  for (const Slice& sl : state_slices)
    md << "| stored " << sl.name << " state of that conversation (what a current read scans) | "
       << sl.keys << " keys, " << sl.bytes << " B; one scan " << Fmt("%.3f", sl.scan_ms)
       << " ms | | |\n";
  row("current history, right after the rebuild (state not compacted)", fresh_history, true);
  md << "| full compaction of the ledger after the rebuild | " << Fmt("%.1f", compact_s)
     << " s | | |\n";
  row("current history (compacted, default 64 MiB block cache)", cur_history, true);
  row("current customer view (compacted, default 64 MiB block cache)", cur_view, true);
  {
    const std::string h = "current history (compacted, " + std::to_string(large_cache >> 20) +
                          " MiB block cache)";
    const std::string v = "current customer view (compacted, " +
                          std::to_string(large_cache >> 20) + " MiB block cache)";
    row(h.c_str(), large_history, true);
    row(v.c_str(), large_view, true);
  }
  row("history as of global_seq = events/2", asof_history, false);
  row("customer view as of global_seq = events/2", asof_view, false);
  row("customer view as of a time (day 3 of 7)", asof_time_view, false);
  std::printf("\n%s", md.str().c_str());
  if (!summary.empty()) std::ofstream(summary) << md.str();
  if (EnvOr("CONVLEDGER_BENCH_KEEP", 0)) {  // keep the rebuilt ledger for a post-mortem
    const std::string kept = BaseDir() + "/convledger-bench-projections-kept";
    std::filesystem::remove_all(kept);
    std::filesystem::rename(live, kept);
    std::printf("kept the ledger in %s (with views; the big conversation is %s)\n",
                kept.c_str(), big_id.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace convledger::bench

int main(int argc, char** argv) { return convledger::bench::Run(argc, argv); }
