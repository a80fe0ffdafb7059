// The legal export of conversations, and its offline verification (issue 5).
//
// One library for the CLI (`convledger export`, `convledger verify PATH`) and the HTTP API: the
// export functions take a Ledger and a selection and hand each output file to a sink as
// (path, bytes), so a caller can write a directory, build a zip (ZipFiles) or stream a response.
//
// Formats (file layout in README.md, "Legal export and offline verification"):
//   kBundle  per conversation every event as its raw stored Record bytes (base64) beside its
//            decoded JSON (EventToJson) and its RFC 9162 inclusion proof against ONE signed tree
//            head taken at export time; that tree head, the public key PEM and a manifest with
//            counts and the SHA-256 of every file. Verifiable offline with VerifyBundle.
//   kRsmf    one Relativity Short Message Format 2.0 file (.rsmf: an EML carrying rsmf.zip) per
//            conversation, built from the history projection; the conversation's own bundle
//            travels inside rsmf.zip as convledger-bundle.zip (attached to a disclaimer event),
//            so the RSMF is verifiable too, without any other conversation's data.
//   kHtml    one printable, self-contained HTML transcript per conversation (every version,
//            deletion, correction with reasons, receipts, flags; redactions shown as such),
//            rendered from the history projection with every text escaped.
//
// Reproducibility: an export signs one tree head first and reads everything pinned to its size
// (ReadOptions::as_of_global_seq, history as of that sequence), so events appended meanwhile
// are neither exported nor break the proofs.
//
// Redacted content: until content sealing (crypto-shredding) lands, the log stores message
// content in plaintext, and a redacted message's text is still inside its raw bytes. The bundle
// therefore withholds the raw bytes of the events that carry redacted content (the send and the
// edits of a redacted message; ExportOptions::withhold_redacted): it keeps their position, hash
// and inclusion proof, and the next event's prev_hash still commits to them, so the chain stays
// checkable; what cannot be checked is their content, which is the point. The verifier reports
// them as withheld.
//
// Errors are Status values (never exceptions): invalid_argument/{empty_selection,
// unknown_format, invalid_time_range}, not_found/conversation_not_found (a named conversation
// that does not exist at the tree head), not_found/no_conversations (a customer or tenant
// selection that matches nothing), and whatever the ledger or the sink returns.
// Thread safety: every function may be called concurrently; the sink and progress callbacks are
// called on the caller's thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/ledger.h"
#include "ledger/status.h"
#include "projections/projections.h"

namespace convledger::projections {

enum class ExportFormat { kBundle, kRsmf, kHtml };

// "bundle", "rsmf", "html"; invalid_argument/unknown_format otherwise.
Result<ExportFormat> ParseExportFormat(std::string_view name);
std::string_view ToString(ExportFormat format);

// Which conversations to export. Exactly one of the three forms must be set.
struct ExportSelection {
  // These conversations, in this order (duplicates dropped).
  std::vector<std::string> conversation_ids;
  // Every conversation in which an actor of kind `customer` has this id, in order of first
  // appearance in the log.
  std::string customer_id;
  // Every conversation of this tenant with at least one event whose occurred_at lies in
  // [from_us, to_us] (inclusive, microseconds since the epoch). The whole conversation is
  // exported, from conversation_seq 1, so its chain is complete.
  std::string tenant;
  std::optional<int64_t> from_us;
  std::optional<int64_t> to_us;
};

struct ExportOptions {
  // Called now and then with a stage and progress: "select" and "bundle" count events, "rsmf"
  // and "html" count conversations. Default: empty.
  std::function<void(std::string_view stage, uint64_t done, uint64_t total)> progress;
  // Keep the raw bytes of events carrying redacted content out of the bundle (see above).
  // Default: true.
  bool withhold_redacted = true;
  // Projection options for the history rendered into RSMF and HTML. Default: the defaults.
  ProjectionOptions projection_options;
};

// Receives each output file once: a relative path ('/'-separated, no "..") and its bytes.
// A non-OK Status stops the export and is returned.
using ExportSink = std::function<Status(const std::string& path, std::string_view bytes)>;

struct ExportSummary {
  ExportFormat format = ExportFormat::kBundle;
  std::vector<std::string> conversation_ids;  // exported, in order
  uint64_t events = 0;                        // events exported (withheld ones included)
  uint64_t withheld = 0;                      // of them, raw bytes withheld (redacted content)
  uint64_t files = 0;                         // files handed to the sink
  uint64_t bytes = 0;                         // their total size
  SignedTreeHead tree_head;                   // the one head every proof is against
};

// Exports the selection in `format`. Reads pinned to a tree head signed first (see above).
Result<ExportSummary> Export(Ledger& ledger, const ExportSelection& selection,
                             ExportFormat format, const ExportSink& sink,
                             const ExportOptions& options = {});

// The conversations a selection names, as of the log's first `as_of_global_seq` events (0: all).
// A selection by ids is checked for existence; customer and tenant selections scan the log.
Result<std::vector<std::string>> SelectConversations(Ledger& ledger,
                                                     const ExportSelection& selection,
                                                     uint64_t as_of_global_seq = 0,
                                                     const ExportOptions& options = {});

// ---- zip (libzip) ----
struct ExportFile {
  std::string path;
  std::string bytes;
};
// A zip of `files` in this order, deflated, every entry dated 1980-01-01 so the same files give
// the same bytes. io_error/zip_failed if libzip refuses.
Result<std::string> ZipFiles(const std::vector<ExportFile>& files);
// The regular files of a zip, in archive order. corruption/bad_zip for anything libzip cannot
// read or an entry larger than `max_entry_bytes`.
Result<std::vector<ExportFile>> UnzipFiles(std::string_view zip,
                                           uint64_t max_entry_bytes = 1ull << 30);

// ---- offline verification: nothing but the export (no ledger, no database) ----
struct ExportVerifyReport {
  std::string kind;            // "bundle" or "rsmf"
  uint64_t conversations = 0;
  uint64_t events = 0;         // events checked
  uint64_t withheld = 0;       // events whose raw bytes were withheld (hash and proof checked)
  uint64_t tree_size = 0;      // of the signed tree head
  // Facts a reader must know that are not failures, e.g. "conversation X is exported from
  // conversation_seq 4, not from 1: completeness is proven from there on".
  std::vector<std::string> notes;
  // One line per failed check, e.g. "conversations/0001/events.jsonl line 3: hash mismatch".
  // Capped at 1000.
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

// Checks a bundle given as its files (relative paths as written by Export): the manifest (every
// file listed with its size and SHA-256, nothing else present, counts, and every field it states
// recomputed from the files), every event's hash from its raw bytes (InspectRecord), that the
// decoded JSON is DecodeRecord of those bytes, each conversation's chain (dense conversation_seq
// from 1, or from the first exported event, which is then stated in `notes`; prev_hash links;
// every event of the named conversation and tenant), every inclusion proof against the signed
// tree head, and the head's Ed25519 signature with the bundled public key. Problems are listed,
// never returned as a Status; the return value is the report.
ExportVerifyReport VerifyBundle(const std::vector<ExportFile>& files);

// Checks an .rsmf file (the EML bytes): the MIME structure (X-RSMF-Version, one base64
// attachment rsmf.zip), rsmf_manifest.json present and naming this conversation, and the bundle
// inside (VerifyBundle), whose conversation must be the RSMF's.
ExportVerifyReport VerifyRsmf(std::string_view eml);

}  // namespace convledger::projections
