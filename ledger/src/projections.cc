// The projection runner inside the ledger: opening projection state, catching up a projection
// that is behind the log (new, or a new fold version) in the background, readers pinned to a
// snapshot, state digests, and rebuild-and-compare.
//
// Catch-up folds the log in chunks without blocking appends (the projection is skipped by commit
// groups meanwhile and reads of it answer Busy), then finishes with a barrier in the writer
// queue: with the leader's exclusivity it folds the last few events and marks the projection
// ready, so from the next group on it is folded in the same WriteBatch as the events.
#include <openssl/evp.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "codec.h"
#include "keys.h"
#include "ledger_impl.h"

namespace convledger {
namespace {

constexpr uint64_t kFoldChunk = 4096;     // events a catch-up chunk writes in one batch
constexpr uint64_t kBarrierGap = 2048;    // catch up under the barrier once this close

Status FromRocksStatus(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  if (s.IsCorruption()) return Status::Corruption("storage_corruption", what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

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

// A fold outside commit groups (catch-up, rebuild): staged writes over one column family.
class ChunkStore final : public StateStore {
 public:
  ChunkStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) : db_(db), cf_(cf) {}
  Status Get(std::string_view key, std::string* value) override {
    if (auto it = overlay_.find(key); it != overlay_.end()) {
      if (!it->second) return Status::NotFound("not_found", "no such key");
      *value = *it->second;
      return Status::OK();
    }
    rocksdb::PinnableSlice v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_, rocksdb::Slice(key.data(), key.size()), &v);
    if (s.IsNotFound()) return Status::NotFound("not_found", "no such key");
    if (!s.ok()) return FromRocksStatus(s, "reading projection state");
    value->assign(v.data(), v.size());
    return Status::OK();
  }
  void Put(std::string_view key, std::string_view value) override {
    if (Check(key)) overlay_[std::string(key)] = std::string(value);
  }
  void Delete(std::string_view key) override {
    if (Check(key)) overlay_[std::string(key)] = std::nullopt;
  }
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
    overlay_.clear();
    return FromRocksStatus(db_->Write(rocksdb::WriteOptions(), &batch), "writing projection state");
  }
  const Status& status() const { return status_; }

 private:
  bool Check(std::string_view key) {
    if (key.empty() || key.size() > kMaxStateKeyBytes || key[0] == '\0') {
      status_ = Status::InvalidArgument("invalid_state_key",
                                        "projection wrote an empty, reserved or oversized key");
      return false;
    }
    return true;
  }
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  std::map<std::string, std::optional<std::string>, std::less<>> overlay_;
  Status status_;
};

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
  // Drop scratch states a crashed rebuild may have left.
  if (!options_.read_only) {
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

Status LedgerImpl::FoldInto(Projection& projection, rocksdb::ColumnFamilyHandle* cf,
                            uint64_t after, uint64_t to, uint64_t* folded,
                            const std::function<void(uint64_t, uint64_t)>& progress) {
  ChunkStore store(db_.get(), cf);
  uint64_t last = after;
  uint64_t since_flush = 0;
  Status fold_error;
  ReadOptions ro;
  ro.as_of_global_seq = to;
  if (to <= after) return Status::OK();
  Status st = ScanGlobal(after, ro, [&](const RawEvent& raw) {
    auto ev = codec::Decode(raw.record, false);
    if (!ev.ok()) {
      fold_error = ev.status();
      return false;
    }
    if (Status a = SafeApply(projection, *ev, store); !a.ok()) {
      fold_error = a;
      return false;
    }
    if (!store.status().ok()) {
      fold_error = store.status();
      return false;
    }
    last = raw.global_seq;
    if (folded) ++*folded;
    if (++since_flush >= kFoldChunk) {
      since_flush = 0;
      if (Status f = store.Flush(last, projection.Version()); !f.ok()) {
        fold_error = f;
        return false;
      }
      if (progress) progress(last, to);
      if (stopping_.load()) return false;
    }
    return true;
  });
  if (!st.ok()) return st;
  if (!fold_error.ok()) return fold_error;
  if (Status f = store.Flush(last, projection.Version()); !f.ok()) return f;
  if (progress) progress(last, to);
  if (stopping_.load() && last < to) return Status::Busy("ledger closing");
  return Status::OK();
}

void LedgerImpl::CatchUpLoop() {
  std::lock_guard lk(rebuild_mu_);
  for (auto& slot : slots_) {
    if (slot->ready.load()) continue;
    ProjSlot* s = slot.get();
    // Bulk: fold in chunks while appends go on (they skip this projection meanwhile).
    Status result;
    while (!stopping_.load()) {
      const uint64_t tip = last_committed_.load();
      if (tip <= s->checkpoint + kBarrierGap) break;
      result = FoldInto(*s->projection, s->cf, s->checkpoint, tip, nullptr, {});
      if (!result.ok()) break;
      s->checkpoint = tip;
    }
    if (stopping_.load()) return;
    // Finish with the leader's exclusivity: fold the rest and go live.
    if (result.ok()) {
      Writer w;
      w.barrier = [&] {
        const uint64_t tip = next_global_seq_ - 1;
        result = FoldInto(*s->projection, s->cf, s->checkpoint, tip, nullptr, {});
        if (result.ok()) {
          s->checkpoint = tip;
          s->ready.store(true, std::memory_order_release);
        }
      };
      RunWriter(&w);
    }
    if (!result.ok()) return;  // stays not ready; reads answer Busy
  }
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
    std::string v;
    uint32_t version = 0;
    if (s->cf && db_->Get(rocksdb::ReadOptions(), s->cf, keys::kCheckpointKey, &v).ok())
      keys::DecodeCheckpoint(v, &info.checkpoint, &version);
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
    if (Status st = FoldInto(*s->projection, scratch, 0, report.checkpoint, &report.events,
                             progress);
        !st.ok())
      return st;
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
  while (true) {
    const uint64_t tip = last_committed_.load();
    if (tip <= s->checkpoint + kBarrierGap) break;
    if (Status f = FoldInto(*s->projection, s->cf, s->checkpoint, tip, nullptr, progress); !f.ok())
      return f;
    s->checkpoint = tip;
  }
  Writer on;
  on.barrier = [&] {
    const uint64_t tip = next_global_seq_ - 1;
    st = FoldInto(*s->projection, s->cf, s->checkpoint, tip, nullptr, {});
    if (st.ok()) {
      s->checkpoint = tip;
      s->ready.store(true, std::memory_order_release);
    }
  };
  RunWriter(&on);
  if (!st.ok()) return st;
  report.replaced = true;
  return report;
}

}  // namespace convledger
