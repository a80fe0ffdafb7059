// The projection runner inside the ledger: opening projection state, catching up a projection
// that is behind the log (new, or a new fold version) in the background, readers pinned to a
// snapshot, state digests, and rebuild-and-compare.
//
// Catch-up folds the log without blocking appends (the projection is skipped by commit groups
// meanwhile and reads of it answer Busy), then finishes with a barrier in the writer queue: with
// the leader's exclusivity it folds the last few events and marks the projection ready, so from
// the next group on it is folded in the same WriteBatch as the events.
//
// Two ways to fold the bulk of the log, each one pass for every projection that needs it:
//  - conversation order (FoldByConversation), for ConversationLocal() projections starting from
//    an empty state: `events` read in key order (a contiguous scan, conversations clustered) and
//    decoded once, each projection folding on a thread of its own; each conversation's state held
//    in memory and written as sorted table files when the conversation is done, totals shared by
//    all conversations (Projection::SharedKey) held in memory to the end, no state read back from
//    RocksDB; each checkpoint written once at the end (a crash midway leaves a state without
//    checkpoint, which the next open clears and rebuilds);
//  - global order (FoldGlobal), for the others and for what was appended meanwhile: ScanGlobal,
//    chunks written with their checkpoint, state reads served from a bounded in-memory cache.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <openssl/evp.h>
#include <rocksdb/db.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/write_batch.h>

#include "codec.h"
#include "keys.h"
#include "ledger_impl.h"
#include "rocks_status.h"

namespace convledger {

// Projection state is written to RocksDB from several threads while a catch-up runs: the
// global-order fold (in the writer thread) and each fold of a conversation-order pass, rarely (a
// chunk of 4,096 events, a 32 MiB batch, a 256 MiB table file, the end). These writes and
// ingestions are taken one at a time: it costs nothing measurable (RocksDB puts them in one write
// group or blocks writes for an ingestion anyway), and it lets ThreadSanitizer see the order of
// what RocksDB hands between two such calls through its own uninstrumented atomics (a write-group
// leader merging a follower's batch), which it otherwise reports as a race inside RocksDB. An
// append's commit (LedgerImpl::ProcessGroup) takes it too: it meets the catch-up's writes in
// the same write groups while a catch-up runs. The mutex is the ledger's own
// (LedgerImpl::state_write_mu_), handed to the writers below as `write_mu`.
namespace {

// Writes a batch of projection state under the ledger's state-write mutex.
Status WriteState(rocksdb::DB* db, std::mutex* write_mu, rocksdb::WriteBatch* batch) {
  std::lock_guard lk(*write_mu);
  return FromRocksStatus(db->Write(rocksdb::WriteOptions(), batch), "writing projection state");
}

// Writes and clears a batch of projection state; nothing to do when it is empty.
Status WriteAndClear(rocksdb::DB* db, std::mutex* write_mu, rocksdb::WriteBatch* batch) {
  if (batch->Count() == 0) return Status::OK();
  Status st = WriteState(db, write_mu, batch);
  batch->Clear();
  return st;
}

constexpr uint64_t kFoldChunk = 4096;     // events a catch-up chunk writes in one batch
constexpr uint64_t kBarrierGap = 2048;    // catch up under the barrier once this close

// Staged writes of a fold outside commit groups: key -> value, nullopt = delete. Unordered: the
// keys of one conversation share a long prefix, which makes ordered-map compares expensive, and
// a WriteBatch of distinct keys does not care about order.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Staged = std::unordered_map<std::string, std::optional<std::string>, StringHash, std::equal_to<>>;

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) != 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return end;  // empty: no upper bound
}

void PutBe32(std::string* s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A fold outside commit groups (catch-up, rebuild), in global order: staged writes over one
// column family. The column family is the fold's alone meanwhile (its projection is not ready, or
// it is a scratch state), so what it wrote or read is kept in a bounded cache across flushes and
// hot keys (analytics' per-tenant and per-day counters) are not read back from RocksDB per event.
class ChunkStore final : public StateStore {
 public:
  ChunkStore(rocksdb::DB* db, std::mutex* write_mu, rocksdb::ColumnFamilyHandle* cf)
      : db_(db), write_mu_(write_mu), cf_(cf) {}
  Status Get(std::string_view key, std::string* value) override {
    if (auto it = overlay_.find(key); it != overlay_.end()) {
      if (!it->second) return Status::NotFound("not_found", "no such key");
      *value = *it->second;
      return Status::OK();
    }
    if (auto it = cache_.find(key); it != cache_.end()) {
      if (!it->second) return Status::NotFound("not_found", "no such key");
      *value = *it->second;
      return Status::OK();
    }
    rocksdb::PinnableSlice v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_, rocksdb::Slice(key.data(), key.size()), &v);
    if (s.IsNotFound()) {
      Remember(std::string(key), std::nullopt);
      return Status::NotFound("not_found", "no such key");
    }
    if (!s.ok()) return FromRocksStatus(s, "reading projection state");
    value->assign(v.data(), v.size());
    Remember(std::string(key), *value);
    return Status::OK();
  }
  void Put(std::string_view key, std::string_view value) override {
    if (Check(key)) overlay_.insert_or_assign(std::string(key), std::string(value));
  }
  void Delete(std::string_view key) override {
    if (Check(key)) overlay_.insert_or_assign(std::string(key), std::nullopt);
  }
  bool dirty() const { return !overlay_.empty(); }
  Status Flush(uint64_t checkpoint, uint32_t version) {
    rocksdb::WriteBatch batch;
    for (const auto& [k, v] : overlay_) {
      if (v)
        batch.Put(cf_, k, *v).PermitUncheckedError();
      else
        batch.Delete(cf_, k).PermitUncheckedError();
    }
    batch.Put(cf_, keys::kCheckpointKey, keys::EncodeCheckpoint(checkpoint, version))
        .PermitUncheckedError();
    Status st = WriteState(db_, write_mu_, &batch);
    if (st.ok()) {
      for (auto& [k, v] : overlay_) Remember(k, std::move(v));
    } else {
      cache_.clear();
      cache_bytes_ = 0;
    }
    overlay_.clear();
    return st;
  }
  const Status& status() const { return status_; }

 private:
  static constexpr size_t kCacheBytes = 64 << 20;
  void Remember(std::string key, std::optional<std::string> value) {
    if (cache_bytes_ > kCacheBytes) {  // crude but bounded: start over
      cache_.clear();
      cache_bytes_ = 0;
    }
    cache_bytes_ += key.size() + (value ? value->size() : 0) + 64;
    cache_.insert_or_assign(std::move(key), std::move(value));
  }
  bool Check(std::string_view key) {
    if (Status st = keys::CheckStateKey(key); !st.ok()) {
      status_ = std::move(st);
      return false;
    }
    return true;
  }
  rocksdb::DB* db_;
  std::mutex* write_mu_;
  rocksdb::ColumnFamilyHandle* cf_;
  Staged overlay_;
  Staged cache_;
  size_t cache_bytes_ = 0;
  Status status_;
};

