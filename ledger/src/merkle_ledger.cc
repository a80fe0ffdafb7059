// The Ledger's Merkle tree and signed tree heads: open (and backfill), roots, proofs, signing.
// The tree is written by ProcessGroup (ledger_impl.cc) in the append batch; this file only reads
// it, except for the one-time backfill at open.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstring>
#include <filesystem>

#include "keys.h"
#include "ledger_impl.h"
#include "merkle_tree.h"
#include "rocks_status.h"

namespace convledger {
namespace {

// Leaves added per WriteBatch while backfilling (about 2 puts of 41 bytes each per leaf).
constexpr uint64_t kBackfillBatch = 16384;
// A progress line every this many leaves.
constexpr uint64_t kBackfillLogEvery = 1 << 20;

std::string DefaultKeyPath(const std::string& dir) {
  return (std::filesystem::path(dir) / "keys" / "tree_signing_ed25519.pem").string();
}

Status MerkleError(const rocksdb::Status& s, int level, uint64_t index) {
  const std::string where =
      "merkle subtree (level " + std::to_string(level) + ", index " + std::to_string(index) + ")";
  if (s.IsNotFound()) return Status::Corruption("merkle_node_missing", where + " is missing");
  return Status::IOError("reading " + where + ": " + s.ToString());
}

}  // namespace

merkle::SubtreeReader LedgerImpl::MerkleReader(const rocksdb::Snapshot* snap) {
  return [this, snap](int level, uint64_t index, Digest* out) -> Status {
    if (!merkle_cf_)
      return Status::Busy("merkle_tree_incomplete", "this ledger has no Merkle tree yet");
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    rocksdb::PinnableSlice v;
    rocksdb::Status s = db_->Get(ro, merkle_cf_, merkle::NodeKey(level, index), &v);
    if (!s.ok()) return MerkleError(s, level, index);
    if (v.size() != out->size())
      return Status::Corruption("merkle_node_missing",
                                "merkle subtree (level " + std::to_string(level) + ", index " +
                                    std::to_string(index) + ") is not 32 bytes");
    std::memcpy(out->data(), v.data(), out->size());
    return Status::OK();
  };
}

Status LedgerImpl::OpenMerkle() {
  const uint64_t last = last_committed_.load();
  // How many leaves the stored tree has: the last level-0 key.
  uint64_t stored = 0;
  if (merkle_cf_) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), merkle_cf_));
    it->SeekForPrev(merkle::NodeKey(0, UINT64_MAX));
    int level = 0;
    uint64_t index = 0;
    if (it->Valid() &&
        merkle::ParseNodeKey(std::string_view(it->key().data(), it->key().size()), &level,
                             &index) &&
        level == 0)
      stored = index + 1;
    if (!it->status().ok())
      return Status::IOError("reading the merkle tree: " + it->status().ToString());
  }
  // Leaves past the log can only come from a damaged index tail (the marker wins there, see
  // Open); they are overwritten as the log grows again and `verify` reports the damage.
  uint64_t size = std::min(stored, last);
  merkle::Frontier frontier;
  if (Status st = merkle::Frontier::Load(size, MerkleReader(), &frontier); !st.ok()) {
    if (!st.IsCorruption()) return st;
    // A damaged right edge. The tree is derived from the log alone, so a read-write open
    // rebuilds it (below, from leaf 0); a read-only open serves no proofs (`verify` reports
    // the damage). Opening must not fail: `verify` needs an open ledger to say what is wrong.
    if (options_.info_log)
      options_.info_log("the Merkle tree is damaged (" + st.message() + ")" +
                        (options_.read_only ? "; proofs unavailable until a read-write open"
                                            : "; rebuilding it from the log"));
    size = 0;
    frontier = merkle::Frontier();
  }

  if (size < last && !options_.read_only && options_.merkle_tree) {
    // A ledger written before the tree existed: build it from the log, in order, in batches.
    // Progress is kept per batch, so an interrupted backfill resumes where it stopped.
    if (options_.info_log)
      options_.info_log("building the Merkle tree: " + std::to_string(last - size) +
                        " events from global_seq " + std::to_string(size + 1));
    rocksdb::WriteBatch batch;
    auto flush = [&]() -> Status {
      if (batch.Count() == 0) return Status::OK();
      rocksdb::WriteOptions wo;
      rocksdb::Status s = db_->Write(wo, &batch);
      batch.Clear();
      if (!s.ok()) return IOErrorFromRocks(s, "writing the merkle tree: " + s.ToString());
      return Status::OK();
    };
    auto emit = [&](int level, uint64_t index, const Digest& h) {
      batch
          .Put(merkle_cf_, merkle::NodeKey(level, index),
               rocksdb::Slice(reinterpret_cast<const char*>(h.data()), h.size()))
          .PermitUncheckedError();
    };
    Status write_error;
    ReadOptions ro;
    ro.as_of_global_seq = last;
    Status st = ScanGlobal(size, ro, [&](const RawEvent& raw) {
      frontier.Append(merkle::LeafHash(raw.hash), emit);
      if (frontier.size() % kBackfillBatch == 0) {
        write_error = flush();
        if (!write_error.ok()) return false;
      }
      if (options_.info_log && frontier.size() % kBackfillLogEvery == 0)
        options_.info_log("building the Merkle tree: " + std::to_string(frontier.size()) + "/" +
                          std::to_string(last) + " events");
      return true;
    });
    if (!write_error.ok()) return write_error;
    if (st.ok()) st = flush();
    if (!st.ok() && !st.IsCorruption()) return st;
    if (st.ok() && frontier.size() != last)
      st = Status::Corruption("merkle_backfill_incomplete",
                              "the log ended at " + std::to_string(frontier.size()) +
                                  " events while building the Merkle tree of " +
                                  std::to_string(last));
    if (!st.ok()) {
      // A damaged log (a gap in the index, an unreadable record) must not stop the ledger from
      // opening: `verify` needs it open to say what is wrong. The tree stays as far as it got;
      // appends would extend a tree out of step with the log, so they fail until a reopen.
      if (options_.info_log)
        options_.info_log("the Merkle tree could not be built past " +
                          std::to_string(frontier.size()) + " events: " + st.ToString());
      bg_error_ = Status::Corruption("merkle_backfill_incomplete",
                                     "the Merkle tree covers " + std::to_string(frontier.size()) +
                                         " of " + std::to_string(last) +
                                         " events (the log is damaged; run verify): " +
                                         st.message());
    } else if (options_.info_log) {
      options_.info_log("built the Merkle tree of " + std::to_string(last) + " events");
    }
  }
  {
    std::lock_guard lk(merkle_mu_);
    frontier_ = std::move(frontier);
  }

  // The signing key pair exists from the first read-write open on, so `key public` and
  // `tree-head` work on a read-only open later.
  if (!options_.read_only) {
    auto key = signing::SigningKey::LoadOrCreate(
        options_.signing_key_path.empty() ? DefaultKeyPath(dir_) : options_.signing_key_path,
        true);
    if (!key.ok()) return key.status();
    std::lock_guard lk(key_mu_);
    signing_key_ = std::move(key).value();
  }
  return Status::OK();
}

