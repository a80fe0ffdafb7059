// Specification of ledger/src/event_json.cc: the strict JSON form of events.
#include "ledger/event_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ledger/event.h"
#include "ledger/time.h"
#include "test_util.h"

namespace convledger {
namespace {

using json = nlohmann::json;

// A valid event of `type` with only what that type needs; tests then change one thing.
json Minimal(std::string_view type) {
  json j = {
      {"conversation_id", "conv-1"},
      {"type", type},
      {"actor", {{"kind", "agent"}, {"id", "agent-7"}}},
      {"channel", "whatsapp"},
  };
  if (type == "message.sent") {
    j["message_id"] = "wamid.1";
    j["direction"] = "outbound";
    j["content"] = {{"text", "hello"}};
  } else if (type == "message.edited") {
    j["message_id"] = "wamid.1";
    j["content"] = {{"text", "hello again"}};
  } else if (type == "message.deleted") {
    j["message_id"] = "wamid.1";
    j["scope"] = "everyone";
  } else if (type == "message.corrected") {
    j["message_id"] = "wamid.1";
    j["replacement_message_id"] = "wamid.2";
    j["reason_code"] = "wrong_price";
  } else if (type == "message.redacted") {
    j["message_id"] = "wamid.1";
    j["reason"] = "card number";
  } else if (type == "message.status") {
    j["message_id"] = "wamid.1";
    j["status"] = "delivered";
  } else if (type == "message.reaction") {
    j["message_id"] = "wamid.1";
    j["emoji"] = "\xF0\x9F\x91\x8D";
    j["action"] = "add";
  } else if (type == "consent.changed") {
    j["consent"] = "opt_in";
    j["scope"] = "marketing";
  } else if (type == "legal_hold.changed") {
    j["hold"] = "placed";
    j["case_ref"] = "CASE-1";
  } else if (type == "note.added") {
    j["text"] = "internal";
  }
  return j;
}

const std::vector<std::string> kAllTypes = {
    "message.sent",       "message.edited", "message.deleted",  "message.corrected",
    "message.redacted",   "message.status", "message.reaction", "consent.changed",
    "legal_hold.changed", "note.added"};
const std::vector<std::string> kMessageTypes = {
    "message.sent",     "message.edited", "message.deleted", "message.corrected",
    "message.redacted", "message.status", "message.reaction"};

// The full envelope every test event can carry.
json FullEnvelope(std::string_view type) {
  json j = Minimal(type);
  j["idempotency_key"] = "key-1";
  j["expected_version"] = 3;
  j["occurred_at"] = "2026-11-24T10:03:00.123456Z";
  j["actor"] = {{"kind", "agent"}, {"id", "agent-7"}, {"display", "Ana"}};
  j["tenant"] = "acme";
  j["evidence"] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  return j;
}

// Every field each type can carry, filled.
json Full(std::string_view type) {
  json j = FullEnvelope(type);
  if (type == "message.sent") {
    j["content"] = {
        {"text", "Delivery in 2 days"},
        {"media",
         {{{"mime", "image/jpeg"},
           {"size", 12345},
           {"sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
           {"caption", "the offer"},
           {"reference", "media-9"},
           {"filename", "offer.jpg"}},
          {{"mime", "application/pdf"}, {"size", 1}}}}};
    j["reply_to"] = "wamid.0";
    j["template"] = {{"name", "refund_notice"},
                     {"language", "en_US"},
                     {"category", "utility"},
                     {"parameters", {"Ana", "20 EUR"}}};
    j["kind"] = "image";
  } else if (type == "message.edited") {
    j["reason"] = "typo";
  } else if (type == "message.deleted") {
    j["reason_code"] = "wrong_price";
    j["reason"] = "price was wrong";
  } else if (type == "message.corrected") {
    j["reason_code"] = "wrong_availability";
    j["explanation"] = "We have 3 in stock, not 30.";
  } else if (type == "message.redacted") {
    j["reason"] = "card number sent by mistake";
  } else if (type == "message.status") {
    j["status"] = "failed";
    j["error"] = {{"code", "131047"}, {"title", "Re-engagement message"}};
  } else if (type == "consent.changed") {
    j["source"] = "checkout_form";
  } else if (type == "legal_hold.changed") {
    j["case_ref"] = "CASE-2026-001";
  }
  return j;
}

Result<Event> Parse(const json& j) { return ParseEventJson(j.dump()); }

// The input fields of an event: everything but what the ledger assigns and expected_version,
// which is input only and never rendered.
Event InputFields(Event e) {
  e.expected_version.reset();
  e.global_seq = 0;
  e.conversation_seq = 0;
  e.recorded_at_us = 0;
  e.event_id = {};
  e.prev_hash = {};
  e.hash = {};
  return e;
}

// EventToJson's output with the fields the ledger assigns removed: the pure input form.
std::string WithoutAssignedFields(const std::string& rendered) {
  json out = json::parse(rendered);
  for (const char* assigned :
       {"global_seq", "conversation_seq", "recorded_at", "event_id", "hash", "prev_hash"}) {
    out.erase(assigned);
  }
  return out.dump();
}

// ---------------------------------------------------------------------------------------------
// Every type parses from its JSON form.

TEST(ParseEventJsonTest, ParsesEnvelope) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("note.added")));
  EXPECT_EQ(e.conversation_id, "conv-1");
  EXPECT_EQ(e.type, EventType::kNoteAdded);
  EXPECT_EQ(e.idempotency_key, "key-1");
  EXPECT_EQ(e.expected_version, std::optional<uint64_t>(3));
  EXPECT_EQ(e.occurred_at_us, ParseRfc3339("2026-11-24T10:03:00.123456Z"));
  EXPECT_EQ(e.actor.kind, ActorKind::kAgent);
  EXPECT_EQ(e.actor.id, "agent-7");
  EXPECT_EQ(e.actor.display, "Ana");
  EXPECT_EQ(e.channel, Channel::kWhatsApp);
  EXPECT_EQ(e.tenant, "acme");
}