// Where a conversation-order fold writes the state of the conversations it has finished: sorted
// table files, ingested into the column family as they fill (no WAL, memtable, flush or
// compaction of that data: about a third of the pass when it went through write batches). The
// fold hands the keys over in ascending order (a conversation's staged writes are sorted, and
// conversations come in the order of their state keys, as they do for the three views).
// A fold whose keys do not sort by conversation (ConversationLocal does not require it) would
// need a file per conversation: at its first key not above the last one, the sink ingests what it
// has and writes the rest through write batches, as before. Files are ingested with move
// semantics from BulkDir() inside the ledger's directory, which a read-write open empties.
class SstSink {
 public:
  SstSink(rocksdb::DB* db, std::mutex* write_mu, rocksdb::ColumnFamilyHandle* cf, std::string dir)
      : db_(db), write_mu_(write_mu), cf_(cf), dir_(std::move(dir)) {}
  SstSink(const SstSink&) = delete;
  SstSink& operator=(const SstSink&) = delete;
  ~SstSink() {
    if (!writer_) return;
    writer_.reset();
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }

  Status Put(std::string_view key, std::string_view value) {
    if (!sorted_ || (writer_ && key <= std::string_view(last_))) {
      if (sorted_) {
        if (Status st = Ingest(); !st.ok()) return st;
        sorted_ = false;
      }
      batch_.Put(cf_, rocksdb::Slice(key.data(), key.size()),
                 rocksdb::Slice(value.data(), value.size()))
          .PermitUncheckedError();
      if (batch_.GetDataSize() >= kBatchBytes) return WriteBatch();
      return Status::OK();
    }
    if (!writer_) {
      if (Status st = Open(); !st.ok()) return st;
    }
    rocksdb::Status s = writer_->Put(rocksdb::Slice(key.data(), key.size()),
                                     rocksdb::Slice(value.data(), value.size()));
    if (!s.ok()) return FromRocksStatus(s, "writing projection state");
    last_.assign(key);
    bytes_ += key.size() + value.size();
    if (bytes_ >= kFileBytes) return Ingest();
    return Status::OK();
  }

  // Finishes the open file, if any, and ingests it (and writes what went to the batch).
  Status Ingest() {
    if (Status st = WriteBatch(); !st.ok()) return st;
    if (!writer_) return Status::OK();
    rocksdb::Status s = writer_->Finish();
    writer_.reset();
    if (s.ok()) {
      rocksdb::IngestExternalFileOptions io;
      io.move_files = true;
      std::lock_guard lk(*write_mu_);
      s = db_->IngestExternalFile(cf_, {path_}, io);
    }
    std::error_code ec;
    std::filesystem::remove(path_, ec);  // gone already when moved
    return FromRocksStatus(s, "ingesting projection state");
  }

 private:
  static constexpr size_t kFileBytes = 256 << 20;
  static constexpr size_t kBatchBytes = 32 << 20;
  Status WriteBatch() { return WriteAndClear(db_, write_mu_, &batch_); }
  Status Open() {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return Status::IOError("creating " + dir_ + ": " + ec.message());
    static std::atomic<uint64_t> counter{0};
    path_ = dir_ + "/" + cf_->GetName() + "-" + std::to_string(counter.fetch_add(1)) + ".sst";
    rocksdb::Options options(db_->GetDBOptions(), db_->GetOptions(cf_));
    options.bottommost_compression = rocksdb::kDisableCompressionOption;
    options.compression = rocksdb::kLZ4Compression;
    writer_ = std::make_unique<rocksdb::SstFileWriter>(rocksdb::EnvOptions(), options, cf_);
    bytes_ = 0;
    last_.clear();
    rocksdb::Status s = writer_->Open(path_);
    if (!s.ok()) writer_.reset();
    return FromRocksStatus(s, "creating " + path_);
  }
  rocksdb::DB* db_;
  std::mutex* write_mu_;
  rocksdb::ColumnFamilyHandle* cf_;
  std::string dir_;
  std::string path_;
  std::unique_ptr<rocksdb::SstFileWriter> writer_;
  std::string last_;
  size_t bytes_ = 0;
  bool sorted_ = true;          // false once a key came out of order: batches from then on
  rocksdb::WriteBatch batch_;
};

