// The collector's Prometheus metrics: request counters and latency
// histograms fed by the HTTP sessions, ingest counters fed by the handlers,
// and a writer for the text exposition format 0.0.4 that GET /metrics uses to
// add the gauges it computes on the spot (fleet, disk, analysis). Debian 12
// has no Prometheus C++ client library, so the format (a few lines of text
// per sample) is written here; `promtool check metrics` checks it in the tests.
// Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace picket::collector {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Writes families one after another: Family() once, then its samples.
class ExpositionWriter {
 public:
  // type: "counter", "gauge" or "histogram".
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const MetricLabels& labels, double value);
  void Sample(std::string_view name, double value) { Sample(name, {}, value); }
  const std::string& text() const { return text_; }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

// Label values escaped as the format wants (\\, \", \n); names are ours.
std::string EscapeLabelValue(std::string_view value);
// Shortest text that reads back as the same double; +Inf, -Inf, NaN spelled.
std::string FormatMetricValue(double value);

class CollectorMetrics {
 public:
  static constexpr std::array<double, 12> kLatencyBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

  // route: wire::EndpointName or "unmatched".
  void ObserveRequest(std::string_view route, int code, double seconds);
  // kind: "chunk", "results", "logs" or "status".
  void AddIngest(std::string_view kind, std::uint64_t bytes, std::uint64_t rows);
  // quota: one of kQuotaNames (a device's request refused with 429).
  void AddQuotaRefusal(std::string_view quota);
  static constexpr std::array<const char*, 3> kQuotaNames = {"disk", "bytes_per_minute",
                                                             "rows_per_minute"};
  void RequestStarted() { inflight_.fetch_add(1, std::memory_order_relaxed); }
  void RequestFinished() { inflight_.fetch_sub(1, std::memory_order_relaxed); }

  // The families kept here, as exposition text.
  void Write(ExpositionWriter& out) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kLatencyBuckets.size()> buckets{};  // not cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram, std::less<>> latency_;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>, std::less<>> ingest_;  // bytes, rows
  std::array<std::uint64_t, kQuotaNames.size()> quota_refusals_{};
  std::atomic<std::int64_t> inflight_{0};
};

}  // namespace picket::collector
