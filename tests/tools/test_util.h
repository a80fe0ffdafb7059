// Helpers for the CLI tests: a temporary directory per test, running the CLI in-process or as
// the built executable, and reading its JSON-lines output.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "ledger/ledger.h"
#include "tools/cli.h"

namespace convledger::cli::test {

using nlohmann::json;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/convledger-tools-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Splits JSON-lines output; a line that is not JSON fails the test (stdout must stay clean).
inline std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      ADD_FAILURE() << "stdout line is not JSON: " << line;
      continue;
    }
    out.push_back(std::move(j));
  }
  return out;
}

// A valid event line: an inbound customer message (an observation, so no invariants apply).
// `extra` is merged into the object (and may override fields).
inline std::string MessageLine(const std::string& conversation, const std::string& message_id,
                               const json& extra = json::object()) {
  json e{{"conversation_id", conversation},
         {"type", "message.sent"},
         {"actor", {{"kind", "customer"}, {"id", "cust-1"}, {"display", "Customer"}}},
         {"channel", "whatsapp"},
         {"message_id", message_id},
         {"direction", "inbound"},
         {"content", {{"text", "hello " + message_id}}}};
  e.update(extra);
  return e.dump();
}

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the CLI in-process through cli::Main, with `input` as stdin.
inline CliRun RunMain(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), "convledger");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::istringstream in(input);
  std::ostringstream out, err;
  CliRun run;
  run.exit_code = Main(static_cast<int>(argv.size()), argv.data(), in, out, err);
  run.out = out.str();
  run.err = err.str();
  return run;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Runs the built executable (CONVLEDGER_CLI, set by CMake) through the shell: `args` is a shell
// fragment, `input` goes to its stdin. Its stdout and stderr are captured apart.
inline CliRun RunBinary(const TempDir& dir, const std::string& args,
                        const std::string& input = "") {
  const std::string in = dir.Sub("stdin.txt"), out = dir.Sub("stdout.txt"),
                    err = dir.Sub("stderr.txt");
  std::ofstream(in, std::ios::binary) << input;
  const std::string command = std::string("'") + CONVLEDGER_CLI + "' " + args + " <'" + in +
                              "' >'" + out + "' 2>'" + err + "'";
  const int status = std::system(command.c_str());
  CliRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = ReadFile(out);
  run.err = ReadFile(err);
  return run;
}

// Opens the ledger a command wrote, to check what it holds.
inline std::unique_ptr<Ledger> OpenForCheck(const std::string& dir) {
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(dir, Options{});
  if (!ledger.ok()) {
    ADD_FAILURE() << "cannot open " << dir << ": " << ledger.status().ToString();
    return nullptr;
  }
  return std::move(ledger).value();
}

}  // namespace convledger::cli::test
