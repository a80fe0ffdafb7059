// RFC 3339 timestamps <-> microseconds since the Unix epoch (UTC).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace convledger {

// Accepts "2026-11-24T10:03:00Z", "2026-11-24T10:03:00.123456+01:00" (fractions up to 9
// digits, truncated to microseconds; 'T'/'t' and 'Z'/'z'). Rejects anything else, including
// out-of-range fields and years outside 1970..9999.
std::optional<int64_t> ParseRfc3339(std::string_view s);

// "2026-11-24T10:03:00Z" or, when there are microseconds, "2026-11-24T10:03:00.123456Z".
std::string FormatRfc3339(int64_t micros_since_epoch);

// The proleptic Gregorian calendar in UTC (H. Hinnant's days_from_civil / civil_from_days):
// days since 1970-01-01 of y-m-d, the date of a day number, and leap years.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d);
bool IsLeap(int64_t y);

}  // namespace convledger
