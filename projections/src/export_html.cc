// The printable HTML transcript, rendered from the history projection's JSON (docs/history.md).
// Every piece of text from the log goes through HtmlEscape: message text is hostile input.
// Self-contained (inline CSS, no script, no external resource), so it prints and archives as is.

#include <nlohmann/json.hpp>
#include <string>

#include "export_internal.h"
#include "ledger/time.h"

namespace convledger::projections::exportfmt {
namespace {

using json = nlohmann::json;

// A JSON value as text: strings as they are, null as empty, anything else as compact JSON.
std::string Text(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}
std::string E(const json& v) { return HtmlEscape(Text(v)); }
std::string Field(const json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) ? E(obj[key]) : std::string();
}

std::string ActorHtml(const json& a) {
  if (!a.is_object()) return "";
  return "<span class=actor>" + Field(a, "display") + "</span> <span class=meta>(" +
         Field(a, "kind") + " " + Field(a, "id") + ")</span>";
}

std::string When(const json& o);

// who/when/why of a redaction or an erasure (the history's "removed_by").
std::string RemovalHtml(const json& r) {
  if (!r.is_object()) return "";
  return " <span class=meta>by " + ActorHtml(r.value("actor", json())) + " at " + When(r) +
         ": &ldquo;" + Field(r, "reason") + "&rdquo;" +
         (r.value("override_hold", false) ? " (despite a legal hold)" : "") + "</span>";
}

std::string ContentHtml(const json& c) {
  if (!c.is_object()) return "<em>(no content)</em>";
  // Content whose keys were destroyed: "[redacted]" / "[erased]" and who/when/why.
  if (c.contains("removed_by"))
    return std::string("<em class=redacted>") +
           (c.value("erased", false) ? "[erased]" : "[redacted]") + "</em>" +
           RemovalHtml(c["removed_by"]);
  if (c.value("sealed", false))
    return std::string("<em class=redacted>[sealed content") +
           (c.value("redacted", false) ? ", redacted" : "") +
           (c.value("erased", false) ? ", erased" : "") + "]</em>";
  std::string out;
  if (c.value("redacted", false)) out += "<em class=redacted>[redacted]</em> ";
  else out += "<span class=text>" + Field(c, "text") + "</span>";
  if (c.contains("media") && c["media"].is_array()) {
    for (const json& m : c["media"])
      out += "<div class=media>media: " + Field(m, "mime") + " " + Field(m, "filename") + " " +
             Field(m, "size") + " bytes, sha256 " + Field(m, "sha256") +
             (m.value("caption", "").empty() ? "" : ", caption: " + Field(m, "caption")) +
             "</div>";
  }
  return out;
}

std::string When(const json& o) { return "<span class=time>" + Field(o, "occurred_at") + "</span>"; }

std::string Seq(const json& o) {
  return "<span class=meta>#" + Field(o, "conversation_seq") + " / global " +
         Field(o, "global_seq") + "</span>";
}

constexpr char kStyle[] =
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#111}"
    "h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #999}"
    ".msg{border:1px solid #bbb;padding:.5em 1em;margin:1em 0;page-break-inside:avoid}"
    ".inbound{border-left:4px solid #3a7}.outbound{border-left:4px solid #37a}"
    ".meta{color:#555;font-size:.85em}.redacted{color:#a00}.deleted{color:#a00;font-weight:bold}"
    ".flag{color:#a50;font-weight:bold}table{border-collapse:collapse;width:100%}"
    "td,th{border:1px solid #ccc;padding:.2em .4em;vertical-align:top;text-align:left}"
    "@media print{body{margin:0}}";

}  // namespace