// Staged writes of a conversation-order fold from an empty state: one conversation's keys, or
// the totals all conversations share (Projection::SharedKey). They live in memory until they are
// moved out; staging that outgrows the rebuild's limit is written out early ("spilled"), and its
// later reads then fall back to the column family.
class Stage {
 public:
  Stage(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) : db_(db), cf_(cf) {}

  Status Get(std::string_view key, std::string* value) {
    if (auto it = overlay_.find(key); it != overlay_.end()) {
      if (!it->second) return Status::NotFound("not_found", "no such key");
      *value = *it->second;
      return Status::OK();
    }
    if (!spilled_) return Status::NotFound("not_found", "no such key");
    rocksdb::PinnableSlice v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_, rocksdb::Slice(key.data(), key.size()), &v);
    if (s.IsNotFound()) return Status::NotFound("not_found", "no such key");
    if (!s.ok()) return FromRocksStatus(s, "reading projection state");
    value->assign(v.data(), v.size());
    return Status::OK();
  }
  void Put(std::string_view key, std::string_view value) {
    auto it = overlay_.find(key);
    if (it == overlay_.end()) {
      bytes_ += key.size() + value.size();
      overlay_.emplace(std::string(key), std::string(value));
    } else {
      bytes_ += value.size();
      bytes_ -= it->second ? it->second->size() : 0;
      it->second = std::string(value);
    }
  }
  void Delete(std::string_view key) {
    auto it = overlay_.find(key);
    if (!spilled_) {  // nothing of it is stored yet: forget the key
      if (it != overlay_.end()) {
        bytes_ -= it->first.size() + (it->second ? it->second->size() : 0);
        overlay_.erase(it);
      }
      return;
    }
    if (it == overlay_.end()) {
      bytes_ += key.size();
      overlay_.emplace(std::string(key), std::nullopt);
    } else {
      bytes_ -= it->second ? it->second->size() : 0;
      it->second = std::nullopt;
    }
  }
  size_t bytes() const { return bytes_; }
  bool spilled() const { return spilled_; }
  // Done and never spilled: moves the staged writes into `sink` in key order (no deletions among
  // them: a key deleted before anything was stored is simply forgotten).
  Status MoveTo(SstSink* sink) {
    sorted_.clear();
    for (const auto& entry : overlay_)
      if (entry.second) sorted_.push_back(&entry);
    std::sort(sorted_.begin(), sorted_.end(),
              [](const auto* a, const auto* b) { return a->first < b->first; });
    Status st;
    for (const auto* entry : sorted_) {
      st = sink->Put(entry->first, *entry->second);
      if (!st.ok()) break;
    }
    sorted_.clear();
    overlay_.clear();
    bytes_ = 0;
    return st;
  }
  // Moves the staged writes into `batch`. `spill`: the fold goes on with this staging (the caller
  // writes the batch before the next Get); otherwise it is done.
  void MoveTo(rocksdb::WriteBatch* batch, bool spill) {
    for (const auto& [k, v] : overlay_) {
      if (v)
        batch->Put(cf_, k, *v).PermitUncheckedError();
      else
        batch->Delete(cf_, k).PermitUncheckedError();
    }
    overlay_.clear();
    bytes_ = 0;
    spilled_ = spill;
  }

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  Staged overlay_;
  std::vector<const Staged::value_type*> sorted_;
  size_t bytes_ = 0;
  bool spilled_ = false;
};

// The state a conversation-order fold sees: the current conversation's staging, and the totals
// shared by all conversations for the keys the projection says are shared.
class ConvStore final : public StateStore {
 public:
  ConvStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const Projection& projection)
      : projection_(projection), conversation_(db, cf), totals_(db, cf) {}

  Status Get(std::string_view key, std::string* value) override {
    return Route(key).Get(key, value);
  }
  void Put(std::string_view key, std::string_view value) override {
    if (Check(key)) Route(key).Put(key, value);
  }
  void Delete(std::string_view key) override {
    if (Check(key)) Route(key).Delete(key);
  }
  Stage& conversation() { return conversation_; }
  Stage& totals() { return totals_; }
  const Status& status() const { return status_; }

 private:
  Stage& Route(std::string_view key) {
    return projection_.SharedKey(key) ? totals_ : conversation_;
  }
  bool Check(std::string_view key) {
    if (Status st = keys::CheckStateKey(key); !st.ok()) {
      status_ = std::move(st);
      return false;
    }
    return true;
  }
  const Projection& projection_;
  Stage conversation_;
  Stage totals_;
  Status status_;
};

