// The global Merkle tree over event hashes and its signed tree heads: pure functions a third
// party can run with nothing but an export and the public key (no RocksDB, no ledger).
//
// Hashing is RFC 9162 (Certificate Transparency v2, the same as RFC 6962) with SHA-256:
//   leaf i (0-based) = the event with global_seq i + 1
//   LeafHash(event)   = SHA-256(0x00 || event_hash)            (event_hash: the 32 stored bytes)
//   NodeHash(l, r)    = SHA-256(0x01 || l || r)
//   root of 0 leaves  = SHA-256("")
//   root of n > 1     = NodeHash(root of the first k leaves, root of the other n - k), where k is
//                       the largest power of two smaller than n.
// Inclusion proofs (audit paths) and consistency proofs are exactly RFC 9162's PATH and PROOF
// (section 2.1.3, 2.1.4), so any RFC 9162 verifier accepts them; the verifiers below follow
// RFC 9162 section 2.1.3.2 / 2.1.4.2 and are tested against the transparency-dev test vectors.
//
// Signed tree head (STH): Ed25519 (RFC 8032, PureEdDSA, no pre-hash) over exactly these 65 bytes:
//   "convledger/sth/v1"  (17 ASCII bytes, no terminator)
//   be64(tree_size)
//   root_hash            (32 bytes)
//   be64(timestamp_us)   (microseconds since the Unix epoch, UTC, as a two's-complement 64-bit)
// TreeHeadSigningInput() builds it. The public key is a PEM "PUBLIC KEY" (SubjectPublicKeyInfo).
//
// Thread safety: every function here is pure and may be called from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/event.h"
#include "ledger/status.h"

namespace convledger {

// An audit path: the leaf of `global_seq` (leaf_index = global_seq - 1) is in the tree of
// `tree_size` leaves whose root is `root_hash`.
struct InclusionProof {
  uint64_t global_seq = 0;
  uint64_t leaf_index = 0;
  uint64_t tree_size = 0;
  Digest event_hash{};  // the event's stored hash
  Digest leaf_hash{};   // merkle::LeafHash(event_hash)
  std::vector<Digest> audit_path;  // RFC 9162 PATH, from the leaf's sibling up
  Digest root_hash{};
};

// The tree of `second` leaves extends the tree of `first` leaves (append-only).
struct ConsistencyProof {
  uint64_t first = 0;
  uint64_t second = 0;
  Digest first_root{};
  Digest second_root{};
  std::vector<Digest> proof;  // RFC 9162 PROOF; empty when first == second
};

struct SignedTreeHead {
  uint64_t tree_size = 0;
  Digest root_hash{};
  int64_t timestamp_us = 0;  // ledger clock when signed
  std::string signature;     // 64 bytes of Ed25519
};

namespace merkle {

inline constexpr std::string_view kTreeHeadContext = "convledger/sth/v1";

// SHA-256 of the empty string: the root of a tree of no leaves.
Digest EmptyRoot();
// SHA-256(0x00 || data). For events, `data` is the 32-byte event hash.
Digest LeafHash(std::string_view data);
Digest LeafHash(const Digest& event_hash);
// SHA-256(0x01 || left || right).
Digest NodeHash(const Digest& left, const Digest& right);
// The root of the tree of these leaf hashes (already LeafHash-ed). O(n); for tests and checks.
Digest RootFromLeaves(const std::vector<Digest>& leaf_hashes);

// RFC 9162 proof verification. Hashes are raw bytes so that untrusted input (an export, a JSON
// file) can be checked as it comes: a hash of the wrong length is simply refused.
// OK when the proof holds. Otherwise:
//   invalid_argument/index_out_of_range  leaf index >= tree_size
//   invalid_argument/size_order          size1 > size2
//   invalid_argument/empty_first_tree    size1 == 0 (consistency with the empty tree proves
//                                        nothing; RFC 9162 defines proofs for 0 < size1 only)
//   corruption/proof_size_mismatch       the proof has the wrong number of hashes for the sizes
//                                        (or a leaf hash is not 32 bytes)
//   corruption/root_mismatch             the proof does not lead to the given root(s)
Status VerifyInclusion(std::string_view leaf_hash, uint64_t leaf_index, uint64_t tree_size,
                       const std::vector<std::string_view>& proof, std::string_view root);
Status VerifyConsistency(uint64_t size1, uint64_t size2, std::string_view root1,
                         std::string_view root2, const std::vector<std::string_view>& proof);

// The same for proofs made by Ledger::ProveInclusion / ProveConsistency (also checks that
// leaf_hash is LeafHash(event_hash) and leaf_index == global_seq - 1).
Status VerifyInclusion(const InclusionProof& proof);
Status VerifyConsistency(const ConsistencyProof& proof);

// The exact bytes an STH signature covers (65 bytes, layout above).
std::string TreeHeadSigningInput(uint64_t tree_size, const Digest& root_hash,
                                 int64_t timestamp_us);

// Checks `sth.signature` with the Ed25519 public key in `public_key_pem` (PEM "PUBLIC KEY").
// invalid_argument/bad_public_key when the PEM is not an Ed25519 public key;
// corruption/bad_signature when the signature does not match.
Status VerifyTreeHead(const SignedTreeHead& sth, std::string_view public_key_pem);

}  // namespace merkle
}  // namespace convledger
