// Crypto-shredding inside the ledger: the subject of each conversation, sealing content on
// append, the leader's key work (subject keys, data keys, legal holds, destruction on redaction
// and erasure), sealed evidence, purging destroyed keys from disk, EraseSubject, ListSubjects.
// Key layout: keystore.h.
#include <rocksdb/options.h>

#include <map>
#include <unordered_map>

#include "ledger_impl.h"

namespace convledger {
namespace {

bool IsZeroDigest(const Digest& d) {
  for (uint8_t x : d)
    if (x) return false;
  return true;
}

bool Seals(EventType t) {
  return t == EventType::kMessageSent || t == EventType::kMessageEdited ||
         t == EventType::kNoteAdded;
}

// The id of the message whose data keys an event's content is sealed under.
std::string MidOf(const Event& e) {
  return keystore::MessageId(e.conversation_id,
                             e.type == EventType::kNoteAdded ? std::string("\0note", 5)
                                                             : e.message_id);
}

Status SubjectMismatch(const Event& e, const std::string& stored) {
  return Status::InvalidArgument("subject_mismatch",
                                 "conversation " + e.conversation_id + " belongs to subject \"" +
                                     stored + "\", not \"" + e.subject + "\"");
}

}  // namespace

bool LedgerImpl::CommittedConversationSubject(const std::string& conversation_id,
                                              std::string* value) const {
  {
    std::lock_guard lk(subject_cache_mu_);
    if (auto it = subject_cache_.find(conversation_id); it != subject_cache_.end()) {
      *value = it->second;
      return true;
    }
  }
  if (!db_->Get(rocksdb::ReadOptions(), keys_cf_, keystore::ConversationKey(conversation_id),
                value)
           .ok())
    return false;
  std::lock_guard lk(subject_cache_mu_);
  if (subject_cache_.size() >= 1000000) subject_cache_.clear();
  subject_cache_.emplace(conversation_id, *value);
  return true;
}

Status LedgerImpl::PrepareSealing(std::vector<Prepared>& out) const {
  if (keys_cf_ == nullptr) return Status::OK();
  // Subjects resolved for conversations this call starts (only their first event stores it).
  std::unordered_map<std::string, std::string> started;
  for (Prepared& p : out) {
    Event& e = p.event;
    std::string subject;
    if (auto it = started.find(e.conversation_id); it != started.end()) {
      subject = it->second;
      if (!e.subject.empty() && e.subject != subject) return SubjectMismatch(e, subject);
    } else {
      std::string v;
      if (CommittedConversationSubject(e.conversation_id, &v) && v.size() >= keystore::kIdBytes) {
        subject = v.substr(keystore::kIdBytes);
        if (!e.subject.empty() && e.subject != subject &&
            e.type != EventType::kSubjectErased && e.type != EventType::kErasureRefused)
          return SubjectMismatch(e, subject);
      } else {
        // A new conversation (or one written before subjects existed): the given subject
        // (stored in the event), or else the conversation itself (stored as no subject, so a
        // retry of the same input encodes the same bytes).
        subject = e.subject.empty() ? e.conversation_id : e.subject;
      }
      started.emplace(e.conversation_id, subject);
    }
    p.sid = keystore::SubjectId(e.tenant, subject);
    const bool has_content =
        (e.content && (!e.content->text.empty() || !e.content->media.empty())) ||
        (e.template_ && !e.template_->parameters.empty());
    if (options_.encrypt_content && Seals(e.type) && has_content)
      p.seal = keystore_->NewSealKey(p.sid, MidOf(e));
  }
  return Status::OK();
}

bool LedgerImpl::KeyGet(const std::string& key, Overlay& group, Overlay& local,
                        std::string* value) {
  for (Overlay* o : {&local, &group}) {
    if (auto it = o->keys.find(key); it != o->keys.end()) {
      if (!it->second) return false;
      *value = *it->second;
      return true;
    }
  }
  return db_->Get(rocksdb::ReadOptions(), keys_cf_, key, value).ok();
}

void LedgerImpl::KeyPut(const std::string& key, std::string value, Overlay& local,
                        rocksdb::WriteBatch* b) {
  b->Put(keys_cf_, key, value).PermitUncheckedError();
  local.keys[key] = std::move(value);
}

void LedgerImpl::KeyDelete(const std::string& key, Overlay& local, rocksdb::WriteBatch* b) {
  b->Delete(keys_cf_, key).PermitUncheckedError();
  local.keys[key] = std::nullopt;
}

std::vector<std::string> LedgerImpl::KeyScan(const std::string& prefix, Overlay& group,
                                             Overlay& local) {
  std::map<std::string, bool> found;  // key -> present
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), keys_cf_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
    found[it->key().ToString()] = true;
  for (Overlay* o : {&group, &local})
    for (auto i = o->keys.lower_bound(prefix);
         i != o->keys.end() && std::string_view(i->first).starts_with(prefix); ++i)
      found[i->first] = i->second.has_value();
  std::vector<std::string> out;
  for (auto& [k, present] : found)
    if (present) out.push_back(k);
  return out;
}