// One target of a conversation-order pass: its fold, the conversation in memory (ConvStore), the
// table files of the finished ones (SstSink) and a write batch for the rest (a spilled
// conversation, the shared totals, the checkpoint). Fed the decoded events in key order.
class ConversationFolder {
 public:
  ConversationFolder(rocksdb::DB* db, std::mutex* write_mu, Projection* projection,
                     rocksdb::ColumnFamilyHandle* cf, std::string bulk_dir, size_t spill_bytes)
      : db_(db), write_mu_(write_mu), projection_(projection), cf_(cf),
        store_(db, cf, *projection), sink_(db, write_mu, cf, std::move(bulk_dir)),
        spill_bytes_(spill_bytes) {}

  Status Fold(const Event& ev) {
    if (ev.conversation_id != current_) {
      if (Status d = ConversationDone(); !d.ok()) return d;
      current_ = ev.conversation_id;
    }
    Status a = SafeApply(*projection_, ev, store_);
    if (a.ok()) a = store_.status();
    if (!a.ok()) return a;
    // Staging over the limit: written out now, its later reads fall back to the column family.
    if (store_.conversation().bytes() > spill_bytes_) {
      if (Status g = sink_.Ingest(); !g.ok()) return g;
      store_.conversation().MoveTo(&batch_, true);
      if (Status w = Write(); !w.ok()) return w;
    }
    if (store_.totals().bytes() > spill_bytes_) {
      store_.totals().MoveTo(&batch_, true);
      if (Status w = Write(); !w.ok()) return w;
    }
    return Status::OK();
  }

  // The log is folded up to `pin`: writes the rest of the state, then the checkpoint.
  Status Finish(uint64_t pin) {
    if (Status d = ConversationDone(); !d.ok()) return d;
    if (Status g = sink_.Ingest(); !g.ok()) return g;
    store_.totals().MoveTo(&batch_, false);
    batch_.Put(cf_, keys::kCheckpointKey, keys::EncodeCheckpoint(pin, projection_->Version()))
        .PermitUncheckedError();
    return Write();
  }

 private:
  static constexpr size_t kBatchBytes = 32 << 20;  // write the batch once it holds this much

  Status ConversationDone() {
    if (store_.conversation().spilled()) {
      store_.conversation().MoveTo(&batch_, false);
    } else if (Status m = store_.conversation().MoveTo(&sink_); !m.ok()) {
      return m;
    }
    if (batch_.GetDataSize() >= kBatchBytes) return Write();
    return Status::OK();
  }
  Status Write() { return WriteAndClear(db_, write_mu_, &batch_); }

  rocksdb::DB* db_;
  std::mutex* write_mu_;
  Projection* projection_;
  rocksdb::ColumnFamilyHandle* cf_;
  ConvStore store_;
  SstSink sink_;
  size_t spill_bytes_;
  rocksdb::WriteBatch batch_;
  std::string current_;
};

// Decoded events from the one reader of a conversation-order pass to each target's thread, in
// batches shared by all of them. Bounded: a slow fold holds the reader back rather than filling
// memory with decoded events.
class Fanout {
 public:
  using Batch = std::shared_ptr<const std::vector<Event>>;
  static constexpr size_t kBatchEvents = 256;
  explicit Fanout(size_t workers) : queues_(workers) {}

  // To every worker; false once stopped.
  bool Push(Batch batch) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] {
      if (stopped_) return true;
      for (const auto& q : queues_)
        if (q.size() >= kDepth) return false;
      return true;
    });
    if (stopped_) return false;
    for (auto& q : queues_) q.push_back(batch);
    cv_.notify_all();
    return true;
  }
  // The next batch for worker `w`; false at the end (closed and drained) or once stopped.
  bool Pop(size_t w, Batch* batch) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return stopped_ || closed_ || !queues_[w].empty(); });
    if (stopped_ || queues_[w].empty()) return false;
    *batch = std::move(queues_[w].front());
    queues_[w].pop_front();
    cv_.notify_all();
    return true;
  }
  // No more batches: the workers finish what is queued.
  void Close() {
    std::lock_guard lk(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // Everyone stops now (a fold or the read failed).
  void Stop() {
    std::lock_guard lk(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  bool stopped() {
    std::lock_guard lk(mu_);
    return stopped_;
  }

 private:
  static constexpr size_t kDepth = 16;  // batches queued per worker
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::deque<Batch>> queues_;
  bool closed_ = false, stopped_ = false;
};

std::string_view AlignedView(const rocksdb::Slice& s, std::string* buf) {
  if (reinterpret_cast<uintptr_t>(s.data()) % 8 == 0) return {s.data(), s.size()};
  buf->assign(s.data(), s.size());
  return *buf;
}

class SnapshotReader final : public StateReader {
 public:
  SnapshotReader(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf)
      : db_(db), cf_(cf), snap_(db->GetSnapshot()) {
    std::string v;
    uint32_t version = 0;
    if (db_->Get(Options(), cf_, keys::kCheckpointKey, &v).ok())
      keys::DecodeCheckpoint(v, &checkpoint_, &version);
  }
  ~SnapshotReader() override { db_->ReleaseSnapshot(snap_); }

  Status Get(std::string_view key, std::string* value) override {
    rocksdb::Status s = db_->Get(Options(), cf_, rocksdb::Slice(key.data(), key.size()), value);
    if (s.IsNotFound()) return Status::NotFound("not_found", "no such key");
    return FromRocksStatus(s, "reading projection state");
  }
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    rocksdb::ReadOptions ro = Options();
    const std::string end = PrefixEnd(prefix);
    rocksdb::Slice end_slice(end);
    if (!end.empty()) ro.iterate_upper_bound = &end_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_));
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
      if (!it->key().empty() && it->key()[0] == '\0') continue;  // reserved
      if (!fn(std::string_view(it->key().data(), it->key().size()),
              std::string_view(it->value().data(), it->value().size())))
        break;
    }
    return FromRocksStatus(it->status(), "scanning projection state");
  }
  uint64_t Checkpoint() const override { return checkpoint_; }

 private:
  rocksdb::ReadOptions Options() const {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap_;
    return ro;
  }
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  const rocksdb::Snapshot* snap_;
  uint64_t checkpoint_ = 0;
};

}  // namespace