void LedgerImpl::CurrentTree(uint64_t* size, Digest* root) {
  merkle::Frontier f;
  {
    std::lock_guard lk(merkle_mu_);
    f = frontier_;
  }
  *size = f.size();
  *root = f.Root();
}

Result<uint64_t> LedgerImpl::ResolveTreeSize(uint64_t tree_size, bool zero_is_current) {
  uint64_t tree = 0;
  {
    std::lock_guard lk(merkle_mu_);
    tree = frontier_.size();
  }
  // The frontier moves before last_committed_, so in a read-write open tree >= last always; the
  // log's committed size is the bound, so the events of any size asked for are readable too.
  const uint64_t last = LastGlobalSeq();
  if (tree_size == 0 && zero_is_current) tree_size = last;
  if (tree_size > last)
    return Status::InvalidArgument("tree_size_out_of_range",
                                   "tree size " + std::to_string(tree_size) +
                                       " is beyond the log (" + std::to_string(last) +
                                       " events)");
  if (tree_size > tree)
    return Status::Busy("merkle_tree_incomplete",
                        "the Merkle tree covers " + std::to_string(tree) + " of " +
                            std::to_string(last) +
                            " events; a read-write open of the ledger builds the rest");
  return tree_size;
}

Result<Digest> LedgerImpl::MerkleRoot(uint64_t tree_size) {
  if (tree_size == 0) {
    uint64_t size = 0;
    Digest root{};
    CurrentTree(&size, &root);
    if (size < LastGlobalSeq()) {
      auto checked = ResolveTreeSize(0, true);  // merkle_tree_incomplete
      if (!checked.ok()) return checked.status();
    }
    return root;
  }
  auto size = ResolveTreeSize(tree_size, false);
  if (!size.ok()) return size.status();
  Digest root{};
  if (Status st = merkle::RootAt(*size, MerkleReader(), &root); !st.ok()) return st;
  return root;
}

