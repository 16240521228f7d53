// The device budget (scan_max_pps) caps the sum of several scans' own rates.
#include <doctest/doctest.h>

#include <vector>

#include "fakes/capture/fake_clock.h"
#include "scan/token_bucket.h"

namespace picket::scan {
namespace {

using capture::testing::FakeClock;
using std::chrono::milliseconds;

// `scans` senders at `own_rate` each take in turn every millisecond for 10 s.
std::uint64_t SentInTenSeconds(int scans, double own_rate, std::uint64_t budget_rate) {
  FakeClock clock;
  std::vector<TokenBucket> own;
  for (int i = 0; i < scans; ++i) own.emplace_back(own_rate, DefaultBurst(own_rate), clock.MonotonicNow());
  auto budget = budget_rate ? RateBudget::Create(budget_rate, clock.MonotonicNow()) : nullptr;
  std::uint64_t sent = 0;
  for (int ms = 0; ms < 10'000; ++ms) {
    clock.Advance(milliseconds(1));
    for (auto& bucket : own) sent += TakeWithBudget(bucket, budget.get(), clock.MonotonicNow(), 64);
  }
  return sent;
}

TEST_CASE("a device budget caps three shards of 2000 pps at 1000 pps in total") {
  const auto sent = SentInTenSeconds(3, 2000, 1000);
  CHECK(sent >= 9'900);
  CHECK(sent <= 10'050);  // 10 s at 1000/s plus at most one burst (50 ms)
}

TEST_CASE("a budget above the sum of the scans' rates changes nothing") {
  CHECK(SentInTenSeconds(3, 2000, 100'000) == SentInTenSeconds(3, 2000, 0));
  CHECK(SentInTenSeconds(3, 2000, 0) >= 59'000);
}

TEST_CASE("tokens a budget refuses go back to the scan's own bucket") {
  FakeClock clock;
  TokenBucket own(1000, DefaultBurst(1000), clock.MonotonicNow());
  auto budget = RateBudget::Create(100, clock.MonotonicNow());
  clock.Advance(milliseconds(20));  // own: 20 tokens, budget: 2
  CHECK(TakeWithBudget(own, budget.get(), clock.MonotonicNow(), 64) == 2);
  CHECK(own.Take(clock.MonotonicNow(), 64) == 18);
  CHECK(TimeUntilBoth(own, budget.get(), clock.MonotonicNow()) == milliseconds(10));
}

}  // namespace
}  // namespace picket::scan
