// How long a SYN scan listens after its last probe.
//
// RttEstimator: the smoothed round-trip time and its variance (RFC 6298, as
// nmap adapts its timeouts): the first sample sets srtt = r and rttvar = r/2,
// later ones move srtt by 1/8 and rttvar by 1/4 of the error. Timeout() is
// srtt + 4·rttvar clamped to [floor, cap]; with no sample yet it is the cap
// (the configured --wait, which is the maximum).
//
// ReplyTimer: which probes are being timed. The sender notes one first attempt
// per batch (key = ip << 16 | port) with its send time; the receiver looks the
// reply's key up and feeds the estimator. Bounded: at most `max_pending` probes
// are timed at once; when full the table is emptied (probes that never answer
// would otherwise hold it for good), which only costs samples.
//
// ReplyWaitOver: the wait after the last probe ends when every probe has been
// answered (a SYN-ACK or an RST; counted only where the scanner tracks it), or
// when the timeout has passed since the last send.
//
// Not thread-safe; the SYN scanner guards a ReplyTimer with a mutex. Time is
// always passed in, so tests need no clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "picket/common/clock.h"

namespace picket::scan {

class RttEstimator {
 public:
  RttEstimator(std::chrono::nanoseconds floor, std::chrono::nanoseconds cap);
  void Sample(std::chrono::nanoseconds rtt);
  std::chrono::nanoseconds Timeout() const;
  std::uint64_t samples() const { return samples_; }
  std::chrono::nanoseconds srtt() const { return srtt_; }
  std::chrono::nanoseconds rttvar() const { return rttvar_; }

 private:
  std::chrono::nanoseconds floor_, cap_;
  std::chrono::nanoseconds srtt_{0}, rttvar_{0};
  std::uint64_t samples_ = 0;
};

class ReplyTimer {
 public:
  ReplyTimer(std::chrono::nanoseconds floor, std::chrono::nanoseconds cap,
             std::size_t max_pending = 4096)
      : estimator_(floor, cap), max_pending_(max_pending) {}
  void Sent(std::uint64_t key, MonoTime at);
  // A validated reply for `key` seen at `at`; feeds the estimator if the probe was timed.
  void Answered(std::uint64_t key, MonoTime at);
  const RttEstimator& estimator() const { return estimator_; }
  std::size_t pending() const { return sent_at_.size(); }

 private:
  RttEstimator estimator_;
  std::size_t max_pending_;
  std::unordered_map<std::uint64_t, MonoTime> sent_at_;
};

// `answered` is nullopt when the scanner does not count answers (too many probes to track).
bool ReplyWaitOver(MonoTime now, MonoTime last_send, std::optional<std::uint64_t> answered,
                   std::uint64_t probes, std::chrono::nanoseconds timeout);

inline std::uint64_t ProbeKey(std::uint32_t ip, std::uint16_t port) {
  return std::uint64_t{ip} << 16 | port;
}

}  // namespace picket::scan
