// Erasure and retention from the command line (tools/erase_commands.cc): `erase`, `subjects`,
// `retention apply`, and the master key from the environment or --master-key-file
// (tools/common.cc).

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ledger/time.h"
#include "test_util.h"

namespace convledger::cli::test {
namespace {

constexpr const char* kKeyA = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr const char* kKeyB = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

// Sets an environment variable for one scope (the child processes of RunBinary inherit it).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// An inbound customer message of `subject` in `tenant` at `when`.
std::string Msg(const std::string& conversation, const std::string& tenant,
                const std::string& subject, const std::string& message_id,
                const std::string& when) {
  return json{{"conversation_id", conversation},
              {"type", "message.sent"},
              {"actor", {{"kind", "customer"}, {"id", subject}}},
              {"channel", "whatsapp"},
              {"tenant", tenant},
              {"subject", subject},
              {"occurred_at", when},
              {"message_id", message_id},
              {"direction", "inbound"},
              {"content", {{"text", "secret of " + subject + " " + message_id}}}}
      .dump();
}

std::string Hold(const std::string& conversation, const std::string& tenant,
                 const std::string& when) {
  return json{{"conversation_id", conversation},
              {"type", "legal_hold.changed"},
              {"actor", {{"kind", "agent"}, {"id", "legal-1"}}},
              {"tenant", tenant},
              {"occurred_at", when},
              {"hold", "placed"},
              {"case_ref", "CASE-7"}}
      .dump();
}

class EraseCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // bank (10y at 2026-11-24): alice inactive since 2016-03-01 (due), bob active in 2024, carol
    // inactive since 2010 but under a legal hold. shop (3y): dave inactive since 2021 (due),
    // erin active in 2025. other (no policy): frank, inactive since 2000.
    const std::string input =
        Msg("b1", "bank", "alice", "m1", "2015-01-10T09:00:00Z") + "\n" +
        Msg("b2", "bank", "alice", "m1", "2016-03-01T09:00:00Z") + "\n" +
        Msg("b3", "bank", "bob", "m1", "2024-06-01T09:00:00Z") + "\n" +
        Msg("b4", "bank", "carol", "m1", "2010-01-01T09:00:00Z") + "\n" +
        Hold("b4", "bank", "2010-01-02T09:00:00Z") + "\n" +
        Msg("s1", "shop", "dave", "m1", "2021-01-01T09:00:00Z") + "\n" +
        Msg("s2", "shop", "erin", "m1", "2025-01-01T09:00:00Z") + "\n" +
        Msg("o1", "other", "frank", "m1", "2000-01-01T09:00:00Z") + "\n";
    const CliRun run = RunMain({"append", "--data", data_}, input);
    ASSERT_EQ(run.exit_code, kExitOk) << run.out;
  }

  uint64_t LastSeq() {
    const CliRun run = RunMain({"stats", "--data", data_});
    EXPECT_EQ(run.exit_code, kExitOk);
    return JsonLines(run.out).at(0)["last_global_seq"].get<uint64_t>();
  }

  std::vector<json> Events(const std::string& conversation) {
    const CliRun run = RunMain({"events", "--data", data_, "--conversation", conversation});
    EXPECT_EQ(run.exit_code, kExitOk) << run.err;
    return JsonLines(run.out);
  }

  // tenant/subject -> its `subjects` line.
  std::map<std::string, json> Subjects(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"subjects", "--data", data_};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliRun run = RunMain(args);
    EXPECT_EQ(run.exit_code, kExitOk) << run.err;
    std::map<std::string, json> out;
    for (const json& line : JsonLines(run.out))
      out[line["tenant"].get<std::string>() + "/" + line["subject"].get<std::string>()] = line;
    return out;
  }

  CliRun Retention(std::vector<std::string> extra) {
    std::vector<std::string> args{"retention", "apply", "--data", data_,
                                  "--policy", "bank=10y", "--policy", "shop=3y",
                                  "--now", "2026-11-24T00:00:00Z", "--progress", "none"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunMain(args);
  }

  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
};