Result<std::string> BuildHtml(Ledger& ledger, const SignedTreeHead& sth,
                              const std::string& conversation_id, const ExportOptions& options) {
  AsOf as_of;
  as_of.global_seq = sth.tree_size;  // the same point the bundle's proofs are at
  Result<std::string> doc = History(ledger, conversation_id, as_of, options.projection_options);
  if (!doc.ok()) return doc.status();
  const json h = json::parse(*doc, nullptr, false);
  if (h.is_discarded()) return Status::Corruption("bad_history", "history is not JSON");

  std::string o;
  o += "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>";
  o += "<title>Conversation " + HtmlEscape(conversation_id) + "</title><style>";
  o += kStyle;
  o += "</style></head><body>\n";
  o += "<h1>Conversation " + HtmlEscape(conversation_id) + "</h1>\n";
  o += "<p class=meta>Tenant " + Field(h, "tenant") + " &middot; channel " + Field(h, "channel") +
       " &middot; " + Field(h, "events") + " events &middot; last conversation_seq " +
       Field(h, "last_conversation_seq") + "</p>\n";
  o += "<p class=meta>Exported as of the signed tree head of size " +
       std::to_string(sth.tree_size) + ", root " + HexDigest(sth.root_hash) + ", signed " +
       HtmlEscape(FormatRfc3339(sth.timestamp_us)) +
       ". This transcript is a rendering; the bundle export (convledger export --format "
       "bundle) carries the proofs.</p>\n";

  if (h.contains("flags") && !h["flags"].empty()) {
    o += "<h2>Flags</h2><ul>\n";
    for (const json& f : h["flags"])
      o += "<li><span class=flag>" + Field(f, "type") + "</span> message " +
           Field(f, "message_id") + " <span class=meta>" + E(f.value("detail", json())) +
           "</span></li>\n";
    o += "</ul>\n";
  }

  o += "<h2>Messages</h2>\n";
  for (const json& m : h.value("messages", json::array())) {
    const json& orig = m.value("original", json());
    o += "<div class='msg " + Field(m, "direction") + "'>\n";
    o += "<div><b>Message " + Field(m, "message_id") + "</b> " + Field(m, "direction") + " via " +
         Field(m, "channel");
    if (orig.is_object())
      o += " &middot; sent by " + ActorHtml(orig.value("actor", json())) + " at " + When(orig) + " " + Seq(orig);
    else o += " &middot; <em>send not recorded</em>";
    if (m.value("deleted", false)) o += " <span class=deleted>DELETED FOR EVERYONE</span>";
    if (m.value("redacted", false)) o += " <span class=deleted>REDACTED</span>";
    o += "</div>\n";
    if (orig.is_object() && orig.contains("template") && orig["template"].is_object())
      o += "<div class=meta>template " + Field(orig["template"], "name") + " (" +
           Field(orig["template"], "category") + ", " + Field(orig["template"], "language") +
           ")</div>\n";
    if (orig.is_object() && !orig.value("reply_to", json()).is_null())
      o += "<div class=meta>reply to " + Field(orig, "reply_to") + "</div>\n";

    o += "<table><tr><th>version</th><th>when</th><th>who</th><th>content</th><th>reason</th>"
         "</tr>\n";
    for (const json& v : m.value("versions", json::array()))
      o += "<tr><td>" + Field(v, "version") + " " + Field(v, "kind") + "</td><td>" + When(v) +
           "<br>" + Seq(v) + "</td><td>" + ActorHtml(v.value("actor", json())) + "</td><td>" +
           ContentHtml(v.value("content", json())) + "</td><td>" + Field(v, "reason") +
           "</td></tr>\n";
    o += "</table>\n";

    for (const json& d : m.value("deletions", json::array()))
      o += "<div class=deleted>Deleted (" + Field(d, "scope") + ") by " + ActorHtml(d.value("actor", json())) +
           " at " + When(d) + " " + Seq(d) + ": reason code " + Field(d, "reason_code") +
           ", reason &ldquo;" + Field(d, "reason") + "&rdquo;; customer had received: " +
           Field(d, "customer_had_received") + ", had read: " + Field(d, "customer_had_read") +
           "; explanation: " + E(d.value("explanation", json()).value("status", json())) +
           "</div>\n";
    for (const json& c : m.value("corrected_by", json::array()))
      o += "<div>Corrected by message " + Field(c, "replacement_message_id") + " (" +
           Field(c, "reason_code") + ") by " + ActorHtml(c.value("actor", json())) + " at " + When(c) +
           "; explanation shown to the customer: &ldquo;" + Field(c, "explanation") +
           "&rdquo;</div>\n";
    for (const json& c : m.value("corrects", json::array()))
      o += "<div>Corrects message " + Field(c, "message_id") + " (" + Field(c, "reason_code") +
           ")</div>\n";
    for (const json& r : m.value("redactions", json::array()))
      o += "<div class=redacted>Redacted by " + ActorHtml(r.value("actor", json())) + " at " + When(r) + " " +
           Seq(r) + ": &ldquo;" + Field(r, "reason") + "&rdquo;</div>\n";
    const json& statuses = m.value("statuses", json::array());
    if (!statuses.empty()) {
      o += "<div class=meta>Receipts:";
      for (const json& s : statuses) {
        o += " " + Field(s, "status") + " " + Field(s, "occurred_at");
        if (s.value("conflict", false)) o += " (conflict)";
        if (s.contains("error") && s["error"].is_object())
          o += " (error " + Field(s["error"], "code") + " " + Field(s["error"], "title") + ")";
        o += ";";
      }
      o += "</div>\n";
    }
    for (const json& r : m.value("reactions", json::array()))
      o += "<div class=meta>Reaction " + Field(r, "action") + " " + Field(r, "emoji") + " by " +
           ActorHtml(r.value("actor", json())) + " at " + When(r) + "</div>\n";
    for (const json& f : m.value("flags", json::array()))
      o += "<div class=flag>Flag: " + Field(f, "type") + "</div>\n";
    o += "</div>\n";
  }

  const json& notes = h.value("notes", json::array());
  if (!notes.empty()) {
    o += "<h2>Internal notes (never shown to the customer)</h2>\n";
    for (const json& n : notes)
      o += "<div class=msg>" + ActorHtml(n.value("actor", json())) + " at " + When(n) + " " + Seq(n) + "<br>" +
           ContentHtml(n.value("content", json())) + "</div>\n";
  }
  const json& consent = h.value("consent", json::array());
  if (!consent.empty()) {
    o += "<h2>Consent</h2><ul>\n";
    for (const json& c : consent)
      o += "<li>" + Field(c, "state") + " " + Field(c, "scope") + " (source " +
           Field(c, "source") + ") at " + When(c) + "</li>\n";
    o += "</ul>\n";
  }
  const json& holds = h.value("legal_holds", json::array());
  if (!holds.empty()) {
    o += "<h2>Legal holds</h2><ul>\n";
    for (const json& l : holds)
      o += "<li>" + Field(l, "action") + " " + Field(l, "case_ref") +
           (l.value("scope", std::string()) == "subject" ? " (every conversation of the subject)"
                                                          : "") +
           " by " +
           ActorHtml(l.value("actor", json())) + " at " + When(l) + "</li>\n";
    o += "</ul>\n";
  }
  const json& erasures = h.value("erasures", json::array());
  if (!erasures.empty()) {
    o += "<h2>Erasure of the data subject</h2><ul>\n";
    for (const json& x : erasures)
      o += "<li>subject " + Field(x, "subject") + " erased" + RemovalHtml(x) + " " + Seq(x) +
           "; content recorded before it shows [erased]</li>\n";
    o += "</ul>\n";
  }
  const json& refused = h.value("refused_requests", json::array());
  if (!refused.empty()) {
    o += "<h2>Refused redaction and erasure requests (legal hold)</h2><ul>\n";
    for (const json& x : refused) {
      o += "<li>" + Field(x, "requested");
      if (!x.value("message_id", json()).is_null()) o += " of message " + Field(x, "message_id");
      o += " refused (hold " + Field(x, "case_ref") + "), asked by " +
           ActorHtml(x.value("actor", json())) + " at " + When(x) + ": &ldquo;" +
           Field(x, "reason") + "&rdquo; &middot; <b>" + Field(x, "status") + "</b>";
      if (x.value("applied_by", json()).is_object())
        o += " by " + Field(x["applied_by"], "type") + " at " + When(x["applied_by"]);
      o += "</li>\n";
    }
    o += "</ul>\n";
  }
  o += "<h2>Timeline (recording order)</h2><table><tr><th>#</th><th>occurred</th>"
       "<th>recorded</th><th>who</th><th>what</th></tr>\n";
  for (const json& t : h.value("timeline", json::array()))
    o += "<tr><td>" + Field(t, "conversation_seq") + "</td><td>" + Field(t, "occurred_at") +
         (t.value("late", false) ? " (late)" : "") + "</td><td>" + Field(t, "recorded_at") +
         "</td><td>" + ActorHtml(t.value("actor", json())) + "</td><td>" + Field(t, "summary") + "</td></tr>\n";
  o += "</table>\n</body></html>\n";
  return o;
}

}  // namespace convledger::projections::exportfmt
