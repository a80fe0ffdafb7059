// Property tests of the three views (projections/src/*.cc) run by the ledger: thousands of
// generated conversations, random but valid, appended through a real Ledger with MakeAll().
//
//  (a) a rebuild from the log equals the incrementally maintained state, for every projection;
//  (b) the customer view never contains the text of a message deleted for everyone (within the
//      channel's window), of a redacted message, of an internal note, nor reasons, consent and
//      legal-hold details or internal actor ids -- and does contain untouched messages;
//  (c) as of the last global sequence (or a time after everything) equals the current view;
//  (d) as of global sequence k equals the view of the log cut at k (the prefix folded into a
//      MemoryState and rendered);
//  (e) folding the same log twice gives identical state, equal to the stored state.
//
// The seed is printed; rerun one with CONVLEDGER_PROPERTY_SEED=<seed>. The size can be changed
// with CONVLEDGER_PROPERTY_CONVERSATIONS (default 2000).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ledger/content.h"
#include "ledger/ledger.h"
#include "ledger/test_util.h"
#include "ledger/time.h"
#include "projections/projections.h"

namespace convledger::projections {
namespace {

constexpr int64_t kSecond = 1000000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
// 2026-11-16T00:00:00Z
constexpr int64_t kBase = 1794787200LL * kSecond;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

// What a channel lets the platform do with "delete for everyone" (mirrors the channel rules the
// folds keep as data; the generator keeps deletions well away from the window edges).
struct DeleteRule {
  bool can_delete;
  int64_t window_us;  // 0: no limit
};
DeleteRule DeleteRuleFor(Channel c) {
  switch (c) {
    case Channel::kWhatsApp:
      return {true, 60 * kHour};
    case Channel::kMessenger:
      return {true, 10 * kMinute};
    case Channel::kSms:
    case Channel::kEmail:
      return {false, 0};
    case Channel::kWebChat:
    case Channel::kUnknown:
      return {true, 0};
  }
  return {true, 0};
}

// What a channel lets a sender do with an edit (mirrors the channel rules, as above).
struct EditRule {
  bool can_edit;
  int64_t window_us;  // 0: no limit
};
EditRule EditRuleFor(Channel c) {
  switch (c) {
    case Channel::kWhatsApp:
    case Channel::kMessenger:
      return {true, 15 * kMinute};
    case Channel::kSms:
    case Channel::kEmail:
      return {false, 0};
    case Channel::kWebChat:
    case Channel::kUnknown:
      return {true, 0};
  }
  return {true, 0};
}

struct GenMessage {
  std::string id;
  bool outbound = false;
  int64_t sent_at = 0;
  std::vector<std::string> markers;  // every version's text, caption and template parameters
  std::string first_text;            // the marker of the text it was sent with
  std::vector<std::pair<std::string, int64_t>> edits;  // each edit's text marker and time
  int64_t deleted_at = 0;            // when deleted for everyone
  bool edited = false;
  bool deleted_everyone = false;     // by anyone
  bool deleted_agent_only = false;
  bool redacted = false;
  bool corrected = false;  // the wrong message of a correction
  bool failed = false;     // a `failed` status was reported
  size_t send_index = 0;   // position of its message.sent in the recorded order
};

struct GenConversation {
  std::string id;
  std::string tenant;
  Channel channel = Channel::kWhatsApp;
  std::vector<Event> recorded;           // in the order they are appended
  std::vector<std::string> hidden;       // must never appear in the customer view
  std::vector<std::string> visible;      // must appear in the customer view
  int64_t last_occurred = 0;
  bool held = false;  // a legal hold was placed (each release names a case of its own)
};

// Generates one conversation: a simulation in true (platform) time, recorded in an order where
// platform observations arrive late, in reverse or even before the message they are about, and
// customer edits may arrive before their original.
class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  GenConversation Make(size_t index) {
    GenConversation c;
    conv_ = &c;
    messages_.clear();
    pending_.clear();
    c.id = "prop-" + std::to_string(index);
    c.tenant = Pick<std::string>({"t-alpha", "t-beta", "t-gamma"});
    const int ch = Uniform(0, 99);
    c.channel = ch < 60   ? Channel::kWhatsApp
                : ch < 72 ? Channel::kMessenger
                : ch < 82 ? Channel::kSms
                : ch < 90 ? Channel::kEmail
                          : Channel::kWebChat;
    now_ = kBase + Uniform(0, 6) * kDay + Uniform(0, 86399) * kSecond;
    customer_ = "cust-" + std::to_string(index);
    agents_ = {"agt-internal-" + std::to_string(Uniform(1, 20)),
               "agt-internal-" + std::to_string(Uniform(21, 40))};

    if (Chance(50)) Consent(ConsentState::kOptIn, "marketing");
    const int steps = Uniform(6, 14);
    for (int i = 0; i < steps; ++i) {
      Step();
      if (Chance(50)) FlushSome();
    }
    FlushAll();
    c.last_occurred = now_;
    for (const GenMessage& m : messages_) Classify(m);
    conv_ = nullptr;
    return c;
  }