TEST(ParseEventJsonTest, OptionalEnvelopeFieldsDefaultWhenAbsent) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Minimal("note.added")));
  EXPECT_EQ(e.idempotency_key, "");
  EXPECT_EQ(e.expected_version, std::nullopt);
  EXPECT_EQ(e.occurred_at_us, std::nullopt);
  EXPECT_EQ(e.tenant, "");
  EXPECT_EQ(e.actor.display, "");
}

TEST(ParseEventJsonTest, ExpectedVersionZeroMeansNewConversation) {
  json j = Minimal("note.added");
  j["expected_version"] = 0;
  ASSERT_OK_AND_ASSIGN(Event e, Parse(j));
  EXPECT_EQ(e.expected_version, std::optional<uint64_t>(0));
}

TEST(ParseEventJsonTest, ParsesEveryActorKind) {
  const std::pair<const char*, ActorKind> kinds[] = {{"agent", ActorKind::kAgent},
                                                     {"customer", ActorKind::kCustomer},
                                                     {"bot", ActorKind::kBot},
                                                     {"system", ActorKind::kSystem},
                                                     {"platform", ActorKind::kPlatform}};
  for (const auto& [name, kind] : kinds) {
    json j = Minimal("note.added");
    j["actor"]["kind"] = name;
    ASSERT_OK_AND_ASSIGN(Event e, Parse(j));
    EXPECT_EQ(e.actor.kind, kind) << name;
  }
}

TEST(ParseEventJsonTest, ParsesEveryChannel) {
  const std::pair<const char*, Channel> channels[] = {{"whatsapp", Channel::kWhatsApp},
                                                      {"messenger", Channel::kMessenger},
                                                      {"sms", Channel::kSms},
                                                      {"email", Channel::kEmail},
                                                      {"webchat", Channel::kWebChat}};
  for (const auto& [name, channel] : channels) {
    json j = Minimal("note.added");
    j["channel"] = name;
    ASSERT_OK_AND_ASSIGN(Event e, Parse(j));
    EXPECT_EQ(e.channel, channel) << name;
  }
}

TEST(ParseEventJsonTest, ParsesMessageSent) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("message.sent")));
  EXPECT_EQ(e.type, EventType::kMessageSent);
  EXPECT_EQ(e.message_id, "wamid.1");
  EXPECT_EQ(e.direction, Direction::kOutbound);
  ASSERT_TRUE(e.content.has_value());
  EXPECT_EQ(e.content->text, "Delivery in 2 days");
  ASSERT_EQ(e.content->media.size(), 2u);
  const Media& m = e.content->media[0];
  EXPECT_EQ(m.mime, "image/jpeg");
  EXPECT_EQ(m.size, 12345u);
  EXPECT_EQ(m.sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(m.caption, "the offer");
  EXPECT_EQ(m.reference, "media-9");
  EXPECT_EQ(m.filename, "offer.jpg");
  EXPECT_EQ(e.content->media[1].mime, "application/pdf");
  EXPECT_EQ(e.content->media[1].size, 1u);
  EXPECT_EQ(e.content->media[1].caption, "");
  EXPECT_EQ(e.reply_to, "wamid.0");
  ASSERT_TRUE(e.template_.has_value());
  EXPECT_EQ(e.template_->name, "refund_notice");
  EXPECT_EQ(e.template_->language, "en_US");
  EXPECT_EQ(e.template_->category, "utility");
  EXPECT_EQ(e.template_->parameters, (std::vector<std::string>{"Ana", "20 EUR"}));
}

TEST(ParseEventJsonTest, ParsesInboundDirection) {
  json j = Minimal("message.sent");
  j["direction"] = "inbound";
  j["actor"]["kind"] = "customer";
  ASSERT_OK_AND_ASSIGN(Event e, Parse(j));
  EXPECT_EQ(e.direction, Direction::kInbound);
  EXPECT_FALSE(e.template_.has_value());
}

TEST(ParseEventJsonTest, ParsesMessageEdited) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("message.edited")));
  EXPECT_EQ(e.type, EventType::kMessageEdited);
  EXPECT_EQ(e.message_id, "wamid.1");
  ASSERT_TRUE(e.content.has_value());
  EXPECT_EQ(e.content->text, "hello again");
  EXPECT_EQ(e.reason, "typo");
}

TEST(ParseEventJsonTest, ParsesMessageDeletedForEveryoneAndForAgentsOnly) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("message.deleted")));
  EXPECT_EQ(e.type, EventType::kMessageDeleted);
  EXPECT_EQ(e.message_id, "wamid.1");
  EXPECT_EQ(e.scope, DeleteScope::kEveryone);
  EXPECT_EQ(e.reason_code, "wrong_price");
  EXPECT_EQ(e.reason, "price was wrong");

  json j = Full("message.deleted");
  j["scope"] = "agent_only";
  ASSERT_OK_AND_ASSIGN(Event agent_only, Parse(j));
  EXPECT_EQ(agent_only.scope, DeleteScope::kAgentOnly);
}