Status SafeApply(Projection& projection, const Event& event, StateStore& store) {
  // No exception may cross into the ledger: a throwing fold would leave the writer queue stuck.
  try {
    return projection.Apply(event, store);
  } catch (const std::exception& e) {
    return Status::Corruption("projection_failed", "projection " + std::string(projection.Name()) +
                                                       " threw on global_seq " +
                                                       std::to_string(event.global_seq) + ": " +
                                                       e.what());
  } catch (...) {
    return Status::Corruption("projection_failed",
                              "projection " + std::string(projection.Name()) + " threw");
  }
}

LedgerImpl::ProjSlot* LedgerImpl::FindSlot(std::string_view name) {
  for (auto& s : slots_)
    if (s->name == name) return s.get();
  return nullptr;
}

Status LedgerImpl::ClearState(rocksdb::ColumnFamilyHandle* cf) {
  // Every key is shorter than kMaxStateKeyBytes + 1 bytes of 0xff (and the reserved keys start
  // with 0x00), so one range deletion clears the state.
  const std::string end(kMaxStateKeyBytes + 1, '\xff');
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocksStatus(db_->DeleteRange(wo, cf, "", end), "clearing projection state");
}

Status LedgerImpl::OpenProjections() {
  const uint64_t last = last_committed_.load();
  // Drop scratch states and table files a crashed rebuild may have left.
  if (!options_.read_only) {
    std::error_code ec;
    std::filesystem::remove_all(BulkDir(), ec);
    for (size_t i = 5; i < handles_.size(); ++i) {
      const std::string& n = handles_[i]->GetName();
      if (n.rfind("proj.", 0) == 0 && n.size() > 8 && n.substr(n.size() - 8) == ".rebuild")
        db_->DropColumnFamily(handles_[i]).PermitUncheckedError();
    }
  }
  for (auto& slot : slots_) {
    if (!slot->cf) continue;  // read-only and never created: stays unavailable
    std::string v;
    uint64_t seq = 0;
    uint32_t version = 0;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), slot->cf, keys::kCheckpointKey, &v);
    bool have = s.ok() && keys::DecodeCheckpoint(v, &seq, &version);
    if (!s.ok() && !s.IsNotFound()) return FromRocksStatus(s, "reading projection checkpoint");
    if (have && version == slot->projection->Version() && seq <= last) {
      slot->checkpoint = seq;
    } else {
      bool empty = true;
      if (!have) {
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), slot->cf));
        it->SeekToFirst();
        empty = !it->Valid();
      }
      if (options_.read_only) {
        // Cannot rebuild here: the projection stays unavailable (reads answer Busy) and a
        // read-write open will rebuild it.
        slot->checkpoint = have ? seq : 0;
        if (!have || version != slot->projection->Version()) slot->checkpoint = UINT64_MAX;
        continue;
      }
      if (!empty || have) {
        if (Status st = ClearState(slot->cf); !st.ok()) return st;
      }
      slot->checkpoint = 0;
    }
    if (slot->checkpoint == last) slot->ready.store(true);
  }
  return Status::OK();
}

void LedgerImpl::StartCatchUp() {
  if (options_.read_only) return;
  bool behind = false;
  for (auto& s : slots_) behind |= !s->ready.load();
  if (behind) catch_up_ = std::thread([this] { CatchUpLoop(); });
}

Status LedgerImpl::FoldGlobal(std::vector<FoldTarget>& targets, uint64_t to, uint64_t* folded,
                              const ProgressFn& progress, size_t* failed) {
  *failed = std::string::npos;
  uint64_t after = UINT64_MAX;
  for (const FoldTarget& t : targets) after = std::min(after, t.checkpoint);
  if (targets.empty() || to <= after) return Status::OK();
  std::vector<std::unique_ptr<ChunkStore>> stores;
  std::vector<uint64_t> last;
  for (const FoldTarget& t : targets) {
    stores.push_back(std::make_unique<ChunkStore>(db_.get(), &state_write_mu_, t.cf));
    last.push_back(t.checkpoint);
  }
  auto flush = [&](bool final) -> Status {
    for (size_t i = 0; i < targets.size(); ++i) {
      if (last[i] == targets[i].checkpoint && !stores[i]->dirty()) continue;
      if (Status f = stores[i]->Flush(last[i], targets[i].projection->Version()); !f.ok()) return f;
      targets[i].checkpoint = last[i];
      if (targets[i].slot) targets[i].slot->progress.store(last[i], std::memory_order_relaxed);
    }
    (void)final;
    return Status::OK();
  };
  uint64_t since_flush = 0;
  uint64_t seq = after;
  Status fold_error;
  ReadOptions ro;
  ro.as_of_global_seq = to;
  Status st = ScanGlobal(after, ro, [&](const RawEvent& raw) {
    auto ev = codec::Decode(raw.record, false);
    if (!ev.ok()) {
      fold_error = ev.status();
      return false;
    }
    for (size_t i = 0; i < targets.size(); ++i) {
      if (raw.global_seq <= targets[i].checkpoint) continue;
      Status a = SafeApply(*targets[i].projection, *ev, *stores[i]);
      if (a.ok()) a = stores[i]->status();
      if (!a.ok()) {
        fold_error = a;
        *failed = i;
        return false;
      }
      last[i] = raw.global_seq;
    }
    seq = raw.global_seq;
    if (folded) ++*folded;
    if (++since_flush >= kFoldChunk) {
      since_flush = 0;
      if (Status f = flush(false); !f.ok()) {
        fold_error = f;
        return false;
      }
      if (progress) progress(seq, to);
      if (stopping_.load()) return false;
    }
    return true;
  });
  if (!st.ok()) return st;
  if (!fold_error.ok()) return fold_error;
  if (Status f = flush(true); !f.ok()) return f;
  if (progress) progress(seq, to);
  if (stopping_.load() && seq < to) return Status::Busy("ledger closing");
  return Status::OK();
}