 private:
  // ---- randomness ----
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(int percent) { return Uniform(0, 99) < percent; }
  template <typename T>
  T Pick(std::initializer_list<T> items) {
    return *(items.begin() + Uniform(0, static_cast<int>(items.size()) - 1));
  }
  std::string Marker() {
    char buf[32];
    std::snprintf(buf, sizeof buf, "MK%08lluZ", static_cast<unsigned long long>(++markers_));
    return buf;
  }

  void Advance() {
    const int r = Uniform(0, 99);
    if (r < 70) now_ += Uniform(1, 300) * kSecond;
    else if (r < 95) now_ += Uniform(5, 90) * kMinute;
    else now_ += Uniform(1, 4) * kDay;
  }

  Event Base(EventType type, ActorKind kind, const std::string& actor_id) {
    Event e;
    e.type = type;
    e.conversation_id = conv_->id;
    e.tenant = conv_->tenant;
    e.channel = conv_->channel;
    e.actor.kind = kind;
    e.actor.id = actor_id;
    e.actor.display = kind == ActorKind::kCustomer ? "Customer" : "Staff";
    e.occurred_at_us = now_;
    return e;
  }
  std::string Agent() { return agents_[static_cast<size_t>(Uniform(0, 1))]; }

  size_t Record(Event e) {
    conv_->recorded.push_back(std::move(e));
    return conv_->recorded.size() - 1;
  }
  // Inserts `e` at `pos` of the recorded order, shifting the send indexes after it.
  void RecordAt(size_t pos, Event e) {
    conv_->recorded.insert(conv_->recorded.begin() + static_cast<long>(pos), std::move(e));
    for (GenMessage& m : messages_)
      if (m.send_index >= pos) ++m.send_index;
  }

  // ---- steps ----
  void Step() {
    Advance();
    const int r = Uniform(0, 99);
    if (r < 20) return SendInbound();
    if (r < 42) return SendOutbound();
    if (r < 50) return AgentEdit();
    if (r < 53) return CustomerEdit();
    if (r < 61) return Delete();
    if (r < 66) return Correct();
    if (r < 70) return Redact();
    if (r < 77) return React();
    if (r < 83) return Note();
    if (r < 87) return Consent(Chance(50) ? ConsentState::kOptIn : ConsentState::kOptOut,
                               Chance(70) ? "marketing" : "transactional");
    if (r < 89) return Hold();
    return SendOutbound();
  }

  Content Text(GenMessage* m, bool media) {
    Content c;
    const std::string mk = Marker();
    c.text = "text " + mk + " of " + m->id;
    m->markers.push_back(mk);
    if (media) {
      Media md;
      md.mime = "image/jpeg";
      md.size = static_cast<uint64_t>(Uniform(1000, 90000));
      md.reference = "media-" + m->id;
      const std::string cap = Marker();
      md.caption = "caption " + cap;
      m->markers.push_back(cap);
      c.media.push_back(md);
    }
    return c;
  }

  void SendInbound() {
    GenMessage m;
    m.id = "in-" + std::to_string(messages_.size());
    m.sent_at = now_;
    Event e = Base(EventType::kMessageSent, ActorKind::kCustomer, customer_);
    e.message_id = m.id;
    e.direction = Direction::kInbound;
    e.content = Text(&m, Chance(10));
    m.first_text = m.markers.front();
    m.send_index = Record(std::move(e));
    messages_.push_back(std::move(m));
  }

  GenMessage& SendOutboundMessage(bool allow_template) {
    GenMessage m;
    m.id = "out-" + std::to_string(messages_.size());
    m.outbound = true;
    m.sent_at = now_;
    const bool bot = Chance(25);
    Event e = bot ? Base(EventType::kMessageSent, ActorKind::kBot, "bot-internal-" + std::to_string(Uniform(1, 3)))
                  : Base(EventType::kMessageSent, ActorKind::kAgent, Agent());
    e.message_id = m.id;
    e.direction = Direction::kOutbound;
    e.content = Text(&m, Chance(8));
    m.first_text = m.markers.front();
    if (allow_template && (bot || Chance(15))) {
      Template t;
      const int k = Uniform(0, 3);
      t.name = k == 0 ? "promo_week" : k == 1 ? "refund_issued" : k == 2 ? "order_cancelled" : "shipping_update";
      t.category = k == 0 ? "marketing" : "utility";
      t.language = "en";
      const std::string p = Marker();
      t.parameters = {"param " + p};
      m.markers.push_back(p);
      e.template_ = t;
    }
    if (!messages_.empty() && Chance(20))
      e.reply_to = messages_[static_cast<size_t>(Uniform(0, static_cast<int>(messages_.size()) - 1))].id;
    m.send_index = Record(std::move(e));
    messages_.push_back(std::move(m));
    GenMessage& sent = messages_.back();
    Statuses(sent);
    return sent;
  }
  void SendOutbound() { SendOutboundMessage(true); }

