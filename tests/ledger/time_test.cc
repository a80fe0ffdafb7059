// Specification of ledger/src/time.cc: RFC 3339 <-> microseconds since the Unix epoch.
#include "ledger/time.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convledger {
namespace {

constexpr int64_t kSecond = 1000000;
// 2026-11-24T10:03:00Z
constexpr int64_t kExample = 1795514580LL * kSecond;

TEST(ParseRfc3339Test, ParsesTheEpoch) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00Z"), std::optional<int64_t>(0));
}

TEST(ParseRfc3339Test, ParsesUtcTimestamps) {
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00Z"), kExample);
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:01Z"), kSecond);
  EXPECT_EQ(ParseRfc3339("2038-01-19T03:14:08Z"), 2147483648LL * kSecond);
  EXPECT_EQ(ParseRfc3339("9999-12-31T23:59:59Z"), 253402300799LL * kSecond);
}

TEST(ParseRfc3339Test, AcceptsLowerCaseTAndZ) {
  EXPECT_EQ(ParseRfc3339("2026-11-24t10:03:00z"), kExample);
  EXPECT_EQ(ParseRfc3339("2026-11-24t10:03:00Z"), kExample);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00z"), kExample);
}

TEST(ParseRfc3339Test, AppliesPositiveAndNegativeOffsets) {
  EXPECT_EQ(ParseRfc3339("2026-11-24T11:03:00+01:00"), kExample);
  EXPECT_EQ(ParseRfc3339("2026-11-24T05:03:00-05:00"), kExample);
  EXPECT_EQ(ParseRfc3339("2026-11-24T15:33:00+05:30"), kExample);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00+00:00"), kExample);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00-00:00"), kExample);
  EXPECT_EQ(ParseRfc3339("2026-11-24T23:59:00+23:59"), ParseRfc3339("2026-11-24T00:00:00Z"));
}

TEST(ParseRfc3339Test, OffsetsCrossDayMonthAndYearBoundaries) {
  // 2027-01-01T00:30:00+01:00 is 2026-12-31T23:30:00Z.
  EXPECT_EQ(ParseRfc3339("2027-01-01T00:30:00+01:00"), ParseRfc3339("2026-12-31T23:30:00Z"));
  // 2026-02-28T22:00:00-03:00 is 2026-03-01T01:00:00Z (2026 is not a leap year).
  EXPECT_EQ(ParseRfc3339("2026-02-28T22:00:00-03:00"), ParseRfc3339("2026-03-01T01:00:00Z"));
}

TEST(ParseRfc3339Test, ParsesFractionsOfEveryLengthUpToNineDigits) {
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.1Z"), kExample + 100000);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.12Z"), kExample + 120000);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.123Z"), kExample + 123000);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.000001Z"), kExample + 1);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.123456Z"), kExample + 123456);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.1234567Z"), kExample + 123456);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.123456999Z"), kExample + 123456);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.999999999Z"), kExample + 999999);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.000000Z"), kExample);
}

TEST(ParseRfc3339Test, CombinesFractionAndOffset) {
  EXPECT_EQ(ParseRfc3339("2026-11-24T11:03:00.123456+01:00"), kExample + 123456);
  EXPECT_EQ(ParseRfc3339("2026-11-24T05:03:00.5-05:00"), kExample + 500000);
}

TEST(ParseRfc3339Test, AcceptsLeapDayOnlyInLeapYears) {
  EXPECT_EQ(ParseRfc3339("2024-02-29T23:59:59Z"), 1709251199LL * kSecond);  // divisible by 4
  EXPECT_EQ(ParseRfc3339("2000-02-29T00:00:00Z"), 951782400LL * kSecond);   // divisible by 400
  EXPECT_EQ(ParseRfc3339("2025-02-29T00:00:00Z"), std::nullopt);            // not divisible by 4
  EXPECT_EQ(ParseRfc3339("2100-02-29T00:00:00Z"), std::nullopt);            // by 100, not by 400
  EXPECT_EQ(ParseRfc3339("2024-02-30T00:00:00Z"), std::nullopt);
}

