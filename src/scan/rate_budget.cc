#include "picket/scan/rate_budget.h"

#include <mutex>

#include "scan/token_bucket.h"

namespace picket::scan {

namespace {

class LockedBucket final : public RateBudget {
 public:
  LockedBucket(std::uint64_t rate, MonoTime start)
      : rate_(rate),
        bucket_(static_cast<double>(rate), DefaultBurst(static_cast<double>(rate)), start) {}

  std::uint64_t Take(MonoTime now, std::uint64_t want) override {
    std::lock_guard lock(mu_);
    return bucket_.Take(now, want);
  }
  std::chrono::nanoseconds TimeUntilOne(MonoTime now) const override {
    std::lock_guard lock(mu_);
    return bucket_.TimeUntil(now, 1);
  }
  std::uint64_t rate_pps() const override { return rate_; }

 private:
  const std::uint64_t rate_;
  mutable std::mutex mu_;
  TokenBucket bucket_;
};

}  // namespace

std::shared_ptr<RateBudget> RateBudget::Create(std::uint64_t rate_pps, MonoTime start) {
  return std::make_shared<LockedBucket>(rate_pps == 0 ? 1 : rate_pps, start);
}

}  // namespace picket::scan