Status LedgerImpl::EnsureSubjectKey(const std::string& sid, const std::string& tenant,
                                    const std::string& subject, Overlay& group, Overlay& local,
                                    rocksdb::WriteBatch* batch, crypto::Key* out) {
  std::string v;
  keystore::SubjectRecord rec;
  // Fast path: an active subject whose key is cached and whose record this group has not
  // touched (an erasure in this group rewrites the record and is seen in the overlays; one
  // committed earlier removed the key from the cache).
  const std::string skey = keystore::SubjectKey(sid);
  if (!local.keys.count(skey) && !group.keys.count(skey) && keystore_->CachedSubjectKey(sid, out))
    return Status::OK();
  const bool exists = KeyGet(skey, group, local, &v);
  if (exists && !keystore::DecodeSubject(v, &rec))
    return Status::Corruption("corrupt_key", "a subject key record is unreadable");
  if (exists && rec.active) {
    // Created in this group and not committed yet: the overlay has it.
    for (Overlay* o : {&local, &group})
      for (const auto& [s, k] : o->new_subject_keys)
        if (s == sid) {
          *out = k;
          return Status::OK();
        }
    if (!keystore_->SubjectKey(sid, rec, out))
      return Status::Corruption("content_auth_failed", "a subject key does not unwrap");
    return Status::OK();
  }
  // No key yet, or erased: a new key (content written after an erasure is readable again).
  *out = crypto::NewKey();
  rec.active = true;
  rec.wrapped = crypto::Wrap(keystore_->master(), keystore::SubjectKey(sid), *out);
  rec.tenant = tenant;
  rec.subject = subject;
  KeyPut(keystore::SubjectKey(sid), keystore::EncodeSubject(rec), local, batch);
  local.new_subject_keys.emplace_back(sid, *out);
  return Status::OK();
}

void LedgerImpl::MarkPurge(Writer* w, Overlay& local, rocksdb::WriteBatch* batch) {
  if (w->purge) return;
  // Written with the destruction: if the process dies before the purge below ends, the next
  // read-write open finds the marker and purges then.
  std::string id(8, '\0');
  crypto::RandomBytes(id.data(), id.size());
  w->purge_marker = std::string(keystore::kPurgePendingPrefix) + id;
  KeyPut(w->purge_marker, "", local, batch);
  w->purge = true;
}

