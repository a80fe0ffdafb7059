#include "keys.h"

#include "ledger/projection.h"

#include <cstring>

namespace convledger::keys {

void PutBe64(std::string* dst, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  dst->append(buf, 8);
}

uint64_t GetBe64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

static void PutBe16(std::string* dst, uint16_t v) {
  dst->push_back(static_cast<char>(v >> 8));
  dst->push_back(static_cast<char>(v & 0xff));
}

std::string ConvPrefix(std::string_view conversation_id) {
  std::string k;
  k.reserve(2 + conversation_id.size() + 8);
  PutBe16(&k, static_cast<uint16_t>(conversation_id.size()));
  k.append(conversation_id);
  return k;
}

std::string EventKey(std::string_view conversation_id, uint64_t conversation_seq) {
  std::string k = ConvPrefix(conversation_id);
  PutBe64(&k, conversation_seq);
  return k;
}

std::string EventRangeEnd(std::string_view conversation_id) {
  std::string k = ConvPrefix(conversation_id);
  k.append(9, '\xff');  // longer than any be64 suffix
  return k;
}

bool ParseEventKey(std::string_view key, std::string_view* conversation_id,
                   uint64_t* conversation_seq) {
  if (key.size() < 2 + 8) return false;
  const size_t len = (static_cast<unsigned char>(key[0]) << 8) | static_cast<unsigned char>(key[1]);
  if (key.size() != 2 + len + 8) return false;
  *conversation_id = key.substr(2, len);
  *conversation_seq = GetBe64(key.data() + 2 + len);
  return true;
}

std::string GlobalKey(uint64_t global_seq) {
  std::string k;
  PutBe64(&k, global_seq);
  return k;
}

std::string IdempotencyKey(std::string_view tenant, std::string_view key) {
  std::string k;
  PutBe16(&k, static_cast<uint16_t>(tenant.size()));
  k.append(tenant);
  k.append(key);
  return k;
}

std::string MessageKey(std::string_view conversation_id, std::string_view message_id) {
  std::string k = ConvPrefix(conversation_id);
  k.append(message_id);
  return k;
}

std::string EncodeCheckpoint(uint64_t global_seq, uint32_t version) {
  std::string v;
  PutBe64(&v, global_seq);
  for (int i = 3; i >= 0; --i) v.push_back(static_cast<char>((version >> (8 * i)) & 0xff));
  return v;
}

bool DecodeCheckpoint(std::string_view v, uint64_t* global_seq, uint32_t* version) {
  if (v.size() != 12) return false;
  *global_seq = GetBe64(v.data());
  uint32_t ver = 0;
  for (int i = 0; i < 4; ++i) ver = (ver << 8) | static_cast<unsigned char>(v[8 + i]);
  *version = ver;
  return true;
}

std::string EvidenceBodyKey(const Digest& sha256) {
  std::string k(1, 'b');
  k.append(reinterpret_cast<const char*>(sha256.data()), sha256.size());
  return k;
}

std::string SealedEvidenceBodyKey(const Digest& sha256) {
  std::string k(1, 'B');
  k.append(reinterpret_cast<const char*>(sha256.data()), sha256.size());
  return k;
}

std::string EvidenceDeliveryPrefix(const Digest& sha256) {
  std::string k(1, 'd');
  k.append(reinterpret_cast<const char*>(sha256.data()), sha256.size());
  return k;
}

Status CheckStateKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxStateKeyBytes || key[0] == '\0')
    return Status::InvalidArgument("invalid_state_key",
                                   "projection wrote an empty, reserved or oversized key");
  return Status::OK();
}

}  // namespace convledger::keys