TEST(ParseRfc3339Test, AcceptsTheLastDayOfEveryMonth) {
  const char* last_days[] = {"2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30",
                             "2026-05-31", "2026-06-30", "2026-07-31", "2026-08-31",
                             "2026-09-30", "2026-10-31", "2026-11-30", "2026-12-31"};
  for (const char* day : last_days) {
    EXPECT_NE(ParseRfc3339(std::string(day) + "T12:00:00Z"), std::nullopt) << day;
  }
}

TEST(ParseRfc3339Test, RejectsDayPastTheEndOfTheMonth) {
  const char* bad[] = {"2026-01-32", "2026-04-31", "2026-06-31", "2026-09-31",
                       "2026-11-31", "2026-12-32", "2026-02-29"};
  for (const char* day : bad) {
    EXPECT_EQ(ParseRfc3339(std::string(day) + "T12:00:00Z"), std::nullopt) << day;
  }
}

TEST(ParseRfc3339Test, RejectsOutOfRangeFields) {
  const char* bad[] = {
      "2026-00-24T10:03:00Z",       // month 0
      "2026-13-24T10:03:00Z",       // month 13
      "2026-11-00T10:03:00Z",       // day 0
      "2026-11-24T24:00:00Z",       // hour 24
      "2026-11-24T25:03:00Z",       // hour 25
      "2026-11-24T10:60:00Z",       // minute 60
      "2026-11-24T10:03:61Z",       // second 61
      "2026-11-24T10:03:00+24:00",  // offset hour 24
      "2026-11-24T10:03:00+01:60",  // offset minute 60
  };
  for (const char* s : bad) EXPECT_EQ(ParseRfc3339(s), std::nullopt) << s;
}

TEST(ParseRfc3339Test, RejectsYearsOutside1970To9999) {
  EXPECT_EQ(ParseRfc3339("1969-12-31T23:59:59Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("0000-01-01T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("10000-01-01T00:00:00Z"), std::nullopt);
}

TEST(ParseRfc3339Test, RejectsMissingZone) {
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.123456"), std::nullopt);
}

TEST(ParseRfc3339Test, RejectsMalformedZones) {
  const char* bad[] = {
      "2026-11-24T10:03:00+0100",    // no colon
      "2026-11-24T10:03:00+01",      // no minutes
      "2026-11-24T10:03:00+1:00",    // one-digit hour
      "2026-11-24T10:03:00 +01:00",  // space
      "2026-11-24T10:03:00UTC",     "2026-11-24T10:03:00ZZ", "2026-11-24T10:03:00Z+01:00",
  };
  for (const char* s : bad) EXPECT_EQ(ParseRfc3339(s), std::nullopt) << s;
}

TEST(ParseRfc3339Test, RejectsMalformedFractions) {
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.Z"), std::nullopt);            // no digits
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.1234567890Z"), std::nullopt);  // ten digits
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00,5Z"), std::nullopt);           // comma
  EXPECT_EQ(ParseRfc3339("2026-11-24T10:03:00.5aZ"), std::nullopt);
}

TEST(ParseRfc3339Test, RejectsGarbage) {
  const char* bad[] = {
      "",
      "hello",
      "2026-11-24",            // date only
      "10:03:00Z",             // time only
      "2026-11-24 10:03:00Z",  // space instead of T
      "2026-11-24X10:03:00Z",
      "2026-1-24T10:03:00Z",  // one-digit month
      "2026-11-4T10:03:00Z",  // one-digit day
      "2026-11-24T1:03:00Z",  // one-digit hour
      "2026-11-24T10:03Z",    // no seconds
      "2026/11/24T10:03:00Z",
      "+2026-11-24T10:03:00Z",
      "-2026-11-24T10:03:00Z",
      " 2026-11-24T10:03:00Z",  // leading space
      "2026-11-24T10:03:00Z ",  // trailing space
      "2026-11-24T10:03:00Zjunk",
      "2O26-11-24T10:03:00Z",  // letter O
      "1795514580",            // epoch seconds
  };
  for (const char* s : bad) EXPECT_EQ(ParseRfc3339(s), std::nullopt) << "'" << s << "'";
}

TEST(ParseRfc3339Test, RejectsEmbeddedNul) {
  const std::string with_nul("2026-11-24T10:03:00Z\0", 21);
  EXPECT_EQ(ParseRfc3339(with_nul), std::nullopt);
  // The view's length governs, not a terminating NUL: a prefix is not a timestamp.
  const std::string full = "2026-11-24T10:03:00Z";
  EXPECT_EQ(ParseRfc3339(std::string_view(full).substr(0, full.size() - 1)), std::nullopt);
}

TEST(FormatRfc3339Test, FormatsWholeSecondsWithoutFraction) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(kExample), "2026-11-24T10:03:00Z");
  EXPECT_EQ(FormatRfc3339(1709251199LL * kSecond), "2024-02-29T23:59:59Z");
  EXPECT_EQ(FormatRfc3339(253402300799LL * kSecond), "9999-12-31T23:59:59Z");
}

