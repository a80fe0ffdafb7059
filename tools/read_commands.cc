// The read-only subcommands: `events`, `verify` and `stats`.

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "ledger/event_json.h"
#include "tools/cli.h"
#include "tools/common.h"

namespace convledger::cli {
namespace {

// Events are read in pages so that printing a large ledger needs little memory.
constexpr size_t kEventsPage = 1000;

// Shows Verify's progress on stderr: a redrawn bar on a terminal, otherwise a log line every
// few seconds (CI logs and pipes must not fill up with carriage returns).
class ProgressReporter {
 public:
  explicit ProgressReporter(Progress mode) : mode_(Resolve(mode)) {}

  ~ProgressReporter() {
    if (mode_ == Progress::kBar && drawn_) std::fputc('\n', stderr);
  }

  void Update(uint64_t done, uint64_t total) {
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

 private:
  static constexpr int kBarWidth = 40;
  static constexpr std::chrono::seconds kLogEvery{5};

  static Progress Resolve(Progress mode) {
    if (mode != Progress::kAuto) return mode;
    return ::isatty(STDERR_FILENO) ? Progress::kBar : Progress::kLog;
  }

  void DrawBar(uint64_t done, uint64_t total) {
    const int permille = total == 0 ? 1000
                                    : static_cast<int>(std::min<uint64_t>(
                                          1000, done * 1000 / std::max<uint64_t>(total, 1)));
    if (drawn_ && permille == last_permille_) return;  // redraw only when it moves
    last_permille_ = permille;
    drawn_ = true;
    const int filled = permille * kBarWidth / 1000;
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < kBarWidth) bar += '>';
    bar.resize(kBarWidth, ' ');
    std::fprintf(stderr, "\rverify [%s] %5.1f%%  %llu/%llu events", bar.c_str(), permille / 10.0,
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
    std::fflush(stderr);
  }

  void MaybeLog(uint64_t done, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_log_ < kLogEvery) return;
    last_log_ = now;
    Log().info("verify: {}/{} events checked", done, total);
  }

  const Progress mode_;
  bool drawn_ = false;
  int last_permille_ = -1;
  std::chrono::steady_clock::time_point last_log_ = std::chrono::steady_clock::now();
};

}  // namespace

int RunEvents(const EventsCommand& cmd, std::ostream& out) {
  Result<std::unique_ptr<Ledger>> opened = OpenLedger(cmd.data_dir, OpenMode::kReadOnly);
  if (!opened.ok()) {
    Log().error("cannot open ledger in '{}': {}", cmd.data_dir, opened.status().ToString());
    return ExitCodeFor(opened.status());
  }
  Ledger& ledger = **opened;

  // Pin every page to the sequence committed when we started: the output is one consistent
  // snapshot even while another process appends.
  ReadOptions read;
  read.as_of_global_seq = ledger.LastGlobalSeq();
  if (read.as_of_global_seq == 0 && !cmd.conversation) return kExitOk;  // empty ledger

  uint64_t after = cmd.after;
  uint64_t printed = 0;
  for (;;) {
    uint64_t want = kEventsPage;
    if (cmd.limit != 0) want = std::min<uint64_t>(want, cmd.limit - printed);
    if (want == 0) break;
    read.limit = static_cast<size_t>(want);
    Result<std::vector<Event>> page = cmd.conversation
                                          ? ledger.ReadConversation(*cmd.conversation, after, read)
                                          : ledger.ReadGlobal(after, read);
    if (!page.ok()) {
      Log().error("{}", page.status().ToString());
      return ExitCodeFor(page.status());
    }
    if (page->empty()) {
      if (cmd.conversation && printed == 0) {
        // Tell "no such conversation" apart from "nothing after --after".
        Result<Head> head = ledger.GetHead(*cmd.conversation);
        if (!head.ok()) {
          Log().error("conversation '{}': {}", *cmd.conversation, head.status().ToString());
          return ExitCodeFor(head.status());
        }
      }
      break;
    }
    for (const Event& e : *page) out << EventToJson(e) << '\n';
    printed += page->size();
    after = cmd.conversation ? page->back().conversation_seq : page->back().global_seq;
    if (page->size() < read.limit) break;
  }
  out.flush();
  return out ? kExitOk : kExitIo;
}

int RunVerify(const VerifyCommand& cmd, std::ostream& out) {
  Result<std::unique_ptr<Ledger>> opened = OpenLedger(cmd.data_dir, OpenMode::kReadOnly);
  if (!opened.ok()) {
    Log().error("cannot open ledger in '{}': {}", cmd.data_dir, opened.status().ToString());
    out << DumpLine({{"ok", false}, {"error", ErrorToJson(opened.status())}}) << '\n';
    return ExitCodeFor(opened.status());
  }
  VerifyReport report;
  Status status;
  {
    ProgressReporter progress(cmd.progress);
    status = (*opened)->Verify(
        &report, [&progress](uint64_t done, uint64_t total) { progress.Update(done, total); });
  }
  const bool intact = status.ok() && report.ok();
  Json j{{"ok", intact},
         {"events_checked", report.events_checked},
         {"conversations", report.conversations},
         {"last_global_seq", report.last_global_seq},
         {"problems", report.problems}};
  if (!status.ok()) j["error"] = ErrorToJson(status);
  out << DumpLine(j) << '\n';
  out.flush();
  if (!status.ok()) {
    Log().error("verify could not finish: {}", status.ToString());
    // Corruption found while verifying is what verify is for: report it like any problem.
    return status.IsCorruption() ? kExitFailed : ExitCodeFor(status);
  }
  if (!report.ok()) {
    Log().error("verify found {} problem(s) in {} events", report.problems.size(),
                report.events_checked);
    return kExitFailed;
  }
  Log().info("verify: ledger intact ({} events, {} conversations)", report.events_checked,
             report.conversations);
  return kExitOk;
}

int RunStats(const StatsCommand& cmd, std::ostream& out) {
  Result<std::unique_ptr<Ledger>> opened = OpenLedger(cmd.data_dir, OpenMode::kReadOnly);
  if (!opened.ok()) {
    Log().error("cannot open ledger in '{}': {}", cmd.data_dir, opened.status().ToString());
    return ExitCodeFor(opened.status());
  }
  Result<LedgerStats> stats = (*opened)->Stats();
  if (!stats.ok()) {
    Log().error("{}", stats.status().ToString());
    return ExitCodeFor(stats.status());
  }
  out << DumpLine({{"last_global_seq", stats->last_global_seq},
                   {"conversations", stats->conversations},
                   {"live_data_bytes", stats->live_data_bytes},
                   {"events_sst_bytes", stats->events_sst_bytes}})
      << '\n';
  out.flush();
  return kExitOk;
}

}  // namespace convledger::cli
