// Offline verification of an export: nothing but the export's bytes and the pure functions of
// ledger/merkle.h and ledger/ledger.h (InspectRecord, DecodeRecord). No database.
//
// The manifest is checked by rebuilding it from the files and comparing bytes: every field it
// states (counts, per-conversation facts, each file's size and SHA-256, the tree head) is
// recomputed, so a changed byte anywhere in it is caught without trusting any of it. Only the
// selection is a claim of the exporter; it is checked against the contents where it can be
// (the conversation ids exactly; a customer must appear in every conversation; a tenant and
// time range must hold for every conversation).

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "export_internal.h"
#include "ledger/event_json.h"
#include "ledger/merkle.h"
#include "ledger/time.h"

namespace convledger::projections {
namespace {

using json = nlohmann::json;
using namespace exportfmt;

constexpr size_t kMaxProblems = 1000;

class Checker {
 public:
  explicit Checker(ExportVerifyReport* r) : r_(r) {}
  void Fail(const std::string& what) {
    if (r_->problems.size() < kMaxProblems) r_->problems.push_back(what);
  }
  void Note(const std::string& what) { r_->notes.push_back(what); }

 private:
  ExportVerifyReport* r_;
};

std::optional<Digest> DigestFromHex(const json& v) {
  if (!v.is_string()) return std::nullopt;
  std::optional<std::string> b = Unhex(v.get<std::string>());
  if (!b || b->size() != 32) return std::nullopt;
  Digest d{};
  std::copy(b->begin(), b->end(), d.begin());
  return d;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool IsUint(const json& v) { return v.is_number_unsigned(); }

// Parses tree_head.json strictly: it must be exactly what TreeHeadJsonText writes.
std::optional<SignedTreeHead> ParseTreeHead(std::string_view bytes, Checker& c) {
  json j = json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    c.Fail("tree_head.json: not a JSON object");
    return std::nullopt;
  }
  SignedTreeHead sth;
  std::optional<Digest> root = DigestFromHex(j.value("root_hash", json()));
  std::optional<std::string> sig =
      j.value("signature", json()).is_string() ? Unbase64(j["signature"].get<std::string>())
                                               : std::nullopt;
  if (!IsUint(j.value("tree_size", json())) || !root || !sig ||
      !j.value("timestamp_us", json()).is_number_integer()) {
    c.Fail("tree_head.json: missing or malformed tree_size, root_hash, timestamp_us or signature");
    return std::nullopt;
  }
  sth.tree_size = j["tree_size"].get<uint64_t>();
  sth.root_hash = *root;
  sth.timestamp_us = j["timestamp_us"].get<int64_t>();
  sth.signature = *sig;
  if (TreeHeadJsonText(sth) != bytes)
    c.Fail("tree_head.json: not in canonical form (a field other than the signed ones differs)");
  return sth;
}

ExportVerifyReport Malformed(const char* kind, const std::exception& e) {
  ExportVerifyReport r;
  r.kind = kind;
  r.problems.push_back(std::string("malformed export: ") + e.what());
  return r;
}

}  // namespace

static ExportVerifyReport VerifyBundleUnguarded(const std::vector<ExportFile>& files) {
  ExportVerifyReport report;
  report.kind = "bundle";
  Checker c(&report);
  std::map<std::string, std::string_view> by_path;
  for (const ExportFile& f : files)
    if (!by_path.emplace(f.path, f.bytes).second) c.Fail(f.path + ": present twice");
  auto get = [&](const std::string& path) -> std::optional<std::string_view> {
    auto it = by_path.find(path);
    if (it == by_path.end()) return std::nullopt;
    return it->second;
  };

  std::optional<std::string_view> manifest_bytes = get(kManifestPath);
  std::optional<std::string_view> head_bytes = get(kTreeHeadPath);
  std::optional<std::string_view> pem = get(kPublicKeyPath);
  if (!manifest_bytes) c.Fail("manifest.json: missing");
  if (!head_bytes) c.Fail("tree_head.json: missing");
  if (!pem) c.Fail("public_key.pem: missing");
  if (!manifest_bytes || !head_bytes || !pem) return report;
  const json manifest = json::parse(*manifest_bytes, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object() ||
      !manifest.value("conversations", json()).is_array()) {
    c.Fail("manifest.json: not a manifest (unparsable, or no conversations array)");
    return report;
  }

  // 1. The tree head and its signature.
  std::optional<SignedTreeHead> sth = ParseTreeHead(*head_bytes, c);
  if (!sth) return report;
  report.tree_size = sth->tree_size;
  if (Status st = merkle::VerifyTreeHead(*sth, *pem); !st.ok())
    c.Fail("tree head signature: " + st.ToString());
  const std::string root(reinterpret_cast<const char*>(sth->root_hash.data()), 32);

  // 2. Every conversation's events.
  json conversations = json::array();
  std::set<uint64_t> global_seqs;
  std::set<std::string> message_ids_unused;
  uint64_t total_events = 0, total_withheld = 0, opened_lines = 0;
  const json& claimed = manifest["conversations"];
  for (size_t ci = 0; ci < claimed.size(); ++ci) {
    const json& cl = claimed[ci];
    const std::string path = ConversationEventsPath(ci);
    // value(), never operator[] on a const json: a tampered manifest may lack the key, and a
    // missing key there is undefined behaviour (a crash found by the single-byte test).
    const json id = cl.is_object() ? cl.value("conversation_id", json()) : json();
    const std::string conv_id = id.is_string() ? id.get<std::string>() : "";
    std::optional<std::string_view> text = get(path);
    if (!text) {
      c.Fail(path + ": missing");
      continue;
    }
    std::string tenant;
    bool have_tenant = false;
    uint64_t count = 0, withheld = 0, first_seq = 0, last_seq = 0, last_global = 0;
    Digest prev{};
    bool have_prev = false;
    size_t pos = 0, line_no = 0;
    while (pos < text->size()) {
      const size_t nl = text->find('\n', pos);
      if (nl == std::string_view::npos) {
        c.Fail(path + ": last line not terminated");
        break;
      }
      const std::string_view line_text = text->substr(pos, nl - pos);
      pos = nl + 1;
      ++line_no;
      const std::string where = path + " line " + std::to_string(line_no);
      json line = json::parse(line_text, nullptr, false);
      // 7 keys, or 8 with "opened": the decrypted content of a sealed event (issue 6).
      const bool has_opened = line.is_object() && line.contains("opened");
      if (line.is_discarded() || !line.is_object() || line.size() != (has_opened ? 8u : 7u) ||
          (has_opened && !line["opened"].is_object()) ||
          !IsUint(line.value("global_seq", json())) ||
          !IsUint(line.value("conversation_seq", json())) || !line.contains("record") ||
          !line.contains("event") || !line.contains("withheld") ||
          !line.value("proof", json()).is_object()) {
        c.Fail(where + ": not an event line");
        continue;
      }
      if (Dump(line) != line_text) c.Fail(where + ": not in canonical form");
      if (has_opened) ++opened_lines;
      const uint64_t gseq = line["global_seq"].get<uint64_t>();
      const uint64_t cseq = line["conversation_seq"].get<uint64_t>();
      std::optional<Digest> hash = DigestFromHex(line.value("hash", json()));
      if (!hash) {
        c.Fail(where + ": malformed hash");
        continue;
      }
      Digest this_prev{};
      bool know_prev = false;
      if (line["record"].is_string()) {
        std::optional<std::string> raw = Unbase64(line["record"].get<std::string>());
        if (!raw) {
          c.Fail(where + ": record is not base64");
          continue;
        }
        Result<RecordInfo> info = InspectRecord(*raw);
        if (!info.ok()) {
          c.Fail(where + ": record undecodable: " + info.status().ToString());
          continue;
        }
        if (!info->hash_ok())
          c.Fail(where + ": hash mismatch (the raw bytes do not hash to their stored hash)");
        if (info->stored_hash != *hash) c.Fail(where + ": stated hash is not the record's");
        if (info->global_seq != gseq || info->conversation_seq != cseq)
          c.Fail(where + ": stated sequences are not the record's");
        if (info->conversation_id != conv_id)
          c.Fail(where + ": event of conversation '" + info->conversation_id +
                 "' in the export of '" + conv_id + "'");
        if (have_tenant && info->tenant != tenant) c.Fail(where + ": tenant differs");
        tenant = info->tenant;
        have_tenant = true;
        this_prev = info->prev_hash;
        know_prev = true;
        Result<Event> ev = DecodeRecord(*raw);
        if (!ev.ok()) {
          c.Fail(where + ": record undecodable: " + ev.status().ToString());
        } else if (json::parse(EventToJson(*ev), nullptr, false) != line["event"]) {
          c.Fail(where + ": decoded JSON does not match the raw bytes");
        }
        if (!line["withheld"].is_null()) c.Fail(where + ": withheld set beside a record");
      } else if (line["record"].is_null() && line["event"].is_null() &&
                 line["withheld"] == "redacted") {
        // Withheld: position, hash and inclusion are proven; the chain to it is checked by the
        // next event's prev_hash.
        ++withheld;
      } else {
        c.Fail(where + ": neither a record nor a withheld event");
        continue;
      }

      // Chain.
      if (count == 0) {
        first_seq = cseq;
        if (cseq != 1)
          c.Note("conversation '" + conv_id + "' is exported from conversation_seq " +
                 std::to_string(cseq) + ", not from 1: completeness is proven from there on");
      } else {
        if (cseq != last_seq + 1)
          c.Fail(where + ": conversation_seq " + std::to_string(cseq) + " after " +
                 std::to_string(last_seq) + " (gap or reorder)");
        if (gseq <= last_global) c.Fail(where + ": global_seq not increasing (reorder)");
      }
      if (know_prev) {
        if (count == 0 && cseq == 1 && this_prev != Digest{})
          c.Fail(where + ": first event's prev_hash is not zero");
        if (have_prev && this_prev != prev)
          c.Fail(where + ": prev_hash is not the hash of the previous exported event (chain "
                         "broken: an event dropped, reordered or swapped)");
      }
      prev = *hash;
      have_prev = true;
      last_seq = cseq;
      last_global = gseq;
      ++count;
      if (!global_seqs.insert(gseq).second)
        c.Fail(where + ": global_seq " + std::to_string(gseq) + " appears twice in the export");

      // Inclusion against the one signed head.
      const json& proof = line["proof"];
      const json& path_json = proof.value("audit_path", json());
      if (proof.size() != 3 || !IsUint(proof.value("leaf_index", json())) ||
          !IsUint(proof.value("tree_size", json())) || !path_json.is_array()) {
        c.Fail(where + ": malformed proof");
        continue;
      }
      if (proof["leaf_index"].get<uint64_t>() != gseq - 1 ||
          proof["tree_size"].get<uint64_t>() != sth->tree_size) {
        c.Fail(where + ": proof is not for this event at the signed tree size");
        continue;
      }
      std::vector<std::string> hashes;
      bool ok = true;
      for (const json& h : path_json) {
        std::optional<Digest> d = DigestFromHex(h);
        if (!d) ok = false;
        else hashes.emplace_back(reinterpret_cast<const char*>(d->data()), 32);
      }
      if (!ok) {
        c.Fail(where + ": malformed audit path");
        continue;
      }
      std::vector<std::string_view> views(hashes.begin(), hashes.end());
      const Digest leaf = merkle::LeafHash(*hash);
      if (Status st = merkle::VerifyInclusion(
              std::string_view(reinterpret_cast<const char*>(leaf.data()), 32), gseq - 1,
              sth->tree_size, views, root);
          !st.ok())
        c.Fail(where + ": inclusion proof: " + st.ToString());
    }
    if (count == 0) c.Fail(path + ": no events");
    conversations.push_back(json{{"conversation_id", conv_id},
                                 {"tenant", tenant},
                                 {"path", path},
                                 {"events", count},
                                 {"withheld", withheld},
                                 {"first_conversation_seq", first_seq},
                                 {"last_conversation_seq", last_seq},
                                 {"last_hash", have_prev ? HexDigest(prev) : ""}});
    total_events += count;
    total_withheld += withheld;
  }
  report.conversations = claimed.size();
  report.events = total_events;
  report.withheld = total_withheld;
  if (opened_lines > 0)
    c.Note(std::to_string(opened_lines) +
           " event(s) carry their content encrypted in the record: the record (ciphertext) is "
           "proven; the \"opened\" plaintext beside it is the exporter's decryption and is not "
           "covered by the hashes");
  if (total_withheld > 0)
    c.Note(std::to_string(total_withheld) +
           " event(s) withheld (redacted content): their hash, position and inclusion are "
           "proven, their content is not in the export");

  // 3. The manifest, rebuilt from the files.
  json listed = json::array();
  for (const auto& [path, bytes] : by_path) {
    if (path == kManifestPath) continue;
    listed.push_back(json{{"path", path}, {"size", bytes.size()}, {"sha256", Sha256Hex(bytes)}});
  }
  const json claimed_files = manifest.value("files", json::array());
  // Say which file differs before the blanket comparison below.
  std::map<std::string, json> claimed_by_path;
  if (claimed_files.is_array())
    for (const json& f : claimed_files)
      if (f.is_object() && f.value("path", json()).is_string()) claimed_by_path[f["path"]] = f;
  for (const json& f : listed) {
    auto it = claimed_by_path.find(f["path"]);
    if (it == claimed_by_path.end()) c.Fail(f["path"].get<std::string>() + ": not in the manifest");
    else if (it->second != f)
      c.Fail(f["path"].get<std::string>() + ": size or SHA-256 differs from the manifest");
  }
  for (const auto& [path, f] : claimed_by_path)
    if (!by_path.count(path) || path == kManifestPath)
      c.Fail(path + ": listed in the manifest but missing");
  const json selection = manifest.value("selection", json());
  json expected{{"format", kBundleFormat},
                {"tree_size", sth->tree_size},
                {"root_hash", HexDigest(sth->root_hash)},
                {"created_at", FormatRfc3339(sth->timestamp_us)},
                {"selection", selection},
                {"conversations", conversations},
                {"counts", {{"conversations", claimed.size()},
                            {"events", total_events},
                            {"withheld", total_withheld},
                            {"files", listed.size()}}},
                {"files", listed}};
  if (Dump(expected) != *manifest_bytes)
    c.Fail("manifest.json: does not match the export's contents (counts, conversations, files "
           "or tree head differ from what it states)");

  // 4. The selection claim, as far as the contents can check it.
  std::vector<std::string> ids;
  for (const json& cv : conversations) ids.push_back(cv["conversation_id"]);
  if (selection.is_object() && selection.size() == 1 && selection.contains("conversation_ids")) {
    if (selection["conversation_ids"] != json(ids))
      c.Fail("manifest.json: selection names other conversations than exported");
  } else if (selection.is_object() && selection.size() == 1 &&
             selection.value("customer_id", json()).is_string()) {
    // Checked from the decoded events: the customer must be an actor in every conversation.
    const std::string customer = selection["customer_id"];
    for (size_t ci = 0; ci < ids.size(); ++ci) {
      std::optional<std::string_view> text = get(ConversationEventsPath(ci));
      bool found = false;
      if (text) {
        size_t pos = 0;
        while (!found && pos < text->size()) {
          size_t nl = text->find('\n', pos);
          if (nl == std::string_view::npos) nl = text->size();
          json line = json::parse(text->substr(pos, nl - pos), nullptr, false);
          pos = nl + 1;
          if (line.is_object() && line.value("event", json()).is_object()) {
            const json actor = line["event"].value("actor", json());
            found = actor.is_object() && actor.value("kind", json()) == "customer" &&
                    actor.value("id", json()) == customer;
          }
        }
      }
      if (!found)
        c.Fail("manifest.json: customer '" + customer + "' is no actor of conversation '" +
               ids[ci] + "'");
    }
  } else if (selection.is_object() && selection.size() == 3 &&
             selection.value("tenant", json()).is_string()) {
    // value(), not operator[]: on a const json a missing key is undefined behaviour, and a
    // tampered manifest may lack any key.
    for (const json& cv : conversations) {
      if (!cv.is_object()) continue;  // reported above with the conversation list
      if (cv.value("tenant", json()) != selection.value("tenant", json())) {
        const json id = cv.value("conversation_id", json());
        c.Fail("manifest.json: conversation '" + (id.is_string() ? id.get<std::string>() : "?") +
               "' is not of the selected tenant");
      }
    }
    c.Note("the time range of a tenant selection is the exporter's statement: an export cannot "
           "prove that no other conversation had events in it");
  } else {
    c.Fail("manifest.json: unknown selection");
  }
  return report;
}

namespace {

// The value of a header (first occurrence, case-insensitive name), unfolded.
std::optional<std::string> Header(std::string_view headers, std::string_view name) {
  size_t pos = 0;
  while (pos < headers.size()) {
    size_t end = headers.find('\n', pos);
    if (end == std::string_view::npos) end = headers.size();
    std::string_view line = headers.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() > name.size() && line[name.size()] == ':') {
      bool same = true;
      for (size_t i = 0; i < name.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(line[i])) !=
            std::tolower(static_cast<unsigned char>(name[i])))
          same = false;
      if (same) {
        std::string v(line.substr(name.size() + 1));
        // Folded continuation lines.
        while (pos < headers.size() && (headers[pos] == ' ' || headers[pos] == '\t')) {
          size_t e2 = headers.find('\n', pos);
          if (e2 == std::string_view::npos) e2 = headers.size();
          v += std::string(headers.substr(pos, e2 - pos));
          pos = e2 + 1;
        }
        while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
        while (!v.empty() && v.front() == ' ') v.erase(v.begin());
        return v;
      }
    }
  }
  return std::nullopt;
}

