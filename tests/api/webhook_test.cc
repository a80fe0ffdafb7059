// Specification of the pure webhook layer (api/webhooks.h) against the Meta fixture corpus
// (tests/api/corpus, README there): signatures, the GET handshake, and the mapping of every POST
// body onto ledger events.
#include "api/webhooks.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "webhook_test_util.h"

namespace convledger::api {
namespace {

using test::CorpusContext;
using test::ReadCorpus;
using test::ReadSignatures;
using json = nlohmann::json;

constexpr char kA1[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDcwMQA=";
constexpr char kA2[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDcwMgA=";
constexpr char kA3[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDcwMwA=";
constexpr char kB1[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgARGBI1RjJBOUMwRDFFM0I0QTZDNzcA";
constexpr char kB2[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgARGBI1RjJBOUMwRDFFM0I0QTZDNzgA";
constexpr char kB3[] = "wamid.HBgLMTMxMjU1NTAxODcVAgARGBI1RjJBOUMwRDFFM0I0QTZDNzkA";
constexpr char kB5[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgARGBI1RjJBOUMwRDFFM0I0QTZDODAA";
constexpr char kMaya[] = "wa:210987654321098:12025550143";
constexpr char kMidPage[] = "m_UGFnZS1zZW50LW1lc3NhZ2UtbWlkLWZvci1kZWxpdmVyeS1hbmQtcmVhZC0wMDAwMDAwMDE";

// ---- signatures -------------------------------------------------------------------------------

TEST(MetaSignatureTest, EveryCorpusBodyVerifiesWithItsHeader) {
  const auto sigs = ReadSignatures();
  ASSERT_EQ(sigs.app_secret, "5e6b0c1d9a8f4e27b3c2d1a0f9e8d7c6");
  ASSERT_EQ(sigs.files.size(), 25u);
  for (const auto& f : sigs.files) {
    const std::string body = ReadCorpus(f.file);
    EXPECT_EQ(body.size(), f.bytes) << f.file;
    EXPECT_TRUE(CheckMetaSignature(f.header, body, sigs.app_secret)) << f.file;
    // The same header over other bytes or with another secret fails.
    EXPECT_FALSE(CheckMetaSignature(f.header, body + " ", sigs.app_secret)) << f.file;
    EXPECT_FALSE(CheckMetaSignature(f.header, body, "another-secret")) << f.file;
  }
}

TEST(MetaSignatureTest, EveryNegativeCaseIsRejected) {
  const auto sigs = ReadSignatures();
  ASSERT_EQ(sigs.negatives.size(), 5u);
  for (const auto& n : sigs.negatives) {
    EXPECT_FALSE(CheckMetaSignature(n.header, ReadCorpus(n.file), sigs.app_secret))
        << n.name << " [" << n.header << "]";
  }
}

TEST(MetaSignatureTest, AcceptsUppercaseHexAndRejectsMalformedHeaders) {
  const auto sigs = ReadSignatures();
  const std::string body = ReadCorpus("wa-01-text.json");
  const std::string good = "sha256=b0d4cd43e28fce1ed701b9efa0acd0ab40c5f8a77977d61cc94023279d2aee09";
  ASSERT_TRUE(CheckMetaSignature(good, body, sigs.app_secret));
  std::string upper = good;
  for (size_t i = 7; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_TRUE(CheckMetaSignature(upper, body, sigs.app_secret));
  EXPECT_FALSE(CheckMetaSignature("SHA256=" + good.substr(7), body, sigs.app_secret));
  EXPECT_FALSE(CheckMetaSignature(good + "0", body, sigs.app_secret));
  EXPECT_FALSE(CheckMetaSignature(good.substr(0, good.size() - 1), body, sigs.app_secret));
  EXPECT_FALSE(CheckMetaSignature(" " + good, body, sigs.app_secret));
  std::string bad_hex = good;
  bad_hex.back() = 'g';
  EXPECT_FALSE(CheckMetaSignature(bad_hex, body, sigs.app_secret));
  std::string flipped = good;
  flipped.back() = flipped.back() == '9' ? '8' : '9';
  EXPECT_FALSE(CheckMetaSignature(flipped, body, sigs.app_secret));
  EXPECT_FALSE(CheckMetaSignature(good, body, ""));
  EXPECT_FALSE(CheckMetaSignature("", body, sigs.app_secret));
}

// ---- handshake ----------------------------------------------------------------------------------

TEST(HandshakeTest, EveryCorpusCase) {
  const json doc = json::parse(ReadCorpus("wa-00-verify-handshake.json"));
  const std::vector<std::string> tokens = {doc.at("verify_token_configured").get<std::string>()};
  ASSERT_EQ(tokens[0], ReadSignatures().verify_token);
  ASSERT_EQ(doc.at("cases").size(), 6u);
  for (const json& c : doc.at("cases")) {
    const std::string name = c.at("name");
    HandshakeResult r = VerifyHandshakeQuery(c.at("query").get<std::string>(), tokens);
    EXPECT_EQ(r.http_status, c.at("expect_status").get<int>()) << name;
    if (!c.at("expect_body").is_null()) {
      EXPECT_EQ(r.body, c.at("expect_body").get<std::string>()) << name;
    } else {
      EXPECT_NE(r.body, "1158201444") << name << ": a refusal must not echo the challenge";
      EXPECT_FALSE(r.code.empty()) << name;
    }
  }
}

TEST(HandshakeTest, PercentDecodingAndSeveralTokens) {
  const std::vector<std::string> tokens = {"old token", "convledger-verify-7Qx2"};
  auto r = VerifyHandshakeQuery("hub.mode=subscribe&hub.verify_token=old%20token&hub.challenge=a%2Bb",
                                tokens);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.body, "a+b");
  r = VerifyHandshakeQuery("hub.mode=subscribe&hub.verify_token=old+token&hub.challenge=x", tokens);
  EXPECT_EQ(r.http_status, 200);
  r = VerifyHandshakeQuery("hub.mode=subscribe&hub.verify_token=convledger-verify-7Qx&hub.challenge=x",
                           tokens);
  EXPECT_EQ(r.http_status, 403);
  EXPECT_EQ(VerifyHandshake("subscribe", "t", "c", {}).http_status, 403);
  EXPECT_EQ(VerifyHandshake("subscribe", "", "c", {"t"}).http_status, 400);
  EXPECT_EQ(VerifyHandshake(std::nullopt, "t", "c", {"t"}).http_status, 400);
  EXPECT_EQ(VerifyHandshake("subscribe", "t", "c", {"t"}).http_status, 200);
}

// ---- mapping: one expectation per corpus body -------------------------------------------------

struct Expectation {
  std::string file;
  int status;
  std::string code;
  std::vector<EventType> types;
};

const std::vector<Expectation>& Expectations() {
  using T = EventType;
  static const std::vector<Expectation> kAll = {
      {"wa-01-text.json", 200, "", {T::kMessageSent}},
      {"wa-02-image-caption.json", 200, "", {T::kMessageSent}},
      {"wa-03-reply-with-context.json", 200, "", {T::kMessageSent}},
      {"wa-04-reaction.json", 200, "", {T::kMessageReaction}},
      {"wa-05-reaction-removed.json", 200, "", {T::kMessageReaction}},
      {"wa-06-edit-text.json", 200, "", {T::kMessageEdited}},
      {"wa-07-revoke.json", 200, "", {T::kMessageDeleted}},
      {"wa-08-status-sent.json", 200, "", {T::kMessageStatus}},
      {"wa-09-status-delivered.json", 200, "", {T::kMessageStatus}},
      {"wa-10-status-read.json", 200, "", {T::kMessageStatus}},
      {"wa-11-status-failed.json", 200, "", {T::kMessageStatus}},
      {"wa-12-batch-two-messages.json", 200, "", {T::kMessageSent, T::kMessageSent}},
      {"wa-13-duplicate-of-01.json", 200, "", {T::kMessageSent}},
      {"wa-14-unsupported-131051.json", 200, "", {T::kMessageSent}},
      {"wa-15-interactive-button-reply.json", 200, "", {T::kMessageSent}},
      {"wa-16-malformed-truncated.json", 400, "invalid_json", {}},
      {"wa-17-malformed-wrong-types.json", 422, "webhook_schema", {}},
      {"wa-18-malformed-missing-fields.json", 422, "webhook_schema", {}},
      {"wa-19-invalid-utf8.bin", 400, "invalid_utf8", {}},
      {"wa-20-template-quick-reply-button.json", 200, "", {T::kMessageSent}},
      {"wa-21-document-and-location-batch.json", 200, "", {T::kMessageSent, T::kMessageSent}},
      {"wa-22-status-read-without-delivered.json", 200, "", {T::kMessageStatus, T::kMessageStatus}},
      {"wa-23-non-messages-field.json", 200, "", {}},
      {"fb-24-message-and-edit.json", 200, "", {T::kMessageSent, T::kMessageEdited}},
      {"fb-25-reaction-delivery-read.json", 200, "",
       {T::kMessageStatus, T::kMessageStatus, T::kMessageReaction}},
  };
  return kAll;
}

TEST(WebhookMappingTest, EveryCorpusBodyHasItsExpectedOutcome) {
  ASSERT_EQ(Expectations().size(), test::CorpusPosts().size());
  for (const Expectation& x : Expectations()) {
    const std::string body = ReadCorpus(x.file);
    const WebhookContext ctx = CorpusContext(body);
    const WebhookResult r = test::MapCorpusFile(x.file, ctx, body);
    EXPECT_EQ(r.http_status, x.status) << x.file << ": " << r.message;
    EXPECT_EQ(r.code, x.code) << x.file << ": " << r.message;
    std::vector<EventType> types;
    for (const Event& e : r.events) {
      types.push_back(e.type);
      EXPECT_EQ(e.evidence, ctx.evidence) << x.file;
      EXPECT_EQ(e.tenant, "acme") << x.file;
      EXPECT_FALSE(e.idempotency_key.empty()) << x.file;
      EXPECT_TRUE(e.occurred_at_us.has_value()) << x.file;
    }
    EXPECT_EQ(types, x.types) << x.file;
  }
}

WebhookResult MapFile(const std::string& file) {
  const std::string body = ReadCorpus(file);
  return test::MapCorpusFile(file, CorpusContext(body), body);
}


// Erasure works by subject: every mapped event (and every seed send) names the customer's
// platform id (the conversation key's last part: wa_id, PSID), the same on every mapping of the
// same body, so a redelivery stays a duplicate and a status first in a conversation fixes the
// subject its messages will name.
TEST(WebhookMappingTest, EveryEventCarriesTheCustomersPlatformIdAsSubject) {
  size_t checked = 0;
  auto customer_of = [](const std::string& conv) { return conv.substr(conv.rfind(':') + 1); };
  for (const std::string& file : test::CorpusPosts()) {
    const std::string body = ReadCorpus(file);
    const WebhookResult a = test::MapCorpusFile(file, CorpusContext(body), body);
    const WebhookResult b = test::MapCorpusFile(file, CorpusContext(body), body);
    ASSERT_EQ(a.events.size(), b.events.size()) << file;
    for (size_t i = 0; i < a.events.size(); ++i) {
      EXPECT_EQ(a.events[i].subject, customer_of(a.events[i].conversation_id)) << file;
      EXPECT_EQ(a.events[i].subject, b.events[i].subject) << file;
      ++checked;
    }
  }
  EXPECT_GT(checked, 20u);
  auto seeds = SeedOutboundEvents(ReadCorpus("seed-outbound.json"), CorpusContext());
  ASSERT_TRUE(seeds.ok()) << seeds.status().ToString();
  for (const Event& e : *seeds) EXPECT_EQ(e.subject, customer_of(e.conversation_id));
  const WebhookResult st = MapFile("wa-08-status-sent.json");
  ASSERT_EQ(st.events.size(), 1u);
  EXPECT_EQ(st.events[0].subject, "12025550143") << st.events[0].conversation_id;
}

TEST(WebhookMappingTest, TextMessage) {
  const WebhookResult r = MapFile("wa-01-text.json");
  ASSERT_EQ(r.events.size(), 1u);
  const Event& e = r.events[0];
  EXPECT_EQ(e.conversation_id, kMaya);
  EXPECT_EQ(e.channel, Channel::kWhatsApp);
  EXPECT_EQ(e.actor, (Actor{ActorKind::kCustomer, "12025550143", "Maya Okafor"}));
  EXPECT_EQ(e.direction, Direction::kInbound);
  EXPECT_EQ(e.message_id, kA1);
  EXPECT_EQ(e.idempotency_key, std::string("wa:msg:") + kA1);
  EXPECT_EQ(*e.occurred_at_us, 1767258000LL * 1000000);
  EXPECT_EQ(e.kind, "text");
  EXPECT_EQ(e.content->text, "Hi, my order #4471 arrived damaged. Can I get a refund?");
}

TEST(WebhookMappingTest, MediaReplyReactionEditRevoke) {
  {
    const WebhookResult r = MapFile("wa-02-image-caption.json");
    ASSERT_EQ(r.events.size(), 1u);
    const Event& e = r.events[0];
    EXPECT_EQ(e.kind, "image");
    ASSERT_EQ(e.content->media.size(), 1u);
    EXPECT_EQ(e.content->media[0],
              (Media{"image/jpeg", 0, "q3Kx8WcP0v1n3y8bT2H5sL9fJw6Zk4RaUe1oCm7dXgA=",
                     "Here is the box", "1203948571629384", ""}));
  }
  {
    const WebhookResult r = MapFile("wa-03-reply-with-context.json");
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].reply_to, kB1);
    EXPECT_EQ(r.events[0].content->text,
              "The corner is crushed \xE2\x80\x94 see the photo above. Danke sch\xC3\xB6n "
              "\xF0\x9F\x91\x8D");
  }
  {
    const WebhookResult r = MapFile("wa-04-reaction.json");
    ASSERT_EQ(r.events.size(), 1u);
    const Event& e = r.events[0];
    EXPECT_EQ(e.message_id, kB1);
    EXPECT_EQ(e.action, ReactionAction::kAdd);
    EXPECT_EQ(e.emoji, "\xF0\x9F\x91\x8D");
    EXPECT_EQ(e.actor.kind, ActorKind::kCustomer);
    EXPECT_EQ(e.idempotency_key,
              "wa:reaction:wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDcwNAA=");
  }
  {
    const WebhookResult r = MapFile("wa-05-reaction-removed.json");
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].action, ReactionAction::kRemove);
    EXPECT_EQ(r.events[0].emoji, "");
  }
  {
    const WebhookResult r = MapFile("wa-06-edit-text.json");
    ASSERT_EQ(r.events.size(), 1u);
    const Event& e = r.events[0];
    EXPECT_EQ(e.message_id, kA3);  // the original, not the edit's own id
    EXPECT_EQ(e.actor.kind, ActorKind::kCustomer);
    EXPECT_EQ(e.content->text,
              "The corner is crushed and the seal is broken \xE2\x80\x94 see the photo above.");
    EXPECT_EQ(e.idempotency_key,
              "wa:edit:wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDcwNgA=");
  }
  {
    const WebhookResult r = MapFile("wa-07-revoke.json");
    ASSERT_EQ(r.events.size(), 1u);
    const Event& e = r.events[0];
    EXPECT_EQ(e.message_id, kA2);
    EXPECT_EQ(e.scope, DeleteScope::kEveryone);
    EXPECT_EQ(e.actor.kind, ActorKind::kCustomer);
    EXPECT_EQ(e.idempotency_key,
              "wa:revoke:wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDcwNwA=");
  }
}

TEST(WebhookMappingTest, Statuses) {
  const WebhookResult sent = MapFile("wa-08-status-sent.json");
  ASSERT_EQ(sent.events.size(), 1u);
  const Event& e = sent.events[0];
  EXPECT_EQ(e.conversation_id, kMaya);
  EXPECT_EQ(e.message_id, kB1);
  EXPECT_EQ(e.status, Delivery::kSent);
  EXPECT_EQ(e.actor.kind, ActorKind::kPlatform);
  EXPECT_EQ(e.idempotency_key, std::string("wa:status:") + kB1 + ":sent:1767258061");
  const WebhookResult failed = MapFile("wa-11-status-failed.json");
  ASSERT_EQ(failed.events.size(), 1u);
  EXPECT_EQ(failed.events[0].conversation_id, "wa:210987654321098:13125550187");
  EXPECT_EQ(failed.events[0].message_id, kB3);
  EXPECT_EQ(failed.events[0].status, Delivery::kFailed);
  EXPECT_EQ(failed.events[0].error_code, "131047");
  EXPECT_EQ(failed.events[0].error_title, "Re-engagement message");
  const WebhookResult skip = MapFile("wa-22-status-read-without-delivered.json");
  ASSERT_EQ(skip.events.size(), 2u);
  EXPECT_EQ(skip.events[0].status, Delivery::kSent);
  EXPECT_EQ(skip.events[1].status, Delivery::kRead);
  EXPECT_EQ(skip.events[1].message_id, kB2);
}

TEST(WebhookMappingTest, BatchesUnsupportedInteractiveButtonDocumentLocation) {
  const WebhookResult batch = MapFile("wa-12-batch-two-messages.json");
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[0].content->text, "Hello?");  // document order
  EXPECT_EQ(batch.events[1].content->text, "Is anyone there? I need help with invoice 2207.");
  const WebhookResult unsupported = MapFile("wa-14-unsupported-131051.json");
  ASSERT_EQ(unsupported.events.size(), 1u);
  EXPECT_EQ(unsupported.events[0].kind, "unsupported");
  EXPECT_EQ(unsupported.events[0].content->text, "[unsupported message: poll_creation]");
  const WebhookResult button = MapFile("wa-15-interactive-button-reply.json");
  ASSERT_EQ(button.events.size(), 1u);
  EXPECT_EQ(button.events[0].kind, "interactive");
  EXPECT_EQ(button.events[0].content->text, "Refund");
  EXPECT_EQ(button.events[0].reply_to, kB2);
  const WebhookResult quick = MapFile("wa-20-template-quick-reply-button.json");
  ASSERT_EQ(quick.events.size(), 1u);
  EXPECT_EQ(quick.events[0].kind, "button");
  EXPECT_EQ(quick.events[0].content->text, "Yes, pick it up");
  EXPECT_EQ(quick.events[0].reply_to, kB5);
  const WebhookResult docloc = MapFile("wa-21-document-and-location-batch.json");
  ASSERT_EQ(docloc.events.size(), 2u);
  EXPECT_EQ(docloc.events[0].kind, "document");
  ASSERT_EQ(docloc.events[0].content->media.size(), 1u);
  EXPECT_EQ(docloc.events[0].content->media[0].filename, "invoice-2207.pdf");
  EXPECT_EQ(docloc.events[0].content->media[0].mime, "application/pdf");
  EXPECT_EQ(docloc.events[0].content->media[0].caption, "Invoice 2207");
  EXPECT_EQ(docloc.events[1].kind, "location");
  EXPECT_EQ(docloc.events[1].content->text,
            "\xF0\x9F\x93\x8D Pickup point, 1 Example Plaza, San Francisco, CA (37.7793, -122.4193)");
}

TEST(WebhookMappingTest, IgnoredParts) {
  const WebhookResult other_field = MapFile("wa-23-non-messages-field.json");
  EXPECT_EQ(other_field.http_status, 200);
  EXPECT_TRUE(other_field.events.empty());
  ASSERT_EQ(other_field.ignored.size(), 1u);
  EXPECT_NE(other_field.ignored[0].find("message_template_status_update"), std::string::npos);

  // An account no tenant declares: 200, nothing, noted.
  const std::string body = ReadCorpus("wa-01-text.json");
  WebhookContext ctx = CorpusContext(body);
  ctx.whatsapp_tenant = [](std::string_view) { return std::optional<std::string>(); };
  const WebhookResult unknown = MapWhatsApp(body, ctx);
  EXPECT_EQ(unknown.http_status, 200);
  EXPECT_TRUE(unknown.events.empty());
  ASSERT_EQ(unknown.ignored.size(), 1u);
  EXPECT_NE(unknown.ignored[0].find("210987654321098"), std::string::npos);

  // Another object on either endpoint: 200, nothing.
  const WebhookResult page_on_wa = MapWhatsApp(ReadCorpus("fb-24-message-and-edit.json"), ctx);
  EXPECT_EQ(page_on_wa.http_status, 200);
  EXPECT_TRUE(page_on_wa.events.empty());
  EXPECT_EQ(page_on_wa.ignored.size(), 1u);
  const WebhookResult wa_on_fb = MapMessenger(body, CorpusContext(body));
  EXPECT_EQ(wa_on_fb.http_status, 200);
  EXPECT_TRUE(wa_on_fb.events.empty());
  // An unknown page.
  const std::string fb = ReadCorpus("fb-24-message-and-edit.json");
  WebhookContext no_page = CorpusContext(fb);
  no_page.messenger_tenant = nullptr;
  const WebhookResult r = MapMessenger(fb, no_page);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.ignored.size(), 1u);
}

TEST(WebhookMappingTest, Messenger) {
  const WebhookResult r = MapFile("fb-24-message-and-edit.json");
  ASSERT_EQ(r.events.size(), 2u);
  const std::string mid = "m_Q1c2VmRnZXR0aW5nLXJlYWxpc3RpYy1taWQtdmFsdWUtMDAwMDAwMDAwMDAwMDAwMDAwMDE";
  EXPECT_EQ(r.events[0].conversation_id, "fb:104857600000001:7365012345678901");
  EXPECT_EQ(r.events[0].channel, Channel::kMessenger);
  EXPECT_EQ(r.events[0].message_id, mid);
  EXPECT_EQ(r.events[0].idempotency_key, "fb:msg:" + mid);
  EXPECT_EQ(*r.events[0].occurred_at_us, 1767258060000LL * 1000);
  EXPECT_EQ(r.events[0].kind, "text");
  EXPECT_EQ(r.events[1].type, EventType::kMessageEdited);
  EXPECT_EQ(r.events[1].message_id, mid);
  EXPECT_EQ(r.events[1].content->text, "Hi, I was charged twice for order 5521");
  EXPECT_EQ(r.events[1].idempotency_key, "fb:edit:" + mid + ":1");

  const WebhookResult w = MapFile("fb-25-reaction-delivery-read.json");
  ASSERT_EQ(w.events.size(), 3u);
  EXPECT_EQ(w.events[0].message_id, kMidPage);
  EXPECT_EQ(w.events[0].status, Delivery::kDelivered);
  EXPECT_EQ(w.events[0].idempotency_key, std::string("fb:status:") + kMidPage + ":delivered:1767258099000");
  EXPECT_EQ(w.events[1].status, Delivery::kRead);
  EXPECT_EQ(w.events[2].emoji, "\xE2\x9D\xA4\xEF\xB8\x8F");
  EXPECT_EQ(w.events[2].action, ReactionAction::kAdd);
}

TEST(WebhookMappingTest, MessengerWatermarksCoverOutboundMessagesUpToTheWatermark) {
  const std::string body = ReadCorpus("fb-25-reaction-delivery-read.json");
  WebhookContext ctx = CorpusContext(body);
  std::vector<std::string> asked;
  ctx.messenger_outbound = [&](std::string_view conv) -> Result<std::vector<OutboundMessage>> {
    asked.emplace_back(conv);
    return std::vector<OutboundMessage>{
        {"m_early", 1767258000000LL * 1000, Delivery::kSent},
        {"m_read_already", 1767258001000LL * 1000, Delivery::kRead},
        {"m_late", 1767258100000LL * 1000, Delivery::kSent},  // after the watermark
        {kMidPage, 1767258090000LL * 1000, Delivery::kUnknown}};
  };
  const WebhookResult r = MapMessenger(body, ctx);
  ASSERT_EQ(r.http_status, 200);
  std::vector<std::pair<std::string, Delivery>> got;
  for (const Event& e : r.events)
    if (e.type == EventType::kMessageStatus) got.emplace_back(e.message_id, e.status);
  const std::vector<std::pair<std::string, Delivery>> want = {
      {"m_early", Delivery::kDelivered}, {kMidPage, Delivery::kDelivered},
      {"m_early", Delivery::kRead},      {kMidPage, Delivery::kRead}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(asked, std::vector<std::string>{"fb:104857600000001:7365012345678901"});

  // A lookup that fails fails the mapping, with no events.
  ctx.messenger_outbound = [](std::string_view) -> Result<std::vector<OutboundMessage>> {
    return Status::IOError("disk gone");
  };
  const WebhookResult failed = MapMessenger(body, ctx);
  EXPECT_EQ(failed.http_status, 500);
  EXPECT_EQ(failed.code, "outbound_lookup_failed");
  EXPECT_TRUE(failed.events.empty());
}

// ---- bad bodies -------------------------------------------------------------------------------

WebhookResult MapText(const std::string& body) { return MapWhatsApp(body, CorpusContext(body)); }

// wa-01 with one message field replaced by `message_json` (a JSON object's text).
std::string WithMessage(const std::string& message_json) {
  return R"({"object":"whatsapp_business_account","entry":[{"id":"109876543210987","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"12125550100","phone_number_id":"210987654321098"},"messages":[)" +
         message_json + "]}}]}]}";
}

TEST(WebhookMappingTest, InvalidUtf8IsRejectedBeforeParsing) {
  for (const std::string& bad : {std::string("\xC0\xAF"), std::string("\xFF"), std::string("\xE9"),
                                std::string("\xED\xA0\x80"),          // UTF-8 of a surrogate
                                std::string("\xF4\x90\x80\x80"),      // above U+10FFFF
                                std::string("\xE0\x80\xAF"),          // overlong 3 bytes
                                std::string("\xF0\x9F\x91")}) {       // truncated 4 bytes
    const WebhookResult r = MapText(WithMessage(
        R"({"from":"1","id":"w1","timestamp":"1","type":"text","text":{"body":")" + bad + R"("}})"));
    EXPECT_EQ(r.http_status, 400);
    EXPECT_EQ(r.code, "invalid_utf8");
    EXPECT_TRUE(r.events.empty());
  }
  // Valid multi-byte text passes.
  const WebhookResult ok = MapText(WithMessage(
      std::string(R"({"from":"1","id":"w1","timestamp":"1","type":"text","text":{"body":"\u00f6 )") +
      "\xC3\xB6 \xF0\x9F\x91\x8D\"}}"));
  EXPECT_EQ(ok.http_status, 200) << ok.message;
}

TEST(WebhookMappingTest, BrokenJsonAndLoneSurrogatesAre400) {
  for (const std::string& body :
       {std::string("{"), std::string(""), std::string("{\"object\":}"),
        WithMessage(R"({"from":"1","id":"w1","timestamp":"1","type":"text","text":{"body":"\ud83d"}})"),
        WithMessage(R"({"from":"1","id":"w1","timestamp":"1","type":"text","text":{"body":"\udc4d x"}})"),
        std::string(100, '[') + std::string(100, ']')}) {
    const WebhookResult r = MapText(body);
    EXPECT_EQ(r.http_status, 400) << body;
    EXPECT_EQ(r.code, "invalid_json") << body;
    EXPECT_TRUE(r.events.empty());
  }
}

TEST(WebhookMappingTest, SchemaBreaksRejectTheWholeBody) {
  const std::string good = R"({"from":"1","id":"w1","timestamp":"1767258000","type":"text","text":{"body":"hi"}})";
  ASSERT_EQ(MapText(WithMessage(good)).events.size(), 1u);
  const std::vector<std::string> bad = {
      R"({"id":"w2","timestamp":"1","type":"text","text":{"body":"x"}})",             // no from
      R"({"from":"1","timestamp":"1","type":"text","text":{"body":"x"}})",            // no id
      R"({"from":"1","id":"w2","type":"text","text":{"body":"x"}})",                  // no timestamp
      R"({"from":"1","id":"w2","timestamp":"1","text":{"body":"x"}})",                // no type
      R"({"from":"1","id":"w2","timestamp":1767258000,"type":"text","text":{"body":"x"}})",
      R"({"from":"1","id":"w2","timestamp":"17672x","type":"text","text":{"body":"x"}})",
      R"({"from":"1","id":"w2","timestamp":"-1","type":"text","text":{"body":"x"}})",
      R"({"from":"1","id":"w2","timestamp":"1","type":"text","text":"x"})",
      R"({"from":1,"id":"w2","timestamp":"1","type":"text","text":{"body":"x"}})",
      R"({"from":"1","id":"w2","timestamp":"1","type":"image","image":{"caption":"no id"}})",
      R"({"from":"1","id":"w2","timestamp":"1","type":"reaction","reaction":{"emoji":"x"}})",
      R"({"from":"1","id":"w2","timestamp":"1","type":"edit","edit":{"message":{"type":"text","text":{"body":"x"}}}})",
      R"({"from":"1","id":"w2","timestamp":"1","type":"revoke","revoke":{}})",
      R"({"from":"1","id":"w2","timestamp":"1","type":"location","location":{"latitude":"1","longitude":2}})",
      R"({"from":"1","id":")" + std::string(300, 'x') + R"(","timestamp":"1","type":"text","text":{"body":"x"}})",
      R"("not an object")",
  };
  for (const std::string& m : bad) {
    // The good message first: it must not survive a break later in the same body.
    const WebhookResult r = MapText(WithMessage(good + "," + m));
    EXPECT_EQ(r.http_status, 422) << m;
    EXPECT_EQ(r.code, "webhook_schema") << m;
    EXPECT_TRUE(r.events.empty()) << m;
  }
  for (const std::string& body : {std::string("[]"), std::string(R"({"entry":[]})"),
                                 std::string(R"({"object":"whatsapp_business_account"})"),
                                 std::string(R"({"object":"whatsapp_business_account","entry":{}})")}) {
    const WebhookResult r = MapText(body);
    EXPECT_EQ(r.http_status, 422) << body;
  }
  // Messenger: integer ms timestamps, mids required.
  for (const std::string& item :
       {std::string(R"({"sender":{"id":"p"},"recipient":{"id":"104857600000001"},"timestamp":"1767258060000","message":{"mid":"m","text":"x"}})"),
        std::string(R"({"sender":{"id":"p"},"recipient":{"id":"104857600000001"},"timestamp":1,"message":{"text":"x"}})"),
        std::string(R"({"recipient":{"id":"104857600000001"},"timestamp":1,"message":{"mid":"m","text":"x"}})"),
        std::string(R"({"sender":{"id":"p"},"recipient":{"id":"104857600000001"},"timestamp":1,"read":{}})"),
        std::string(R"({"sender":{"id":"p"},"recipient":{"id":"104857600000001"},"timestamp":1,"reaction":{"mid":"m","action":"poke"}})")}) {
    const std::string body = R"({"object":"page","entry":[{"id":"104857600000001","messaging":[)" + item + "]}]}";
    const WebhookResult r = MapMessenger(body, CorpusContext(body));
    EXPECT_EQ(r.http_status, 422) << item;
    EXPECT_TRUE(r.events.empty()) << item;
  }
}

TEST(WebhookMappingTest, TypesNotModelledYetAreKeptNotDropped) {
  const WebhookResult r = MapText(WithMessage(
      R"({"from":"1","id":"w9","timestamp":"1","type":"order","order":{"catalog_id":"c"}})"));
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].kind, "order");
  EXPECT_EQ(r.events[0].content->text, "[order message]");
}

}  // namespace
}  // namespace convledger::api