TEST(ParseEventJsonTest, ParsesMessageCorrected) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("message.corrected")));
  EXPECT_EQ(e.type, EventType::kMessageCorrected);
  EXPECT_EQ(e.message_id, "wamid.1");
  EXPECT_EQ(e.replacement_message_id, "wamid.2");
  EXPECT_EQ(e.reason_code, "wrong_availability");
  EXPECT_EQ(e.explanation, "We have 3 in stock, not 30.");
}

TEST(ParseEventJsonTest, ParsesMessageRedacted) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("message.redacted")));
  EXPECT_EQ(e.type, EventType::kMessageRedacted);
  EXPECT_EQ(e.message_id, "wamid.1");
  EXPECT_EQ(e.reason, "card number sent by mistake");
}

TEST(ParseEventJsonTest, ParsesEveryMessageStatus) {
  ASSERT_OK_AND_ASSIGN(Event failed, Parse(Full("message.status")));
  EXPECT_EQ(failed.type, EventType::kMessageStatus);
  EXPECT_EQ(failed.message_id, "wamid.1");
  EXPECT_EQ(failed.status, Delivery::kFailed);
  EXPECT_EQ(failed.error_code, "131047");
  EXPECT_EQ(failed.error_title, "Re-engagement message");

  const std::pair<const char*, Delivery> statuses[] = {{"sent", Delivery::kSent},
                                                       {"delivered", Delivery::kDelivered},
                                                       {"read", Delivery::kRead},
                                                       {"failed", Delivery::kFailed}};
  for (const auto& [name, status] : statuses) {
    json j = Minimal("message.status");
    j["status"] = name;
    j["actor"]["kind"] = "platform";
    ASSERT_OK_AND_ASSIGN(Event e, Parse(j));
    EXPECT_EQ(e.status, status) << name;
  }
}

TEST(ParseEventJsonTest, ParsesMessageReactionAddAndRemove) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("message.reaction")));
  EXPECT_EQ(e.type, EventType::kMessageReaction);
  EXPECT_EQ(e.message_id, "wamid.1");
  EXPECT_EQ(e.emoji, "\xF0\x9F\x91\x8D");
  EXPECT_EQ(e.action, ReactionAction::kAdd);

  json j = Minimal("message.reaction");
  j["action"] = "remove";
  ASSERT_OK_AND_ASSIGN(Event removed, Parse(j));
  EXPECT_EQ(removed.action, ReactionAction::kRemove);
}

TEST(ParseEventJsonTest, ParsesConsentChanged) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("consent.changed")));
  EXPECT_EQ(e.type, EventType::kConsentChanged);
  EXPECT_EQ(e.consent, ConsentState::kOptIn);
  EXPECT_EQ(e.consent_scope, "marketing");
  EXPECT_EQ(e.source, "checkout_form");

  json j = Minimal("consent.changed");
  j["consent"] = "opt_out";
  ASSERT_OK_AND_ASSIGN(Event out, Parse(j));
  EXPECT_EQ(out.consent, ConsentState::kOptOut);
}

TEST(ParseEventJsonTest, ParsesLegalHoldChanged) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("legal_hold.changed")));
  EXPECT_EQ(e.type, EventType::kLegalHoldChanged);
  EXPECT_EQ(e.hold, HoldAction::kPlaced);
  EXPECT_EQ(e.case_ref, "CASE-2026-001");

  json j = Minimal("legal_hold.changed");
  j["hold"] = "released";
  ASSERT_OK_AND_ASSIGN(Event released, Parse(j));
  EXPECT_EQ(released.hold, HoldAction::kReleased);
}

TEST(ParseEventJsonTest, ParsesNoteAddedTextIntoContent) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("note.added")));
  EXPECT_EQ(e.type, EventType::kNoteAdded);
  ASSERT_TRUE(e.content.has_value());
  EXPECT_EQ(e.content->text, "internal");
}

TEST(ParseEventJsonTest, FieldOrderDoesNotMatter) {
  ASSERT_OK_AND_ASSIGN(
      Event a,
      ParseEventJson(
          R"({"type":"note.added","text":"x","channel":"sms","actor":{"id":"b","kind":"bot"},"conversation_id":"c"})"));
  ASSERT_OK_AND_ASSIGN(
      Event b,
      ParseEventJson(
          R"({"conversation_id":"c","actor":{"kind":"bot","id":"b"},"channel":"sms","text":"x","type":"note.added"})"));
  EXPECT_EQ(a, b);
}

TEST(ParseEventJsonTest, AcceptsFieldsAtTheirSizeLimits) {
  json j = Minimal("message.sent");
  j["conversation_id"] = std::string(kMaxConversationIdBytes, 'c');
  j["message_id"] = std::string(kMaxIdBytes, 'm');
  j["content"]["text"] = std::string(kMaxTextBytes, 't');
  ASSERT_OK_AND_ASSIGN(Event e, Parse(j));
  EXPECT_EQ(e.conversation_id.size(), kMaxConversationIdBytes);
  EXPECT_EQ(e.content->text.size(), kMaxTextBytes);
}

