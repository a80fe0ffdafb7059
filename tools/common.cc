#include "tools/common.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <thread>
#include <utility>

#include "ledger/time.h"
#include "projections/projections.h"
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

namespace {

std::string& MasterKeyFileFlag() {
  static std::string path;
  return path;
}

// Overwrites a secret before its memory is released (not optimized away: volatile writes).
void Wipe(std::string* s) {
  volatile char* p = s->data();
  for (size_t i = 0; i < s->size(); ++i) p[i] = 0;
  s->clear();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status RequireKeyFile(const std::string& path, const std::string& source) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return Status::IOError("master key file '" + path + "' (from " + source +
                           ") does not exist or is not a file");
  return Status::OK();
}

}  // namespace

void SetMasterKeyFileFlag(std::string path) { MasterKeyFileFlag() = std::move(path); }

Status ApplyMasterKey(Options* options) {
  if (!MasterKeyFileFlag().empty()) {
    if (Status st = RequireKeyFile(MasterKeyFileFlag(), "--master-key-file"); !st.ok()) return st;
    options->master_key_path = MasterKeyFileFlag();
    return Status::OK();
  }
  const char* env_key = std::getenv(kMasterKeyEnv);
  const char* env_file = std::getenv(kMasterKeyFileEnv);
  const bool has_key = env_key != nullptr && *env_key != '\0';
  const bool has_file = env_file != nullptr && *env_file != '\0';
  if (has_key && has_file)
    return Status::InvalidArgument("invalid_master_key",
                                   std::string("set only one of ") + kMasterKeyEnv + " and " +
                                       kMasterKeyFileEnv);
  if (has_key) {
    std::string_view text(env_key);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
      text.remove_suffix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
      text.remove_prefix(1);
    std::string raw;
    bool ok = text.size() == 64;
    for (size_t i = 0; ok && i < text.size(); i += 2) {
      const int hi = HexValue(text[i]), lo = HexValue(text[i + 1]);
      if (hi < 0 || lo < 0) {
        ok = false;
      } else {
        raw.push_back(static_cast<char>(hi << 4 | lo));
      }
    }
    if (!ok) {
      Wipe(&raw);
      // Never the value, nor its length or any part of it.
      return Status::InvalidArgument(
          "invalid_master_key",
          std::string(kMasterKeyEnv) + " must be 64 hexadecimal characters (32 bytes)");
    }
    Wipe(&options->master_key);
    options->master_key = std::move(raw);
    return Status::OK();
  }
  if (has_file) {
    if (Status st = RequireKeyFile(env_file, kMasterKeyFileEnv); !st.ok()) return st;
    options->master_key_path = env_file;
  }
  return Status::OK();
}

Status CheckMasterKeySettings() {
  Options probe;
  Status st = ApplyMasterKey(&probe);
  Wipe(&probe.master_key);
  return st;
}

Result<std::unique_ptr<Ledger>> OpenLedger(const std::string& data_dir, OpenMode mode,
                                           Durability durability) {
  Options options;
  if (Status st = ApplyMasterKey(&options); !st.ok()) return st;
  options.durability = durability;
  // Every opener maintains every view: an append by any writer folds them in its batch.
  options.projections = projections::MakeAll();
  // Long work inside Open (building the Merkle tree of an older ledger) shows up in the log.
  options.info_log = [](const std::string& line) { Log().info("{}", line); };
  if (mode == OpenMode::kReadWrite) {
    // A new ledger may be asked for under directories that do not exist yet (--data a/b/data).
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) return Status::IOError("cannot create '" + data_dir + "': " + ec.message());
  } else {
    // Such an open must not create an empty ledger as a side effect of a typo in --data.
    std::error_code ec;
    if (!std::filesystem::is_directory(data_dir, ec) || std::filesystem::is_empty(data_dir, ec)) {
      return Status::IOError("no ledger in '" + data_dir +
                             "' (create one with `convledger append` or `convledger demo`)");
    }
    options.read_only = mode == OpenMode::kReadOnly;
    options.create_if_missing = false;
  }
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(data_dir, options);
  Wipe(&options.master_key);  // the ledger keeps its own copy
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

