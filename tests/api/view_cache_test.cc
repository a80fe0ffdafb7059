// The view cache (api/src/view_cache.h) on its own: stamps, the byte bound, LRU order, and what
// it refuses to keep.
#include "view_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

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

// Many request threads share one cache (the server's workers): what Get returns was Put for
// exactly that view, conversation and stamp, and the bound holds throughout. Also run under
// ThreadSanitizer (tests/sanitize/run tsan).
TEST(ViewCacheTest, ConcurrentReadersAndWritersSeeOnlyWhatWasPutAtTheirStamp) {
  const size_t capacity = 64 << 10;
  ViewCache cache(capacity);
  std::atomic<uint64_t> hits{0}, wrong{0}, over{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) * 7919 + 1);
      for (int i = 0; i < 20000; ++i) {
        const std::string conv = "c" + std::to_string(rng() % 40);
        const char* view = rng() % 2 ? "view" : "history";
        const uint64_t stamp = rng() % 4;
        const std::string expect = std::string(view) + "/" + conv + "@" + std::to_string(stamp);
        if (rng() % 3 == 0) {
          auto body = std::make_shared<std::string>(expect);
          body->append(static_cast<size_t>(rng() % 2000), '.');
          cache.Put(view, conv, stamp, std::move(body));
        } else if (ViewCache::Body got = cache.Get(view, conv, stamp)) {
          ++hits;
          if (got->compare(0, expect.size(), expect) != 0 ||
              (got->size() > expect.size() && (*got)[expect.size()] != '.'))
            ++wrong;
        }
        if (cache.bytes() > capacity) ++over;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(hits.load(), 0u);
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(over.load(), 0u);
}

}  // namespace
}  // namespace convledger::api