TEST(ParseEventJsonTest, KeepsEscapesAndNonAsciiText) {
  const std::string text = std::string("quote\" backslash\\ slash/ newline\n tab\t nul") + '\0' +
                           " e\xCC\x81 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE2\x80\xA8";
  json j = Minimal("note.added");
  j["text"] = text;
  ASSERT_OK_AND_ASSIGN(Event e, Parse(j));
  EXPECT_EQ(e.content->text, text);
  // A surrogate pair escape is one supplementary character.
  ASSERT_OK_AND_ASSIGN(
      Event pair,
      ParseEventJson(
          R"({"conversation_id":"c","type":"note.added","actor":{"kind":"agent","id":"a"},"channel":"sms","text":"\ud83d\ude00"})"));
  EXPECT_EQ(pair.content->text, "\xF0\x9F\x98\x80");
}

// ---------------------------------------------------------------------------------------------
// Bad input of every kind is rejected with InvalidArgument and its stable reason.

TEST(ParseEventJsonTest, RejectsMalformedJson) {
  const std::string note = Minimal("note.added").dump();
  const std::string bad[] = {
      "",
      "   ",
      "{",
      "not json",
      R"({"conversation_id":"c",})",
      R"({"conversation_id" "c"})",
      R"({'conversation_id':'c'})",
      note + " trailing",
      note + note,
      note.substr(0, note.size() - 1),
      R"({"conversation_id":"c\x"})",
  };
  for (const std::string& text : bad) {
    EXPECT_STATUS(ParseEventJson(text), kInvalidArgument, "malformed_json") << text;
  }
}

TEST(ParseEventJsonTest, RejectsInvalidUtf8) {
  const std::string raw_bytes[] = {
      "\xC3\x28",      // lead byte followed by a non-continuation byte
      "\xC0\xAF",      // overlong encoding of '/'
      "\xED\xA0\x80",  // an encoded UTF-16 surrogate
      "\xFF",          // never valid
      "\xE2\x82",      // truncated sequence
  };
  for (const std::string& bytes : raw_bytes) {
    std::string text = Minimal("note.added").dump();
    const size_t at = text.find("internal");
    ASSERT_NE(at, std::string::npos);
    text.insert(at, bytes);
    EXPECT_STATUS(ParseEventJson(text), kInvalidArgument, "invalid_utf8") << text;
  }
  // Invalid bytes in a key or in the conversation id, too.
  std::string in_id = Minimal("note.added").dump();
  in_id.insert(in_id.find("conv-1"), "\xC3\x28");
  EXPECT_STATUS(ParseEventJson(in_id), kInvalidArgument, "invalid_utf8") << in_id;
}

TEST(ParseEventJsonTest, RejectsLoneSurrogateEscapes) {
  const char* escapes[] = {R"(\ud800)", R"(\udc00)", R"(\ud800\u0041)", R"(\ud800x)"};
  for (const char* esc : escapes) {
    std::string text = Minimal("note.added").dump();
    text.insert(text.find("internal"), esc);
    EXPECT_STATUS(ParseEventJson(text), kInvalidArgument, "invalid_utf8") << text;
  }
}

TEST(ParseEventJsonTest, RejectsNonObjects) {
  const char* bad[] = {"[]", R"(["a"])", R"("event")", "42", "null", "true"};
  for (const char* text : bad) {
    EXPECT_STATUS(ParseEventJson(text), kInvalidArgument, "not_an_object") << text;
  }
}

TEST(ParseEventJsonTest, RejectsUnknownFields) {
  std::vector<json> bad;
  json top = Minimal("note.added");
  top["colour"] = "red";
  bad.push_back(top);
  json in_actor = Minimal("note.added");
  in_actor["actor"]["nickname"] = "A";
  bad.push_back(in_actor);
  json in_content = Minimal("message.sent");
  in_content["content"]["html"] = "<b>hi</b>";
  bad.push_back(in_content);
  json in_media = Full("message.sent");
  in_media["content"]["media"][0]["width"] = 100;
  bad.push_back(in_media);
  json in_template = Full("message.sent");
  in_template["template"]["header"] = "x";
  bad.push_back(in_template);
  json in_error = Full("message.status");
  in_error["error"]["details"] = "x";
  bad.push_back(in_error);
  json case_differs = Minimal("note.added");
  case_differs["Tenant"] = "acme";
  bad.push_back(case_differs);
  for (const json& j : bad) {
    EXPECT_STATUS(Parse(j), kInvalidArgument, "unknown_field") << j.dump();
  }
}

TEST(ParseEventJsonTest, RejectsFieldsOfAnotherType) {
  const std::vector<std::pair<std::string, json>> bad = {
      {"message.sent", {{"emoji", "x"}}},
      {"message.sent", {{"text", "x"}}},  // note.added's field
      {"message.sent", {{"scope", "everyone"}}},
      {"message.sent", {{"status", "read"}}},
      {"message.sent", {{"reason", "x"}}},
      {"message.edited", {{"direction", "outbound"}}},
      {"message.edited", {{"template", {{"name", "t"}}}}},
      {"message.deleted", {{"content", {{"text", "x"}}}}},
      {"message.corrected", {{"reason", "x"}}},
      {"message.redacted", {{"reason_code", "other"}}},
      {"message.status", {{"action", "add"}}},
      {"message.reaction", {{"error", {{"code", "1"}}}}},
      {"consent.changed", {{"message_id", "m"}}},
      {"consent.changed", {{"hold", "placed"}}},
      {"legal_hold.changed", {{"consent", "opt_in"}}},
      {"note.added", {{"message_id", "m"}}},
      {"note.added", {{"content", {{"text", "x"}}}}},
  };
  for (const auto& [type, extra] : bad) {
    json j = Minimal(type);
    j.update(extra);
    EXPECT_STATUS(Parse(j), kInvalidArgument, "unknown_field") << j.dump();
  }
}

