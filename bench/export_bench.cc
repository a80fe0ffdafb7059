// Issue 5 figures in one run: appends through the ledger (Merkle tree maintained in the same
// batch) beside raw RocksDB writes of the same record sizes, inclusion-proof generation and
// checking per second, and bundle export and offline verification rates.
//
//   CONVLEDGER_BENCH_EVENTS (default 100000), 100 events per conversation, 100 per append.
// There is no switch that turns the tree off, so the "without" figure is RocksDB itself writing
// the same number of values of the same size in batches of the same size (a floor for any
// ledger, not the ledger minus its tree). Results are printed, one line each.

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "ledger/merkle.h"
#include "projections/export.h"

using namespace convledger;
using BenchClock = std::chrono::steady_clock;

namespace {

double Seconds(BenchClock::time_point t0) {
  return std::chrono::duration<double>(BenchClock::now() - t0).count();
}

Event Message(const std::string& conv, uint64_t i) {
  Event e;
  e.type = EventType::kMessageSent;
  e.conversation_id = conv;
  e.actor = Actor{ActorKind::kCustomer, "cust-" + conv, "Customer"};
  e.channel = Channel::kWhatsApp;
  e.message_id = "wamid." + conv + "." + std::to_string(i);
  e.direction = Direction::kInbound;
  e.content = Content{"hello, this is message " + std::to_string(i) +
                          " of a benchmark conversation about an order",
                      {}};
  e.tenant = "bench";
  return e;
}

// Appends n events in batches into a fresh ledger at `path`; seconds taken.
double AppendRun(const std::string& path, uint64_t n, uint64_t per_conv, uint64_t per_append,
                 bool merkle_tree) {
  Options o;
  o.merkle_tree = merkle_tree;
  auto opened = Ledger::Open(path, o);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    std::exit(1);
  }
  auto t0 = BenchClock::now();
  for (uint64_t done = 0; done < n;) {
    std::vector<Event> batch;
    for (uint64_t k = 0; k < per_append && done < n; ++k, ++done)
      batch.push_back(Message("c" + std::to_string(done / per_conv), done));
    auto r = (*opened)->Append(std::move(batch));
    if (!r.ok()) {
      std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
  }
  return Seconds(t0);
}

}  // namespace