Status WaitForProjectionsReady(Ledger& ledger, Progress progress, const std::string& label,
                               std::chrono::milliseconds stall) {
  if (ledger.WaitForProjections(std::chrono::milliseconds(200))) return Status::OK();
  Log().info("{}: waiting for the views to catch up with the log", label);
  ProgressReporter reporter(progress, label + ": catching up views");
  uint64_t best = 0;
  auto last_move = std::chrono::steady_clock::now();
  while (!ledger.WaitForProjections(std::chrono::milliseconds(250))) {
    // Done = the least progress among the projections still catching up. A failed catch-up
    // says so at once (ProjectionInfo::error) instead of waiting for the stall timeout.
    uint64_t done = UINT64_MAX;
    std::string behind;
    for (const ProjectionInfo& p : ledger.Projections()) {
      if (p.ready) continue;
      if (!p.error.empty()) return Status::Corruption("projection_failed", p.error);
      done = std::min(done, p.progress);
      behind = p.name;
    }
    if (done == UINT64_MAX) continue;  // became ready between the two calls
    reporter.Update(done, ledger.LastGlobalSeq());
    const auto now = std::chrono::steady_clock::now();
    if (done > best) {
      best = done;
      last_move = now;
    } else if (now - last_move > stall) {
      return Status::Busy("projection " + behind + " stopped catching up at global_seq " +
                          std::to_string(done) + "; its fold may be failing");
    }
  }
  return Status::OK();
}

ProgressReporter::ProgressReporter(Progress mode, std::string label, std::string unit)
    : mode_(mode != Progress::kAuto ? mode
                                    : (::isatty(STDERR_FILENO) ? Progress::kBar : Progress::kLog)),
      label_(std::move(label)),
      unit_(std::move(unit)),
      last_log_(std::chrono::steady_clock::now()) {}

ProgressReporter::~ProgressReporter() { EndLine(); }

void ProgressReporter::EndLine() {
  if (mode_ == Progress::kBar && drawn_) std::fputc('\n', stderr);
  drawn_ = false;
  last_permille_ = -1;
}

void ProgressReporter::SetLabel(std::string label) {
  EndLine();
  label_ = std::move(label);
}

void ProgressReporter::Update(uint64_t done, uint64_t total) {
  switch (mode_) {
    case Progress::kBar:
      DrawBar(done, total);
      break;
    case Progress::kLog:
      MaybeLog(done, total);
      break;
    case Progress::kNone:
    case Progress::kAuto:
      break;
  }
}

void ProgressReporter::DrawBar(uint64_t done, uint64_t total) {
  constexpr int kBarWidth = 40;
  const int permille =
      total == 0 ? 1000
                 : static_cast<int>(std::min<uint64_t>(1000, done * 1000 / std::max<uint64_t>(total, 1)));
  if (drawn_ && permille == last_permille_) return;  // redraw only when it moves
  last_permille_ = permille;
  drawn_ = true;
  const int filled = permille * kBarWidth / 1000;
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kBarWidth) bar += '>';
  bar.resize(kBarWidth, ' ');
  std::fprintf(stderr, "\r%s [%s] %5.1f%%  %llu/%llu %s", label_.c_str(), bar.c_str(),
               permille / 10.0, static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total), unit_.c_str());
  std::fflush(stderr);
}

void ProgressReporter::MaybeLog(uint64_t done, uint64_t total) {
  constexpr std::chrono::seconds kLogEvery{5};
  const auto now = std::chrono::steady_clock::now();
  if (now - last_log_ < kLogEvery) return;
  last_log_ = now;
  Log().info("{}: {}/{} {}", label_, done, total, unit_);
}

std::string HexBytes(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

void LogError(const std::string& context, const Status& status) {
  Log().error("{}: {}", context, DumpLine(ErrorToJson(status)));
}

std::string DumpLine(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace convledger::cli
