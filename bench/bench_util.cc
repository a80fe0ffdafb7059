#include "bench_util.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>

#include "schemas/events_generated.h"

// ---- fsync accounting -------------------------------------------------------------------------
// The benchmark binary is linked with exported symbols, so these definitions interpose the libc
// ones for every caller in the process, RocksDB included. Counting them gives the real number of
// syncs behind a group-commit figure instead of an estimate.
namespace {
std::atomic<uint64_t> g_sync_calls{0};

template <typename Fn>
Fn NextSymbol(const char* name) {
  void* sym = dlsym(RTLD_NEXT, name);
  if (sym == nullptr) {
    std::fprintf(stderr, "bench: dlsym(%s) failed\n", name);
    std::abort();
  }
  return reinterpret_cast<Fn>(sym);
}
}  // namespace

extern "C" int fsync(int fd) {
  static auto real = NextSymbol<int (*)(int)>("fsync");
  g_sync_calls.fetch_add(1, std::memory_order_relaxed);
  return real(fd);
}

extern "C" int fdatasync(int fd) {
  static auto real = NextSymbol<int (*)(int)>("fdatasync");
  g_sync_calls.fetch_add(1, std::memory_order_relaxed);
  return real(fd);
}

namespace convledger::bench {

uint64_t SyncCalls() { return g_sync_calls.load(std::memory_order_relaxed); }

namespace {
std::string& BaseDirRef() {
  static std::string dir = std::filesystem::temp_directory_path().string();
  return dir;
}

[[noreturn]] void Die(const std::string& what, const rocksdb::Status& s) {
  std::fprintf(stderr, "bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::abort();
}

void Check(const std::string& what, const rocksdb::Status& s) {
  if (!s.ok()) Die(what, s);
}
}  // namespace

void SetBaseDir(std::string dir) { BaseDirRef() = std::move(dir); }
const std::string& BaseDir() { return BaseDirRef(); }

TempDir::TempDir(std::string_view tag) {
  std::string templ = BaseDir() + "/convledger-bench-" + std::string(tag) + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    std::perror(("bench: mkdtemp " + templ).c_str());
    std::abort();
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

rocksdb::DBOptions LedgerLikeDbOptions() {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  options.bytes_per_sync = 1 << 20;
  return options;
}

rocksdb::ColumnFamilyOptions LedgerLikeCfOptions(const std::shared_ptr<rocksdb::Cache>& cache,
                                                 bool point_lookups) {
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  if (point_lookups) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
    cf.memtable_prefix_bloom_size_ratio = 0.02;
    cf.memtable_whole_key_filtering = true;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.compression = rocksdb::kLZ4Compression;
  cf.bottommost_compression = rocksdb::kZSTD;
  return cf;
}

RawDb::~RawDb() {
  if (db) {
    for (auto* cf : cfs) db->DestroyColumnFamilyHandle(cf).PermitUncheckedError();
    db->Close().PermitUncheckedError();
  }
}

std::unique_ptr<RawDb> OpenRaw(const std::string& dir, const std::vector<std::string>& cfs,
                               const std::vector<std::string>& point_lookup_cfs) {
  // One cache per database, like the ledger: the raw baselines never borrow its warm blocks.
  auto cache = rocksdb::NewLRUCache(64 << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, LedgerLikeCfOptions(cache, false));
  for (const auto& name : cfs) {
    const bool point = std::find(point_lookup_cfs.begin(), point_lookup_cfs.end(), name) !=
                       point_lookup_cfs.end();
    descriptors.emplace_back(name, LedgerLikeCfOptions(cache, point));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  Check("open raw " + dir,
        rocksdb::DB::Open(LedgerLikeDbOptions(), dir, descriptors, &handles, &db));
  auto raw = std::make_unique<RawDb>();
  raw->db.reset(db);
  // handles[0] is the default column family; keep it too so the destructor frees it.
  raw->cfs.assign(handles.begin() + 1, handles.end());
  raw->cfs.push_back(handles[0]);
  return raw;
}

void FlushAndCompact(RawDb& raw) {
  rocksdb::FlushOptions flush;
  flush.wait = true;
  Check("flush", raw.db->Flush(flush, raw.cfs));
  for (auto* cf : raw.cfs) {
    Check("compact", raw.db->CompactRange(rocksdb::CompactRangeOptions(), cf, nullptr, nullptr));
  }
}

bool FlushAndCompactClosedDb(const std::string& dir, std::string* error) {
  rocksdb::DBOptions db_options = LedgerLikeDbOptions();
  db_options.create_if_missing = false;
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, dir, &names);
  if (!s.ok()) {
    *error = s.ToString();
    return false;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  auto cache = rocksdb::NewLRUCache(64 << 20);
  for (const auto& name : names) {
    const bool point_lookups = name == "idempotency" || name == "heads" || name == "messages";
    descriptors.emplace_back(name, LedgerLikeCfOptions(cache, point_lookups));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  s = rocksdb::DB::Open(db_options, dir, descriptors, &handles, &db);
  if (!s.ok()) {
    *error = s.ToString();
    return false;
  }
  RawDb raw;
  raw.db.reset(db);
  raw.cfs = handles;
  FlushAndCompact(raw);
  return true;
}

void AppendBigEndian64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

uint64_t DecodeBigEndian64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < in.size(); ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string ConversationPrefix(std::string_view conversation_id) {
  std::string out;
  out.push_back(static_cast<char>(conversation_id.size() >> 8));
  out.push_back(static_cast<char>(conversation_id.size() & 0xff));
  out.append(conversation_id);
  return out;
}

std::string ConversationKey(std::string_view conversation_id, uint64_t conversation_seq) {
  std::string out = ConversationPrefix(conversation_id);
  AppendBigEndian64(&out, conversation_seq);
  return out;
}

std::string GlobalKey(uint64_t global_seq) {
  std::string out;
  AppendBigEndian64(&out, global_seq);
  return out;
}

std::string PrefixSuccessor(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last != 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;  // empty: no upper bound
}

std::string ConversationId(int group, int index) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "wa:+49151%03d%05d", group, index);
  return buf;
}

namespace {
constexpr int64_t kBaseTimeUs = 1795514400LL * 1000000;  // 2026-11-24T10:00:00Z

// 200 characters of a typical agent reply.
const std::string& AgentText() {
  static const std::string text = [] {
    std::string t =
        "Hello Ms. Schmidt, thank you for your order #48213. The blue trail running shoes "
        "(size 39) are in stock and ship today; delivery takes 2 business days. Reply STOP to "
        "unsubscribe from updates. Have a nice day!";
    t.resize(200, ' ');
    return t;
  }();
  return text;
}

const std::string& TextPool() {
  static const std::string pool =
      "Hi, I ordered the blue trail shoes last week and the tracking page still says 'label "
      "created'. Can you tell me when they will arrive? I need them before Saturday. Sorry, "
      "the price on the website was 89.90 but I was charged 99.90 on my card, please refund the "
      "difference. Thanks for your patience: we checked with the warehouse and your parcel left "
      "this morning, you will receive a tracking link by SMS. Our agents are available from 8 am "
      "to 8 pm, Monday to Saturday. Is there anything else I can help you with today?";
  return pool;
}
}  // namespace

Event MakeAgentMessage(std::string conversation_id, int thread, uint64_t n) {
  char id[96];
  std::snprintf(id, sizeof id, "wamid.HBgLNDkxNTE%03d%012llu%s", thread,
                static_cast<unsigned long long>(n), "FQIAERgSQkE4RkUwQTBDNUM3MzE3RAA=");
  Event e;
  e.type = EventType::kMessageSent;
  e.conversation_id = std::move(conversation_id);
  e.idempotency_key = std::string("wh-") + id;
  e.occurred_at_us = kBaseTimeUs + static_cast<int64_t>(n) * 1000;
  e.actor = Actor{ActorKind::kAgent, "agent-0042", "Maria Lopez"};
  e.channel = Channel::kWhatsApp;
  e.tenant = "acme-retail";
  e.message_id = id;
  e.direction = Direction::kOutbound;
  e.content = Content{AgentText(), {}};
  return e;
}

Event EventMix::Next(const std::string& conversation_id, uint64_t n) {
  auto& sent = sent_[conversation_id];
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Event e;
  e.conversation_id = conversation_id;
  e.occurred_at_us = kBaseTimeUs + static_cast<int64_t>(n) * 1000;
  e.channel = Channel::kWhatsApp;
  e.tenant = "acme-retail";
  char id[96];
  std::snprintf(id, sizeof id, "wamid.HBgLNDkxNTE%012llu%s", static_cast<unsigned long long>(n),
                "FQIAERgSQkE4RkUwQTBDNUM3MzE3RAA=");
  e.idempotency_key = std::string("wh-") + id;
  double r = unit(rng_);
  if (r < 0.3 && !sent.empty()) {
    // A delivery or read receipt reported by the platform for a recent message.
    e.type = EventType::kMessageStatus;
    e.actor = Actor{ActorKind::kPlatform, "whatsapp", "WhatsApp"};
    size_t back = std::min<size_t>(sent.size(), 3);
    e.message_id = sent[sent.size() - 1 - (rng_() % back)];
    e.status = (rng_() % 2) ? Delivery::kDelivered : Delivery::kRead;
    return e;
  }
  e.type = EventType::kMessageSent;
  e.message_id = id;
  const std::string& pool = TextPool();
  size_t len = 20 + rng_() % 281;
  size_t off = rng_() % (pool.size() - len);
  e.content = Content{pool.substr(off, len), {}};
  if (r < 0.65) {
    e.actor = Actor{ActorKind::kCustomer, conversation_id.substr(3), "Customer"};
    e.direction = Direction::kInbound;
  } else {
    e.actor = Actor{ActorKind::kAgent, "agent-0042", "Maria Lopez"};
    e.direction = Direction::kOutbound;
  }
  sent.push_back(e.message_id);
  return e;
}

RecordVerifier::RecordVerifier(Mode mode) : mode_(mode), ctx_(EVP_MD_CTX_new()) {}
RecordVerifier::~RecordVerifier() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

bool RecordVerifier::Verify(std::string_view record) {
  // The FlatBuffers verifier checks alignment; the ledger copies misaligned values too.
  if (reinterpret_cast<uintptr_t>(record.data()) % 8 != 0) {
    aligned_.assign(record);
    record = aligned_;
  }
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(record.data()), record.size());
  if (!fb::VerifyRecordBuffer(verifier)) return false;
  const fb::Record* rec = fb::GetRecord(record.data());
  const fb::Event* ev = rec->event_nested_root();
  if (ev == nullptr || rec->hash() == nullptr) return false;
  if (mode_ == kFlatBuffersOnly) return true;
  static const uint8_t kZeros[32] = {};
  const uint8_t* prev = ev->prev_hash() ? ev->prev_hash()->b()->Data() : kZeros;
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  static constexpr std::string_view kDomain = "convledger/event/v1";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, kDomain.data(), kDomain.size()) != 1 ||
      EVP_DigestUpdate(ctx, prev, 32) != 1 ||
      EVP_DigestUpdate(ctx, rec->event()->data(), rec->event()->size()) != 1 ||
      EVP_DigestFinal_ex(ctx, digest, &digest_len) != 1 || digest_len != 32) {
    return false;
  }
  return std::memcmp(digest, rec->hash()->b()->Data(), 32) == 0;
}

}  // namespace convledger::bench
