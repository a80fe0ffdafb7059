// `convledger export` and `convledger verify PATH`: thin over projections/export.h. Files are
// written here (the library only hands out (path, bytes)); the verifier reads them back here.

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "ledger/time.h"
#include "projections/export.h"
#include "tools/cli.h"
#include "tools/common.h"

namespace convledger::cli {
namespace {

namespace fs = std::filesystem;
using projections::ExportFile;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Status WriteFile(const fs::path& path, std::string_view bytes) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) return Status::IOError("cannot write '" + path.string() + "'");
  return Status::OK();
}

Result<std::string> ReadWhole(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::IOError("cannot read '" + path.string() + "'");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return Status::IOError("cannot read '" + path.string() + "'");
  return s;
}

int Usage(const std::string& reason, const std::string& message) {
  LogError("export", Status::InvalidArgument(reason, message));
  return kExitUsage;
}

}  // namespace

int RunExport(const ExportCommand& cmd, std::ostream& out) {
  Result<projections::ExportFormat> format = projections::ParseExportFormat(cmd.format);
  if (!format.ok()) {
    LogError("export", format.status());
    return kExitUsage;
  }
  projections::ExportSelection sel;
  sel.conversation_ids = cmd.conversations;
  sel.customer_id = cmd.customer;
  sel.tenant = cmd.tenant;
  for (auto [text, slot] : {std::pair{&cmd.from, &sel.from_us}, std::pair{&cmd.to, &sel.to_us}}) {
    if (text->empty()) continue;
    std::optional<int64_t> t = ParseRfc3339(*text);
    if (!t) return Usage("invalid_time_range", "'" + *text + "' is not an RFC 3339 time");
    *slot = t;
  }
  if (cmd.out_path.empty()) return Usage("missing_output", "--out is required");
  const bool to_zip = EndsWith(cmd.out_path, ".zip");
  const bool maybe_single = EndsWith(cmd.out_path, ".rsmf") || EndsWith(cmd.out_path, ".html");
  const fs::path out_path(cmd.out_path);
  std::error_code ec;
  if (!to_zip && !maybe_single && fs::exists(out_path, ec) &&
      !(fs::is_directory(out_path, ec) && fs::is_empty(out_path, ec)))
    return Usage("output_exists", "'" + cmd.out_path + "' exists and is not an empty directory");

  Result<std::unique_ptr<Ledger>> opened = OpenLedger(cmd.data_dir, OpenMode::kReadOnly);
  if (!opened.ok()) {
    LogError("cannot open ledger in '" + cmd.data_dir + "'", opened.status());
    return ExitCodeFor(opened.status());
  }
  std::vector<ExportFile> collected;
  projections::ExportOptions options;
  Result<projections::ExportSummary> summary = Status::IOError("not run");
  {
    ProgressReporter progress(cmd.progress, "export");
    std::string stage;
    options.progress = [&](std::string_view s, uint64_t done, uint64_t total) {
      if (s != stage) {
        stage = std::string(s);
        progress.SetLabel("export " + stage);
      }
      progress.Update(done, total);
    };
    summary = projections::Export(
        **opened, sel, *format,
        [&](const std::string& path, std::string_view bytes) -> Status {
          // A directory is written as the files come; a zip or single file is assembled below.
          if (to_zip || maybe_single) {
            collected.push_back({path, std::string(bytes)});
            return Status::OK();
          }
          return WriteFile(out_path / path, bytes);
        },
        options);
  }
  if (!summary.ok()) {
    LogError("export", summary.status());
    return summary.status().IsInvalidArgument() ? kExitUsage : ExitCodeFor(summary.status());
  }
  Status written;
  if (to_zip) {
    Result<std::string> zip = projections::ZipFiles(collected);
    written = zip.ok() ? WriteFile(out_path, *zip) : zip.status();
  } else if (maybe_single) {
    if (collected.size() != 1)
      return Usage("single_file_output",
                   "'" + cmd.out_path + "' names one file but the export has " +
                       std::to_string(collected.size()) + "; use a directory or .zip");
    written = WriteFile(out_path, collected[0].bytes);
  }
  if (!written.ok()) {
    LogError("export", written);
    return ExitCodeFor(written);
  }
  if (summary->withheld > 0)
    Log().info("{} event(s) of redacted messages are withheld from the bundle (hash and proof "
               "kept)", summary->withheld);
  Json j{{"ok", true},
         {"format", std::string(projections::ToString(summary->format))},
         {"out", cmd.out_path},
         {"conversations", summary->conversation_ids.size()},
         {"events", summary->events},
         {"withheld", summary->withheld},
         {"files", summary->files},
         {"bytes", summary->bytes},
         {"tree_size", summary->tree_head.tree_size},
         {"root_hash", HexDigest(summary->tree_head.root_hash)}};
  out << DumpLine(j) << '\n';
  out.flush();
  return out ? kExitOk : kExitIo;
}

