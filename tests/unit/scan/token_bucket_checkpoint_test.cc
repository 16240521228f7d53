// Token-bucket math and checkpoint bookkeeping on a fake clock.
#include <doctest/doctest.h>

#include "fakes/capture/fake_clock.h"
#include "scan/checkpoint.h"
#include "scan/token_bucket.h"

namespace picket::scan {
namespace {

using capture::testing::FakeClock;
using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST_CASE("token bucket starts empty and grants rate x time") {
  FakeClock clock;
  TokenBucket bucket(1000, DefaultBurst(1000), clock.MonotonicNow());
  CHECK(bucket.Take(clock.MonotonicNow(), 10) == 0);
  CHECK(bucket.TimeUntil(clock.MonotonicNow(), 1) == std::chrono::milliseconds(1));
  clock.Advance(milliseconds(10));
  CHECK(bucket.Take(clock.MonotonicNow(), 100) == 10);
  CHECK(bucket.Take(clock.MonotonicNow(), 100) == 0);
  clock.Advance(milliseconds(3));
  CHECK(bucket.Take(clock.MonotonicNow(), 2) == 2);  // want caps the grant; 1 token stays
  CHECK(bucket.Take(clock.MonotonicNow(), 5) == 1);
}

TEST_CASE("token bucket caps the burst") {
  FakeClock clock;
  TokenBucket bucket(10000, DefaultBurst(10000), clock.MonotonicNow());  // 500 tokens
  clock.Advance(milliseconds(1000));
  CHECK(bucket.Take(clock.MonotonicNow(), 100000) == 500);
  TokenBucket slow(100, DefaultBurst(100), clock.MonotonicNow());  // 50 ms of tokens: 5
  clock.Advance(milliseconds(10'000));
  CHECK(slow.Take(clock.MonotonicNow(), 1000) == 5);
}

// A sender that takes batches and "sleeps" with overshoot must still average the
// configured rate: the burst banks the overshoot.
void CheckLongRunRate(double rate, microseconds overshoot) {
  FakeClock clock;
  TokenBucket bucket(rate, DefaultBurst(rate), clock.MonotonicNow());
  const auto start = clock.MonotonicNow();
  std::uint64_t sent = 0;
  for (int i = 0; i < 2'000'000 && clock.MonotonicNow() - start < std::chrono::seconds(10); ++i) {
    const auto now = clock.MonotonicNow();
    const std::uint64_t got = bucket.Take(now, 64);
    sent += got;
    if (got == 0) {
      const auto wait = bucket.TimeUntil(now, 1);
      clock.Advance(std::chrono::duration_cast<milliseconds>(wait) + milliseconds(0));
      // FakeClock moves in ms; model sub-ms sleeps as 1 ms plus overshoot.
      if (wait < milliseconds(1)) clock.Advance(milliseconds(1));
      clock.Advance(std::chrono::duration_cast<milliseconds>(overshoot));
    }
  }
  const double seconds = std::chrono::duration<double>(clock.MonotonicNow() - start).count();
  const double achieved = static_cast<double>(sent) / seconds;
  CHECK(achieved == doctest::Approx(rate).epsilon(0.01));
}

TEST_CASE("token bucket long-run rate within 1% from 100 pps to 1 Mpps despite sleep overshoot") {
  for (double rate : {100.0, 1000.0, 10000.0, 100000.0, 1000000.0}) {
    CAPTURE(rate);
    CheckLongRunRate(rate, microseconds(0));
    CheckLongRunRate(rate, microseconds(2000));
  }
}

TEST_CASE("sent window: checkpoint only covers indices whose wait has passed") {
  FakeClock clock;
  SentWindow w(100, milliseconds(2000));
  CHECK(w.Checkpoint(clock.MonotonicNow()) == 100);
  w.MarkSent(150, clock.MonotonicNow());
  clock.Advance(milliseconds(500));
  w.MarkSent(200, clock.MonotonicNow());
  clock.Advance(milliseconds(1499));
  CHECK(w.Checkpoint(clock.MonotonicNow()) == 100);
  clock.Advance(milliseconds(1));
  CHECK(w.Checkpoint(clock.MonotonicNow()) == 150);
  clock.Advance(milliseconds(500));
  CHECK(w.Checkpoint(clock.MonotonicNow()) == 200);
  w.MarkSent(180, clock.MonotonicNow());  // never backwards
  clock.Advance(milliseconds(5000));
  CHECK(w.Checkpoint(clock.MonotonicNow()) == 200);
}

TEST_CASE("sent window merges reports closer than 1 ms, keeping the later time") {
  FakeClock clock;
  SentWindow w(0, milliseconds(10));
  for (int i = 1; i <= 1000; ++i) w.MarkSent(static_cast<std::uint64_t>(i), clock.MonotonicNow());
  CHECK(w.pending() == 1);
  clock.Advance(milliseconds(10));
  CHECK(w.Checkpoint(clock.MonotonicNow()) == 1000);
}

TEST_CASE(
    "sent window: a steady stream of reports under 1 ms apart still advances the checkpoint") {
  // The sender reports after every grant: at 20,000 pps that can be every 50 us. Merging each
  // report into the previous one slid a single entry forward for ever.
  const MonoTime t0{};
  SentWindow w(0, milliseconds(1000));
  for (int i = 1; i <= 40'000; ++i) {  // 2 s of reports, one every 50 us
    w.MarkSent(static_cast<std::uint64_t>(i), t0 + std::chrono::microseconds(50 * i));
  }
  // What was sent by t = 1 s (20,000 reports) has waited 1 s; the 1 ms groups bound what more.
  const std::uint64_t checkpoint = w.Checkpoint(t0 + milliseconds(2000));
  CHECK(checkpoint >= 19'980);
  CHECK(checkpoint <= 20'000);
  CHECK(w.pending() <= 1'001);  // one entry per ms of the wait, as before
}

TEST_CASE("in-flight window: checkpoint is the lowest unfinished index") {
  InFlightWindow w(10);
  CHECK(w.Checkpoint() == 10);
  const auto a = w.Launch(), b = w.Launch(), c = w.Launch();
  CHECK(w.Checkpoint() == 10);
  w.Complete(b);
  CHECK(w.Checkpoint() == a);
  w.Complete(a);
  CHECK(w.Checkpoint() == c);
  w.Complete(c);
  CHECK(w.Checkpoint() == 13);
}

TEST_CASE("resume state round-trips and bad files are refused with the line") {
  ResumeState s{42, 1, 4, "00ff00ff00ff00ff", 1234, 5000};
  auto back = ResumeState::Parse(s.Serialize(), "ck");
  REQUIRE(back.ok());
  CHECK(back->seed == 42);
  CHECK(back->shard_index == 1);
  CHECK(back->shard_count == 4);
  CHECK(back->space == "00ff00ff00ff00ff");
  CHECK(back->next == 1234);
  CHECK(back->total == 5000);

  auto bad_shard = ResumeState::Parse("version=1\nseed=1\nshard=4/4\n", "ck");
  REQUIRE_FALSE(bad_shard.ok());
  CHECK(bad_shard.status().message() == "ck:3: bad shard: 'shard=4/4'");
  auto past = ResumeState::Parse("version=1\nseed=1\nshard=0/1\nspace=ab\nnext=9\ntotal=8\n", "ck");
  REQUIRE_FALSE(past.ok());
  CHECK(past.status().message().find("next=9") != std::string::npos);
  CHECK_FALSE(ResumeState::Parse("version=1\nseed=1\n", "ck").ok());
  CHECK_FALSE(ResumeState::Parse("garbage\n", "ck").ok());
  CHECK(SpaceFingerprint("a") == SpaceFingerprint("a"));
  CHECK(SpaceFingerprint("a") != SpaceFingerprint("b"));
}

}  // namespace
}  // namespace picket::scan
