// The export's base64 codec (projections/src/export_internal.h): the bundle verifier and the
// customer view's sealed envelopes both decode through it, so it must round-trip every length
// and refuse every spelling that is not the canonical one. And the JSON writer the views store
// their fragments with (projections/src/history_json.h), which must write what
// nlohmann::json::dump() writes, byte for byte.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "export_internal.h"
#include "history_json.h"

namespace convledger::projections::exportfmt {
namespace {

TEST(Base64Test, RoundTripsEveryLengthAndByte) {
  std::mt19937 rng(7);
  for (size_t n = 0; n <= 70; ++n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
    const std::string text = Base64(bytes);
    ASSERT_EQ(text.size(), (n + 2) / 3 * 4) << n;
    const auto back = Unbase64(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(*back, bytes) << n;
  }
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(Unbase64(Base64(all)), all);
}

TEST(Base64Test, KnownAnswers) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64("\xfb\xff"), "+/8=");
  EXPECT_EQ(Unbase64("Zm9vYmFy"), "foobar");
  EXPECT_EQ(Unbase64("Zm9vYmE="), "fooba");
  EXPECT_EQ(Unbase64("+/8="), "\xfb\xff");
  EXPECT_EQ(Unbase64(""), "");
}

TEST(Base64Test, RefusesEverySpellingButTheCanonicalOne) {
  for (const char* bad : {
           "Zg",         // not a multiple of 4
           "Zg=",        // idem
           "Zh==",       // non-zero bits under two pads
           "Zm9=",       // non-zero bits under one pad
           "Z===",       // three pads
           "====",       // only pads
           "Zg=A",       // data after a pad in the last quad
           "Zg==Zm9v",   // data after padding
           "Zm9v=g==",   // a pad inside a quad that is not the last
           "Zm 9",       // a space
           "Zm9v\n",     // a newline
           "Zm-_",       // the URL-safe alphabet
           "Zm9\x80",    // a byte outside ASCII
       }) {
    EXPECT_FALSE(Unbase64(bad).has_value()) << bad;
  }
  const std::string nul("Zm\0v", 4);
  EXPECT_FALSE(Unbase64(nul).has_value());
}

// Every kind of value the customer view stores, nested, with the strings that need escaping
// (quotes, backslashes, every control character, DEL, multi-byte UTF-8) and integers at their
// limits, and random documents built from them: AppendJson writes exactly what dump() writes.
TEST(AppendJsonTest, WritesWhatDumpWrites) {
  using nlohmann::json;
  auto same = [](const json& j) {
    std::string out;
    history::JsonOut w(&out);
    history::AppendJson(w, j);
    EXPECT_EQ(out, j.dump(-1, ' ', false, json::error_handler_t::replace));
  };
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls.push_back(static_cast<char>(c));
  const std::vector<json> leaves = {
      json(nullptr), json(true), json(false), json(0), json(-1), json(INT64_MIN), json(INT64_MAX),
      json(uint64_t{UINT64_MAX}), json(""), json("plain"), json("q\"uote\\back/slash"),
      json(controls), json("\x7f del"), json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
      json::array(), json::object()};
  for (const json& leaf : leaves) same(leaf);
  std::mt19937 rng(11);
  for (int round = 0; round < 200; ++round) {
    json doc = json::object();
    for (int k = 0; k < 8; ++k) {
      const std::string key = std::string(1, static_cast<char>('a' + rng() % 26)) +
                              (rng() % 2 ? "\xc3\xa9" : "") + std::to_string(rng() % 100);
      json v = leaves[rng() % leaves.size()];
      if (rng() % 3 == 0) v = json::array({v, leaves[rng() % leaves.size()]});
      if (rng() % 4 == 0) v = json{{"inner", v}, {"Inner", 1}, {"_", json::array()}};
      doc[key] = v;
    }
    same(doc);
  }
  // Strings of every length around the writer's 8-byte steps, with the characters that need a
  // look of their own at every position.
  const std::vector<std::string> pieces = {"a", "Z", "0", "+", "/", "=", " ", "~", "\x7f", "\"",
                                           "\\", "\n", "\x01", "\x1f", "\xc3\xa9",
                                           "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const size_t n = rng() % 40;
    for (size_t k = 0; k < n; ++k)
      text += rng() % 4 ? pieces[rng() % 8] : pieces[rng() % pieces.size()];
    same(json(text));
  }
}

}  // namespace
}  // namespace convledger::projections::exportfmt
