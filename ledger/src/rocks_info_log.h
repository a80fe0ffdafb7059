// RocksDB's informational log (<dir>/LOG) without RocksDB's file writer.
//
// RocksDB's own logger writes through a WritableFileWriter, and Debian's static librocksdb is
// built with assertions on: once the disk is full and one LOG write has failed, the next log line
// (RocksDB logs while it recovers from the very same error) trips
// `assert(sync_without_flush_called_)` in WritableFileWriter and aborts the whole server
// (found by tests/soak). This logger writes each line with one write(2) and drops the line if
// that fails: a full disk loses log lines, never the process.
#pragma once

#include <rocksdb/env.h>

#include <memory>
#include <string>

namespace convledger {

// Like RocksDB's default: an existing <dir>/LOG is renamed to LOG.old.<microseconds> (which
// RocksDB's keep_log_file_num clean-up then counts), and lines go to a fresh <dir>/LOG, opened on
// the first line written while <dir> exists (this never creates <dir>).
std::shared_ptr<rocksdb::Logger> NewInfoLog(const std::string& dir);

}  // namespace convledger
