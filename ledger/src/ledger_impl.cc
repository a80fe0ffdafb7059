#include "ledger_impl.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstring>

#include "ledger/event_json.h"
#include "rocks_info_log.h"
#include "rocks_status.h"

namespace convledger {
namespace {

// Most events one leader commits in one RocksDB write.
constexpr size_t kMaxGroupEvents = 4096;
// Head cache entries kept by the leader before it starts over.
constexpr size_t kMaxCachedHeads = 200000;
// The "last_global_seq" marker is refreshed every this many global sequences.
constexpr uint64_t kMarkerEvery = 1024;
constexpr char kFormatKey[] = "format";
constexpr char kFormatVersion[] = "1";

class SystemClock final : public Clock {
 public:
  int64_t NowMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

Status FromRocksStatus(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  if (s.IsCorruption()) return Status::Corruption("storage_corruption", what + ": " + s.ToString());
  if (s.IsNotFound()) return Status::NotFound("not_found", what + ": " + s.ToString());
  if (s.IsBusy() || s.IsTryAgain()) return Status::Busy(what + ": " + s.ToString());
  return IOErrorFromRocks(s, what + ": " + s.ToString());
}

namespace {

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  return FromRocksStatus(s, what);
}

Status WithIndex(const Status& st, size_t index, size_t count) {
  if (st.ok() || count <= 1) return st;
  const std::string msg = "events[" + std::to_string(index) + "]: " + st.message();
  switch (st.code()) {
    case Status::Code::kInvalidArgument: return Status::InvalidArgument(st.reason(), msg);
    case Status::Code::kWrongExpectedVersion: return Status::WrongExpectedVersion(msg);
    case Status::Code::kIdempotencyConflict: return Status::IdempotencyConflict(msg);
    case Status::Code::kInvariantViolation: return Status::InvariantViolation(st.reason(), msg);
    default: return st;
  }
}

Status Missing(const char* field) {
  return Status::InvalidArgument("missing_field", std::string(field) + " is required");
}

Status CheckSize(const std::string& s, size_t max, const char* field) {
  if (s.size() > max)
    return Status::InvalidArgument("field_too_large", std::string(field) + " is " +
                                                          std::to_string(s.size()) +
                                                          " bytes; the limit is " +
                                                          std::to_string(max));
  return Status::OK();
}

// The same shape rules as the JSON parser, for Events built directly in C++ (API, webhooks).
Status ValidateShape(const Event& e) {
  if (e.conversation_id.empty()) return Missing("conversation_id");
  if (Status st = CheckSize(e.conversation_id, kMaxConversationIdBytes, "conversation_id"); !st.ok())
    return st;
  if (static_cast<int>(e.type) < static_cast<int>(EventType::kMessageSent) ||
      static_cast<int>(e.type) > static_cast<int>(EventType::kErasureRefused))
    return Status::InvalidArgument("unknown_event_type", "type is not a known event type");
  if (e.actor.kind == ActorKind::kUnknown || static_cast<int>(e.actor.kind) > 5)
    return Missing("actor.kind");
  if (e.actor.id.empty()) return Missing("actor.id");
  for (auto [s, max, name] : {std::tuple{&e.actor.id, kMaxIdBytes, "actor.id"},
                              {&e.actor.display, kMaxShortTextBytes, "actor.display"},
                              {&e.idempotency_key, kMaxIdBytes, "idempotency_key"},
                              {&e.tenant, kMaxIdBytes, "tenant"},
                              {&e.message_id, kMaxIdBytes, "message_id"},
                              {&e.reply_to, kMaxIdBytes, "reply_to"},
                              {&e.kind, kMaxIdBytes, "kind"},
                              {&e.reason, kMaxShortTextBytes, "reason"},
                              {&e.reason_code, kMaxIdBytes, "reason_code"},
                              {&e.replacement_message_id, kMaxIdBytes, "replacement_message_id"},
                              {&e.explanation, kMaxShortTextBytes, "explanation"},
                              {&e.error_code, kMaxIdBytes, "error.code"},
                              {&e.error_title, kMaxShortTextBytes, "error.title"},
                              {&e.emoji, kMaxIdBytes, "emoji"},
                              {&e.consent_scope, kMaxIdBytes, "scope"},
                              {&e.source, kMaxShortTextBytes, "source"},
                              {&e.case_ref, kMaxIdBytes, "case_ref"},
                              {&e.subject, kMaxIdBytes, "subject"}}) {
    if (Status st = CheckSize(*s, max, name); !st.ok()) return st;
  }
  if (e.content) {
    if (Status st = CheckSize(e.content->text, kMaxTextBytes, "content.text"); !st.ok()) return st;
    if (e.content->media.size() > kMaxMediaItems)
      return Status::InvalidArgument("field_too_large", "content.media has too many items");
  }
  if (NamesMessage(e.type) && e.message_id.empty()) return Missing("message_id");
  const bool has_content = e.content && (!e.content->text.empty() || !e.content->media.empty());
  switch (e.type) {
    case EventType::kMessageSent:
      if (e.direction == Direction::kUnknown) return Missing("direction");
      if (!has_content && !e.template_) return Missing("content");
      break;
    case EventType::kMessageEdited:
      if (!has_content) return Missing("content");
      break;
    case EventType::kMessageDeleted:
      if (e.scope == DeleteScope::kUnknown) return Missing("scope");
      break;
    case EventType::kMessageCorrected:
      if (e.replacement_message_id.empty()) return Missing("replacement_message_id");
      if (e.reason_code.empty()) return Missing("reason_code");
      if (e.replacement_message_id == e.message_id)
        return Status::InvalidArgument("invalid_value",
                                       "replacement_message_id must differ from message_id");
      break;
    case EventType::kMessageRedacted:
      if (e.reason.empty()) return Missing("reason");
      break;
    case EventType::kMessageStatus:
      if (e.status == Delivery::kUnknown) return Missing("status");
      break;
    case EventType::kMessageReaction:
      if (e.action == ReactionAction::kUnknown) return Missing("action");
      if (e.action == ReactionAction::kAdd && e.emoji.empty()) return Missing("emoji");
      break;
    case EventType::kConsentChanged:
      if (e.consent == ConsentState::kUnknown) return Missing("consent");
      if (e.consent_scope.empty()) return Missing("scope");
      break;
    case EventType::kLegalHoldChanged:
      if (e.hold == HoldAction::kUnknown) return Missing("hold");
      if (e.case_ref.empty()) return Missing("case_ref");
      break;
    case EventType::kNoteAdded:
      if (!e.content || e.content->text.empty()) return Missing("text");
      break;
    case EventType::kSubjectErased:
      if (e.subject.empty()) return Missing("subject");
      if (e.reason.empty()) return Missing("reason");
      break;
    case EventType::kErasureRefused:
      if (e.subject.empty() && e.message_id.empty()) return Missing("subject");
      break;
  }
  return Status::OK();
}

// Copies a value to an aligned buffer when needed (see codec.cc).
std::string_view AlignedView(const rocksdb::Slice& s, std::string* buf) {
  if (reinterpret_cast<uintptr_t>(s.data()) % 8 == 0) return {s.data(), s.size()};
  buf->assign(s.data(), s.size());
  return *buf;
}

}  // namespace

Result<std::unique_ptr<Ledger>> Ledger::Open(const std::string& dir, const Options& options) {
  return LedgerImpl::Open(dir, options);
}

LedgerImpl::LedgerImpl(const std::string& dir, const Options& options)
    : dir_(dir), options_(options) {
  if (options_.clock) {
    clock_ = options_.clock;
  } else {
    owned_clock_ = std::make_unique<SystemClock>();
    clock_ = owned_clock_.get();
  }
}

LedgerImpl::~LedgerImpl() {
  stopping_ = true;
  if (catch_up_.joinable()) catch_up_.join();
  {
    std::lock_guard lk(tail_mu_);
    closing_ = true;
  }
  tail_cv_.notify_all();
  if (db_) {
    if (!options_.read_only && bg_error_.ok()) {
      // A clean close leaves the commit marker exact (it is otherwise refreshed every
      // kMarkerEvery sequences), so a damaged index tail never makes a sequence reused.
      std::string v;
      keys::PutBe64(&v, last_committed_.load());
      rocksdb::WriteOptions wo;
      wo.sync = true;
      db_->Put(wo, default_cf_, keys::kLastGlobalSeqKey, v).PermitUncheckedError();
    }
    if (!options_.read_only && bg_error_.ok()) db_->FlushWAL(true).PermitUncheckedError();
    if (!options_.read_only && !bg_error_.ok()) {
      // A write failed (a full disk): RocksDB's WAL writer keeps the error, and flushing it or
      // the memtables now trips an assert in Debian's RocksDB (abort). Close like a crash
      // instead: the WAL already holds every acknowledged append and is replayed at the next open.
      db_->SetDBOptions({{"avoid_flush_during_shutdown", "true"}}).PermitUncheckedError();
    }
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
}

Result<std::unique_ptr<Ledger>> LedgerImpl::Open(const std::string& dir, const Options& options) {
  std::unique_ptr<LedgerImpl> impl(new LedgerImpl(dir, options));

  rocksdb::Options db_opts;
  db_opts.create_if_missing = options.create_if_missing;
  db_opts.create_missing_column_families = true;
  db_opts.max_background_jobs = 2;
  db_opts.bytes_per_sync = 1 << 20;
  // One budget for the memtables of every column family (about ten, each 64 MiB by default, so
  // up to 1.3 GB), and a cap on the live WAL: a column family written rarely (a view's
  // checkpoint, the Merkle tree's upper levels) otherwise pins every WAL file since its last
  // flush (measured: 5.5 GB of WAL and 717 MiB RSS after 1,000,000 events; bench/RESULTS.md).
  db_opts.db_write_buffer_size = options.write_buffer_budget_bytes;
  db_opts.max_total_wal_size = options.max_wal_bytes;
  db_opts.info_log = NewInfoLog(dir);  // survives a full disk (rocks_info_log.h)
  // Few, large shards: RocksDB's default of 64 shards makes each 1 MiB for a 64 MiB cache, and an
  // index block larger than its shard (1-2 MB for a compacted file of a few tens of MB) is never
  // cached, so every seek re-reads it (measured: 0.7 ms per Get, ScanGlobal 16x slower).
  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes, /*num_shard_bits=*/2);

  auto cf_options = [&](bool point_lookups) {
    rocksdb::ColumnFamilyOptions cf;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.cache_index_and_filter_blocks = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
    if (point_lookups) {
      t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
      cf.memtable_prefix_bloom_size_ratio = 0.02;
      cf.memtable_whole_key_filtering = true;
    }
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    cf.compression = rocksdb::kLZ4Compression;
    cf.bottommost_compression = rocksdb::kZSTD;
    return cf;
  };

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cf_options(false)},
      {keys::kEventsCf, cf_options(false)},
      {keys::kGlobalIndexCf, cf_options(false)},
      {keys::kIdempotencyCf, cf_options(true)},
      {keys::kMessagesCf, cf_options(true)},
  };
  std::vector<std::string> existing;
  const bool listed = rocksdb::DB::ListColumnFamilies(db_opts, dir, &existing).ok();
  // Added after the first format: a read-only open of an older ledger goes without it.
  if (!options.read_only ||
      std::find(existing.begin(), existing.end(), keys::kEvidenceCf) != existing.end())
    cfs.push_back({keys::kEvidenceCf, cf_options(true)});
  // A read-only open cannot create the tree's column family: a ledger written before the tree
  // existed is then served without proofs until a read-write open builds them.
  // No bloom filters for it: proofs only read nodes that exist, where a filter never saves a
  // read, and the memtable filter would cost every append two more insertions into it.
  if (!options.read_only ||
      std::find(existing.begin(), existing.end(), merkle::kMerkleCf) != existing.end())
    cfs.push_back({merkle::kMerkleCf, cf_options(false)});
  // The keys of crypto-shredding (added with issue 6; point lookups).
  if (!options.read_only ||
      std::find(existing.begin(), existing.end(), keystore::kKeysCf) != existing.end())
    cfs.push_back({keystore::kKeysCf, cf_options(true)});
  for (const auto& proj : options.projections) {
    const std::string name = "proj." + std::string(proj->Name());
    bool dup = std::any_of(cfs.begin(), cfs.end(), [&](auto& d) { return d.name == name; });
    if (dup) return Status::InvalidArgument("duplicate_projection", name + " given twice");
    // A read-only open cannot create a column family: a view never written stays unavailable.
    if (options.read_only && std::find(existing.begin(), existing.end(), name) == existing.end())
      continue;
    cfs.push_back({name, cf_options(true)});
  }
  // Keep column families a newer version may have added.
  if (listed) {
    for (const auto& name : existing) {
      bool known = std::any_of(cfs.begin(), cfs.end(), [&](auto& d) { return d.name == name; });
      if (!known) cfs.push_back({name, cf_options(false)});
    }
  } else if (options.read_only || !options.create_if_missing) {
    return Status::NotFound("ledger_not_found", "no ledger in " + dir);
  }

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      options.read_only
          ? rocksdb::DB::OpenForReadOnly(db_opts, dir, cfs, &impl->handles_, &raw)
          : rocksdb::DB::Open(db_opts, dir, cfs, &impl->handles_, &raw);
  if (!s.ok()) return FromRocks(s, "opening " + dir);
  impl->db_.reset(raw);
  impl->events_cf_ = impl->handles_[1];
  impl->global_cf_ = impl->handles_[2];
  impl->idem_cf_ = impl->handles_[3];
  impl->messages_cf_ = impl->handles_[4];
  impl->default_cf_ = impl->handles_[0];
  for (size_t i = 0; i < cfs.size(); ++i) {
    if (cfs[i].name == keys::kEvidenceCf) impl->evidence_cf_ = impl->handles_[i];
    if (cfs[i].name == merkle::kMerkleCf) impl->merkle_cf_ = impl->handles_[i];
    if (cfs[i].name == keystore::kKeysCf) impl->keys_cf_ = impl->handles_[i];
  }

