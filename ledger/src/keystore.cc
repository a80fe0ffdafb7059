#include "keystore.h"

#include <openssl/crypto.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "keys.h"
#include "signing.h"

namespace convledger::keystore {
namespace {

constexpr char kCheckKey[] = "!master_check";
constexpr size_t kRandBytes = 8;
constexpr char kHex[] = "0123456789abcdef";

std::string Hex(std::string_view b) {
  std::string s;
  s.reserve(b.size() * 2);
  for (unsigned char c : b) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 0xf]);
  }
  return s;
}

bool Unhex(std::string_view h, std::string* out) {
  // A table, not branches: every content read parses a key id.
  static constexpr auto kNibble = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (int c = 0; c < 10; ++c) t['0' + c] = static_cast<int8_t>(c);
    for (int c = 0; c < 6; ++c) {
      t['a' + c] = static_cast<int8_t>(10 + c);
      t['A' + c] = static_cast<int8_t>(10 + c);
    }
    return t;
  }();
  if (h.size() % 2) return false;
  out->resize(h.size() / 2);
  for (size_t i = 0; i < h.size(); i += 2) {
    const int a = kNibble[static_cast<uint8_t>(h[i])], b = kNibble[static_cast<uint8_t>(h[i + 1])];
    if ((a | b) < 0) return false;
    (*out)[i / 2] = static_cast<char>(a * 16 + b);
  }
  return true;
}

void PutLen(std::string* s, std::string_view v) {
  s->push_back(static_cast<char>((v.size() >> 8) & 0xff));
  s->push_back(static_cast<char>(v.size() & 0xff));
  s->append(v);
}

std::string Id(std::string_view domain, std::string_view a, std::string_view b) {
  std::string in(domain);
  PutLen(&in, a);
  in.append(b);
  const Digest d = codec::Sha256(in);
  return std::string(reinterpret_cast<const char*>(d.data()), kIdBytes);
}

std::string DigestBytes(const Digest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

Status LoadMasterKey(const std::string& dir, const Options& options, crypto::Key* out) {
  if (!options.master_key.empty()) {
    if (options.master_key.size() != 32)
      return Status::InvalidArgument("bad_master_key", "the master key must be 32 bytes");
    std::memcpy(out->data(), options.master_key.data(), 32);
    return Status::OK();
  }
  const std::string path = options.master_key_path.empty()
                               ? (std::filesystem::path(dir) / "keys" / "master.key").string()
                               : options.master_key_path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (options.read_only || !options.master_key_path.empty())
      return Status::NotFound("master_key_not_found", "no master key file at " + path);
    const crypto::Key k = crypto::NewKey();
    std::string hex = Hex(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
    hex.push_back('\n');
    Status st = signing::WriteSecretFile(path, hex);
    crypto::Cleanse(hex.data(), hex.size());
    if (!st.ok()) return st;
  }
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot read the master key file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  std::string raw;
  const bool ok = text.size() == 64 && Unhex(text, &raw);
  crypto::Cleanse(text.data(), text.size());
  if (!ok)
    return Status::InvalidArgument("bad_master_key",
                                   "the master key file " + path +
                                       " must hold 64 hexadecimal characters (32 bytes)");
  std::memcpy(out->data(), raw.data(), 32);
  crypto::Cleanse(raw.data(), raw.size());
  return Status::OK();
}

}  // namespace

std::string SubjectId(std::string_view tenant, std::string_view subject) {
  return Id("convledger/subject", tenant, subject);
}
std::string MessageId(std::string_view conversation_id, std::string_view message_id) {
  return Id("convledger/message", conversation_id, message_id);
}

