// Export: selection, the bundle format and the driver shared by every format.

#include <array>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_set>

#include "export_internal.h"
#include "ledger/content.h"
#include "ledger/event_json.h"
#include "ledger/time.h"
#include "projections/export.h"

namespace convledger::projections {
namespace exportfmt {

using json = nlohmann::json;

json RemovalJson(const Event& r) {
  return json{{"type", std::string(ToString(r.type))},
              {"actor",
               {{"kind", std::string(ToString(r.actor.kind))},
                {"id", r.actor.id},
                {"display", r.actor.display}}},
              {"occurred_at", FormatRfc3339(r.occurred_at_us.value_or(r.recorded_at_us))},
              {"recorded_at", FormatRfc3339(r.recorded_at_us)},
              {"conversation_seq", r.conversation_seq},
              {"global_seq", r.global_seq},
              {"reason", r.reason},
              {"override_hold", r.override_hold}};
}

// The content of a sealed event as the ledger can open it now, for the bundle line's "opened"
// (the record keeps the ciphertext, which the hashes cover): the plaintext, or "[redacted]" /
// "[erased]" with who/when/why from the redaction or erasure event of the conversation.
Result<json> OpenedJson(ContentOpener& opener, const Event& sealed,
                        const std::vector<Event>& conversation) {
  Event e = sealed;
  if (Status st = OpenEvent(opener, &e); !st.ok()) return st;
  json o{{"access", std::string(ToString(e.content_access))}};
  if (e.content_access == ContentAccess::kOpened) {
    json c{{"text", e.content ? e.content->text : std::string()}, {"media", json::array()}};
    if (e.content)
      for (const Media& m : e.content->media)
        c["media"].push_back(json{{"mime", m.mime},
                                  {"size", m.size},
                                  {"sha256", m.sha256},
                                  {"caption", m.caption},
                                  {"reference", m.reference},
                                  {"filename", m.filename}});
    o["content"] = std::move(c);
    if (e.template_) o["template_parameters"] = e.template_->parameters;
    return o;
  }
  const bool erased = e.content_access == ContentAccess::kErased;
  o["text"] = erased ? "[erased]" : "[redacted]";
  json by = nullptr;
  for (const Event& x : conversation) {
    if (erased ? (x.type == EventType::kSubjectErased && x.conversation_seq > e.conversation_seq)
               : (x.type == EventType::kMessageRedacted && x.message_id == e.message_id &&
                  !e.message_id.empty())) {
      by = RemovalJson(x);
      break;
    }
  }
  o["removed_by"] = std::move(by);
  return o;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int s : {18, 12, 6, 0}) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> Unbase64(std::string_view text) {
  // Strict: a verifier must not accept two spellings of the same bytes, or a flipped padding
  // bit would pass unnoticed. Table-driven: the customer view decodes every sealed envelope it
  // shows through here.
  static constexpr auto kValue = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 26; ++i) t['A' + i] = static_cast<int8_t>(i);
    for (int i = 0; i < 26; ++i) t['a' + i] = static_cast<int8_t>(26 + i);
    for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(52 + i);
    t['+'] = 62;
    t['/'] = 63;
    return t;
  }();
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return std::string();
  auto value = [](char c) { return static_cast<int32_t>(kValue[static_cast<uint8_t>(c)]); };
  // Padding only in the last quad, and at most its last two characters ("x===" is invalid).
  size_t pad = 0;
  if (text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  std::string out(text.size() / 4 * 3 - pad, '\0');
  char* o = out.data();
  const size_t full = text.size() - (pad ? 4 : 0);
  for (size_t i = 0; i < full; i += 4) {
    const int32_t a = value(text[i]), b = value(text[i + 1]), c = value(text[i + 2]),
                  d = value(text[i + 3]);
    if ((a | b | c | d) < 0) return std::nullopt;  // '=' too: data after padding
    const uint32_t n = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                       (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    *o++ = static_cast<char>(n >> 16);
    *o++ = static_cast<char>((n >> 8) & 0xff);
    *o++ = static_cast<char>(n & 0xff);
  }
  if (pad) {
    const size_t i = full;
    const int32_t a = value(text[i]), b = value(text[i + 1]);
    const int32_t c = pad == 2 ? 0 : value(text[i + 2]);
    if ((a | b | c) < 0) return std::nullopt;
    const uint32_t n = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                       (static_cast<uint32_t>(c) << 6);
    // Non-zero bits under the padding: not the canonical encoding.
    if ((pad == 1 && (n & 0xff)) || (pad == 2 && (n & 0xffff))) return std::nullopt;
    *o++ = static_cast<char>(n >> 16);
    if (pad == 1) *o++ = static_cast<char>((n >> 8) & 0xff);
  }
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 15]);
  }
  return out;
}

