// A scanner for the worker's job and shard runners, no sockets: indices
// start_index..99 of one shard, an open port on 127.0.0.1 at every 10th index
// (port 1000 + 100 * shard_index + index), progress every 10 indices. A test
// steers it through a FakeScanScript that outlives every scanner it creates.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

#include "picket/scan/scanner.h"

namespace picket::scan::testing {

struct FakeScanScript {
  static constexpr std::uint64_t kNever = 1000;

  std::uint64_t stop_at = kNever;   // Run returns Cancelled here, as if the worker died
  std::uint64_t block_at = kNever;  // Run waits here until stopped or the gate opens
  bool label_results = true;        // false: job_id left empty for the runner to fill in
  bool count_open = true;           // false: progress and summary report no open ports
  std::atomic<bool> gate_open{false};

  // Scanners that have reached block_at; waits (bounded) until `n` have.
  bool WaitBlocked(int n);

  std::mutex mu;  // also guards whatever records a test keeps beside the script
  std::condition_variable cv;
  int blocked = 0;
};

class FakeScanner final : public Scanner {
 public:
  FakeScanner(ScanSpec spec, FakeScanScript* script) : spec_(std::move(spec)), script_(script) {}

  Status Run(const std::function<void(const ScanResult&)>& on_result,
             const std::function<void(const ScanProgress&)>& on_progress) override;
  void RequestStop() noexcept override { stop_.store(true); }
  ScanSummary Summary() const override;

 private:
  ScanSpec spec_;
  FakeScanScript* script_;
  std::atomic<bool> stop_{false};
  std::uint64_t open_ = 0;
};

}  // namespace picket::scan::testing
