// WhatsApp Business Cloud API and Messenger Platform webhooks, as pure functions: signature
// check, the GET verification handshake, and the mapping of a POST body onto ledger Events.
// No sockets, no ledger writes: the HTTP server checks the signature, maps the body, appends
// `events` in ONE Append (so a body is all or nothing) and answers `http_status`.
//
// Contract of the mapping (see tests/api/corpus/README.md, "HTTP policy"):
//  - The raw bytes are checked for strict UTF-8 first (overlong forms, surrogates, 0xFF ...):
//    400 invalid_utf8. Then JSON syntax (a lone surrogate escape is a syntax error here):
//    400 invalid_json. Nesting deeper than kMaxWebhookJsonDepth: 400 invalid_json.
//  - A known object/field that breaks the platform's schema (wrong JSON type, missing
//    id/from/timestamp/type, a WhatsApp timestamp that is not a string of digits, an id longer
//    than the ledger takes) rejects the WHOLE body: 422 webhook_schema, no events.
//  - An unknown `object`, a `field` other than `messages`, an account no tenant declares, a
//    status the ledger does not model, a Messenger echo: 200, nothing for that part, one human
//    note in `ignored`.
//  - Otherwise 200 with the events in document order: entry[] -> changes[]/messaging[] -> items.
//  - Every event carries an idempotency key derived from the platform's ids (never from a hash of
//    the body), so a redelivery maps to the same events and the ledger appends nothing new.
//  - Every event carries `evidence` = the context's digest of the raw body.
//
// Conversation ids: "wa:<phone_number_id>:<customer wa_id>" and "fb:<page_id>:<psid>".
// Subject (the data subject erasure works by, Event::subject): the customer's wa_id / PSID on
// every mapped event, statuses and seed sends included (the same on every redelivery).
// Idempotency keys:
//   wa:msg:<wamid>                         inbound message (any type, unsupported included)
//   wa:edit:<edit wamid>                   WhatsApp edit  -> message.edited of the original
//   wa:revoke:<revoke wamid>               WhatsApp revoke -> message.deleted of the original
//   wa:reaction:<reaction wamid>           reaction add/remove
//   wa:status:<wamid>:<status>:<timestamp> delivery status
//   fb:msg:<mid>                           Messenger message
//   fb:edit:<mid>:<num_edit>               Messenger message_edit
//   fb:reaction:<mid>:<psid>:<action>:<timestamp ms>
//   fb:status:<mid>:<delivered|read>:<watermark ms>   delivery/read watermark, per message
//
// Thread-safe: no shared state. The callbacks of a context are called on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/event.h"
#include "ledger/ledger.h"
#include "ledger/status.h"