  std::string format;
  s = raw->Get(rocksdb::ReadOptions(), impl->handles_[0], kFormatKey, &format);
  if (s.IsNotFound()) {
    if (!options.read_only) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      s = raw->Put(wo, impl->handles_[0], kFormatKey, kFormatVersion);
      if (!s.ok()) return FromRocks(s, "writing format marker");
    }
  } else if (!s.ok()) {
    return FromRocks(s, "reading format marker");
  } else if (format != kFormatVersion) {
    return Status::Corruption("unsupported_format",
                              "ledger format " + format + " is not supported by this version");
  }

  // Resume sequences. The marker written with every commit wins over the index, so a damaged
  // index never makes the ledger hand out a global sequence twice (verify reports the damage).
  uint64_t marker = 0;
  std::string v;
  s = raw->Get(rocksdb::ReadOptions(), impl->default_cf_, keys::kLastGlobalSeqKey, &v);
  if (s.ok() && v.size() == 8) marker = keys::GetBe64(v.data());
  if (raw->Get(rocksdb::ReadOptions(), impl->default_cf_, keys::kConversationsKey, &v).ok() &&
      v.size() == 8)
    impl->conversations_ = keys::GetBe64(v.data());
  std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions(), impl->global_cf_));
  it->SeekToLast();
  uint64_t last = 0;
  if (it->Valid()) {
    if (it->key().size() == 8) last = keys::GetBe64(it->key().data());
    std::string record;
    // Only recorded_at is needed here; a damaged last event must not stop `verify` from opening.
    if (raw->Get(rocksdb::ReadOptions(), impl->events_cf_, it->value(), &record).ok()) {
      auto ev = codec::Decode(record, false);
      if (ev.ok()) impl->last_recorded_us_ = ev->recorded_at_us;
    }
  } else if (!it->status().ok()) {
    return FromRocks(it->status(), "reading the global index");
  }
  last = std::max(last, marker);
  impl->next_global_seq_ = last + 1;
  impl->last_committed_.store(last);
  it.reset();
  {
    auto ks = keystore::KeyStore::Open(raw, impl->keys_cf_, dir, options);
    if (!ks.ok()) return ks.status();
    impl->keystore_ = std::move(ks).value();
  }
  if (Status st = impl->ResumePurge(); !st.ok()) return st;
  if (Status st = impl->OpenMerkle(); !st.ok()) return st;
  for (const auto& proj : options.projections) {
    auto slot = std::make_unique<ProjSlot>();
    slot->projection = proj;
    slot->name = std::string(proj->Name());
    for (size_t i = 0; i < cfs.size(); ++i)
      if (cfs[i].name == "proj." + slot->name) slot->cf = impl->handles_[i];
    impl->slots_.push_back(std::move(slot));
  }
  if (Status st = impl->OpenProjections(); !st.ok()) return st;
  impl->StartCatchUp();
  return std::unique_ptr<Ledger>(std::move(impl));
}

