// The envelopes one render has opened, by their bytes. Private to projections/.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ledger/content.h"

namespace convledger::projections {

// Hashes an envelope's last 32 bytes and its length: they end with the AES-GCM tag (16 bytes
// that differ for every sealing), while hashing every byte of every envelope of a render was
// 7 % of an uncached history render. Equality still compares the whole envelope.
struct BytesHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const {
    constexpr size_t kTail = 32;
    const std::string_view tail = s.size() > kTail ? s.substr(s.size() - kTail) : s;
    return std::hash<std::string_view>{}(tail) ^ (s.size() * 0x9e3779b97f4a7c15ULL);
  }
};

// Hashed, not ordered: envelopes of one conversation share their long first bytes (format,
// key id of the same subject), which an ordered map compares over and over. A send's content
// and its template parameters share one envelope, so it is opened once.
using OpenedCache = std::unordered_map<std::string, OpenedContent, BytesHash, std::equal_to<>>;

}  // namespace convledger::projections
