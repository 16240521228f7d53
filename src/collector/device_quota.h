// Per-device ingest quotas (issue 13): how many bytes (decompressed) and how
// many rows (result and log lines) one device may store per minute, so one
// token holder cannot fill the collector's disk or database for everyone.
// Token buckets refilled continuously on the monotonic clock, each holding
// one minute's allowance; a request over the allowance is refused whole (429
// with Retry-After to that device only) and charges nothing. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "picket/common/clock.h"

namespace picket::collector {

struct DeviceQuotaLimits {
  std::uint64_t bytes_per_minute = 0;  // 0: no limit
  std::uint64_t rows_per_minute = 0;   // 0: no limit
};

struct QuotaRefusal {
  std::string_view quota;     // "bytes_per_minute" or "rows_per_minute" (metrics)
  std::string message;        // names the quota, its limit and the flag
  std::int64_t retry_after_s;  // when the bucket holds enough again (1 … 60)
};

class DeviceQuota {
 public:
  DeviceQuota(DeviceQuotaLimits limits, const Clock* clock) : limits_(limits), clock_(clock) {}

  // Charges `bytes` and `rows` to the device when both fit, else refuses.
  std::optional<QuotaRefusal> Charge(const std::string& device, std::uint64_t bytes,
                                     std::uint64_t rows);

 private:
  struct Buckets {
    double bytes = 0, rows = 0;  // what is left
    MonoTime refilled{};
  };
  void Refill(Buckets& b, MonoTime now) const;

  const DeviceQuotaLimits limits_;
  const Clock* clock_;
  std::mutex mu_;
  std::map<std::string, Buckets, std::less<>> devices_;
};

}  // namespace picket::collector