std::optional<std::string> Unhex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // lower case only: one spelling per value
  };
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = value(text[i]), lo = value(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), d);
  return Hex(std::string_view(reinterpret_cast<const char*>(d), sizeof d));
}

std::string ConversationEventsPath(size_t index) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "conversations/%04zu/events.jsonl", index + 1);
  return buf;
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

namespace {

json TreeHeadJson(const SignedTreeHead& sth) {
  return json{{"algorithm", "ed25519"},
              {"signed_format", std::string(merkle::kTreeHeadContext)},
              {"tree_size", sth.tree_size},
              {"root_hash", HexDigest(sth.root_hash)},
              {"timestamp", FormatRfc3339(sth.timestamp_us)},
              {"timestamp_us", sth.timestamp_us},
              {"signature", Base64(sth.signature)}};
}

}  // namespace

std::string TreeHeadJsonText(const SignedTreeHead& sth) { return TreeHeadJson(sth).dump(); }

namespace {

// What a bundle needs of one stored event, copied out of the scan callback.
struct Stored {
  uint64_t global_seq = 0;
  uint64_t conversation_seq = 0;
  Digest hash{};
  std::string record;
};

}  // namespace

Status WriteBundle(Ledger& ledger, const SignedTreeHead& sth, const std::string& public_key_pem,
                   const std::vector<std::string>& conversation_ids,
                   const std::string& selection_json, const ExportOptions& options,
                   const ExportSink& sink, ExportSummary* summary) {
  json files = json::array();
  uint64_t total_events = 0, total_withheld = 0;
  // Every file goes through here so the manifest lists exactly what the sink received.
  auto emit = [&](const std::string& path, std::string_view bytes) -> Status {
    files.push_back(json{{"path", path}, {"size", bytes.size()}, {"sha256", Sha256Hex(bytes)}});
    summary->files++;
    summary->bytes += bytes.size();
    return sink(path, bytes);
  };

  // Progress total: the conversations' current heads (an upper bound at the pinned size).
  uint64_t progress_total = 0, progress_done = 0;
  if (options.progress) {
    for (const std::string& id : conversation_ids) {
      Result<Head> head = ledger.GetHead(id);
      if (head.ok()) progress_total += head->conversation_seq;
    }
  }

  ReadOptions ro;
  ro.as_of_global_seq = sth.tree_size;
  ro.verify_hashes = true;  // never export bytes the ledger cannot vouch for
  json conversations = json::array();
  for (size_t ci = 0; ci < conversation_ids.size(); ++ci) {
    const std::string& id = conversation_ids[ci];
    std::vector<Stored> events;
    Status st = ledger.ScanConversation(id, 0, ro, [&](const RawEvent& raw) {
      events.push_back(Stored{raw.global_seq, raw.conversation_seq, raw.hash,
                              std::string(raw.record)});
      return true;
    });
    if (!st.ok()) return st;
    if (events.empty())
      return Status::NotFound("conversation_not_found",
                              "conversation '" + id + "' has no event at tree size " +
                                  std::to_string(sth.tree_size));
    // Decode all first: which messages are redacted decides what is withheld.
    std::vector<Event> decoded;
    decoded.reserve(events.size());
    std::set<std::string> redacted;
    for (const Stored& s : events) {
      Result<Event> e = DecodeRecord(s.record);
      if (!e.ok()) return e.status();
      if (e->type == EventType::kMessageRedacted) redacted.insert(e->message_id);
      decoded.push_back(std::move(e).value());
    }
    std::string lines;
    uint64_t withheld = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      const Stored& s = events[i];
      const Event& e = decoded[i];
      Result<InclusionProof> proof = ledger.ProveInclusion(s.global_seq, sth.tree_size);
      if (!proof.ok()) return proof.status();
      json audit = json::array();
      for (const Digest& d : proof->audit_path) audit.push_back(HexDigest(d));
      const bool withhold =
          options.withhold_redacted &&
          (e.type == EventType::kMessageSent || e.type == EventType::kMessageEdited) &&
          e.content && redacted.count(e.message_id) > 0;
      json line{{"global_seq", s.global_seq},
                {"conversation_seq", s.conversation_seq},
                {"hash", HexDigest(s.hash)},
                {"proof", {{"leaf_index", proof->leaf_index},
                           {"tree_size", proof->tree_size},
                           {"audit_path", std::move(audit)}}}};
      if (withhold) {
        line["record"] = nullptr;
        line["event"] = nullptr;
        line["withheld"] = "redacted";
        ++withheld;
      } else {
        line["record"] = Base64(s.record);
        line["event"] = json::parse(EventToJson(e));
        line["withheld"] = nullptr;
        if (e.sealed) {
          Result<json> opened = OpenedJson(ledger.Opener(), e, decoded);
          if (!opened.ok()) return opened.status();
          line["opened"] = std::move(opened).value();
        }
      }
      lines += line.dump(-1, ' ', false, json::error_handler_t::replace);
      lines += '\n';
      if (options.progress && (++progress_done % 1024 == 0))
        options.progress("bundle", progress_done, std::max(progress_total, progress_done));
    }
    const std::string path = ConversationEventsPath(ci);
    if (Status st2 = emit(path, lines); !st2.ok()) return st2;
    conversations.push_back(json{{"conversation_id", id},
                                 {"tenant", decoded.front().tenant},
                                 {"path", path},
                                 {"events", events.size()},
                                 {"withheld", withheld},
                                 {"first_conversation_seq", events.front().conversation_seq},
                                 {"last_conversation_seq", events.back().conversation_seq},
                                 {"last_hash", HexDigest(events.back().hash)}});
    total_events += events.size();
    total_withheld += withheld;
  }
  if (Status st = emit(kTreeHeadPath, TreeHeadJsonText(sth)); !st.ok()) return st;
  if (Status st = emit(kPublicKeyPath, public_key_pem); !st.ok()) return st;

  std::sort(files.begin(), files.end(),
            [](const json& a, const json& b) { return a["path"] < b["path"]; });
  json manifest{{"format", kBundleFormat},
                {"tree_size", sth.tree_size},
                {"root_hash", HexDigest(sth.root_hash)},
                {"created_at", FormatRfc3339(sth.timestamp_us)},
                {"selection", json::parse(selection_json)},
                {"conversations", std::move(conversations)},
                {"counts", {{"conversations", conversation_ids.size()},
                            {"events", total_events},
                            {"withheld", total_withheld},
                            {"files", files.size()}}},
                {"files", std::move(files)}};
  summary->events += total_events;
  summary->withheld += total_withheld;
  if (options.progress) options.progress("bundle", progress_done, progress_done);
  const std::string bytes = manifest.dump(-1, ' ', false, json::error_handler_t::replace);
  summary->files++;
  summary->bytes += bytes.size();
  return sink(kManifestPath, bytes);
}

}  // namespace exportfmt

