// The pure Merkle functions of ledger/merkle.h. The verifiers are RFC 9162's algorithms written
// in the bit-decomposition form of transparency-dev/merkle (proof/verify.go), whose test vectors
// they are checked against: the proof splits into an "inner" part (hashes below the level where
// the leaf's path leaves the left-perfect part of the tree) and a "border" part (the right edge).
#include "ledger/merkle.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <bit>
#include <cstring>
#include <memory>

#include "codec.h"
#include "keys.h"

namespace convledger::merkle {
namespace {

std::string_view AsView(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// NodeHash over raw bytes: proof elements from outside may have any length.
Digest NodeHashBytes(std::string_view left, std::string_view right) {
  std::string buf;
  buf.reserve(1 + left.size() + right.size());
  buf.push_back('\x01');
  buf.append(left);
  buf.append(right);
  return codec::Sha256(buf);
}

// Number of proof hashes below the level where leaf `index`'s path and the last leaf's path
// (size - 1) meet, and the number of right-edge hashes above it.
void Decompose(uint64_t index, uint64_t size, int* inner, int* border) {
  *inner = std::bit_width(index ^ (size - 1));
  *border = std::popcount(index >> *inner);
}

// Hashes `seed` up through `proof`, taking each element as the left or right sibling according
// to the bits of `index`.
Digest ChainInner(Digest seed, const std::vector<std::string_view>& proof, size_t begin,
                  size_t end, uint64_t index) {
  for (size_t i = begin; i < end; ++i) {
    seed = ((index >> (i - begin)) & 1) == 0 ? NodeHashBytes(AsView(seed), proof[i])
                                             : NodeHashBytes(proof[i], AsView(seed));
  }
  return seed;
}

// Like ChainInner, but only the left siblings (used to rebuild the smaller tree's root).
Digest ChainInnerRight(Digest seed, const std::vector<std::string_view>& proof, size_t begin,
                       size_t end, uint64_t index) {
  for (size_t i = begin; i < end; ++i)
    if (((index >> (i - begin)) & 1) == 1) seed = NodeHashBytes(proof[i], AsView(seed));
  return seed;
}

Digest ChainBorderRight(Digest seed, const std::vector<std::string_view>& proof, size_t begin,
                        size_t end) {
  for (size_t i = begin; i < end; ++i) seed = NodeHashBytes(proof[i], AsView(seed));
  return seed;
}

Digest ToDigest(std::string_view bytes) {
  Digest d{};
  std::memcpy(d.data(), bytes.data(), std::min(bytes.size(), d.size()));
  return d;
}

Status RootMismatch(const char* which) {
  return Status::Corruption("root_mismatch",
                            std::string("the proof does not lead to the ") + which);
}

std::vector<std::string_view> Views(const std::vector<Digest>& v) {
  std::vector<std::string_view> out;
  out.reserve(v.size());
  for (const Digest& d : v) out.push_back(AsView(d));
  return out;
}

Status RootFromInclusion(std::string_view leaf_hash, uint64_t index, uint64_t size,
                         const std::vector<std::string_view>& proof, Digest* root) {
  if (index >= size)
    return Status::InvalidArgument("index_out_of_range",
                                   "leaf index " + std::to_string(index) +
                                       " is not below tree size " + std::to_string(size));
  if (leaf_hash.size() != sizeof(Digest))
    return Status::Corruption("proof_size_mismatch", "leaf hash is not 32 bytes");
  int inner = 0, border = 0;
  Decompose(index, size, &inner, &border);
  if (proof.size() != static_cast<size_t>(inner + border))
    return Status::Corruption("proof_size_mismatch",
                              "inclusion proof has " + std::to_string(proof.size()) +
                                  " hashes; leaf " + std::to_string(index) + " of " +
                                  std::to_string(size) + " needs " +
                                  std::to_string(inner + border));
  Digest h = ChainInner(ToDigest(leaf_hash), proof, 0, inner, index);
  *root = ChainBorderRight(h, proof, inner, proof.size());
  return Status::OK();
}

}  // namespace

Digest EmptyRoot() { return codec::Sha256(std::string_view()); }

Digest LeafHash(std::string_view data) {
  std::string buf;
  buf.reserve(1 + data.size());
  buf.push_back('\x00');
  buf.append(data);
  return codec::Sha256(buf);
}

Digest LeafHash(const Digest& event_hash) {
  char buf[1 + sizeof(Digest)];
  buf[0] = 0;
  std::memcpy(buf + 1, event_hash.data(), event_hash.size());
  return codec::Sha256(std::string_view(buf, sizeof buf));
}

Digest NodeHash(const Digest& left, const Digest& right) {
  char buf[1 + 2 * sizeof(Digest)];
  buf[0] = 1;
  std::memcpy(buf + 1, left.data(), left.size());
  std::memcpy(buf + 1 + left.size(), right.data(), right.size());
  return codec::Sha256(std::string_view(buf, sizeof buf));
}

Digest RootFromLeaves(const std::vector<Digest>& leaf_hashes) {
  // The definition itself (recursive split at the largest power of two below n), deliberately
  // not the frontier algorithm the ledger uses, so tests compare two independent computations.
  struct Rec {
    const std::vector<Digest>& l;
    Digest operator()(size_t begin, size_t n) const {
      if (n == 1) return l[begin];
      size_t k = std::bit_floor(n - 1);
      return NodeHash((*this)(begin, k), (*this)(begin + k, n - k));
    }
  };
  if (leaf_hashes.empty()) return EmptyRoot();
  return Rec{leaf_hashes}(0, leaf_hashes.size());
}

Status VerifyInclusion(std::string_view leaf_hash, uint64_t leaf_index, uint64_t tree_size,
                       const std::vector<std::string_view>& proof, std::string_view root) {
  Digest computed{};
  if (Status st = RootFromInclusion(leaf_hash, leaf_index, tree_size, proof, &computed); !st.ok())
    return st;
  if (AsView(computed) != root) return RootMismatch("root");
  return Status::OK();
}

Status VerifyConsistency(uint64_t size1, uint64_t size2, std::string_view root1,
                         std::string_view root2, const std::vector<std::string_view>& proof) {
  if (size2 < size1)
    return Status::InvalidArgument("size_order", "size1 " + std::to_string(size1) +
                                                     " is larger than size2 " +
                                                     std::to_string(size2));
  if (size1 == 0)
    // Every tree extends the empty one: such a "proof" proves nothing, and a verifier that says
    // yes to it can be fooled into accepting any second root (RFC 9162 defines PROOF for
    // 0 < first only; the published vectors refuse it too).
    return Status::InvalidArgument("empty_first_tree",
                                   "a consistency proof needs a first tree of at least 1 leaf");
  if (size1 == size2) {
    if (!proof.empty())
      return Status::Corruption("proof_size_mismatch", "equal sizes need an empty proof");
    if (root1 != root2) return RootMismatch("same root for equal sizes");
    return Status::OK();
  }
  if (proof.empty()) return Status::Corruption("proof_size_mismatch", "empty proof");

  int inner = 0, border = 0;
  Decompose(size1 - 1, size2, &inner, &border);
  const int shift = std::countr_zero(size1);
  inner -= shift;  // shift < inner because size1 < size2

  // The proof starts with the root of the subtree of size 2^shift holding the last leaf of the
  // smaller tree, unless the smaller tree is that very subtree (then it is root1 itself).
  Digest seed{};
  size_t start = 1;
  if (size1 == (uint64_t{1} << shift)) {
    if (root1.size() != sizeof(Digest)) return RootMismatch("first root");
    seed = ToDigest(root1);
    start = 0;
  } else {
    if (proof[0].size() != sizeof(Digest))
      return Status::Corruption("proof_size_mismatch", "a proof hash is not 32 bytes");
    seed = ToDigest(proof[0]);
  }
  if (proof.size() != start + inner + border)
    return Status::Corruption("proof_size_mismatch",
                              "consistency proof has " + std::to_string(proof.size()) +
                                  " hashes; " + std::to_string(size1) + " -> " +
                                  std::to_string(size2) + " needs " +
                                  std::to_string(start + inner + border));
  const uint64_t mask = (size1 - 1) >> shift;
  Digest h1 = ChainInnerRight(seed, proof, start, start + inner, mask);
  h1 = ChainBorderRight(h1, proof, start + inner, proof.size());
  if (AsView(h1) != root1) return RootMismatch("first root");
  Digest h2 = ChainInner(seed, proof, start, start + inner, mask);
  h2 = ChainBorderRight(h2, proof, start + inner, proof.size());
  if (AsView(h2) != root2) return RootMismatch("second root");
  return Status::OK();
}

Status VerifyInclusion(const InclusionProof& p) {
  if (p.global_seq == 0 || p.leaf_index != p.global_seq - 1)
    return Status::Corruption("proof_invalid", "leaf_index is not global_seq - 1");
  if (LeafHash(p.event_hash) != p.leaf_hash)
    return Status::Corruption("proof_invalid", "leaf_hash is not the leaf hash of event_hash");
  return VerifyInclusion(AsView(p.leaf_hash), p.leaf_index, p.tree_size, Views(p.audit_path),
                         AsView(p.root_hash));
}

Status VerifyConsistency(const ConsistencyProof& p) {
  return VerifyConsistency(p.first, p.second, AsView(p.first_root), AsView(p.second_root),
                           Views(p.proof));
}

std::string TreeHeadSigningInput(uint64_t tree_size, const Digest& root_hash,
                                 int64_t timestamp_us) {
  std::string s(kTreeHeadContext);
  keys::PutBe64(&s, tree_size);
  s.append(AsView(root_hash));
  keys::PutBe64(&s, static_cast<uint64_t>(timestamp_us));
  return s;
}

Status VerifyTreeHead(const SignedTreeHead& sth, std::string_view public_key_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(public_key_pem.data(), static_cast<int>(public_key_pem.size())), &BIO_free);
  if (!bio) return Status::IOError("out of memory");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519)
    return Status::InvalidArgument("bad_public_key", "not a PEM Ed25519 public key");
  if (sth.signature.size() != 64)
    return Status::Corruption("bad_signature", "an Ed25519 signature is 64 bytes");
  const std::string msg = TreeHeadSigningInput(sth.tree_size, sth.root_hash, sth.timestamp_us);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1)
    return Status::IOError("cannot initialise Ed25519 verification");
  const int rc = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(sth.signature.data()),
      sth.signature.size(), reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
  if (rc != 1) return Status::Corruption("bad_signature", "the tree head signature does not verify");
  return Status::OK();
}

}  // namespace convledger::merkle
