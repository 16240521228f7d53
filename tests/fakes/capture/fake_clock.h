// A Clock tests move by hand. Monotonic and wall time advance together unless
// a test steps the wall clock alone (an NTP step, an RTC reset). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "picket/common/clock.h"

namespace picket::capture::testing {

class FakeClock final : public Clock {
 public:
  MonoTime MonotonicNow() const override {
    return MonoTime(std::chrono::nanoseconds(mono_ns_.load()));
  }
  std::int64_t WallMillis() const override { return wall_ms_.load(); }

  void Advance(Millis d) {
    mono_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    wall_ms_ += d.count();
  }
  void StepWall(Millis d) { wall_ms_ += d.count(); }

 private:
  std::atomic<std::int64_t> mono_ns_{std::int64_t{3'600} * 1'000'000'000};
  std::atomic<std::int64_t> wall_ms_{1'763'721'363'000};  // 2025-11-21
};

}  // namespace picket::capture::testing