  // The platform's receipts for an outbound message, at their true times, delivered to us late
  // and in any order (sometimes before we recorded the send itself).
  void Statuses(GenMessage& m) {
    std::vector<std::pair<Delivery, int64_t>> s;
    int64_t t = m.sent_at + Uniform(1, 3) * kSecond;
    if (Chance(8)) {
      s.push_back({Delivery::kSent, t});
      s.push_back({Delivery::kFailed, t + Uniform(1, 30) * kSecond});
      m.failed = true;
    } else {
      if (Chance(80)) s.push_back({Delivery::kSent, t});
      t += Uniform(1, 120) * kSecond;
      if (Chance(85)) s.push_back({Delivery::kDelivered, t});
      t += Uniform(5, 3600) * kSecond;
      if (Chance(60)) s.push_back({Delivery::kRead, t});
      // A late, conflicting report after `read` (ticks must not go backwards).
      if (Chance(5)) s.push_back({Delivery::kDelivered, t + Uniform(1, 60) * kSecond});
    }
    for (auto& [status, at] : s) {
      Event e = Base(EventType::kMessageStatus, ActorKind::kPlatform, "whatsapp-cloud-api");
      e.message_id = m.id;
      e.status = status;
      e.occurred_at_us = at;
      if (status == Delivery::kFailed) {
        e.error_code = "131026";
        e.error_title = "Message undeliverable";
      }
      if (Chance(3)) {
        RecordAt(m.send_index, std::move(e));  // the receipt arrived before the send
      } else {
        pending_.push_back(std::move(e));
      }
    }
  }

  void FlushSome() {
    std::shuffle(pending_.begin(), pending_.end(), rng_);
    const size_t n = static_cast<size_t>(Uniform(0, static_cast<int>(pending_.size())));
    for (size_t i = 0; i < n; ++i) Record(std::move(pending_[i]));
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(n));
  }
  void FlushAll() {
    std::shuffle(pending_.begin(), pending_.end(), rng_);
    for (Event& e : pending_) Record(std::move(e));
    pending_.clear();
  }

  GenMessage* PickMessage(bool outbound_only, bool inbound_only) {
    std::vector<GenMessage*> c;
    for (GenMessage& m : messages_)
      if ((!outbound_only || m.outbound) && (!inbound_only || !m.outbound)) c.push_back(&m);
    if (c.empty()) return nullptr;
    return c[static_cast<size_t>(Uniform(0, static_cast<int>(c.size()) - 1))];
  }

  void AgentEdit() {
    GenMessage* m = PickMessage(true, false);
    if (!m || m->deleted_everyone || m->redacted) return SendOutbound();
    AwayFromEditWindowEdge(*m);
    Event e = Base(EventType::kMessageEdited, ActorKind::kAgent, Agent());
    e.message_id = m->id;
    e.content = Text(m, false);
    m->edits.push_back({m->markers.back(), now_});
    if (Chance(50)) {
      const std::string r = Marker();
      e.reason = "edit reason " + r;
      conv_->hidden.push_back(r);
    }
    m->edited = true;
    Record(std::move(e));
  }

  void CustomerEdit() {
    GenMessage* m = PickMessage(false, true);
    if (!m || m->deleted_everyone || m->redacted) return SendInbound();
    AwayFromEditWindowEdge(*m);
    Event e = Base(EventType::kMessageEdited, ActorKind::kCustomer, customer_);
    e.message_id = m->id;
    e.content = Text(m, false);
    m->edits.push_back({m->markers.back(), now_});
    m->edited = true;
    if (Chance(30)) {
      RecordAt(m->send_index, std::move(e));  // the edit arrived before its original
    } else {
      Record(std::move(e));
    }
  }

  // Keeps a deletion of `m` clearly inside or outside the channel's window.
  void AwayFromWindowEdge(const GenMessage& m) {
    const DeleteRule rule = DeleteRuleFor(conv_->channel);
    if (rule.window_us == 0) return;
    const int64_t age = now_ - m.sent_at;
    if (age > rule.window_us - 30 * kSecond && age < rule.window_us + 30 * kSecond)
      now_ = m.sent_at + rule.window_us + Uniform(31, 90) * kSecond;
  }

  // Keeps an edit of `m` clearly inside or outside the channel's edit window.
  void AwayFromEditWindowEdge(const GenMessage& m) {
    const EditRule rule = EditRuleFor(conv_->channel);
    if (rule.window_us == 0) return;
    const int64_t age = now_ - m.sent_at;
    if (age > rule.window_us - 30 * kSecond && age < rule.window_us + 30 * kSecond)
      now_ = m.sent_at + rule.window_us + Uniform(31, 90) * kSecond;
  }

  void DeleteEveryone(GenMessage* m, ActorKind kind, const std::string& actor) {
    AwayFromWindowEdge(*m);
    Event e = Base(EventType::kMessageDeleted, kind, actor);
    e.message_id = m->id;
    e.scope = DeleteScope::kEveryone;
    if (Chance(50)) e.reason_code = Pick<std::string>({"wrong_price", "wrong_availability", "typo"});
    if (Chance(50)) {
      const std::string r = Marker();
      e.reason = "delete reason " + r;
      conv_->hidden.push_back(r);
    }
    m->deleted_everyone = true;
    m->deleted_at = now_;
    Record(std::move(e));
  }

