// A rate shared by every scan of one device: the device-level `scan_max_pps`.
// Each scan keeps its own token bucket (a job's rate_pps) and also takes every
// probe from this one, so the sum over all running scans and shards stays at
// or under the budget whatever their own rates add up to.
// Thread-safe: the shard threads of one worker take from it at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "picket/common/clock.h"

namespace picket::scan {

class RateBudget {
 public:
  // `rate_pps` > 0; the burst is 50 ms worth, as a scan's own bucket; empty at `start`.
  static std::shared_ptr<RateBudget> Create(std::uint64_t rate_pps, MonoTime start);
  virtual ~RateBudget() = default;

  // Grants min(want, whole tokens available at `now`).
  virtual std::uint64_t Take(MonoTime now, std::uint64_t want) = 0;
  // How long after `now` until one token is there.
  virtual std::chrono::nanoseconds TimeUntilOne(MonoTime now) const = 0;
  virtual std::uint64_t rate_pps() const = 0;
};

}  // namespace picket::scan
