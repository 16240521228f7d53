#include "scan/reply_timing.h"

#include <algorithm>

namespace picket::scan {

using std::chrono::nanoseconds;

RttEstimator::RttEstimator(nanoseconds floor, nanoseconds cap)
    : floor_(std::min(floor, cap)), cap_(cap) {}

void RttEstimator::Sample(nanoseconds rtt) {
  if (rtt < nanoseconds(0)) rtt = nanoseconds(0);
  if (samples_++ == 0) {
    srtt_ = rtt;
    rttvar_ = rtt / 2;
    return;
  }
  const nanoseconds error = rtt > srtt_ ? rtt - srtt_ : srtt_ - rtt;
  rttvar_ = (3 * rttvar_ + error) / 4;
  srtt_ = (7 * srtt_ + rtt) / 8;
}

nanoseconds RttEstimator::Timeout() const {
  if (samples_ == 0) return cap_;
  return std::clamp(srtt_ + 4 * rttvar_, floor_, cap_);
}

void ReplyTimer::Sent(std::uint64_t key, MonoTime at) {
  if (sent_at_.size() >= max_pending_) sent_at_.clear();
  sent_at_.emplace(key, at);  // a key already timed keeps its first send time
}

void ReplyTimer::Answered(std::uint64_t key, MonoTime at) {
  const auto it = sent_at_.find(key);
  if (it == sent_at_.end()) return;
  estimator_.Sample(at - it->second);
  sent_at_.erase(it);
}

bool ReplyWaitOver(MonoTime now, MonoTime last_send, std::optional<std::uint64_t> answered,
                   std::uint64_t probes, nanoseconds timeout) {
  if (answered && *answered >= probes) return true;
  return now - last_send >= timeout;
}

}  // namespace picket::scan