  void Delete() {
    GenMessage* m = PickMessage(false, false);
    if (!m || m->deleted_everyone) return SendInbound();
    if (m->outbound) {
      if (Chance(75)) return DeleteEveryone(m, ActorKind::kAgent, Agent());
    } else if (Chance(50)) {
      return DeleteEveryone(m, ActorKind::kCustomer, customer_);  // the customer unsent it
    }
    Event e = Base(EventType::kMessageDeleted, ActorKind::kAgent, Agent());
    e.message_id = m->id;
    e.scope = DeleteScope::kAgentOnly;
    if (Chance(50)) {
      const std::string r = Marker();
      e.reason = "hide reason " + r;
      conv_->hidden.push_back(r);
    }
    m->deleted_agent_only = true;
    Record(std::move(e));
  }

  void Correct() {
    GenMessage* wrong = PickMessage(true, false);
    if (!wrong || wrong->redacted) return SendOutbound();
    const std::string wrong_id = wrong->id;
    if (!wrong->deleted_everyone && Chance(50)) DeleteEveryone(wrong, ActorKind::kAgent, Agent());
    now_ += Uniform(5, 120) * kSecond;
    GenMessage& repl = SendOutboundMessage(false);  // may move `messages_`: look `wrong` up again
    GenMessage* w = nullptr;
    for (GenMessage& m : messages_)
      if (m.id == wrong_id) w = &m;
    now_ += Uniform(1, 30) * kSecond;
    Event e = Base(EventType::kMessageCorrected, ActorKind::kAgent, Agent());
    e.message_id = wrong_id;
    e.replacement_message_id = repl.id;
    e.reason_code = Pick<std::string>(
        {"wrong_price", "wrong_availability", "typo", "wrong_recipient", "sensitive_data", "other"});
    if (Chance(70)) e.explanation = "Sorry, that was wrong; see the next message.";
    w->corrected = true;
    Record(std::move(e));
  }

  void Redact() {
    GenMessage* m = PickMessage(false, false);
    if (!m || m->redacted) return Note();
    Event e = Base(EventType::kMessageRedacted, ActorKind::kAgent, Agent());
    e.message_id = m->id;
    // Under a legal hold the ledger refuses a redaction unless overridden: the generator's
    // operators override (recorded in the event), which also exercises that path in the views.
    e.override_hold = conv_->held;
    const std::string r = Marker();
    e.reason = "redaction reason " + r;
    conv_->hidden.push_back(r);
    m->redacted = true;
    Record(std::move(e));
  }

  void React() {
    GenMessage* m = PickMessage(false, false);
    if (!m) return SendInbound();
    if (m->outbound) {
      Event e = Base(EventType::kMessageReaction, ActorKind::kCustomer, customer_);
      e.message_id = m->id;
      e.action = Chance(80) ? ReactionAction::kAdd : ReactionAction::kRemove;
      if (e.action == ReactionAction::kAdd) e.emoji = Pick<std::string>({"\xF0\x9F\x91\x8D", "\xE2\x9D\xA4"});
      Record(std::move(e));
    } else if (!m->deleted_everyone) {
      Event e = Base(EventType::kMessageReaction, ActorKind::kAgent, Agent());
      e.message_id = m->id;
      e.action = ReactionAction::kAdd;
      e.emoji = "\xF0\x9F\x99\x8F";
      Record(std::move(e));
    }
  }

  void Note() {
    Event e = Base(EventType::kNoteAdded, ActorKind::kAgent, Agent());
    const std::string mk = Marker();
    e.content = Content{"internal note " + mk, {}};
    conv_->hidden.push_back(mk);
    Record(std::move(e));
  }

  void Consent(ConsentState state, const std::string& scope) {
    Event e = Base(EventType::kConsentChanged, ActorKind::kSystem, "sys-internal-checkout");
    e.consent = state;
    e.consent_scope = scope;
    const std::string mk = Marker();
    e.source = "consent source " + mk;
    conv_->hidden.push_back(mk);
    Record(std::move(e));
  }

  void Hold() {
    Event e = Base(EventType::kLegalHoldChanged, ActorKind::kAgent, "agt-internal-legal");
    e.hold = Chance(70) ? HoldAction::kPlaced : HoldAction::kReleased;
    if (e.hold == HoldAction::kPlaced) conv_->held = true;
    const std::string mk = Marker();
    e.case_ref = "CASE-" + mk;
    conv_->hidden.push_back(mk);
    Record(std::move(e));
  }

  // What the customer's app must and must not show of a message.
  void Classify(const GenMessage& m) {
    const DeleteRule rule = DeleteRuleFor(conv_->channel);
    const bool removed =
        m.deleted_everyone && rule.can_delete &&
        (rule.window_us == 0 || m.deleted_at - m.sent_at <= rule.window_us);
    if (m.redacted || removed) {
      for (const std::string& mk : m.markers) conv_->hidden.push_back(mk);
      return;
    }
    if (m.corrected || m.failed) return;  // what they show is the folds' business, not checked
    if (!m.edited) {
      // Untouched, or deleted where (or when) the platform cannot unsend: shown as sent.
      conv_->visible.push_back(m.first_text);
      return;
    }
    // Edited: the customer sees the last edit the platform applied (within its window; none on
    // channels without edits), and no other version.
    const EditRule edit = EditRuleFor(conv_->channel);
    std::string shown = m.first_text;
    for (const auto& [mk, at] : m.edits) {
      if (edit.can_edit && (edit.window_us == 0 || at - m.sent_at <= edit.window_us)) shown = mk;
    }
    conv_->visible.push_back(shown);
    if (shown != m.first_text) conv_->hidden.push_back(m.first_text);
    for (const auto& [mk, at] : m.edits)
      if (mk != shown) conv_->hidden.push_back(mk);
  }