TEST_F(EraseCommandsTest, EraseDestroysTheContentAndPrintsTheReport) {
  ASSERT_NE(Events("b1").at(0)["content"].dump().find("secret of alice"), std::string::npos);
  const uint64_t before = LastSeq();

  CliRun run = RunMain({"erase", "--data", data_, "--tenant", "bank", "--subject", "alice",
                        "--reason", "GDPR art. 17 request #12", "--actor", "dpo-1"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.out;
  std::vector<json> lines = JsonLines(run.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["ok"], true);
  EXPECT_EQ(lines[0]["tenant"], "bank");
  EXPECT_EQ(lines[0]["subject"], "alice");
  EXPECT_EQ(lines[0]["conversations"], json::array({"b1", "b2"}));
  EXPECT_GE(lines[0]["keys_destroyed"].get<uint64_t>(), 3u);  // subject key + 2 data keys
  EXPECT_EQ(lines[0]["first_global_seq"], before + 1);
  EXPECT_EQ(lines[0]["last_global_seq"], before + 2);
  EXPECT_EQ(lines[0]["already_erased"], false);
  EXPECT_EQ(LastSeq(), before + 2);

  // `events`: the message is still there, its content is gone; the erasure is on record.
  const std::vector<json> events = Events("b1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["content"], json({{"erased", true}}));
  EXPECT_EQ(events[1]["type"], "subject.erased");
  EXPECT_EQ(events[1]["reason"], "GDPR art. 17 request #12");
  EXPECT_EQ(events[1]["actor"]["kind"], "agent");
  EXPECT_EQ(events[1]["actor"]["id"], "dpo-1");
  const CliRun all = RunMain({"events", "--data", data_});
  EXPECT_EQ(all.out.find("secret of alice"), std::string::npos);
  EXPECT_NE(all.out.find("secret of bob"), std::string::npos);  // others untouched

  // `history`: the content shows [erased].
  const CliRun history = RunMain({"history", "--data", data_, "b2"});
  ASSERT_EQ(history.exit_code, kExitOk);
  EXPECT_NE(history.out.find("[erased]"), std::string::npos) << history.out;
  EXPECT_EQ(history.out.find("secret of alice"), std::string::npos);

  // A second erase: nothing to do, nothing appended.
  run = RunMain({"erase", "--data", data_, "--tenant", "bank", "--subject", "alice", "--reason",
                 "again"});
  ASSERT_EQ(run.exit_code, kExitOk);
  EXPECT_EQ(JsonLines(run.out).at(0)["already_erased"], true);
  EXPECT_EQ(LastSeq(), before + 2);
}

TEST_F(EraseCommandsTest, LegalHoldRefusesUnlessOverridden) {
  const uint64_t before = LastSeq();
  CliRun run = RunMain({"erase", "--data", data_, "--tenant", "bank", "--subject", "carol",
                        "--reason", "customer request"});
  EXPECT_EQ(run.exit_code, kExitFailed);
  std::vector<json> lines = JsonLines(run.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["ok"], false);
  EXPECT_EQ(lines[0]["error"]["code"], "invariant_violation");
  EXPECT_EQ(lines[0]["error"]["reason"], "legal_hold_active");
  // The refusal is on record, the content is not touched.
  EXPECT_EQ(LastSeq(), before + 1);
  std::vector<json> events = Events("b4");
  EXPECT_EQ(events.back()["type"], "erasure.refused");
  EXPECT_EQ(events.back()["case_ref"], "CASE-7");
  EXPECT_NE(events.front()["content"].dump().find("secret of carol"), std::string::npos);

  run = RunMain({"erase", "--data", data_, "--tenant", "bank", "--subject", "carol", "--reason",
                 "court order 2026/17", "--override-hold"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.out;
  EXPECT_EQ(JsonLines(run.out).at(0)["override_hold"], true);
  events = Events("b4");
  EXPECT_EQ(events.back()["type"], "subject.erased");
  EXPECT_EQ(events.back()["override_hold"], true);
  EXPECT_EQ(events.front()["content"], json({{"erased", true}}));
}

TEST_F(EraseCommandsTest, EraseErrors) {
  const uint64_t before = LastSeq();
  // Unknown subject (also: a known subject in another tenant).
  CliRun run = RunMain({"erase", "--data", data_, "--subject", "nobody", "--reason", "x"});
  EXPECT_EQ(run.exit_code, kExitFailed);
  EXPECT_EQ(JsonLines(run.out).at(0)["error"]["reason"], "subject_not_found");
  run = RunMain({"erase", "--data", data_, "--tenant", "shop", "--subject", "alice", "--reason",
                 "x"});
  EXPECT_EQ(run.exit_code, kExitFailed);
  // Usage: no --reason, an empty one, no --subject.
  EXPECT_EQ(RunMain({"erase", "--data", data_, "--tenant", "bank", "--subject", "alice"}).exit_code,
            kExitUsage);
  EXPECT_EQ(RunMain({"erase", "--data", data_, "--tenant", "bank", "--subject", "alice",
                     "--reason", ""})
                .exit_code,
            kExitUsage);
  EXPECT_EQ(RunMain({"erase", "--data", data_, "--reason", "x"}).exit_code, kExitUsage);
  // No ledger: never created by an erase.
  EXPECT_EQ(RunMain({"erase", "--data", dir_.Sub("none"), "--subject", "a", "--reason", "x"})
                .exit_code,
            kExitIo);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("none")));
  EXPECT_EQ(LastSeq(), before);
}

TEST_F(EraseCommandsTest, SubjectsListsEverySubject) {
  std::map<std::string, json> all = Subjects();
  ASSERT_EQ(all.size(), 6u);
  const json& alice = all.at("bank/alice");
  EXPECT_EQ(alice["conversations"], json::array({"b1", "b2"}));
  EXPECT_EQ(alice["last_activity"], "2016-03-01T09:00:00Z");
  EXPECT_EQ(alice["held"], false);
  EXPECT_EQ(alice["erased"], false);
  EXPECT_EQ(all.at("bank/carol")["held"], true);
  EXPECT_EQ(all.at("bank/carol")["last_activity"], "2010-01-02T09:00:00Z");  // the hold event

  std::map<std::string, json> bank = Subjects({"--tenant", "bank"});
  EXPECT_EQ(bank.size(), 3u);
  EXPECT_TRUE(bank.count("bank/bob"));

  ASSERT_EQ(RunMain({"erase", "--data", data_, "--tenant", "shop", "--subject", "dave",
                     "--reason", "x"})
                .exit_code,
            kExitOk);
  EXPECT_EQ(Subjects().at("shop/dave")["erased"], true);
  EXPECT_EQ(RunMain({"subjects", "--data", dir_.Sub("none")}).exit_code, kExitIo);
}

TEST_F(EraseCommandsTest, RetentionDryRunListsDueSubjectsAndChangesNothing) {
  const uint64_t before = LastSeq();
  const CliRun run = Retention({});
  ASSERT_EQ(run.exit_code, kExitOk) << run.out;
  std::vector<json> lines = JsonLines(run.out);
  ASSERT_FALSE(lines.empty());
  const json summary = lines.back();
  lines.pop_back();
  std::map<std::string, json> by_subject;
  for (const json& l : lines) by_subject[l["tenant"].get<std::string>() + "/" +
                                         l["subject"].get<std::string>()] = l;
  ASSERT_EQ(by_subject.size(), 3u) << run.out;
  EXPECT_EQ(by_subject.at("bank/alice")["action"], "would_erase");
  EXPECT_EQ(by_subject.at("bank/alice")["policy"], "10y");
  EXPECT_EQ(by_subject.at("bank/alice")["last_activity"], "2016-03-01T09:00:00Z");
  EXPECT_EQ(by_subject.at("shop/dave")["action"], "would_erase");
  EXPECT_EQ(by_subject.at("bank/carol")["action"], "skipped");
  EXPECT_EQ(by_subject.at("bank/carol")["reason"], "legal_hold_active");

  EXPECT_EQ(summary["summary"], true);
  EXPECT_EQ(summary["dry_run"], true);
  EXPECT_EQ(summary["subjects_checked"], 5);  // bank and shop only: frank is untouched
  EXPECT_EQ(summary["due"], 2);
  EXPECT_EQ(summary["would_erase"], 2);
  EXPECT_EQ(summary["skipped_held"], 1);
  EXPECT_EQ(summary["not_due"], 2);
  EXPECT_EQ(summary["policies"]["bank"]["inactive_since_before"], "2016-11-24T00:00:00Z");

  // Nothing changed.
  EXPECT_EQ(LastSeq(), before);
  for (const auto& [key, s] : Subjects()) EXPECT_EQ(s["erased"], false) << key;
}

TEST_F(EraseCommandsTest, RetentionExecuteErasesOnlyDueUnheldSubjectsOfPolicyTenants) {
  const uint64_t before = LastSeq();
  CliRun run = Retention({"--execute"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.out;
  std::vector<json> lines = JsonLines(run.out);
  const json summary = lines.back();
  EXPECT_EQ(summary["dry_run"], false);
  EXPECT_EQ(summary["erased"], 2);
  EXPECT_EQ(summary["skipped_held"], 1);
  EXPECT_EQ(summary["failed"], 0);
  std::set<std::string> erased;
  for (const json& l : lines)
    if (l.value("action", "") == "erased") erased.insert(l["subject"].get<std::string>());
  EXPECT_EQ(erased, (std::set<std::string>{"alice", "dave"}));
  EXPECT_EQ(LastSeq(), before + 3);  // alice: 2 conversations, dave: 1

  std::map<std::string, json> subjects = Subjects();
  EXPECT_EQ(subjects.at("bank/alice")["erased"], true);
  EXPECT_EQ(subjects.at("shop/dave")["erased"], true);
  EXPECT_EQ(subjects.at("bank/bob")["erased"], false);
  EXPECT_EQ(subjects.at("bank/carol")["erased"], false);  // held
  EXPECT_EQ(subjects.at("shop/erin")["erased"], false);
  EXPECT_EQ(subjects.at("other/frank")["erased"], false);  // no policy for its tenant

  const json erasure = Events("s1").back();
  EXPECT_EQ(erasure["type"], "subject.erased");
  EXPECT_EQ(erasure["reason"], "retention: shop policy 3y");
  EXPECT_EQ(erasure["actor"]["kind"], "system");
  EXPECT_EQ(erasure["actor"]["id"], "retention");
  EXPECT_EQ(Events("s1").front()["content"], json({{"erased", true}}));
  // The held subject is skipped without a refusal on record (it was never asked).
  EXPECT_EQ(Events("b4").back()["type"], "legal_hold.changed");

  // Again: nothing left to do.
  run = Retention({"--execute"});
  ASSERT_EQ(run.exit_code, kExitOk);
  EXPECT_EQ(JsonLines(run.out).back()["erased"], 0);
  EXPECT_EQ(JsonLines(run.out).back()["already_erased"], 2);
  EXPECT_EQ(LastSeq(), before + 3);
}

TEST_F(EraseCommandsTest, RetentionRejectsBadArguments) {
  const uint64_t before = LastSeq();
  for (const std::string bad : {"bank", "=10y", "bank=", "bank=10", "bank=0y", "bank=10w",
                                "bank=-1y", "bank=1.5y", "bank=1001y", "bank=y", "bank=10 y"}) {
    EXPECT_EQ(RunMain({"retention", "apply", "--data", data_, "--policy", bad}).exit_code,
              kExitUsage)
        << bad;
  }
  EXPECT_EQ(RunMain({"retention", "apply", "--data", data_, "--policy", "bank=1y", "--policy",
                     "bank=2y"})
                .exit_code,
            kExitUsage);
  EXPECT_EQ(RunMain({"retention", "apply", "--data", data_}).exit_code, kExitUsage);
  EXPECT_EQ(RunMain({"retention", "apply", "--data", data_, "--policy", "bank=1y", "--now",
                     "yesterday"})
                .exit_code,
            kExitUsage);
  EXPECT_EQ(RunMain({"retention", "--data", data_}).exit_code, kExitUsage);
  EXPECT_EQ(LastSeq(), before);
}

TEST(RetentionPeriodTest, ParsesAndComputesCutoffs) {
  ASSERT_TRUE(ParseRetentionPeriod("10y"));
  EXPECT_EQ(ParseRetentionPeriod("10y")->count, 10u);
  EXPECT_EQ(ParseRetentionPeriod("90D")->text, "90d");
  EXPECT_FALSE(ParseRetentionPeriod("0d"));
  EXPECT_FALSE(ParseRetentionPeriod("99999999999999999999y"));

  auto at = [](const char* t) { return *ParseRfc3339(t); };
  // Calendar years, time of day kept.
  EXPECT_EQ(RetentionCutoffMicros(at("2026-11-24T12:34:56.5Z"), *ParseRetentionPeriod("10y")),
            at("2016-11-24T12:34:56.5Z"));
  // 29 February of a year without one: the 28th (earlier: never a day early).
  EXPECT_EQ(RetentionCutoffMicros(at("2024-02-29T00:00:00Z"), *ParseRetentionPeriod("1y")),
            at("2023-02-28T00:00:00Z"));
  EXPECT_EQ(RetentionCutoffMicros(at("2024-02-29T00:00:00Z"), *ParseRetentionPeriod("4y")),
            at("2020-02-29T00:00:00Z"));
  EXPECT_EQ(RetentionCutoffMicros(at("2026-03-31T00:00:00Z"), *ParseRetentionPeriod("90d")),
            at("2025-12-31T00:00:00Z"));
  // Before 1970 too (ParseRfc3339 takes no such time: 1965-06-01T06:00:00Z is 1675 days less
  // 6 hours before the epoch).
  EXPECT_EQ(RetentionCutoffMicros(at("1975-06-01T06:00:00Z"), *ParseRetentionPeriod("10y")),
            -(int64_t{1675} * 86400 - 6 * 3600) * 1000000);
}

// ---- the master key ----

class MasterKeyTest : public ::testing::Test {
 protected:
  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
};

TEST_F(MasterKeyTest, KeyFromTheEnvironmentIsUsedAndNeverWrittenToTheDataDirectory) {
  {
    ScopedEnv env("CONVLEDGER_MASTER_KEY", kKeyA);
    CliRun run = RunMain({"append", "--data", data_},
                         Msg("c1", "default", "ann", "m1", "2026-01-01T00:00:00Z"));
    ASSERT_EQ(run.exit_code, kExitOk) << run.out;
    EXPECT_FALSE(std::filesystem::exists(data_ + "/keys/master.key"));
    run = RunMain({"events", "--data", data_});
    ASSERT_EQ(run.exit_code, kExitOk);
    EXPECT_NE(run.out.find("secret of ann"), std::string::npos);
  }
  {
    // Upper-case hex with a trailing newline ($(cat file)) is the same key.
    std::string upper = kKeyA;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ScopedEnv env("CONVLEDGER_MASTER_KEY", upper + "\n");
    EXPECT_EQ(RunMain({"events", "--data", data_}).exit_code, kExitOk);
  }
  // Without the key a read-only command still works, content sealed.
  CliRun run = RunMain({"events", "--data", data_});
  ASSERT_EQ(run.exit_code, kExitOk);
  EXPECT_EQ(run.out.find("secret of ann"), std::string::npos);
  EXPECT_NE(run.out.find("\"sealed\":true"), std::string::npos) << run.out;

  // The same key from a file, by flag or by variable.
  const std::string key_file = dir_.Sub("master.key");
  std::ofstream(key_file) << kKeyA << "\n";
  run = RunMain({"events", "--data", data_, "--master-key-file", key_file});
  ASSERT_EQ(run.exit_code, kExitOk);
  EXPECT_NE(run.out.find("secret of ann"), std::string::npos);
  run = RunMain({"--master-key-file", key_file, "erase", "--data", data_, "--subject", "ann",
                 "--reason", "request"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.out;
  {
    ScopedEnv env("CONVLEDGER_MASTER_KEY_FILE", key_file);
    run = RunMain({"events", "--data", data_});
    ASSERT_EQ(run.exit_code, kExitOk);
    EXPECT_NE(run.out.find("\"erased\":true"), std::string::npos) << run.out;
  }
  // A named key file that does not exist: I/O error, not a silently sealed read.
  EXPECT_EQ(RunMain({"events", "--data", data_, "--master-key-file", dir_.Sub("nope")}).exit_code,
            kExitIo);
}

TEST_F(MasterKeyTest, MalformedKeyInTheEnvironmentIsAUsageErrorThatDoesNotEchoIt) {
  const std::string bad = "not-a-key-" + std::string(kKeyA).substr(10);  // 64 chars, not hex
  {
    ScopedEnv env("CONVLEDGER_MASTER_KEY", bad);
    const CliRun run = RunBinary(dir_, "append --data '" + data_ + "'",
                                 Msg("c1", "default", "ann", "m1", "2026-01-01T00:00:00Z"));
    EXPECT_EQ(run.exit_code, kExitUsage);
    EXPECT_EQ(run.out, "");
    EXPECT_NE(run.err.find("CONVLEDGER_MASTER_KEY"), std::string::npos) << run.err;
    EXPECT_EQ(run.err.find(bad), std::string::npos) << run.err;
    EXPECT_EQ(run.err.find(bad.substr(10, 20)), std::string::npos) << run.err;
    EXPECT_FALSE(std::filesystem::exists(data_));  // nothing ran
  }
  {
    ScopedEnv env("CONVLEDGER_MASTER_KEY", std::string(kKeyA).substr(0, 62));  // too short
    const CliRun run = RunBinary(dir_, "events --data '" + data_ + "'");
    EXPECT_EQ(run.exit_code, kExitUsage);
    EXPECT_EQ(run.err.find(std::string(kKeyA).substr(0, 62)), std::string::npos) << run.err;
  }
  {
    ScopedEnv a("CONVLEDGER_MASTER_KEY", kKeyA);
    ScopedEnv b("CONVLEDGER_MASTER_KEY_FILE", dir_.Sub("master.key"));
    EXPECT_EQ(RunMain({"stats", "--data", data_}).exit_code, kExitUsage);
  }
  // Commands that open no ledger do not care.
  ScopedEnv env("CONVLEDGER_MASTER_KEY", bad);
  EXPECT_EQ(RunMain({"apikey", "new"}).exit_code, kExitOk);
}

TEST_F(MasterKeyTest, WrongKeyFailsLoudlyAtStart) {
  {
    ScopedEnv env("CONVLEDGER_MASTER_KEY", kKeyA);
    ASSERT_EQ(RunMain({"append", "--data", data_},
                      Msg("c1", "default", "ann", "m1", "2026-01-01T00:00:00Z"))
                  .exit_code,
              kExitOk);
  }
  ScopedEnv env("CONVLEDGER_MASTER_KEY", kKeyB);
  for (const std::string cmd : {"events", "stats", "subjects"}) {
    const CliRun run = RunBinary(dir_, cmd + " --data '" + data_ + "'");
    EXPECT_EQ(run.exit_code, kExitCorruption) << cmd << ": " << run.err;
    EXPECT_EQ(run.out, "");
    EXPECT_NE(run.err.find("wrong_master_key"), std::string::npos) << run.err;
    EXPECT_EQ(run.err.find(kKeyB), std::string::npos);
    EXPECT_EQ(run.err.find(kKeyA), std::string::npos);
  }
  const CliRun run = RunBinary(dir_, "erase --data '" + data_ + "' --subject ann --reason x");
  EXPECT_EQ(run.exit_code, kExitCorruption) << run.err;
  // The default key file of a ledger created without a key in the environment is wrong too.
  const std::string other = dir_.Sub("other");
  {
    ScopedEnv unset("CONVLEDGER_MASTER_KEY", "");
    ASSERT_EQ(RunMain({"append", "--data", other},
                      Msg("c1", "default", "ann", "m1", "2026-01-01T00:00:00Z"))
                  .exit_code,
              kExitOk);
    EXPECT_TRUE(std::filesystem::exists(other + "/keys/master.key"));
  }
  EXPECT_EQ(RunMain({"events", "--data", other}).exit_code, kExitCorruption);
}

}  // namespace
}  // namespace convledger::cli::test
