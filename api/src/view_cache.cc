#include "view_cache.h"

namespace convledger::api {

std::string ViewCache::Key(std::string_view view, std::string_view conversation) {
  std::string key;
  key.reserve(view.size() + 1 + conversation.size());
  key.append(view).push_back('\0');  // neither a view name nor an id contains NUL
  key.append(conversation);
  return key;
}

void ViewCache::EraseLocked(std::list<Entry>::iterator it) {
  bytes_ -= it->key.size() + it->body->size();
  index_.erase(std::string_view(it->key));
  lru_.erase(it);
}

ViewCache::Body ViewCache::Get(std::string_view view, std::string_view conversation,
                               uint64_t stamp) {
  if (capacity_ == 0) return nullptr;
  const std::string key = Key(view, conversation);
  std::lock_guard lk(mu_);
  auto found = index_.find(std::string_view(key));
  if (found == index_.end()) return nullptr;
  auto it = found->second;
  if (it->stamp != stamp) {
    EraseLocked(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it);
  return it->body;
}

void ViewCache::Put(std::string_view view, std::string_view conversation, uint64_t stamp,
                    Body body) {
  if (!body) return;
  std::string key = Key(view, conversation);
  const size_t size = key.size() + body->size();
  if (size > capacity_ / 4) return;
  std::lock_guard lk(mu_);
  if (auto found = index_.find(std::string_view(key)); found != index_.end()) {
    // Two requests rendered it at once, or it changed meanwhile: the later stamp stays.
    if (found->second->stamp > stamp) return;
    EraseLocked(found->second);
  }
  lru_.push_front(Entry{std::move(key), stamp, std::move(body)});
  index_.emplace(std::string_view(lru_.front().key), lru_.begin());
  bytes_ += size;
  while (bytes_ > capacity_ && !lru_.empty()) EraseLocked(std::prev(lru_.end()));
}

size_t ViewCache::bytes() const {
  std::lock_guard lk(mu_);
  return bytes_;
}

size_t ViewCache::entries() const {
  std::lock_guard lk(mu_);
  return lru_.size();
}

}  // namespace convledger::api
