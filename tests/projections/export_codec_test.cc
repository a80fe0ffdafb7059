// The export's base64 codec (projections/src/export_internal.h): the bundle verifier and the
// customer view's sealed envelopes both decode through it, so it must round-trip every length
// and refuse every spelling that is not the canonical one.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "export_internal.h"

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

}  // namespace
}  // namespace convledger::projections::exportfmt