TEST(ParseEventJsonTest, RejectsWrongJsonTypes) {
  std::vector<json> bad;
  auto with = [&](std::string_view type, auto mutate) {
    json j = Full(type);
    mutate(j);
    bad.push_back(std::move(j));
  };
  with("note.added", [](json& j) { j["conversation_id"] = 42; });
  with("note.added", [](json& j) { j["type"] = 7; });
  with("note.added", [](json& j) { j["idempotency_key"] = true; });
  with("note.added", [](json& j) { j["expected_version"] = "3"; });
  with("note.added", [](json& j) { j["occurred_at"] = 1795514580; });
  with("note.added", [](json& j) { j["actor"] = "agent"; });
  with("note.added", [](json& j) { j["actor"]["kind"] = 1; });
  with("note.added", [](json& j) { j["actor"]["id"] = json::array({"a"}); });
  with("note.added", [](json& j) { j["channel"] = json::object(); });
  with("note.added", [](json& j) { j["tenant"] = 1.5; });
  with("note.added", [](json& j) { j["text"] = json::array({"a"}); });
  with("message.sent", [](json& j) { j["message_id"] = 12345; });
  with("message.sent", [](json& j) { j["content"] = "hello"; });
  with("message.sent", [](json& j) { j["content"]["text"] = 5; });
  with("message.sent", [](json& j) { j["content"]["media"] = json::object(); });
  with("message.sent", [](json& j) { j["content"]["media"][0] = "image.jpg"; });
  with("message.sent", [](json& j) { j["content"]["media"][0]["size"] = "12345"; });
  with("message.sent", [](json& j) { j["template"] = json::array(); });
  with("message.sent", [](json& j) { j["template"]["parameters"] = json::array({1, 2}); });
  with("message.sent", [](json& j) { j["template"]["parameters"] = "Ana"; });
  with("message.status", [](json& j) { j["error"] = "131047"; });
  with("message.status", [](json& j) { j["error"]["code"] = 131047; });
  with("message.reaction", [](json& j) { j["emoji"] = false; });
  for (const json& j : bad) {
    EXPECT_STATUS(Parse(j), kInvalidArgument, "wrong_type") << j.dump();
  }
}

TEST(ParseEventJsonTest, RejectsExpectedVersionThatIsNotANonNegativeInteger) {
  const char* bad[] = {"-1", "1.5", "1e3", "18446744073709551616"};
  for (const char* v : bad) {
    std::string text = Minimal("note.added").dump();
    text.insert(text.size() - 1, std::string(R"(,"expected_version":)") + v);
    auto r = ParseEventJson(text);
    EXPECT_TRUE(r.status().IsInvalidArgument()) << text << " -> " << r.status().ToString();
  }
}

TEST(ParseEventJsonTest, RejectsMissingRequiredFields) {
  std::vector<std::pair<std::string, std::vector<std::string>>> missing = {
      {"note.added", {"conversation_id"}},
      {"note.added", {"type"}},
      {"note.added", {"actor"}},
      {"note.added", {"actor", "kind"}},
      {"message.sent", {"direction"}},
      {"note.added", {"text"}},
      {"message.sent", {"content"}},
      {"message.edited", {"content"}},
      {"message.corrected", {"replacement_message_id"}},
      {"message.status", {"status"}},
      {"message.reaction", {"emoji"}},
      {"message.reaction", {"action"}},
      {"consent.changed", {"consent"}},
      {"legal_hold.changed", {"hold"}},
  };
  for (const std::string& type : kMessageTypes) missing.push_back({type, {"message_id"}});
  for (const auto& [type, path] : missing) {
    json j = Minimal(type);
    if (path.size() == 1) {
      j.erase(path[0]);
    } else {
      j[path[0]].erase(path[1]);
    }
    EXPECT_STATUS(Parse(j), kInvalidArgument, "missing_field") << j.dump();
  }
}

TEST(ParseEventJsonTest, RejectsOversizedFields) {
  std::vector<json> bad;
  auto with = [&](std::string_view type, auto mutate) {
    json j = Minimal(type);
    mutate(j);
    bad.push_back(std::move(j));
  };
  with("note.added", [](json& j) { j["conversation_id"] = std::string(257, 'c'); });
  // Bytes, not characters: 129 two-byte characters are 258 bytes.
  with("note.added", [](json& j) {
    std::string id;
    for (int i = 0; i < 129; ++i) id += "\xC3\xA9";
    j["conversation_id"] = id;
  });
  with("note.added", [](json& j) { j["text"] = std::string(kMaxTextBytes + 1, 't'); });
  with("message.sent", [](json& j) { j["content"]["text"] = std::string(kMaxTextBytes + 1, 't'); });
  with("message.sent", [](json& j) { j["message_id"] = std::string(kMaxIdBytes + 1, 'm'); });
  with("note.added", [](json& j) { j["actor"]["id"] = std::string(kMaxIdBytes + 1, 'a'); });
  with("note.added", [](json& j) { j["idempotency_key"] = std::string(kMaxIdBytes + 1, 'k'); });
  with("message.deleted", [](json& j) { j["reason"] = std::string(kMaxShortTextBytes + 1, 'r'); });
  with("message.corrected",
       [](json& j) { j["explanation"] = std::string(kMaxShortTextBytes + 1, 'e'); });
  with("message.sent", [](json& j) {
    j["content"]["media"] = json::array();
    for (size_t i = 0; i <= kMaxMediaItems; ++i) {
      j["content"]["media"].push_back({{"mime", "image/png"}, {"size", 1}});
    }
  });
  with("message.sent", [](json& j) {
    j["template"] = {{"name", "t"}, {"language", "en"}, {"parameters", json::array()}};
    for (size_t i = 0; i <= kMaxTemplateParameters; ++i) {
      j["template"]["parameters"].push_back("p");
    }
  });
  for (const json& j : bad) {
    std::string shown = j.dump();
    if (shown.size() > 300) shown = shown.substr(0, 300) + "...";
    EXPECT_STATUS(Parse(j), kInvalidArgument, "field_too_large") << shown;
  }
}

