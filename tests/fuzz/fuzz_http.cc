// libFuzzer harness: the HTTP request path in process (Beast's parser, then App::Handle over one
// temporary ledger that grows as the fuzzer appends). No sockets, no threads. See checks.h.
#include <cstdio>
#include <cstdlib>

#include "checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Built once, and deliberately never destroyed: libFuzzer exits from inside its loop, and a
  // destructor racing that exit would only add noise. The temporary directory is left behind
  // under $TMPDIR (tests/fuzz/run removes convledger-fuzz-http-* after each run).
  static convledger::fuzz::HttpWorld* world = new convledger::fuzz::HttpWorld;
  const std::string err =
      convledger::fuzz::CheckHttp(*world, {reinterpret_cast<const char*>(data), size});
  if (!err.empty()) {
    std::fprintf(stderr, "fuzz_http: %s\n", err.c_str());
    std::abort();
  }
  return 0;
}
