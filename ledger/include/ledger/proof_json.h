// JSON renderings of signed tree heads and Merkle proofs: one line, keys in a fixed order. The
// one place these shapes are written, shared by the CLI (`tree-head`, `proof ...`), the HTTP API
// (/v1/tree-head, /v1/proofs/...) and exports, so a proof from any of them checks the same way.
#pragma once

#include <string>
#include <string_view>

#include "ledger/merkle.h"

namespace convledger {

// Standard base64 (RFC 4648, with padding).
std::string Base64Encode(std::string_view bytes);

// {"tree_size","root_hash","timestamp","timestamp_us","signature" (base64),"algorithm":"ed25519",
//  "signed_format","public_key" (PEM)}
std::string TreeHeadToJson(const SignedTreeHead& sth, std::string_view public_key_pem);
// {"global_seq","leaf_index","tree_size","event_hash","leaf_hash","audit_path":[hex...],
//  "root_hash"}
std::string InclusionProofToJson(const InclusionProof& proof);
// {"first","second","first_root","second_root","proof":[hex...]}
std::string ConsistencyProofToJson(const ConsistencyProof& proof);

}  // namespace convledger