TEST(ParseEventJsonTest, RejectsOversizedEventLine) {
  json j = Minimal("note.added");
  // Each field within its limit, the whole line over kMaxEventJsonBytes.
  j["text"] = std::string(kMaxTextBytes, 't');
  std::string text = j.dump();
  text.insert(text.size() - 1, std::string(kMaxEventJsonBytes, ' '));
  auto r = ParseEventJson(text);
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
}

TEST(ParseEventJsonTest, RejectsEmptyRequiredStrings) {
  std::vector<json> bad;
  json conv = Minimal("note.added");
  conv["conversation_id"] = "";
  bad.push_back(conv);
  for (const std::string& type : kMessageTypes) {
    json j = Minimal(type);
    j["message_id"] = "";
    bad.push_back(j);
  }
  for (const json& j : bad) {
    EXPECT_STATUS(Parse(j), kInvalidArgument, "empty_field") << j.dump();
  }
}

TEST(ParseEventJsonTest, RejectsUnknownEventTypes) {
  const char* bad[] = {"message.sent2", "MESSAGE.SENT", "message",
                       "note",          "message.read", "message_sent"};
  for (const char* type : bad) {
    json j = Minimal("note.added");
    j["type"] = type;
    EXPECT_STATUS(Parse(j), kInvalidArgument, "unknown_event_type") << type;
  }
}

TEST(ParseEventJsonTest, RejectsUnknownEnumValues) {
  std::vector<json> bad;
  auto with = [&](std::string_view type, const char* field, const char* value) {
    json j = Minimal(type);
    j[field] = value;
    bad.push_back(std::move(j));
  };
  json robot = Minimal("note.added");
  robot["actor"]["kind"] = "robot";
  bad.push_back(robot);
  json capitalised = Minimal("note.added");
  capitalised["actor"]["kind"] = "Agent";
  bad.push_back(capitalised);
  with("note.added", "channel", "carrier_pigeon");
  with("message.sent", "direction", "sideways");
  with("message.deleted", "scope", "nobody");
  with("message.status", "status", "seen");
  with("message.reaction", "action", "toggle");
  with("consent.changed", "consent", "maybe");
  with("legal_hold.changed", "hold", "paused");
  for (const json& j : bad) {
    EXPECT_STATUS(Parse(j), kInvalidArgument, "invalid_value") << j.dump();
  }
}

TEST(ParseEventJsonTest, RejectsInvalidTimestamps) {
  const char* bad[] = {"yesterday", "2026-02-30T00:00:00Z", "2026-11-24T10:03:00", "2026-11-24",
                       "1969-12-31T23:59:59Z"};
  for (const char* ts : bad) {
    json j = Minimal("note.added");
    j["occurred_at"] = ts;
    EXPECT_STATUS(Parse(j), kInvalidArgument, "invalid_timestamp") << ts;
  }
}

TEST(ParseEventJsonTest, RejectsUnknownCorrectionReasonCodes) {
  json j = Minimal("message.corrected");
  j["reason_code"] = "changed_my_mind";
  EXPECT_STATUS(Parse(j), kInvalidArgument, "invalid_value") << j.dump();
  for (const char* code : {"wrong_price", "wrong_availability", "typo", "wrong_recipient",
                           "sensitive_data", "other"}) {
    j["reason_code"] = code;
    EXPECT_OK(Parse(j));
  }
}

TEST(ParseEventJsonTest, RejectsCorrectionThatReplacesAMessageWithItself) {
  json j = Minimal("message.corrected");
  j["replacement_message_id"] = j["message_id"];
  EXPECT_STATUS(Parse(j), kInvalidArgument, "invalid_value") << j.dump();
}

TEST(ParseEventJsonTest, ErrorMessageNamesTheField) {
  json j = Minimal("note.added");
  j["actor"]["kind"] = "robot";
  auto r = Parse(j);
  ASSERT_STATUS(r, kInvalidArgument, "invalid_value");
  EXPECT_NE(r.status().message().find("actor.kind"), std::string::npos) << r.status().ToString();
}

// ---------------------------------------------------------------------------------------------
// Batches: one object or {"events":[...]}.

TEST(ParseEventsJsonTest, AcceptsASingleObject) {
  ASSERT_OK_AND_ASSIGN(std::vector<Event> events, ParseEventsJson(Full("message.sent").dump()));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].message_id, "wamid.1");
}

TEST(ParseEventsJsonTest, ParsesABatchInOrder) {
  json batch = {{"events", json::array()}};
  for (const std::string& type : kAllTypes) batch["events"].push_back(Full(type));
  ASSERT_OK_AND_ASSIGN(std::vector<Event> events, ParseEventsJson(batch.dump()));
  ASSERT_EQ(events.size(), kAllTypes.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(ToString(events[i].type), kAllTypes[i]);
  }
}

