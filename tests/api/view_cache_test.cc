// The view cache (api/src/view_cache.h) on its own: stamps, the byte bound, LRU order, and what
// it refuses to keep.
#include "view_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace convledger::api {
namespace {

ViewCache::Body BodyOf(size_t n, char c = 'x') {
  return std::make_shared<const std::string>(n, c);
}

TEST(ViewCacheTest, ServesAnEntryOnlyAtItsStamp) {
  ViewCache cache(1 << 20);
  cache.Put("view", "c1", 7, BodyOf(100));
  ASSERT_NE(cache.Get("view", "c1", 7), nullptr);
  EXPECT_EQ(*cache.Get("view", "c1", 7), std::string(100, 'x'));
  EXPECT_EQ(cache.Get("history", "c1", 7), nullptr);  // another view of the same conversation
  EXPECT_EQ(cache.Get("view", "c2", 7), nullptr);
  // The conversation moved on: the stale entry is dropped, not served.
  EXPECT_EQ(cache.Get("view", "c1", 8), nullptr);
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
  EXPECT_EQ(cache.Get("view", "c1", 7), nullptr);
}

TEST(ViewCacheTest, KeysDoNotCollide) {
  ViewCache cache(1 << 20);
  cache.Put("view", "ab", 1, BodyOf(10, 'a'));
  cache.Put("viewa", "b", 1, BodyOf(10, 'b'));
  EXPECT_EQ(*cache.Get("view", "ab", 1), std::string(10, 'a'));
  EXPECT_EQ(*cache.Get("viewa", "b", 1), std::string(10, 'b'));
}

TEST(ViewCacheTest, AnOlderRenderDoesNotReplaceANewerOne) {
  ViewCache cache(1 << 20);
  cache.Put("view", "c1", 9, BodyOf(10, 'n'));
  cache.Put("view", "c1", 8, BodyOf(10, 'o'));
  EXPECT_EQ(*cache.Get("view", "c1", 9), std::string(10, 'n'));
  cache.Put("view", "c1", 10, BodyOf(20, 'm'));
  EXPECT_EQ(*cache.Get("view", "c1", 10), std::string(20, 'm'));
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.bytes(), 20u + 4 + 1 + 2);  // body + "view" + NUL + "c1"
}

TEST(ViewCacheTest, StaysWithinItsBytesAndEvictsTheLeastRecentlyUsed) {
  const size_t capacity = 10000;
  ViewCache cache(capacity);
  for (int i = 0; i < 40; ++i) {
    cache.Put("view", "c" + std::to_string(i), 1, BodyOf(1000));
    // c0 is read after every Put: always the most recently used, never evicted.
    ASSERT_NE(cache.Get("view", "c0", 1), nullptr) << i;
    EXPECT_LE(cache.bytes(), capacity);
  }
  EXPECT_GE(cache.entries(), 8u);
  EXPECT_LE(cache.entries(), 9u);
  EXPECT_NE(cache.Get("view", "c39", 1), nullptr);
  EXPECT_EQ(cache.Get("view", "c1", 1), nullptr);  // evicted long ago
}

TEST(ViewCacheTest, RefusesBodiesOverAQuarterAndKeepsNothingAtZero) {
  ViewCache cache(4000);
  cache.Put("view", "big", 1, BodyOf(1000));  // with its key, over 1000 bytes
  EXPECT_EQ(cache.Get("view", "big", 1), nullptr);
  cache.Put("view", "ok", 1, BodyOf(900));
  EXPECT_NE(cache.Get("view", "ok", 1), nullptr);
  cache.Put("view", "null", 1, nullptr);
  EXPECT_EQ(cache.Get("view", "null", 1), nullptr);

  ViewCache off(0);
  off.Put("view", "c1", 1, BodyOf(1));
  EXPECT_EQ(off.Get("view", "c1", 1), nullptr);
  EXPECT_EQ(off.bytes(), 0u);
}

}  // namespace
}  // namespace convledger::api
