// Key helpers shared by the folds. Private to projections/.
//
// Per-conversation state keys start with ConvKey(conv) = be16(len) || conv, so one conversation's
// state is one contiguous range and never interleaves with another's ("a" vs "ab").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace convledger::projections::keys {

std::string ConvKey(std::string_view conversation_id);
void PutBe64(std::string* dst, uint64_t v);
uint64_t GetBe64(std::string_view p);
// "YYYY-MM-DD" (UTC) of a time in microseconds since the epoch.
std::string UtcDay(int64_t micros);

}  // namespace convledger::projections::keys
