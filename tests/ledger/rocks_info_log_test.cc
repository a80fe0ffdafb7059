// RocksDB's info log as the ledger writes it (ledger/src/rocks_info_log.h): rotated like
// RocksDB's own, and a full disk loses log lines instead of aborting the process.
#include "rocks_info_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_util.h"

namespace convledger {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(RocksInfoLog, RotatesTheOldLogAndWritesLines) {
  test::TempDir dir;
  std::ofstream(fs::path(dir.path()) / "LOG") << "previous run\n";
  auto log = NewInfoLog(dir.path());
  rocksdb::Log(rocksdb::InfoLogLevel::INFO_LEVEL, log, "flushed %d bytes", 42);
  rocksdb::Log(rocksdb::InfoLogLevel::DEBUG_LEVEL, log, "below the level: not written");
  EXPECT_NE(Slurp(fs::path(dir.path()) / "LOG").find("flushed 42 bytes\n"), std::string::npos);
  EXPECT_EQ(Slurp(fs::path(dir.path()) / "LOG").find("below the level"), std::string::npos);
  int old = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (e.path().filename().string().rfind("LOG.old.", 0) == 0) {
      ++old;
      EXPECT_EQ(Slurp(e.path()), "previous run\n");
    }
  }
  EXPECT_EQ(old, 1);
}

TEST(RocksInfoLog, AFullDiskDropsLinesAndNothingElse) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  test::TempDir dir;
  auto log = NewInfoLog(dir.path());
  // Every write to /dev/full fails with ENOSPC, as on a full file system.
  fs::create_symlink("/dev/full", fs::path(dir.path()) / "LOG");
  for (int i = 0; i < 1000; ++i)
    rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, log, "line %d on a full disk", i);
  EXPECT_TRUE(log->Close().ok());
}

TEST(RocksInfoLog, NeverCreatesTheDirectory) {
  test::TempDir dir;
  const std::string missing = dir.path() + "/missing";
  auto log = NewInfoLog(missing);
  rocksdb::Log(rocksdb::InfoLogLevel::INFO_LEVEL, log, "nowhere to go");
  EXPECT_FALSE(fs::exists(missing));
}

}  // namespace
}  // namespace convledger
