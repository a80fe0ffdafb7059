// Helpers shared by the ledger benchmarks: temporary directories, raw RocksDB baselines with the
// ledger's default settings, realistic events, a record verifier equivalent to the ledger's read
// checks, and a counter of the fsync/fdatasync calls made by the process.
//
// Nothing here is part of convledger; it only uses the public ledger API (ledger/ledger.h), the
// generated FlatBuffers schema (to verify records read by the raw baselines) and RocksDB.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include "ledger/event.h"

namespace convledger::bench {

// Directory under which every benchmark creates its databases. Set once by main.
void SetBaseDir(std::string dir);
const std::string& BaseDir();

// A fresh directory under BaseDir(), removed with its contents on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The number of fsync() + fdatasync() calls made by this process so far (every thread, every
// library: the benchmark binary interposes both functions).
uint64_t SyncCalls();

// RocksDB options for the raw baselines: the settings convledger's ledger opens its database with
// (mirrors LedgerImpl::Open in ledger/src/ledger_impl.cc: 64 MiB LRU block cache shared by every
// column family with index and filter blocks in it, LZ4 with ZSTD at the bottommost level,
// bytes_per_sync 1 MiB, 2 background jobs), so that a ratio measures the ledger's work and not a
// difference in tuning. `point_lookups` adds the bloom filter the ledger gives its point-lookup
// column families (idempotency, heads, messages).
rocksdb::DBOptions LedgerLikeDbOptions();
rocksdb::ColumnFamilyOptions LedgerLikeCfOptions(const std::shared_ptr<rocksdb::Cache>& cache,
                                                 bool point_lookups);

// Opens a raw database with the given column families (besides "default"); handles in the same
// order as `cfs`. Aborts the process on error (a baseline that does not open is a bench bug).
struct RawDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;  // owned; destroyed in ~RawDb
  RawDb() = default;
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  ~RawDb();
};
// Column families named in `point_lookup_cfs` get the ledger's point-lookup options (bloom).
std::unique_ptr<RawDb> OpenRaw(const std::string& dir, const std::vector<std::string>& cfs,
                               const std::vector<std::string>& point_lookup_cfs = {});

// Flushes every memtable of every column family to SST and compacts each column family fully.
void FlushAndCompact(RawDb& raw);

// Opens the RocksDB database under a closed ledger's directory (every column family, with the
// ledger's options as above), flushes and compacts it, closes it. Returns false (with a message)
// when RocksDB refuses to open it.
bool FlushAndCompactClosedDb(const std::string& dir, std::string* error);

// Key encodings of the raw layouts, the same as the ledger's (ledger/src/keys.h): a conversation
// prefix is be16(len) || conversation id; sequences are 8-byte big-endian.
void AppendBigEndian64(std::string* out, uint64_t v);
uint64_t DecodeBigEndian64(std::string_view in);
std::string ConversationPrefix(std::string_view conversation_id);
std::string ConversationKey(std::string_view conversation_id, uint64_t conversation_seq);
std::string GlobalKey(uint64_t global_seq);
// The smallest key greater than every key starting with `prefix` (for iterate_upper_bound).
std::string PrefixSuccessor(std::string prefix);

// A realistic outbound WhatsApp message sent by an agent: ~200 characters of text, a wamid-like
// message id, an idempotency key from the webhook/integration. `thread` and `n` make the ids
// unique; all events have the same encoded size.
Event MakeAgentMessage(std::string conversation_id, int thread, uint64_t n);

// Conversation ids shaped like WhatsApp numbers: "wa:+49151" followed by digits.
std::string ConversationId(int group, int index);

// A deterministic mix of events for the read fixtures: customer and agent messages of varied
// length (20..300 characters), delivery/read receipts from the platform.
class EventMix {
 public:
  explicit EventMix(uint64_t seed) : rng_(seed) {}
  Event Next(const std::string& conversation_id, uint64_t n);

 private:
  std::mt19937_64 rng_;
  // Message ids sent so far per conversation (for receipts).
  std::unordered_map<std::string, std::vector<std::string>> sent_;
};

// The checks a reader of the ledger's records performs: FlatBuffers verification of the Record
// and its nested Event, then (kFull) SHA-256("convledger/event/v1" || prev_hash || event bytes)
// compared with the stored hash. Thread-compatible (one per thread).
class RecordVerifier {
 public:
  enum Mode { kFlatBuffersOnly, kFull };
  explicit RecordVerifier(Mode mode = kFull);
  ~RecordVerifier();
  RecordVerifier(const RecordVerifier&) = delete;
  RecordVerifier& operator=(const RecordVerifier&) = delete;
  bool Verify(std::string_view record);

 private:
  const Mode mode_;
  void* ctx_;  // EVP_MD_CTX
  std::string aligned_;  // copy of a value RocksDB returned at an address not 8-byte aligned
};

}  // namespace convledger::bench
