#include "projections/projections.h"

namespace convledger::projections {

Status MemoryState::Get(std::string_view key, std::string* value) {
  auto it = data_.find(key);
  if (it == data_.end()) return Status::NotFound("not_found", "no such key");
  *value = it->second;
  return Status::OK();
}

void MemoryState::Put(std::string_view key, std::string_view value) {
  data_.insert_or_assign(std::string(key), std::string(value));
}

void MemoryState::Delete(std::string_view key) {
  auto it = data_.find(key);
  if (it != data_.end()) data_.erase(it);
}

Status MemoryState::Scan(std::string_view prefix,
                         const std::function<bool(std::string_view, std::string_view)>& fn) {
  for (auto it = data_.lower_bound(prefix); it != data_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    if (!fn(it->first, it->second)) break;
  }
  return Status::OK();
}

}  // namespace convledger::projections
