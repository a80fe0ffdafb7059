// Signature check, verification handshake, body digest, and the JSON helpers both mappers use.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstring>
#include <limits>

#include "api/errors.h"
#include "api/webhooks.h"
#include "ledger/event_json.h"
#include "webhook_internal.h"

namespace convledger::api {

namespace {

int HexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Digest Sha256(std::string_view data) {
  Digest d{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

}  // namespace

bool CheckMetaSignature(std::string_view header_value, std::string_view raw_body,
                        std::string_view app_secret) {
  constexpr std::string_view kPrefix = "sha256=";
  // Shape first: these checks depend only on the attacker's own header, not on the secret, so
  // rejecting early leaks nothing.
  if (app_secret.empty()) return false;
  if (header_value.size() != kPrefix.size() + 64 || header_value.substr(0, kPrefix.size()) != kPrefix)
    return false;
  std::array<unsigned char, 32> given{};
  const std::string_view hex = header_value.substr(kPrefix.size());
  for (size_t i = 0; i < 32; ++i) {
    const int hi = HexNibble(hex[2 * i]), lo = HexNibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    given[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  if (!HMAC(EVP_sha256(), app_secret.data(), static_cast<int>(app_secret.size()),
            reinterpret_cast<const unsigned char*>(raw_body.data()), raw_body.size(), mac.data(),
            &mac_len) ||
      mac_len != 32)
    return false;
  // Constant time over the full 32 bytes: no early exit on the first differing byte.
  return CRYPTO_memcmp(mac.data(), given.data(), 32) == 0;
}

Digest BodyDigest(std::string_view raw_body) { return Sha256(raw_body); }

HandshakeResult VerifyHandshake(std::optional<std::string_view> mode,
                                std::optional<std::string_view> verify_token,
                                std::optional<std::string_view> challenge,
                                const std::vector<std::string>& verify_tokens) {
  HandshakeResult r;
  if (!mode || mode->empty() || !verify_token || verify_token->empty() || !challenge ||
      challenge->empty()) {
    r.http_status = 400;
    r.code = "handshake_missing_parameter";
    r.body = ErrorBody(r.code, "hub.mode, hub.verify_token and hub.challenge are required");
    return r;
  }
  // Compare digests of the tokens, so the comparison is constant time whatever the lengths, and
  // try every configured token so the time does not tell which one was close.
  const Digest given = Sha256(*verify_token);
  bool match = false;
  for (const std::string& t : verify_tokens) {
    if (t.empty()) continue;
    const Digest want = Sha256(t);
    match |= CRYPTO_memcmp(given.data(), want.data(), given.size()) == 0;
  }
  if (*mode != "subscribe" || !match) {
    r.http_status = 403;
    r.code = "handshake_rejected";
    r.body = ErrorBody(r.code, "hub.mode must be subscribe and hub.verify_token must match");
    return r;
  }
  r.http_status = 200;
  r.body = std::string(*challenge);
  return r;
}

namespace {

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() &&
               HexNibble(s[i + 1]) >= 0 && HexNibble(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexNibble(s[i + 1]) << 4 | HexNibble(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);  // a stray '%' is kept as it is
    }
  }
  return out;
}

}  // namespace

HandshakeResult VerifyHandshakeQuery(std::string_view query,
                                     const std::vector<std::string>& verify_tokens) {
  std::optional<std::string> mode, token, challenge;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string name = PercentDecode(pair.substr(0, eq));
    const std::string value =
        eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1));
    std::optional<std::string>* slot = name == "hub.mode"           ? &mode
                                       : name == "hub.verify_token" ? &token
                                       : name == "hub.challenge"    ? &challenge
                                                                    : nullptr;
    if (slot && !*slot) *slot = value;
  }
  auto view = [](const std::optional<std::string>& s) -> std::optional<std::string_view> {
    if (!s) return std::nullopt;
    return std::string_view(*s);
  };
  return VerifyHandshake(view(mode), view(token), view(challenge), verify_tokens);
}

