// The view subcommands: `history`, `view` and `analytics` (read-only, thin over
// projections::History / CustomerView / Analytics), and `rebuild` (read-write).

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/time.h"
#include "projections/projections.h"
#include "tools/cli.h"
#include "tools/common.h"

namespace convledger::cli {
namespace {

// Parses --as-of (empty: the current view). A sequence beyond the end of the log is refused: a
// cut that does not exist yet would give a different answer tomorrow.
Result<projections::AsOf> ParseAsOfOption(const std::string& text, uint64_t last_global_seq) {
  if (text.empty()) return projections::AsOf{};
  Result<projections::AsOf> as_of = projections::ParseAsOf(text);
  if (!as_of.ok()) return as_of;
  if (as_of->global_seq > last_global_seq)
    return Status::InvalidArgument(
        "invalid_as_of", "as_of sequence " + std::to_string(as_of->global_seq) +
                             " is beyond the end of the log (last global_seq " +
                             std::to_string(last_global_seq) + ")");
  return as_of;
}

// Prints the rendered JSON: one line, or indented with `pretty`. The renderers produce compact
// JSON, printed byte for byte as the library (and the HTTP API) gives it; anything else is
// re-dumped (keys in their order) so that stdout stays one object per line.
int PrintJson(const std::string& rendered, bool pretty, std::ostream& out) {
  if (!pretty && rendered.find('\n') == std::string::npos) {
    out << rendered << '\n';
    out.flush();
    return out ? kExitOk : kExitIo;
  }
  Json j = Json::parse(rendered, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    LogError("the view did not render valid JSON",
             Status::Corruption("invalid_view_json", "renderer output is not JSON"));
    return kExitCorruption;
  }
  out << (pretty ? j.dump(2, ' ', false, Json::error_handler_t::replace) : DumpLine(j)) << '\n';
  out.flush();
  return out ? kExitOk : kExitIo;
}

// What the three commands share: open read-only, parse --as-of, render, and when the stored
// view is not available in this read-only open, fold the log up to its last sequence instead.
int RunRead(const std::string& what, const std::string& data_dir, const std::string& as_of_text,
            bool pretty, std::ostream& out,
            const std::function<Result<std::string>(Ledger&, const projections::AsOf&)>& render,
            const std::function<Result<std::string>(StateReader&)>& render_empty) {
  // Bad input first: a typo in --as-of must not depend on the state of the ledger.
  if (!as_of_text.empty()) {
    Result<projections::AsOf> syntax = projections::ParseAsOf(as_of_text);
    if (!syntax.ok()) {
      LogError(what, syntax.status());
      return kExitUsage;
    }
  }
  Result<std::unique_ptr<Ledger>> opened = OpenLedger(data_dir, OpenMode::kReadOnly);
  if (!opened.ok()) {
    LogError("cannot open ledger in '" + data_dir + "'", opened.status());
    return ExitCodeFor(opened.status());
  }
  Ledger& ledger = **opened;
  const uint64_t last = ledger.LastGlobalSeq();
  Result<projections::AsOf> as_of = ParseAsOfOption(as_of_text, last);
  if (!as_of.ok()) {
    LogError(what, as_of.status());
    return kExitUsage;
  }
  Result<std::string> rendered = render(ledger, *as_of);
  if (!rendered.ok() && rendered.status().code() == Status::Code::kBusy && as_of->IsCurrent()) {
    // The stored view is being rebuilt by a writer, or is behind the log (written by an older
    // version): answer from the log itself, the same fold at the same point.
    Log().debug("{}: stored view not available ({}); folding the log up to global_seq {}", what,
                rendered.status().ToString(), last);
    if (last > 0) {
      projections::AsOf at_end;
      at_end.global_seq = last;
      rendered = render(ledger, at_end);
    } else {
      projections::MemoryState empty;  // nothing to fold: the view of an empty log
      rendered = render_empty(empty);
    }
  } else if (rendered.ok()) {
    Log().debug("{}: {}", what,
                as_of->IsCurrent() ? std::string("served from the stored view")
                                   : "folded from the log as of " + as_of_text);
  }
  if (!rendered.ok()) {
    LogError(what, rendered.status());
    return ExitCodeFor(rendered.status());
  }
  return PrintJson(*rendered, pretty, out);
}

// "YYYY-MM-DD", a real date.
bool ValidDay(const std::string& day) {
  if (day.size() != 10) return false;
  for (size_t i = 0; i < day.size(); ++i) {
    const bool dash = i == 4 || i == 7;
    if (dash != (day[i] == '-')) return false;
    if (!dash && !std::isdigit(static_cast<unsigned char>(day[i]))) return false;
  }
  return ParseRfc3339(day + "T00:00:00Z").has_value();
}

}  // namespace

int RunHistory(const ConversationViewCommand& cmd, std::ostream& out) {
  return RunRead("history of '" + cmd.conversation_id + "'", cmd.data_dir, cmd.as_of, cmd.pretty,
                 out,
                 [&](Ledger& ledger, const projections::AsOf& as_of) {
                   return projections::History(ledger, cmd.conversation_id, as_of);
                 },
                 [&](StateReader& empty) {
                   return projections::RenderHistory(empty, cmd.conversation_id);
                 });
}

int RunView(const ConversationViewCommand& cmd, std::ostream& out) {
  return RunRead("customer view of '" + cmd.conversation_id + "'", cmd.data_dir, cmd.as_of,
                 cmd.pretty, out,
                 [&](Ledger& ledger, const projections::AsOf& as_of) {
                   return projections::CustomerView(ledger, cmd.conversation_id, as_of);
                 },
                 [&](StateReader& empty) {
                   return projections::RenderCustomerView(empty, cmd.conversation_id);
                 });
}

int RunAnalytics(const AnalyticsCommand& cmd, std::ostream& out) {
  for (const std::string* day : {&cmd.from_day, &cmd.to_day}) {
    if (!day->empty() && !ValidDay(*day)) {
      LogError("analytics", Status::InvalidArgument(
                                "invalid_day", "--from and --to take a UTC day YYYY-MM-DD, not \"" +
                                                   *day + "\""));
      return kExitUsage;
    }
  }
  if (!cmd.from_day.empty() && !cmd.to_day.empty() && cmd.from_day > cmd.to_day) {
    LogError("analytics", Status::InvalidArgument("invalid_range", "--from " + cmd.from_day +
                                                                       " is after --to " +
                                                                       cmd.to_day));
    return kExitUsage;
  }
  projections::AnalyticsQuery query;
  query.tenant = cmd.tenant;
  query.from_day = cmd.from_day;
  query.to_day = cmd.to_day;
  return RunRead("analytics", cmd.data_dir, cmd.as_of, cmd.pretty, out,
                 [&](Ledger& ledger, const projections::AsOf& as_of) {
                   return projections::Analytics(ledger, query, as_of);
                 },
                 [&](StateReader& empty) { return projections::RenderAnalytics(empty, query); });
}

int RunRebuild(const RebuildCommand& cmd, std::ostream& out) {
  std::vector<std::string> names;
  for (const auto& p : projections::MakeAll()) names.emplace_back(p->Name());
  if (!cmd.projection.empty()) {
    if (std::find(names.begin(), names.end(), cmd.projection) == names.end()) {
      LogError("rebuild", Status::NotFound("projection_not_found",
                                           "no projection named \"" + cmd.projection +
                                               "\" (history, customer_view, analytics)"));
      return kExitUsage;
    }
    names = {cmd.projection};
  }
  Result<std::unique_ptr<Ledger>> opened = OpenLedger(cmd.data_dir, OpenMode::kReadWriteExisting);
  if (!opened.ok()) {
    LogError("cannot open ledger in '" + cmd.data_dir + "'", opened.status());
    return ExitCodeFor(opened.status());
  }
  Ledger& ledger = **opened;
  if (Status st = WaitForProjectionsReady(ledger, cmd.progress, "rebuild"); !st.ok()) {
    LogError("rebuild", st);
    return ExitCodeFor(st);
  }

  int rc = kExitOk;
  for (const std::string& name : names) {
    Result<RebuildReport> report = [&] {
      ProgressReporter progress(cmd.progress, "rebuild " + name + ": compare");
      uint64_t previous = 0;
      return ledger.RebuildProjection(
          name, /*replace=*/!cmd.check_only, [&](uint64_t done, uint64_t total) {
            // With replace, a second pass refolds the live state from the start.
            if (done < previous) progress.SetLabel("rebuild " + name + ": replace");
            previous = done;
            progress.Update(done, total);
          });
    }();
    if (!report.ok()) {
      LogError("rebuild " + name, report.status());
      const int code = ExitCodeFor(report.status());
      rc = std::max(rc, code);
      continue;
    }
    Json j{{"projection", report->name},
           {"events", report->events},
           {"checkpoint", report->checkpoint},
           {"live_digest", HexDigest(report->live_digest)},
           {"rebuilt_digest", HexDigest(report->rebuilt_digest)},
           {"equal", report->equal}};
    if (!report->equal) j["first_difference"] = HexBytes(report->first_difference);
    j["replaced"] = report->replaced;
    out << DumpLine(j) << '\n';
    out.flush();
    if (report->equal) {
      Log().info("rebuild {}: {} events, state equal to the log's fold{}", name, report->events,
                 report->replaced ? "; replaced" : "");
    } else if (report->replaced) {
      Log().warn("rebuild {}: the live state differed from the log's fold (first at key {}); "
                 "replaced by the rebuild",
                 name, HexBytes(report->first_difference));
    } else {
      Log().error("rebuild {}: the live state differs from the log's fold (first at key {})",
                  name, HexBytes(report->first_difference));
      rc = std::max(rc, kExitFailed);
    }
  }
  if (!out) return kExitIo;
  return rc;
}

}  // namespace convledger::cli
