// The RocksDB-backed Ledger. Private to ledger/; everything else sees only ledger/ledger.h.
//
// Writes follow LevelDB's writer queue: each Append encodes its events outside any lock, joins
// the queue, and the writer at the front (the leader) takes a group of waiting appends, checks
// them one by one against a per-group overlay of heads, message flags and idempotency keys,
// assigns sequences, and commits the whole group with one RocksDB Write (one fsync in kFsync).
// An append that fails its checks is rolled back to its WriteBatch save point and fails alone.
#pragma once

#include <rocksdb/db.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "codec.h"
#include "keys.h"
#include "keystore.h"
#include "ledger/ledger.h"
#include "merkle_tree.h"
#include "signing.h"

namespace convledger {

// A RocksDB status as a ledger Status (what: the operation, for the message).
Status FromRocksStatus(const rocksdb::Status& s, const std::string& what);

// Calls projection.Apply, turning an exception into Status::Corruption (projection_failed).
Status SafeApply(Projection& projection, const Event& event, StateStore& store);

class LedgerImpl final : public Ledger {
 public:
  static Result<std::unique_ptr<Ledger>> Open(const std::string& dir, const Options& options);
  ~LedgerImpl() override;

  Result<std::vector<AppendResult>> Append(std::vector<Event> events,
                                           const AppendOptions& options) override;
  Result<std::vector<Event>> ReadGlobal(uint64_t after, const ReadOptions& options) override;
  Result<std::vector<Event>> ReadConversation(std::string_view conversation_id, uint64_t after,
                                              const ReadOptions& options) override;
  Status ScanGlobal(uint64_t after, const ReadOptions& options,
                    const std::function<bool(const RawEvent&)>& fn) override;
  Status ScanConversation(std::string_view conversation_id, uint64_t after,
                          const ReadOptions& options,
                          const std::function<bool(const RawEvent&)>& fn) override;
  Result<Head> GetHead(std::string_view conversation_id) override;
  uint64_t LastGlobalSeq() const override;
  uint64_t WaitForEvents(uint64_t after, std::chrono::milliseconds timeout) override;
  Status Verify(VerifyReport* report,
                const std::function<void(uint64_t, uint64_t)>& progress) override;
  Result<LedgerStats> Stats() override;
  Result<StoredEvidence> GetEvidence(const Digest& sha256) override;

  Result<std::unique_ptr<StateReader>> NewStateReader(std::string_view projection) override;
  std::vector<ProjectionInfo> Projections() override;
  bool WaitForProjections(std::chrono::milliseconds timeout) override;
  Result<Digest> ProjectionDigest(std::string_view projection) override;
  Result<RebuildReport> RebuildProjection(
      std::string_view projection, bool replace,
      const std::function<void(uint64_t, uint64_t)>& progress) override;

  ContentOpener& Opener() override;
  Result<EraseReport> EraseSubject(const EraseRequest& request) override;
  Result<std::vector<SubjectInfo>> ListSubjects(std::string_view tenant) override;

  Result<Digest> MerkleRoot(uint64_t tree_size) override;
  Result<InclusionProof> ProveInclusion(uint64_t global_seq, uint64_t tree_size) override;
  Result<ConsistencyProof> ProveConsistency(uint64_t first, uint64_t second) override;
  Result<SignedTreeHead> SignTreeHead() override;
  Result<std::string> PublicKeyPem() override;

 private:
  // One projection and its column family.
  struct ProjSlot {
    std::shared_ptr<Projection> projection;
    std::string name;
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    std::atomic<bool> ready{false};
    // Last folded global sequence: owned by the leader while ready, by the catch-up otherwise.
    uint64_t checkpoint = 0;
    // While catching up: events folded so far (ProjectionInfo::progress).
    std::atomic<uint64_t> progress{0};
    std::string error;  // GUARDED_BY(error_mu_): why the last catch-up failed
  };
  // One state being folded outside commit groups (catch-up, rebuild).
  struct FoldTarget {
    Projection* projection = nullptr;
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    uint64_t checkpoint = 0;   // folded and written up to here (advanced as chunks are written)
    ProjSlot* slot = nullptr;  // the slot whose own state this is (progress), or null (scratch)
  };
  using ProgressFn = std::function<void(uint64_t, uint64_t)>;
  // Staged projection writes: key -> value, nullopt = delete.
  using StateOverlay = std::map<std::string, std::optional<std::string>, std::less<>>;
  class GroupStore;
  struct Prepared {
    Event event;
    codec::Encoded encoded;
    // Sealed content: the event's data key (wrapped by the leader under its subject's key) and
    // the subject it was sealed for. Cleansed once written.
    std::optional<codec::SealKey> seal;
    std::string sid;
  };
  struct Writer {
    std::vector<Prepared>* events = nullptr;
    const std::vector<EvidenceDelivery>* evidence = nullptr;
    // A barrier runs alone at the front of the queue, with the leader's exclusivity, instead of
    // appending (used to switch a rebuilt projection to live).
    std::function<void()> barrier;
    bool sync = false;
    bool done = false;
    // Redactions / erasures refused by a legal hold, to be recorded as erasure.refused.
    std::vector<Event> refusals;
    bool purge = false;  // keys were destroyed: flush and compact before returning
    std::string purge_marker;
    // The `keys` column family ranges [first, second) whose old values the purge must compact
    // away (destroyed data and evidence keys, overwritten subject records).
    std::vector<std::pair<std::string, std::string>> purge_ranges;
    Status status;
    std::vector<AppendResult> results;
    std::condition_variable cv;
  };
  struct HeadState {
    bool exists = false;
    bool created = false;  // the conversation starts in this group
    bool dirty = false;
    keys::HeadValue value;
  };
  struct IdemEntry {
    Digest fingerprint{};
    AppendResult result;
  };
  // What one group (or one append inside it) has changed so far, above the database.
  struct Overlay {
    std::unordered_map<std::string, HeadState> heads;       // conversation id ->
    std::unordered_map<std::string, uint8_t> messages;      // message key -> flags
    std::unordered_map<std::string, IdemEntry> idempotency; // idempotency key ->
    std::unordered_map<std::string, bool> dirty_messages;
    std::vector<StateOverlay> state;  // one per projection slot
    std::vector<Digest> leaves;       // hashes of the events appended, in global order
    uint64_t next_global_seq = 0;
    // keys column family writes (nullopt: deleted), and what the commit makes of the cache.
    std::map<std::string, std::optional<std::string>, std::less<>> keys;
    std::vector<std::pair<std::string, crypto::Key>> new_subject_keys;
    std::vector<std::string> forget_subjects;
    bool purge = false;
  };