int main() {
  const char* env = std::getenv("CONVLEDGER_BENCH_EVENTS");
  const uint64_t n = env ? std::strtoull(env, nullptr, 10) : 100000;
  const uint64_t per_conv = 100, per_append = 100;
  const std::string dir = std::filesystem::temp_directory_path() / "convledger-export-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  // 0. The tree's cost, same run, alternating: appends without the tree (Options::merkle_tree
  // off) and with it, each into a fresh ledger, twice; the ratio of the sums.
  double without_s = 0, with_s = 0;
  for (int round = 0; round < 2; ++round) {
    without_s += AppendRun(dir + "/notree" + std::to_string(round), n, per_conv, per_append, false);
    with_s += AppendRun(dir + "/tree" + std::to_string(round), n, per_conv, per_append, true);
  }
  std::printf("batches of %llu: append_without_merkle rate=%.0f events/s, append_with_merkle "
              "rate=%.0f events/s, with/without = %.2f (target >= 0.70)\n",
              (unsigned long long)per_append, 2 * n / without_s, 2 * n / with_s,
              without_s / with_s);
  // The same one event per append (the API's usual request), on a fifth of the events.
  const uint64_t n1 = std::max<uint64_t>(n / 5, 1);
  double without1 = 0, with1 = 0;
  for (int round = 0; round < 2; ++round) {
    without1 += AppendRun(dir + "/notree1-" + std::to_string(round), n1, per_conv, 1, false);
    with1 += AppendRun(dir + "/tree1-" + std::to_string(round), n1, per_conv, 1, true);
  }
  std::printf("single events: append_without_merkle rate=%.0f events/s, append_with_merkle "
              "rate=%.0f events/s, with/without = %.2f (target >= 0.70)\n",
              2 * n1 / without1, 2 * n1 / with1, without1 / with1);

  // 1. Appends with the tree.
  auto opened = Ledger::Open(dir + "/ledger", Options{});
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  Ledger& ledger = **opened;
  auto t0 = BenchClock::now();
  for (uint64_t done = 0; done < n;) {
    std::vector<Event> batch;
    for (uint64_t k = 0; k < per_append && done < n; ++k, ++done)
      batch.push_back(Message("c" + std::to_string(done / per_conv), done));
    auto r = ledger.Append(std::move(batch));
    if (!r.ok()) {
      std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
      return 1;
    }
  }
  const double append_s = Seconds(t0);
  std::printf("append_with_merkle events=%llu rate=%.0f events/s\n", (unsigned long long)n,
              n / append_s);

  // 2. Raw RocksDB, same value sizes, same batches.
  uint64_t record_bytes = 0;
  (void)ledger.ScanGlobal(0, ReadOptions{.limit = 1}, [&](const RawEvent& r) {
    record_bytes = r.record.size();
    return false;
  });
  {
    rocksdb::DB* raw = nullptr;
    rocksdb::Options ro;
    ro.create_if_missing = true;
    if (!rocksdb::DB::Open(ro, dir + "/raw", &raw).ok()) return 1;
    const std::string value(record_bytes, 'x');
    t0 = BenchClock::now();
    for (uint64_t done = 0; done < n;) {
      rocksdb::WriteBatch b;
      for (uint64_t k = 0; k < per_append && done < n; ++k, ++done) {
        char key[32];
        std::snprintf(key, sizeof key, "%016llu", (unsigned long long)done);
        b.Put(key, value);
      }
      if (!raw->Write(rocksdb::WriteOptions(), &b).ok()) return 1;
    }
    const double raw_s = Seconds(t0);
    std::printf("raw_rocksdb_put events=%llu value_bytes=%llu rate=%.0f events/s "
                "(ledger with tree = %.0f%% of it)\n",
                (unsigned long long)n, (unsigned long long)record_bytes, n / raw_s,
                100.0 * raw_s / append_s);
    delete raw;
  }

  // 3. Inclusion proofs.
  std::mt19937_64 rng(42);
  const uint64_t proofs = std::min<uint64_t>(n, 100000);
  std::vector<InclusionProof> made;
  made.reserve(proofs);
  t0 = BenchClock::now();
  for (uint64_t i = 0; i < proofs; ++i) {
    auto p = ledger.ProveInclusion(1 + rng() % n, n);
    if (!p.ok()) return 1;
    made.push_back(std::move(p).value());
  }
  std::printf("inclusion_prove proofs=%llu rate=%.0f proofs/s\n", (unsigned long long)proofs,
              proofs / Seconds(t0));
  t0 = BenchClock::now();
  for (const InclusionProof& p : made)
    if (!merkle::VerifyInclusion(p).ok()) return 1;
  std::printf("inclusion_verify proofs=%llu rate=%.0f proofs/s\n", (unsigned long long)proofs,
              proofs / Seconds(t0));

  // 4. Bundle export of every conversation (a tenant selection), in memory, then verification.
  std::vector<projections::ExportFile> files;
  projections::ExportSelection sel;
  sel.tenant = "bench";
  t0 = BenchClock::now();
  auto summary = projections::Export(ledger, sel, projections::ExportFormat::kBundle,
                                     [&](const std::string& p, std::string_view b) {
                                       files.push_back({p, std::string(b)});
                                       return Status::OK();
                                     });
  if (!summary.ok()) {
    std::fprintf(stderr, "export: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  const double export_s = Seconds(t0);
  std::printf("export_bundle events=%llu conversations=%zu bytes=%llu rate=%.0f events/s\n",
              (unsigned long long)summary->events, summary->conversation_ids.size(),
              (unsigned long long)summary->bytes, summary->events / export_s);
  t0 = BenchClock::now();
  auto zip = projections::ZipFiles(files);
  if (!zip.ok()) return 1;
  std::printf("zip_bundle bytes=%zu rate=%.0f events/s\n", zip->size(),
              summary->events / Seconds(t0));
  t0 = BenchClock::now();
  projections::ExportVerifyReport report = projections::VerifyBundle(files);
  std::printf("verify_bundle ok=%d events=%llu rate=%.0f events/s\n", report.ok(),
              (unsigned long long)report.events, report.events / Seconds(t0));
  opened = Status::IOError("closed");  // close before removing
  std::filesystem::remove_all(dir);
  return report.ok() ? 0 : 1;
}
