// convledger's storage core: an append-only, hash-chained event log in one RocksDB database.
//
// Contract
//  - Events are appended, never updated or deleted: this interface has no operation that could.
//  - An Append is all or nothing: every event of the call is in one RocksDB WriteBatch.
//  - An Append returns only once its batch is in the WAL (Durability::kWal) or fsynced
//    (Durability::kFsync). Concurrent appenders are grouped into one write and, in kFsync, one
//    fsync (group commit): the more writers, the more events per fsync.
//  - Global sequences are dense from 1; conversation sequences are dense from 1 per conversation.
//    A reader never sees event N+1 without event N.
//  - Every value read is checked with the FlatBuffers verifier and its hash: corrupt bytes give
//    Status::Corruption, never a crash.
//  - Thread safety: every method may be called concurrently from any thread.
//  - Errors are Status values; see ledger/status.h for codes and stable reasons.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/content.h"
#include "ledger/event.h"
#include "ledger/merkle.h"
#include "ledger/projection.h"
#include "ledger/status.h"

namespace convledger {

enum class Durability {
  kWal,    // acknowledged once the batch is in the WAL (survives a process crash)
  kFsync,  // acknowledged after fsync of the WAL (survives power loss); group commit
};

// Source of the ledger clock (recorded_at). Tests inject a fixed clock.
class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch, UTC.
  virtual int64_t NowMicros() = 0;
};

struct Options {
  // Default: kWal.
  Durability durability = Durability::kWal;
  // Create the database if the directory holds none. Default: true.
  bool create_if_missing = true;
  // Open without write access (appends fail with io_error). Default: false.
  bool read_only = false;
  // RocksDB block cache shared by every column family. Default: 64 MiB.
  size_t block_cache_bytes = 64 << 20;
  // Memory all column families' memtables may use together before RocksDB flushes the largest.
  // Default: 64 MiB.
  size_t write_buffer_budget_bytes = 64 << 20;
  // Live write-ahead log beyond which the column families holding the oldest WAL file are
  // flushed so it can be deleted. Default: 128 MiB.
  uint64_t max_wal_bytes = 128 << 20;
  // Memory a conversation-order rebuild of a projection (see ledger/projection.h) may hold for
  // one conversation's state, and again for the totals shared by all conversations, before it
  // writes them out early and reads them back from RocksDB from then on. Default: 64 MiB.
  size_t rebuild_spill_bytes = 64 << 20;
  // Ledger clock; not owned, must outlive the ledger. Default: nullptr (system clock).
  Clock* clock = nullptr;
  // Most events one Append may carry. Default: 10000.
  size_t max_events_per_append = 10000;
  // Projections folded inside every append (see ledger/projection.h). A projection whose stored
  // version or checkpoint does not match is rebuilt from the log by a background thread at
  // open; the others stay available. Default: none.
  std::vector<std::shared_ptr<Projection>> projections;
  // The Ed25519 key that signs tree heads (PKCS#8 PEM). Created there, mode 0600, on the first
  // read-write open when missing; a read-only open only reads it. Default: empty
  // (<dir>/keys/tree_signing_ed25519.pem, the keys/ directory mode 0700).
  std::string signing_key_path;
  // Maintain the Merkle tree in every append. Off exists for one purpose: measuring what the
  // tree costs in the same run (bench/). A ledger written with it off serves no proofs for the
  // events appended meanwhile (busy/merkle_tree_incomplete) until the next open with it on,
  // which builds the missing part of the tree from the log. Default: true.
  bool merkle_tree = true;
  // Encrypt message content (text, media, template parameters, note text) and stored webhook
  // bodies with per-message data keys wrapped by per-subject keys (see ledger/content.h). Off
  // exists for measuring what encryption costs (bench/) and stores new content in plaintext.
  // Default: true.
  bool encrypt_content = true;
  // The master key that wraps every subject key: exactly 32 bytes. Empty: the key file below.
  // Never logged. Default: empty.
  std::string master_key;
  // File holding the master key (64 hex characters) when master_key is empty. Created, mode
  // 0600, on the first read-write open when missing. A key that does not match the one the
  // ledger was created with fails Open: Corruption (wrong_master_key). Default: empty
  // (<dir>/keys/master.key).
  std::string master_key_path;
  // Called with a line of progress or notice from long work inside Open (building the Merkle
  // tree of a ledger written before it existed). Default: empty (silent).
  std::function<void(const std::string&)> info_log;
};

