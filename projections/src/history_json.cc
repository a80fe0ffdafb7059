#include "history_json.h"

#include <cstring>

#include "ledger/time.h"

namespace convledger::projections::history {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  const auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(i + 1) > 0x9F) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(i + 1) > 0x8F) return 0;  // beyond U+10FFFF
    return 4;
  }
  return 0;
}

// True when none of the 8 bytes at p needs a look of its own: each is ASCII from 0x20 up
// (0x7f included, as in the byte loop) and none is '"' or '\\'. The usual word-at-a-time tests:
// (x - 0x01..) & ~x & 0x80.. is non-zero exactly when some byte of x is zero, and
// (x - n*0x01..) & ~x & 0x80.. exactly when some byte is below n (n <= 0x80).
bool PlainAscii8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  constexpr uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
  const uint64_t quote = v ^ (k01 * '"'), backslash = v ^ (k01 * '\\');
  const uint64_t flagged = (v & k80) | ((v - k01 * 0x20) & ~v & k80) |
                           ((quote - k01) & ~quote & k80) | ((backslash - k01) & ~backslash & k80);
  return flagged == 0;
}

void Digits(std::string* out, int64_t v, int width) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n < width) buf[n++] = '0';
  while (n > 0) out->push_back(buf[--n]);
}

void AppendUint(std::string* out, uint64_t v) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n > 0) out->push_back(buf[--n]);
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the bytes not yet copied
  size_t i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size() && PlainAscii8(s.data() + i)) {  // most text, and all of base64
      i += 8;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (const size_t n = Utf8Length(s, i); n > 0) {
        i += n;
        continue;
      }
    }
    out->append(s.data() + run, i - run);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->append("\xEF\xBF\xBD");  // U+FFFD for each byte of invalid UTF-8
        }
    }
    ++i;
    run = i;
  }
  out->append(s.data() + run, i - run);
  out->push_back('"');
}

void AppendRfc3339(std::string* out, int64_t us) {
  // Years 1970..9999 on the fast path; anything else through the ledger's formatter.
  constexpr int64_t kMax = 253402300799LL * 1000000 + 999999;  // 9999-12-31T23:59:59.999999Z
  if (us < 0 || us > kMax) {
    out->append(FormatRfc3339(us));
    return;
  }
  const int64_t secs = us / 1000000;
  const int64_t frac = us % 1000000;
  const int64_t days = secs / 86400;
  const int64_t rem = secs % 86400;
  // civil_from_days (H. Hinnant), days since 1970-01-01 >= 0.
  const int64_t z = days + 719468;
  const int64_t era = z / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  Digits(out, y, 4);
  out->push_back('-');
  Digits(out, m, 2);
  out->push_back('-');
  Digits(out, d, 2);
  out->push_back('T');
  Digits(out, rem / 3600, 2);
  out->push_back(':');
  Digits(out, rem / 60 % 60, 2);
  out->push_back(':');
  Digits(out, rem % 60, 2);
  if (frac != 0) {
    out->push_back('.');
    Digits(out, frac, 6);
  }
  out->push_back('Z');
}

void JsonOut::Key(std::string_view key) {
  Sep();
  AppendJsonString(out_, key);
  out_->push_back(':');
  after_key_ = true;
}

void JsonOut::String(std::string_view s) {
  Sep();
  AppendJsonString(out_, s);
}

void JsonOut::Int(int64_t v) {
  Sep();
  if (v < 0) {
    out_->push_back('-');
    // -(v + 1) + 1 avoids overflow at INT64_MIN.
    AppendUint(out_, static_cast<uint64_t>(-(v + 1)) + 1);
  } else {
    AppendUint(out_, static_cast<uint64_t>(v));
  }
}

void JsonOut::Uint(uint64_t v) {
  Sep();
  AppendUint(out_, v);
}

void JsonOut::Time(int64_t micros) {
  Sep();
  out_->push_back('"');
  AppendRfc3339(out_, micros);
  out_->push_back('"');
}

}  // namespace convledger::projections::history
