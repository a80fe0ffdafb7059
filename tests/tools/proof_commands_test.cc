// `convledger key public`, `tree-head`, `proof inclusion`, `proof consistency`
// (tools/proof_commands.cc): their output verifies with nothing but ledger/merkle.h.

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "ledger/merkle.h"
#include "ledger/time.h"
#include "test_util.h"

namespace convledger::cli::test {
namespace {

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

Digest DigestOf(const json& hex) {
  const std::string bytes = Unhex(hex.get<std::string>());
  Digest d{};
  EXPECT_EQ(bytes.size(), d.size());
  std::copy(bytes.begin(), bytes.begin() + std::min(bytes.size(), d.size()), d.begin());
  return d;
}

std::string Base64Decode(const std::string& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

class ProofCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string input;
    for (int i = 0; i < 11; ++i)
      input += MessageLine("c" + std::to_string(i % 3), "m" + std::to_string(i)) + "\n";
    CliRun run = RunMain({"append", "--data", data_}, input);
    ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  }
  json RunJson(const std::vector<std::string>& args) {
    CliRun run = RunMain(args);
    EXPECT_EQ(run.exit_code, kExitOk) << run.err;
    auto lines = JsonLines(run.out);
    EXPECT_EQ(lines.size(), 1u) << run.out;
    return lines.empty() ? json() : lines[0];
  }

  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
};

TEST_F(ProofCommandsTest, TreeHeadVerifiesWithThePrintedPublicKey) {
  const json j = RunJson({"tree-head", "--data", data_});
  CliRun key = RunMain({"key", "public", "--data", data_});
  ASSERT_EQ(key.exit_code, kExitOk) << key.err;
  EXPECT_EQ(key.out, j["public_key"].get<std::string>());
  EXPECT_NE(key.out.find("BEGIN PUBLIC KEY"), std::string::npos);

  SignedTreeHead sth;
  sth.tree_size = j["tree_size"].get<uint64_t>();
  sth.root_hash = DigestOf(j["root_hash"]);
  sth.timestamp_us = j["timestamp_us"].get<int64_t>();
  sth.signature = Base64Decode(j["signature"].get<std::string>());
  EXPECT_EQ(sth.tree_size, 11u);
  EXPECT_EQ(j["algorithm"], "ed25519");
  EXPECT_EQ(ParseRfc3339(j["timestamp"].get<std::string>()), sth.timestamp_us);
  EXPECT_TRUE(merkle::VerifyTreeHead(sth, key.out).ok());
  sth.timestamp_us += 1;
  EXPECT_FALSE(merkle::VerifyTreeHead(sth, key.out).ok());
}

TEST_F(ProofCommandsTest, InclusionProofsVerifyAgainstTheTreeHeadRoot) {
  const json head = RunJson({"tree-head", "--data", data_});
  for (uint64_t seq = 1; seq <= 11; ++seq) {
    const json p = RunJson({"proof", "inclusion", "--data", data_, "--seq", std::to_string(seq)});
    EXPECT_EQ(p["root_hash"], head["root_hash"]);
    EXPECT_EQ(p["leaf_index"].get<uint64_t>(), seq - 1);
    InclusionProof proof;
    proof.global_seq = p["global_seq"].get<uint64_t>();
    proof.leaf_index = p["leaf_index"].get<uint64_t>();
    proof.tree_size = p["tree_size"].get<uint64_t>();
    proof.event_hash = DigestOf(p["event_hash"]);
    proof.leaf_hash = DigestOf(p["leaf_hash"]);
    for (const json& h : p["audit_path"]) proof.audit_path.push_back(DigestOf(h));
    proof.root_hash = DigestOf(p["root_hash"]);
    EXPECT_TRUE(merkle::VerifyInclusion(proof).ok()) << seq;
  }
  // Against an older tree size.
  const json p = RunJson({"proof", "inclusion", "--data", data_, "--seq", "2", "--tree-size", "5"});
  EXPECT_EQ(p["tree_size"].get<uint64_t>(), 5u);
}

TEST_F(ProofCommandsTest, ConsistencyProofVerifies) {
  const json p = RunJson({"proof", "consistency", "--data", data_, "--from", "4", "--to", "11"});
  ConsistencyProof proof;
  proof.first = p["first"].get<uint64_t>();
  proof.second = p["second"].get<uint64_t>();
  proof.first_root = DigestOf(p["first_root"]);
  proof.second_root = DigestOf(p["second_root"]);
  for (const json& h : p["proof"]) proof.proof.push_back(DigestOf(h));
  EXPECT_TRUE(merkle::VerifyConsistency(proof).ok());
  const json head4 =
      RunJson({"proof", "inclusion", "--data", data_, "--seq", "1", "--tree-size", "4"});
  EXPECT_EQ(head4["root_hash"], p["first_root"]);
}

TEST_F(ProofCommandsTest, ValuesOutOfRangeAreUsageErrors) {
  EXPECT_EQ(RunMain({"proof", "inclusion", "--data", data_, "--seq", "12"}).exit_code, kExitUsage);
  EXPECT_EQ(RunMain({"proof", "inclusion", "--data", data_, "--seq", "0"}).exit_code, kExitUsage);
  EXPECT_EQ(
      RunMain({"proof", "inclusion", "--data", data_, "--seq", "1", "--tree-size", "99"}).exit_code,
      kExitUsage);
  EXPECT_EQ(RunMain({"proof", "consistency", "--data", data_, "--from", "5", "--to", "3"}).exit_code,
            kExitUsage);
  EXPECT_EQ(RunMain({"proof", "consistency", "--data", data_, "--from", "0", "--to", "3"}).exit_code,
            kExitUsage);
  EXPECT_EQ(RunMain({"proof", "inclusion", "--data", data_}).exit_code, kExitUsage);  // no --seq
  EXPECT_EQ(RunMain({"tree-head", "--data", dir_.Sub("nothing-here")}).exit_code, kExitIo);
}

TEST_F(ProofCommandsTest, TheExecutablePrintsATreeHead) {
  CliRun run = RunBinary(dir_, "tree-head --data '" + data_ + "'");
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  auto lines = JsonLines(run.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["tree_size"].get<uint64_t>(), 11u);
}

}  // namespace
}  // namespace convledger::cli::test
