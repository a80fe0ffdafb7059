// Prometheus metrics of the HTTP server, rendered in the text exposition format (version 0.0.4).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace convledger {
class Ledger;
}

namespace convledger::api {

class Metrics {
 public:
  // Latency histogram bucket upper bounds, seconds.
  static constexpr std::array<double, 14> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                      0.005,  0.01,    0.025,  0.05,  0.1,
                                                      0.25,   0.5,     1.0,    2.5};
  // One finished request: its route template ("/v1/conversations/{id}/view"), status, duration.
  void ObserveRequest(const std::string& route, int status, double seconds);
  void CountWebhook(const std::string& platform, const std::string& outcome);

  std::atomic<uint64_t> appended_events{0};
  std::atomic<uint64_t> duplicate_events{0};
  std::atomic<uint64_t> evidence_bodies{0};
  std::atomic<int64_t> feed_consumers{0};
  std::atomic<int64_t> open_connections{0};
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<uint64_t> view_cache_hits{0};      // current views served without rendering
  std::atomic<uint64_t> view_cache_misses{0};    // rendered (not kept, stale, or bypassed)
  std::atomic<uint64_t> not_modified{0};         // 304 answers to If-None-Match
  std::atomic<uint64_t> inline_requests{0};      // handled on the I/O thread that read them

  // Everything, plus the ledger's sizes and sequence read now.
  std::string Render(Ledger& ledger);

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
  };
  std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // GUARDED_BY(mu_)
  std::map<std::string, Histogram> latency_;                  // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, uint64_t> webhooks_;  // GUARDED_BY(mu_)
};

}  // namespace convledger::api
