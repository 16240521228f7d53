#include "picket/common/clock.h"

namespace picket {

MonoTime SystemClock::MonotonicNow() const { return std::chrono::steady_clock::now(); }

std::int64_t SystemClock::WallMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

}  // namespace picket
