// How a failed RocksDB call becomes a ledger Status (ledger/src/rocks_status.h): a full disk
// must stay recognisable as disk_full all the way to the HTTP API's 507.
#include "rocks_status.h"

#include <gtest/gtest.h>

namespace convledger {
namespace {

TEST(RocksStatus, NoSpaceIsDiskFull) {
  // What RocksDB's POSIX file system returns for ENOSPC.
  const rocksdb::Status no_space = rocksdb::Status::NoSpace("While appending to file", "000042.log");
  ASSERT_TRUE(no_space.IsNoSpace());
  const Status st = IOErrorFromRocks(no_space, "append failed: " + no_space.ToString());
  EXPECT_TRUE(st.IsIOError());
  EXPECT_EQ(st.reason(), "disk_full");
  EXPECT_EQ(st.message(), "append failed: " + no_space.ToString());
}

TEST(RocksStatus, OtherIOErrorsStayIoError) {
  for (const rocksdb::Status& s :
       {rocksdb::Status::IOError("While open a file for appending", "000042.log"),
        rocksdb::Status::IOError(rocksdb::Status::kStaleFile), rocksdb::Status::Aborted("x")}) {
    const Status st = IOErrorFromRocks(s, s.ToString());
    EXPECT_TRUE(st.IsIOError()) << s.ToString();
    EXPECT_EQ(st.reason(), "io_error") << s.ToString();
  }
}

}  // namespace
}  // namespace convledger
