// The envelopes one render has opened, by their bytes. Private to projections/.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ledger/content.h"

namespace convledger::projections {

struct BytesHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Hashed, not ordered: envelopes of one conversation share their long first bytes (format,
// key id of the same subject), which an ordered map compares over and over. A send's content
// and its template parameters share one envelope, so it is opened once.
using OpenedCache = std::unordered_map<std::string, OpenedContent, BytesHash, std::equal_to<>>;

}  // namespace convledger::projections