// Splits an entity into headers and body at the first empty line.
std::pair<std::string_view, std::string_view> SplitEntity(std::string_view e) {
  size_t crlf = e.find("\r\n\r\n"), lf = e.find("\n\n");
  if (crlf != std::string_view::npos && (lf == std::string_view::npos || crlf < lf))
    return {e.substr(0, crlf + 2), e.substr(crlf + 4)};
  if (lf != std::string_view::npos) return {e.substr(0, lf + 1), e.substr(lf + 2)};
  return {e, {}};
}

}  // namespace

static ExportVerifyReport VerifyRsmfUnguarded(std::string_view eml) {
  ExportVerifyReport fail;
  fail.kind = "rsmf";
  auto failed = [&](const std::string& what) {
    fail.problems.push_back(what);
    return fail;
  };
  auto [headers, body] = SplitEntity(eml);
  if (!Header(headers, "X-RSMF-Version")) return failed("rsmf: no X-RSMF-Version header");
  std::optional<std::string> ctype = Header(headers, "Content-Type");
  const size_t b = ctype ? ctype->find("boundary=\"") : std::string::npos;
  if (b == std::string::npos) return failed("rsmf: not multipart (no boundary)");
  const size_t b_end = ctype->find('"', b + 10);
  if (b_end == std::string::npos) return failed("rsmf: malformed boundary");
  const std::string delim = "--" + ctype->substr(b + 10, b_end - b - 10);
  std::optional<std::string> zip_bytes;
  int attachments = 0;
  size_t pos = body.find(delim);
  while (pos != std::string_view::npos) {
    pos += delim.size();
    if (body.substr(pos, 2) == "--") break;
    const size_t next = body.find(delim, pos);
    if (next == std::string_view::npos) break;
    auto [ph, pb] = SplitEntity(body.substr(pos, next - pos));
    std::optional<std::string> disp = Header(ph, "Content-Disposition");
    if (disp && disp->find("attachment") != std::string::npos) {
      ++attachments;
      std::optional<std::string> cte = Header(ph, "Content-Transfer-Encoding");
      if (disp->find("filename=\"rsmf.zip\"") != std::string::npos && cte && *cte == "base64") {
        std::string compact;
        for (char ch : pb)
          if (ch != '\r' && ch != '\n') compact.push_back(ch);
        zip_bytes = Unbase64(compact);
        if (!zip_bytes) return failed("rsmf: rsmf.zip attachment is not valid base64");
      }
    }
    pos = next;
  }
  if (attachments != 1 || !zip_bytes)
    return failed("rsmf: needs exactly one base64 attachment rsmf.zip");
  Result<std::vector<ExportFile>> rsmf_files = UnzipFiles(*zip_bytes);
  if (!rsmf_files.ok()) return failed("rsmf.zip: " + rsmf_files.status().ToString());
  const ExportFile* manifest_file = nullptr;
  const ExportFile* bundle_file = nullptr;
  for (const ExportFile& f : *rsmf_files) {
    if (f.path == "rsmf_manifest.json") manifest_file = &f;
    if (f.path == kRsmfBundleName) bundle_file = &f;
  }
  if (!manifest_file) return failed("rsmf.zip: no rsmf_manifest.json");
  if (!bundle_file) return failed(std::string("rsmf.zip: no ") + kRsmfBundleName);
  const json m = json::parse(manifest_file->bytes, nullptr, false);
  if (m.is_discarded() || !m.value("conversations", json()).is_array() ||
      m["conversations"].size() != 1 || !m["conversations"][0].value("id", json()).is_string())
    return failed("rsmf_manifest.json: not one conversation with an id");
  const std::string conv = m["conversations"][0]["id"];
  Result<std::vector<ExportFile>> bundle = UnzipFiles(bundle_file->bytes);
  if (!bundle.ok()) return failed(std::string(kRsmfBundleName) + ": " + bundle.status().ToString());
  ExportVerifyReport report = VerifyBundleUnguarded(*bundle);
  report.kind = "rsmf";
  // The RSMF must be about the conversation the bundle proves, and its messages must be ones
  // the bundle's events name (a rendering cannot invent messages).
  std::set<std::string> named;
  std::string bundle_conv;
  for (const ExportFile& f : *bundle) {
    if (f.path == kManifestPath) {
      json bm = json::parse(f.bytes, nullptr, false);
      if (!bm.is_discarded() && bm.value("conversations", json()).is_array() &&
          bm["conversations"].size() == 1)
        bundle_conv = bm["conversations"][0].value("conversation_id", "");
    }
    if (f.path.rfind("conversations/", 0) != 0) continue;
    size_t p = 0;
    while (p < f.bytes.size()) {
      size_t nl = f.bytes.find('\n', p);
      if (nl == std::string::npos) nl = f.bytes.size();
      json line = json::parse(std::string_view(f.bytes).substr(p, nl - p), nullptr, false);
      p = nl + 1;
      if (line.is_object() && line.value("event", json()).is_object())
        named.insert(line["event"].value("message_id", ""));
    }
  }
  if (bundle_conv != conv)
    report.problems.push_back("rsmf: the bundle proves conversation '" + bundle_conv +
                              "', the RSMF shows '" + conv + "'");
  for (const json& e : m.value("events", json::array())) {
    if (e.value("type", "") != "message" || !e.contains("id")) continue;
    if (!named.count(e.value("id", "")))
      report.problems.push_back("rsmf: message '" + e.value("id", "") +
                                "' is named by no event of the bundle");
  }
  return report;
}

// The checks read untrusted JSON with nlohmann, which throws on a type it did not expect; no
// exception leaves projections/, and any such surprise is a failed check, never a pass.
ExportVerifyReport VerifyBundle(const std::vector<ExportFile>& files) {
  try {
    return VerifyBundleUnguarded(files);
  } catch (const std::exception& e) {
    return Malformed("bundle", e);
  }
}

ExportVerifyReport VerifyRsmf(std::string_view eml) {
  try {
    return VerifyRsmfUnguarded(eml);
  } catch (const std::exception& e) {
    return Malformed("rsmf", e);
  }
}

}  // namespace convledger::projections