Status LedgerImpl::FoldByConversation(std::vector<FoldTarget>& targets, uint64_t pin,
                                      uint64_t* folded, const ProgressFn& progress,
                                      size_t* failed) {
  *failed = std::string::npos;
  if (targets.empty() || pin == 0) return Status::OK();
  std::vector<std::unique_ptr<ConversationFolder>> folders;
  for (const FoldTarget& t : targets)
    folders.push_back(std::make_unique<ConversationFolder>(
        db_.get(), &state_write_mu_, t.projection, t.cf, BulkDir(), options_.rebuild_spill_bytes));
  // This thread reads and decodes the log once; each target folds it on a thread of its own.
  Fanout fanout(targets.size());
  std::vector<Status> results(targets.size());
  std::vector<std::thread> workers;
  for (size_t i = 0; i < targets.size(); ++i) {
    workers.emplace_back([&, i] {
      ProjSlot* slot = targets[i].slot;
      uint64_t done = 0;
      Fanout::Batch batch;
      while (fanout.Pop(i, &batch)) {
        for (const Event& ev : *batch) {
          if (Status st = folders[i]->Fold(ev); !st.ok()) {
            results[i] = st;
            fanout.Stop();
            return;
          }
          if (slot && ++done % kFoldChunk == 0) slot->progress.store(done, std::memory_order_relaxed);
        }
      }
      if (fanout.stopped()) return;
      results[i] = folders[i]->Finish(pin);
      if (!results[i].ok()) fanout.Stop();
    });
  }
  // The events column family in key order: conversation after conversation, each in order.
  // Events are never rewritten, and those up to `pin` are all committed, so no snapshot is needed
  // beyond the iterator's own; later events (global_seq > pin) are skipped.
  auto read = [&]() -> Status {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;  // a bulk pass: keep the cache for the readers of the live views
    ro.readahead_size = 2 << 20;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_cf_));
    std::string buf;
    uint64_t n = 0;
    auto batch = std::make_shared<std::vector<Event>>();
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view value = AlignedView(it->value(), &buf);
      codec::RecordView rv;
      if (Status p = codec::ParseRecord(value, false, &rv); !p.ok()) return p;
      if (rv.global_seq > pin) continue;
      auto ev = codec::Decode(value, false);
      if (!ev.ok()) return ev.status();
      batch->push_back(std::move(*ev));
      if (batch->size() == Fanout::kBatchEvents) {
        if (!fanout.Push(std::move(batch))) return Status::OK();  // a fold failed
        batch = std::make_shared<std::vector<Event>>();
      }
      if (++n % kFoldChunk == 0) {
        if (progress) progress(n, pin);
        if (stopping_.load()) return Status::Busy("ledger closing");
      }
    }
    if (!it->status().ok()) return FromRocksStatus(it->status(), "scanning events");
    if (n != pin)
      return Status::Corruption("gap", "the events column family holds " + std::to_string(n) +
                                           " events up to global_seq " + std::to_string(pin));
    if (!batch->empty()) fanout.Push(std::move(batch));
    return Status::OK();
  };
  Status read_status = read();
  if (read_status.ok())
    fanout.Close();
  else
    fanout.Stop();
  for (auto& w : workers) w.join();
  for (size_t i = 0; i < targets.size(); ++i)
    if (!results[i].ok()) {
      *failed = i;
      return results[i];
    }
  if (!read_status.ok()) return read_status;
  for (FoldTarget& t : targets) {
    t.checkpoint = pin;
    if (t.slot) t.slot->progress.store(pin, std::memory_order_relaxed);
  }
  if (folded) *folded += pin;
  if (progress) progress(pin, pin);
  return Status::OK();
}

void LedgerImpl::SetSlotError(ProjSlot* slot, const Status& st) {
  std::lock_guard lk(error_mu_);
  slot->error = st.ok() ? std::string() : "catch-up of projection " + slot->name + " failed: " + st.ToString();
}