Result<InclusionProof> LedgerImpl::ProveInclusion(uint64_t global_seq, uint64_t tree_size) {
  auto size = ResolveTreeSize(tree_size, true);
  if (!size.ok()) return size.status();
  if (global_seq == 0 || global_seq > *size)
    return Status::InvalidArgument("seq_out_of_range",
                                   "global_seq " + std::to_string(global_seq) +
                                       " is not in the tree of " + std::to_string(*size) +
                                       " events");
  InclusionProof p;
  p.global_seq = global_seq;
  p.leaf_index = global_seq - 1;
  p.tree_size = *size;
  merkle::SubtreeReader read = MerkleReader();
  if (Status st = read(0, p.leaf_index, &p.leaf_hash); !st.ok()) return st;
  if (Status st = merkle::InclusionPath(p.leaf_index, p.tree_size, read, &p.audit_path); !st.ok())
    return st;
  if (Status st = merkle::RootAt(p.tree_size, read, &p.root_hash); !st.ok()) return st;
  // The event hash comes from the event itself, so the proof ties the stored event (not only the
  // stored leaf) to the root; a leaf that does not match its event is corruption.
  ReadOptions ro;
  ro.as_of_global_seq = global_seq;
  ro.limit = 1;
  bool found = false;
  Status st = ScanGlobal(global_seq - 1, ro, [&](const RawEvent& raw) {
    p.event_hash = raw.hash;
    found = raw.global_seq == global_seq;
    return false;
  });
  if (!st.ok()) return st;
  if (!found)
    return Status::Corruption("missing_event",
                              "global_seq " + std::to_string(global_seq) + " is not in the log");
  if (merkle::LeafHash(p.event_hash) != p.leaf_hash)
    return Status::Corruption("merkle_leaf_mismatch",
                              "global_seq " + std::to_string(global_seq) +
                                  ": the stored Merkle leaf is not the event's hash");
  return p;
}

Result<ConsistencyProof> LedgerImpl::ProveConsistency(uint64_t first, uint64_t second) {
  if (first == 0)
    return Status::InvalidArgument("tree_size_out_of_range",
                                   "first must be at least 1: every tree extends the empty one");
  if (first > second)
    return Status::InvalidArgument("tree_size_out_of_range",
                                   "first (" + std::to_string(first) +
                                       ") is larger than second (" + std::to_string(second) + ")");
  auto size = ResolveTreeSize(second, false);
  if (!size.ok()) return size.status();
  ConsistencyProof p;
  p.first = first;
  p.second = second;
  merkle::SubtreeReader read = MerkleReader();
  if (Status st = merkle::RootAt(first, read, &p.first_root); !st.ok()) return st;
  if (Status st = merkle::RootAt(second, read, &p.second_root); !st.ok()) return st;
  if (Status st = merkle::ConsistencyPath(first, second, read, &p.proof); !st.ok()) return st;
  return p;
}

Result<const signing::SigningKey*> LedgerImpl::Key() {
  std::lock_guard lk(key_mu_);
  if (!signing_key_) {
    auto key = signing::SigningKey::LoadOrCreate(
        options_.signing_key_path.empty() ? DefaultKeyPath(dir_) : options_.signing_key_path,
        false);
    if (!key.ok()) return key.status();
    signing_key_ = std::move(key).value();
  }
  return signing_key_.get();
}

Result<SignedTreeHead> LedgerImpl::SignTreeHead() {
  auto key = Key();
  if (!key.ok()) return key.status();
  SignedTreeHead sth;
  if (LastGlobalSeq() > 0) {
    auto checked = ResolveTreeSize(0, true);  // merkle_tree_incomplete in a read-only open
    if (!checked.ok()) return checked.status();
  }
  CurrentTree(&sth.tree_size, &sth.root_hash);
  sth.timestamp_us = clock_->NowMicros();
  auto sig = (*key)->Sign(merkle::TreeHeadSigningInput(sth.tree_size, sth.root_hash,
                                                       sth.timestamp_us));
  if (!sig.ok()) return sig.status();
  sth.signature = std::move(sig).value();
  return sth;
}

Result<std::string> LedgerImpl::PublicKeyPem() {
  auto key = Key();
  if (!key.ok()) return key.status();
  return (*key)->public_key_pem();
}

}  // namespace convledger
