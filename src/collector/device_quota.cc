#include "collector/device_quota.h"

#include <algorithm>
#include <cmath>

namespace picket::collector {

namespace {

// Seconds until a bucket refilled at `per_minute` holds `need`.
std::int64_t SecondsUntil(double have, double need, std::uint64_t per_minute) {
  const double missing = need - have;
  const double seconds = missing * 60.0 / static_cast<double>(per_minute);
  return std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(seconds)), 1, 60);
}

}  // namespace

void DeviceQuota::Refill(Buckets& b, MonoTime now) const {
  const double minutes = std::chrono::duration<double>(now - b.refilled).count() / 60.0;
  b.refilled = now;
  if (limits_.bytes_per_minute) {
    b.bytes = std::min<double>(limits_.bytes_per_minute,
                               b.bytes + minutes * static_cast<double>(limits_.bytes_per_minute));
  }
  if (limits_.rows_per_minute) {
    b.rows = std::min<double>(limits_.rows_per_minute,
                              b.rows + minutes * static_cast<double>(limits_.rows_per_minute));
  }
}

std::optional<QuotaRefusal> DeviceQuota::Charge(const std::string& device, std::uint64_t bytes,
                                                std::uint64_t rows) {
  if (!limits_.bytes_per_minute && !limits_.rows_per_minute) return std::nullopt;
  const MonoTime now = clock_->MonotonicNow();
  std::lock_guard lock(mu_);
  auto [it, fresh] = devices_.try_emplace(device);
  Buckets& b = it->second;
  if (fresh) {  // a device starts with a full minute's allowance
    b.bytes = static_cast<double>(limits_.bytes_per_minute);
    b.rows = static_cast<double>(limits_.rows_per_minute);
    b.refilled = now;
  } else {
    Refill(b, now);
  }
  // A request larger than a whole minute's allowance could never fit: it is
  // let through when the bucket is full, so big chunks are slowed, not lost.
  const double need_bytes =
      std::min<double>(static_cast<double>(bytes), static_cast<double>(limits_.bytes_per_minute));
  const double need_rows =
      std::min<double>(static_cast<double>(rows), static_cast<double>(limits_.rows_per_minute));
  if (limits_.bytes_per_minute && b.bytes < need_bytes) {
    return QuotaRefusal{"bytes_per_minute",
                        "device '" + device + "' is over its quota of " +
                            std::to_string(limits_.bytes_per_minute) +
                            " bytes a minute (--device-bytes-per-minute); retry later",
                        SecondsUntil(b.bytes, need_bytes, limits_.bytes_per_minute)};
  }
  if (limits_.rows_per_minute && b.rows < need_rows) {
    return QuotaRefusal{"rows_per_minute",
                        "device '" + device + "' is over its quota of " +
                            std::to_string(limits_.rows_per_minute) +
                            " rows a minute (--device-rows-per-minute); retry later",
                        SecondsUntil(b.rows, need_rows, limits_.rows_per_minute)};
  }
  if (limits_.bytes_per_minute) b.bytes -= static_cast<double>(bytes);
  if (limits_.rows_per_minute) b.rows -= static_cast<double>(rows);
  return std::nullopt;
}

}  // namespace picket::collector
