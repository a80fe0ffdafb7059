// The stored Merkle tree (private to ledger/): how complete subtrees are keyed in the `merkle`
// column family, the in-memory frontier that appends leaves in O(log n), and the RFC 9162 root
// and proof computations over stored complete subtrees (O(log n) reads each).
//
//   merkle  u8(level) || be64(index)  ->  32-byte hash of the complete subtree of 2^level leaves
//                                          [index * 2^level, (index + 1) * 2^level)
//
// Level 0 holds the leaf hashes. A subtree is written once, in the append batch that completes
// it, and never changes. Any subtree a proof needs is either complete (one read) or on the right
// edge of a tree of n leaves, where it is the composition of the complete subtrees given by the
// binary digits of its size (at most log2 n reads).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ledger/event.h"
#include "ledger/merkle.h"
#include "ledger/status.h"

namespace convledger::merkle {

inline constexpr char kMerkleCf[] = "merkle";

std::string NodeKey(int level, uint64_t index);
// false when `key` is not 9 bytes.
bool ParseNodeKey(std::string_view key, int* level, uint64_t* index);

// Reads the hash of a complete stored subtree; NotFound/Corruption when it is missing or bad.
using SubtreeReader = std::function<Status(int level, uint64_t index, Digest* out)>;

// The right edge of a tree: the roots of its complete subtrees, largest (leftmost) first, one
// per set bit of the size. Appending a leaf merges equal-sized neighbours like a binary counter.
class Frontier {
 public:
  uint64_t size() const { return size_; }
  // Appends a leaf hash; `emit(level, index, hash)` is called for every subtree it completes,
  // the leaf itself first (level 0). `emit` may be empty.
  void Append(const Digest& leaf_hash,
              const std::function<void(int, uint64_t, const Digest&)>& emit = {});
  Digest Root() const;
  // Rebuilds the frontier of a tree of `size` leaves from stored subtrees (popcount(size) reads).
  static Status Load(uint64_t size, const SubtreeReader& read, Frontier* out);

 private:
  uint64_t size_ = 0;
  std::vector<Digest> roots_;  // roots_[i] covers the i-th set bit of size_, from the top
};

// The root of the first `size` leaves (EmptyRoot() for 0).
Status RootAt(uint64_t size, const SubtreeReader& read, Digest* out);
// RFC 9162 PATH(index, D[size]); requires index < size.
Status InclusionPath(uint64_t index, uint64_t size, const SubtreeReader& read,
                     std::vector<Digest>* out);
// RFC 9162 PROOF(first, D[second]); requires first <= second. Empty for first 0 or first ==
// second.
Status ConsistencyPath(uint64_t first, uint64_t second, const SubtreeReader& read,
                       std::vector<Digest>* out);

}  // namespace convledger::merkle