Status LedgerImpl::ApplyKeys(Prepared& p, Writer* w, Overlay& group, Overlay& local,
                             rocksdb::WriteBatch* batch) {
  if (keys_cf_ == nullptr) return Status::OK();
  const Event& e = p.event;
  // The conversation's subject: fixed by its first event.
  std::string v, sid, subject;
  const std::string ckey = keystore::ConversationKey(e.conversation_id);
  bool mapped = false;
  for (Overlay* o : {&local, &group})
    if (auto it = o->keys.find(ckey); !mapped && it != o->keys.end() && it->second) {
      v = *it->second;
      mapped = true;
    }
  if (!mapped) mapped = CommittedConversationSubject(e.conversation_id, &v);
  if (mapped && v.size() >= keystore::kIdBytes) {
    sid = v.substr(0, keystore::kIdBytes);
    subject = v.substr(keystore::kIdBytes);
    if (sid != p.sid) {
      Event shown = e;
      if (shown.subject.empty()) shown.subject = "(default)";
      return SubjectMismatch(shown, subject);
    }
  } else {
    sid = p.sid;
    subject = e.subject.empty() ? e.conversation_id : e.subject;
    KeyPut(ckey, sid + subject, local, batch);
    KeyPut(keystore::SubjectConversationKey(sid, e.conversation_id), "", local, batch);
  }
  crypto::Key sk{};
  const bool needs_key = p.seal.has_value() || e.type == EventType::kMessageSent;
  if (needs_key) {
    if (Status st = EnsureSubjectKey(sid, e.tenant, subject, group, local, batch, &sk); !st.ok())
      return st;
  }
  if (p.seal) {
    std::string dkey, ksid, kmid;
    keystore::KeyStore::ParseKeyId(p.seal->key_id, &dkey, &ksid, &kmid);
    KeyPut(dkey, crypto::Wrap(sk, dkey, p.seal->key), local, batch);
  }
  crypto::Cleanse(sk.data(), sk.size());

  // A hold on the conversation or its subject blocks redaction and erasure.
  auto blocking_hold = [&]() -> std::string {
    for (const std::string& prefix :
         {keystore::ConversationHoldPrefix(e.conversation_id), keystore::SubjectHoldPrefix(sid)}) {
      auto held = KeyScan(prefix, group, local);
      if (!held.empty()) return held.front().substr(prefix.size());
    }
    return {};
  };
  auto refuse = [&](const std::string& case_ref) {
    Event r;
    r.type = EventType::kErasureRefused;
    r.conversation_id = e.conversation_id;
    r.tenant = e.tenant;
    r.actor = e.actor;
    r.channel = e.channel;
    r.occurred_at_us = e.occurred_at_us;
    r.refused = e.type;
    r.message_id = e.type == EventType::kMessageRedacted ? e.message_id : std::string();
    r.subject = subject;
    r.reason = e.reason;
    r.case_ref = case_ref;
    w->refusals.push_back(std::move(r));
    return Status::InvariantViolation(
        "legal_hold_active",
        std::string(e.type == EventType::kMessageRedacted ? "redaction of message " + e.message_id
                                                          : "erasure of the subject") +
            " refused: legal hold \"" + case_ref + "\" covers conversation " +
            e.conversation_id + " (the request is recorded; an admin may override)");
  };
  // Evidence bodies sealed under keys indexed by `prefix` ('y' sid mid or 'Y' sid).
  auto destroy_evidence = [&](const std::string& prefix) {
    for (const std::string& k : KeyScan(prefix, group, local)) {
      Digest sha{};
      std::memcpy(sha.data(), k.data() + k.size() - 32, 32);
      const std::string key = keystore::EvidenceKey(sha);
      KeyDelete(key, local, batch);
      w->purge_ranges.emplace_back(key, key + '\0');
    }
  };

  switch (e.type) {
    case EventType::kMessageRedacted: {
      if (!e.override_hold)
        if (std::string hold = blocking_hold(); !hold.empty()) return refuse(hold);
      const std::string mid = keystore::MessageId(e.conversation_id, e.message_id);
      const std::string prefix = keystore::DataKeyPrefix(sid, mid);
      batch->DeleteRange(keys_cf_, prefix, keystore::PrefixEnd(prefix)).PermitUncheckedError();
      w->purge_ranges.emplace_back(prefix, keystore::PrefixEnd(prefix));
      for (auto i = local.keys.lower_bound(prefix);
           i != local.keys.end() && std::string_view(i->first).starts_with(prefix); ++i)
        i->second = std::nullopt;
      KeyPut(keystore::RedactedKey(sid, mid), "", local, batch);
      destroy_evidence("y" + sid + mid);
      MarkPurge(w, local, batch);
      break;
    }
    case EventType::kSubjectErased: {
      if (!e.override_hold)
        if (std::string hold = blocking_hold(); !hold.empty()) return refuse(hold);
      keystore::SubjectRecord rec;
      if (KeyGet(keystore::SubjectKey(sid), group, local, &v) && keystore::DecodeSubject(v, &rec) &&
          rec.active) {
        rec.active = false;
        rec.wrapped.clear();
        KeyPut(keystore::SubjectKey(sid), keystore::EncodeSubject(rec), local, batch);
        const std::string prefix = keystore::SubjectDataPrefix(sid);
        batch->DeleteRange(keys_cf_, prefix, keystore::PrefixEnd(prefix)).PermitUncheckedError();
        w->purge_ranges.emplace_back(keystore::SubjectKey(sid), keystore::SubjectKey(sid) + '\0');
        w->purge_ranges.emplace_back(prefix, keystore::PrefixEnd(prefix));
        for (auto i = local.keys.lower_bound(prefix);
             i != local.keys.end() && std::string_view(i->first).starts_with(prefix); ++i)
          i->second = std::nullopt;
        destroy_evidence("Y" + sid);
        local.forget_subjects.push_back(sid);
        std::erase_if(local.new_subject_keys, [&](const auto& k) { return k.first == sid; });
      }
      MarkPurge(w, local, batch);
      break;
    }
    case EventType::kLegalHoldChanged: {
      const std::string key = (e.hold_scope == HoldScope::kSubject
                                   ? keystore::SubjectHoldPrefix(sid)
                                   : keystore::ConversationHoldPrefix(e.conversation_id)) +
                              e.case_ref;
      if (e.hold == HoldAction::kPlaced)
        KeyPut(key, "", local, batch);
      else
        KeyDelete(key, local, batch);
      break;
    }
    default:
      break;
  }
  if (!IsZeroDigest(e.evidence)) {
    KeyPut(keystore::SubjectEvidenceKey(sid, e.evidence), "", local, batch);
    if (NamesMessage(e.type))
      KeyPut(keystore::MessageEvidenceKey(
                 sid, keystore::MessageId(e.conversation_id, e.message_id), e.evidence),
             "", local, batch);
  }
  return Status::OK();
}

