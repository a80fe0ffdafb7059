// The corpus replayed into a real ledger with its projections (tests/api/corpus/README.md,
// "Replay order" and "End state after the replay"): seed outbound sends, then every POST body
// in file order, each mapped and appended as one Append; then the customer view and the
// history must show the documented end state, and replaying everything again appends nothing.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/webhooks.h"
#include "ledger/ledger.h"
#include "projections/projections.h"
#include "webhook_test_util.h"

namespace convledger::api {
namespace {

using json = nlohmann::json;
using test::ReadCorpus;

constexpr char kA1[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDcwMQA=";
constexpr char kA2[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDcwMgA=";
constexpr char kA3[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDcwMwA=";
constexpr char kA8[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDcwOAA=";
constexpr char kA20[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgASGBQzRUIwQTFGMkMzRDRFNUY2MDcyMAA=";
constexpr char kA9[] = "wamid.HBgLMTMxMjU1NTAxODcVAgASGBQzRUIwQjdBOEM5RDBFMUYyMDMwOQA=";
constexpr char kA10[] = "wamid.HBgLMTMxMjU1NTAxODcVAgASGBQzRUIwQjdBOEM5RDBFMUYyMDMxMAA=";
constexpr char kA19[] = "wamid.HBgLMTMxMjU1NTAxODcVAgASGBQzRUIwQjdBOEM5RDBFMUYyMDMxOQA=";
constexpr char kB1[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgARGBI1RjJBOUMwRDFFM0I0QTZDNzcA";
constexpr char kB2[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgARGBI1RjJBOUMwRDFFM0I0QTZDNzgA";
constexpr char kB3[] = "wamid.HBgLMTMxMjU1NTAxODcVAgARGBI1RjJBOUMwRDFFM0I0QTZDNzkA";
constexpr char kB5[] = "wamid.HBgLMTIwMjU1NTAxNDMVAgARGBI1RjJBOUMwRDFFM0I0QTZDODAA";
constexpr char kFbMsg[] = "m_Q1c2VmRnZXR0aW5nLXJlYWxpc3RpYy1taWQtdmFsdWUtMDAwMDAwMDAwMDAwMDAwMDAwMDE";
constexpr char kMidPage[] = "m_UGFnZS1zZW50LW1lc3NhZ2UtbWlkLWZvci1kZWxpdmVyeS1hbmQtcmVhZC0wMDAwMDAwMDE";
constexpr char kMaya[] = "wa:210987654321098:12025550143";
constexpr char kLuis[] = "wa:210987654321098:13125550187";
constexpr char kPriya[] = "wa:210987654321098:14155550123";
constexpr char kMessenger[] = "fb:104857600000001:7365012345678901";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "webhook_replay_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options options;
    options.projections = projections::MakeAll();
    auto opened = Ledger::Open(dir_.path(), options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    ledger_ = std::move(opened.value());
  }

  WebhookContext Context(const std::string& body) {
    WebhookContext ctx = test::CorpusContext(body);
    ctx.messenger_outbound = LedgerOutboundLookup(*ledger_);
    return ctx;
  }

  // Appends the events; returns how many were new (not duplicates).
  size_t AppendNew(std::vector<Event> events, const std::string& what) {
    if (events.empty()) return 0;
    auto r = ledger_->Append(std::move(events));
    EXPECT_TRUE(r.ok()) << what << ": " << r.status().ToString();
    if (!r.ok()) return 0;
    size_t fresh = 0;
    for (const AppendResult& a : r.value()) fresh += a.duplicate ? 0 : 1;
    return fresh;
  }

  // Seeds and replays every POST; returns the number of new events per file ("seed" first).
  std::map<std::string, size_t> ReplayAll() {
    std::map<std::string, size_t> appended;
    auto seed = SeedOutboundEvents(ReadCorpus("seed-outbound.json"), Context(""));
    EXPECT_TRUE(seed.ok()) << seed.status().ToString();
    if (!seed.ok()) return appended;
    for (Event& e : seed.value()) e.evidence = Digest{};  // the send path has no webhook body
    appended["seed"] = AppendNew(std::move(seed.value()), "seed");
    const auto sigs = test::ReadSignatures();
    for (const std::string& file : test::CorpusPosts()) {
      const std::string body = ReadCorpus(file);
      std::string header;
      for (const auto& f : sigs.files)
        if (f.file == file) header = f.header;
      EXPECT_TRUE(CheckMetaSignature(header, body, sigs.app_secret)) << file;
      WebhookResult r = test::MapCorpusFile(file, Context(body), body);
      if (!r.ok()) {
        EXPECT_TRUE(r.events.empty()) << file;
        appended[file] = 0;
        continue;
      }
      appended[file] = AppendNew(std::move(r.events), file);
    }
    EXPECT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));
    return appended;
  }

  json CustomerView(const std::string& conv) {
    auto r = projections::CustomerView(*ledger_, conv, projections::AsOf{});
    EXPECT_TRUE(r.ok()) << conv << ": " << r.status().ToString();
    return r.ok() ? json::parse(r.value()) : json();
  }
  json History(const std::string& conv) {
    auto r = projections::History(*ledger_, conv, projections::AsOf{});
    EXPECT_TRUE(r.ok()) << conv << ": " << r.status().ToString();
    return r.ok() ? json::parse(r.value()) : json();
  }

  TempDir dir_;
  std::unique_ptr<Ledger> ledger_;
};

// The messages of a rendered view by id; the count of each id is checked separately.
std::map<std::string, json> ById(const json& view) {
  std::map<std::string, json> out;
  for (const json& m : view.at("messages")) out[m.at("message_id").get<std::string>()] = m;
  return out;
}
size_t CountId(const json& view, const std::string& id) {
  size_t n = 0;
  for (const json& m : view.at("messages")) n += m.at("message_id") == id;
  return n;
}

TEST_F(ReplayTest, CorpusReplayReachesTheDocumentedEndStateAndReplaysIdempotently) {
  const std::map<std::string, size_t> first = ReplayAll();
  const std::map<std::string, size_t> want = {
      {"seed", 5},
      {"wa-01-text.json", 1}, {"wa-02-image-caption.json", 1},
      {"wa-03-reply-with-context.json", 1}, {"wa-04-reaction.json", 1},
      {"wa-05-reaction-removed.json", 1}, {"wa-06-edit-text.json", 1},
      {"wa-07-revoke.json", 1}, {"wa-08-status-sent.json", 1},
      {"wa-09-status-delivered.json", 1}, {"wa-10-status-read.json", 1},
      {"wa-11-status-failed.json", 1}, {"wa-12-batch-two-messages.json", 2},
      {"wa-13-duplicate-of-01.json", 0},  // a redelivery: nothing new
      {"wa-14-unsupported-131051.json", 1}, {"wa-15-interactive-button-reply.json", 1},
      {"wa-16-malformed-truncated.json", 0}, {"wa-17-malformed-wrong-types.json", 0},
      {"wa-18-malformed-missing-fields.json", 0}, {"wa-19-invalid-utf8.bin", 0},
      {"wa-20-template-quick-reply-button.json", 1},
      {"wa-21-document-and-location-batch.json", 2},
      {"wa-22-status-read-without-delivered.json", 2}, {"wa-23-non-messages-field.json", 0},
      {"fb-24-message-and-edit.json", 2}, {"fb-25-reaction-delivery-read.json", 3},
  };
  EXPECT_EQ(first, want);
  const uint64_t total = ledger_->LastGlobalSeq();
  EXPECT_EQ(total, 30u);

  // ---- Maya ----
  const json maya = CustomerView(kMaya);
  auto m = ById(maya);
  EXPECT_EQ(CountId(maya, kA1), 1u);
  EXPECT_EQ(m[kA1].at("text"), "Hi, my order #4471 arrived damaged. Can I get a refund?");
  EXPECT_EQ(m[kA1].at("name"), "Maya Okafor");
  // A2: deleted for the customer, its image and caption kept for disputes.
  EXPECT_EQ(m[kA2].at("deleted"), true);
  EXPECT_EQ(m[kA2].at("placeholder"), "This message was deleted");
  EXPECT_FALSE(m[kA2].contains("media"));
  // A3: edited text.
  EXPECT_EQ(m[kA3].at("edited"), true);
  EXPECT_EQ(m[kA3].at("text"),
            "The corner is crushed and the seal is broken \xE2\x80\x94 see the photo above.");
  EXPECT_EQ(m[kA3].at("reply_to"), kB1);
  // B1: reaction set then cleared; read.
  EXPECT_EQ(m[kB1].at("reactions"), json::array());
  EXPECT_EQ(m[kB1].at("status"), "read");
  EXPECT_EQ(m[kB2].at("status"), "read");  // read without delivered
  EXPECT_EQ(m[kA8].at("reply_to"), kB2);
  EXPECT_EQ(m[kA8].at("text"), "Refund");
  EXPECT_EQ(m[kA20].at("reply_to"), kB5);
  EXPECT_EQ(m[kA20].at("text"), "Yes, pick it up");

  const json maya_history = History(kMaya);
  std::map<std::string, json> h;
  for (const json& msg : maya_history.at("messages")) h[msg.at("message_id").get<std::string>()] = msg;
  ASSERT_TRUE(h.count(kA2));
  EXPECT_EQ(h[kA2].at("deleted"), true);
  EXPECT_EQ(h[kA2].at("versions").at(0).at("content").at("media").at(0).at("caption"),
            "Here is the box");
  EXPECT_EQ(h[kA2].at("versions").at(0).at("content").at("media").at(0).at("reference"),
            "1203948571629384");
  ASSERT_EQ(h[kA3].at("versions").size(), 2u);  // the original and one edit
  EXPECT_EQ(h[kA3].at("versions").at(0).at("content").at("text"),
            "The corner is crushed \xE2\x80\x94 see the photo above. Danke sch\xC3\xB6n "
            "\xF0\x9F\x91\x8D");
  EXPECT_EQ(h[kA3].at("versions").at(1).at("kind"), "edit");
  EXPECT_EQ(h[kB1].at("reactions").size(), 2u);  // add, then remove
  EXPECT_EQ(h[kB1].at("reactions_current"), json::array());
  EXPECT_EQ(h[kB1].at("statuses").size(), 3u);
  EXPECT_EQ(h[kB1].at("status_current"), "read");

  // ---- Luis ----
  const json luis = CustomerView(kLuis);
  auto l = ById(luis);
  EXPECT_TRUE(l.count(kA9));
  EXPECT_TRUE(l.count(kA10));
  EXPECT_FALSE(l.count(kB3)) << "a failed, never delivered message is hidden from the customer";
  EXPECT_FALSE(l.count(kA19)) << "wa-17 was rejected whole";
  const json luis_history = History(kLuis);
  bool b3_failed = false, a19_seen = false;
  for (const json& msg : luis_history.at("messages")) {
    if (msg.at("message_id") == kB3) b3_failed = msg.at("status_current") == "failed";
    if (msg.at("message_id") == kA19) a19_seen = true;
  }
  EXPECT_TRUE(b3_failed);
  EXPECT_FALSE(a19_seen);

  // ---- Priya ----
  const json priya = CustomerView(kPriya);
  ASSERT_EQ(priya.at("messages").size(), 3u);
  EXPECT_EQ(priya.at("messages").at(0).at("text"), "[unsupported message: poll_creation]");
  EXPECT_EQ(priya.at("messages").at(1).at("media").at(0).at("filename"), "invoice-2207.pdf");
  EXPECT_EQ(priya.at("messages").at(2).at("text").get<std::string>().rfind("\xF0\x9F\x93\x8D Pickup point", 0), 0u);

  // ---- Messenger ----
  const json fb = CustomerView(kMessenger);
  auto f = ById(fb);
  EXPECT_EQ(f[kFbMsg].at("text"), "Hi, I was charged twice for order 5521");
  EXPECT_EQ(f[kFbMsg].at("edited"), true);
  EXPECT_EQ(f[kMidPage].at("status"), "read");
  EXPECT_EQ(f[kMidPage].at("reactions"),
            json::parse(R"([{"by":"customer","emoji":"\u2764\ufe0f"}])"));
  const json fb_history = History(kMessenger);
  for (const json& msg : fb_history.at("messages")) {
    if (msg.at("message_id") == kFbMsg) EXPECT_EQ(msg.at("versions").size(), 2u);
    if (msg.at("message_id") == kMidPage) {
      std::vector<std::string> statuses;
      for (const json& s : msg.at("statuses")) statuses.push_back(s.at("status"));
      EXPECT_EQ(statuses, (std::vector<std::string>{"delivered", "read"}));
    }
  }

  // Every webhook event links to the body it came from.
  auto events = ledger_->ReadConversation(kMaya);
  ASSERT_TRUE(events.ok());
  for (const Event& e : events.value()) {
    if (e.message_id == kA1 && e.type == EventType::kMessageSent) {
      EXPECT_EQ(e.evidence, BodyDigest(ReadCorpus("wa-01-text.json")));
      EXPECT_EQ(e.kind, "text");
    }
  }
  VerifyReport report;
  ASSERT_TRUE(ledger_->Verify(&report).ok());
  EXPECT_TRUE(report.ok());

  // ---- everything again: nothing new ----
  const std::map<std::string, size_t> second = ReplayAll();
  for (const auto& [file, n] : second) EXPECT_EQ(n, 0u) << file;
  EXPECT_EQ(ledger_->LastGlobalSeq(), total);
  EXPECT_EQ(CustomerView(kMaya), maya);
}

}  // namespace
}  // namespace convledger::api
