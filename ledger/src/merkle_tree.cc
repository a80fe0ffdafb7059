#include "merkle_tree.h"

#include <bit>

#include "keys.h"

namespace convledger::merkle {
namespace {

// The hash of leaves [start, start + size). Callers only ask for ranges that RFC 9162's
// recursion produces: `start` is a multiple of the largest power of two <= size, so the binary
// digits of `size`, from the top, cut the range into aligned complete subtrees.
Status RangeHash(uint64_t start, uint64_t size, const SubtreeReader& read, Digest* out) {
  std::vector<Digest> parts;
  uint64_t pos = start;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if (!(size & width)) continue;
    Digest d{};
    if (Status st = read(level, pos >> level, &d); !st.ok()) return st;
    parts.push_back(d);
    pos += width;
  }
  Digest h = parts.back();
  for (size_t i = parts.size() - 1; i-- > 0;) h = NodeHash(parts[i], h);
  *out = h;
  return Status::OK();
}

Status Path(uint64_t m, uint64_t start, uint64_t n, const SubtreeReader& read,
            std::vector<Digest>* out) {
  if (n == 1) return Status::OK();
  const uint64_t k = std::bit_floor(n - 1);
  Digest sibling{};
  if (m < k) {
    if (Status st = Path(m, start, k, read, out); !st.ok()) return st;
    if (Status st = RangeHash(start + k, n - k, read, &sibling); !st.ok()) return st;
  } else {
    if (Status st = Path(m - k, start + k, n - k, read, out); !st.ok()) return st;
    if (Status st = RangeHash(start, k, read, &sibling); !st.ok()) return st;
  }
  out->push_back(sibling);
  return Status::OK();
}

// RFC 9162 SUBPROOF(m, D[start:start+n], complete).
Status SubProof(uint64_t m, uint64_t start, uint64_t n, bool complete, const SubtreeReader& read,
                std::vector<Digest>* out) {
  Digest h{};
  if (m == n) {
    if (complete) return Status::OK();
    if (Status st = RangeHash(start, n, read, &h); !st.ok()) return st;
    out->push_back(h);
    return Status::OK();
  }
  const uint64_t k = std::bit_floor(n - 1);
  if (m <= k) {
    if (Status st = SubProof(m, start, k, complete, read, out); !st.ok()) return st;
    if (Status st = RangeHash(start + k, n - k, read, &h); !st.ok()) return st;
  } else {
    if (Status st = SubProof(m - k, start + k, n - k, false, read, out); !st.ok()) return st;
    if (Status st = RangeHash(start, k, read, &h); !st.ok()) return st;
  }
  out->push_back(h);
  return Status::OK();
}

}  // namespace

std::string NodeKey(int level, uint64_t index) {
  std::string k(1, static_cast<char>(level));
  keys::PutBe64(&k, index);
  return k;
}

bool ParseNodeKey(std::string_view key, int* level, uint64_t* index) {
  if (key.size() != 9) return false;
  *level = static_cast<unsigned char>(key[0]);
  *index = keys::GetBe64(key.data() + 1);
  return true;
}

void Frontier::Append(const Digest& leaf_hash,
                      const std::function<void(int, uint64_t, const Digest&)>& emit) {
  uint64_t index = size_;
  Digest h = leaf_hash;
  int level = 0;
  if (emit) emit(0, index, h);
  // Each trailing 1 bit of the old size is a complete subtree of that level waiting for its
  // right sibling: the new leaf completes it, and the merge carries up like a binary counter.
  while (index & 1) {
    h = NodeHash(roots_.back(), h);
    roots_.pop_back();
    index >>= 1;
    ++level;
    if (emit) emit(level, index, h);
  }
  roots_.push_back(h);
  ++size_;
}

Digest Frontier::Root() const {
  if (roots_.empty()) return EmptyRoot();
  Digest h = roots_.back();
  for (size_t i = roots_.size() - 1; i-- > 0;) h = NodeHash(roots_[i], h);
  return h;
}

Status Frontier::Load(uint64_t size, const SubtreeReader& read, Frontier* out) {
  Frontier f;
  uint64_t pos = 0;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if (!(size & width)) continue;
    Digest d{};
    if (Status st = read(level, pos >> level, &d); !st.ok()) return st;
    f.roots_.push_back(d);
    pos += width;
  }
  f.size_ = size;
  *out = std::move(f);
  return Status::OK();
}

Status RootAt(uint64_t size, const SubtreeReader& read, Digest* out) {
  if (size == 0) {
    *out = EmptyRoot();
    return Status::OK();
  }
  return RangeHash(0, size, read, out);
}

Status InclusionPath(uint64_t index, uint64_t size, const SubtreeReader& read,
                     std::vector<Digest>* out) {
  out->clear();
  if (index >= size) return Status::InvalidArgument("seq_out_of_range", "leaf beyond the tree");
  return Path(index, 0, size, read, out);
}

Status ConsistencyPath(uint64_t first, uint64_t second, const SubtreeReader& read,
                       std::vector<Digest>* out) {
  out->clear();
  if (first > second)
    return Status::InvalidArgument("tree_size_out_of_range", "first is larger than second");
  if (first == 0 || first == second) return Status::OK();
  return SubProof(first, 0, second, true, read, out);
}

}  // namespace convledger::merkle