  std::mt19937_64 rng_;
  uint64_t markers_ = 0;
  GenConversation* conv_ = nullptr;
  std::vector<GenMessage> messages_;
  std::vector<Event> pending_;
  int64_t now_ = 0;
  std::string customer_;
  std::vector<std::string> agents_;

};

// One generated ledger for the whole suite (building it is most of the run time).
struct World {
  uint64_t seed = 0;
  test::TempDir dir;
  std::unique_ptr<Ledger> ledger;
  std::vector<GenConversation> conversations;
  std::vector<Event> log;  // the stored log, decoded, in global order
  uint64_t last = 0;
  bool complete = false;   // every generated event appended and read back
};

class PropertyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    world_ = new World;
    World& w = *world_;
    w.seed = EnvOr("CONVLEDGER_PROPERTY_SEED", std::random_device{}());
    const size_t n = EnvOr("CONVLEDGER_PROPERTY_CONVERSATIONS", 2000);
    std::cout << "[ property ] seed " << w.seed << " (CONVLEDGER_PROPERTY_SEED=" << w.seed
              << " to repeat), " << n << " conversations" << std::endl;
    ::testing::Test::RecordProperty("seed", std::to_string(w.seed));
    const auto t0 = std::chrono::steady_clock::now();

    Generator gen(w.seed);
    for (size_t i = 0; i < n; ++i) w.conversations.push_back(gen.Make(i));

    Options o;
    o.projections = MakeAll();
    auto opened = Ledger::Open(w.dir.Sub("ledger"), o);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    w.ledger = std::move(opened).value();
    ASSERT_TRUE(w.ledger->WaitForProjections(std::chrono::seconds(30)));

    // Interleave the conversations as traffic would, in appends of up to 32 events.
    std::mt19937_64 rng(w.seed ^ 0x5eed);
    std::vector<size_t> next(n, 0), open;
    for (size_t i = 0; i < n; ++i) open.push_back(i);
    std::vector<Event> batch;
    auto flush = [&] {
      if (batch.empty()) return;
      auto r = w.ledger->Append(std::move(batch));
      batch.clear();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    };
    while (!open.empty()) {
      const size_t k = std::uniform_int_distribution<size_t>(0, open.size() - 1)(rng);
      GenConversation& c = w.conversations[open[k]];
      batch.push_back(c.recorded[next[open[k]]++]);
      if (next[open[k]] == c.recorded.size()) {
        open[k] = open.back();
        open.pop_back();
      }
      if (batch.size() >= 32 || std::uniform_int_distribution<int>(0, 9)(rng) == 0) flush();
      if (::testing::Test::HasFatalFailure()) return;
    }
    flush();
    if (::testing::Test::HasFatalFailure()) return;
    w.last = w.ledger->LastGlobalSeq();
    auto all = w.ledger->ReadGlobal(0);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    w.log = std::move(all).value();
    ASSERT_EQ(w.log.size(), w.last);
    std::cout << "[ property ] " << w.last << " events appended in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - t0)
                     .count()
              << " ms" << std::endl;
    w.complete = true;
  }
  static void TearDownTestSuite() {
    delete world_;
    world_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(world_, nullptr);
    ASSERT_TRUE(world_->ledger) << "the generated ledger could not be built";
    // A failure inside SetUpTestSuite alone would make every test "skipped", which ctest counts
    // as passing: fail each test instead.
    ASSERT_TRUE(world_->complete) << "the generated log could not be appended (see above)";
  }

  // A deterministic sample of conversation indexes (every k-th, about `n`).
  static std::vector<size_t> Sample(size_t n) {
    std::vector<size_t> out;
    const size_t total = world_->conversations.size();
    const size_t step = std::max<size_t>(1, total / n);
    for (size_t i = 0; i < total; i += step) out.push_back(i);
    return out;
  }

  // Folds events [0, k) of the log into a fresh state with `projection`.
  static MemoryState FoldPrefix(Projection& projection, uint64_t k) {
    MemoryState state;
    for (uint64_t i = 0; i < k && i < world_->log.size(); ++i) {
      Status st = projection.Apply(world_->log[i], state);
      EXPECT_TRUE(st.ok()) << "global_seq " << world_->log[i].global_seq << ": " << st.ToString();
    }
    state.set_checkpoint(k);
    return state;
  }

  static std::string Show(const Result<std::string>& r) {
    return r.ok() ? *r : "<" + r.status().ToString() + ">";
  }

  // Byte-for-byte equality of two rendered views; on a difference, says where (as a JSON
  // Patch from `expected` to `actual`) rather than printing two long documents.
  static ::testing::AssertionResult SameView(const Result<std::string>& actual,
                                             const Result<std::string>& expected) {
    const std::string a = Show(actual), e = Show(expected);
    if (a == e) return ::testing::AssertionSuccess();
    const auto ja = nlohmann::json::parse(a, nullptr, false);
    const auto je = nlohmann::json::parse(e, nullptr, false);
    std::string where;
    if (ja.is_discarded() || je.is_discarded()) {
      where = "actual: " + a.substr(0, 400) + "\nexpected: " + e.substr(0, 400);
    } else {
      where = nlohmann::json::diff(je, ja).dump();
      if (where.size() > 1500) where = where.substr(0, 1500) + "...";
    }
    return ::testing::AssertionFailure() << "views differ (patch from expected to actual): "
                                         << where << " (seed " << world_->seed << ")";
  }

  static World* world_;
};