Status LedgerImpl::Prepare(std::vector<Event>& events, std::vector<Prepared>* out,
                           bool allow_empty, bool internal) const {
  if (events.empty() && !allow_empty)
    return Status::InvalidArgument("empty_batch", "nothing to append");
  if (events.size() > options_.max_events_per_append)
    return Status::InvalidArgument(
        "batch_too_large", "an append is limited to " +
                               std::to_string(options_.max_events_per_append) + " events");
  out->reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    Event& e = events[i];
    if (e.tenant.empty()) e.tenant = "default";
    e.content_sealing = Sealing::kNone;
    e.sealed.reset();
    e.content_access = ContentAccess::kPlain;
    if (Status st = ValidateShape(e); !st.ok()) return WithIndex(st, i, events.size());
    if (!internal &&
        (e.type == EventType::kSubjectErased || e.type == EventType::kErasureRefused))
      return WithIndex(Status::InvalidArgument(
                           "reserved_event_type",
                           std::string(ToString(e.type)) +
                               " is appended by the ledger itself (erase a subject with "
                               "`convledger erase` or POST /v1/subjects/{id}/erase)"),
                       i, events.size());
    Prepared p;
    p.event = std::move(e);
    out->push_back(std::move(p));
  }
  if (Status st = PrepareSealing(*out); !st.ok()) return st;
  for (Prepared& p : *out) {
    p.encoded = codec::EncodeEvent(p.event, p.seal ? &*p.seal : nullptr, &p.event.sealed);
    if (p.event.sealed) {
      // From here on the event is what the log holds: projections fold the sealed content,
      // never the plaintext.
      p.event.content.reset();
      if (p.event.template_) p.event.template_->parameters.clear();
      p.event.content_sealing = p.event.sealed->sealing;
      p.event.content_access = ContentAccess::kSealed;
    }
  }
  return Status::OK();
}

Result<std::vector<AppendResult>> LedgerImpl::Append(std::vector<Event> events,
                                                     const AppendOptions& options) {
  return AppendImpl(std::move(events), options, /*internal=*/false);
}

Result<std::vector<AppendResult>> LedgerImpl::AppendImpl(std::vector<Event> events,
                                                         const AppendOptions& options,
                                                         bool internal) {
  if (options_.read_only) return Status::IOError("the ledger is open read-only");
  std::vector<Prepared> prepared;
  if (Status st = Prepare(events, &prepared, !options.evidence.empty(), internal); !st.ok())
    return st;
  if (!options.evidence.empty() && evidence_cf_ == nullptr)
    return Status::IOError("this ledger has no evidence store (opened read-only?)");

  Writer w;
  w.events = &prepared;
  w.evidence = &options.evidence;
  w.sync = options.durability.value_or(options_.durability) == Durability::kFsync;
  RunWriter(&w);
  for (Prepared& p : prepared)
    if (p.seal) crypto::Cleanse(p.seal->key.data(), p.seal->key.size());
  if (!w.status.ok()) {
    if (w.status.reason() == "legal_hold_active" && !w.refusals.empty()) {
      // An erasure covers every conversation of its subject: the one refused request is
      // recorded in each of them, not only where the leader stopped.
      const Event first = w.refusals.front();
      for (const Prepared& p : prepared)
        if (first.refused == EventType::kSubjectErased &&
            p.event.type == EventType::kSubjectErased &&
            p.event.conversation_id != first.conversation_id) {
          Event r = first;
          r.conversation_id = p.event.conversation_id;
          r.channel = p.event.channel;
          w.refusals.push_back(std::move(r));
        }
      RecordRefusals(w);
    }
    return w.status;
  }
  if (w.purge)
    if (Status st = PurgeDestroyedKeys(w.purge_marker, w.purge_ranges); !st.ok()) return st;
  return std::move(w.results);
}

