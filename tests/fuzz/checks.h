// What each fuzz harness does with one input, shared by the libFuzzer harnesses (tests/fuzz/
// fuzz_*.cc) and the regression tests of the normal suite that replay every saved crash input
// (tests/fuzz/regressions/<harness>/*). Each returns "" when the input was handled as documented,
// else what went wrong; memory errors are for the sanitizers to see.
#pragma once

#include <stdlib.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/event_json.h"
#include "ledger/ledger.h"

#ifdef CONVLEDGER_FUZZ_WITH_CODEC
#include "codec.h"
#endif
#ifdef CONVLEDGER_FUZZ_WITH_EXPORT
#include "projections/export.h"
#endif
#ifdef CONVLEDGER_FUZZ_WITH_API
#include "api/webhooks.h"
#include "app.h"
#include "projections/projections.h"
#endif

namespace convledger::fuzz {

// ParseEventsJson, and the documented promise that output parses as input: every accepted event,
// rendered by EventToJson, parses again and renders the same.
inline std::string CheckEventJson(std::string_view text) {
  bool is_batch = false;
  auto events = ParseEventsJson(text, &is_batch);
  if (!events.ok()) return "";
  for (const Event& e : *events) {
    const std::string once = EventToJson(e);
    auto again = ParseEventJson(once);
    if (!again.ok())
      return "EventToJson output does not parse (" + again.status().ToString() + "): " + once;
    if (EventToJson(*again) != once)
      return "EventToJson round trip differs: " + once + " vs " + EventToJson(*again);
  }
  return "";
}

#ifdef CONVLEDGER_FUZZ_WITH_CODEC
// DecodeRecord gets bytes from the database, which a damaged disk or a hostile file can make
// anything: it must reject them rather than read out of bounds. A mutated record almost never
// keeps a matching SHA-256, so the bytes are also decoded with the hash check off
// (codec::Decode(record, false)): the field decoding a writer able to recompute hashes reaches.
inline std::string CheckDecodeRecord(std::string_view bytes) {
  if (auto e = DecodeRecord(bytes); e.ok()) (void)EventToJson(*e);
  if (auto e = codec::Decode(bytes, false); e.ok()) (void)EventToJson(*e);
  return "";
}
#endif

#ifdef CONVLEDGER_FUZZ_WITH_API
// The corpus accounts of tests/api/corpus (tenant acme), and an outbound lookup so Messenger
// watermarks have messages to cover (failing for some conversations, to reach that path too).
inline api::WebhookContext FuzzWebhookContext(std::string_view body) {
  api::WebhookContext ctx;
  ctx.evidence = api::BodyDigest(body);
  ctx.whatsapp_tenant = [](std::string_view id) -> std::optional<std::string> {
    if (id == "210987654321098" || id == "210987654321099") return std::string("acme");
    return std::nullopt;
  };
  ctx.messenger_tenant = [](std::string_view id) -> std::optional<std::string> {
    if (id == "104857600000001") return std::string("acme");
    return std::nullopt;
  };
  ctx.messenger_outbound =
      [](std::string_view conversation_id) -> Result<std::vector<api::OutboundMessage>> {
    if (conversation_id.size() % 7 == 3) return Status::IOError("fuzz: lookup failed");
    return std::vector<api::OutboundMessage>{
        {"m_outbound-1", 1'700'000'000'000'000, Delivery::kSent},
        {"m_outbound-2", 1'700'000'100'000'000, Delivery::kDelivered},
        {"m_outbound-3", 1'800'000'000'000'000, Delivery::kUnknown}};
  };
  return ctx;
}

// Both mappers on one (signature-checked) body, and their contract: events only on 200, an
// error code on anything else, and every event one the ledger accepts from POST /v1/events.
inline std::string CheckWebhooks(std::string_view body) {
  const api::WebhookContext ctx = FuzzWebhookContext(body);
  for (int platform = 0; platform < 2; ++platform) {
    const char* which = platform == 0 ? "MapWhatsApp" : "MapMessenger";
    const api::WebhookResult r =
        platform == 0 ? api::MapWhatsApp(body, ctx) : api::MapMessenger(body, ctx);
    const bool ok = r.http_status == 200;
    if (ok != r.code.empty() || (!ok && !r.events.empty()))
      return std::string(which) + ": status " + std::to_string(r.http_status) + " code '" +
             r.code + "' with " + std::to_string(r.events.size()) + " events";
    for (const Event& e : r.events) {
      const std::string j = EventToJson(e);
      auto back = ParseEventJson(j);
      if (!back.ok())
        return std::string(which) + " mapped an event the ledger rejects (" +
               back.status().ToString() + "): " + j;
    }
  }
  return "";
}

// One App over a temporary ledger with every view, and fixed short API keys so inputs can
// authenticate: "Bearer fz-admin" (acme, admin), "fz-writer" (acme, writer), "fz-globex"
// (globex, admin).
class HttpWorld {
 public:
  HttpWorld() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "convledger-fuzz-http-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    Options o;
    o.projections = projections::MakeAll();
    auto l = Ledger::Open(dir_, o);
    if (!l.ok()) std::abort();
    ledger_ = std::move(*l);
    app_ = std::make_unique<api::App>(*ledger_, Config());
  }
  ~HttpWorld() {
    app_.reset();
    ledger_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  api::App& app() { return *app_; }

  static api::Config Config() {
    api::Config c;
    api::TenantConfig acme;
    acme.id = "acme";
    acme.whatsapp.push_back(api::WhatsAppAccount{"109876543210987",
                                                 {"210987654321098", "210987654321099"},
                                                 "5e6b0c1d9a8f4e27b3c2d1a0f9e8d7c6",
                                                 "convledger-verify-7Qx2"});
    acme.messenger.push_back(api::MessengerPage{
        "104857600000001", "5e6b0c1d9a8f4e27b3c2d1a0f9e8d7c6", "convledger-verify-7Qx2"});
    api::TenantConfig globex;
    globex.id = "globex";
    c.tenants = {acme, globex};
    auto key = [&](const char* k, const char* tenant, uint32_t roles) {
      c.api_keys.push_back(api::ApiKey{k, api::HashApiKey(k), tenant, roles});
    };
    key("fz-admin", "acme", api::kRoleAdmin);
    key("fz-writer", "acme", api::kRoleWriter);
    key("fz-globex", "globex", api::kRoleAdmin);
    return c;
  }

 private:
  std::string dir_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<api::App> app_;
};

// Raw HTTP/1.1 bytes parsed by Beast's request_parser with the server's header limit (a smaller
// body limit keeps executions fast), then Classify and Handle (or PrepareStream for the feed
// stream) in process, as server.cc calls them. Handle must answer, not throw.
inline std::string CheckHttp(HttpWorld& w, std::string_view bytes,
                             unsigned* status_out = nullptr) {
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.header_limit(static_cast<uint32_t>(w.app().config().limits.max_header_bytes));
  parser.body_limit(64 << 10);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return "";
  api::Request req = parser.release();
  api::RequestContext ctx;
  ctx.request_id = "fuzz";
  ctx.key_name = "-";
  if (w.app().Classify(req).stream) {
    (void)w.app().PrepareStream(req, ctx);
    return "";
  }
  api::Response res;
  try {
    res = w.app().Handle(req, ctx);
  } catch (const std::exception& e) {
    return std::string("Handle threw: ") + e.what();
  }
  const unsigned status = res.result_int();
  if (status_out) *status_out = status;
  if (status < 100 || status > 599) return "status " + std::to_string(status);
  return "";
}
#endif

#ifdef CONVLEDGER_FUZZ_WITH_EXPORT
// The offline verifier (`convledger verify PATH`) reads what anyone may have made. The input is a
// zip (starting "PK"), or files framed as lines "=== <path>" each followed by that file's bytes
// (so the fuzzer reaches the manifest and event-line checks without inventing a zip), and is
// also given to the RSMF verifier as an EML. Both must return a report, never crash or throw,
// and a report that says ok lists no problem.
inline std::vector<projections::ExportFile> FramedFiles(std::string_view in) {
  std::vector<projections::ExportFile> files;
  constexpr std::string_view kMark = "=== ";
  size_t pos = in.starts_with(kMark) ? 0 : in.find(std::string("\n") + std::string(kMark));
  if (pos == std::string_view::npos) return files;
  if (pos != 0) ++pos;
  while (pos < in.size()) {
    const size_t eol = in.find('\n', pos);
    if (eol == std::string_view::npos) break;
    projections::ExportFile f;
    f.path = std::string(in.substr(pos + kMark.size(), eol - pos - kMark.size()));
    size_t next = in.find(std::string("\n") + std::string(kMark), eol);
    const size_t end = next == std::string_view::npos ? in.size() : next + 1;
    f.bytes = std::string(in.substr(eol + 1, end - eol - 1));
    files.push_back(std::move(f));
    pos = end;
  }
  return files;
}

inline std::string CheckExportVerify(std::string_view in) {
  std::vector<projections::ExportFile> files;
  if (in.starts_with("PK")) {
    auto unzipped = projections::UnzipFiles(in, 1 << 20);
    if (unzipped.ok()) files = std::move(unzipped).value();
  } else {
    files = FramedFiles(in);
  }
  const projections::ExportVerifyReport bundle = projections::VerifyBundle(files);
  if (bundle.ok() && !bundle.problems.empty()) return "bundle report ok with problems";
  const projections::ExportVerifyReport rsmf = projections::VerifyRsmf(in);
  if (rsmf.ok() && !rsmf.problems.empty()) return "rsmf report ok with problems";
  return "";
}
#endif

}  // namespace convledger::fuzz
