// Binary encoding of the history projection's fold state. Private to projections/.
//
// The fold keeps what it needs to recompute a message or a conversation in a compact binary
// form (documented in docs/history.md): LEB128 varints for unsigned integers, zigzag varints for
// signed ones, length-prefixed byte strings, one byte for enums and booleans. Encoding is a pure
// function of the value, so equal states are equal bytes. Decoding checks bounds and reports
// malformed input instead of reading past the end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace convledger::projections::history {

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  void U64(uint64_t v) {
    while (v >= 0x80) {
      out_->push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_->push_back(static_cast<char>(v));
  }
  void I64(int64_t v) { U64((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void Byte(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void Bool(bool v) { Byte(v ? 1 : 0); }
  void Str(std::string_view s) {
    U64(s.size());
    out_->append(s);
  }

 private:
  std::string* out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }

  uint64_t U64() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return Fail();
      const auto b = static_cast<unsigned char>(in_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    return Fail();
  }
  int64_t I64() {
    const uint64_t u = U64();
    return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  uint8_t Byte() {
    if (pos_ >= in_.size()) return static_cast<uint8_t>(Fail());
    return static_cast<uint8_t>(in_[pos_++]);
  }
  bool Bool() { return Byte() != 0; }
  std::string Str() { return std::string(View()); }
  // The next string without copying it: valid as long as the input is.
  std::string_view View() {
    const uint64_t n = U64();
    if (!ok_ || n > in_.size() - pos_) {
      Fail();
      return std::string_view();
    }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  // A count of items that follow, each at least one byte: bounded by what is left.
  uint64_t Count() {
    const uint64_t n = U64();
    if (n > in_.size() - pos_) return Fail();
    return n;
  }

 private:
  uint64_t Fail() {
    ok_ = false;
    pos_ = in_.size();
    return 0;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace convledger::projections::history