void LedgerImpl::RunWriter(Writer* w) {
  std::unique_lock lk(mu_);
  writers_.push_back(w);
  while (!w->done && w != writers_.front()) w->cv.wait(lk);
  if (w->done) return;
  // Leader. A barrier runs alone. Otherwise take a group of waiting appends: a non-sync group
  // never carries a sync writer (it would acknowledge it before its fsync); a sync group may
  // carry non-sync writers.
  std::vector<Writer*> group;
  size_t n = 0;
  for (Writer* x : writers_) {
    if (x->barrier) {
      if (group.empty()) group.push_back(x);
      break;
    }
    if (x->sync && !w->sync) break;
    if (!group.empty() && n + x->events->size() > kMaxGroupEvents) break;
    group.push_back(x);
    n += x->events->size();
  }
  lk.unlock();
  if (w->barrier)
    w->barrier();
  else
    ProcessGroup(group, w->sync);
  lk.lock();
  for (Writer* x : group) {
    writers_.pop_front();
    x->done = true;
    if (x != w) x->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
}

void LedgerImpl::PutEvidence(const std::vector<EvidenceDelivery>& evidence, uint64_t seq,
                             rocksdb::WriteBatch* batch) {
  for (const EvidenceDelivery& d : evidence) {
    const Digest sha = codec::Sha256(d.body);
    if (options_.encrypt_content && keys_cf_ != nullptr) {
      PutSealedEvidence(d, sha, batch);
    } else {
      // Content-addressed: rewriting the same body under the same key changes nothing.
      batch->Put(evidence_cf_, keys::EvidenceBodyKey(sha), d.body).PermitUncheckedError();
    }
    std::string k = keys::EvidenceDeliveryPrefix(sha);
    keys::PutBe64(&k, static_cast<uint64_t>(d.received_at_us));
    keys::PutBe64(&k, seq);
    std::string v(1, d.signature_valid ? '\x01' : '\x00');
    v += d.source;
    batch->Put(evidence_cf_, k, v).PermitUncheckedError();
  }
}

Result<StoredEvidence> LedgerImpl::GetEvidence(const Digest& sha256) {
  if (evidence_cf_ == nullptr)
    return Status::NotFound("evidence_not_found", "this ledger holds no evidence");
  StoredEvidence out;
  out.sha256 = sha256;
  rocksdb::PinnableSlice body;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), evidence_cf_, keys::EvidenceBodyKey(sha256), &body);
  if (s.IsNotFound()) {
    // Sealed (written with encryption on): nonce || ciphertext || tag under its own key.
    body.Reset();
    s = db_->Get(rocksdb::ReadOptions(), evidence_cf_, keys::SealedEvidenceBodyKey(sha256),
                 &body);
    if (s.IsNotFound())
      return Status::NotFound("evidence_not_found", "no evidence " + HexDigest(sha256));
    if (!s.ok()) return FromRocks(s, "reading evidence");
    std::string wrapped;
    rocksdb::Status ks = keys_cf_ == nullptr
                             ? rocksdb::Status::NotFound()
                             : db_->Get(rocksdb::ReadOptions(), keys_cf_,
                                        keystore::EvidenceKey(sha256), &wrapped);
    if (ks.IsNotFound()) {
      out.body_access = ContentAccess::kErased;  // its key was destroyed with what it carried
    } else if (!ks.ok()) {
      return FromRocks(ks, "reading an evidence key");
    } else {
      crypto::Key k;
      const std::string_view sealed(body.data(), body.size());
      const bool ok =
          sealed.size() >= crypto::kNonceBytes &&
          crypto::Unwrap(keystore_->master(), keystore::EvidenceKey(sha256), wrapped, &k) &&
          crypto::Decrypt(k, sealed.substr(0, crypto::kNonceBytes),
                          keystore::EvidenceKey(sha256), sealed.substr(crypto::kNonceBytes),
                          &out.body);
      crypto::Cleanse(k.data(), k.size());
      if (!ok)
        return Status::Corruption("content_auth_failed",
                                  "evidence " + HexDigest(sha256) + " does not authenticate");
      out.body_access = ContentAccess::kOpened;
    }
  } else if (!s.ok()) {
    return FromRocks(s, "reading evidence");
  } else {
    out.body.assign(body.data(), body.size());
  }
  if (out.body_access != ContentAccess::kErased && codec::Sha256(out.body) != sha256)
    return Status::Corruption("hash_mismatch", "evidence " + HexDigest(sha256) + " was altered");
  const std::string prefix = keys::EvidenceDeliveryPrefix(sha256);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), evidence_cf_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 16 || it->value().size() < 1)
      return Status::Corruption("bad_evidence_key", "malformed evidence delivery record");
    StoredEvidence::Delivery d;
    d.received_at_us = static_cast<int64_t>(keys::GetBe64(it->key().data() + prefix.size()));
    d.signature_valid = it->value()[0] == 1;
    d.source.assign(it->value().data() + 1, it->value().size() - 1);
    out.deliveries.push_back(std::move(d));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading evidence deliveries");
  return out;
}

