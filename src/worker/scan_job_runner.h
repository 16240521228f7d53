// Runs the config's scan jobs inside the worker, on a thread of their own next
// to capture. Results go to the local buffer as NDJSON result batches (never
// evicted); each job's checkpoint (the permutation index below which every
// probe is done) is stored in the buffer only after the results found below it
// are, so a worker killed mid-scan resumes where it stopped and loses nothing —
// at worst a few probes are sent twice, and the collector deduplicates results.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "picket/buffer/buffer_store.h"
#include "picket/common/daemon_config.h"
#include "picket/scan/scanner.h"
#include "worker/restart_gap.h"

namespace picket::worker {

using ScannerFactory =
    std::function<Result<std::unique_ptr<scan::Scanner>>(const scan::ScanSpec&)>;

struct ScanJobOptions {
  ScannerFactory make_scanner = scan::CreateScanner;
  std::size_t flush_lines = 1000;  // a result batch holds at most this many lines
  // scan_max_pps: one budget for every scan and shard of the worker (null: none).
  std::shared_ptr<scan::RateBudget> device_budget;
};

class ScanJobRunner {
 public:
  // `store` is this runner's own buffer connection (SQLite handles are per thread).
  ScanJobRunner(std::vector<ScanJobConfig> jobs, std::uint64_t max_probes,
                std::unique_ptr<buffer::BufferStore> store, ScanJobOptions options = {});
  ~ScanJobRunner();
  ScanJobRunner(const ScanJobRunner&) = delete;
  ScanJobRunner& operator=(const ScanJobRunner&) = delete;

  void Start();
  // Async-signal-safe: stops the running scan (its checkpoint is kept) and the schedule.
  void RequestStop() noexcept;
  void Join();

  // For tests: runs every due job once on the calling thread.
  void RunDueJobsOnce();

 private:
  struct JobState {
    std::int64_t run = 0;
    std::uint64_t seed = 0;
    std::uint64_t checkpoint = 0;
    std::int64_t finished_ms = 0;  // wall stamp; 0: this run is not finished
    // When it finished on the boot clock: the interval is timed on it within a boot.
    std::string finished_boot_id;
    std::int64_t finished_boot_ms = 0;
    std::string fingerprint;       // targets/ports/mode: a changed job starts over
  };

  void Loop();
  Status RunJob(const ScanJobConfig& job);
  JobState LoadState(const ScanJobConfig& job);
  Status SaveState(const ScanJobConfig& job, const JobState& state);
  Status FlushResults();
  bool Due(const ScanJobConfig& job, const SealMark& now);

  std::vector<ScanJobConfig> jobs_;
  std::uint64_t max_probes_;
  std::unique_ptr<buffer::BufferStore> store_;
  ScanJobOptions options_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<scan::Scanner*> current_{nullptr};
  std::mutex mu_;                       // guards pending_ and store_
  std::vector<std::string> pending_;    // result lines not yet in the buffer
};

}  // namespace picket::worker