std::string SubjectKey(std::string_view sid) { return "s" + std::string(sid); }
std::string SubjectDataPrefix(std::string_view sid) { return "d" + std::string(sid); }
std::string DataKeyPrefix(std::string_view sid, std::string_view mid) {
  return "d" + std::string(sid) + std::string(mid);
}
std::string RedactedKey(std::string_view sid, std::string_view mid) {
  return "r" + std::string(sid) + std::string(mid);
}
std::string ConversationKey(std::string_view conversation_id) {
  return "c" + std::string(conversation_id);
}
std::string SubjectConversationKey(std::string_view sid, std::string_view conversation_id) {
  return "x" + std::string(sid) + std::string(conversation_id);
}
std::string ConversationHoldPrefix(std::string_view conversation_id) {
  return "h" + keys::ConvPrefix(conversation_id);
}
std::string SubjectHoldPrefix(std::string_view sid) { return "H" + std::string(sid); }
std::string EvidenceKey(const Digest& sha) { return "e" + DigestBytes(sha); }
std::string SubjectEvidenceKey(std::string_view sid, const Digest& sha) {
  return "Y" + std::string(sid) + DigestBytes(sha);
}
std::string MessageEvidenceKey(std::string_view sid, std::string_view mid, const Digest& sha) {
  return "y" + std::string(sid) + std::string(mid) + DigestBytes(sha);
}

std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& c = prefix.back();
    if (static_cast<unsigned char>(c) != 0xff) {
      c = static_cast<char>(static_cast<unsigned char>(c) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

std::string EncodeSubject(const SubjectRecord& r) {
  std::string v(1, r.active ? '\x01' : '\x02');
  if (r.active) v += r.wrapped;
  PutLen(&v, r.tenant);
  v += r.subject;
  return v;
}

bool DecodeSubject(std::string_view v, SubjectRecord* out) {
  if (v.empty()) return false;
  out->active = v[0] == 1;
  if (v[0] != 1 && v[0] != 2) return false;
  v.remove_prefix(1);
  if (out->active) {
    if (v.size() < crypto::kWrappedKeyBytes) return false;
    out->wrapped.assign(v.substr(0, crypto::kWrappedKeyBytes));
    v.remove_prefix(crypto::kWrappedKeyBytes);
  } else {
    out->wrapped.clear();
  }
  if (v.size() < 2) return false;
  const size_t n = (static_cast<unsigned char>(v[0]) << 8) | static_cast<unsigned char>(v[1]);
  v.remove_prefix(2);
  if (v.size() < n) return false;
  out->tenant.assign(v.substr(0, n));
  out->subject.assign(v.substr(n));
  return true;
}

Result<std::unique_ptr<KeyStore>> KeyStore::Open(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                                 const std::string& dir,
                                                 const Options& options) {
  std::unique_ptr<KeyStore> ks(new KeyStore());
  ks->db_ = db;
  ks->cf_ = cf;
  if (Status st = LoadMasterKey(dir, options, &ks->master_); !st.ok()) {
    // A read-only open without the master key (an auditor verifying the log and its proofs)
    // works; content stays sealed.
    if (!(options.read_only && st.reason() == "master_key_not_found")) return st;
    ks->available_ = false;
    return ks;
  }
  const Digest check = crypto::Hmac(ks->master_, "convledger/master-key-check");
  const Digest fp = crypto::Hmac(ks->master_, "convledger/fingerprint");
  std::memcpy(ks->fingerprint_.data(), fp.data(), 32);
  if (cf == nullptr) return ks;  // read-only open of a ledger without keys: nothing sealed
  std::string stored;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf, kCheckKey, &stored);
  if (s.IsNotFound()) {
    if (!options.read_only) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      s = db->Put(wo, cf, kCheckKey, DigestBytes(check));
      if (!s.ok()) return Status::IOError("writing the master key check: " + s.ToString());
    }
  } else if (!s.ok()) {
    return Status::IOError("reading the master key check: " + s.ToString());
  } else if (stored.size() != 32 ||
             CRYPTO_memcmp(stored.data(), check.data(), 32) != 0) {
    return Status::Corruption("wrong_master_key",
                              "the master key does not match the one this ledger was created "
                              "with; refusing to open (content could not be read or sealed)");
  }
  return ks;
}

KeyStore::~KeyStore() {
  crypto::Cleanse(master_.data(), master_.size());
  crypto::Cleanse(fingerprint_.data(), fingerprint_.size());
  for (auto& [sid, k] : subject_keys_) crypto::Cleanse(k.data(), k.size());
  for (auto& [name, k] : data_keys_) crypto::Cleanse(k.data(), k.size());
  ClearContentsLocked();
}