void LedgerImpl::ProcessGroup(const std::vector<Writer*>& group, bool sync) {
  if (!bg_error_.ok()) {
    for (Writer* x : group) x->status = bg_error_;
    return;
  }
  Overlay g;
  g.next_global_seq = next_global_seq_;
  g.state.resize(slots_.size());
  rocksdb::WriteBatch batch;
  const int64_t recorded = std::max(clock_->NowMicros(), last_recorded_us_);
  bool any_ok = false;
  for (Writer* x : group) {
    Overlay local;
    local.next_global_seq = g.next_global_seq;
    local.state.resize(slots_.size());
    batch.SetSavePoint();
    Status st = ApplyWriter(x, g, local, &batch, recorded);
    if (!st.ok()) {
      batch.RollbackToSavePoint().PermitUncheckedError();
      x->status = st;
      x->results.clear();
      continue;
    }
    if (x->evidence != nullptr) PutEvidence(*x->evidence, local.next_global_seq - 1, &batch);
    batch.PopSavePoint().PermitUncheckedError();
    any_ok = true;
    for (auto& [k, v] : local.heads) g.heads[k] = std::move(v);
    for (auto& [k, v] : local.messages) g.messages[k] = v;
    for (auto& [k, v] : local.dirty_messages) g.dirty_messages[k] = v;
    for (auto& [k, v] : local.idempotency) g.idempotency[k] = std::move(v);
    for (size_t i = 0; i < slots_.size(); ++i)
      for (auto& [k, v] : local.state[i]) g.state[i][k] = std::move(v);
    g.leaves.insert(g.leaves.end(), local.leaves.begin(), local.leaves.end());
    g.next_global_seq = local.next_global_seq;
    for (auto& [k, v] : local.keys) g.keys[k] = std::move(v);
    for (auto& k : local.new_subject_keys) g.new_subject_keys.push_back(std::move(k));
    for (auto& sid : local.forget_subjects) g.forget_subjects.push_back(std::move(sid));
  }
  if (!any_ok) return;
  uint64_t created = 0;
  for (const auto& [conv, h] : g.heads)
    if (h.created) ++created;
  {
    // The commit marker is written when a group crosses a multiple of kMarkerEvery, not with
    // every group: one more Put per single-event append costs ~15% of the append rate.
    std::string v;
    if ((g.next_global_seq - 1) / kMarkerEvery != (next_global_seq_ - 1) / kMarkerEvery) {
      keys::PutBe64(&v, g.next_global_seq - 1);
      batch.Put(default_cf_, keys::kLastGlobalSeqKey, v).PermitUncheckedError();
    }
    if (created) {
      v.clear();
      keys::PutBe64(&v, conversations_ + created);
      batch.Put(default_cf_, keys::kConversationsKey, v).PermitUncheckedError();
    }
  }
  for (const auto& [key, dirty] : g.dirty_messages) {
    const char flags = static_cast<char>(g.messages[key]);
    batch.Put(messages_cf_, key, rocksdb::Slice(&flags, 1)).PermitUncheckedError();
  }
  // The Merkle tree, in the same batch as the events: only leaves of the appends that passed
  // their checks reach g.leaves (a failed append's local overlay is dropped with its save point),
  // and the frontier is published only after the write succeeds.
  merkle::Frontier frontier;
  if (options_.merkle_tree) {
    std::lock_guard lk(merkle_mu_);
    frontier = frontier_;
  }
  if (!options_.merkle_tree) {
    // Measuring the tree's cost only (Options::merkle_tree): the next open builds it.
  } else if (frontier.size() != next_global_seq_ - 1 ||
      g.leaves.size() != g.next_global_seq - next_global_seq_) {
    // Cannot happen unless the tree and the log disagree at open; never write a wrong tree.
    bg_error_ = Status::Corruption("merkle_out_of_step",
                                   "the Merkle tree has " + std::to_string(frontier.size()) +
                                       " leaves but the log " +
                                       std::to_string(next_global_seq_ - 1) +
                                       " events; appends stop until the ledger is reopened");
    for (Writer* x : group) {
      x->status = bg_error_;
      x->results.clear();
    }
    return;
  }
  for (const Digest& event_hash : g.leaves) {
    if (!options_.merkle_tree) break;
    frontier.Append(merkle::LeafHash(event_hash), [&](int level, uint64_t index, const Digest& h) {
      batch
          .Put(merkle_cf_, merkle::NodeKey(level, index),
               rocksdb::Slice(reinterpret_cast<const char*>(h.data()), h.size()))
          .PermitUncheckedError();
    });
  }
  // Projection state and checkpoints, in the same batch as the events they fold.
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i]->ready.load(std::memory_order_acquire)) continue;
    for (const auto& [k, v] : g.state[i]) {
      if (v)
        batch.Put(slots_[i]->cf, k, *v).PermitUncheckedError();
      else
        batch.Delete(slots_[i]->cf, k).PermitUncheckedError();
    }
    batch.Put(slots_[i]->cf, keys::kCheckpointKey,
              keys::EncodeCheckpoint(g.next_global_seq - 1, slots_[i]->projection->Version()))
        .PermitUncheckedError();
  }

  if (batch.Count() > 0) {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    std::unique_lock write_lk(state_write_mu_);
    rocksdb::Status s = db_->Write(wo, &batch);
    write_lk.unlock();
    if (!s.ok()) {
      bg_error_ = IOErrorFromRocks(s, "append failed, ledger needs reopening: " + s.ToString());
      for (Writer* x : group)
        if (x->status.ok()) {
          x->status = bg_error_;
          x->results.clear();
        }
      return;
    }
  }
  // Committed: publish.
  for (const std::string& sid : g.forget_subjects) keystore_->Forget(sid);
  // Destroyed data keys (redaction, erasure) must not stay in the cache of unwrapped ones.
  if (std::any_of(group.begin(), group.end(), [](const Writer* x) { return x->purge; }))
    keystore_->ForgetDataKeys();
  for (auto& [sid, key] : g.new_subject_keys) {
    keystore_->Remember(sid, key);
    crypto::Cleanse(key.data(), key.size());
  }
  if (head_cache_.size() > kMaxCachedHeads) head_cache_.clear();
  for (auto& [conv, h] : g.heads)
    if (h.dirty) head_cache_[conv] = std::move(h.value);
  if (options_.merkle_tree) {
    std::lock_guard lk(merkle_mu_);
    frontier_ = std::move(frontier);
  }
  next_global_seq_ = g.next_global_seq;
  conversations_ += created;
  last_recorded_us_ = recorded;
  for (auto& slot : slots_)
    if (slot->ready.load(std::memory_order_acquire)) slot->checkpoint = next_global_seq_ - 1;
  {
    std::lock_guard lk(tail_mu_);
    last_committed_.store(next_global_seq_ - 1, std::memory_order_release);
  }
  tail_cv_.notify_all();
}

Status LedgerImpl::LoadHead(const std::string& conv, Overlay& group, Overlay& local,
                            HeadState** out) {
  if (auto it = local.heads.find(conv); it != local.heads.end()) {
    *out = &it->second;
    return Status::OK();
  }
  HeadState h;
  if (auto it = group.heads.find(conv); it != group.heads.end()) {
    h = it->second;
  } else if (auto it = head_cache_.find(conv); it != head_cache_.end()) {
    h.exists = true;
    h.value = it->second;
  } else {
    if (Status st = HeadFromLog(conv, &h.exists, &h.value); !st.ok()) return st;
  }
  *out = &(local.heads[conv] = h);
  return Status::OK();
}

Status LedgerImpl::LoadMessageFlags(const std::string& key, Overlay& group, Overlay& local,
                                    uint8_t* out) {
  if (auto it = local.messages.find(key); it != local.messages.end()) {
    *out = it->second;
    return Status::OK();
  }
  if (auto it = group.messages.find(key); it != group.messages.end()) {
    *out = local.messages[key] = it->second;
    return Status::OK();
  }
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), messages_cf_, key, &v);
  if (s.IsNotFound()) {
    *out = 0;
  } else if (!s.ok()) {
    return FromRocks(s, "reading message state");
  } else {
    *out = v.empty() ? 0 : static_cast<uint8_t>(v[0]);
  }
  local.messages[key] = *out;
  return Status::OK();
}