Status LedgerImpl::BringLive(std::vector<ProjSlot*> group, const ProgressFn& progress) {
  Status first;
  auto fail = [&](size_t i, const Status& st) {
    SetSlotError(group[i], st);
    if (first.ok()) first = st;
    group.erase(group.begin() + static_cast<std::ptrdiff_t>(i));
  };
  auto fail_all = [&](const Status& st) {
    while (!group.empty()) fail(0, st);
    return first;
  };
  for (ProjSlot* s : group) {
    SetSlotError(s, Status::OK());
    s->progress.store(s->checkpoint, std::memory_order_relaxed);
  }

  // 1. Conversation-local projections starting from an empty state: one pass over `events` in
  //    key order for all of them, up to the tip of the log as it is now.
  while (!stopping_.load()) {
    std::vector<FoldTarget> local;
    std::vector<size_t> index;
    for (size_t i = 0; i < group.size(); ++i) {
      if (group[i]->checkpoint != 0 || !group[i]->projection->ConversationLocal()) continue;
      local.push_back({group[i]->projection.get(), group[i]->cf, 0, group[i]});
      index.push_back(i);
    }
    const uint64_t pin = last_committed_.load();
    if (local.empty() || pin == 0) break;
    size_t bad = std::string::npos;
    Status st = FoldByConversation(local, pin, nullptr, progress, &bad);
    if (st.ok()) {
      for (size_t i : index) group[i]->checkpoint = pin;
      break;
    }
    if (stopping_.load()) break;
    // The states hold a part of the fold without a checkpoint: clear them and go again without
    // the projection whose fold failed.
    for (const FoldTarget& t : local) {
      if (Status c = ClearState(t.cf); !c.ok()) return fail_all(c);
      t.slot->progress.store(0, std::memory_order_relaxed);
    }
    if (bad == std::string::npos) return fail_all(st);
    fail(index[bad], st);
  }

  // 2. In global order, all of them in one pass, while appends go on (they skip these
  //    projections meanwhile), until close to the tip.
  auto fold_global = [&](uint64_t to) -> Status {
    while (!group.empty()) {
      std::vector<FoldTarget> targets;
      for (ProjSlot* s : group) targets.push_back({s->projection.get(), s->cf, s->checkpoint, s});
      size_t bad = std::string::npos;
      Status st = FoldGlobal(targets, to, nullptr, progress, &bad);
      for (size_t i = 0; i < group.size(); ++i) group[i]->checkpoint = targets[i].checkpoint;
      if (st.ok() || stopping_.load()) return st;
      if (bad == std::string::npos) return fail_all(st);
      fail(bad, st);
    }
    return Status::OK();
  };
  while (!group.empty() && !stopping_.load()) {
    const uint64_t tip = last_committed_.load();
    uint64_t lowest = UINT64_MAX;
    for (ProjSlot* s : group) lowest = std::min(lowest, s->checkpoint);
    if (tip <= lowest + kBarrierGap) break;
    if (Status st = fold_global(tip); !st.ok()) return st;
  }
  if (stopping_.load()) return Status::Busy("ledger closing");
  if (group.empty()) return first;

  // 3. With the leader's exclusivity: fold the rest and go live.
  Status st;
  Writer w;
  w.barrier = [&] {
    st = fold_global(next_global_seq_ - 1);
    if (st.ok())
      for (ProjSlot* s : group) s->ready.store(true, std::memory_order_release);
  };
  RunWriter(&w);
  if (!st.ok()) return st;
  return first;
}

void LedgerImpl::CatchUpLoop() {
  std::lock_guard lk(rebuild_mu_);
  // The conversation-local projections rebuilt from empty together, in one conversation-order
  // pass (one read of the log, each fold on a thread of its own), the others together in one
  // global-order pass beside it; each group goes live as soon as its pass is done. The passes
  // read the log and write different column families: they run side by side (their barriers
  // take turns in the writer queue).
  std::vector<ProjSlot*> local, global;
  for (auto& slot : slots_) {
    if (slot->ready.load()) continue;
    if (slot->checkpoint == 0 && slot->projection->ConversationLocal())
      local.push_back(slot.get());
    else
      global.push_back(slot.get());
  }
  std::thread side;
  if (!global.empty())
    side = std::thread([this, &global] { BringLive(global, {}).PermitUnchecked(); });
  if (!local.empty()) BringLive(local, {}).PermitUnchecked();
  if (side.joinable()) side.join();
  tail_cv_.notify_all();
}

bool LedgerImpl::WaitForProjections(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    bool all = true;
    for (auto& s : slots_) all &= s->ready.load(std::memory_order_acquire);
    if (all) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::vector<ProjectionInfo> LedgerImpl::Projections() {
  std::vector<ProjectionInfo> out;
  for (auto& s : slots_) {
    ProjectionInfo info;
    info.name = s->name;
    info.version = s->projection->Version();
    info.ready = s->ready.load(std::memory_order_acquire);
    info.progress = info.ready ? 0 : s->progress.load(std::memory_order_relaxed);
    {
      std::lock_guard lk(error_mu_);
      info.error = s->error;
    }
    std::string v;
    uint32_t version = 0;
    if (s->cf && db_->Get(rocksdb::ReadOptions(), s->cf, keys::kCheckpointKey, &v).ok())
      keys::DecodeCheckpoint(v, &info.checkpoint, &version);
    if (!info.ready) info.progress = std::max(info.progress, info.checkpoint);
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::unique_ptr<StateReader>> LedgerImpl::NewStateReader(std::string_view projection) {
  ProjSlot* s = FindSlot(projection);
  if (!s)
    return Status::NotFound("projection_not_found",
                            "no projection named " + std::string(projection));
  if (!s->ready.load(std::memory_order_acquire))
    return Status::Busy("projection_rebuilding", "projection " + s->name + " is being rebuilt from the log");
  return std::unique_ptr<StateReader>(new SnapshotReader(db_.get(), s->cf));
}

Status LedgerImpl::DigestOf(rocksdb::ColumnFamilyHandle* cf, const rocksdb::Snapshot* snap,
                            Digest* out) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
  std::string lens;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!it->key().empty() && it->key()[0] == '\0') continue;
    lens.clear();
    PutBe32(&lens, static_cast<uint32_t>(it->key().size()));
    EVP_DigestUpdate(ctx, lens.data(), lens.size());
    EVP_DigestUpdate(ctx, it->key().data(), it->key().size());
    lens.clear();
    PutBe32(&lens, static_cast<uint32_t>(it->value().size()));
    EVP_DigestUpdate(ctx, lens.data(), lens.size());
    EVP_DigestUpdate(ctx, it->value().data(), it->value().size());
  }
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, out->data(), &len);
  EVP_MD_CTX_free(ctx);
  return FromRocksStatus(it->status(), "digesting projection state");
}

