#include "scan/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace picket::scan {

TokenBucket::TokenBucket(double rate_per_second, double burst, MonoTime start)
    : rate_(rate_per_second), burst_(std::max(1.0, burst)), last_(start) {}

double TokenBucket::Available(MonoTime now) const {
  if (now <= last_) return tokens_;
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  return std::min(burst_, tokens_ + elapsed * rate_);
}

std::uint64_t TokenBucket::Take(MonoTime now, std::uint64_t want) {
  tokens_ = Available(now);
  if (now > last_) last_ = now;
  const double whole = std::floor(tokens_);
  const std::uint64_t grant = std::min<std::uint64_t>(want, static_cast<std::uint64_t>(whole));
  tokens_ -= static_cast<double>(grant);
  return grant;
}

void TokenBucket::Give(std::uint64_t n) {
  tokens_ = std::min(burst_, tokens_ + static_cast<double>(n));
}

std::chrono::nanoseconds TokenBucket::TimeUntil(MonoTime now, std::uint64_t n) const {
  const double need = static_cast<double>(n) - Available(now);
  if (need <= 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::ceil(need / rate_ * 1e9)));
}

double DefaultBurst(double rate_per_second) { return std::max(1.0, rate_per_second * 0.05); }

std::uint64_t TakeWithBudget(TokenBucket& own, RateBudget* budget, MonoTime now, std::uint64_t want) {
  const std::uint64_t mine = own.Take(now, want);
  if (budget == nullptr || mine == 0) return mine;
  const std::uint64_t granted = budget->Take(now, mine);
  own.Give(mine - granted);
  return granted;
}

std::chrono::nanoseconds TimeUntilBoth(const TokenBucket& own, const RateBudget* budget, MonoTime now) {
  const auto wait = own.TimeUntil(now, 1);
  return budget == nullptr ? wait : std::max(wait, budget->TimeUntilOne(now));
}

}  // namespace picket::scan
