// Token-bucket rate limiter driven by an explicit monotonic time, so the unit
// tests move a fake clock and the math is exact. Tokens accrue at `rate` per
// second up to `burst`; the sender takes what is there and sleeps until the next
// token otherwise. The burst absorbs sleep overshoot and scheduler hiccups (the
// sender catches up instead of losing the time), which keeps the long-run rate
// within a fraction of a percent of the target once the sender keeps up.
// Not thread-safe: one sender owns it.
#pragma once

#include <chrono>
#include <cstdint>

#include "picket/common/clock.h"
#include "picket/scan/rate_budget.h"

namespace picket::scan {

class TokenBucket {
 public:
  // Starts empty at `start`: the first token is available 1/rate later.
  TokenBucket(double rate_per_second, double burst, MonoTime start);

  // Refills up to `now`, then grants min(want, whole tokens available).
  std::uint64_t Take(MonoTime now, std::uint64_t want);
  // Puts back tokens taken but not used (up to the burst).
  void Give(std::uint64_t n);
  // How long after `now` until `n` tokens are available (0 when they already are).
  std::chrono::nanoseconds TimeUntil(MonoTime now, std::uint64_t n) const;

  double rate() const { return rate_; }
  double burst() const { return burst_; }

 private:
  double Available(MonoTime now) const;

  double rate_;
  double burst_;
  double tokens_ = 0;
  MonoTime last_;
};

// The default burst for a rate: 50 ms worth of tokens, at least 1.
double DefaultBurst(double rate_per_second);

// Takes up to `want` probes from a scan's own bucket and then from the
// device's budget (null: none); what the budget refuses goes back to `own`.
std::uint64_t TakeWithBudget(TokenBucket& own, RateBudget* budget, MonoTime now, std::uint64_t want);
// How long until both have a token.
std::chrono::nanoseconds TimeUntilBoth(const TokenBucket& own, const RateBudget* budget, MonoTime now);

}  // namespace picket::scan
