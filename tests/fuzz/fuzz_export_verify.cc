// libFuzzer harness: the offline export verifier (VerifyBundle, VerifyRsmf). See checks.h.
#include <cstdio>
#include <cstdlib>

#include "checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string err =
      convledger::fuzz::CheckExportVerify({reinterpret_cast<const char*>(data), size});
  if (!err.empty()) {
    std::fprintf(stderr, "fuzz_export_verify: %s\n", err.c_str());
    std::abort();
  }
  return 0;
}