Status LedgerImpl::CheckAndApplyInvariants(const Event& e, Overlay& group, Overlay& local) {
  if (!NamesMessage(e.type)) return Status::OK();
  const bool command = IsCommand(e.actor.kind);
  const std::string key = keys::MessageKey(e.conversation_id, e.message_id);
  uint8_t flags = 0;
  if (Status st = LoadMessageFlags(key, group, local, &flags); !st.ok()) return st;
  const uint8_t before = flags;
  const std::string& mid = e.message_id;
  auto require_sent = [&]() -> Status {
    if (!(flags & keys::kMsgSent))
      return Status::InvariantViolation(
          "message_not_found",
          "message " + mid + " was never sent in conversation " + e.conversation_id);
    return Status::OK();
  };
  auto require_own = [&]() -> Status {
    if (!(flags & keys::kMsgOutbound))
      return Status::InvariantViolation("not_own_message",
                                        "message " + mid + " is inbound: only the customer can "
                                        "change it");
    return Status::OK();
  };

  switch (e.type) {
    case EventType::kMessageSent:
      if (flags & keys::kMsgSent)
        return Status::InvariantViolation(
            "message_already_sent",
            "message " + mid + " was already sent in conversation " + e.conversation_id);
      if (((e.actor.kind == ActorKind::kAgent || e.actor.kind == ActorKind::kBot) &&
           e.direction == Direction::kInbound) ||
          (e.actor.kind == ActorKind::kCustomer && e.direction == Direction::kOutbound))
        return Status::InvariantViolation(
            "direction_mismatch", std::string("a ") + std::string(ToString(e.actor.kind)) +
                                      " cannot send an " + std::string(ToString(e.direction)) +
                                      " message");
      flags |= keys::kMsgSent;
      if (e.direction == Direction::kOutbound) flags |= keys::kMsgOutbound;
      break;
    case EventType::kMessageEdited:
      if (command) {
        if (Status st = require_sent(); !st.ok()) return st;
        if (Status st = require_own(); !st.ok()) return st;
        if (flags & keys::kMsgRedacted)
          return Status::InvariantViolation("message_redacted",
                                            "message " + mid + " was redacted; it cannot be edited");
        if (flags & keys::kMsgDeletedEveryone)
          return Status::InvariantViolation("message_deleted",
                                            "message " + mid + " was deleted; it cannot be edited");
      }
      break;
    case EventType::kMessageDeleted:
      if (command) {
        if (Status st = require_sent(); !st.ok()) return st;
        if (e.scope == DeleteScope::kEveryone) {
          if (Status st = require_own(); !st.ok()) return st;
          if (flags & keys::kMsgDeletedEveryone)
            return Status::InvariantViolation("message_deleted",
                                              "message " + mid + " was already deleted");
        }
      }
      flags |= e.scope == DeleteScope::kEveryone ? keys::kMsgDeletedEveryone
                                                 : keys::kMsgDeletedAgentOnly;
      break;
    case EventType::kMessageCorrected:
      if (command) {
        if (Status st = require_sent(); !st.ok()) return st;
        if (Status st = require_own(); !st.ok()) return st;
        uint8_t repl = 0;
        if (Status st = LoadMessageFlags(
                keys::MessageKey(e.conversation_id, e.replacement_message_id), group, local, &repl);
            !st.ok())
          return st;
        if (!(repl & keys::kMsgSent))
          return Status::InvariantViolation(
              "replacement_not_found", "replacement message " + e.replacement_message_id +
                                           " was never sent in conversation " + e.conversation_id);
      }
      break;
    case EventType::kMessageRedacted:
      if (command) {
        if (Status st = require_sent(); !st.ok()) return st;
        if (flags & keys::kMsgRedacted)
          return Status::InvariantViolation("message_redacted",
                                            "message " + mid + " was already redacted");
      }
      flags |= keys::kMsgRedacted;
      break;
    case EventType::kMessageStatus:
      if (command)
        if (Status st = require_sent(); !st.ok()) return st;
      break;
    case EventType::kMessageReaction:
      if (command) {
        if (Status st = require_sent(); !st.ok()) return st;
        if (flags & keys::kMsgDeletedEveryone)
          return Status::InvariantViolation("message_deleted",
                                            "message " + mid + " was deleted; no reactions");
      }
      break;
    default:
      break;
  }
  if (flags != before) {
    local.messages[key] = flags;
    local.dirty_messages[key] = true;
  }
  return Status::OK();
}

Status LedgerImpl::LoadOriginal(uint64_t global_seq, AppendResult* out) {
  std::string ekey, record;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), global_cf_, keys::GlobalKey(global_seq), &ekey);
  if (!s.ok()) return FromRocks(s, "reading the original of an idempotent repeat");
  s = db_->Get(rocksdb::ReadOptions(), events_cf_, ekey, &record);
  if (!s.ok()) return FromRocks(s, "reading the original of an idempotent repeat");
  auto ev = codec::Decode(record, true);
  if (!ev.ok()) return ev.status();
  out->global_seq = ev->global_seq;
  out->conversation_seq = ev->conversation_seq;
  out->recorded_at_us = ev->recorded_at_us;
  out->event_id = ev->event_id;
  out->hash = ev->hash;
  out->prev_hash = ev->prev_hash;
  out->duplicate = true;
  return Status::OK();
}

// The StateStore a projection sees inside a commit group: this append's writes, then the
// group's, then the committed state.
class LedgerImpl::GroupStore final : public StateStore {
 public:
  GroupStore(LedgerImpl* ledger, size_t slot, Overlay& group, Overlay& local)
      : ledger_(ledger), slot_(slot), group_(group), local_(local) {}

  Status Get(std::string_view key, std::string* value) override {
    for (Overlay* o : {&local_, &group_}) {
      const auto& m = o->state[slot_];
      if (auto it = m.find(key); it != m.end()) {
        if (!it->second) return Status::NotFound("not_found", "no such key");
        *value = *it->second;
        return Status::OK();
      }
    }
    rocksdb::PinnableSlice v;
    rocksdb::Status s = ledger_->db_->Get(rocksdb::ReadOptions(), ledger_->slots_[slot_]->cf,
                                          rocksdb::Slice(key.data(), key.size()), &v);
    if (s.IsNotFound()) return Status::NotFound("not_found", "no such key");
    if (!s.ok()) return FromRocks(s, "reading projection state");
    value->assign(v.data(), v.size());
    return Status::OK();
  }
  void Put(std::string_view key, std::string_view value) override {
    if (!CheckKey(key)) return;
    local_.state[slot_][std::string(key)] = std::string(value);
  }
  void Delete(std::string_view key) override {
    if (!CheckKey(key)) return;
    local_.state[slot_][std::string(key)] = std::nullopt;
  }
  const Status& status() const { return status_; }

 private:
  bool CheckKey(std::string_view key) {
    if (Status st = keys::CheckStateKey(key); !st.ok()) {
      status_ = std::move(st);
      return false;
    }
    return true;
  }
  LedgerImpl* ledger_;
  size_t slot_;
  Overlay& group_;
  Overlay& local_;
  Status status_;
};