using json = nlohmann::json;

Result<ExportFormat> ParseExportFormat(std::string_view name) {
  if (name == "bundle") return ExportFormat::kBundle;
  if (name == "rsmf") return ExportFormat::kRsmf;
  if (name == "html") return ExportFormat::kHtml;
  return Status::InvalidArgument("unknown_format", "format '" + std::string(name) +
                                                       "' is none of bundle, rsmf, html");
}

std::string_view ToString(ExportFormat format) {
  switch (format) {
    case ExportFormat::kBundle: return "bundle";
    case ExportFormat::kRsmf: return "rsmf";
    case ExportFormat::kHtml: return "html";
  }
  return "unknown";
}

namespace {

Status CheckSelection(const ExportSelection& s) {
  const int forms = (s.conversation_ids.empty() ? 0 : 1) + (s.customer_id.empty() ? 0 : 1) +
                    (s.tenant.empty() ? 0 : 1);
  if (forms == 0)
    return Status::InvalidArgument("empty_selection",
                                   "name conversations, a customer, or a tenant and time range");
  if (forms > 1)
    return Status::InvalidArgument("ambiguous_selection",
                                   "give conversations, a customer or a tenant, not several");
  if (s.tenant.empty() && (s.from_us || s.to_us))
    return Status::InvalidArgument("invalid_time_range", "a time range needs a tenant");
  if (s.from_us && s.to_us && *s.from_us > *s.to_us)
    return Status::InvalidArgument("invalid_time_range", "from is after to");
  return Status::OK();
}

// The selection as it is written into the manifest (and checked by the verifier).
json SelectionJson(const ExportSelection& s, const std::vector<std::string>& ids) {
  if (!s.conversation_ids.empty()) return json{{"conversation_ids", ids}};
  if (!s.customer_id.empty()) return json{{"customer_id", s.customer_id}};
  return json{{"tenant", s.tenant},
              {"from", s.from_us ? json(FormatRfc3339(*s.from_us)) : json(nullptr)},
              {"to", s.to_us ? json(FormatRfc3339(*s.to_us)) : json(nullptr)}};
}

}  // namespace