World* PropertyTest::world_ = nullptr;

// (a)
TEST_F(PropertyTest, RebuildEqualsIncrementalForEveryProjection) {
  Ledger& l = *world_->ledger;
  for (const char* name : {kHistory, kCustomerView, kAnalytics}) {
    auto report = l.RebuildProjection(name, /*replace=*/false);
    ASSERT_TRUE(report.ok()) << name << ": " << report.status().ToString();
    EXPECT_TRUE(report->equal) << name << " differs from its rebuild at key "
                               << ::testing::PrintToString(report->first_difference)
                               << " (seed " << world_->seed << ")";
    EXPECT_EQ(report->checkpoint, world_->last) << name;
    EXPECT_EQ(report->events, world_->last) << name;
    auto digest = l.ProjectionDigest(name);
    ASSERT_TRUE(digest.ok()) << digest.status().ToString();
    EXPECT_EQ(*digest, report->live_digest) << name;
  }
}

// (b)
TEST_F(PropertyTest, CustomerViewNeverShowsDeletedRedactedOrInternalContent) {
  Ledger& l = *world_->ledger;
  size_t hidden_checked = 0, visible_checked = 0, failures = 0;
  for (const GenConversation& c : world_->conversations) {
    auto view = CustomerView(l, c.id, AsOf{});
    ASSERT_TRUE(view.ok()) << c.id << ": " << view.status().ToString();
    const std::string& json = *view;
    for (const std::string& mk : c.hidden) {
      ++hidden_checked;
      if (json.find(mk) != std::string::npos && ++failures <= 20)
        ADD_FAILURE() << c.id << ": the customer view shows hidden " << mk << " (seed "
                      << world_->seed << ")\n" << json;
    }
    for (const std::string& mk : c.visible) {
      ++visible_checked;
      if (json.find(mk) == std::string::npos && ++failures <= 20)
        ADD_FAILURE() << c.id << ": the customer view lacks untouched message text " << mk
                      << " (seed " << world_->seed << ")\n" << json;
    }
    // Internal ids of agents, bots and systems are never shown.
    for (const char* internal : {"agt-internal-", "bot-internal-", "sys-internal-"}) {
      if (json.find(internal) != std::string::npos && ++failures <= 20)
        ADD_FAILURE() << c.id << ": the customer view shows an internal actor id (" << internal
                      << ")\n" << json;
    }
  }
  EXPECT_EQ(failures, 0u);
  EXPECT_GT(hidden_checked, world_->conversations.size());  // the property is not vacuous
  EXPECT_GT(visible_checked, world_->conversations.size());
  std::cout << "[ property ] " << hidden_checked << " hidden and " << visible_checked
            << " visible texts checked" << std::endl;
}

// (c)
TEST_F(PropertyTest, AsOfTheLastSequenceOrALaterTimeEqualsTheCurrentView) {
  Ledger& l = *world_->ledger;
  AsOf at_last;
  at_last.global_seq = world_->last;
  for (size_t i : Sample(200)) {
    const GenConversation& c = world_->conversations[i];
    AsOf later;
    later.time_us = c.last_occurred + kDay;
    const auto current_history = History(l, c.id, AsOf{});
    ASSERT_TRUE(current_history.ok()) << c.id << ": " << current_history.status().ToString();
    EXPECT_TRUE(SameView(History(l, c.id, at_last), current_history)) << c.id << " history";
    EXPECT_TRUE(SameView(History(l, c.id, later), current_history)) << c.id << " history, by time";
    const auto current_view = CustomerView(l, c.id, AsOf{});
    ASSERT_TRUE(current_view.ok()) << c.id << ": " << current_view.status().ToString();
    EXPECT_TRUE(SameView(CustomerView(l, c.id, at_last), current_view)) << c.id << " view";
    EXPECT_TRUE(SameView(CustomerView(l, c.id, later), current_view)) << c.id << " view, by time";
    if (HasFailure()) break;  // one conversation's diff says enough
  }
  EXPECT_TRUE(SameView(Analytics(l, {}, at_last), Analytics(l, {}, AsOf{}))) << "analytics";
}