// Times before the epoch (and the extremes a corrupt record can carry) format without
// overflow (fuzz_decode_record: `us - 999999` overflowed at INT64_MIN).
TEST(FormatRfc3339Test, FormatsTimesBeforeTheEpochAndTheExtremes) {
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatRfc3339(-kSecond), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatRfc3339(-86400LL * kSecond), "1969-12-31T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(-86400LL * kSecond - 1), "1969-12-30T23:59:59.999999Z");
  // As GNU date prints these instants (date -u -d @-9223372036855, @9223372036854).
  EXPECT_EQ(FormatRfc3339(INT64_MIN), "-290308-12-21T19:59:05.224192Z");
  EXPECT_EQ(FormatRfc3339(INT64_MAX), "294247-01-10T04:00:54.775807Z");
}

TEST(FormatRfc3339Test, FormatsMicrosecondsWithSixDigits) {
  EXPECT_EQ(FormatRfc3339(kExample + 123456), "2026-11-24T10:03:00.123456Z");
  EXPECT_EQ(FormatRfc3339(kExample + 1), "2026-11-24T10:03:00.000001Z");
  EXPECT_EQ(FormatRfc3339(kExample + 500000), "2026-11-24T10:03:00.500000Z");
}

TEST(Rfc3339RoundTripTest, FormatThenParseIsIdentity) {
  const std::vector<int64_t> values = {
      0,
      1,
      999999,
      kSecond,
      kExample,
      kExample + 123456,
      951782400LL * kSecond,           // 2000-02-29
      951868799LL * kSecond + 999999,  // 2000-02-29T23:59:59.999999
      4107542400LL * kSecond,          // 2100-03-01
      253402300799LL * kSecond + 999999,
  };
  for (int64_t v : values) {
    const std::string text = FormatRfc3339(v);
    EXPECT_EQ(ParseRfc3339(text), v) << text;
  }
  // A spread of instants over the whole range, every one with a different fraction.
  for (int64_t v = 0; v < 253402300799LL * kSecond; v += 7777777777777LL) {
    const std::string text = FormatRfc3339(v);
    EXPECT_EQ(ParseRfc3339(text), v) << text;
  }
}

TEST(Rfc3339RoundTripTest, ParseThenFormatNormalisesToUtc) {
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2026-11-24T11:03:00+01:00")), "2026-11-24T10:03:00Z");
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2026-11-24t10:03:00.5z")), "2026-11-24T10:03:00.500000Z");
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2027-01-01T00:30:00.000001+01:00")),
            "2026-12-31T23:30:00.000001Z");
}

}  // namespace
}  // namespace convledger
