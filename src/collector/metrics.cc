#include "collector/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace picket::collector {

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[64];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  if (ec != std::errc()) return "NaN";
  return std::string(text, end);
}

void ExpositionWriter::Family(std::string_view name, std::string_view type,
                              std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  text_ += help;  // ours: no backslash or newline
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void ExpositionWriter::Sample(std::string_view name, const MetricLabels& labels, double value) {
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    bool first = true;
    for (const auto& [label, v] : labels) {
      if (!first) text_ += ',';
      first = false;
      text_ += label;
      text_ += "=\"";
      text_ += EscapeLabelValue(v);
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += FormatMetricValue(value);
  text_ += '\n';
}

void CollectorMetrics::ObserveRequest(std::string_view route, int code, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{std::string(route), code}];
  auto it = latency_.find(route);
  if (it == latency_.end()) it = latency_.emplace(std::string(route), Histogram{}).first;
  Histogram& h = it->second;
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      ++h.buckets[i];
      break;
    }
  }
  ++h.count;
  h.sum += seconds;
}

void CollectorMetrics::AddIngest(std::string_view kind, std::uint64_t bytes, std::uint64_t rows) {
  std::lock_guard lock(mu_);
  auto it = ingest_.find(kind);
  if (it == ingest_.end()) it = ingest_.emplace(std::string(kind), std::pair{0ull, 0ull}).first;
  it->second.first += bytes;
  it->second.second += rows;
}

void CollectorMetrics::AddQuotaRefusal(std::string_view quota) {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < kQuotaNames.size(); ++i) {
    if (quota == kQuotaNames[i]) ++quota_refusals_[i];
  }
}

void CollectorMetrics::Write(ExpositionWriter& out) const {
  std::lock_guard lock(mu_);
  out.Family("picket_http_requests_total", "counter",
             "HTTP requests answered, by route and status code.");
  for (const auto& [key, n] : requests_) {
    out.Sample("picket_http_requests_total",
               {{"route", key.first}, {"code", std::to_string(key.second)}},
               static_cast<double>(n));
  }
  out.Family("picket_http_request_duration_seconds", "histogram",
             "Time from the request header to the response written, by route.");
  for (const auto& [route, h] : latency_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      out.Sample("picket_http_request_duration_seconds_bucket",
                 {{"route", route}, {"le", FormatMetricValue(kLatencyBuckets[i])}},
                 static_cast<double>(cumulative));
    }
    out.Sample("picket_http_request_duration_seconds_bucket", {{"route", route}, {"le", "+Inf"}},
               static_cast<double>(h.count));
    out.Sample("picket_http_request_duration_seconds_sum", {{"route", route}}, h.sum);
    out.Sample("picket_http_request_duration_seconds_count", {{"route", route}},
               static_cast<double>(h.count));
  }
  out.Family("picket_http_inflight_requests", "gauge", "Requests being served now.");
  out.Sample("picket_http_inflight_requests",
             static_cast<double>(std::max<std::int64_t>(0, inflight_.load())));
  out.Family("picket_ingest_bytes_total", "counter",
             "Request body bytes accepted from devices, by kind (chunk, results, logs, status).");
  for (const char* kind : {"chunk", "results", "logs", "status"}) {
    auto it = ingest_.find(kind);
    out.Sample("picket_ingest_bytes_total", {{"kind", kind}},
               it == ingest_.end() ? 0.0 : static_cast<double>(it->second.first));
  }
  out.Family("picket_ingest_rows_total", "counter",
             "Rows accepted from devices, by kind (chunks, result and log lines, heartbeats).");
  for (const char* kind : {"chunk", "results", "logs", "status"}) {
    auto it = ingest_.find(kind);
    out.Sample("picket_ingest_rows_total", {{"kind", kind}},
               it == ingest_.end() ? 0.0 : static_cast<double>(it->second.second));
  }
  out.Family("picket_quota_refusals_total", "counter",
             "Device requests refused with 429 by a per-device quota (disk: "
             "--device-disk-quota; bytes_per_minute, rows_per_minute).");
  for (std::size_t i = 0; i < kQuotaNames.size(); ++i) {
    out.Sample("picket_quota_refusals_total", {{"quota", kQuotaNames[i]}},
               static_cast<double>(quota_refusals_[i]));
  }
}

}  // namespace picket::collector