Result<Digest> LedgerImpl::ProjectionDigest(std::string_view projection) {
  ProjSlot* s = FindSlot(projection);
  if (!s)
    return Status::NotFound("projection_not_found",
                            "no projection named " + std::string(projection));
  if (!s->ready.load(std::memory_order_acquire))
    return Status::Busy("projection_rebuilding", "projection " + s->name + " is being rebuilt from the log");
  Digest d{};
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  Status st = DigestOf(s->cf, snap, &d);
  db_->ReleaseSnapshot(snap);
  if (!st.ok()) return st;
  return d;
}

Result<RebuildReport> LedgerImpl::RebuildProjection(
    std::string_view projection, bool replace,
    const std::function<void(uint64_t, uint64_t)>& progress) {
  if (options_.read_only) return Status::IOError("the ledger is open read-only");
  std::lock_guard lk(rebuild_mu_);
  ProjSlot* s = FindSlot(projection);
  if (!s)
    return Status::NotFound("projection_not_found",
                            "no projection named " + std::string(projection));
  if (!s->ready.load(std::memory_order_acquire))
    return Status::Busy("projection_rebuilding", "projection " + s->name + " is being rebuilt from the log");
  RebuildReport report;
  report.name = s->name;

  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  struct Release {
    rocksdb::DB* db;
    const rocksdb::Snapshot* s;
    ~Release() { db->ReleaseSnapshot(s); }
  } release{db_.get(), snap};
  {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    std::string v;
    uint32_t version = 0;
    if (db_->Get(ro, s->cf, keys::kCheckpointKey, &v).ok())
      keys::DecodeCheckpoint(v, &report.checkpoint, &version);
  }

  rocksdb::ColumnFamilyHandle* scratch = nullptr;
  rocksdb::Status rs = db_->CreateColumnFamily(rocksdb::ColumnFamilyOptions(),
                                               "proj." + s->name + ".rebuild", &scratch);
  if (!rs.ok()) return FromRocksStatus(rs, "creating a scratch state");
  struct Drop {
    rocksdb::DB* db;
    rocksdb::ColumnFamilyHandle* h;
    ~Drop() {
      db->DropColumnFamily(h).PermitUncheckedError();
      db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
  } drop{db_.get(), scratch};

  if (report.checkpoint > 0) {
    std::vector<FoldTarget> target = {{s->projection.get(), scratch, 0, nullptr}};
    size_t bad = std::string::npos;
    Status st = s->projection->ConversationLocal()
                    ? FoldByConversation(target, report.checkpoint, &report.events, progress, &bad)
                    : FoldGlobal(target, report.checkpoint, &report.events, progress, &bad);
    if (!st.ok()) return st;
  }
  if (Status st = DigestOf(s->cf, snap, &report.live_digest); !st.ok()) return st;
  if (Status st = DigestOf(scratch, nullptr, &report.rebuilt_digest); !st.ok()) return st;
  report.equal = report.live_digest == report.rebuilt_digest;
  if (!report.equal) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    std::unique_ptr<rocksdb::Iterator> a(db_->NewIterator(ro, s->cf));
    std::unique_ptr<rocksdb::Iterator> b(db_->NewIterator(rocksdb::ReadOptions(), scratch));
    a->Seek(rocksdb::Slice("\x01", 1));
    b->Seek(rocksdb::Slice("\x01", 1));
    while (a->Valid() || b->Valid()) {
      if (!a->Valid() || !b->Valid() || a->key() != b->key() || a->value() != b->value()) {
        report.first_difference =
            !a->Valid() ? b->key().ToString() : !b->Valid() ? a->key().ToString()
                                              : (a->key().compare(b->key()) <= 0
                                                     ? a->key().ToString()
                                                     : b->key().ToString());
        break;
      }
      a->Next();
      b->Next();
    }
  }
  if (!replace) return report;

  // Replace: take the projection out of the commit path, clear it, refold, put it back.
  Status st;
  Writer off;
  off.barrier = [&] {
    s->ready.store(false, std::memory_order_release);
    st = ClearState(s->cf);
    s->checkpoint = 0;
  };
  RunWriter(&off);
  if (!st.ok()) return st;
  if (Status f = BringLive({s}, progress); !f.ok()) return f;
  report.replaced = true;
  return report;
}

}  // namespace convledger
