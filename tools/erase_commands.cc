// Erasure and retention: `erase`, `subjects` and `retention apply` (crypto-shredding through
// Ledger::EraseSubject; see README "Erasure and retention").

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ledger/time.h"
#include "tools/cli.h"
#include "tools/common.h"

namespace convledger::cli {
namespace {

constexpr int64_t kMicrosPerDay = int64_t{86400} * 1000 * 1000;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

Json LastActivity(int64_t us) { return us == 0 ? Json(nullptr) : Json(FormatRfc3339(us)); }

Json SubjectLine(const SubjectInfo& s) {
  return Json{{"tenant", s.tenant},
              {"subject", s.subject},
              {"conversations", s.conversations},
              {"last_activity", LastActivity(s.last_occurred_us)},
              {"held", s.held},
              {"erased", s.erased}};
}

}  // namespace

std::optional<RetentionPeriod> ParseRetentionPeriod(std::string_view text) {
  if (text.size() < 2 || text.size() > 8) return std::nullopt;
  const char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(text.back())));
  const std::string_view digits = text.substr(0, text.size() - 1);
  uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  RetentionPeriod p;
  if (unit == 'y') {
    p.unit = RetentionPeriod::Unit::kYears;
    if (n < 1 || n > 1000) return std::nullopt;
  } else if (unit == 'd') {
    p.unit = RetentionPeriod::Unit::kDays;
    if (n < 1 || n > 365000) return std::nullopt;
  } else {
    return std::nullopt;
  }
  p.count = static_cast<uint32_t>(n);
  p.text = std::to_string(n) + unit;
  return p;
}

int64_t RetentionCutoffMicros(int64_t now_us, const RetentionPeriod& period) {
  if (period.unit == RetentionPeriod::Unit::kDays)
    return now_us - static_cast<int64_t>(period.count) * kMicrosPerDay;
  const int64_t days = FloorDiv(now_us, kMicrosPerDay);
  const int64_t time_of_day = now_us - days * kMicrosPerDay;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  y -= period.count;
  // 29 February of a year that has none: the earlier day, so nothing is erased a day early.
  if (m == 2 && d == 29 && !IsLeap(y)) d = 28;
  return DaysFromCivil(y, m, d) * kMicrosPerDay + time_of_day;
}

int RunErase(const EraseCommand& cmd, std::ostream& out) {
  const std::string tenant = cmd.tenant.empty() ? "default" : cmd.tenant;
  if (cmd.subject.empty() || cmd.reason.empty()) {
    Log().error("erase: --subject and --reason must not be empty");
    return kExitUsage;
  }
  Result<std::unique_ptr<Ledger>> opened =
      OpenLedger(cmd.data_dir, OpenMode::kReadWriteExisting);
  if (!opened.ok()) {
    Log().error("cannot open ledger in '{}': {}", cmd.data_dir, opened.status().ToString());
    return ExitCodeFor(opened.status());
  }
  EraseRequest request;
  request.tenant = tenant;
  request.subject = cmd.subject;
  request.reason = cmd.reason;
  if (!cmd.actor.empty()) {
    request.actor.kind = ActorKind::kAgent;
    request.actor.id = cmd.actor;
  }
  request.override_hold = cmd.override_hold;
  Result<EraseReport> report = (*opened)->EraseSubject(request);
  if (!report.ok()) {
    LogError("erase: subject '" + cmd.subject + "' of tenant " + tenant, report.status());
    out << DumpLine(Json{{"ok", false},
                         {"tenant", tenant},
                         {"subject", cmd.subject},
                         {"error", ErrorToJson(report.status())}})
        << '\n';
    out.flush();
    return ExitCodeFor(report.status());
  }
  out << DumpLine(Json{{"ok", true},
                       {"tenant", report->tenant},
                       {"subject", report->subject},
                       {"conversations", report->conversations},
                       {"keys_destroyed", report->keys_destroyed},
                       {"first_global_seq", report->first_global_seq},
                       {"last_global_seq", report->last_global_seq},
                       {"already_erased", report->already_erased},
                       {"override_hold", cmd.override_hold}})
      << '\n';
  out.flush();
  if (report->already_erased) {
    Log().info("erase: subject '{}' of tenant {} was erased before; nothing appended",
               cmd.subject, tenant);
  }
  return out ? kExitOk : kExitIo;
}

