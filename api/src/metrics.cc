#include "metrics.h"

#include <cstdio>

#include "ledger/ledger.h"

namespace convledger::api {
namespace {

// Label values are route templates and fixed words, but escape anyway (Prometheus rules).
std::string Label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

void Metrics::ObserveRequest(const std::string& route, int status, double seconds) {
  std::lock_guard lk(mu_);
  ++requests_[{route, status}];
  Histogram& h = latency_[route];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++h.counts[i];
  ++h.count;
  h.sum += seconds;
}

void Metrics::CountWebhook(const std::string& platform, const std::string& outcome) {
  std::lock_guard lk(mu_);
  ++webhooks_[{platform, outcome}];
}

std::string Metrics::Render(Ledger& ledger) {
  std::string o;
  o.reserve(8192);
  {
    std::lock_guard lk(mu_);
    o += "# HELP convledger_http_requests_total HTTP requests by route template and status.\n";
    o += "# TYPE convledger_http_requests_total counter\n";
    for (const auto& [k, n] : requests_)
      o += "convledger_http_requests_total{route=\"" + Label(k.first) + "\",status=\"" +
           std::to_string(k.second) + "\"} " + std::to_string(n) + "\n";
    o += "# HELP convledger_http_request_duration_seconds Time from a complete request to its "
         "response being handed to the socket.\n";
    o += "# TYPE convledger_http_request_duration_seconds histogram\n";
    for (const auto& [route, h] : latency_) {
      const std::string l = "route=\"" + Label(route) + "\"";
      for (size_t i = 0; i < kBuckets.size(); ++i)
        o += "convledger_http_request_duration_seconds_bucket{" + l + ",le=\"" +
             Num(kBuckets[i]) + "\"} " + std::to_string(h.counts[i]) + "\n";
      o += "convledger_http_request_duration_seconds_bucket{" + l + ",le=\"+Inf\"} " +
           std::to_string(h.count) + "\n";
      o += "convledger_http_request_duration_seconds_sum{" + l + "} " + Num(h.sum) + "\n";
      o += "convledger_http_request_duration_seconds_count{" + l + "} " +
           std::to_string(h.count) + "\n";
    }
    o += "# HELP convledger_webhook_deliveries_total Webhook POSTs by platform and outcome.\n";
    o += "# TYPE convledger_webhook_deliveries_total counter\n";
    for (const auto& [k, n] : webhooks_)
      o += "convledger_webhook_deliveries_total{platform=\"" + Label(k.first) +
           "\",outcome=\"" + Label(k.second) + "\"} " + std::to_string(n) + "\n";
  }
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
         " " + std::to_string(v) + "\n";
  };
  auto gauge = [&](const char* name, const char* help, int64_t v) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name +
         " " + std::to_string(v) + "\n";
  };
  counter("convledger_appended_events_total", "Events appended through the API (not duplicates).",
          appended_events.load());
  counter("convledger_duplicate_events_total",
          "Events acknowledged as idempotent repeats (nothing appended).", duplicate_events.load());
  counter("convledger_evidence_deliveries_total", "Webhook bodies recorded as evidence.",
          evidence_bodies.load());
  counter("convledger_rejected_connections_total",
          "Connections refused because the connection cap was reached.",
          rejected_connections.load());
  counter("convledger_view_cache_hits_total",
          "Current histories and customer views served from the view cache.",
          view_cache_hits.load());
  counter("convledger_view_cache_misses_total",
          "Current histories and customer views rendered from the stored state.",
          view_cache_misses.load());
  counter("convledger_not_modified_total",
          "Reads answered 304 Not Modified (If-None-Match matched the current ETag).",
          not_modified.load());
  counter("convledger_inline_requests_total",
          "Requests handled on the I/O thread that read them (limits.inline_requests), not on a "
          "worker.",
          inline_requests.load());
  gauge("convledger_feed_consumers", "Open Server-Sent Events feed streams.",
        feed_consumers.load());
  gauge("convledger_open_connections", "Open HTTP connections.", open_connections.load());
  gauge("convledger_last_global_seq", "Last committed global sequence.",
        static_cast<int64_t>(ledger.LastGlobalSeq()));
  if (auto st = ledger.Stats(); st.ok()) {
    gauge("convledger_conversations", "Conversations in the ledger.",
          static_cast<int64_t>(st->conversations));
    gauge("convledger_rocksdb_live_data_bytes", "RocksDB's estimate of live data, all column "
          "families.", static_cast<int64_t>(st->live_data_bytes));
    gauge("convledger_rocksdb_events_sst_bytes", "Size of the events column family's SST files.",
          static_cast<int64_t>(st->events_sst_bytes));
  }
  o += "# HELP convledger_projection_ready Whether a view is live (1) or rebuilding (0).\n"
       "# TYPE convledger_projection_ready gauge\n";
  for (const auto& p : ledger.Projections())
    o += "convledger_projection_ready{projection=\"" + Label(p.name) + "\"} " +
         (p.ready ? "1" : "0") + "\n";
  return o;
}

}  // namespace convledger::api
