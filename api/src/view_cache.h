// Rendered current views (history, customer view) kept between requests: a bounded LRU of
// response bodies, each stamped with the global sequence of its conversation's last event when it
// was rendered. An entry is served only while that stamp is still the conversation's head, so a
// new event in the conversation (a send, an edit, a redaction, a subject's erasure: everything
// that changes a view, key destruction included, is an event in the conversations it touches)
// makes it stale. A stale entry is dropped when it is next looked up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace convledger::api {

class ViewCache {
 public:
  // At most `capacity_bytes` of bodies (0: nothing is kept). A body larger than a quarter of the
  // capacity is not kept: one long history must not push out every other conversation.
  explicit ViewCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  using Body = std::shared_ptr<const std::string>;

  // The body of `view` ("history" or "view") of `conversation` rendered at `stamp`, or null.
  Body Get(std::string_view view, std::string_view conversation, uint64_t stamp);
  void Put(std::string_view view, std::string_view conversation, uint64_t stamp, Body body);

  size_t bytes() const;
  size_t entries() const;

 private:
  struct Entry {
    std::string key;
    uint64_t stamp = 0;
    Body body;
  };
  static std::string Key(std::string_view view, std::string_view conversation);
  void EraseLocked(std::list<Entry>::iterator it);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // views of lru_ keys
  size_t bytes_ = 0;
};

}  // namespace convledger::api