int RunSubjects(const SubjectsCommand& cmd, std::ostream& out) {
  Result<std::unique_ptr<Ledger>> opened = OpenLedger(cmd.data_dir, OpenMode::kReadOnly);
  if (!opened.ok()) {
    Log().error("cannot open ledger in '{}': {}", cmd.data_dir, opened.status().ToString());
    return ExitCodeFor(opened.status());
  }
  Result<std::vector<SubjectInfo>> subjects = (*opened)->ListSubjects(cmd.tenant);
  if (!subjects.ok()) {
    LogError("subjects", subjects.status());
    return ExitCodeFor(subjects.status());
  }
  for (const SubjectInfo& s : *subjects) out << DumpLine(SubjectLine(s)) << '\n';
  out.flush();
  return out ? kExitOk : kExitIo;
}

int RunRetention(const RetentionCommand& cmd, std::ostream& out) {
  // ---- arguments: everything is checked before the ledger is opened ----
  std::map<std::string, RetentionPeriod> policies;
  if (cmd.policies.empty()) {
    Log().error("retention: at least one --policy TENANT=DURATION is required");
    return kExitUsage;
  }
  for (const std::string& p : cmd.policies) {
    const size_t eq = p.find('=');
    std::optional<RetentionPeriod> period;
    if (eq != std::string::npos && eq > 0) period = ParseRetentionPeriod(p.substr(eq + 1));
    if (!period) {
      Log().error(
          "retention: bad --policy '{}': expected TENANT=DURATION, DURATION a whole number of "
          "years (1y..1000y) or days (1d..365000d), e.g. bank=10y, shop=3y, trial=90d",
          p);
      return kExitUsage;
    }
    if (!policies.emplace(p.substr(0, eq), *period).second) {
      Log().error("retention: tenant '{}' has more than one --policy", p.substr(0, eq));
      return kExitUsage;
    }
  }
  int64_t now_us = 0;
  if (cmd.now.empty()) {
    now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  } else {
    std::optional<int64_t> parsed = ParseRfc3339(cmd.now);
    if (!parsed) {
      Log().error("retention: bad --now '{}': expected an RFC 3339 time", cmd.now);
      return kExitUsage;
    }
    now_us = *parsed;
  }

  // ---- the ledger: read-only for a dry run (beside a running writer) ----
  Result<std::unique_ptr<Ledger>> opened = OpenLedger(
      cmd.data_dir, cmd.execute ? OpenMode::kReadWriteExisting : OpenMode::kReadOnly);
  if (!opened.ok()) {
    Log().error("cannot open ledger in '{}': {}", cmd.data_dir, opened.status().ToString());
    return ExitCodeFor(opened.status());
  }
  Ledger& ledger = **opened;

  struct Due {
    SubjectInfo info;
    const RetentionPeriod* period;
  };
  std::vector<Due> due;
  std::vector<std::pair<SubjectInfo, const RetentionPeriod*>> held;
  uint64_t checked = 0, not_due = 0, already_erased = 0, unknown_activity = 0;
  Json policy_json = Json::object();
  for (const auto& [tenant, period] : policies) {
    policy_json[tenant] = Json{{"period", period.text},
                               {"inactive_since_before", FormatRfc3339(RetentionCutoffMicros(
                                                             now_us, period))}};
    Result<std::vector<SubjectInfo>> subjects = ledger.ListSubjects(tenant);
    if (!subjects.ok()) {
      LogError("retention: listing the subjects of tenant " + tenant, subjects.status());
      return ExitCodeFor(subjects.status());
    }
    const int64_t cutoff = RetentionCutoffMicros(now_us, period);
    for (SubjectInfo& s : *subjects) {
      ++checked;
      if (s.erased) {
        ++already_erased;
      } else if (s.last_occurred_us == 0) {
        // No known activity: never guessed to be old enough.
        ++unknown_activity;
        Log().warn("retention: subject '{}' of tenant {} has no known last activity; left alone",
                   s.subject, tenant);
      } else if (s.last_occurred_us >= cutoff) {
        ++not_due;
      } else if (s.held) {
        held.emplace_back(std::move(s), &period);
      } else {
        due.push_back(Due{std::move(s), &period});
      }
    }
  }

  auto base_line = [](const SubjectInfo& s, const RetentionPeriod& period) {
    return Json{{"tenant", s.tenant},
                {"subject", s.subject},
                {"conversations", s.conversations},
                {"last_activity", LastActivity(s.last_occurred_us)},
                {"policy", period.text}};
  };

  uint64_t skipped = 0;
  for (const auto& [s, period] : held) {
    Json line = base_line(s, *period);
    line["action"] = "skipped";
    line["reason"] = "legal_hold_active";
    out << DumpLine(line) << '\n';
    ++skipped;
  }

  uint64_t erased = 0, failed = 0;
  int exit_code = kExitOk;
  if (!cmd.execute) {
    for (const Due& d : due) {
      Json line = base_line(d.info, *d.period);
      line["action"] = "would_erase";
      out << DumpLine(line) << '\n';
    }
  } else {
    ProgressReporter progress(cmd.progress, "retention: erasing", "subjects");
    uint64_t done = 0;
    for (const Due& d : due) {
      progress.Update(done, due.size());
      EraseRequest request;
      request.tenant = d.info.tenant;
      request.subject = d.info.subject;
      request.reason = "retention: " + d.info.tenant + " policy " + d.period->text;
      request.actor.kind = ActorKind::kSystem;
      request.actor.id = "retention";
      Result<EraseReport> report = ledger.EraseSubject(request);
      Json line = base_line(d.info, *d.period);
      if (report.ok()) {
        line["action"] = report->already_erased ? "skipped" : "erased";
        if (report->already_erased) {
          line["reason"] = "already_erased";
          ++skipped;
        } else {
          line["keys_destroyed"] = report->keys_destroyed;
          line["first_global_seq"] = report->first_global_seq;
          line["last_global_seq"] = report->last_global_seq;
          ++erased;
        }
      } else if (report.status().reason() == "legal_hold_active") {
        // A hold placed since the listing: refused (and recorded by the ledger), not a failure.
        line["action"] = "skipped";
        line["reason"] = "legal_hold_active";
        ++skipped;
      } else {
        LogError("retention: erasing subject '" + d.info.subject + "' of tenant " + d.info.tenant,
                 report.status());
        line["action"] = "failed";
        line["error"] = ErrorToJson(report.status());
        ++failed;
        exit_code = std::max(exit_code, ExitCodeFor(report.status()));
      }
      out << DumpLine(line) << '\n';
      out.flush();
      progress.Update(++done, due.size());
    }
  }

  out << DumpLine(Json{{"summary", true},
                       {"ok", failed == 0},
                       {"dry_run", !cmd.execute},
                       {"now", FormatRfc3339(now_us)},
                       {"policies", policy_json},
                       {"subjects_checked", checked},
                       {"due", due.size()},
                       {cmd.execute ? "erased" : "would_erase", cmd.execute ? erased : due.size()},
                       {"skipped_held", held.size()},
                       {"skipped", skipped},
                       {"failed", failed},
                       {"not_due", not_due},
                       {"already_erased", already_erased},
                       {"unknown_activity", unknown_activity}})
      << '\n';
  out.flush();
  if (!out) return kExitIo;
  Log().info("retention: {} subject(s) checked, {} due, {} {}, {} held (skipped), {} failed",
             checked, due.size(), cmd.execute ? erased : due.size(),
             cmd.execute ? "erased" : "would be erased (dry run; --execute erases)", held.size(),
             failed);
  return exit_code;
}

}  // namespace convledger::cli
