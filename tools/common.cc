#include "tools/common.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <system_error>

#include "ledger/time.h"
#include "tools/cli.h"

namespace convledger::cli {

spdlog::logger& Log() {
  // Not registered globally: a test binary may create several CLIs, and spdlog's registry
  // refuses a second logger with the same name.
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>(
        "convledger", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    l->set_pattern("convledger: %^%l%$: %v");
    l->set_level(spdlog::level::info);
    return l;
  }();
  return *logger;
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case Status::Code::kOk:
      return kExitOk;
    case Status::Code::kNotFound:
    case Status::Code::kInvalidArgument:
    case Status::Code::kWrongExpectedVersion:
    case Status::Code::kIdempotencyConflict:
    case Status::Code::kInvariantViolation:
      return kExitFailed;
    case Status::Code::kIOError:
    case Status::Code::kBusy:
      return kExitIo;
    case Status::Code::kCorruption:
      return kExitCorruption;
  }
  return kExitIo;  // a code added later and not mapped yet: treat as an environment failure
}

Result<std::unique_ptr<Ledger>> OpenLedger(const std::string& data_dir, OpenMode mode,
                                           Durability durability) {
  Options options;
  options.durability = durability;
  if (mode == OpenMode::kReadOnly) {
    // A read-only open must not create an empty ledger as a side effect of a typo in --data.
    std::error_code ec;
    if (!std::filesystem::is_directory(data_dir, ec) || std::filesystem::is_empty(data_dir, ec)) {
      return Status::IOError("no ledger in '" + data_dir +
                             "' (create one with `convledger append` or `convledger demo`)");
    }
    options.read_only = true;
    options.create_if_missing = false;
  }
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(data_dir, options);
  // A directory that holds no ledger is a problem of the environment (exit 3), not of the
  // input: the ledger says not_found/ledger_not_found, the CLI says io_error.
  if (!ledger.ok() && ledger.status().IsNotFound()) {
    return Status::IOError(ledger.status().message());
  }
  return ledger;
}

Json ErrorToJson(const Status& status) {
  return Json{{"code", std::string(status.code_name())},
              {"reason", status.reason()},
              {"message", status.message()}};
}

Json AppendResultToJson(const AppendResult& r) {
  return Json{{"global_seq", r.global_seq},
              {"conversation_seq", r.conversation_seq},
              {"hash", HexDigest(r.hash)},
              {"prev_hash", HexDigest(r.prev_hash)},
              {"recorded_at", FormatRfc3339(r.recorded_at_us)},
              {"event_id", FormatEventId(r.event_id)},
              {"duplicate", r.duplicate}};
}

std::string DumpLine(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace convledger::cli
