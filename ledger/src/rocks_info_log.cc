#include "rocks_info_log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace convledger {
namespace {

class InfoLog final : public rocksdb::Logger {
 public:
  explicit InfoLog(std::string path) : path_(std::move(path)) {}
  ~InfoLog() override { CloseImpl().PermitUncheckedError(); }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    const int fd = File();
    if (fd < 0) return;
    char buf[4096];
    timeval now{};
    gettimeofday(&now, nullptr);
    tm t{};
    localtime_r(&now.tv_sec, &t);
    int n = std::snprintf(buf, sizeof buf, "%04d/%02d/%02d-%02d:%02d:%02d.%06ld %ld ",
                          t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min,
                          t.tm_sec, static_cast<long>(now.tv_usec), static_cast<long>(gettid()));
    if (n < 0) return;
    va_list copy;
    va_copy(copy, ap);
    const int m = std::vsnprintf(buf + n, sizeof buf - n - 1, format, copy);
    va_end(copy);
    if (m < 0) return;
    size_t len = std::min(sizeof buf - 2, static_cast<size_t>(n) + static_cast<size_t>(m));
    if (buf[len - 1] != '\n') buf[len++] = '\n';
    // One write per line (O_APPEND: lines of concurrent threads do not interleave); a failed or
    // short write (a full disk) loses this line and nothing else.
    [[maybe_unused]] ssize_t w = ::write(fd, buf, len);
  }

 protected:
  rocksdb::Status CloseImpl() override {
    std::lock_guard lk(mu_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return rocksdb::Status::OK();
  }

 private:
  int File() {
    if (int fd = fd_.load(std::memory_order_acquire); fd >= 0) return fd;
    std::lock_guard lk(mu_);
    if (fd_ < 0) fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return fd_;
  }

  const std::string path_;
  std::mutex mu_;
  std::atomic<int> fd_{-1};
};

}  // namespace

std::shared_ptr<rocksdb::Logger> NewInfoLog(const std::string& dir) {
  const std::string path = dir + "/LOG";
  if (::access(path.c_str(), F_OK) == 0) {
    timeval now{};
    gettimeofday(&now, nullptr);
    const std::string old = path + ".old." +
                            std::to_string(static_cast<int64_t>(now.tv_sec) * 1000000 + now.tv_usec);
    ::rename(path.c_str(), old.c_str());  // best effort, as RocksDB's own rotation
  }
  return std::make_shared<InfoLog>(path);
}

}  // namespace convledger
