// The `keys` column family: the only mutable secret material (see ledger/content.h).
//
//   '!' "master_check"                 -> HMAC(master, "convledger/master-key-check")
//   '!purge/' || rnd(8)                -> "" : a destruction not yet purged from the files
//   's' || sid                         -> state(1: 1 active, 2 erased) || wrapped subject key (60,
//                                         active only) || be16 len || tenant || subject
//   'd' || sid || mid || rnd(8)        -> data key wrapped by the subject key (60)
//   'r' || sid || mid                  -> "" : the message was redacted (its data keys destroyed)
//   'c' || conversation id             -> sid || subject            (the conversation's subject)
//   'x' || sid || conversation id      -> ""                        (a subject's conversations)
//   'h' || ConvPrefix(conv) || case    -> ""   a legal hold on a conversation
//   'H' || sid || case                 -> ""   a legal hold on a subject
//   'e' || sha256(body)                -> evidence body key wrapped by the master key (60)
//   'Y' || sid || sha256               -> ""   evidence linked to a subject
//   'y' || sid || mid || sha256        -> ""   evidence linked to a message
//
// sid = SHA-256("convledger/subject" || be16 len || tenant || subject)[0..16)
// mid = SHA-256("convledger/message" || be16 len || conversation || message id)[0..16)
// A sealed event's key id is hex(sid || mid || rnd): everything needed to find its data key.
// Notes have no message id: mid is then taken over "\0note" and the note's own random part.
#pragma once

#include <rocksdb/db.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "codec.h"
#include "crypto.h"
#include "ledger/content.h"
#include "ledger/ledger.h"

namespace convledger::keystore {

inline constexpr char kKeysCf[] = "keys";
inline constexpr size_t kIdBytes = 16;
// '!purge/' || rnd(8) -> "": keys were destroyed and not purged from disk yet.
inline constexpr char kPurgePendingPrefix[] = "!purge/";

std::string SubjectId(std::string_view tenant, std::string_view subject);
std::string MessageId(std::string_view conversation_id, std::string_view message_id);

// Key builders.
std::string SubjectKey(std::string_view sid);
std::string DataKeyPrefix(std::string_view sid, std::string_view mid);  // 'd' sid mid
std::string SubjectDataPrefix(std::string_view sid);                    // 'd' sid
std::string RedactedKey(std::string_view sid, std::string_view mid);
std::string ConversationKey(std::string_view conversation_id);
std::string SubjectConversationKey(std::string_view sid, std::string_view conversation_id);
std::string ConversationHoldPrefix(std::string_view conversation_id);
std::string SubjectHoldPrefix(std::string_view sid);
std::string EvidenceKey(const Digest& sha);
std::string SubjectEvidenceKey(std::string_view sid, const Digest& sha);
std::string MessageEvidenceKey(std::string_view sid, std::string_view mid, const Digest& sha);
// The exclusive end of a prefix range (prefix with its last byte incremented, carried).
std::string PrefixEnd(std::string prefix);

struct SubjectRecord {
  bool active = false;       // false: erased (or never keyed)
  std::string wrapped;       // the wrapped subject key while active
  std::string tenant;
  std::string subject;
};
std::string EncodeSubject(const SubjectRecord& r);
bool DecodeSubject(std::string_view v, SubjectRecord* out);

// The master key, the derived fingerprint key, and a cache of unwrapped subject keys. Opens
// sealed content. Thread-safe.
class KeyStore final : public ContentOpener {
 public:
  // Loads the master key (Options::master_key, or the key file, created when missing in a
  // read-write open) and checks it against the check value stored at creation.
  static Result<std::unique_ptr<KeyStore>> Open(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                                const std::string& dir, const Options& options);
  ~KeyStore() override;

  const crypto::Key& master() const { return master_; }
  const crypto::Key& fingerprint_key() const { return fingerprint_; }
  rocksdb::ColumnFamilyHandle* cf() const { return cf_; }

  // A fresh data key, nonce and key id for one sealed event.
  codec::SealKey NewSealKey(std::string_view sid, std::string_view mid) const;
  // Splits a key id into its data key's name ('d' || sid || mid || rnd); false if malformed.
  static bool ParseKeyId(std::string_view key_id, std::string* data_key, std::string* sid,
                         std::string* mid);

  // The unwrapped key of an active subject record, cached unless a forget happened since
  // `generation` (the writer, which does the forgetting itself, passes none).
  bool SubjectKey(std::string_view sid, const SubjectRecord& rec, crypto::Key* out,
                  std::optional<uint64_t> generation = std::nullopt);
  // The cached key of an active subject, without reading its record.
  bool CachedSubjectKey(std::string_view sid, crypto::Key* out);
  void Remember(std::string_view sid, const crypto::Key& key);
  // After a commit that erased the subject: drops its key. (The erasure's data keys go with
  // ForgetDataKeys, as every destruction's do.)
  void Forget(std::string_view sid);
  // After a commit that destroyed data keys (a redaction, an erasure, retention): drops every
  // cached data key.
  void ForgetDataKeys();

  // Without the master key (read-only open) content stays sealed: access kSealed.
  Result<OpenedContent> Open(std::string_view conversation_id,
                             const SealedContent& sealed) override;

 private:
  KeyStore() = default;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_ = nullptr;
  bool available_ = true;  // false: read-only open without the master key (content stays sealed)
  crypto::Key master_{};
  crypto::Key fingerprint_{};
  // Unwrapped keys, cached: a read of a 1,000-event conversation would otherwise read and
  // unwrap a data key per content, and a subject key per data key. Holding data keys adds no
  // exposure beyond the subject keys already held (which unwrap them). Every forget bumps
  // `generation_`; a reader caches a key only if no forget happened since it began, so a key
  // read just before a destruction commits never comes back into the cache after it.
  // Caches `key` under `name` in `cache` unless a forget happened since `generation` (none:
  // unconditionally).
  void Cache(std::unordered_map<std::string, crypto::Key>* cache, std::string_view name,
             const crypto::Key& key, std::optional<uint64_t> generation);
  std::mutex mu_;
  uint64_t generation_ = 0;                                    // GUARDED_BY(mu_)
  std::unordered_map<std::string, crypto::Key> subject_keys_;  // GUARDED_BY(mu_)
  std::unordered_map<std::string, crypto::Key> data_keys_;     // GUARDED_BY(mu_)
  // Opened content, by its whole envelope: a render opens every message of a conversation again,
  // and this skips the AES-GCM key setup and decryption of what was opened before. Looked up by
  // key id and nonce (random for every sealing), and a hit only when the ciphertext kept with it
  // is byte-identical, so hashing and copying a lookup key never covers the ciphertext. It holds
  // no more than the cached keys already give (they open the same ciphertext), goes with them on
  // every forget, under the same generation rule, and is bounded by bytes (cleared when full).
  struct OpenedEntry {
    std::string ciphertext;  // sealed.bytes it was opened from
    OpenedContent opened;
  };
  void CacheContent(std::string key, std::string_view ciphertext, const OpenedContent& opened,
                    uint64_t generation);
  void ClearContentsLocked();
  static constexpr size_t kMaxContentBytes = 32 << 20;
  std::unordered_map<std::string, OpenedEntry> contents_;      // GUARDED_BY(mu_)
  size_t content_bytes_ = 0;                                   // GUARDED_BY(mu_)
};

}  // namespace convledger::keystore
