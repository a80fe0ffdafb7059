// Helpers shared by the subcommands (private to tools/): logging, opening the ledger, and the
// JSON shapes of results and errors.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ledger/ledger.h"
#include "ledger/status.h"
#include "tools/cli.h"

namespace convledger::cli {

// Output objects keep their keys in insertion order: "ok" and "line" first, as documented.
using Json = nlohmann::ordered_json;

// The CLI's logger: stderr, created on first use, so results on stdout stay clean.
spdlog::logger& Log();

enum class OpenMode {
  kReadWrite,          // creates the ledger when `data_dir` holds none
  kReadOnly,           // never creates or writes anything
  kReadWriteExisting,  // writes (rebuild), but never creates a ledger
};

// ---- the master key (see README "Erasure and retention") ----
// Environment variables naming the master key for every command that opens a ledger.
inline constexpr const char* kMasterKeyEnv = "CONVLEDGER_MASTER_KEY";            // 64 hex chars
inline constexpr const char* kMasterKeyFileEnv = "CONVLEDGER_MASTER_KEY_FILE";   // a file path

// The global --master-key-file flag, set by Main() before a subcommand runs (empty: not given).
// Process-wide, like the log level.
void SetMasterKeyFileFlag(std::string path);

// Fills Options::master_key / master_key_path from, in order: --master-key-file;
// CONVLEDGER_MASTER_KEY (64 hexadecimal characters, decoded to 32 bytes); CONVLEDGER_MASTER_KEY_FILE;
// else neither (the ledger's default file, <data>/keys/master.key). InvalidArgument
// (invalid_master_key) when CONVLEDGER_MASTER_KEY is malformed or both variables are set; the
// message names the variable, never its value. A named key file that does not exist is IOError
// (the ledger would otherwise open read-only with content sealed, hiding a typo).
Status ApplyMasterKey(Options* options);
// ApplyMasterKey() into a scratch Options that is wiped afterwards: whether the key settings are
// usable, for Main to refuse a malformed one up front.
Status CheckMasterKeySettings();

// Opens the ledger in `data_dir` with every view (projections::MakeAll()) in
// Options::projections, so every writer maintains the views in its appends and a read-write open
// catches up views that are behind the log (in the background; see WaitForProjectionsReady).
// kReadOnly and kReadWriteExisting never create anything; a directory that holds no ledger is
// io_error (exit code 3). The master key comes from ApplyMasterKey(); a key that does not match
// the ledger's is the ledger's corruption/wrong_master_key (exit code 4).
Result<std::unique_ptr<Ledger>> OpenLedger(const std::string& data_dir, OpenMode mode,
                                           Durability durability = Durability::kWal);

// {"code": "<Status::code_name()>", "reason": "...", "message": "..."}
Json ErrorToJson(const Status& status);

// {"global_seq", "conversation_seq", "hash", "prev_hash", "recorded_at", "event_id",
//  "duplicate"}
Json AppendResultToJson(const AppendResult& result);

// Waits until every projection has caught up with the log (a read-write open of a ledger whose
// views are behind, or of a changed fold, rebuilds them in the background). Shows progress as
// `label` when `progress` is not kNone. Busy when a projection stops moving for `stall`
// (its catch-up failed; the ledger keeps it unavailable).
Status WaitForProjectionsReady(Ledger& ledger, Progress progress, const std::string& label,
                               std::chrono::milliseconds stall = std::chrono::seconds(60));

// Shows the progress of a long pass on stderr: a redrawn bar on a terminal, otherwise a log line
// every few seconds (CI logs and pipes must not fill up with carriage returns).
class ProgressReporter {
 public:
  // `label` starts the bar and the log lines ("verify", "rebuild history").
  // `unit` names what `done` and `total` count in the bar ("events", "subjects").
  ProgressReporter(Progress mode, std::string label, std::string unit = "events");
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  void Update(uint64_t done, uint64_t total);
  // Ends the current bar line (if any) and starts the next pass under a new label.
  void SetLabel(std::string label);

 private:
  void DrawBar(uint64_t done, uint64_t total);
  void MaybeLog(uint64_t done, uint64_t total);
  void EndLine();

  const Progress mode_;
  std::string label_;
  const std::string unit_;
  bool drawn_ = false;
  int last_permille_ = -1;
  std::chrono::steady_clock::time_point last_log_;
};

// Lower-case hex of arbitrary bytes (state keys are binary).
std::string HexBytes(std::string_view bytes);

// Logs `status` as its error JSON (ErrorToJson) at error level, prefixed by `context`.
void LogError(const std::string& context, const Status& status);

// Compact one-line JSON; invalid UTF-8 (which only a bug could put here) is replaced, never
// thrown.
std::string DumpLine(const Json& j);

}  // namespace convledger::cli