namespace {
void CleanseString(std::string& s) { crypto::Cleanse(s.data(), s.size()); }
size_t ContentBytes(const std::string& key, const OpenedContent& o) {
  size_t n = key.size() + 96;
  if (o.content) {
    n += o.content->text.size();
    n += o.content->media.size() * 256;
  }
  for (const std::string& p : o.template_parameters) n += p.size() + 32;
  return n;
}
}  // namespace

void KeyStore::ClearContentsLocked() {
  for (auto& [key, e] : contents_) {
    if (e.opened.content) CleanseString(e.opened.content->text);
    for (std::string& p : e.opened.template_parameters) CleanseString(p);
  }
  contents_.clear();
  content_bytes_ = 0;
}

void KeyStore::CacheContent(std::string key, std::string_view ciphertext,
                            const OpenedContent& opened, uint64_t generation) {
  const size_t bytes = ContentBytes(key, opened) + ciphertext.size();
  std::lock_guard lk(mu_);
  if (generation != generation_ || bytes > kMaxContentBytes / 64) return;
  if (content_bytes_ + bytes > kMaxContentBytes) ClearContentsLocked();
  if (contents_.try_emplace(std::move(key), OpenedEntry{std::string(ciphertext), opened}).second)
    content_bytes_ += bytes;
}

codec::SealKey KeyStore::NewSealKey(std::string_view sid, std::string_view mid) const {
  codec::SealKey k;
  k.key = crypto::NewKey();
  k.nonce.assign(crypto::kNonceBytes, '\0');
  crypto::RandomBytes(k.nonce.data(), k.nonce.size());
  std::string rnd(kRandBytes, '\0');
  crypto::RandomBytes(rnd.data(), rnd.size());
  k.key_id = Hex(std::string(sid) + std::string(mid) + rnd);
  k.fingerprint_key = fingerprint_;
  return k;
}

bool KeyStore::ParseKeyId(std::string_view key_id, std::string* data_key, std::string* sid,
                          std::string* mid) {
  std::string raw;
  if (key_id.size() != 2 * (2 * kIdBytes + kRandBytes) || !Unhex(key_id, &raw)) return false;
  *sid = raw.substr(0, kIdBytes);
  *mid = raw.substr(kIdBytes, kIdBytes);
  *data_key = "d" + raw;
  return true;
}

bool KeyStore::SubjectKey(std::string_view sid, const SubjectRecord& rec, crypto::Key* out,
                          std::optional<uint64_t> generation) {
  if (CachedSubjectKey(sid, out)) return true;
  if (!rec.active) return false;
  if (!crypto::Unwrap(master_, keystore::SubjectKey(sid), rec.wrapped, out)) return false;
  Cache(&subject_keys_, sid, *out, generation);
  return true;
}

bool KeyStore::CachedSubjectKey(std::string_view sid, crypto::Key* out) {
  std::lock_guard lk(mu_);
  auto it = subject_keys_.find(std::string(sid));
  if (it == subject_keys_.end()) return false;
  *out = it->second;
  return true;
}

namespace {
constexpr size_t kMaxCachedKeys = 100000;

void ClearKeys(std::unordered_map<std::string, crypto::Key>* keys) {
  for (auto& [name, k] : *keys) crypto::Cleanse(k.data(), k.size());
  keys->clear();
}
}  // namespace

void KeyStore::Remember(std::string_view sid, const crypto::Key& key) {
  Cache(&subject_keys_, sid, key, std::nullopt);
}

void KeyStore::Cache(std::unordered_map<std::string, crypto::Key>* cache, std::string_view name,
                     const crypto::Key& key, std::optional<uint64_t> generation) {
  std::lock_guard lk(mu_);
  if (generation && *generation != generation_) return;
  if (cache->size() >= kMaxCachedKeys) ClearKeys(cache);
  (*cache)[std::string(name)] = key;
}

void KeyStore::Forget(std::string_view sid) {
  std::lock_guard lk(mu_);
  ++generation_;
  ClearContentsLocked();
  if (auto it = subject_keys_.find(std::string(sid)); it != subject_keys_.end()) {
    crypto::Cleanse(it->second.data(), it->second.size());
    subject_keys_.erase(it);
  }
}

void KeyStore::ForgetDataKeys() {
  std::lock_guard lk(mu_);
  ++generation_;
  ClearKeys(&data_keys_);
  ClearContentsLocked();
}