// One delivery of raw input (a webhook body exactly as received) that an append came from.
// Kept content-addressed by the SHA-256 of `body`, in the same write as the events, so a dispute
// can go back to what a platform actually delivered; events link to it through Event::evidence.
struct EvidenceDelivery {
  std::string body;             // the exact bytes received
  std::string source;           // e.g. "whatsapp", "messenger"
  int64_t received_at_us = 0;   // when the server received it
  bool signature_valid = false; // result of the sender's signature check
};

struct AppendOptions {
  // Overrides Options::durability for this call when set. Default: unset.
  std::optional<Durability> durability;
  // Raw input this append came from, stored with its events (all or nothing). A body already
  // stored is not stored twice; every delivery of it is recorded. An append may carry evidence
  // and no events (a redelivery whose events are all duplicates). Default: none.
  std::vector<EvidenceDelivery> evidence;
};

// A stored evidence body and every recorded delivery of it, oldest first.
struct StoredEvidence {
  Digest sha256{};
  std::string body;  // empty when body_access is kErased
  // kPlain (stored before encryption), kOpened (decrypted), or kErased: its key was destroyed by
  // the redaction or erasure of what it carried; the deliveries and the digest remain.
  ContentAccess body_access = ContentAccess::kPlain;
  struct Delivery {
    std::string source;
    int64_t received_at_us = 0;
    bool signature_valid = false;
  };
  std::vector<Delivery> deliveries;
};

// A GDPR erasure of one data subject (see Ledger::EraseSubject).
struct EraseRequest {
  std::string tenant;           // empty: "default"
  std::string subject;
  std::string reason;           // required: why (recorded in the event)
  Actor actor;                  // who asked (agent/system/...; recorded)
  bool override_hold = false;   // erase despite a legal hold (recorded)
  int64_t occurred_at_us = 0;   // 0: now
};

struct EraseReport {
  std::string tenant;
  std::string subject;
  std::vector<std::string> conversations;  // every conversation of the subject
  uint64_t keys_destroyed = 0;             // subject key + message data keys + evidence keys
  uint64_t first_global_seq = 0;           // the subject.erased events appended (one per
  uint64_t last_global_seq = 0;            // conversation), or erasure.refused when refused
  bool already_erased = false;             // nothing to do: erased before (nothing appended)
};

// One data subject as the keys column family knows it.
struct SubjectInfo {
  std::string tenant;
  std::string subject;
  std::vector<std::string> conversations;
  int64_t last_occurred_us = 0;   // the latest occurred_at over its conversations
  bool held = false;              // a legal hold covers the subject or one of its conversations
  bool erased = false;
};

// The outcome of one appended event.
struct AppendResult {
  uint64_t global_seq = 0;
  uint64_t conversation_seq = 0;
  int64_t recorded_at_us = 0;
  EventId event_id{};
  Digest hash{};
  Digest prev_hash{};
  // True when the idempotency key was seen before with the same content: this is the original
  // event's result and nothing was appended for it.
  bool duplicate = false;
};

struct ReadOptions {
  // Read as of this global sequence: events after it are invisible. 0: the latest committed.
  // Because the log is append-only, a read pinned to a sequence is reproducible.
  uint64_t as_of_global_seq = 0;
  // Most events to return. 0: no limit (reads of a whole conversation).
  size_t limit = 0;
  // Recompute every record's SHA-256 and compare it with the stored hash, so a record altered
  // underneath the ledger is refused (Corruption, reason hash_mismatch). The FlatBuffers
  // verifier runs on every read regardless, and RocksDB's block checksums catch bit rot; the
  // hash costs about as much as the read itself, so it is opt-in: Verify and exports set it.
  // Default: false.
  bool verify_hashes = false;
  // ReadGlobal / ReadConversation: open sealed content with the keys that still exist
  // (OpenEvent), so events come back with their plaintext, or marked redacted / erased. Off:
  // events keep their sealed envelope (what projections fold). The Scan* forms never open.
  // Default: true.
  bool open_content = true;
};

// The head of a conversation.
struct Head {
  uint64_t conversation_seq = 0;  // last conversation sequence
  Digest hash{};                  // hash of that event
  uint64_t global_seq = 0;        // its global sequence
};

// A stored record, verified, without decoding into an Event (zero-copy scans).
struct RawEvent {
  uint64_t global_seq = 0;
  uint64_t conversation_seq = 0;
  std::string_view record;  // the stored Record bytes; valid only during the callback
  Digest hash{};
  std::string_view tenant;  // the event's tenant, from the record; valid only during the callback
};

