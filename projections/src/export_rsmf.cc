// Relativity Short Message Format 2.0 (../shared/RSMF.md): one .rsmf (an EML carrying rsmf.zip)
// per conversation, built from the history projection so edits, deletions, receipts and
// reactions come out the way the dispute view reconciles them. RSMF has no slot for reasons,
// actors of changes or sequence numbers: those travel as `custom` name/value pairs. The
// conversation's bundle rides inside rsmf.zip, attached to a disclaimer event, so the RSMF is
// verifiable (VerifyRsmf) with no other conversation's data.

#include <time.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "export_internal.h"
#include "ledger/time.h"

namespace convledger::projections::exportfmt {
namespace {

using json = nlohmann::ordered_json;  // RSMF readers are people too: keep a natural key order
using hjson = nlohmann::json;

std::string S(const hjson& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, hjson::error_handler_t::replace);
}

// The schema wants non-empty names and values: an empty value is simply not written.
void AddCustom(json& obj, const std::string& name, const std::string& value) {
  if (value.empty()) return;
  if (!obj.contains("custom")) obj["custom"] = json::array();
  obj["custom"].push_back(json{{"name", name}, {"value", value}});
}

std::string ActorText(const hjson& a) {
  if (!a.is_object()) return "";
  return S(a.value("display", hjson())) + " (" + S(a.value("kind", hjson())) + " " +
         S(a.value("id", hjson())) + ")";
}

std::string ContentText(const hjson& c) {
  if (!c.is_object()) return "";
  if (c.value("erased", false)) return "[erased]";
  if (c.value("sealed", false) || c.value("redacted", false)) return "[redacted]";
  std::string t = S(c.value("text", hjson()));
  for (const hjson& m : c.value("media", hjson::array())) {
    if (!t.empty()) t += " ";
    t += "[" + S(m.value("mime", hjson())) + " " + S(m.value("filename", hjson())) + "]";
  }
  return t;
}

// RSMF reaction values are names ("thumbsup"); the common WhatsApp ones are mapped, any other
// emoji is kept as it is (a non-empty string passes the schema).
std::string ReactionValue(const std::string& emoji) {
  static const std::map<std::string, std::string> kNames = {
      {"\xF0\x9F\x91\x8D", "thumbsup"}, {"\xF0\x9F\x91\x8E", "thumbsdown"},
      {"\xE2\x9D\xA4\xEF\xB8\x8F", "heart"}, {"\xE2\x9D\xA4", "heart"},
      {"\xF0\x9F\x98\x82", "joy"}, {"\xF0\x9F\x98\xAE", "open_mouth"},
      {"\xF0\x9F\x98\xA2", "cry"}, {"\xF0\x9F\x99\x8F", "pray"}};
  auto it = kNames.find(emoji);
  return it != kNames.end() ? it->second : (emoji.empty() ? "unknown" : emoji);
}

// RFC 5322 header value: CR/LF removed; non-ASCII as an RFC 2047 encoded word.
std::string HeaderValue(const std::string& v) {
  std::string clean;
  bool ascii = true;
  for (char c : v) {
    if (c == '\r' || c == '\n') c = ' ';
    if (static_cast<unsigned char>(c) >= 0x80) ascii = false;
    clean.push_back(c);
  }
  return ascii ? clean : "=?UTF-8?B?" + Base64(clean) + "?=";
}

std::string Base64Lines(std::string_view bytes) {
  const std::string b = Base64(bytes);
  std::string out;
  for (size_t i = 0; i < b.size(); i += 76) out += b.substr(i, 76) + "\r\n";
  return out;
}

std::string Rfc5322Date(int64_t us) {
  const time_t t = static_cast<time_t>(us / 1000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

constexpr char kBoundary[] = "=_convledger_rsmf_part";

}  // namespace

Result<std::string> BuildRsmf(Ledger& ledger, const SignedTreeHead& sth,
                              const std::string& public_key_pem,
                              const std::string& conversation_id, const ExportOptions& options,
                              ExportSummary* summary) {
  // The conversation's own bundle, zipped, to travel inside.
  std::vector<ExportFile> bundle_files;
  ExportSummary inner;
  const std::string selection = hjson{{"conversation_ids", {conversation_id}}}.dump();
  Status st = WriteBundle(ledger, sth, public_key_pem, {conversation_id}, selection, options,
                          [&](const std::string& path, std::string_view bytes) {
                            bundle_files.push_back({path, std::string(bytes)});
                            return Status::OK();
                          },
                          &inner);
  if (!st.ok()) return st;
  summary->events += inner.events;
  summary->withheld += inner.withheld;
  Result<std::string> bundle_zip = ZipFiles(bundle_files);
  if (!bundle_zip.ok()) return bundle_zip.status();

  AsOf as_of;
  as_of.global_seq = sth.tree_size;
  Result<std::string> doc = History(ledger, conversation_id, as_of, options.projection_options);
  if (!doc.ok()) return doc.status();
  const hjson h = hjson::parse(*doc, nullptr, false);
  if (h.is_discarded()) return Status::Corruption("bad_history", "history is not JSON");

  // Participants: every actor that appears, keyed by kind and id, in order of appearance.
  json participants = json::array();
  std::map<std::string, std::string> pid;  // "kind\0id" -> "P<n>"
  std::map<std::string, std::string> pdisplay;
  std::string custodian;
  auto participant = [&](const hjson& a) -> std::string {
    if (!a.is_object()) return "";
    const std::string kind = S(a.value("kind", hjson())), id = S(a.value("id", hjson()));
    const std::string key = kind + '\0' + id;
    auto it = pid.find(key);
    if (it != pid.end()) return it->second;
    const std::string p = "P" + std::to_string(pid.size() + 1);
    pid[key] = p;
    json j{{"id", p}};
    const std::string display = S(a.value("display", hjson()));
    if (!display.empty()) j["display"] = display;
    if (!id.empty()) j["account_id"] = id;
    AddCustom(j, "Actor kind", kind);
    pdisplay[p] = display.empty() ? id : display;
    participants.push_back(std::move(j));
    // The business side is the custodian, so `direction` reads from the business's view.
    if (custodian.empty() && (kind == "agent" || kind == "bot" || kind == "system"))
      custodian = p;
    return p;
  };

  json events = json::array();
  std::string preview;
  std::string first_time, last_time;
  uint64_t attachment_count = 1;  // the bundle
  auto seen_time = [&](const std::string& t) {
    if (t.empty()) return;
    if (first_time.empty() || t < first_time) first_time = t;
    if (last_time.empty() || t > last_time) last_time = t;
  };

  for (const hjson& m : h.value("messages", hjson::array())) {
    const hjson orig = m.value("original", hjson());
    const hjson versions = m.value("versions", hjson::array());
    json ev{{"id", S(m.value("message_id", hjson()))}, {"type", "message"},
            {"conversation", conversation_id}};
    const hjson& first = orig.is_object() ? orig : (versions.empty() ? hjson() : versions[0]);
    const std::string p = participant(first.is_object() ? first.value("actor", hjson()) : hjson());
    if (!p.empty()) ev["participant"] = p;
    const std::string ts = first.is_object() ? S(first.value("occurred_at", hjson())) : "";
    if (!ts.empty()) ev["timestamp"] = ts;
    seen_time(ts);
    const std::string dir = S(m.value("direction", hjson()));
    if (dir == "inbound") ev["direction"] = "incoming";
    if (dir == "outbound") ev["direction"] = "outgoing";
    const bool redacted = m.value("redacted", false);
    const std::string body = redacted ? "[redacted]" : ContentText(m.value("current_content", hjson()));
    ev["body"] = body;
    if (m.value("deleted", false)) ev["deleted"] = true;

    json edits = json::array();
    std::string previous = versions.empty() ? "" : ContentText(versions[0].value("content", hjson()));
    for (size_t i = 1; i < versions.size(); ++i) {
      const hjson& v = versions[i];
      const std::string now = ContentText(v.value("content", hjson()));
      json e{{"participant", participant(v.value("actor", hjson()))}};
      const std::string et = S(v.value("occurred_at", hjson()));
      if (!et.empty()) e["timestamp"] = et;
      e["previous"] = previous;
      e["new"] = now;
      edits.push_back(std::move(e));
      const std::string n = std::to_string(i);
      AddCustom(ev, "Edit " + n + " reason", S(v.value("reason", hjson())));
      AddCustom(ev, "Edit " + n + " by", ActorText(v.value("actor", hjson())));
      AddCustom(ev, "Edit " + n + " conversation_seq", S(v.value("conversation_seq", hjson())));
      previous = now;
    }
    if (!edits.empty()) ev["edits"] = std::move(edits);

    json receipts = json::array();
    for (const hjson& s : m.value("statuses", hjson::array())) {
      const std::string status = S(s.value("status", hjson()));
      const std::string at = S(s.value("occurred_at", hjson()));
      if (status == "delivered" || status == "read") {
        // The receipt is the recipient's: the customer for outbound messages.
        json r{{"participant", participant(s.value("actor", hjson()))}, {"action", status}};
        if (!at.empty()) r["timestamp"] = at;
        receipts.push_back(std::move(r));
      }
      std::string text = status + " at " + at;
      const hjson err = s.value("error", hjson());
      if (err.is_object())
        text += " (error " + S(err.value("code", hjson())) + " " + S(err.value("title", hjson())) + ")";
      if (s.value("conflict", false)) text += " (conflicts with an earlier status)";
      AddCustom(ev, "Status", text);
    }
    if (!receipts.empty()) ev["read_receipts"] = std::move(receipts);

    std::map<std::string, json> reactions;
    for (const hjson& r : m.value("reactions_current", hjson::array())) {
      const std::string value = ReactionValue(S(r.value("emoji", hjson())));
      json& slot = reactions[value];
      if (slot.is_null()) slot = json{{"value", value}, {"count", 0}, {"participants", json::array()}};
      slot["count"] = slot["count"].get<int>() + 1;
      slot["participants"].push_back(participant(r.value("actor", hjson())));
    }
    if (!reactions.empty()) {
      ev["reactions"] = json::array();
      for (auto& [k, v] : reactions) ev["reactions"].push_back(std::move(v));
    }
    for (const hjson& r : m.value("reactions", hjson::array()))
      AddCustom(ev, "Reaction history",
                S(r.value("action", hjson())) + " " + S(r.value("emoji", hjson())) + " by " +
                    ActorText(r.value("actor", hjson())) + " at " +
                    S(r.value("occurred_at", hjson())));

    if (orig.is_object()) {
      AddCustom(ev, "Sent by", ActorText(orig.value("actor", hjson())));
      AddCustom(ev, "conversation_seq", S(orig.value("conversation_seq", hjson())));
      AddCustom(ev, "global_seq", S(orig.value("global_seq", hjson())));
      AddCustom(ev, "Reply to", S(orig.value("reply_to", hjson())));
      const hjson tpl = orig.value("template", hjson());
      if (tpl.is_object())
        AddCustom(ev, "Template", S(tpl.value("name", hjson())) + " (" +
                                      S(tpl.value("category", hjson())) + ", " +
                                      S(tpl.value("language", hjson())) + ")");
    }
    for (const hjson& d : m.value("deletions", hjson::array())) {
      AddCustom(ev, "Deleted at", S(d.value("occurred_at", hjson())));
      AddCustom(ev, "Deleted by", ActorText(d.value("actor", hjson())));
      AddCustom(ev, "Deletion scope", S(d.value("scope", hjson())));
      AddCustom(ev, "Deletion reason code", S(d.value("reason_code", hjson())));
      AddCustom(ev, "Deletion reason", S(d.value("reason", hjson())));
      AddCustom(ev, "Deletion conversation_seq", S(d.value("conversation_seq", hjson())));
      AddCustom(ev, "Deletion explanation",
                S(d.value("explanation", hjson()).value("status", hjson())));
    }
    for (const hjson& c : m.value("corrected_by", hjson::array())) {
      AddCustom(ev, "Corrected by message", S(c.value("replacement_message_id", hjson())));
      AddCustom(ev, "Correction reason code", S(c.value("reason_code", hjson())));
      AddCustom(ev, "Correction explanation", S(c.value("explanation", hjson())));
      AddCustom(ev, "Corrected by", ActorText(c.value("actor", hjson())));
      AddCustom(ev, "Correction at", S(c.value("occurred_at", hjson())));
    }
    for (const hjson& c : m.value("corrects", hjson::array()))
      AddCustom(ev, "Corrects message", S(c.value("message_id", hjson())));
    for (const hjson& r : m.value("redactions", hjson::array())) {
      AddCustom(ev, "Redacted at", S(r.value("occurred_at", hjson())));
      AddCustom(ev, "Redacted by", ActorText(r.value("actor", hjson())));
      AddCustom(ev, "Redaction reason", S(r.value("reason", hjson())));
      if (r.value("override_hold", false)) AddCustom(ev, "Redacted despite legal hold", "true");
    }
    // Erased with its subject (subject.erased): who, when and why, from the content.
    if (const hjson& cc = m.value("current_content", hjson());
        cc.is_object() && cc.value("erased", false) && cc.value("removed_by", hjson()).is_object()) {
      const hjson& x = cc["removed_by"];
      AddCustom(ev, "Erased at", S(x.value("occurred_at", hjson())));
      AddCustom(ev, "Erased by", ActorText(x.value("actor", hjson())));
      AddCustom(ev, "Erasure reason", S(x.value("reason", hjson())));
      if (x.value("override_hold", false)) AddCustom(ev, "Erased despite legal hold", "true");
    }
    for (const hjson& f : m.value("flags", hjson::array()))
      AddCustom(ev, "Flag", S(f.value("type", hjson())));

    preview += ts + " " + (p.empty() ? "?" : pdisplay[p]) + ": " +
               (m.value("deleted", false) ? "[deleted] " : "") + body +
               (versions.size() > 1 ? " (edited)" : "") + "\r\n";
    events.push_back(std::move(ev));
  }
  for (const hjson& n : h.value("notes", hjson::array())) {
    json ev{{"type", "message"}, {"conversation", conversation_id},
            {"participant", participant(n.value("actor", hjson()))},
            {"body", ContentText(n.value("content", hjson()))}};
    const std::string ts = S(n.value("occurred_at", hjson()));
    if (!ts.empty()) ev["timestamp"] = ts;
    seen_time(ts);
    AddCustom(ev, "Internal note", "never shown to the customer");
    AddCustom(ev, "conversation_seq", S(n.value("conversation_seq", hjson())));
    events.push_back(std::move(ev));
  }
  if (custodian.empty() && !participants.empty()) custodian = participants[0]["id"].get<std::string>();
  if (participants.empty()) participant(hjson{{"kind", "system"}, {"id", "convledger"}, {"display", "convledger"}});
  if (custodian.empty()) custodian = participants[0]["id"].get<std::string>();

  // The disclaimer that carries the proofs.
  json disclaimer{{"id", "convledger-proof"}, {"type", "disclaimer"},
                  {"conversation", conversation_id}, {"participant", custodian},
                  {"body", "Exported from the convledger event log as of signed tree head " +
                               std::to_string(sth.tree_size) + " (root " +
                               HexDigest(sth.root_hash) +
                               "). The attached convledger-bundle.zip holds every event's raw "
                               "bytes, inclusion proofs, the signed tree head and the public key; "
                               "check it with: convledger verify <this file>.rsmf"},
                  {"attachments", json::array({json{{"id", kRsmfBundleName},
                                                    {"display", kRsmfBundleName},
                                                    {"size", bundle_zip->size()}}})}};
  if (!first_time.empty()) disclaimer["timestamp"] = first_time;
  events.insert(events.begin(), std::move(disclaimer));

  json conv{{"id", conversation_id},
            {"display", "Conversation " + conversation_id},
            {"platform", S(h.value("channel", hjson("unknown")))},
            {"type", "direct"},
            {"participants", json::array()},
            {"custodian", custodian}};
  for (const json& p : participants) conv["participants"].push_back(p["id"]);
  AddCustom(conv, "Tenant", S(h.value("tenant", hjson())));
  for (const hjson& c : h.value("consent", hjson::array()))
    AddCustom(conv, "Consent", S(c.value("state", hjson())) + " " + S(c.value("scope", hjson())) +
                                   " at " + S(c.value("occurred_at", hjson())));
  for (const hjson& l : h.value("legal_holds", hjson::array()))
    AddCustom(conv, "Legal hold", S(l.value("action", hjson())) + " " +
                                      S(l.value("case_ref", hjson())) + " at " +
                                      S(l.value("occurred_at", hjson())));
  AddCustom(conv, "Tree size", std::to_string(sth.tree_size));
  AddCustom(conv, "Root hash", HexDigest(sth.root_hash));

  json manifest{{"version", "2.0.0"},
                {"eventcollectionid", conversation_id},
                {"participants", participants},
                {"conversations", json::array({conv})},
                {"events", events}};
  Result<std::string> rsmf_zip =
      ZipFiles({{"rsmf_manifest.json", manifest.dump(2, ' ', false, json::error_handler_t::replace)},
                {kRsmfBundleName, *bundle_zip}});
  if (!rsmf_zip.ok()) return rsmf_zip.status();

  std::string names;
  for (const json& p : participants) {
    if (!names.empty()) names += ", ";
    names += p.value("display", p.value("account_id", std::string("?")));
  }
  std::string custodian_name;
  for (const json& p : participants)
    if (p["id"] == custodian) custodian_name = p.value("display", custodian);
  const std::string app = S(h.value("channel", hjson("unknown")));
  std::string eml;
  eml += "MIME-Version: 1.0\r\n";
  eml += "From: " + HeaderValue(custodian_name) + " <convledger@export.invalid>\r\n";
  eml += "Subject: " + HeaderValue("Conversation " + conversation_id) + "\r\n";
  eml += "Date: " + Rfc5322Date(sth.timestamp_us) + "\r\n";
  eml += "X-RSMF-Version: 2.0.0\r\n";
  eml += "X-RSMF-Generator: convledger\r\n";
  if (!first_time.empty()) eml += "X-RSMF-BeginDate: " + first_time + "\r\n";
  if (!last_time.empty()) eml += "X-RSMF-EndDate: " + last_time + "\r\n";
  eml += "X-RSMF-EventCount: " + std::to_string(events.size()) + "\r\n";
  eml += "X-RSMF-Application: " + HeaderValue(app) + "\r\n";
  eml += "X-RSMF-Custodian: " + HeaderValue(custodian_name) + "\r\n";
  eml += "X-RSMF-Participants: " + HeaderValue(names) + "\r\n";
  eml += "X-RSMF-AttachmentCount: " + std::to_string(attachment_count) + "\r\n";
  eml += "X-RSMF-EventCollectionID: " + HeaderValue(conversation_id) + "\r\n";
  eml += std::string("Content-Type: multipart/mixed; boundary=\"") + kBoundary + "\"\r\n\r\n";
  eml += std::string("--") + kBoundary + "\r\n";
  eml += "Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  eml += Base64Lines("Conversation " + conversation_id + "\r\n" + preview);
  eml += std::string("\r\n--") + kBoundary + "\r\n";
  eml += "Content-Type: application/zip; name=\"rsmf.zip\"\r\n"
         "Content-Disposition: attachment; filename=\"rsmf.zip\"\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n";
  eml += Base64Lines(*rsmf_zip);
  eml += std::string("\r\n--") + kBoundary + "--\r\n";
  return eml;
}

}  // namespace convledger::projections::exportfmt