Result<std::vector<std::string>> SelectConversations(Ledger& ledger,
                                                     const ExportSelection& selection,
                                                     uint64_t as_of_global_seq,
                                                     const ExportOptions& options) {
  if (Status st = CheckSelection(selection); !st.ok()) return st;
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  if (!selection.conversation_ids.empty()) {
    ReadOptions ro;
    ro.as_of_global_seq = as_of_global_seq;
    ro.limit = 1;
    for (const std::string& id : selection.conversation_ids) {
      if (!seen.insert(id).second) continue;
      bool found = false;
      Status st = ledger.ScanConversation(id, 0, ro, [&](const RawEvent&) {
        found = true;
        return false;
      });
      if (!st.ok()) return st;
      if (!found)
        return Status::NotFound("conversation_not_found", "no conversation '" + id + "'");
      out.push_back(id);
    }
    return out;
  }
  // Customer and tenant selections: one pass over the log in global order, reading only the
  // envelope (InspectRecord), which is what a conversation-level index would have to hold.
  ReadOptions ro;
  ro.as_of_global_seq = as_of_global_seq;
  const uint64_t total = as_of_global_seq ? as_of_global_seq : ledger.LastGlobalSeq();
  uint64_t done = 0;
  Status inner;
  Status st = ledger.ScanGlobal(0, ro, [&](const RawEvent& raw) {
    Result<RecordInfo> info = InspectRecord(raw.record);
    if (!info.ok()) {
      inner = info.status();
      return false;
    }
    bool match;
    if (!selection.customer_id.empty()) {
      match = info->actor_kind == ActorKind::kCustomer && info->actor_id == selection.customer_id;
    } else {
      match = info->tenant == selection.tenant &&
              (!selection.from_us || info->occurred_at_us >= *selection.from_us) &&
              (!selection.to_us || info->occurred_at_us <= *selection.to_us);
    }
    if (match && seen.insert(info->conversation_id).second) out.push_back(info->conversation_id);
    if (options.progress && (++done % 4096 == 0)) options.progress("select", done, total);
    return true;
  });
  if (!st.ok()) return st;
  if (!inner.ok()) return inner;
  if (options.progress) options.progress("select", done, done);
  if (out.empty())
    return Status::NotFound("no_conversations", "the selection matches no conversation");
  return out;
}

Result<ExportSummary> Export(Ledger& ledger, const ExportSelection& selection,
                             ExportFormat format, const ExportSink& sink,
                             const ExportOptions& options) {
  if (Status st = CheckSelection(selection); !st.ok()) return st;
  // One head first; everything below reads as of its size.
  Result<SignedTreeHead> sth = ledger.SignTreeHead();
  if (!sth.ok()) return sth.status();
  Result<std::string> pem = ledger.PublicKeyPem();
  if (!pem.ok()) return pem.status();
  if (sth->tree_size == 0)
    return Status::NotFound("no_conversations", "the ledger holds no event");
  Result<std::vector<std::string>> ids =
      SelectConversations(ledger, selection, sth->tree_size, options);
  if (!ids.ok()) return ids.status();

  ExportSummary summary;
  summary.format = format;
  summary.conversation_ids = *ids;
  summary.tree_head = *sth;
  switch (format) {
    case ExportFormat::kBundle: {
      const std::string sel = SelectionJson(selection, *ids).dump();
      if (Status st = exportfmt::WriteBundle(ledger, *sth, *pem, *ids, sel, options, sink,
                                             &summary);
          !st.ok())
        return st;
      break;
    }
    case ExportFormat::kRsmf:
    case ExportFormat::kHtml: {
      for (size_t i = 0; i < ids->size(); ++i) {
        char name[64];
        std::snprintf(name, sizeof name, "conversation-%04zu.%s", i + 1,
                      format == ExportFormat::kRsmf ? "rsmf" : "html");
        Result<std::string> bytes =
            format == ExportFormat::kRsmf
                ? exportfmt::BuildRsmf(ledger, *sth, *pem, (*ids)[i], options, &summary)
                : exportfmt::BuildHtml(ledger, *sth, (*ids)[i], options);
        if (!bytes.ok()) return bytes.status();
        if (format == ExportFormat::kHtml) {
          ReadOptions ro;
          ro.as_of_global_seq = sth->tree_size;
          Status st = ledger.ScanConversation((*ids)[i], 0, ro, [&](const RawEvent&) {
            summary.events++;
            return true;
          });
          if (!st.ok()) return st;
        }
        summary.files++;
        summary.bytes += bytes->size();
        if (Status st = sink(name, *bytes); !st.ok()) return st;
        if (options.progress)
          options.progress(ToString(format), i + 1, ids->size());
      }
      break;
    }
  }
  return summary;
}

}  // namespace convledger::projections
