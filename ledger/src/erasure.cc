// Crypto-shredding: the keys column family, sealing content on append, opening it on read,
// redaction and subject erasure. INTERIM: the interface only; sealing lands next.
#include "ledger_impl.h"

namespace convledger {
namespace {

class NoKeysOpener final : public ContentOpener {
 public:
  Result<OpenedContent> Open(std::string_view, const SealedContent&) override {
    return Status::Corruption("unknown_key", "this ledger holds no content keys yet");
  }
};

}  // namespace

ContentOpener& LedgerImpl::Opener() {
  if (!opener_) opener_ = std::make_unique<NoKeysOpener>();
  return *opener_;
}

Result<EraseReport> LedgerImpl::EraseSubject(const EraseRequest&) {
  return Status::Busy("not_implemented", "subject erasure is not implemented yet");
}

Result<std::vector<SubjectInfo>> LedgerImpl::ListSubjects(std::string_view) {
  return std::vector<SubjectInfo>{};
}

}  // namespace convledger
