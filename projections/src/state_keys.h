// Key helpers shared by the folds. Private to projections/.
//
// ConvKey(conv) = be16(len) || conv: no conversation's keys fall inside another's range ("a" vs
// "ab"). The history and customer_view states put the tag byte 'c' before it
// (ConversationStatePrefix in projections.h), since ConvKey of a short id starts with 0x00, the
// ledger's reserved prefix.
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