Status LedgerImpl::ApplyWriter(Writer* w, Overlay& group, Overlay& local,
                               rocksdb::WriteBatch* batch, int64_t recorded_at_us) {
  auto& events = *w->events;
  w->results.clear();
  w->results.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    Prepared& p = events[i];
    const Event& e = p.event;
    auto fail = [&](const Status& st) { return WithIndex(st, i, events.size()); };

    std::string ikey;
    if (!e.idempotency_key.empty()) {
      ikey = keys::IdempotencyKey(e.tenant, e.idempotency_key);
      const IdemEntry* seen = nullptr;
      if (auto it = local.idempotency.find(ikey); it != local.idempotency.end()) seen = &it->second;
      else if (auto it2 = group.idempotency.find(ikey); it2 != group.idempotency.end())
        seen = &it2->second;
      IdemEntry loaded;
      if (!seen) {
        std::string v;
        rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), idem_cf_, ikey, &v);
        if (s.ok()) {
          if (v.size() != 8 + 32)
            return Status::Corruption("corrupt_idempotency", "idempotency entry unreadable");
          std::memcpy(loaded.fingerprint.data(), v.data() + 8, 32);
          if (loaded.fingerprint == p.encoded.fingerprint)
            if (Status st = LoadOriginal(keys::GetBe64(v.data()), &loaded.result); !st.ok())
              return st;
          seen = &loaded;
        } else if (!s.IsNotFound()) {
          return FromRocks(s, "reading idempotency key");
        }
      }
      if (seen) {
        if (seen->fingerprint != p.encoded.fingerprint)
          return fail(Status::IdempotencyConflict(
              "idempotency key \"" + e.idempotency_key +
              "\" was already used for an event with different content"));
        AppendResult r = seen->result;
        r.duplicate = true;
        w->results.push_back(r);
        continue;
      }
    }

    HeadState* head = nullptr;
    if (Status st = LoadHead(e.conversation_id, group, local, &head); !st.ok()) return st;
    if (head->exists && head->value.tenant != e.tenant)
      return fail(Status::InvariantViolation(
          "tenant_mismatch", "conversation " + e.conversation_id + " belongs to another tenant"));
    const uint64_t current = head->exists ? head->value.conversation_seq : 0;
    if (e.expected_version && *e.expected_version != current)
      return fail(Status::WrongExpectedVersion(
          "conversation " + e.conversation_id + " is at version " + std::to_string(current) +
          ", expected " + std::to_string(*e.expected_version)));
    if (Status st = CheckAndApplyInvariants(e, group, local); !st.ok()) return fail(st);
    if (Status st = ApplyKeys(p, w, group, local, batch); !st.ok()) return fail(st);

    codec::Assigned a;
    a.global_seq = local.next_global_seq++;
    a.conversation_seq = current + 1;
    a.recorded_at_us = recorded_at_us;
    a.occurred_at_us = e.occurred_at_us.value_or(recorded_at_us);
    a.event_id = codec::NewEventId();
    a.prev_hash = head->exists ? head->value.hash : Digest{};
    codec::PatchAssigned(&p.encoded.bytes, a);
    const Digest hash = codec::EventHash(a.prev_hash, p.encoded.bytes);
    const std::string ekey = keys::EventKey(e.conversation_id, a.conversation_seq);
    batch->Put(events_cf_, ekey, codec::BuildRecord(p.encoded.bytes, hash)).PermitUncheckedError();
    batch->Put(global_cf_, keys::GlobalKey(a.global_seq), ekey).PermitUncheckedError();

    AppendResult r;
    r.global_seq = a.global_seq;
    r.conversation_seq = a.conversation_seq;
    r.recorded_at_us = a.recorded_at_us;
    r.event_id = a.event_id;
    r.hash = hash;
    r.prev_hash = a.prev_hash;
    if (!ikey.empty()) {
      std::string v;
      keys::PutBe64(&v, a.global_seq);
      v.append(reinterpret_cast<const char*>(p.encoded.fingerprint.data()), 32);
      batch->Put(idem_cf_, ikey, v).PermitUncheckedError();
      local.idempotency[ikey] = IdemEntry{p.encoded.fingerprint, r};
    }
    if (!slots_.empty()) {
      Event& full = p.event;
      full.global_seq = a.global_seq;
      full.conversation_seq = a.conversation_seq;
      full.recorded_at_us = a.recorded_at_us;
      full.occurred_at_us = a.occurred_at_us;
      full.event_id = a.event_id;
      full.prev_hash = a.prev_hash;
      full.hash = hash;
      for (size_t s = 0; s < slots_.size(); ++s) {
        if (!slots_[s]->ready.load(std::memory_order_acquire)) continue;
        GroupStore store(this, s, group, local);
        if (Status st = SafeApply(*slots_[s]->projection, full, store); !st.ok()) return fail(st);
        if (!store.status().ok()) return fail(store.status());
      }
    }
    if (!head->exists) head->created = true;
    head->exists = true;
    head->dirty = true;
    head->value.conversation_seq = a.conversation_seq;
    head->value.global_seq = a.global_seq;
    head->value.hash = hash;
    head->value.tenant = e.tenant;
    local.leaves.push_back(hash);
    w->results.push_back(r);
  }
  return Status::OK();
}

Status LedgerImpl::ScanConversation(std::string_view conversation_id, uint64_t after,
                                    const ReadOptions& options,
                                    const std::function<bool(const RawEvent&)>& fn) {
  if (conversation_id.empty() || conversation_id.size() > kMaxConversationIdBytes)
    return Status::InvalidArgument("invalid_value", "conversation id must be 1 to 256 bytes");
  const std::string lower = keys::EventKey(conversation_id, after + 1);
  const std::string upper = keys::EventRangeEnd(conversation_id);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  const uint64_t as_of = options.as_of_global_seq;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_cf_));
  std::string buf;
  size_t n = 0;
  uint64_t expect = after + 1;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    std::string_view kconv;
    uint64_t kseq = 0;
    if (!keys::ParseEventKey(std::string_view(it->key().data(), it->key().size()), &kconv, &kseq) ||
        kconv != conversation_id)
      return Status::Corruption("corrupt_key", "malformed events key in " +
                                                   std::string(conversation_id));
    std::string_view value = AlignedView(it->value(), &buf);
    codec::RecordView rv;
    if (Status st = codec::ParseRecord(value, options.verify_hashes, &rv); !st.ok())
      return Status::Corruption(st.reason(), "conversation " + std::string(conversation_id) +
                                                 " seq " + std::to_string(kseq) + ": " +
                                                 st.message());
    if (rv.conversation_id != conversation_id || rv.conversation_seq != kseq || kseq != expect)
      return Status::Corruption("chain_broken", "conversation " + std::string(conversation_id) +
                                                    " seq " + std::to_string(kseq) +
                                                    ": key and record disagree or gap");
    ++expect;
    if (as_of && rv.global_seq > as_of) break;
    RawEvent raw{rv.global_seq, rv.conversation_seq, value, rv.hash, rv.tenant};
    if (!fn(raw)) break;
    if (options.limit && ++n >= options.limit) break;
  }
  return FromRocks(it->status(), "scanning conversation");
}

