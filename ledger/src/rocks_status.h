// A failed RocksDB call as a ledger Status, shared by every file that calls RocksDB.
#pragma once

#include <rocksdb/status.h>

#include <string>

#include "ledger/status.h"

namespace convledger {

// An I/O error: `disk_full` when the file system ran out of space (ENOSPC, which RocksDB reports
// as an IOError with subcode kNoSpace, also as the background error of a failed flush), `io_error`
// otherwise. Clients can tell "free some space" from "the disk is failing".
inline Status IOErrorFromRocks(const rocksdb::Status& s, std::string msg) {
  if (s.IsNoSpace()) return Status::DiskFull(std::move(msg));
  return Status::IOError(std::move(msg));
}

}  // namespace convledger