// (d)
TEST_F(PropertyTest, AsOfSequenceKEqualsTheLogCutAtK) {
  Ledger& l = *world_->ledger;
  std::mt19937_64 rng(world_->seed ^ 0xa5);
  std::vector<uint64_t> cuts = {1, world_->last / 2};
  for (int i = 0; i < 3; ++i)
    cuts.push_back(std::uniform_int_distribution<uint64_t>(1, world_->last)(rng));
  for (uint64_t k : cuts) {
    auto history = MakeHistory();
    auto view = MakeCustomerView();
    auto analytics = MakeAnalytics();
    MemoryState h = FoldPrefix(*history, k);
    MemoryState v = FoldPrefix(*view, k);
    MemoryState a = FoldPrefix(*analytics, k);
    AsOf at;
    at.global_seq = k;
    // The conversations of the events just before the cut (the ones it splits) and a sample.
    std::set<std::string> ids;
    for (uint64_t g = k; g > 0 && g + 20 > k; --g) ids.insert(world_->log[g - 1].conversation_id);
    for (size_t i : Sample(40)) ids.insert(world_->conversations[i].id);
    for (const std::string& id : ids) {
      // Content is sealed in both states; both open it with the keys that exist now.
      EXPECT_TRUE(SameView(History(l, id, at), RenderHistory(h, id, &l.Opener())))
          << id << " history at " << k;
      EXPECT_TRUE(SameView(CustomerView(l, id, at), RenderCustomerView(v, id, &l.Opener())))
          << id << " customer view at " << k;
      if (HasFailure()) return;
    }
    EXPECT_TRUE(SameView(Analytics(l, {}, at), RenderAnalytics(a, {}))) << "analytics at " << k;
    AnalyticsQuery one;
    one.tenant = "t-beta";
    EXPECT_TRUE(SameView(Analytics(l, one, at), RenderAnalytics(a, one))) << "t-beta at " << k;
  }
}

// (e)
TEST_F(PropertyTest, FoldingTwiceGivesIdenticalStateEqualToTheStoredOne) {
  Ledger& l = *world_->ledger;
  const std::vector<std::shared_ptr<Projection>> first = MakeAll(), second = MakeAll();
  for (size_t p = 0; p < first.size(); ++p) {
    const std::string name(first[p]->Name());
    MemoryState one = FoldPrefix(*first[p], world_->last);
    MemoryState two = FoldPrefix(*second[p], world_->last);
    EXPECT_TRUE(one.data() == two.data()) << name << ": two folds of the same log differ";
    // And a third fold with the first instance again (no hidden state in the projection).
    MemoryState three = FoldPrefix(*first[p], world_->last);
    EXPECT_TRUE(one.data() == three.data()) << name << ": refolding with the same instance differs";

    auto reader = l.NewStateReader(name);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    auto it = one.data().begin();
    std::string difference;
    bool differs = false;
    ASSERT_TRUE((*reader)
                    ->Scan("",
                           [&](std::string_view k, std::string_view v) {
                             if (it == one.data().end() || it->first != k || it->second != v) {
                               differs = true;
                               difference = std::string(k);
                               return false;
                             }
                             ++it;
                             return true;
                           })
                    .ok());
    if (!differs && it != one.data().end()) {
      differs = true;
      difference = it->first;
    }
    EXPECT_FALSE(differs) << name << ": stored state differs from an in-memory fold at key "
                          << ::testing::PrintToString(difference);
  }
}

// ---- sealed content (issue 6) ----

// A deterministic stand-in for the ledger's sealing: each event's content (and template
// parameters) moves into an envelope whose bytes name the event and hold none of its content;
// the keyring maps it back. Nothing is ever destroyed here: redaction is what the fold knows.
class FakeSealing final : public ContentOpener {
 public:
  Event Seal(Event e) {
    if (!e.content && !e.template_) return e;
    if (e.type != EventType::kMessageSent && e.type != EventType::kMessageEdited &&
        e.type != EventType::kNoteAdded)
      return e;
    OpenedContent o;
    o.access = ContentAccess::kOpened;
    o.content = e.content;
    if (e.template_) {
      o.template_parameters = e.template_->parameters;
      e.template_->parameters.clear();
    }
    SealedContent sc;
    sc.sealing = Sealing::kAes256Gcm;
    sc.key_id = "dk-" + std::to_string(e.global_seq);
    sc.nonce = std::string(12, '\x01');
    sc.bytes = "ciphertext of " + std::to_string(e.global_seq) + std::string(16, '\x02');
    if (o.content) {
      Collect(o.content->text);
      for (const Media& m : o.content->media)
        for (const std::string* f : {&m.caption, &m.reference, &m.filename}) Collect(*f);
    }
    for (const std::string& p : o.template_parameters) Collect(p);
    keys_[sc.key_id] = std::move(o);
    e.content.reset();
    e.sealed = std::move(sc);
    e.content_sealing = Sealing::kAes256Gcm;
    e.content_access = ContentAccess::kSealed;
    return e;
  }
  Result<OpenedContent> Open(std::string_view, const SealedContent& sealed) override {
    auto it = keys_.find(sealed.key_id);
    if (it == keys_.end()) return Status::Corruption("unknown_key", sealed.key_id);
    return it->second;
  }
  // The generator's markers (MK%08lluZ) found in sealed content.
  const std::set<std::string>& content_markers() const { return markers_; }
  // The first content marker found in `s`, or "".
  std::string FindIn(std::string_view s) const {
    for (size_t at = s.find("MK"); at != std::string_view::npos; at = s.find("MK", at + 1))
      if (at + 11 <= s.size() && markers_.count(std::string(s.substr(at, 11))))
        return std::string(s.substr(at, 11));
    return "";
  }

