// libFuzzer harness: the FlatBuffers read path (DecodeRecord). See checks.h.
#include <cstdio>
#include <cstdlib>

#include "checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string err =
      convledger::fuzz::CheckDecodeRecord({reinterpret_cast<const char*>(data), size});
  if (!err.empty()) {
    std::fprintf(stderr, "fuzz_decode_record: %s\n", err.c_str());
    std::abort();
  }
  return 0;
}
