// Ledger::Verify: one pass over the global index in order, checking every record and rebuilding
// each conversation's chain; then the events column family is cross-checked against the index,
// so an event without an index entry is reported too.
#include <rocksdb/db.h>

#include <unordered_map>
#include <unordered_set>

#include "codec.h"
#include "keys.h"
#include "ledger_impl.h"
#include "merkle_tree.h"

namespace convledger {
namespace {

constexpr size_t kMaxProblems = 1000;

struct ChainState {
  uint64_t conversation_seq = 0;
  Digest hash{};
  uint64_t global_seq = 0;
};

void Problem(VerifyReport* r, std::string what) {
  if (r->problems.size() < kMaxProblems) r->problems.push_back(std::move(what));
}

}  // namespace

Status LedgerImpl::Verify(VerifyReport* report,
                          const std::function<void(uint64_t, uint64_t)>& progress) {
  *report = VerifyReport{};
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  struct Release {
    rocksdb::DB* db;
    const rocksdb::Snapshot* s;
    ~Release() { db->ReleaseSnapshot(s); }
  } release{db_.get(), snap};
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ro.fill_cache = false;

  // Total for progress: the last index key.
  uint64_t total = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, global_cf_));
    it->SeekToLast();
    if (it->Valid() && it->key().size() == 8) total = keys::GetBe64(it->key().data());
  }

  // The Merkle tree: each stored leaf is checked against its event's hash as the walk passes it
  // (a second iterator over level 0, in step with the index: sequential, no point reads), and the
  // root of the walked hashes, built with a streaming frontier, is compared at the end with the
  // root the stored subtrees give (which catches damage to interior nodes).
  merkle::Frontier walked;
  bool walk_ok = true;
  const std::string leaf_upper = merkle::NodeKey(1, 0);
  rocksdb::Slice leaf_upper_slice(leaf_upper);
  std::unique_ptr<rocksdb::Iterator> leaves;
  if (merkle_cf_) {
    rocksdb::ReadOptions lro = ro;
    lro.iterate_upper_bound = &leaf_upper_slice;
    leaves.reset(db_->NewIterator(lro, merkle_cf_));
    leaves->Seek(merkle::NodeKey(0, 0));
  }

  std::unordered_map<std::string, ChainState> chains;
  std::unordered_set<uint64_t> indexed;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, global_cf_));
  uint64_t expect = 1;
  std::string record, buf;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 8) {
      Problem(report, "global index: key of wrong size");
      continue;
    }
    const uint64_t seq = keys::GetBe64(it->key().data());
    if (seq != expect)
      Problem(report, "global_seq " + std::to_string(expect) +
                          (seq > expect ? ": missing (gap up to " + std::to_string(seq - 1) + ")"
                                        : ": index out of order"));
    expect = seq + 1;
    indexed.insert(seq);
    ++report->events_checked;
    report->last_global_seq = seq;
    if (progress && (seq % 10000 == 0)) progress(seq, total);

    std::string_view kconv;
    uint64_t kseq = 0;
    const std::string_view ekey(it->value().data(), it->value().size());
    if (!keys::ParseEventKey(ekey, &kconv, &kseq)) {
      Problem(report, "global_seq " + std::to_string(seq) + ": index entry unreadable");
      continue;
    }
    rocksdb::Status s = db_->Get(ro, events_cf_, it->value(), &record);
    if (s.IsNotFound()) {
      Problem(report, "global_seq " + std::to_string(seq) + ": event missing (conversation " +
                          std::string(kconv) + " seq " + std::to_string(kseq) + ")");
      continue;
    }
    if (!s.ok()) return Status::IOError("verify: " + s.ToString());
    codec::RecordView rv;
    if (Status st = codec::ParseRecord(record, false, &rv); !st.ok()) {
      Problem(report, "global_seq " + std::to_string(seq) + ": undecodable event (" +
                          st.message() + ")");
      continue;
    }
    if (!codec::Decode(record, false).ok())
      Problem(report, "global_seq " + std::to_string(seq) + ": undecodable event body");
    if (rv.global_seq != seq)
      Problem(report, "global_seq " + std::to_string(seq) + ": record says global_seq " +
                          std::to_string(rv.global_seq));
    if (rv.conversation_id != kconv || rv.conversation_seq != kseq)
      Problem(report, "global_seq " + std::to_string(seq) + ": record is not the one its key names");
    if (codec::EventHash(rv.prev_hash, rv.event_bytes) != rv.hash)
      Problem(report, "global_seq " + std::to_string(seq) + ": hash mismatch (bytes altered)");
    const Digest leaf = merkle::LeafHash(rv.hash);
    if (walk_ok && seq == walked.size() + 1)
      walked.Append(leaf);
    else
      walk_ok = false;
    if (leaves) {
      const std::string want = merkle::NodeKey(0, seq - 1);
      while (leaves->Valid() && leaves->key().compare(want) < 0) leaves->Next();
      if (!leaves->Valid() || leaves->key() != rocksdb::Slice(want))
        Problem(report, "global_seq " + std::to_string(seq) + ": no Merkle leaf");
      else if (leaves->value() !=
               rocksdb::Slice(reinterpret_cast<const char*>(leaf.data()), leaf.size()))
        Problem(report, "global_seq " + std::to_string(seq) +
                            ": Merkle leaf does not match the event hash");
    }
    ChainState& c = chains[std::string(rv.conversation_id)];
    if (rv.conversation_seq != c.conversation_seq + 1)
      Problem(report, "global_seq " + std::to_string(seq) + ": conversation " +
                          std::string(rv.conversation_id) + " jumps from seq " +
                          std::to_string(c.conversation_seq) + " to " +
                          std::to_string(rv.conversation_seq));
    if (rv.prev_hash != c.hash)
      Problem(report, "global_seq " + std::to_string(seq) + ": chain broken in conversation " +
                          std::string(rv.conversation_id) + " (prev_hash is not the hash of seq " +
                          std::to_string(c.conversation_seq) + ")");
    c.conversation_seq = rv.conversation_seq;
    c.hash = rv.hash;
    c.global_seq = seq;
  }
  if (!it->status().ok()) return Status::IOError("verify: " + it->status().ToString());
  if (leaves && !leaves->status().ok())
    return Status::IOError("verify: " + leaves->status().ToString());
  if (progress) progress(report->last_global_seq, total);

  if (!merkle_cf_) {
    if (report->events_checked > 0)
      Problem(report, "merkle: this ledger has no Merkle tree yet (a read-write open builds it)");
  } else if (walk_ok && walked.size() > 0) {
    Digest stored{};
    Status st = merkle::RootAt(walked.size(), MerkleReader(snap), &stored);
    if (!st.ok())
      Problem(report, "merkle: root of tree size " + std::to_string(walked.size()) +
                          " unreadable (" + st.message() + ")");
    else if (stored != walked.Root())
      Problem(report, "merkle: stored tree of size " + std::to_string(walked.size()) +
                          " has root " + HexDigest(stored) +
                          " but the log's event hashes give " + HexDigest(walked.Root()));
  }
  report->conversations = chains.size();

  // The commit marker: the index must reach the last committed sequence.
  {
    std::string v;
    if (db_->Get(ro, default_cf_, keys::kLastGlobalSeqKey, &v).ok() && v.size() == 8) {
      const uint64_t marker = keys::GetBe64(v.data());
      if (marker > report->last_global_seq)
        Problem(report, "global_seq " + std::to_string(report->last_global_seq + 1) +
                            (marker > report->last_global_seq + 1
                                 ? " to " + std::to_string(marker)
                                 : std::string()) +
                            ": committed but missing from the index");
    }
  }

  // Every stored event must be indexed.
  uint64_t stored = 0;
  std::unique_ptr<rocksdb::Iterator> ev(db_->NewIterator(ro, events_cf_));
  for (ev->SeekToFirst(); ev->Valid(); ev->Next()) {
    ++stored;
    std::string_view kconv;
    uint64_t kseq = 0;
    const std::string_view key(ev->key().data(), ev->key().size());
    if (!keys::ParseEventKey(key, &kconv, &kseq)) {
      Problem(report, "events: malformed key");
      continue;
    }
    buf.assign(ev->value().data(), ev->value().size());
    codec::RecordView rv;
    if (!codec::ParseRecord(buf, false, &rv).ok()) continue;  // reported above if indexed
    if (!indexed.count(rv.global_seq))
      Problem(report, "global_seq " + std::to_string(rv.global_seq) +
                          ": stored but not in the index (conversation " + std::string(kconv) +
                          " seq " + std::to_string(kseq) + ")");
  }
  if (!ev->status().ok()) return Status::IOError("verify: " + ev->status().ToString());
  if (stored != report->events_checked)
    Problem(report, "events: " + std::to_string(stored) + " stored but " +
                        std::to_string(report->events_checked) + " indexed");
  {
    std::string v;
    if (db_->Get(ro, default_cf_, keys::kConversationsKey, &v).ok() && v.size() == 8 &&
        keys::GetBe64(v.data()) != chains.size())
      Problem(report, "conversations: counter says " + std::to_string(keys::GetBe64(v.data())) +
                          " but the log has " + std::to_string(chains.size()));
  }

  return Status::OK();
}

}  // namespace convledger