  LedgerImpl(const std::string& dir, const Options& options);

  // `internal`: the ledger's own appends (subject.erased, erasure.refused are reserved to them).
  Status Prepare(std::vector<Event>& events, std::vector<Prepared>* out, bool allow_empty,
                 bool internal) const;
  Result<std::vector<AppendResult>> AppendImpl(std::vector<Event> events,
                                               const AppendOptions& options, bool internal);
  void PutEvidence(const std::vector<EvidenceDelivery>& evidence, uint64_t seq,
                   rocksdb::WriteBatch* batch);
  void ProcessGroup(const std::vector<Writer*>& group, bool sync);
  Status ApplyWriter(Writer* w, Overlay& group, Overlay& local, rocksdb::WriteBatch* batch,
                     int64_t recorded_at_us);
  Status LoadHead(const std::string& conversation_id, Overlay& group, Overlay& local,
                  HeadState** out);
  Status LoadMessageFlags(const std::string& key, Overlay& group, Overlay& local, uint8_t* out);
  Status CheckAndApplyInvariants(const Event& e, Overlay& group, Overlay& local);
  Status LoadOriginal(uint64_t global_seq, AppendResult* out);

  // erasure.cc
  // Resolves the subject of each event's conversation and seals content (outside the lock).
  Status PrepareSealing(std::vector<Prepared>& out) const;
  // The leader's part: the conversation's subject, subject and data keys, legal holds, key
  // destruction for redaction and erasure, evidence links; written into `batch`.
  Status ApplyKeys(Prepared& p, Writer* w, Overlay& group, Overlay& local,
                   rocksdb::WriteBatch* batch);
  bool KeyGet(const std::string& key, Overlay& group, Overlay& local, std::string* value);
  void KeyPut(const std::string& key, std::string value, Overlay& local, rocksdb::WriteBatch* b);
  void KeyDelete(const std::string& key, Overlay& local, rocksdb::WriteBatch* b);
  // Keys under `prefix` as the group sees them (database, then this group's writes).
  std::vector<std::string> KeyScan(const std::string& prefix, Overlay& group, Overlay& local);
  Status EnsureSubjectKey(const std::string& sid, const std::string& tenant,
                          const std::string& subject, Overlay& group, Overlay& local,
                          rocksdb::WriteBatch* batch, crypto::Key* out);
  void PutSealedEvidence(const EvidenceDelivery& d, const Digest& sha, rocksdb::WriteBatch* batch);
  // Flushes every column family and compacts the keys column family, so destroyed keys leave
  // no copy in the memtable, the WAL or an SST file; then drops `marker` (empty: all markers).
  // `ranges` empty: the whole `keys` column family (the purge at open, which does not know
  // what an interrupted one destroyed).
  Status PurgeDestroyedKeys(const std::string& marker,
                            const std::vector<std::pair<std::string, std::string>>& ranges = {});
  // At a read-write open: finishes a purge a crash interrupted (its marker is still there).
  Status ResumePurge();
  void MarkPurge(Writer* w, Overlay& local, rocksdb::WriteBatch* batch);
  // Appends the erasure.refused events of a writer refused by a legal hold.
  void RecordRefusals(Writer& w);
  Status HeadFromLog(std::string_view conversation_id, bool* exists, keys::HeadValue* out);
  // Runs `w` through the writer queue; returns once it is done.
  void RunWriter(Writer* w);