namespace convledger::api {

// Deepest JSON nesting accepted in a webhook body (Meta's bodies nest about 8 deep). Guards the
// parser against a signed but hostile "[[[[...": 400 invalid_json beyond it.
inline constexpr size_t kMaxWebhookJsonDepth = 64;

// Actor ids of the platforms, for status events (actor kind platform).
inline constexpr char kWhatsAppPlatformActor[] = "whatsapp-cloud-api";
inline constexpr char kMessengerPlatformActor[] = "messenger-platform";

// ---- signature and handshake ----

// True when `header_value` (the X-Hub-Signature-256 header) is exactly "sha256=" followed by 64
// hex digits (either case) equal to HMAC-SHA256(app_secret, raw_body). The digests are compared
// with CRYPTO_memcmp over their full 32 bytes. A missing prefix, a legacy "sha1=" value, a short
// or long digest, a non-hex digit or an empty secret: false.
bool CheckMetaSignature(std::string_view header_value, std::string_view raw_body,
                        std::string_view app_secret);

// SHA-256 of a raw body: the `evidence` digest stored on every event the body produced.
Digest BodyDigest(std::string_view raw_body);

struct HandshakeResult {
  int http_status = 400;  // 200, 400 or 403
  std::string body;       // 200: the raw hub.challenge; otherwise an api::ErrorBody JSON
  std::string code;       // "" on 200; handshake_missing_parameter (400), handshake_rejected (403)
};

// Meta's GET verification: 200 with the raw challenge when mode == "subscribe" and the token
// equals one of `verify_tokens` (compared in constant time, every token tried); 400 when mode,
// token or challenge is missing or empty; 403 otherwise (wrong mode, wrong token, no token
// configured). The server should send the 200 body as text/plain.
HandshakeResult VerifyHandshake(std::optional<std::string_view> mode,
                                std::optional<std::string_view> verify_token,
                                std::optional<std::string_view> challenge,
                                const std::vector<std::string>& verify_tokens);

// The same from a raw query string ("hub.mode=subscribe&hub.challenge=..."): splits on '&',
// percent-decodes names and values ('+' is a space); the first occurrence of a name wins.
HandshakeResult VerifyHandshakeQuery(std::string_view query,
                                     const std::vector<std::string>& verify_tokens);

// ---- mapping ----

// One outbound message of a conversation, as the ledger knows it: what a Messenger watermark
// ("everything up to this time was delivered/read") applies to.
struct OutboundMessage {
  std::string message_id;
  int64_t occurred_at_us = 0;
  Delivery best_status = Delivery::kUnknown;  // highest of sent < delivered < read; failed and
                                              // unknown count as below sent
};
// Outbound messages of one conversation (any order). An error fails the mapping (500-class for
// the server: the body was fine, we could not read our own state); reason kept in `code`.
using OutboundLookup =
    std::function<Result<std::vector<OutboundMessage>>(std::string_view conversation_id)>;

struct WebhookContext {
  // SHA-256 of the raw body (BodyDigest); set as `evidence` on every event produced.
  Digest evidence{};
  // The tenant of a WhatsApp phone_number_id / a Messenger page id; nullopt: no tenant declares
  // it, so that part of the body is acknowledged and ignored. Unset: every account is unknown.
  std::function<std::optional<std::string>(std::string_view phone_number_id)> whatsapp_tenant;
  std::function<std::optional<std::string>(std::string_view page_id)> messenger_tenant;
  // For Messenger delivery/read watermarks. Unset: watermarks only cover the `mids` they list.
  OutboundLookup messenger_outbound;
};

struct WebhookResult {
  int http_status = 200;             // 200, 400, 422 (500 only when a lookup failed)
  std::string code;                  // "" on 200; invalid_utf8, invalid_json, webhook_schema,
                                     // outbound_lookup_failed
  std::string message;               // for people: what and where ("entry[0].changes[0]...")
  std::vector<Event> events;         // document order; empty unless 200
  std::vector<std::string> ignored;  // one note per ignored part, for the access log
  bool ok() const { return http_status == 200; }
};

// object "whatsapp_business_account" (any other object: 200, ignored).
WebhookResult MapWhatsApp(std::string_view raw_body, const WebhookContext& ctx);
// object "page" (any other object: 200, ignored).
WebhookResult MapMessenger(std::string_view raw_body, const WebhookContext& ctx);

// ---- outbound messages (the send path) ----

// Converts a seed file of outbound sends (tests/api/corpus/seed-outbound.json: {"outbound": [
// {channel, phone_number_id|page_id, to|recipient_psid, sent_at_unix|sent_at_ms, type, content,
// send_response}]}) into agent message.sent events with the same conversation ids, message ids
// from the send responses, idempotency keys wa:msg:<wamid> / fb:msg:<mid>, and the tenant from
// the context's callbacks. For the server's demo mode and the replay tests. InvalidArgument
// (reason invalid_seed) on a malformed file or an account no tenant declares.
Result<std::vector<Event>> SeedOutboundEvents(std::string_view seed_json,
                                              const WebhookContext& ctx);

// An OutboundLookup reading one conversation from the ledger: its outbound message.sent events
// and the best delivery status recorded for each. `ledger` must outlive the lookup.
OutboundLookup LedgerOutboundLookup(Ledger& ledger);

}  // namespace convledger::api