namespace {

// Every regular file under `dir`, with '/'-separated relative paths.
Result<std::vector<ExportFile>> ReadTree(const fs::path& dir) {
  std::vector<ExportFile> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    Result<std::string> bytes = ReadWhole(it->path());
    if (!bytes.ok()) return bytes.status();
    files.push_back({fs::relative(it->path(), dir).generic_string(), std::move(bytes).value()});
  }
  if (ec) return Status::IOError("cannot list '" + dir.string() + "': " + ec.message());
  return files;
}

Json ReportJson(const projections::ExportVerifyReport& r, const std::string& path) {
  return Json{{"ok", r.ok()},          {"kind", r.kind},
              {"path", path},          {"conversations", r.conversations},
              {"events", r.events},    {"withheld", r.withheld},
              {"tree_size", r.tree_size}, {"notes", r.notes},
              {"problems", r.problems}};
}

}  // namespace

int RunVerifyExport(const VerifyExportCommand& cmd, std::ostream& out) {
  const fs::path path(cmd.path);
  std::error_code ec;
  // (label, report) of every export found at PATH.
  std::vector<std::pair<std::string, projections::ExportVerifyReport>> reports;
  auto from_files = [&](const std::vector<ExportFile>& files) -> bool {
    for (const ExportFile& f : files)
      if (f.path == "manifest.json") {
        reports.emplace_back(cmd.path, projections::VerifyBundle(files));
        return true;
      }
    bool any = false;
    for (const ExportFile& f : files)
      if (EndsWith(f.path, ".rsmf")) {
        reports.emplace_back(cmd.path + ":" + f.path, projections::VerifyRsmf(f.bytes));
        any = true;
      }
    return any;
  };
  bool recognised = false;
  if (fs::is_directory(path, ec)) {
    Result<std::vector<ExportFile>> files = ReadTree(path);
    if (!files.ok()) {
      LogError("verify", files.status());
      return kExitIo;
    }
    recognised = from_files(*files);
  } else {
    Result<std::string> bytes = ReadWhole(path);
    if (!bytes.ok()) {
      LogError("verify", bytes.status());
      return kExitIo;
    }
    if (EndsWith(cmd.path, ".rsmf")) {
      reports.emplace_back(cmd.path, projections::VerifyRsmf(*bytes));
      recognised = true;
    } else {
      Result<std::vector<ExportFile>> files = projections::UnzipFiles(*bytes);
      if (files.ok()) {
        recognised = from_files(*files);
      } else {
        // A damaged zip is a failed check, not a usage error: the file claims to be an export.
        projections::ExportVerifyReport r;
        r.kind = "bundle";
        r.problems.push_back(files.status().ToString());
        reports.emplace_back(cmd.path, r);
        recognised = EndsWith(cmd.path, ".zip");
      }
    }
  }
  if (!recognised) {
    LogError("verify", Status::InvalidArgument("unknown_export",
                                               "'" + cmd.path + "' is no bundle or RSMF export"));
    return kExitUsage;
  }
  bool all_ok = true;
  for (const auto& [label, r] : reports) {
    for (const std::string& p : r.problems) Log().error("{}: {}", label, p);
    all_ok = all_ok && r.ok();
    out << DumpLine(ReportJson(r, label)) << '\n';
  }
  out.flush();
  if (!out) return kExitIo;
  return all_ok ? kExitOk : kExitFailed;
}

}  // namespace convledger::cli