TEST(ParseEventsJsonTest, RejectsAnEmptyBatch) {
  EXPECT_STATUS(ParseEventsJson(R"({"events":[]})"), kInvalidArgument, "empty_batch");
}

TEST(ParseEventsJsonTest, RejectsATooLargeBatch) {
  json batch = {{"events", json::array()}};
  for (size_t i = 0; i <= kMaxBatchEvents; ++i) batch["events"].push_back(Minimal("note.added"));
  EXPECT_STATUS(ParseEventsJson(batch.dump()), kInvalidArgument, "batch_too_large");
}

TEST(ParseEventsJsonTest, AcceptsABatchAtTheLimit) {
  json batch = {{"events", json::array()}};
  for (size_t i = 0; i < kMaxBatchEvents; ++i) batch["events"].push_back(Minimal("note.added"));
  ASSERT_OK_AND_ASSIGN(std::vector<Event> events, ParseEventsJson(batch.dump()));
  EXPECT_EQ(events.size(), kMaxBatchEvents);
}

TEST(ParseEventsJsonTest, ErrorsNameTheFailingIndex) {
  json batch = {
      {"events", {Minimal("note.added"), Minimal("message.sent"), Minimal("note.added")}}};
  batch["events"][2]["emoji"] = "x";
  auto r = ParseEventsJson(batch.dump());
  ASSERT_STATUS(r, kInvalidArgument, "unknown_field");
  EXPECT_NE(r.status().message().find("events[2]"), std::string::npos) << r.status().ToString();

  batch["events"][2].erase("emoji");
  batch["events"][1]["actor"]["kind"] = "robot";
  r = ParseEventsJson(batch.dump());
  ASSERT_STATUS(r, kInvalidArgument, "invalid_value");
  EXPECT_NE(r.status().message().find("events[1].actor.kind"), std::string::npos)
      << r.status().ToString();
}

TEST(ParseEventsJsonTest, RejectsMalformedBatches) {
  EXPECT_STATUS(ParseEventsJson(R"({"events":{}})"), kInvalidArgument, "wrong_type");
  EXPECT_STATUS(ParseEventsJson(R"({"events":"x"})"), kInvalidArgument, "wrong_type");
  EXPECT_STATUS(ParseEventsJson(R"({"events":[1]})"), kInvalidArgument, "not_an_object");
  EXPECT_STATUS(ParseEventsJson(R"({"events":[)"), kInvalidArgument, "malformed_json");
  EXPECT_STATUS(ParseEventsJson("[]"), kInvalidArgument, "not_an_object");
  json extra = {{"events", {Minimal("note.added")}}, {"atomic", true}};
  EXPECT_STATUS(ParseEventsJson(extra.dump()), kInvalidArgument, "unknown_field");
}

// ---------------------------------------------------------------------------------------------
// EventToJson: the input form plus the assigned fields; parsing it back gives the same event.

TEST(EventToJsonTest, InputFormOfTheOutputRoundTripsForEveryType) {
  // The output minus the assigned fields is the input form: parsing it gives the same event.
  for (const std::string& type : kAllTypes) {
    ASSERT_OK_AND_ASSIGN(Event parsed, Parse(Full(type)));
    const std::string input_form = WithoutAssignedFields(EventToJson(parsed));
    ASSERT_OK_AND_ASSIGN(Event reparsed, ParseEventJson(input_form));
    EXPECT_EQ(InputFields(reparsed), InputFields(parsed)) << type << ": " << input_form;
  }
}

TEST(EventToJsonTest, ParsesItsOwnOutputIgnoringTheAssignedFields) {
  // event.h: the assigned fields are ignored on input, so the output parses as it is.
  for (const std::string& type : kAllTypes) {
    ASSERT_OK_AND_ASSIGN(Event parsed, Parse(Full(type)));
    const std::string rendered = EventToJson(parsed);
    ASSERT_OK_AND_ASSIGN(Event reparsed, ParseEventJson(rendered));
    EXPECT_EQ(InputFields(reparsed), InputFields(parsed)) << type << ": " << rendered;
  }
}

TEST(EventToJsonTest, InputFormOfTheOutputRoundTripsForMinimalEvents) {
  for (const std::string& type : kAllTypes) {
    ASSERT_OK_AND_ASSIGN(Event parsed, Parse(Minimal(type)));
    const std::string rendered = WithoutAssignedFields(EventToJson(parsed));
    ASSERT_OK_AND_ASSIGN(Event reparsed, ParseEventJson(rendered));
    EXPECT_EQ(InputFields(reparsed), InputFields(parsed)) << type << ": " << rendered;
  }
}

TEST(EventToJsonTest, InputFormOfTheOutputKeepsAwkwardStrings) {
  const std::string text = std::string("a\"b\\c\nd\te\x01") + '\0' + "\xF0\x9F\x98\x80\xE2\x80\xA8";
  json j = Full("message.sent");
  j["content"]["text"] = text;
  j["conversation_id"] = std::string("conv\0\x01", 6);
  ASSERT_OK_AND_ASSIGN(Event parsed, Parse(j));
  ASSERT_OK_AND_ASSIGN(Event reparsed, ParseEventJson(WithoutAssignedFields(EventToJson(parsed))));
  EXPECT_EQ(reparsed.content->text, text);
  EXPECT_EQ(reparsed.conversation_id, std::string("conv\0\x01", 6));
}

