// Pieces shared by the export formats and the verifier. Private to projections/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/ledger.h"
#include "projections/export.h"

namespace convledger::projections::exportfmt {

// Fixed names inside a bundle (docs/export.md).
inline constexpr char kBundleFormat[] = "convledger-export-bundle/v1";
inline constexpr char kManifestPath[] = "manifest.json";
inline constexpr char kTreeHeadPath[] = "tree_head.json";
inline constexpr char kPublicKeyPath[] = "public_key.pem";
// The bundle's name inside rsmf.zip.
inline constexpr char kRsmfBundleName[] = "convledger-bundle.zip";

std::string Base64(std::string_view bytes);
// nullopt on any character outside the standard alphabet, bad padding or length.
std::optional<std::string> Unbase64(std::string_view text);
std::string Hex(std::string_view bytes);
std::optional<std::string> Unhex(std::string_view text);
std::string Sha256Hex(std::string_view bytes);
// "conversations/0001/events.jsonl" for index 0.
std::string ConversationEventsPath(size_t index);
// &<>"' escaped for HTML text and attribute values.
std::string HtmlEscape(std::string_view text);

// tree_head.json's content (compact JSON, sorted keys) for a signed tree head.
std::string TreeHeadJsonText(const SignedTreeHead& sth);

// Writes the bundle of `conversation_ids` (all existing at sth.tree_size) to `sink`, with the
// given selection object in the manifest. Adds to `summary` (events, withheld, files, bytes).
Status WriteBundle(Ledger& ledger, const SignedTreeHead& sth, const std::string& public_key_pem,
                   const std::vector<std::string>& conversation_ids,
                   const std::string& selection_json, const ExportOptions& options,
                   const ExportSink& sink, ExportSummary* summary);

// One conversation's RSMF file (EML bytes) at sth.tree_size, its bundle inside.
Result<std::string> BuildRsmf(Ledger& ledger, const SignedTreeHead& sth,
                              const std::string& public_key_pem,
                              const std::string& conversation_id, const ExportOptions& options,
                              ExportSummary* summary);

// One conversation's HTML transcript at sth.tree_size.
Result<std::string> BuildHtml(Ledger& ledger, const SignedTreeHead& sth,
                              const std::string& conversation_id, const ExportOptions& options);

}  // namespace convledger::projections::exportfmt
