#include "ledger/proof_json.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "ledger/time.h"

namespace convledger {
namespace {

using Json = nlohmann::ordered_json;

Json HexArray(const std::vector<Digest>& hashes) {
  Json a = Json::array();
  for (const Digest& h : hashes) a.push_back(HexDigest(h));
  return a;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string TreeHeadToJson(const SignedTreeHead& sth, std::string_view public_key_pem) {
  Json j{{"tree_size", sth.tree_size},
         {"root_hash", HexDigest(sth.root_hash)},
         {"timestamp", FormatRfc3339(sth.timestamp_us)},
         {"timestamp_us", sth.timestamp_us},
         {"signature", Base64Encode(sth.signature)},
         {"algorithm", "ed25519"},
         {"signed_format", std::string(merkle::kTreeHeadContext)},
         {"public_key", std::string(public_key_pem)}};
  return j.dump();
}

std::string InclusionProofToJson(const InclusionProof& p) {
  Json j{{"global_seq", p.global_seq},
         {"leaf_index", p.leaf_index},
         {"tree_size", p.tree_size},
         {"event_hash", HexDigest(p.event_hash)},
         {"leaf_hash", HexDigest(p.leaf_hash)},
         {"audit_path", HexArray(p.audit_path)},
         {"root_hash", HexDigest(p.root_hash)}};
  return j.dump();
}

std::string ConsistencyProofToJson(const ConsistencyProof& p) {
  Json j{{"first", p.first},
         {"second", p.second},
         {"first_root", HexDigest(p.first_root)},
         {"second_root", HexDigest(p.second_root)},
         {"proof", HexArray(p.proof)}};
  return j.dump();
}

}  // namespace convledger