Status LedgerImpl::ScanGlobal(uint64_t after, const ReadOptions& options,
                              const std::function<bool(const RawEvent&)>& fn) {
  const uint64_t last = last_committed_.load(std::memory_order_acquire);
  const uint64_t bound = options.as_of_global_seq ? std::min(options.as_of_global_seq, last) : last;
  if (after >= bound) return Status::OK();
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  struct Release {
    rocksdb::DB* db;
    const rocksdb::Snapshot* s;
    ~Release() { db->ReleaseSnapshot(s); }
  } release{db_.get(), snap};
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  const std::string upper = keys::GlobalKey(bound + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions iro = ro;
  iro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(iro, global_cf_));
  it->Seek(keys::GlobalKey(after + 1));
  uint64_t expect = after + 1;
  size_t n = 0;
  constexpr size_t kChunk = 256;
  std::vector<std::string> ekeys;
  std::vector<uint64_t> seqs;
  std::string buf;
  bool stop = false;
  while (!stop) {
    ekeys.clear();
    seqs.clear();
    for (; it->Valid() && ekeys.size() < kChunk; it->Next()) {
      if (it->key().size() != 8)
        return Status::Corruption("corrupt_index", "global index key of wrong size");
      const uint64_t seq = keys::GetBe64(it->key().data());
      if (seq != expect)
        return Status::Corruption("gap", "global sequence " + std::to_string(expect) +
                                             " is missing from the index");
      ++expect;
      seqs.push_back(seq);
      ekeys.emplace_back(it->value().data(), it->value().size());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scanning the global index");
    if (ekeys.empty()) break;
    std::vector<rocksdb::Slice> slices(ekeys.begin(), ekeys.end());
    std::vector<rocksdb::PinnableSlice> values(ekeys.size());
    std::vector<rocksdb::Status> statuses(ekeys.size());
    db_->MultiGet(ro, events_cf_, slices.size(), slices.data(), values.data(), statuses.data());
    for (size_t i = 0; i < ekeys.size(); ++i) {
      if (statuses[i].IsNotFound())
        return Status::Corruption("missing_event", "global_seq " + std::to_string(seqs[i]) +
                                                       ": indexed event is missing");
      if (!statuses[i].ok()) return FromRocks(statuses[i], "reading events");
      std::string_view value = AlignedView(values[i], &buf);
      codec::RecordView rv;
      if (Status st = codec::ParseRecord(value, options.verify_hashes, &rv); !st.ok())
        return Status::Corruption(st.reason(), "global_seq " + std::to_string(seqs[i]) + ": " +
                                                   st.message());
      if (rv.global_seq != seqs[i])
        return Status::Corruption("index_mismatch", "global_seq " + std::to_string(seqs[i]) +
                                                        ": index points to another event");
      RawEvent raw{rv.global_seq, rv.conversation_seq, value, rv.hash, rv.tenant};
      if (!fn(raw) || (options.limit && ++n >= options.limit)) {
        stop = true;
        break;
      }
    }
    if (ekeys.size() < kChunk) break;
  }
  return Status::OK();
}

Result<std::vector<Event>> LedgerImpl::ReadGlobal(uint64_t after, const ReadOptions& options) {
  std::vector<Event> out;
  Status decode_error;
  Status st = ScanGlobal(after, options, [&](const RawEvent& raw) {
    auto e = codec::Decode(raw.record, false);
    if (e.ok() && options.open_content) {
      if (Status os = OpenEvent(*keystore_, &e.value()); !os.ok()) {
        decode_error = os;
        return false;
      }
    }
    if (!e.ok()) {
      decode_error = e.status();
      return false;
    }
    out.push_back(std::move(e).value());
    return true;
  });
  if (!st.ok()) return st;
  if (!decode_error.ok()) return decode_error;
  return out;
}

Result<std::vector<Event>> LedgerImpl::ReadConversation(std::string_view conversation_id,
                                                        uint64_t after,
                                                        const ReadOptions& options) {
  std::vector<Event> out;
  Status decode_error;
  Status st = ScanConversation(conversation_id, after, options, [&](const RawEvent& raw) {
    auto e = codec::Decode(raw.record, false);
    if (e.ok() && options.open_content) {
      if (Status os = OpenEvent(*keystore_, &e.value()); !os.ok()) {
        decode_error = os;
        return false;
      }
    }
    if (!e.ok()) {
      decode_error = e.status();
      return false;
    }
    out.push_back(std::move(e).value());
    return true;
  });
  if (!st.ok()) return st;
  if (!decode_error.ok()) return decode_error;
  return out;
}

Status LedgerImpl::HeadFromLog(std::string_view conversation_id, bool* exists,
                               keys::HeadValue* out) {
  // The head is the last event of the conversation: one backward seek in its key range.
  const std::string prefix = keys::ConvPrefix(conversation_id);
  rocksdb::Slice lower(prefix);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_cf_));
  it->SeekForPrev(keys::EventRangeEnd(conversation_id));
  *exists = false;
  if (!it->Valid()) return FromRocks(it->status(), "reading head");
  std::string_view kconv;
  uint64_t kseq = 0;
  if (!keys::ParseEventKey(std::string_view(it->key().data(), it->key().size()), &kconv, &kseq) ||
      kconv != conversation_id)
    return Status::OK();
  std::string buf;
  std::string_view value = AlignedView(it->value(), &buf);
  codec::RecordView rv;
  if (Status st = codec::ParseRecord(value, false, &rv); !st.ok())
    return Status::Corruption(st.reason(), "head of conversation " + std::string(conversation_id) +
                                               ": " + st.message());
  *exists = true;
  out->conversation_seq = rv.conversation_seq;
  out->global_seq = rv.global_seq;
  out->hash = rv.hash;
  out->tenant.assign(rv.tenant);
  return Status::OK();
}

Result<Head> LedgerImpl::GetHead(std::string_view conversation_id) {
  if (conversation_id.empty() || conversation_id.size() > kMaxConversationIdBytes)
    return Status::InvalidArgument("invalid_value", "conversation id must be 1 to 256 bytes");
  bool exists = false;
  keys::HeadValue h;
  if (Status st = HeadFromLog(conversation_id, &exists, &h); !st.ok()) return st;
  if (!exists)
    return Status::NotFound("conversation_not_found",
                            "conversation " + std::string(conversation_id) + " has no events");
  return Head{h.conversation_seq, h.hash, h.global_seq};
}

uint64_t LedgerImpl::LastGlobalSeq() const {
  return last_committed_.load(std::memory_order_acquire);
}

uint64_t LedgerImpl::WaitForEvents(uint64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lk(tail_mu_);
  tail_cv_.wait_for(lk, timeout, [&] {
    return closing_ || last_committed_.load(std::memory_order_acquire) > after;
  });
  return std::max(after, last_committed_.load(std::memory_order_acquire));
}

Result<LedgerStats> LedgerImpl::Stats() {
  LedgerStats st;
  st.last_global_seq = LastGlobalSeq();
  uint64_t v = 0;
  std::string cv;
  if (db_->Get(rocksdb::ReadOptions(), default_cf_, keys::kConversationsKey, &cv).ok() &&
      cv.size() == 8)
    st.conversations = keys::GetBe64(cv.data());
  for (auto* h : handles_) {
    if (db_->GetIntProperty(h, "rocksdb.estimate-live-data-size", &v)) st.live_data_bytes += v;
    if (db_->GetIntProperty(h, "rocksdb.cur-size-all-mem-tables", &v)) st.live_data_bytes += v;
  }
  if (db_->GetIntProperty(events_cf_, "rocksdb.total-sst-files-size", &v))
    st.events_sst_bytes = v;
  return st;
}

}  // namespace convledger
