// Helpers shared by the subcommands (private to tools/): logging, opening the ledger, and the
// JSON shapes of results and errors.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ledger/ledger.h"
#include "ledger/status.h"

namespace convledger::cli {

// Output objects keep their keys in insertion order: "ok" and "line" first, as documented.
using Json = nlohmann::ordered_json;

// The CLI's logger: stderr, created on first use, so results on stdout stay clean.
spdlog::logger& Log();

enum class OpenMode { kReadWrite, kReadOnly };

// Opens the ledger in `data_dir`. kReadOnly never creates anything; a directory that holds no
// ledger is io_error (exit code 3) in either mode.
Result<std::unique_ptr<Ledger>> OpenLedger(const std::string& data_dir, OpenMode mode,
                                           Durability durability = Durability::kWal);

// {"code": "<Status::code_name()>", "reason": "...", "message": "..."}
Json ErrorToJson(const Status& status);

// {"global_seq", "conversation_seq", "hash", "prev_hash", "recorded_at", "event_id",
//  "duplicate"}
Json AppendResultToJson(const AppendResult& result);

// Compact one-line JSON; invalid UTF-8 (which only a bug could put here) is replaced, never
// thrown.
std::string DumpLine(const Json& j);

}  // namespace convledger::cli