namespace webhook_detail {

bool ValidUtf8(std::string_view s) { return IsValidUtf8(s); }

namespace {

// Nesting depth of JSON text, outside strings. Only a guard before the real parse: malformed
// text is left for the parser to report.
size_t MaxDepth(std::string_view s) {
  size_t depth = 0, max = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      max = std::max(max, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return max;
}

}  // namespace

std::optional<json> ParseBody(std::string_view raw_body, WebhookResult* result) {
  auto fail = [&](std::string code, std::string message) -> std::optional<json> {
    result->http_status = 400;
    result->code = std::move(code);
    result->message = std::move(message);
    return std::nullopt;
  };
  if (!ValidUtf8(raw_body)) return fail("invalid_utf8", "the body is not valid UTF-8");
  if (MaxDepth(raw_body) > kMaxWebhookJsonDepth)
    return fail("invalid_json", "the body nests deeper than " +
                                    std::to_string(kMaxWebhookJsonDepth) + " levels");
  try {
    return json::parse(raw_body.begin(), raw_body.end());
  } catch (const json::exception& e) {
    // Includes a lone surrogate escape ("\ud83d" alone): not representable, so not JSON text we
    // can store.
    return fail("invalid_json", e.what());
  }
}

void Fail(const std::string& path, const std::string& what) {
  throw SchemaError(path.empty() ? what : path + ": " + what);
}

namespace {
const json* Find(const json& parent, std::string_view key) {
  if (!parent.is_object()) return nullptr;
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return nullptr;
  return &*it;
}
std::string TypeName(const json& j) { return j.type_name(); }
}  // namespace

const json* OptObject(const json& parent, std::string_view key, const std::string& path) {
  const json* v = Find(parent, key);
  if (v && !v->is_object()) Fail(Join(path, key), "must be an object, not " + TypeName(*v));
  return v;
}

const json* OptArray(const json& parent, std::string_view key, const std::string& path) {
  const json* v = Find(parent, key);
  if (v && !v->is_array()) Fail(Join(path, key), "must be an array, not " + TypeName(*v));
  return v;
}

const json& ReqObject(const json& parent, std::string_view key, const std::string& path) {
  const json* v = OptObject(parent, key, path);
  if (!v) Fail(Join(path, key), "is required");
  return *v;
}

const json& ReqArray(const json& parent, std::string_view key, const std::string& path) {
  const json* v = OptArray(parent, key, path);
  if (!v) Fail(Join(path, key), "is required");
  return *v;
}

std::string OptString(const json& parent, std::string_view key, const std::string& path,
                      size_t max_bytes) {
  const json* v = Find(parent, key);
  if (!v) return {};
  if (!v->is_string()) Fail(Join(path, key), "must be a string, not " + TypeName(*v));
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_bytes)
    Fail(Join(path, key), "is " + std::to_string(s.size()) + " bytes; the ledger takes at most " +
                              std::to_string(max_bytes));
  return s;
}

std::string ReqString(const json& parent, std::string_view key, const std::string& path,
                      size_t max_bytes) {
  if (!Find(parent, key)) Fail(Join(path, key), "is required");
  std::string s = OptString(parent, key, path, max_bytes);
  if (s.empty()) Fail(Join(path, key), "must not be empty");
  return s;
}

std::string ReqNumberText(const json& parent, std::string_view key, const std::string& path) {
  const json* v = Find(parent, key);
  if (!v) Fail(Join(path, key), "is required");
  if (!v->is_number()) Fail(Join(path, key), "must be a number, not " + TypeName(*v));
  return v->dump();
}

int64_t ToMicros(uint64_t value, int64_t scale_to_us, const std::string& path) {
  if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / scale_to_us))
    Fail(path, "is out of range");
  return static_cast<int64_t>(value) * scale_to_us;
}

Event NewEvent(EventType type, const std::string& conversation_id, const std::string& tenant,
               Channel channel, const Actor& actor, int64_t occurred_at_us,
               std::string idempotency_key, const Digest& evidence) {
  if (conversation_id.size() > kMaxConversationIdBytes)
    Fail("", "conversation id " + conversation_id.substr(0, 64) + "... is too long");
  if (idempotency_key.size() > kMaxIdBytes)
    Fail("", "idempotency key " + idempotency_key.substr(0, 64) + "... is too long");
  Event e;
  e.type = type;
  e.conversation_id = conversation_id;
  e.tenant = tenant;
  e.channel = channel;
  e.actor = actor;
  e.occurred_at_us = occurred_at_us;
  e.idempotency_key = std::move(idempotency_key);
  e.evidence = evidence;
  return e;
}

int DeliveryRank(Delivery d) {
  switch (d) {
    case Delivery::kSent: return 1;
    case Delivery::kDelivered: return 2;
    case Delivery::kRead: return 3;
    default: return 0;
  }
}

}  // namespace webhook_detail
}  // namespace convledger::api
