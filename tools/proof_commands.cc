// `key public`, `tree-head`, `proof inclusion`, `proof consistency`: thin JSON renderings of the
// ledger's Merkle API (ledger/merkle.h). Read-only opens, so they run beside a writer.

#include <spdlog/spdlog.h>

#include <ostream>
#include <string>
#include <vector>

#include "ledger/merkle.h"
#include "ledger/proof_json.h"
#include "ledger/time.h"
#include "tools/cli.h"
#include "tools/common.h"

namespace convledger::cli {
namespace {

// A bad value of --seq, --tree-size, --from or --to is a usage error, like a bad --as-of.
int ExitFor(const Status& st) {
  return st.IsInvalidArgument() ? kExitUsage : ExitCodeFor(st);
}

// `line` is one of the renderings of ledger/proof_json.h.
int Print(const std::string& line, bool pretty, std::ostream& out) {
  out << (pretty ? Json::parse(line).dump(2) : line) << '\n';
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
  return Print(TreeHeadToJson(*sth, *pem), cmd.pretty, out);
}

int RunProofInclusion(const ProofInclusionCommand& cmd, std::ostream& out) {
  auto ledger = Open(cmd.data_dir);
  if (!ledger.ok()) return ExitCodeFor(ledger.status());
  Result<InclusionProof> p = (*ledger)->ProveInclusion(cmd.seq, cmd.tree_size);
  if (!p.ok()) {
    LogError("proof inclusion", p.status());
    return ExitFor(p.status());
  }
  return Print(InclusionProofToJson(*p), cmd.pretty, out);
}

int RunProofConsistency(const ProofConsistencyCommand& cmd, std::ostream& out) {
  auto ledger = Open(cmd.data_dir);
  if (!ledger.ok()) return ExitCodeFor(ledger.status());
  Result<ConsistencyProof> p = (*ledger)->ProveConsistency(cmd.from, cmd.to);
  if (!p.ok()) {
    LogError("proof consistency", p.status());
    return ExitFor(p.status());
  }
  return Print(ConsistencyProofToJson(*p), cmd.pretty, out);
}

}  // namespace convledger::cli
