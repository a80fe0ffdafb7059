// The saved crash inputs of one fuzz harness (tests/fuzz/regressions/<harness>/), for the gtest
// suites that replay them (tests/ledger and tests/api define FUZZ_REGRESSIONS_DIR).
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace convledger::fuzz {

inline std::vector<std::filesystem::path> RegressionInputs(const std::string& harness) {
  std::vector<std::filesystem::path> out;
  const std::filesystem::path dir = std::filesystem::path(FUZZ_REGRESSIONS_DIR) / harness;
  for (const auto& f : std::filesystem::directory_iterator(dir))
    if (f.is_regular_file() && f.path().filename().string()[0] != '.') out.push_back(f.path());
  return out;
}

inline std::string ReadInput(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace convledger::fuzz