struct VerifyReport {
  uint64_t events_checked = 0;
  uint64_t conversations = 0;
  uint64_t last_global_seq = 0;
  // One line per problem, e.g. "global_seq 17: hash mismatch". Capped at 1000.
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

struct LedgerStats {
  uint64_t last_global_seq = 0;
  uint64_t conversations = 0;    // exact
  uint64_t live_data_bytes = 0;  // RocksDB's estimate for all column families
  uint64_t events_sst_bytes = 0;
};

class Ledger {
 public:
  // Opens (creating if allowed) the ledger in `dir`. NotFound (reason ledger_not_found) when
  // there is none and it may not be created (read_only or !create_if_missing).
  static Result<std::unique_ptr<Ledger>> Open(const std::string& dir, const Options& options);

  Ledger() = default;
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;
  virtual ~Ledger() = default;

  // Appends `events` atomically, in order. Checks per event: shape (required fields of its
  // type), expected_version (against the head including earlier events of this call),
  // idempotency key (a repeat with the same content returns the original result, marked
  // duplicate, and appends nothing for it; other content: kIdempotencyConflict), and for
  // commands (agent, bot, system) the invariants: the named message was sent in this
  // conversation, a message id is sent once, no edit of a deleted or redacted message, a
  // correction's replacement exists. Observations (customer, platform) are recorded even out of
  // order. On any error nothing of the call is appended; the message names the failing index.
  // Invariant reasons: message_not_found, message_already_sent (any actor: a message id is sent
  // once per conversation), direction_mismatch (an agent or bot sending inbound, a customer
  // outbound), not_own_message (a command editing, deleting for everyone or correcting an
  // inbound message), message_deleted, message_redacted, replacement_not_found, tenant_mismatch
  // (a conversation belongs to the tenant of its first event).
  virtual Result<std::vector<AppendResult>> Append(std::vector<Event> events,
                                                   const AppendOptions& options = {}) = 0;

  // Events with global_seq > after, in global order.
  virtual Result<std::vector<Event>> ReadGlobal(uint64_t after, const ReadOptions& options = {}) = 0;

  // One conversation in order, events with conversation_seq > after. One contiguous range scan.
  virtual Result<std::vector<Event>> ReadConversation(std::string_view conversation_id,
                                                      uint64_t after = 0,
                                                      const ReadOptions& options = {}) = 0;

  // Zero-copy forms of the two reads: `fn` sees each verified record; returning false stops.
  virtual Status ScanGlobal(uint64_t after, const ReadOptions& options,
                            const std::function<bool(const RawEvent&)>& fn) = 0;
  virtual Status ScanConversation(std::string_view conversation_id, uint64_t after,
                                  const ReadOptions& options,
                                  const std::function<bool(const RawEvent&)>& fn) = 0;

  // The head of a conversation; NotFound (reason conversation_not_found) if it has no event.
  virtual Result<Head> GetHead(std::string_view conversation_id) = 0;

  // The last committed global sequence (0 for an empty ledger).
  virtual uint64_t LastGlobalSeq() const = 0;

  // Blocks until an event after `after` is committed or `timeout` passes; returns the last
  // committed global sequence (== after on timeout, or larger). Closing the ledger wakes waiters.
  virtual uint64_t WaitForEvents(uint64_t after, std::chrono::milliseconds timeout) = 0;

  // Walks the whole log in global order and checks every record: decodable, hash, per-
  // conversation chain (prev_hash, dense conversation_seq), dense global sequence, index and head
  // consistency, and that the stored Merkle tree holds every event hash as its leaf and has the
  // root recomputed from the walked hashes. `progress(done, total)` is called now and then when
  // set.
  virtual Status Verify(VerifyReport* report,
                        const std::function<void(uint64_t, uint64_t)>& progress = {}) = 0;

  virtual Result<LedgerStats> Stats() = 0;

  // The evidence body with this SHA-256 and its deliveries; NotFound (reason evidence_not_found).
  virtual Result<StoredEvidence> GetEvidence(const Digest& sha256) = 0;
  // ---- erasure (crypto-shredding; see ledger/content.h) ----
  // Opens sealed content with the keys that still exist. Valid as long as the ledger.
  virtual ContentOpener& Opener() = 0;
  // Erases a subject: appends one subject.erased event to each of its conversations and
  // destroys its key, its messages' data keys and the keys of the webhook bodies that carried
  // them, in one WriteBatch; then flushes and compacts so no copy of the keys stays in any file
  // under the data directory (memtable, WAL, SST) when this returns. Refused while a legal hold
  // covers the subject or one of its conversations, unless override_hold: InvariantViolation
  // (legal_hold_active, naming the case), and an erasure.refused event is appended so the
  // request is on record. NotFound (subject_not_found) for a subject with no conversation.
  // Message redaction (message.redacted through Append) follows the same rules for one
  // message's keys.
  virtual Result<EraseReport> EraseSubject(const EraseRequest& request) = 0;
  // Every subject of `tenant` (empty: every tenant), ordered by tenant then subject.
  virtual Result<std::vector<SubjectInfo>> ListSubjects(std::string_view tenant = {}) = 0;