 private:
  void Collect(std::string_view s) {
    for (size_t at = s.find("MK"); at != std::string_view::npos; at = s.find("MK", at + 1))
      if (at + 11 <= s.size() && s[at + 10] == 'Z') markers_.insert(std::string(s.substr(at, 11)));
  }
  std::map<std::string, OpenedContent> keys_;
  std::set<std::string> markers_;
};

// What sealing may change in a rendered history: the timeline's summary (it never reads sealed
// content, so "with N media" goes), whether the template parameters were sealed, and how a
// redacted message's content is shown ("[redacted]" with who/when/why instead of the
// plaintext's "[redacted]" fields).
nlohmann::json Normalized(nlohmann::json h) {
  for (auto& t : h["timeline"]) t.erase("summary");
  for (auto& m : h["messages"]) {
    if (m["original"].is_object() && m["original"]["template"].is_object())
      m["original"]["template"].erase("parameters_sealed");
    if (!m["redacted"].get<bool>()) continue;
    m.erase("current_content");
    for (auto& v : m["versions"]) v.erase("content");
    if (m["original"].is_object() && m["original"]["template"].is_object())
      m["original"]["template"].erase("parameters");
  }
  return h;
}

// Sealing every content of the generated log, folding that, and rendering through the opener
// gives the views the plaintext log gives; the state holds none of the content; a second fold
// gives the same bytes.
TEST_F(PropertyTest, SealedLogFoldsToCiphertextAndRendersLikeThePlaintextOne) {
  FakeSealing keys;
  // The log as plaintext: the ledger seals content for real and ReadGlobal opens it; drop the
  // real envelope so "plain" folds plaintext and "sealed" folds the fake sealing of it.
  std::vector<Event> plain_log = world_->log;
  for (Event& e : plain_log) {
    if (!e.sealed) continue;
    e.sealed.reset();
    e.content_sealing = Sealing::kNone;
    e.content_access = ContentAccess::kPlain;
  }
  std::vector<Event> sealed;
  sealed.reserve(plain_log.size());
  for (const Event& e : plain_log) sealed.push_back(keys.Seal(e));
  auto fold = [&](Projection& p, const std::vector<Event>& log) {
    MemoryState state;
    for (const Event& e : log) {
      Status st = p.Apply(e, state);
      EXPECT_TRUE(st.ok()) << "global_seq " << e.global_seq << ": " << st.ToString();
    }
    state.set_checkpoint(world_->last);
    return state;
  };
  auto history = MakeHistory();
  auto view = MakeCustomerView();
  MemoryState plain_h = fold(*history, plain_log), plain_v = fold(*view, plain_log);
  MemoryState sealed_h = fold(*history, sealed), sealed_v = fold(*view, sealed);
  EXPECT_TRUE(fold(*MakeHistory(), sealed).data() == sealed_h.data());
  EXPECT_TRUE(fold(*MakeCustomerView(), sealed).data() == sealed_v.data());

  size_t failures = 0;
  for (const MemoryState* st : {&sealed_h, &sealed_v}) {
    for (const auto& [k, v] : st->data()) {
      if (const std::string mk = keys.FindIn(v); !mk.empty() && ++failures <= 5)
        ADD_FAILURE() << "plaintext " << mk << " in sealed state at key "
                      << ::testing::PrintToString(k);
    }
  }
  for (size_t i : Sample(300)) {
    const std::string& id = world_->conversations[i].id;
    EXPECT_TRUE(SameView(RenderCustomerView(sealed_v, id, &keys), RenderCustomerView(plain_v, id)))
        << id << " customer view";
    auto sh = RenderHistory(sealed_h, id, &keys);
    auto ph = RenderHistory(plain_h, id);
    ASSERT_TRUE(sh.ok() && ph.ok()) << id;
    EXPECT_EQ(Normalized(nlohmann::json::parse(*sh)), Normalized(nlohmann::json::parse(*ph)))
        << id << " history (seed " << world_->seed << ")";
    // Without the opener nothing of the content shows.
    auto blind = RenderHistory(sealed_h, id);
    ASSERT_TRUE(blind.ok());
    EXPECT_EQ(keys.FindIn(*blind), "") << id;
    auto blind_v = RenderCustomerView(sealed_v, id);
    ASSERT_TRUE(blind_v.ok());
    EXPECT_EQ(keys.FindIn(*blind_v), "") << id;
  }
  EXPECT_EQ(failures, 0u);
  EXPECT_GT(keys.content_markers().size(), world_->conversations.size());  // not vacuous
}

}  // namespace
}  // namespace convledger::projections
