// `convledger append`: JSON lines in, one JSON result line out per input line.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <istream>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

#include "ledger/event_json.h"
#include "tools/cli.h"
#include "tools/common.h"

namespace convledger::cli {
namespace {

// Reads lines without ever holding more than kMaxEventJsonBytes of one: a longer line is
// consumed to its end and reported as too long, so one runaway line cannot exhaust memory.
class LineReader {
 public:
  explicit LineReader(std::istream& in) : buf_(in.rdbuf()) {}

  // False at end of input. `line` is the line without its "\n" (or "\r\n").
  bool Next(std::string* line, bool* too_long) {
    line->clear();
    *too_long = false;
    if (buf_ == nullptr) return false;
    bool any = false;
    for (;;) {
      const int c = buf_->sbumpc();
      if (c == std::char_traits<char>::eof()) break;
      any = true;
      if (c == '\n') break;
      if (line->size() < kMaxEventJsonBytes + 1) {
        line->push_back(static_cast<char>(c));
      } else {
        *too_long = true;
      }
    }
    if (!any) return false;
    if (!line->empty() && line->back() == '\r') line->pop_back();
    if (line->size() > kMaxEventJsonBytes) *too_long = true;
    if (*too_long) line->clear();
    return true;
  }

 private:
  std::streambuf* buf_;
};

bool IsBlank(const std::string& s) {
  for (char c : s) {
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

Status LineTooLarge() {
  return Status::InvalidArgument(
      "line_too_large",
      "line exceeds " + std::to_string(kMaxEventJsonBytes) + " bytes (kMaxEventJsonBytes)");
}

Json ErrorLine(std::optional<size_t> line, const Status& s) {
  Json j{{"ok", false}};
  if (line) j["line"] = *line;
  j["error"] = ErrorToJson(s);
  return j;
}

// The ledger names the failing event of a call as "events[K]" in its messages; map K back to
// the input line so an --atomic failure points at a line.
std::optional<size_t> FailingIndex(const std::string& message) {
  const std::string marker = "events[";
  const size_t at = message.find(marker);
  if (at == std::string::npos) return std::nullopt;
  size_t i = at + marker.size();
  size_t k = 0;
  bool digits = false;
  while (i < message.size() && std::isdigit(static_cast<unsigned char>(message[i]))) {
    k = k * 10 + static_cast<size_t>(message[i] - '0');
    digits = true;
    ++i;
  }
  if (!digits || i >= message.size() || message[i] != ']') return std::nullopt;
  return k;
}

int AppendEachLine(Ledger& ledger, const AppendOptions& options, std::istream& in,
                   std::ostream& out) {
  LineReader reader(in);
  std::string text;
  bool too_long = false;
  size_t line_no = 0;
  size_t failed = 0, appended_lines = 0;
  int rc = kExitOk;  // the worst exit code of any line: io_error (3) outranks a bad line (1)
  while (reader.Next(&text, &too_long)) {
    ++line_no;
    if (!too_long && IsBlank(text)) continue;
    Status error;
    if (too_long) {
      error = LineTooLarge();
    } else {
      Result<std::vector<Event>> events = ParseEventsJson(text);
      if (!events.ok()) {
        error = events.status();
      } else {
        Result<std::vector<AppendResult>> results =
            ledger.Append(std::move(events).value(), options);
        if (!results.ok()) {
          error = results.status();
        } else {
          Json j{{"ok", true}, {"line", line_no}, {"results", Json::array()}};
          for (const AppendResult& r : *results) j["results"].push_back(AppendResultToJson(r));
          out << DumpLine(j) << '\n';
          ++appended_lines;
          continue;
        }
      }
    }
    ++failed;
    rc = std::max(rc, ExitCodeFor(error));
    if (ExitCodeFor(error) != kExitFailed) {
      Log().error("line {}: {}", line_no, error.ToString());
    } else {
      Log().debug("line {}: {}", line_no, error.ToString());
    }
    out << DumpLine(ErrorLine(line_no, error)) << '\n';
  }
  out.flush();
  if (failed > 0) Log().warn("{} of {} lines failed", failed, failed + appended_lines);
  return rc;
}

int AppendAtomically(Ledger& ledger, const AppendOptions& options, std::istream& in,
                     std::ostream& out) {
  LineReader reader(in);
  std::string text;
  bool too_long = false;
  size_t line_no = 0;
  std::vector<Event> batch;
  std::vector<size_t> line_of;  // input line of each event in `batch`
  while (reader.Next(&text, &too_long)) {
    ++line_no;
    if (!too_long && IsBlank(text)) continue;
    Status error;
    if (too_long) {
      error = LineTooLarge();
    } else {
      Result<std::vector<Event>> events = ParseEventsJson(text);
      if (events.ok()) {
        for (Event& e : *events) {
          batch.push_back(std::move(e));
          line_of.push_back(line_no);
        }
        continue;
      }
      error = events.status();
    }
    // All or nothing: one bad line and nothing is appended.
    out << DumpLine(ErrorLine(line_no, error)) << '\n';
    out.flush();
    Log().warn("line {}: {}; nothing appended", line_no, error.ToString());
    return kExitFailed;
  }

  Json j{{"ok", true}, {"results", Json::array()}};
  if (!batch.empty()) {
    Result<std::vector<AppendResult>> results = ledger.Append(std::move(batch), options);
    if (!results.ok()) {
      std::optional<size_t> line;
      if (auto k = FailingIndex(results.status().message()); k && *k < line_of.size()) {
        line = line_of[*k];
      }
      out << DumpLine(ErrorLine(line, results.status())) << '\n';
      out.flush();
      Log().warn("{}; nothing appended", results.status().ToString());
      return ExitCodeFor(results.status());
    }
    for (size_t i = 0; i < results->size(); ++i) {
      Json r = AppendResultToJson((*results)[i]);
      r["line"] = line_of[i];
      j["results"].push_back(std::move(r));
    }
  }
  out << DumpLine(j) << '\n';
  out.flush();
  return kExitOk;
}

}  // namespace

int RunAppend(const AppendCommand& cmd, std::istream& in, std::ostream& out) {
  std::ifstream file;
  std::istream* input = &in;
  if (!cmd.file.empty()) {
    file.open(cmd.file, std::ios::binary);
    if (!file) {
      Log().error("cannot open input file '{}'", cmd.file);
      return kExitIo;
    }
    input = &file;
  }
  Result<std::unique_ptr<Ledger>> ledger =
      OpenLedger(cmd.data_dir, OpenMode::kReadWrite, cmd.durability);
  if (!ledger.ok()) {
    Log().error("cannot open ledger in '{}': {}", cmd.data_dir, ledger.status().ToString());
    return ExitCodeFor(ledger.status());
  }
  AppendOptions options;
  options.durability = cmd.durability;
  return cmd.atomic ? AppendAtomically(**ledger, options, *input, out)
                    : AppendEachLine(**ledger, options, *input, out);
}

}  // namespace convledger::cli
