#include "picket/common/backoff.h"

#include <algorithm>

namespace picket {

JitteredBackoff::JitteredBackoff(std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                 std::uint64_t seed)
    : base_(std::max(base, std::chrono::milliseconds(1))),
      cap_(std::max(cap, base_)),
      rng_(seed) {}

std::chrono::milliseconds JitteredBackoff::Next() {
  // Doubling stops once the ceiling reaches cap, so the shift never overflows.
  std::int64_t ceiling = base_.count();
  for (int i = 0; i < attempt_ && ceiling < cap_.count(); ++i) ceiling *= 2;
  ceiling = std::min<std::int64_t>(ceiling, cap_.count());
  ++attempt_;
  std::uniform_int_distribution<std::int64_t> pick(base_.count(), ceiling);
  return std::chrono::milliseconds(pick(rng_));
}

std::chrono::milliseconds JitteredBackoff::NextAtLeast(std::chrono::milliseconds server_hint) {
  return std::max(Next(), server_hint);
}

}  // namespace picket
