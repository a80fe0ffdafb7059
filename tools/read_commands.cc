// The read-only subcommands: `events`, `verify` and `stats` (`verify --projections full` is the
// one exception: it opens read-write to rebuild views into a scratch state).

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ledger/event_json.h"
#include "projections/projections.h"
#include "tools/cli.h"
#include "tools/common.h"

namespace convledger::cli {
namespace {

// Events are read in pages so that printing a large ledger needs little memory.
constexpr size_t kEventsPage = 1000;

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

namespace {

// Up to `n` conversations spread over the log (deterministic): the conversations of the events
// at global sequences 1, 1 + last/n, 1 + 2*last/n, ..., without repeats. Busier conversations
// are likelier to be picked, which is where folds have the most to get wrong.
Result<std::vector<std::string>> SampleConversations(Ledger& ledger, uint64_t last, size_t n) {
  std::vector<std::string> out;
  std::set<std::string, std::less<>> seen;
  if (last == 0 || n == 0) return out;
  const uint64_t picks = std::min<uint64_t>(n, last);
  for (uint64_t i = 0; i < picks; ++i) {
    const uint64_t g = 1 + i * last / picks;
    ReadOptions ro;
    ro.as_of_global_seq = last;
    ro.limit = 1;
    Status decode;
    Status st = ledger.ScanGlobal(g - 1, ro, [&](const RawEvent& raw) {
      Result<Event> ev = DecodeRecord(raw.record);
      if (!ev.ok()) {
        decode = ev.status();
        return false;
      }
      if (seen.insert(ev->conversation_id).second) out.push_back(ev->conversation_id);
      return false;
    });
    if (!st.ok()) return st;
    if (!decode.ok()) return decode;
  }
  return out;
}

// Folds each sampled conversation alone, up to the stored state's checkpoint, and compares the
// result byte for byte with that conversation's slice of the stored state. Adds "conversations"
// and "mismatches" to `entry`; returns whether everything matched (or the error that stopped it).
Result<bool> CheckSample(Ledger& ledger, const std::string& name,
                         const std::vector<std::string>& sample, Json* entry) {
  std::shared_ptr<Projection> projection = name == projections::kHistory
                                               ? projections::MakeHistory()
                                               : projections::MakeCustomerView();
  Result<std::unique_ptr<StateReader>> reader = ledger.NewStateReader(name);
  if (!reader.ok()) return reader.status();
  ReadOptions ro;
  ro.as_of_global_seq = (*reader)->Checkpoint();
  Json mismatches = Json::array();
  size_t checked = 0;
  for (const std::string& conversation : sample) {
    projections::MemoryState folded;
    Status fold_error;
    Status st = ledger.ScanConversation(conversation, 0, ro, [&](const RawEvent& raw) {
      Result<Event> ev = DecodeRecord(raw.record);
      if (!ev.ok()) {
        fold_error = ev.status();
        return false;
      }
      fold_error = projection->Apply(*ev, folded);
      return fold_error.ok();
    });
    if (!st.ok()) return st;
    if (!fold_error.ok()) return fold_error;
    ++checked;

    // Walk both in key order; the first key (or value) that differs is the mismatch.
    auto it = folded.data().begin();
    const auto end = folded.data().end();
    std::string difference;
    bool differs = false;
    st = (*reader)->Scan(projections::ConversationStatePrefix(conversation), [&](std::string_view k,
                                                               std::string_view v) {
      if (it == end || it->first != k || it->second != v) {
        differs = true;
        difference = it == end ? std::string(k) : std::min(std::string(k), it->first);
        return false;
      }
      ++it;
      return true;
    });
    if (!st.ok()) return st;
    if (!differs && it != end) {  // the fold wrote more than is stored (or outside the prefix)
      differs = true;
      difference = it->first;
    }
    if (differs && mismatches.size() < 10)
      mismatches.push_back(Json{{"conversation", conversation}, {"first_difference", HexBytes(difference)}});
    if (differs && mismatches.size() >= 10) break;
  }
  (*entry)["conversations"] = checked;
  (*entry)["mismatches"] = mismatches;
  return mismatches.empty();
}

// The "projections" part of the verify summary. Returns the first error that stopped a check
// (the entry then carries it too); `all_ok` is false when a check found a difference.
Status CheckProjections(Ledger& ledger, const VerifyCommand& cmd, Json* out, bool* all_ok) {
  *all_ok = true;
  *out = Json::array();
  if (cmd.projections == ProjectionCheck::kNone) return Status::OK();
  Status first_error;
  std::vector<std::string> sample;
  if (cmd.projections == ProjectionCheck::kSample) {
    Result<std::vector<std::string>> picked =
        SampleConversations(ledger, ledger.LastGlobalSeq(), kVerifySampleConversations);
    if (!picked.ok()) return picked.status();
    sample = std::move(picked).value();
  }
  for (const ProjectionInfo& info : ledger.Projections()) {
    Json entry{{"name", info.name}};
    Status error;
    bool ok = true;
    if (!info.ready && !info.error.empty()) {
      // Its background catch-up failed: nothing to compare, say why.
      error = Status::Corruption("projection_failed", info.error);
    } else if (cmd.projections == ProjectionCheck::kFull) {
      entry["checked"] = "full";
      ProgressReporter progress(cmd.progress, "verify " + info.name);
      Result<RebuildReport> report = ledger.RebuildProjection(
          info.name, /*replace=*/false,
          [&progress](uint64_t done, uint64_t total) { progress.Update(done, total); });
      if (report.ok()) {
        entry["digest"] = HexDigest(report->live_digest);
        entry["events"] = report->events;
        entry["checkpoint"] = report->checkpoint;
        ok = report->equal;
        if (!ok) {
          entry["rebuilt_digest"] = HexDigest(report->rebuilt_digest);
          entry["first_difference"] = HexBytes(report->first_difference);
        }
      } else {
        error = report.status();
      }
    } else {
      const bool per_conversation =
          info.name == projections::kHistory || info.name == projections::kCustomerView;
      entry["checked"] = per_conversation ? "sample" : "none";
      if (per_conversation) {
        Result<bool> matched = CheckSample(ledger, info.name, sample, &entry);
        if (matched.ok()) {
          ok = *matched;
        } else {
          error = matched.status();
        }
      }
      if (error.ok()) {
        Result<Digest> digest = ledger.ProjectionDigest(info.name);
        if (digest.ok()) {
          entry["digest"] = HexDigest(*digest);
        } else {
          error = digest.status();
        }
      }
    }
    if (!error.ok()) {
      ok = false;
      entry["error"] = ErrorToJson(error);
      if (first_error.ok()) first_error = error;
    } else if (!ok) {
      *all_ok = false;
      Log().error("verify: projection {} differs from a fold of the log", info.name);
    }
    entry["ok"] = ok;
    out->push_back(std::move(entry));
  }
  return first_error;
}

}  // namespace

int RunVerify(const VerifyCommand& cmd, std::ostream& out) {
  // A full check rebuilds into a scratch column family: that needs a read-write open.
  const OpenMode mode =
      cmd.projections == ProjectionCheck::kFull ? OpenMode::kReadWriteExisting : OpenMode::kReadOnly;
  Result<std::unique_ptr<Ledger>> opened = OpenLedger(cmd.data_dir, mode);
  if (!opened.ok()) {
    Log().error("cannot open ledger in '{}': {}", cmd.data_dir, opened.status().ToString());
    out << DumpLine({{"ok", false}, {"error", ErrorToJson(opened.status())}}) << '\n';
    return ExitCodeFor(opened.status());
  }
  Ledger& ledger = **opened;
  VerifyReport report;
  Status status;
  {
    ProgressReporter progress(cmd.progress, "verify");
    status = ledger.Verify(
        &report, [&progress](uint64_t done, uint64_t total) { progress.Update(done, total); });
  }
  Json projections_json = Json::array();
  bool projections_ok = true;
  Status projections_status;
  if (status.ok() && cmd.projections != ProjectionCheck::kNone) {
    if (cmd.projections == ProjectionCheck::kFull)
      projections_status = WaitForProjectionsReady(ledger, cmd.progress, "verify");
    if (projections_status.ok())
      projections_status = CheckProjections(ledger, cmd, &projections_json, &projections_ok);
  }
  const bool intact = status.ok() && report.ok();
  Json j{{"ok", intact && projections_ok && projections_status.ok()},
         {"events_checked", report.events_checked},
         {"conversations", report.conversations},
         {"last_global_seq", report.last_global_seq},
         {"problems", report.problems},
         {"projections", projections_json}};
  if (!status.ok()) {
    j["error"] = ErrorToJson(status);
  } else if (!projections_status.ok()) {
    j["error"] = ErrorToJson(projections_status);
  }
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
  if (!projections_ok) return kExitFailed;
  if (!projections_status.ok()) {
    Log().error("verify could not check the views: {}", projections_status.ToString());
    return projections_status.IsCorruption() ? kExitFailed : ExitCodeFor(projections_status);
  }
  Log().info("verify: ledger intact ({} events, {} conversations){}", report.events_checked,
             report.conversations,
             cmd.projections == ProjectionCheck::kNone ? "" : "; views match the log");
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
  Json views = Json::array();
  for (const ProjectionInfo& info : (*opened)->Projections()) {
    Json v{{"name", info.name}, {"version", info.version}, {"checkpoint", info.checkpoint},
           {"ready", info.ready}};
    if (!info.error.empty()) v["error"] = info.error;
    views.push_back(std::move(v));
  }
  out << DumpLine({{"last_global_seq", stats->last_global_seq},
                   {"conversations", stats->conversations},
                   {"live_data_bytes", stats->live_data_bytes},
                   {"events_sst_bytes", stats->events_sst_bytes},
                   {"projections", views}})
      << '\n';
  out.flush();
  return kExitOk;
}

}  // namespace convledger::cli
