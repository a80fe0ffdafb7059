// The Merkle tree and signed tree heads: the pure RFC 9162 functions of ledger/merkle.h against
// the published test vectors (tests/ledger/merkle-vectors, from transparency-dev/merkle), and the
// ledger's stored tree (ledger/src/merkle_ledger.cc, merkle_tree.cc) against the definition.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ledger/ledger.h"
#include "ledger/merkle.h"
#include "test_util.h"

namespace convledger {
namespace {

using test::Edited;
using test::Note;
using test::Sent;

// ---- helpers ----

std::string Base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = value(c);
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

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

std::string_view View(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

std::vector<std::string_view> Views(const std::vector<Digest>& v) {
  std::vector<std::string_view> out;
  for (const Digest& d : v) out.push_back(View(d));
  return out;
}

nlohmann::json ReadJson(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

std::vector<std::filesystem::path> VectorFiles(const std::string& kind) {
  std::vector<std::filesystem::path> out;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(MERKLE_VECTORS_DIR) + "/" + kind))
    if (entry.is_regular_file() && entry.path().extension() == ".json") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The proof hashes of a vector ("proof" may be null).
std::vector<std::string> ProofOf(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (j["proof"].is_array())
    for (const auto& h : j["proof"]) out.push_back(Base64Decode(h.get<std::string>()));
  return out;
}

std::vector<std::string_view> Views(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

// ---- the pure functions against the published vectors ----

TEST(MerkleVectorsTest, EveryInclusionVectorIsAcceptedOrRefusedAsPublished) {
  const auto files = VectorFiles("inclusion");
  ASSERT_GE(files.size(), 90u);
  size_t accepted = 0, refused = 0;
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const nlohmann::json j = ReadJson(f);
    const std::vector<std::string> proof = ProofOf(j);
    const std::string leaf = Base64Decode(j["leafHash"].get<std::string>());
    const std::string root = Base64Decode(j["root"].get<std::string>());
    const Status st = merkle::VerifyInclusion(leaf, j["leafIdx"].get<uint64_t>(),
                                              j["treeSize"].get<uint64_t>(), Views(proof), root);
    const bool want_err = j["wantErr"].get<bool>();
    EXPECT_EQ(st.ok(), !want_err) << j["desc"] << " -> " << st.ToString();
    (st.ok() ? accepted : refused)++;
  }
  // Each shape folder has one happy path, the additional folder several; most are tampered.
  EXPECT_GT(accepted, 5u);
  EXPECT_GT(refused, 60u);
}

TEST(MerkleVectorsTest, EveryConsistencyVectorIsAcceptedOrRefusedAsPublished) {
  const auto files = VectorFiles("consistency");
  ASSERT_GE(files.size(), 90u);
  size_t accepted = 0, refused = 0;
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const nlohmann::json j = ReadJson(f);
    const std::vector<std::string> proof = ProofOf(j);
    const Status st = merkle::VerifyConsistency(
        j["size1"].get<uint64_t>(), j["size2"].get<uint64_t>(),
        Base64Decode(j["root1"].get<std::string>()), Base64Decode(j["root2"].get<std::string>()),
        Views(proof));
    const bool want_err = j["wantErr"].get<bool>();
    EXPECT_EQ(st.ok(), !want_err) << j["desc"] << " -> " << st.ToString();
    (st.ok() ? accepted : refused)++;
  }
  EXPECT_GT(accepted, 4u);
  EXPECT_GT(refused, 60u);
}

// The leaves of RFC 6962's reference tests and the roots of their prefixes (the same tree the
// vectors were made from).
TEST(MerkleFunctionsTest, RootsOfTheReferenceLeavesMatchTheKnownValues) {
  const std::vector<std::string> leaves = {"",         "00",       "10",
                                           "2021",     "3031",     "40414243",
                                           "5051525354555657", "606162636465666768696a6b6c6d6e6f"};
  const std::vector<std::string> roots = {
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
  std::vector<Digest> hashes;
  for (size_t i = 0; i < leaves.size(); ++i) {
    hashes.push_back(merkle::LeafHash(Unhex(leaves[i])));
    EXPECT_EQ(HexDigest(merkle::RootFromLeaves(hashes)), roots[i]) << "size " << i + 1;
  }
  EXPECT_EQ(HexDigest(merkle::RootFromLeaves({})),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(merkle::EmptyRoot(), merkle::RootFromLeaves({}));
}

TEST(MerkleFunctionsTest, LeafAndNodeHashesAreDomainSeparated) {
  Digest a{}, b{};
  a[0] = 1;
  b[0] = 2;
  EXPECT_EQ(merkle::LeafHash(a), merkle::LeafHash(View(a)));
  // A node over (a, b) is not the leaf of a || b: the 0x00/0x01 prefixes keep them apart.
  EXPECT_NE(merkle::NodeHash(a, b), merkle::LeafHash(std::string(View(a)) + std::string(View(b))));
}

TEST(MerkleFunctionsTest, TreeHeadSigningInputIsTheDocumentedBytes) {
  Digest root{};
  for (size_t i = 0; i < root.size(); ++i) root[i] = static_cast<uint8_t>(i);
  const std::string s = merkle::TreeHeadSigningInput(0x0102030405060708ULL, root, 0x1122334455667788LL);
  ASSERT_EQ(s.size(), 65u);
  EXPECT_EQ(s.substr(0, 17), "convledger/sth/v1");
  EXPECT_EQ(s.substr(17, 8), Unhex("0102030405060708"));
  EXPECT_EQ(s.substr(25, 32), std::string(View(root)));
  EXPECT_EQ(s.substr(57, 8), Unhex("1122334455667788"));
}

// ---- the ledger's tree ----

class MerkleLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.clock = &clock_;
    Open();
  }
  void Open() {
    ledger_.reset();
    ledger_ = test::OpenOrDie(dir_.path(), options_);
    ASSERT_NE(ledger_, nullptr);
  }
  // Appends `n` events over a few conversations, one append each; returns their event hashes.
  void AppendNotes(int n) {
    for (int i = 0; i < n; ++i) {
      auto r = ledger_->Append({Note("conv-" + std::to_string(i % 3), "note " + std::to_string(i))});
      ASSERT_OK(r);
      hashes_.push_back(r->front().hash);
    }
  }
  std::vector<Digest> LeavesUpTo(size_t n) const {
    std::vector<Digest> out;
    for (size_t i = 0; i < n; ++i) out.push_back(merkle::LeafHash(hashes_[i]));
    return out;
  }
  // The event hashes of the whole log, read back.
  std::vector<Digest> LogHashes() {
    std::vector<Digest> out;
    EXPECT_OK(ledger_->ScanGlobal(0, {}, [&](const RawEvent& raw) {
      out.push_back(raw.hash);
      return true;
    }));
    return out;
  }
  void ExpectVerifies() {
    VerifyReport report;
    ASSERT_OK(ledger_->Verify(&report));
    EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
  }
  void ExpectTreeMatchesLog() {
    const std::vector<Digest> log = LogHashes();
    std::vector<Digest> leaves;
    for (const Digest& h : log) leaves.push_back(merkle::LeafHash(h));
    ASSERT_OK_AND_ASSIGN(Digest root, ledger_->MerkleRoot(0));
    EXPECT_EQ(root, merkle::RootFromLeaves(leaves));
    ExpectVerifies();
  }

  test::TempDir dir_;
  test::FixedClock clock_;
  Options options_;
  std::unique_ptr<Ledger> ledger_;
  std::vector<Digest> hashes_;
};

TEST_F(MerkleLedgerTest, EmptyLedgerHasTheEmptyRoot) {
  ASSERT_OK_AND_ASSIGN(Digest root, ledger_->MerkleRoot(0));
  EXPECT_EQ(root, merkle::EmptyRoot());
  EXPECT_STATUS(ledger_->ProveConsistency(0, 0), kInvalidArgument, "tree_size_out_of_range");
  EXPECT_STATUS(ledger_->ProveInclusion(1, 0), kInvalidArgument, "seq_out_of_range");
}

TEST_F(MerkleLedgerTest, RootOfEverySizeIsTheRootOfThoseEventHashes) {
  constexpr int kEvents = 70;
  AppendNotes(kEvents);
  for (size_t n = 1; n <= kEvents; ++n) {
    ASSERT_OK_AND_ASSIGN(Digest root, ledger_->MerkleRoot(n));
    EXPECT_EQ(root, merkle::RootFromLeaves(LeavesUpTo(n))) << "size " << n;
  }
  ASSERT_OK_AND_ASSIGN(Digest current, ledger_->MerkleRoot(0));
  EXPECT_EQ(current, merkle::RootFromLeaves(LeavesUpTo(kEvents)));
}

TEST_F(MerkleLedgerTest, EveryInclusionProofVerifies) {
  constexpr int kEvents = 45;
  AppendNotes(kEvents);
  for (uint64_t size : {1, 2, 3, 7, 8, 9, 16, 31, 32, 33, 45}) {
    const Digest root = merkle::RootFromLeaves(LeavesUpTo(size));
    for (uint64_t seq = 1; seq <= size; ++seq) {
      SCOPED_TRACE("seq " + std::to_string(seq) + " size " + std::to_string(size));
      ASSERT_OK_AND_ASSIGN(InclusionProof p, ledger_->ProveInclusion(seq, size));
      EXPECT_EQ(p.leaf_index, seq - 1);
      EXPECT_EQ(p.tree_size, size);
      EXPECT_EQ(p.event_hash, hashes_[seq - 1]);
      EXPECT_EQ(p.root_hash, root);
      EXPECT_OK(merkle::VerifyInclusion(p));
      EXPECT_OK(merkle::VerifyInclusion(View(p.leaf_hash), p.leaf_index, size,
                                        Views(p.audit_path), View(root)));
    }
  }
  // tree_size 0: the current tree.
  ASSERT_OK_AND_ASSIGN(InclusionProof p, ledger_->ProveInclusion(5, 0));
  EXPECT_EQ(p.tree_size, static_cast<uint64_t>(kEvents));
  EXPECT_OK(merkle::VerifyInclusion(p));
}

TEST_F(MerkleLedgerTest, ConsistencyProofsBetweenEveryPairOfSizesVerify) {
  constexpr int kEvents = 40;
  AppendNotes(kEvents);
  for (uint64_t second = 0; second <= kEvents; ++second) {
    const Digest root2 = merkle::RootFromLeaves(LeavesUpTo(second));
    for (uint64_t first = 1; first <= second; ++first) {
      SCOPED_TRACE(std::to_string(first) + " -> " + std::to_string(second));
      ASSERT_OK_AND_ASSIGN(ConsistencyProof p, ledger_->ProveConsistency(first, second));
      EXPECT_EQ(p.first_root, merkle::RootFromLeaves(LeavesUpTo(first)));
      EXPECT_EQ(p.second_root, root2);
      EXPECT_OK(merkle::VerifyConsistency(p));
    }
  }
}

TEST_F(MerkleLedgerTest, TamperedProofsAreRefused) {
  AppendNotes(21);
  ASSERT_OK_AND_ASSIGN(InclusionProof p, ledger_->ProveInclusion(6, 21));
  ASSERT_OK(merkle::VerifyInclusion(p));
  for (size_t i = 0; i < p.audit_path.size(); ++i) {
    for (int bit : {0, 7, 255}) {
      InclusionProof bad = p;
      bad.audit_path[i][bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      EXPECT_STATUS(merkle::VerifyInclusion(bad), kCorruption, "root_mismatch");
    }
  }
  InclusionProof bad = p;
  bad.audit_path.pop_back();
  EXPECT_STATUS(merkle::VerifyInclusion(bad), kCorruption, "proof_size_mismatch");
  bad = p;
  bad.audit_path.push_back(p.audit_path[0]);
  EXPECT_STATUS(merkle::VerifyInclusion(bad), kCorruption, "proof_size_mismatch");
  bad = p;
  bad.event_hash = hashes_[6];  // another event
  EXPECT_STATUS(merkle::VerifyInclusion(bad), kCorruption, "proof_invalid");
  bad.leaf_hash = merkle::LeafHash(bad.event_hash);
  EXPECT_STATUS(merkle::VerifyInclusion(bad), kCorruption, "root_mismatch");
  bad = p;
  bad.root_hash[31] ^= 1;
  EXPECT_STATUS(merkle::VerifyInclusion(bad), kCorruption, "root_mismatch");
  // (A proof for leaf 5 of 21 also holds for 22 leaves: the audit path has the same shape. The
  // tree size is bound by the signed tree head, not by the proof; sizes of another shape fail.)
  for (uint64_t size : {5, 6, 8, 64}) {
    bad = p;
    bad.tree_size = size;
    EXPECT_FALSE(merkle::VerifyInclusion(bad).ok()) << size;
  }

  ASSERT_OK_AND_ASSIGN(ConsistencyProof c, ledger_->ProveConsistency(7, 21));
  ASSERT_OK(merkle::VerifyConsistency(c));
  for (size_t i = 0; i < c.proof.size(); ++i) {
    ConsistencyProof bad_c = c;
    bad_c.proof[i][3] ^= 0x10;
    EXPECT_STATUS(merkle::VerifyConsistency(bad_c), kCorruption, "root_mismatch");
  }
  ConsistencyProof bad_c = c;
  bad_c.first_root[0] ^= 1;
  EXPECT_FALSE(merkle::VerifyConsistency(bad_c).ok());
  bad_c = c;
  bad_c.second_root[0] ^= 1;
  EXPECT_FALSE(merkle::VerifyConsistency(bad_c).ok());
  bad_c = c;
  bad_c.first = 8;
  EXPECT_FALSE(merkle::VerifyConsistency(bad_c).ok());
  bad_c = c;
  bad_c.first = 0;
  bad_c.proof.clear();
  EXPECT_STATUS(merkle::VerifyConsistency(bad_c), kInvalidArgument, "empty_first_tree");
}

TEST_F(MerkleLedgerTest, OutOfRangeRequestsAreInvalidArguments) {
  AppendNotes(10);
  EXPECT_STATUS(ledger_->MerkleRoot(11), kInvalidArgument, "tree_size_out_of_range");
  EXPECT_STATUS(ledger_->ProveInclusion(0, 5), kInvalidArgument, "seq_out_of_range");
  EXPECT_STATUS(ledger_->ProveInclusion(6, 5), kInvalidArgument, "seq_out_of_range");
  EXPECT_STATUS(ledger_->ProveInclusion(11, 0), kInvalidArgument, "seq_out_of_range");
  EXPECT_STATUS(ledger_->ProveInclusion(3, 11), kInvalidArgument, "tree_size_out_of_range");
  EXPECT_STATUS(ledger_->ProveConsistency(5, 3), kInvalidArgument, "tree_size_out_of_range");
  EXPECT_STATUS(ledger_->ProveConsistency(3, 11), kInvalidArgument, "tree_size_out_of_range");
}

TEST_F(MerkleLedgerTest, BatchesAndRejectedAppendsLeaveTheTreeConsistent) {
  AppendNotes(3);
  // A batch whose third event breaks an invariant appends nothing, and adds no leaf.
  EXPECT_STATUS(ledger_->Append({Note("c", "a"), Note("c", "b"), Edited("c", "never-sent")}),
                kInvariantViolation, "message_not_found");
  ASSERT_OK(ledger_->Append({Sent("c", "m1"), Note("c", "x"), Edited("c", "m1")}));
  ExpectTreeMatchesLog();
}

TEST_F(MerkleLedgerTest, FailingWritersInConcurrentGroupsLeaveTheTreeConsistent) {
  // Many writers at once are grouped into shared batches; every other append breaks an
  // invariant and is rolled back to its save point inside the group while its neighbours commit.
  constexpr int kThreads = 8;
  constexpr int kAppends = 60;
  std::atomic<int> failed{0}, ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        const std::string conv = "w" + std::to_string(t);
        auto r = (i % 2 == 0) ? ledger_->Append({Note(conv, "n"), Note("shared", "s")})
                              : ledger_->Append({Note(conv, "n"), Edited(conv, "nope")});
        (r.ok() ? ok : failed)++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), kThreads * kAppends / 2);
  EXPECT_EQ(ledger_->LastGlobalSeq(), static_cast<uint64_t>(ok.load()) * 2);
  ExpectTreeMatchesLog();
  Open();
  ExpectTreeMatchesLog();
  // Proofs on the reopened ledger agree with the tree built in the groups.
  ASSERT_OK_AND_ASSIGN(InclusionProof p, ledger_->ProveInclusion(17, 0));
  EXPECT_OK(merkle::VerifyInclusion(p));
}

TEST_F(MerkleLedgerTest, ReopenKeepsTheTreeAndContinuesIt) {
  AppendNotes(13);
  ASSERT_OK_AND_ASSIGN(Digest before, ledger_->MerkleRoot(0));
  Open();
  ASSERT_OK_AND_ASSIGN(Digest after, ledger_->MerkleRoot(0));
  EXPECT_EQ(before, after);
  AppendNotes(20);
  for (size_t n : {13, 14, 16, 32, 33}) {
    ASSERT_OK_AND_ASSIGN(Digest root, ledger_->MerkleRoot(n));
    EXPECT_EQ(root, merkle::RootFromLeaves(LeavesUpTo(n)));
  }
  ASSERT_OK_AND_ASSIGN(ConsistencyProof c, ledger_->ProveConsistency(13, 33));
  EXPECT_EQ(c.first_root, before);
  EXPECT_OK(merkle::VerifyConsistency(c));
  ExpectVerifies();
}

// The RocksDB database under a closed ledger, for changes no ledger code path can make.
class RawDb {
 public:
  explicit RawDb(const std::string& dir) {
    rocksdb::DBOptions opts;
    std::vector<std::string> names;
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(opts, dir, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (const std::string& n : names) descs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(opts, dir, descs, &handles_, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
    names_ = names;
  }
  ~RawDb() {
    if (!db_) return;
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
  rocksdb::DB* db() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(const std::string& name) {
    for (size_t i = 0; i < names_.size(); ++i)
      if (names_[i] == name) return handles_[i];
    ADD_FAILURE() << "no column family " << name;
    return nullptr;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::vector<std::string> names_;
};

std::string NodeKey(int level, uint64_t index) {
  std::string k(1, static_cast<char>(level));
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>((index >> (8 * i)) & 0xff));
  return k;
}

TEST_F(MerkleLedgerTest, LedgerWithoutATreeIsBackfilledAtOpen) {
  AppendNotes(37);
  ASSERT_OK_AND_ASSIGN(Digest expected, ledger_->MerkleRoot(0));
  ledger_.reset();
  {
    // What a ledger written before the tree existed looks like: no merkle column family.
    RawDb raw(dir_.path());
    ASSERT_TRUE(raw.db()->DropColumnFamily(raw.cf("merkle")).ok());
  }
  {
    // A read-only open cannot build it: proofs are unavailable, verify says why.
    Options ro = options_;
    ro.read_only = true;
    auto opened = Ledger::Open(dir_.path(), ro);
    ASSERT_OK(opened);
    EXPECT_STATUS((*opened)->MerkleRoot(0), kBusy, "merkle_tree_incomplete");
    EXPECT_STATUS((*opened)->ProveInclusion(3, 0), kBusy, "merkle_tree_incomplete");
    VerifyReport report;
    ASSERT_OK((*opened)->Verify(&report));
    ASSERT_EQ(report.problems.size(), 1u) << ::testing::PrintToString(report.problems);
    EXPECT_NE(report.problems[0].find("no Merkle tree"), std::string::npos);
  }
  std::vector<std::string> log;
  options_.info_log = [&](const std::string& line) { log.push_back(line); };
  Open();
  EXPECT_FALSE(log.empty());
  ASSERT_OK_AND_ASSIGN(Digest rebuilt, ledger_->MerkleRoot(0));
  EXPECT_EQ(rebuilt, expected);
  ExpectTreeMatchesLog();
  AppendNotes(5);
  ExpectTreeMatchesLog();
  ASSERT_OK_AND_ASSIGN(ConsistencyProof c, ledger_->ProveConsistency(37, 42));
  EXPECT_EQ(c.first_root, expected);
  EXPECT_OK(merkle::VerifyConsistency(c));
  // A second open has nothing to build.
  log.clear();
  Open();
  EXPECT_TRUE(log.empty()) << ::testing::PrintToString(log);
}

TEST_F(MerkleLedgerTest, BackfillOverADamagedLogStillOpensButRefusesAppends) {
  AppendNotes(9);
  ledger_.reset();
  {
    RawDb raw(dir_.path());
    ASSERT_TRUE(raw.db()->DropColumnFamily(raw.cf("merkle")).ok());
    std::string key;
    for (int i = 7; i >= 0; --i) key.push_back(static_cast<char>(i == 0 ? 5 : 0));
    ASSERT_TRUE(raw.db()->Delete({}, raw.cf("global_index"), key).ok());  // a gap at 5
  }
  std::vector<std::string> log;
  options_.info_log = [&](const std::string& line) { log.push_back(line); };
  Open();  // verify must be able to open it
  EXPECT_NE(::testing::PrintToString(log).find("could not be built"), std::string::npos)
      << ::testing::PrintToString(log);
  EXPECT_STATUS(ledger_->Append({Note("c", "x")}), kCorruption, "merkle_backfill_incomplete");
  EXPECT_STATUS(ledger_->MerkleRoot(0), kBusy, "merkle_tree_incomplete");
  VerifyReport report;
  ASSERT_OK(ledger_->Verify(&report));
  EXPECT_TRUE(test::NamesGlobalSeq(::testing::PrintToString(report.problems), 5))
      << ::testing::PrintToString(report.problems);
}

TEST_F(MerkleLedgerTest, VerifyReportsADamagedLeafAndADamagedInnerNode) {
  AppendNotes(12);
  ledger_.reset();
  {
    RawDb raw(dir_.path());
    const std::string garbage(32, 'x');
    ASSERT_TRUE(raw.db()->Put({}, raw.cf("merkle"), NodeKey(0, 4), garbage).ok());
    ASSERT_TRUE(raw.db()->Put({}, raw.cf("merkle"), NodeKey(2, 2), garbage).ok());
  }
  Open();
  VerifyReport report;
  ASSERT_OK(ledger_->Verify(&report));
  const std::string all = ::testing::PrintToString(report.problems);
  EXPECT_NE(all.find("global_seq 5: Merkle leaf does not match"), std::string::npos) << all;
  EXPECT_NE(all.find("merkle: stored tree of size 12 has root"), std::string::npos) << all;
  // A proof through the damaged leaf is refused at the source.
  EXPECT_STATUS(ledger_->ProveInclusion(5, 0), kCorruption, "merkle_leaf_mismatch");
}

TEST_F(MerkleLedgerTest, VerifyReportsAMissingNode) {
  AppendNotes(6);
  ledger_.reset();
  {
    RawDb raw(dir_.path());
    ASSERT_TRUE(raw.db()->Delete({}, raw.cf("merkle"), NodeKey(0, 1)).ok());  // leaf of seq 2
  }
  Open();
  VerifyReport report;
  ASSERT_OK(ledger_->Verify(&report));
  EXPECT_NE(::testing::PrintToString(report.problems).find("global_seq 2: no Merkle leaf"),
            std::string::npos)
      << ::testing::PrintToString(report.problems);
  EXPECT_STATUS(ledger_->ProveInclusion(1, 6), kCorruption, "merkle_node_missing");
  EXPECT_STATUS(ledger_->MerkleRoot(2), kOk, "");  // needs only the level-1 node
}

TEST_F(MerkleLedgerTest, DamagedRightEdgeIsRebuiltFromTheLogByAReadWriteOpen) {
  AppendNotes(6);
  ASSERT_OK_AND_ASSIGN(Digest expected, ledger_->MerkleRoot(0));
  ledger_.reset();
  {
    RawDb raw(dir_.path());
    ASSERT_TRUE(raw.db()->Delete({}, raw.cf("merkle"), NodeKey(2, 0)).ok());  // frontier node
  }
  {
    Options ro = options_;
    ro.read_only = true;
    auto opened = Ledger::Open(dir_.path(), ro);
    ASSERT_OK(opened);  // verify must be able to open it
    EXPECT_STATUS((*opened)->MerkleRoot(0), kBusy, "merkle_tree_incomplete");
    VerifyReport report;
    ASSERT_OK((*opened)->Verify(&report));
    EXPECT_FALSE(report.ok());
  }
  std::vector<std::string> log;
  options_.info_log = [&](const std::string& line) { log.push_back(line); };
  Open();
  EXPECT_NE(::testing::PrintToString(log).find("damaged"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(Digest root, ledger_->MerkleRoot(0));
  EXPECT_EQ(root, expected);
  ExpectTreeMatchesLog();
}

// ---- signed tree heads ----

TEST_F(MerkleLedgerTest, SignedTreeHeadVerifiesWithThePublicKeyAndNothingElse) {
  AppendNotes(9);
  ASSERT_OK_AND_ASSIGN(SignedTreeHead sth, ledger_->SignTreeHead());
  ASSERT_OK_AND_ASSIGN(std::string pem, ledger_->PublicKeyPem());
  EXPECT_NE(pem.find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_EQ(sth.tree_size, 9u);
  EXPECT_EQ(sth.root_hash, merkle::RootFromLeaves(LeavesUpTo(9)));
  EXPECT_EQ(sth.signature.size(), 64u);
  EXPECT_OK(merkle::VerifyTreeHead(sth, pem));

  // Any change to any signed field or any byte of the signature is refused.
  for (size_t i = 0; i < sth.signature.size(); ++i) {
    SignedTreeHead bad = sth;
    bad.signature[i] ^= 0x01;
    EXPECT_STATUS(merkle::VerifyTreeHead(bad, pem), kCorruption, "bad_signature") << i;
  }
  for (size_t i = 0; i < sth.root_hash.size(); ++i) {
    SignedTreeHead bad = sth;
    bad.root_hash[i] ^= 0x80;
    EXPECT_STATUS(merkle::VerifyTreeHead(bad, pem), kCorruption, "bad_signature") << i;
  }
  SignedTreeHead bad = sth;
  bad.tree_size += 1;
  EXPECT_STATUS(merkle::VerifyTreeHead(bad, pem), kCorruption, "bad_signature");
  bad = sth;
  bad.timestamp_us += 1;
  EXPECT_STATUS(merkle::VerifyTreeHead(bad, pem), kCorruption, "bad_signature");
  bad = sth;
  bad.signature.pop_back();
  EXPECT_STATUS(merkle::VerifyTreeHead(bad, pem), kCorruption, "bad_signature");
  EXPECT_STATUS(merkle::VerifyTreeHead(sth, "not a key"), kInvalidArgument, "bad_public_key");

  // Another ledger's key does not verify it.
  test::TempDir other_dir;
  auto other = test::OpenOrDie(other_dir.path(), options_);
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(std::string other_pem, other->PublicKeyPem());
  EXPECT_NE(other_pem, pem);
  EXPECT_STATUS(merkle::VerifyTreeHead(sth, other_pem), kCorruption, "bad_signature");
}

TEST_F(MerkleLedgerTest, KeyFileIsPrivateAndSurvivesReopen) {
  const std::string key = dir_.Sub("keys/tree_signing_ed25519.pem");
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir_.Sub("keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  std::ifstream in(key);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("BEGIN PRIVATE KEY"), std::string::npos);  // PKCS#8

  ASSERT_OK_AND_ASSIGN(std::string pem, ledger_->PublicKeyPem());
  AppendNotes(2);
  ledger_.reset();
  // A read-only open reads the same key and signs with it.
  Options ro = options_;
  ro.read_only = true;
  auto opened = Ledger::Open(dir_.path(), ro);
  ASSERT_OK(opened);
  ASSERT_OK_AND_ASSIGN(std::string pem2, (*opened)->PublicKeyPem());
  EXPECT_EQ(pem, pem2);
  ASSERT_OK_AND_ASSIGN(SignedTreeHead sth, (*opened)->SignTreeHead());
  EXPECT_EQ(sth.tree_size, 2u);
  EXPECT_OK(merkle::VerifyTreeHead(sth, pem));
}

TEST_F(MerkleLedgerTest, SigningKeyPathOptionIsUsed) {
  test::TempDir other_dir;
  Options o = options_;
  o.signing_key_path = other_dir.Sub("secret/sth.pem");
  o.master_key = std::string(32, 'k');  // no key file either: nothing under second/keys
  auto opened = Ledger::Open(dir_.Sub("second"), o);
  ASSERT_OK(opened);
  struct stat st {};
  ASSERT_EQ(::stat(o.signing_key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("second/keys")));
  ASSERT_OK_AND_ASSIGN(SignedTreeHead sth, (*opened)->SignTreeHead());
  ASSERT_OK_AND_ASSIGN(std::string pem, (*opened)->PublicKeyPem());
  EXPECT_OK(merkle::VerifyTreeHead(sth, pem));
}

TEST_F(MerkleLedgerTest, ReadOnlyOpenWithoutAKeyCannotSign) {
  AppendNotes(1);
  ledger_.reset();
  std::filesystem::remove_all(dir_.Sub("keys"));
  Options ro = options_;
  ro.read_only = true;
  auto opened = Ledger::Open(dir_.path(), ro);
  ASSERT_OK(opened);
  EXPECT_STATUS((*opened)->SignTreeHead(), kNotFound, "signing_key_not_found");
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("keys")));
}

}  // namespace
}  // namespace convledger

namespace convledger {
namespace {

// Options::merkle_tree off (benchmarks only): no proofs for what was appended meanwhile, and the
// next open with the tree on builds the missing part from the log.
TEST(MerkleSwitch, OffThenOnBuildsTheTreeFromTheLog) {
  test::TempDir dir;
  std::vector<Digest> leaves;
  {
    Options o;
    o.merkle_tree = false;
    auto l = Ledger::Open(dir.path(), o);
    ASSERT_OK(l);
    for (int i = 0; i < 10; ++i) {
      auto r = (*l)->Append({test::Sent("c", "m" + std::to_string(i))});
      ASSERT_OK(r);
      leaves.push_back(merkle::LeafHash((*r)[0].hash));
    }
    auto p = (*l)->ProveInclusion(3, 0);
    EXPECT_TRUE(test::StatusIs(p.status(), Status::Code::kBusy, "merkle_tree_incomplete"));
  }
  auto l = Ledger::Open(dir.path(), Options{});
  ASSERT_OK(l);
  auto root = (*l)->MerkleRoot(0);
  ASSERT_OK(root);
  EXPECT_EQ(*root, merkle::RootFromLeaves(leaves));
  auto p = (*l)->ProveInclusion(3, 0);
  ASSERT_OK(p);
  EXPECT_TRUE(merkle::VerifyInclusion(*p).ok());
}

}  // namespace
}  // namespace convledger