void LedgerImpl::PutSealedEvidence(const EvidenceDelivery& d, const Digest& sha,
                                   rocksdb::WriteBatch* batch) {
  // Stored once. A body whose key was destroyed is not stored again on a redelivery: that would
  // bring back what a redaction or erasure removed.
  std::string existing;
  if (db_->Get(rocksdb::ReadOptions(), evidence_cf_, keys::SealedEvidenceBodyKey(sha), &existing)
          .ok() ||
      db_->Get(rocksdb::ReadOptions(), evidence_cf_, keys::EvidenceBodyKey(sha), &existing).ok())
    return;
  crypto::Key k = crypto::NewKey();
  std::string nonce(crypto::kNonceBytes, '\0');
  crypto::RandomBytes(nonce.data(), nonce.size());
  const std::string name = keystore::EvidenceKey(sha);
  batch->Put(evidence_cf_, keys::SealedEvidenceBodyKey(sha),
             nonce + crypto::Encrypt(k, nonce, name, d.body))
      .PermitUncheckedError();
  batch->Put(keys_cf_, name, crypto::Wrap(keystore_->master(), name, k)).PermitUncheckedError();
  crypto::Cleanse(k.data(), k.size());
}

Status LedgerImpl::PurgeDestroyedKeys(
    const std::string& marker, const std::vector<std::pair<std::string, std::string>>& ranges) {
  std::lock_guard lk(purge_mu_);
  rocksdb::FlushOptions fo;
  fo.wait = true;
  fo.allow_write_stall = true;
  // Every column family: a WAL file is deleted only once no column family needs it, and the one
  // holding the destroyed key's Put may hold anything else too.
  rocksdb::Status s = db_->Flush(fo, handles_);
  if (!s.ok()) return FromRocksStatus(s, "flushing after a key destruction");
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  // `keys`: only the files overlapping what was destroyed are rewritten, down to the bottom
  // level, where the old values and their tombstones meet and are dropped; compacting the
  // whole column family made a redaction cost grow with the ledger. Without ranges (the purge
  // at open): all of it.
  if (keys_cf_ != nullptr) {
    if (ranges.empty()) {
      s = db_->CompactRange(co, keys_cf_, nullptr, nullptr);
      if (!s.ok()) return FromRocksStatus(s, "compacting after a key destruction");
    }
    // One compaction per kind of key (its tag byte), over the span of that kind's ranges: an
    // erasure can destroy thousands of evidence keys, each its own range, and a manual
    // compaction per range would cost more than the whole column family.
    std::map<char, std::pair<std::string, std::string>> spans;
    for (const auto& [first, end] : ranges) {
      if (first.empty()) continue;
      auto [it, fresh] = spans.try_emplace(first[0], first, end);
      if (fresh) continue;
      if (first < it->second.first) it->second.first = first;
      if (end > it->second.second) it->second.second = end;
    }
    for (const auto& [tag, span] : spans) {
      const rocksdb::Slice b(span.first), e(span.second);
      s = db_->CompactRange(co, keys_cf_, &b, &e);
      if (!s.ok()) return FromRocksStatus(s, "compacting after a key destruction");
    }
  }
  if (evidence_cf_ != nullptr) {
    s = db_->CompactRange(co, evidence_cf_, nullptr, nullptr);
    if (!s.ok()) return FromRocksStatus(s, "compacting after a key destruction");
  }
  // Obsolete WAL and SST files are deleted by RocksDB's purge after the flush and compaction.
  s = db_->FlushWAL(true);
  if (!s.ok()) return FromRocksStatus(s, "syncing the WAL after a key destruction");
  // Done: drop this purge's marker (empty: every marker, the purge at open).
  std::vector<std::string> markers;
  if (marker.empty()) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), keys_cf_));
    for (it->Seek(keystore::kPurgePendingPrefix);
         it->Valid() && it->key().starts_with(keystore::kPurgePendingPrefix); it->Next())
      markers.push_back(it->key().ToString());
  } else {
    markers.push_back(marker);
  }
  for (const std::string& m : markers) {
    s = db_->Delete(rocksdb::WriteOptions(), keys_cf_, m);
    if (!s.ok()) return FromRocksStatus(s, "clearing a purge marker");
  }
  return Status::OK();
}

