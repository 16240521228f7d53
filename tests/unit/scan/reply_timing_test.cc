// The SYN scanner's reply timeout and early end, on injected times (no clock, no sleeps).
#include <doctest/doctest.h>

#include "scan/reply_timing.h"

namespace picket::scan {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const MonoTime kT0 = MonoTime(seconds(3600));

TEST_CASE("with no reply measured the timeout is the configured wait") {
  RttEstimator rtt(milliseconds(10), seconds(1));
  CHECK(rtt.samples() == 0);
  CHECK(rtt.Timeout() == seconds(1));
}

TEST_CASE("the first sample sets srtt and half of it as variance (RFC 6298)") {
  RttEstimator rtt(milliseconds(1), seconds(1));
  rtt.Sample(milliseconds(40));
  CHECK(rtt.srtt() == milliseconds(40));
  CHECK(rtt.rttvar() == milliseconds(20));
  CHECK(rtt.Timeout() == milliseconds(40 + 4 * 20));
}

TEST_CASE("later samples move srtt by 1/8 and rttvar by 1/4 of the error") {
  RttEstimator rtt(milliseconds(1), seconds(1));
  rtt.Sample(milliseconds(80));  // srtt 80, rttvar 40
  rtt.Sample(milliseconds(16));  // error 64: rttvar (3*40+64)/4 = 46, srtt (7*80+16)/8 = 72
  CHECK(rtt.srtt() == milliseconds(72));
  CHECK(rtt.rttvar() == milliseconds(46));
  CHECK(rtt.Timeout() == milliseconds(72 + 4 * 46));
}

TEST_CASE("steady loopback-like times converge under the floor and the floor holds") {
  RttEstimator rtt(milliseconds(10), seconds(1));
  for (int i = 0; i < 200; ++i) rtt.Sample(microseconds(i % 2 ? 60 : 40));
  CHECK(rtt.srtt() < microseconds(100));
  CHECK(rtt.rttvar() < microseconds(100));
  CHECK(rtt.Timeout() == milliseconds(10));
}

TEST_CASE("slow replies are capped at the configured wait, the maximum") {
  RttEstimator rtt(milliseconds(10), milliseconds(500));
  rtt.Sample(milliseconds(300));  // 300 + 4*150 = 900 > 500
  CHECK(rtt.Timeout() == milliseconds(500));
}

TEST_CASE("a floor above the cap gives way to the cap, and wait 0 means no wait at all") {
  RttEstimator zero(milliseconds(30), nanoseconds(0));
  CHECK(zero.Timeout() == nanoseconds(0));
  zero.Sample(milliseconds(5));
  CHECK(zero.Timeout() == nanoseconds(0));
  RttEstimator small(milliseconds(30), milliseconds(20));
  small.Sample(microseconds(10));
  CHECK(small.Timeout() == milliseconds(20));
}

TEST_CASE("negative times (a reply handled before the send was noted) count as zero") {
  RttEstimator rtt(milliseconds(0), seconds(1));
  rtt.Sample(-milliseconds(3));
  CHECK(rtt.srtt() == nanoseconds(0));
  CHECK(rtt.samples() == 1);
}

TEST_CASE("ReplyTimer times noted probes only, once each") {
  ReplyTimer timer(milliseconds(0), seconds(1));
  timer.Sent(ProbeKey(0x7f000001, 80), kT0);
  timer.Answered(ProbeKey(0x7f000002, 80), kT0 + milliseconds(1));  // not timed
  CHECK(timer.estimator().samples() == 0);
  timer.Answered(ProbeKey(0x7f000001, 80), kT0 + milliseconds(4));
  CHECK(timer.estimator().samples() == 1);
  CHECK(timer.estimator().srtt() == milliseconds(4));
  timer.Answered(ProbeKey(0x7f000001, 80), kT0 + milliseconds(900));  // a duplicate reply
  CHECK(timer.estimator().samples() == 1);
  CHECK(timer.pending() == 0);
}

TEST_CASE("ReplyTimer keeps a probe's first send time (a retry does not shorten it)") {
  ReplyTimer timer(milliseconds(0), seconds(1));
  timer.Sent(7, kT0);
  timer.Sent(7, kT0 + milliseconds(250));
  timer.Answered(7, kT0 + milliseconds(260));
  CHECK(timer.estimator().srtt() == milliseconds(260));
}

TEST_CASE("ReplyTimer's table is bounded: probes that never answer cannot fill it for good") {
  ReplyTimer timer(milliseconds(0), seconds(1), 4);
  for (std::uint64_t k = 0; k < 4; ++k) timer.Sent(k, kT0);  // never answered
  CHECK(timer.pending() == 4);
  timer.Sent(100, kT0 + milliseconds(1));  // full: emptied, then noted
  CHECK(timer.pending() == 1);
  timer.Answered(100, kT0 + milliseconds(3));
  CHECK(timer.estimator().samples() == 1);
  CHECK(timer.estimator().srtt() == milliseconds(2));
}

TEST_CASE("the wait ends as soon as every probe is answered") {
  const MonoTime last = kT0;
  CHECK_FALSE(ReplyWaitOver(last + milliseconds(1), last, 99, 100, seconds(1)));
  CHECK(ReplyWaitOver(last + milliseconds(1), last, 100, 100, seconds(1)));
  CHECK(ReplyWaitOver(last, last, 100, 100, seconds(1)));  // even at once
}

TEST_CASE("otherwise the wait ends at the timeout after the last send") {
  const MonoTime last = kT0;
  CHECK_FALSE(ReplyWaitOver(last + milliseconds(29), last, 99, 100, milliseconds(30)));
  CHECK(ReplyWaitOver(last + milliseconds(30), last, 99, 100, milliseconds(30)));
  // Answers not counted (a huge shard): only the timeout ends it.
  CHECK_FALSE(ReplyWaitOver(last + milliseconds(29), last, std::nullopt, 100, milliseconds(30)));
  CHECK(ReplyWaitOver(last + milliseconds(31), last, std::nullopt, 100, milliseconds(30)));
  // Nothing to probe: over at once.
  CHECK(ReplyWaitOver(last, last, 0, 0, seconds(1)));
}

TEST_CASE("estimator plus wait: a 1% loss tail waits the measured timeout, not the cap") {
  ReplyTimer timer(milliseconds(10), seconds(1));
  MonoTime t = kT0;
  for (std::uint64_t k = 0; k < 50; ++k) {
    timer.Sent(k, t);
    timer.Answered(k, t + microseconds(k % 3 == 0 ? 900 : 300));
    t += milliseconds(1);
  }
  const nanoseconds timeout = timer.estimator().Timeout();
  CHECK(timeout >= milliseconds(10));
  CHECK(timeout < milliseconds(20));
  CHECK_FALSE(ReplyWaitOver(t + milliseconds(9), t, 4999, 5000, timeout));
  CHECK(ReplyWaitOver(t + timeout, t, 4999, 5000, timeout));
}

}  // namespace
}  // namespace picket::scan
