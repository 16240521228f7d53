// A scripted PacketSource: each Dispatch plays the next Step. When the script
// runs out it either reports end of input (like a file) or blocks until
// Interrupt() or a new Step (like a quiet live link). Thread-safe; Interrupt is
// not async-signal-safe here (tests call it from threads only).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fakes/capture/capture_test_support.h"
#include "picket/capture/packet_source.h"

namespace picket::capture::testing {

class FakePacketSource final : public PacketSource {
 public:
  struct Step {
    std::vector<StoredPacket> packets;
    std::function<void()> before;  // runs first, on the loop thread (advance a clock, ...)
    Status error;                  // not OK: this Dispatch fails with it
  };

  explicit FakePacketSource(int link_type = 1, int snaplen = 65535, std::string name = "fake0");

  void Push(Step step);
  void PushPackets(std::vector<StoredPacket> packets);
  void PushIdle(std::function<void()> before = {});  // a dispatch timeout with no packets
  void set_block_when_empty(bool block);
  void set_stats(CaptureStats stats);
  void set_filter_result(Status status);
  void set_exact_filter_switch(bool exact) { exact_filter_switch_ = exact; }

  struct FilterCall {
    std::string expr;
    std::thread::id thread;
    int after_dispatch;  // how many Dispatch calls had started before it
  };
  std::vector<FilterCall> filter_calls() const;
  int dispatch_calls() const;

  Result<DispatchResult> Dispatch(int max_packets, const PacketHandler& handler) override;
  Result<CaptureStats> Stats() override;
  Status SetFilter(std::string_view expr) override;
  bool FilterSwitchIsExact() const override { return exact_filter_switch_; }
  void Interrupt() noexcept override;
  int LinkType() const override { return link_type_; }
  int Snaplen() const override { return snaplen_; }
  const std::string& Name() const override { return name_; }

 private:
  const int link_type_;
  const int snaplen_;
  const std::string name_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Step> steps_;
  bool block_when_empty_ = false;
  bool interrupted_ = false;
  CaptureStats stats_;
  Status filter_result_;
  std::vector<FilterCall> filter_calls_;
  int dispatch_calls_ = 0;
  bool exact_filter_switch_ = false;  // set before Run
};

}  // namespace picket::capture::testing