TEST(EventToJsonTest, RendersOneLineOfJsonWithTheInputFieldNames) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("message.sent")));
  const std::string rendered = EventToJson(e);
  EXPECT_EQ(rendered.find('\n'), std::string::npos) << rendered;
  const json out = json::parse(rendered);
  EXPECT_EQ(out.at("conversation_id"), "conv-1");
  EXPECT_EQ(out.at("type"), "message.sent");
  EXPECT_EQ(out.at("idempotency_key"), "key-1");
  EXPECT_EQ(out.at("occurred_at"), "2026-11-24T10:03:00.123456Z");
  EXPECT_EQ(out.at("actor").at("kind"), "agent");
  EXPECT_EQ(out.at("actor").at("id"), "agent-7");
  EXPECT_EQ(out.at("actor").at("display"), "Ana");
  EXPECT_EQ(out.at("channel"), "whatsapp");
  EXPECT_EQ(out.at("tenant"), "acme");
  EXPECT_EQ(out.at("message_id"), "wamid.1");
  EXPECT_EQ(out.at("direction"), "outbound");
  EXPECT_EQ(out.at("content").at("text"), "Delivery in 2 days");
  EXPECT_EQ(out.at("content").at("media").at(0).at("size"), 12345);
  EXPECT_EQ(out.at("content").at("media").at(0).at("filename"), "offer.jpg");
  EXPECT_EQ(out.at("reply_to"), "wamid.0");
  EXPECT_EQ(out.at("template").at("name"), "refund_notice");
  EXPECT_EQ(out.at("template").at("parameters"), json({"Ana", "20 EUR"}));
  EXPECT_EQ(out.at("kind"), "image");
  EXPECT_EQ(out.at("evidence"), "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
}

TEST(ParseEventJsonTest, ParsesKindAndEvidence) {
  json j = Minimal("message.sent");
  j["kind"] = "location";
  // Either case is accepted; the output is lower case.
  j["evidence"] = "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789";
  ASSERT_OK_AND_ASSIGN(Event e, Parse(j));
  EXPECT_EQ(e.kind, "location");
  EXPECT_EQ(HexDigest(e.evidence),
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  // Absent: empty kind, zero evidence, and neither is rendered.
  ASSERT_OK_AND_ASSIGN(Event plain, Parse(Minimal("message.sent")));
  EXPECT_EQ(plain.kind, "");
  EXPECT_EQ(plain.evidence, Digest{});
  const json out = json::parse(EventToJson(plain));
  EXPECT_FALSE(out.contains("kind"));
  EXPECT_FALSE(out.contains("evidence"));
}

TEST(ParseEventJsonTest, RejectsEvidenceThatIsNotADigestAndKindOutsideMessageSent) {
  for (const std::string& bad :
       {std::string(63, 'a'), std::string(65, 'a'), std::string(64, 'g'), "sha256=" + std::string(64, 'a')}) {
    json j = Minimal("note.added");
    j["evidence"] = bad;
    EXPECT_STATUS(Parse(j), kInvalidArgument, "invalid_value") << bad;
  }
  json j = Minimal("message.edited");
  j["kind"] = "text";
  EXPECT_STATUS(Parse(j), kInvalidArgument, "unknown_field");
}

TEST(EventToJsonTest, RendersTheAssignedFields) {
  ASSERT_OK_AND_ASSIGN(Event e, Parse(Full("note.added")));
  e.global_seq = 17;
  e.conversation_seq = 4;
  e.recorded_at_us = *ParseRfc3339("2026-11-24T10:03:01.5Z");
  for (size_t i = 0; i < e.hash.size(); ++i) {
    e.hash[i] = static_cast<uint8_t>(i);
    e.prev_hash[i] = static_cast<uint8_t>(0xff - i);
  }
  for (size_t i = 0; i < e.event_id.size(); ++i) e.event_id[i] = static_cast<uint8_t>(0xa0 + i);
  const json out = json::parse(EventToJson(e));
  EXPECT_EQ(out.at("global_seq"), 17);
  EXPECT_EQ(out.at("conversation_seq"), 4);
  EXPECT_EQ(out.at("recorded_at"), "2026-11-24T10:03:01.500000Z");
  EXPECT_EQ(out.at("hash"), HexDigest(e.hash));
  EXPECT_EQ(out.at("hash"), "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  EXPECT_EQ(out.at("prev_hash"), HexDigest(e.prev_hash));
  EXPECT_EQ(out.at("event_id"), FormatEventId(e.event_id));
  EXPECT_EQ(out.at("event_id"), "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
  // The note's text is rendered as `text`, as it is written.
  EXPECT_EQ(out.at("text"), "internal");
}

TEST(EventToJsonTest, RendersOnlyTheFieldsOfItsType) {
  for (const std::string& type : kAllTypes) {
    ASSERT_OK_AND_ASSIGN(Event e, Parse(Minimal(type)));
    const json out = json::parse(EventToJson(e));
    if (type != "message.reaction") {
      EXPECT_FALSE(out.contains("emoji")) << type;
    }
    if (type != "message.status") {
      EXPECT_FALSE(out.contains("status")) << type;
    }
    if (type != "legal_hold.changed") {
      EXPECT_FALSE(out.contains("hold")) << type;
    }
    if (type != "consent.changed") {
      EXPECT_FALSE(out.contains("consent")) << type;
    }
    if (type != "message.sent") {
      EXPECT_FALSE(out.contains("direction")) << type;
    }
  }
}

}  // namespace
}  // namespace convledger
