#include "state_keys.h"

#include "ledger/time.h"
#include "projections/projections.h"

namespace convledger::projections::keys {

std::string ConvKey(std::string_view conversation_id) {
  std::string k;
  k.reserve(2 + conversation_id.size());
  k.push_back(static_cast<char>((conversation_id.size() >> 8) & 0xff));
  k.push_back(static_cast<char>(conversation_id.size() & 0xff));
  k.append(conversation_id);
  return k;
}

void PutBe64(std::string* dst, uint64_t v) {
  for (int i = 7; i >= 0; --i) dst->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetBe64(std::string_view p) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < p.size(); ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string UtcDay(int64_t micros) { return FormatRfc3339(micros - micros % 1000000).substr(0, 10); }

}  // namespace convledger::projections::keys

namespace convledger::projections {

std::string ConversationStatePrefix(std::string_view conversation_id) {
  std::string k(1, 'c');
  k += keys::ConvKey(conversation_id);
  return k;
}

}  // namespace convledger::projections