Status LedgerImpl::ResumePurge() {
  if (keys_cf_ == nullptr || options_.read_only) return Status::OK();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), keys_cf_));
  it->Seek(keystore::kPurgePendingPrefix);
  const bool pending = it->Valid() && it->key().starts_with(keystore::kPurgePendingPrefix);
  it.reset();
  if (!pending) return Status::OK();
  if (options_.info_log)
    options_.info_log("a key destruction was interrupted before its purge; purging now");
  return PurgeDestroyedKeys({});
}

void LedgerImpl::RecordRefusals(Writer& w) {
  if (w.refusals.empty()) return;
  // Best effort on top of a refusal already decided: the caller gets the refusal either way.
  auto r = AppendImpl(std::move(w.refusals), AppendOptions{}, /*internal=*/true);
  if (!r.ok() && options_.info_log)
    options_.info_log("recording a refused erasure failed: " + r.status().ToString());
}

ContentOpener& LedgerImpl::Opener() { return *keystore_; }

Result<EraseReport> LedgerImpl::EraseSubject(const EraseRequest& request) {
  if (options_.read_only) return Status::IOError("the ledger is open read-only");
  if (keys_cf_ == nullptr) return Status::IOError("this ledger has no key store");
  if (request.subject.empty())
    return Status::InvalidArgument("missing_field", "subject is required");
  if (request.reason.empty())
    return Status::InvalidArgument("missing_field", "reason is required");
  EraseReport report;
  report.tenant = request.tenant.empty() ? "default" : request.tenant;
  report.subject = request.subject;
  const std::string sid = keystore::SubjectId(report.tenant, request.subject);
  const std::string xprefix = "x" + sid;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), keys_cf_));
  for (it->Seek(xprefix); it->Valid() && it->key().starts_with(xprefix); it->Next())
    report.conversations.push_back(it->key().ToString().substr(xprefix.size()));
  if (!it->status().ok()) return FromRocksStatus(it->status(), "listing a subject");
  if (report.conversations.empty())
    return Status::NotFound("subject_not_found", "no conversation of subject \"" +
                                                     request.subject + "\" in tenant " +
                                                     report.tenant);
  std::string v;
  keystore::SubjectRecord rec;
  if (db_->Get(rocksdb::ReadOptions(), keys_cf_, keystore::SubjectKey(sid), &v).ok() &&
      keystore::DecodeSubject(v, &rec) && !rec.active) {
    report.already_erased = true;
    return report;
  }
  const std::string dprefix = keystore::SubjectDataPrefix(sid), yprefix = "Y" + sid;
  for (const std::string& prefix : {dprefix, yprefix})
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
      ++report.keys_destroyed;
  ++report.keys_destroyed;  // the subject key
  it.reset();

  std::vector<Event> events;
  for (const std::string& conv : report.conversations) {
    Event e;
    e.type = EventType::kSubjectErased;
    e.conversation_id = conv;
    e.tenant = report.tenant;
    e.actor = request.actor;
    if (e.actor.kind == ActorKind::kUnknown) e.actor.kind = ActorKind::kSystem;
    if (e.actor.id.empty()) e.actor.id = "erasure";
    e.subject = request.subject;
    e.reason = request.reason;
    e.override_hold = request.override_hold;
    if (request.occurred_at_us) e.occurred_at_us = request.occurred_at_us;
    events.push_back(std::move(e));
  }
  auto appended = AppendImpl(std::move(events), AppendOptions{}, /*internal=*/true);
  if (!appended.ok()) return appended.status();
  report.first_global_seq = appended->front().global_seq;
  report.last_global_seq = appended->back().global_seq;
  return report;
}

