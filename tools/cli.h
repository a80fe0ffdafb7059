// The `convledger` command line, as a library: main() only calls Main(), and tests call the
// subcommands directly with their own streams and a temporary data directory.
//
// Conventions shared by every subcommand
//  - Results go to `out` (stdout): JSON, one object per line, except `demo`, which prints a short
//    human-readable guide. Logs and progress go to stderr through spdlog.
//  - The exit code says how it went (kExit* below); ExitCodeFor() is the one place that maps a
//    ledger Status to an exit code.
//  - Nothing here throws: every error becomes an exit code and a message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/ledger.h"
#include "ledger/status.h"

namespace convledger::cli {

// Exit codes of the convledger executable. Stable: scripts depend on them.
inline constexpr int kExitOk = 0;
// Input rejected (some append line failed), verify found problems, or what was asked for does
// not exist (an unknown conversation).
inline constexpr int kExitFailed = 1;
// Bad command line: unknown subcommand or option, missing or invalid value.
inline constexpr int kExitUsage = 2;
// The ledger or an input file could not be opened, read or written (including "locked by
// another process").
inline constexpr int kExitIo = 3;
// Stored data is corrupt (a read failed its checks). `verify` reports problems with kExitFailed.
inline constexpr int kExitCorruption = 4;

// The one mapping from ledger Status codes to exit codes:
//   ok -> 0; invalid_argument, wrong_expected_version, idempotency_conflict, invariant_violation,
//   not_found -> 1; io_error, busy -> 3; corruption -> 4.
int ExitCodeFor(const Status& status);

// The default data directory of every subcommand.
inline constexpr const char* kDefaultDataDir = "./data";

// `convledger append`: JSON events, one per line (blank lines skipped), from `in`.
struct AppendCommand {
  std::string data_dir = kDefaultDataDir;
  // Read events from this file instead of `in`. Default: empty (read `in`).
  std::string file;
  // The whole input is one all-or-nothing batch with one output line. Default: false (each line
  // is appended on its own; a line may itself be a {"events":[...]} batch).
  bool atomic = false;
  // Default: kWal.
  Durability durability = Durability::kWal;
};
// Prints one JSON line per input line (one in total with `atomic`). Returns kExitOk when every
// line was appended, otherwise the worst ExitCodeFor() of a failed line (kExitFailed for rejected
// input, kExitIo when the ledger or the file cannot be opened, read or written).
int RunAppend(const AppendCommand& cmd, std::istream& in, std::ostream& out);

// `convledger events`: stored events as JSON lines (EventToJson).
struct EventsCommand {
  std::string data_dir = kDefaultDataDir;
  // Only this conversation, in conversation order. Default: unset (the whole log, global order).
  std::optional<std::string> conversation;
  // Events after this sequence: global_seq, or conversation_seq with `conversation`. Default: 0.
  uint64_t after = 0;
  // Most events to print. Default: 0 (no limit).
  uint64_t limit = 0;
};
// An unknown conversation is kExitFailed (reason conversation_not_found, on stderr).
int RunEvents(const EventsCommand& cmd, std::ostream& out);

enum class Progress {
  kAuto,  // a bar when stderr is a terminal, otherwise a log line now and then
  kBar,
  kLog,
  kNone,
};

// How `verify` checks the views (projections) besides the log.
enum class ProjectionCheck {
  kNone,    // not at all
  kSample,  // up to kVerifySampleConversations conversations, each folded alone and compared
            // byte for byte with its slice of the stored history and customer_view state
            // (analytics: digest only); read-only
  kFull,    // every projection rebuilt from the log into a scratch state and compared
            // (Ledger::RebuildProjection without replace); needs a read-write open
};

// Most conversations `verify --projections sample` folds and compares.
inline constexpr size_t kVerifySampleConversations = 100;

// `convledger verify`: checks the whole ledger, prints a JSON summary.
struct VerifyCommand {
  std::string data_dir = kDefaultDataDir;
  // Default: kAuto.
  Progress progress = Progress::kAuto;
  // Default: kSample. kNone and kSample open the ledger read-only (beside a running writer);
  // kFull opens it read-write (a scratch column family), so no other process may have it open.
  ProjectionCheck projections = ProjectionCheck::kSample;
};
// kExitOk only when the ledger is intact and every checked view matches; kExitFailed when
// problems or mismatches were found (listed in the summary), the Status mapping when verify
// itself could not run (a view that is not ready in a read-only open: busy, kExitIo).
int RunVerify(const VerifyCommand& cmd, std::ostream& out);

// `convledger stats`: Ledger::Stats as one JSON object.
struct StatsCommand {
  std::string data_dir = kDefaultDataDir;
};
int RunStats(const StatsCommand& cmd, std::ostream& out);

// `convledger demo`: appends the demo conversations (see demo.h) and prints where to look.
struct DemoCommand {
  std::string data_dir = kDefaultDataDir;
  // How the printed copy-paste commands name the executable. Default: "convledger".
  std::string program = "convledger";
};
// Idempotent: a second run appends nothing (every event comes back as a duplicate), kExitOk.
int RunDemo(const DemoCommand& cmd, std::ostream& out);

// `convledger serve`: the HTTP API (api/server.h) until SIGTERM or SIGINT, then a graceful
// stop (kExitOk). Without `config`, the embedded demo default: the demo conversations loaded,
// the webhook corpus accounts accepted, and an admin key printed once on `out`.
struct ServeCommand {
  std::string data_dir = kDefaultDataDir;
  std::string listen = "127.0.0.1:8080";
  std::string config;  // path; empty: the demo default
  Durability durability = Durability::kWal;
  bool demo_data = true;  // demo mode only: append the demo conversations at start
};
int RunServe(const ServeCommand& cmd, std::ostream& out);
// `convledger apikey new`: a new random API key and its SHA-256 (what a config file holds), as
// one JSON line {"key","sha256"}.
int RunApiKeyNew(std::ostream& out);

// `convledger history` and `convledger view`: one conversation's dispute history or customer
// view as JSON (projections::History / CustomerView).
struct ConversationViewCommand {
  std::string data_dir = kDefaultDataDir;
  std::string conversation_id;
  // A global sequence ("123": the log cut there) or an RFC 3339 time (everything that had
  // happened by then by the source clock). Default: empty (the current view, from stored state).
  std::string as_of;
  // Indented JSON instead of one line. Default: false.
  bool pretty = false;
};
// Read-only. The current view is read from stored state; when that view is not ready (being
// rebuilt by a writer, or behind the log) it is folded from the log up to LastGlobalSeq()
// instead (logged at debug level). Unknown conversation (or none as of the point asked for):
// kExitFailed, reason conversation_not_found. Bad --as-of (unparsable, or a sequence beyond the
// log): kExitUsage, reason invalid_as_of. Errors are logged as their JSON on stderr.
int RunHistory(const ConversationViewCommand& cmd, std::ostream& out);
int RunView(const ConversationViewCommand& cmd, std::ostream& out);

// `convledger analytics`: counters per tenant, agent and day (projections::Analytics).
struct AnalyticsCommand {
  std::string data_dir = kDefaultDataDir;
  // Only this tenant. Default: empty (every tenant).
  std::string tenant;
  // "YYYY-MM-DD" (UTC), inclusive. Default: empty (unbounded).
  std::string from_day;
  std::string to_day;
  // As in ConversationViewCommand; an as-of analytics folds the whole log up to that point.
  std::string as_of;
  bool pretty = false;
};
// Like RunHistory; a malformed --from/--to is kExitUsage (reason invalid_day), and so is --from
// after --to (invalid_range).
int RunAnalytics(const AnalyticsCommand& cmd, std::ostream& out);

// `convledger rebuild`: rebuilds views from the log and compares them with the live state.
struct RebuildCommand {
  std::string data_dir = kDefaultDataDir;
  // Only this projection (history, customer_view, analytics). Default: empty (all).
  std::string projection;
  // Compare only; leave the live state as it is. Default: false (replace it by the rebuild).
  bool check_only = false;
  // Default: kAuto.
  Progress progress = Progress::kAuto;
};
// Opens read-write (never creates), waits for the views to be ready, then per projection
// Ledger::RebuildProjection(name, !check_only) and one JSON line: {"projection", "events",
// "checkpoint", "live_digest", "rebuilt_digest", "equal", "first_difference" (hex of the first
// differing state key; only when not equal), "replaced"}. kExitOk when every projection was
// equal or replaced; kExitFailed when a check-only found a difference; kExitUsage for an unknown
// projection (reason projection_not_found).
int RunRebuild(const RebuildCommand& cmd, std::ostream& out);

// ---- proofs (tools/proof_commands.cc) ----
// Every proof command opens the ledger read-only (beside a running writer) and prints one JSON
// object (indented with `pretty`). Hashes are lower-case hex, the signature base64. Errors are
// logged as their JSON on stderr; a value out of range (a --seq or tree size beyond the log,
// --from 0 or after --to) is kExitUsage; a ledger without a key or tree yet (written before
// they existed, and not opened read-write since) is kExitFailed / kExitIo (signing_key_not_found,
// merkle_tree_incomplete).

// `convledger key public`: prints the tree signing key's public half (PEM) as it is, not JSON.
struct KeyPublicCommand {
  std::string data_dir = kDefaultDataDir;
};
int RunKeyPublic(const KeyPublicCommand& cmd, std::ostream& out);

// `convledger tree-head`: a signed tree head of the current log:
// {"tree_size", "root_hash", "timestamp" (RFC 3339), "timestamp_us", "signature" (base64 of the
//  64-byte Ed25519 signature over merkle::TreeHeadSigningInput), "algorithm": "ed25519",
//  "signed_format": "convledger/sth/v1", "public_key" (PEM)}.
struct TreeHeadCommand {
  std::string data_dir = kDefaultDataDir;
  bool pretty = false;
};
int RunTreeHead(const TreeHeadCommand& cmd, std::ostream& out);

// `convledger proof inclusion --seq N [--tree-size M]`:
// {"global_seq", "leaf_index", "tree_size", "event_hash", "leaf_hash", "audit_path": [hex...],
//  "root_hash"}; RFC 9162 audit path of leaf_index = global_seq - 1.
struct ProofInclusionCommand {
  std::string data_dir = kDefaultDataDir;
  uint64_t seq = 0;
  // Default: 0 (the current size).
  uint64_t tree_size = 0;
  bool pretty = false;
};
int RunProofInclusion(const ProofInclusionCommand& cmd, std::ostream& out);

// `convledger proof consistency --from A --to B`:
// {"first", "second", "first_root", "second_root", "proof": [hex...]} (RFC 9162 PROOF).
struct ProofConsistencyCommand {
  std::string data_dir = kDefaultDataDir;
  uint64_t from = 0;
  uint64_t to = 0;
  bool pretty = false;
};
int RunProofConsistency(const ProofConsistencyCommand& cmd, std::ostream& out);

// ---- export and offline verification (tools/export_commands.cc) ----

// `convledger export`: conversations as a bundle, RSMF or HTML (projections/export.h).
struct ExportCommand {
  std::string data_dir = kDefaultDataDir;
  // Exactly one selection: conversations, a customer, or a tenant with an optional time range.
  std::vector<std::string> conversations;
  std::string customer;
  std::string tenant;
  std::string from;  // RFC 3339, inclusive; empty: unbounded
  std::string to;    // RFC 3339, inclusive; empty: unbounded
  std::string format = "bundle";  // bundle, rsmf, html
  // Where to write: a path ending in .zip gets one zip of every file; a single-file export
  // (one conversation as rsmf or html) whose path ends in .rsmf / .html is written as that one
  // file; anything else is a directory (created; it must not exist or be empty).
  std::string out_path;
  Progress progress = Progress::kAuto;
};
// Opens read-only (beside a writer). Prints one JSON summary line: {"ok", "format", "out",
// "conversations", "events", "withheld", "files", "bytes", "tree_size", "root_hash"}.
// Bad selection, format, time or output path: kExitUsage; unknown conversation or a selection
// matching nothing: kExitFailed; I/O: kExitIo.
int RunExport(const ExportCommand& cmd, std::ostream& out);

// `convledger verify PATH`: checks an export with nothing but the export.
struct VerifyExportCommand {
  std::string path;  // a bundle directory or .zip, an .rsmf, or a directory/.zip of .rsmf files
};
// Prints {"ok", "kind", "path", "conversations", "events", "withheld", "tree_size", "notes",
// "problems"} per checked export (one line each). kExitOk only when every check of every export
// held; kExitFailed otherwise; kExitIo when PATH cannot be read; kExitUsage when PATH is no
// export.
int RunVerifyExport(const VerifyExportCommand& cmd, std::ostream& out);

// ---- erasure and retention (tools/erase_commands.cc; see README "Erasure and retention") ----
// Every command that opens a ledger takes the master key from the global --master-key-file flag,
// CONVLEDGER_MASTER_KEY (64 hex characters) or CONVLEDGER_MASTER_KEY_FILE, else the ledger's
// default file <data>/keys/master.key (tools/common.h ApplyMasterKey). A malformed
// CONVLEDGER_MASTER_KEY is kExitUsage (Main checks it before any subcommand runs); a key that
// does not match the ledger's is kExitCorruption (wrong_master_key).

// `convledger erase`: Ledger::EraseSubject for one data subject.
struct EraseCommand {
  std::string data_dir = kDefaultDataDir;
  std::string tenant = "default";
  std::string subject;
  // Required, non-empty: recorded in every subject.erased event.
  std::string reason;
  // Who asked, recorded as an agent actor. Default: empty (the ledger's system/erasure).
  std::string actor;
  // Erase despite a legal hold (recorded in the events). Default: false.
  bool override_hold = false;
};
// Opens read-write (never creates a ledger; no other process may have it open). Prints one JSON
// line: {"ok":true, "tenant", "subject", "conversations": [...], "keys_destroyed",
// "first_global_seq", "last_global_seq", "already_erased"} or {"ok":false, "tenant", "subject",
// "error": {...}}. A legal hold is kExitFailed (invariant_violation/legal_hold_active; the
// refusal is recorded as an erasure.refused event), an unknown subject kExitFailed
// (not_found/subject_not_found), an empty subject or reason kExitUsage.
int RunErase(const EraseCommand& cmd, std::ostream& out);

// `convledger subjects`: Ledger::ListSubjects as JSON lines.
struct SubjectsCommand {
  std::string data_dir = kDefaultDataDir;
  // Only this tenant. Default: empty (every tenant).
  std::string tenant;
};
// Read-only. One line per subject, ordered by tenant then subject: {"tenant", "subject",
// "conversations": [...], "last_activity" (RFC 3339; null when unknown), "held", "erased"}.
int RunSubjects(const SubjectsCommand& cmd, std::ostream& out);

// A retention period: N calendar years or N days.
struct RetentionPeriod {
  enum class Unit { kYears, kDays };
  Unit unit = Unit::kYears;
  uint32_t count = 0;
  std::string text;  // as given, normalized ("10y", "90d")
};
// "10y", "3y", "90d" (1..1000 years, 1..365000 days); nullopt otherwise.
std::optional<RetentionPeriod> ParseRetentionPeriod(std::string_view text);
// The instant `period` before `now_us`: years are calendar years in UTC (the same month, day and
// time of day N years earlier; 29 February becomes 28 February), days are 86400 seconds.
int64_t RetentionCutoffMicros(int64_t now_us, const RetentionPeriod& period);

// `convledger retention apply`.
struct RetentionCommand {
  std::string data_dir = kDefaultDataDir;
  // "TENANT=DURATION", one per tenant (a tenant twice is kExitUsage). Tenants without one are
  // untouched.
  std::vector<std::string> policies;
  // RFC 3339; the moment retention is judged at. Default: empty (the system clock).
  std::string now;
  // Erase the due subjects. Default: false (a dry run: list them, change nothing).
  bool execute = false;
  Progress progress = Progress::kAuto;
};
// A subject of a tenant with a policy is due when its last activity (the latest occurred_at
// over its conversations) is before RetentionCutoffMicros(now, period), i.e. every one of its
// conversations has had no event for longer than the period; and it is not erased already.
// A due subject under a legal hold is skipped. One JSON line per due or skipped subject:
// {"tenant", "subject", "conversations", "last_activity", "policy", "action": "would_erase" |
// "erased" | "skipped" | "failed", ...}, then a summary line {"summary": true, ...}. Dry run:
// read-only. --execute: read-write, EraseSubject with reason "retention: <tenant> policy
// <duration>" and actor system/retention, progress on stderr. A bad --policy or --now is
// kExitUsage; kExitOk unless an erasure failed (then the worst ExitCodeFor of the failures).
int RunRetention(const RetentionCommand& cmd, std::ostream& out);

// The whole CLI: parses `argv` and runs the subcommand with the given streams (usage errors
// and --help go to `err` and `out`). Returns the exit code.
int Main(int argc, const char* const* argv, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace convledger::cli