  // merkle_ledger.cc
  // Loads the frontier of the stored tree and, in a read-write open, builds the part of the tree
  // the log has and the tree has not (a ledger written before the tree existed).
  Status OpenMerkle();
  // Reads complete subtrees from the merkle column family (at `snap` when given).
  merkle::SubtreeReader MerkleReader(const rocksdb::Snapshot* snap = nullptr);
  // The frontier's size and root, consistent with each other.
  void CurrentTree(uint64_t* size, Digest* root);
  // Checks a requested tree size against the log and the stored tree (0: current).
  Result<uint64_t> ResolveTreeSize(uint64_t tree_size, bool zero_is_current);
  Result<const signing::SigningKey*> Key();

  // projections.cc
  Status OpenProjections();
  void StartCatchUp();
  void CatchUpLoop();
  // Folds the events (target.checkpoint, to] into each target, in one pass over the log in
  // global order, in chunks, each chunk written with its checkpoint. On a fold error *failed is
  // the index of the target whose fold failed (npos for a storage error); the targets'
  // checkpoints say what was written.
  Status FoldGlobal(std::vector<FoldTarget>& targets, uint64_t to, uint64_t* folded,
                    const ProgressFn& progress, size_t* failed);
  // Folds the events with global_seq <= pin into each target, whose state must be empty and
  // whose projection ConversationLocal(), in one pass over `events` in key order (conversation
  // by conversation, each held in memory; read and decoded once on this thread, folded by each
  // target on a thread of its own), writing each checkpoint only at the end. Finished
  // conversations go into sorted table files that are ingested (SstSink in projections.cc);
  // totals shared by all conversations (Projection::SharedKey) are written at the end. On error
  // the states hold a part of the fold without a checkpoint and must be cleared.
  Status FoldByConversation(std::vector<FoldTarget>& targets, uint64_t pin, uint64_t* folded,
                            const ProgressFn& progress, size_t* failed);
  // Brings projections that are not ready (each state at its slot's checkpoint) up to the log
  // and makes them live. One whose fold fails is left not ready with its error recorded, and the
  // others go on; returns the first error.
  Status BringLive(std::vector<ProjSlot*> group, const ProgressFn& progress);
  void SetSlotError(ProjSlot* slot, const Status& st);
  Status ClearState(rocksdb::ColumnFamilyHandle* cf);
  ProjSlot* FindSlot(std::string_view name);
  // Where a conversation-order fold stages its table files before ingesting them; emptied by a
  // read-write open (a crash may leave files there).
  std::string BulkDir() const { return dir_ + "/bulk"; }
  Status DigestOf(rocksdb::ColumnFamilyHandle* cf, const rocksdb::Snapshot* snap, Digest* out);

  const std::string dir_;
  const Options options_;
  Clock* clock_ = nullptr;
  std::unique_ptr<Clock> owned_clock_;

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* events_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* global_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* idem_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* messages_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* evidence_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* default_cf_ = nullptr;
  // nullptr only in a read-only open of a ledger written before the tree existed.
  rocksdb::ColumnFamilyHandle* merkle_cf_ = nullptr;

  std::mutex mu_;
  std::deque<Writer*> writers_;  // GUARDED_BY(mu_)

  // Owned by the current leader (handed over through mu_).
  uint64_t next_global_seq_ = 1;
  uint64_t conversations_ = 0;
  int64_t last_recorded_us_ = 0;
  Status bg_error_;  // sticky: once a write failed, the state on disk is unknown until reopen
  std::unordered_map<std::string, keys::HeadValue> head_cache_;

  std::vector<std::unique_ptr<ProjSlot>> slots_;
  std::thread catch_up_;
  std::atomic<bool> stopping_{false};
  std::mutex rebuild_mu_;  // one rebuild or catch-up at a time
  std::mutex error_mu_;    // ProjSlot::error

  // The right edge of the committed tree. Written by the leader after its batch is committed,
  // before last_committed_ moves, so a reader never sees a size the tree lacks.
  mutable std::mutex merkle_mu_;
  // Taken around every write of projection state outside commit groups (catch-up, rebuild) and
  // around an append's commit, so ThreadSanitizer sees their order: see projections.cc.
  std::mutex state_write_mu_;
  merkle::Frontier frontier_;  // GUARDED_BY(merkle_mu_)

  std::mutex key_mu_;
  std::unique_ptr<signing::SigningKey> signing_key_;  // GUARDED_BY(key_mu_); loaded on first use

  rocksdb::ColumnFamilyHandle* keys_cf_ = nullptr;
  // Committed conversation -> sid || subject (never changes once written), so an append does not
  // read it from the keys column family twice per event.
  mutable std::mutex subject_cache_mu_;
  mutable std::unordered_map<std::string, std::string> subject_cache_;  // GUARDED_BY(above)
  // The committed conversation's mapping ('c' record value), from the cache or the database.
  bool CommittedConversationSubject(const std::string& conversation_id, std::string* value) const;
  std::unique_ptr<keystore::KeyStore> keystore_;
  std::mutex purge_mu_;

  std::atomic<uint64_t> last_committed_{0};
  std::mutex tail_mu_;
  std::condition_variable tail_cv_;
  bool closing_ = false;  // GUARDED_BY(tail_mu_)
};

}  // namespace convledger