Result<std::vector<SubjectInfo>> LedgerImpl::ListSubjects(std::string_view tenant) {
  std::vector<SubjectInfo> out;
  if (keys_cf_ == nullptr) return out;
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, keys_cf_));
  std::unique_ptr<rocksdb::Iterator> sub(db_->NewIterator(ro, keys_cf_));
  Status status;
  for (it->Seek("s"); it->Valid() && it->key().starts_with("s"); it->Next()) {
    keystore::SubjectRecord rec;
    if (it->key().size() != 1 + keystore::kIdBytes ||
        !keystore::DecodeSubject(it->value().ToStringView(), &rec)) {
      status = Status::Corruption("corrupt_key", "a subject record is unreadable");
      break;
    }
    if (!tenant.empty() && rec.tenant != tenant) continue;
    const std::string sid = it->key().ToString().substr(1);
    SubjectInfo info;
    info.tenant = rec.tenant;
    info.subject = rec.subject;
    info.erased = !rec.active;
    const std::string xprefix = "x" + sid;
    for (sub->Seek(xprefix); sub->Valid() && sub->key().starts_with(xprefix); sub->Next())
      info.conversations.push_back(sub->key().ToString().substr(xprefix.size()));
    sub->Seek(keystore::SubjectHoldPrefix(sid));
    info.held = sub->Valid() && sub->key().starts_with(keystore::SubjectHoldPrefix(sid));
    for (const std::string& conv : info.conversations) {
      const std::string hp = keystore::ConversationHoldPrefix(conv);
      sub->Seek(hp);
      if (sub->Valid() && sub->key().starts_with(hp)) info.held = true;
      auto head = GetHead(conv);
      if (!head.ok()) continue;
      ReadOptions rop;
      rop.limit = 1;
      auto last = ReadConversation(conv, head->conversation_seq - 1, rop);
      if (last.ok() && !last->empty())
        info.last_occurred_us =
            std::max(info.last_occurred_us, last->front().occurred_at_us.value_or(0));
    }
    out.push_back(std::move(info));
  }
  if (status.ok() && !it->status().ok())
    status = FromRocksStatus(it->status(), "listing subjects");
  it.reset();
  sub.reset();
  db_->ReleaseSnapshot(snap);
  if (!status.ok()) return status;
  std::sort(out.begin(), out.end(), [](const SubjectInfo& a, const SubjectInfo& b) {
    return std::tie(a.tenant, a.subject) < std::tie(b.tenant, b.subject);
  });
  return out;
}

}  // namespace convledger