Result<OpenedContent> KeyStore::Open(std::string_view, const SealedContent& sealed) {
  OpenedContent out;
  if (!available_) {
    out.access = ContentAccess::kSealed;
    return out;
  }
  if (sealed.sealing != Sealing::kAes256Gcm)
    return Status::Corruption("unsupported_sealing", "content sealed with an unknown method");
  std::string content_key;
  // A hit is byte-identical ciphertext that authenticated before under the same key and nonce,
  // so it opens to the same plaintext (a changed byte is a miss, then a failure).
  content_key.reserve(sealed.key_id.size() + 1 + sealed.nonce.size());
  content_key.append(sealed.key_id).push_back('/');
  content_key.append(sealed.nonce);
  uint64_t content_generation = 0;
  {
    std::lock_guard lk(mu_);
    content_generation = generation_;
    if (auto it = contents_.find(content_key);
        it != contents_.end() && it->second.ciphertext == sealed.bytes)
      return it->second.opened;
  }
  std::string dkey, sid, mid;
  if (!ParseKeyId(sealed.key_id, &dkey, &sid, &mid))
    return Status::Corruption("unknown_key", "malformed content key id");
  if (cf_ == nullptr) return Status::Corruption("unknown_key", "this ledger holds no keys");
  crypto::Key dk;
  uint64_t generation = 0;
  bool cached = false;
  {
    std::lock_guard lk(mu_);
    generation = generation_;
    if (auto it = data_keys_.find(dkey); it != data_keys_.end()) {
      dk = it->second;
      cached = true;
    }
  }
  if (!cached) {
    std::string wrapped, v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_, dkey, &wrapped);
    if (s.IsNotFound()) {
      if (db_->Get(rocksdb::ReadOptions(), cf_, RedactedKey(sid, mid), &v).ok()) {
        out.access = ContentAccess::kRedacted;
        return out;
      }
      SubjectRecord rec;
      if (db_->Get(rocksdb::ReadOptions(), cf_, keystore::SubjectKey(sid), &v).ok() &&
          DecodeSubject(v, &rec)) {
        // Keys of a subject are destroyed only by its erasure (a later conversation starts a
        // new subject key): a missing data key of a known subject was erased with it.
        out.access = ContentAccess::kErased;
        return out;
      }
      return Status::Corruption("unknown_key", "no data key " + sealed.key_id);
    }
    if (!s.ok()) return Status::IOError("reading a content key: " + s.ToString());
    crypto::Key sk;
    // A cached subject key is an active one (an erasure forgets it when it commits, and
    // destroys the data keys in the same batch, so the data key just read proves the subject
    // was active).
    if (!CachedSubjectKey(sid, &sk)) {
      SubjectRecord rec;
      s = db_->Get(rocksdb::ReadOptions(), cf_, keystore::SubjectKey(sid), &v);
      if (!s.ok() || !DecodeSubject(v, &rec))
        return Status::Corruption("unknown_key", "data key without its subject key");
      if (!rec.active) {
        out.access = ContentAccess::kErased;
        return out;
      }
      if (!SubjectKey(sid, rec, &sk, generation))
        return Status::Corruption("content_auth_failed", "a subject key does not unwrap");
    }
    const bool unwrapped = crypto::Unwrap(sk, dkey, wrapped, &dk);
    crypto::Cleanse(sk.data(), sk.size());
    if (!unwrapped)
      return Status::Corruption("content_auth_failed", "a data key does not unwrap");
    Cache(&data_keys_, dkey, dk, generation);
  }
  std::string plain;
  const bool ok = crypto::Decrypt(dk, sealed.nonce, sealed.key_id, sealed.bytes, &plain);
  crypto::Cleanse(dk.data(), dk.size());
  if (!ok) return Status::Corruption("content_auth_failed", "sealed content does not authenticate");
  Status st = codec::DecodeContentPlain(plain, &out.content, &out.template_parameters);
  crypto::Cleanse(plain.data(), plain.size());
  if (!st.ok()) return st;
  out.access = ContentAccess::kOpened;
  CacheContent(std::move(content_key), sealed.bytes, out, content_generation);
  return out;
}

}  // namespace convledger::keystore