  // ---- Merkle tree and signed tree heads (see ledger/merkle.h for hashing and formats) ----
  // Every event is a leaf of one RFC 9162 tree (leaf i = global_seq i + 1), stored in the same
  // batch as the event, so any committed size has a root and proofs. Errors shared by these:
  //   invalid_argument/tree_size_out_of_range  a size beyond LastGlobalSeq()
  //   invalid_argument/seq_out_of_range        global_seq 0 or beyond the tree size
  //   busy/merkle_tree_incomplete              a read-only open of a ledger whose tree has not
  //                                            been built yet (any read-write open builds it)
  //   corruption/merkle_node_missing           a stored subtree is missing or malformed

  // The root of the tree of the first `tree_size` events; 0: the current size (LastGlobalSeq()).
  virtual Result<Digest> MerkleRoot(uint64_t tree_size = 0) = 0;

  // The audit path of the event `global_seq` in the tree of `tree_size` events (0: current).
  // O(log n) reads.
  virtual Result<InclusionProof> ProveInclusion(uint64_t global_seq, uint64_t tree_size = 0) = 0;

  // Proof that the tree of `second` events extends the tree of `first` (1 <= first <= second <=
  // LastGlobalSeq(); 0 is refused like any size out of range: nothing is proved about an empty
  // tree). O(log n) reads.
  virtual Result<ConsistencyProof> ProveConsistency(uint64_t first, uint64_t second) = 0;

  // Signs {current size, its root, now} with the tree signing key. NotFound
  // (signing_key_not_found) in a read-only open of a ledger that has no key yet.
  virtual Result<SignedTreeHead> SignTreeHead() = 0;

  // The tree signing key's public half, PEM "PUBLIC KEY". Same errors as SignTreeHead.
  virtual Result<std::string> PublicKeyPem() = 0;

  // ---- projections ----
  // A reader of one projection's committed state, pinned to a snapshot: every Get and Scan
  // through it sees the same moment. Busy (reason projection_rebuilding) while the projection
  // is being rebuilt; NotFound (reason projection_not_found) for an unknown name.
  virtual Result<std::unique_ptr<StateReader>> NewStateReader(std::string_view projection) = 0;

  virtual std::vector<ProjectionInfo> Projections() = 0;

  // Waits until every projection has caught up with the log; false on timeout.
  virtual bool WaitForProjections(std::chrono::milliseconds timeout) = 0;

  // SHA-256 over the projection's state in key order (each key and value length-prefixed,
  // checkpoint excluded): the same log gives the same digest on any machine.
  virtual Result<Digest> ProjectionDigest(std::string_view projection) = 0;

  // Folds the whole log, up to the projection's current checkpoint, into a scratch state and
  // compares it with the incrementally maintained one, byte for byte. With `replace`, the live
  // state is then replaced by a rebuild from the log (the projection is unavailable meanwhile;
  // the others are not). `progress(done, total)` is called now and then when set.
  virtual Result<RebuildReport> RebuildProjection(
      std::string_view projection, bool replace,
      const std::function<void(uint64_t, uint64_t)>& progress = {}) = 0;
};

// Decodes one stored Record (as given to ScanGlobal/ScanConversation) into an Event.
Result<Event> DecodeRecord(std::string_view record);

// What an offline verifier (an export checked without the ledger) needs from one stored Record:
// the envelope fields that place it, the hash stored with it, and the hash recomputed from its
// bytes with the event hash formula (schemas/README.md):
//   SHA-256("convledger/event/v1" || prev_hash || event bytes)
// so no caller re-implements the formula.
struct RecordInfo {
  uint64_t global_seq = 0;
  uint64_t conversation_seq = 0;
  std::string conversation_id;
  std::string tenant;
  int64_t occurred_at_us = 0;
  ActorKind actor_kind = ActorKind::kUnknown;
  std::string actor_id;
  Digest prev_hash{};
  Digest stored_hash{};    // the hash the record carries
  Digest computed_hash{};  // recomputed from prev_hash and the event bytes
  bool hash_ok() const { return stored_hash == computed_hash; }
};
// Runs the FlatBuffers verifier on `record` (any alignment) and recomputes its hash. A hash
// mismatch is not an error here (compare with hash_ok()); bytes that are not a Record are
// Corruption (corrupt_record). Pure: no ledger, any thread.
Result<RecordInfo> InspectRecord(std::string_view record);

}  // namespace convledger
