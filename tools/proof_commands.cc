// `key public`, `tree-head`, `proof inclusion`, `proof consistency`: thin JSON renderings of the
// ledger's Merkle API (ledger/merkle.h). Read-only opens, so they run beside a writer.

#include <spdlog/spdlog.h>

#include <ostream>
#include <string>
#include <vector>

#include "ledger/merkle.h"
#include "ledger/time.h"
#include "tools/cli.h"
#include "tools/common.h"

namespace convledger::cli {
namespace {

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    for (int s : {18, 12, 6, 0}) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

Json HexArray(const std::vector<Digest>& hashes) {
  Json a = Json::array();
  for (const Digest& h : hashes) a.push_back(HexDigest(h));
  return a;
}

// A bad value of --seq, --tree-size, --from or --to is a usage error, like a bad --as-of.
int ExitFor(const Status& st) {
  return st.IsInvalidArgument() ? kExitUsage : ExitCodeFor(st);
}

int Print(const Json& j, bool pretty, std::ostream& out) {
  out << (pretty ? j.dump(2) : DumpLine(j)) << '\n';
  out.flush();
  return out ? kExitOk : kExitIo;
}

// Opens read-only; logs and returns the exit code on failure.
Result<std::unique_ptr<Ledger>> Open(const std::string& data_dir) {
  auto opened = OpenLedger(data_dir, OpenMode::kReadOnly);
  if (!opened.ok()) LogError("cannot open ledger in '" + data_dir + "'", opened.status());
  return opened;
}

}  // namespace

int RunKeyPublic(const KeyPublicCommand& cmd, std::ostream& out) {
  auto ledger = Open(cmd.data_dir);
  if (!ledger.ok()) return ExitCodeFor(ledger.status());
  Result<std::string> pem = (*ledger)->PublicKeyPem();
  if (!pem.ok()) {
    LogError("key public", pem.status());
    return ExitFor(pem.status());
  }
  out << *pem;
  out.flush();
  return out ? kExitOk : kExitIo;
}

int RunTreeHead(const TreeHeadCommand& cmd, std::ostream& out) {
  auto ledger = Open(cmd.data_dir);
  if (!ledger.ok()) return ExitCodeFor(ledger.status());
  Result<SignedTreeHead> sth = (*ledger)->SignTreeHead();
  if (!sth.ok()) {
    LogError("tree-head", sth.status());
    return ExitFor(sth.status());
  }
  Result<std::string> pem = (*ledger)->PublicKeyPem();
  if (!pem.ok()) {
    LogError("tree-head", pem.status());
    return ExitFor(pem.status());
  }
  Json j{{"tree_size", sth->tree_size},
         {"root_hash", HexDigest(sth->root_hash)},
         {"timestamp", FormatRfc3339(sth->timestamp_us)},
         {"timestamp_us", sth->timestamp_us},
         {"signature", Base64(sth->signature)},
         {"algorithm", "ed25519"},
         {"signed_format", std::string(merkle::kTreeHeadContext)},
         {"public_key", *pem}};
  return Print(j, cmd.pretty, out);
}

int RunProofInclusion(const ProofInclusionCommand& cmd, std::ostream& out) {
  auto ledger = Open(cmd.data_dir);
  if (!ledger.ok()) return ExitCodeFor(ledger.status());
  Result<InclusionProof> p = (*ledger)->ProveInclusion(cmd.seq, cmd.tree_size);
  if (!p.ok()) {
    LogError("proof inclusion", p.status());
    return ExitFor(p.status());
  }
  Json j{{"global_seq", p->global_seq},
         {"leaf_index", p->leaf_index},
         {"tree_size", p->tree_size},
         {"event_hash", HexDigest(p->event_hash)},
         {"leaf_hash", HexDigest(p->leaf_hash)},
         {"audit_path", HexArray(p->audit_path)},
         {"root_hash", HexDigest(p->root_hash)}};
  return Print(j, cmd.pretty, out);
}

int RunProofConsistency(const ProofConsistencyCommand& cmd, std::ostream& out) {
  auto ledger = Open(cmd.data_dir);
  if (!ledger.ok()) return ExitCodeFor(ledger.status());
  Result<ConsistencyProof> p = (*ledger)->ProveConsistency(cmd.from, cmd.to);
  if (!p.ok()) {
    LogError("proof consistency", p.status());
    return ExitFor(p.status());
  }
  Json j{{"first", p->first},
         {"second", p->second},
         {"first_root", HexDigest(p->first_root)},
         {"second_root", HexDigest(p->second_root)},
         {"proof", HexArray(p->proof)}};
  return Print(j, cmd.pretty, out);
}

}  // namespace convledger::cli
