#include "picket/common/backoff.h"

#include <algorithm>

namespace picket {

JitteredBackoff::JitteredBackoff(std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                 std::uint64_t seed)
    : base_(std::max(base, std::chrono::milliseconds(1))),
      cap_(std::max(cap, base_)),
      rng_(seed) {}

std::chrono::milliseconds JitteredDelay(std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, int attempt,
                                        std::mt19937_64& rng) {
  base = std::max(base, std::chrono::milliseconds(1));
  cap = std::max(cap, base);
  // Doubling stops once the ceiling reaches cap, so it never overflows.
  std::int64_t ceiling = base.count();
  for (int i = 0; i < attempt && ceiling < cap.count(); ++i) ceiling *= 2;
  ceiling = std::min<std::int64_t>(ceiling, cap.count());
  std::uniform_int_distribution<std::int64_t> pick(base.count(), ceiling);
  return std::chrono::milliseconds(pick(rng));
}

std::chrono::milliseconds JitteredBackoff::Next() {
  return JitteredDelay(base_, cap_, attempt_++, rng_);
}

std::chrono::milliseconds JitteredBackoff::NextAtLeast(std::chrono::milliseconds server_hint) {
  return std::max(Next(), server_hint);
}

}  // namespace picket
