#include "fakes/capture/fake_packet_source.h"

#include <algorithm>

namespace picket::capture::testing {

FakePacketSource::FakePacketSource(int link_type, int snaplen, std::string name)
    : link_type_(link_type), snaplen_(snaplen), name_(std::move(name)) {}

void FakePacketSource::Push(Step step) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    steps_.push_back(std::move(step));
  }
  cv_.notify_all();
}

void FakePacketSource::PushPackets(std::vector<StoredPacket> packets) {
  Step step;
  step.packets = std::move(packets);
  Push(std::move(step));
}

void FakePacketSource::PushIdle(std::function<void()> before) {
  Step step;
  step.before = std::move(before);
  Push(std::move(step));
}

void FakePacketSource::set_block_when_empty(bool block) {
  std::lock_guard<std::mutex> lock(mu_);
  block_when_empty_ = block;
}

void FakePacketSource::set_stats(CaptureStats stats) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_ = stats;
}

void FakePacketSource::set_filter_result(Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  filter_result_ = std::move(status);
}

std::vector<FakePacketSource::FilterCall> FakePacketSource::filter_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return filter_calls_;
}

int FakePacketSource::dispatch_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dispatch_calls_;
}

Result<DispatchResult> FakePacketSource::Dispatch(int max_packets, const PacketHandler& handler) {
  Step step;
  {
    std::unique_lock<std::mutex> lock(mu_);
    ++dispatch_calls_;
    if (steps_.empty()) {
      if (!block_when_empty_) return DispatchResult{0, true};
      cv_.wait(lock, [&] { return interrupted_ || !steps_.empty(); });
      if (interrupted_) {
        interrupted_ = false;
        return DispatchResult{};
      }
    }
    Step& front = steps_.front();
    if (static_cast<int>(front.packets.size()) > max_packets) {
      // Deliver max_packets now, keep the rest (without re-running `before`).
      step.packets.assign(front.packets.begin(), front.packets.begin() + max_packets);
      front.packets.erase(front.packets.begin(), front.packets.begin() + max_packets);
      step.before = std::move(front.before);
      front.before = nullptr;
    } else {
      step = std::move(front);
      steps_.pop_front();
    }
  }
  if (step.before) step.before();
  if (!step.error.ok()) return step.error;
  for (const StoredPacket& p : step.packets) handler(p.View());
  return DispatchResult{static_cast<int>(step.packets.size()), false};
}

Result<CaptureStats> FakePacketSource::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Status FakePacketSource::SetFilter(std::string_view expr) {
  std::lock_guard<std::mutex> lock(mu_);
  filter_calls_.push_back({std::string(expr), std::this_thread::get_id(), dispatch_calls_});
  return filter_result_;
}

void FakePacketSource::Interrupt() noexcept {
  {
    std::lock_guard<std::mutex> lock(mu_);
    interrupted_ = true;
  }
  cv_.notify_all();
}

}  // namespace picket::capture::testing
