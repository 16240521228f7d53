#include "fakes/scan/fake_scanner.h"

#include <thread>

namespace picket::scan::testing {

bool FakeScanScript::WaitBlocked(int n) {
  std::unique_lock lock(mu);
  return cv.wait_for(lock, std::chrono::seconds(30), [&] { return blocked >= n; });
}

Status FakeScanner::Run(const std::function<void(const ScanResult&)>& on_result,
                        const std::function<void(const ScanProgress&)>& on_progress) {
  for (std::uint64_t i = spec_.start_index; i < 100; ++i) {
    if (i == script_->block_at) {
      {
        std::lock_guard lock(script_->mu);
        ++script_->blocked;
      }
      script_->cv.notify_all();
      while (!stop_.load() && !script_->gate_open.load()) std::this_thread::yield();
    }
    if (stop_.load() || i == script_->stop_at) return Status::Cancelled("stopped");
    if (i % 10 == 0) {
      ScanResult r;
      r.ip = IpAddress::V4(0x7f000001);
      r.port = static_cast<std::uint16_t>(1000 + 100 * spec_.shard_index + i);
      if (script_->label_results) r.job_id = spec_.job_id;
      on_result(r);
      if (script_->count_open) ++open_;
    }
    if (i % 10 == 9) on_progress({i + 1, i + 1, 100, i + 1, open_, open_});
  }
  return Status::Ok();
}

ScanSummary FakeScanner::Summary() const {
  if (!script_->count_open) return {};
  return {100, open_, open_, 1000, 0.1};
}

}  // namespace picket::scan::testing
