// Scans the shards of shared scan jobs inside the worker. The supervisor owns
// ZooKeeper and claims shards; it tells the worker (which holds CAP_NET_RAW and
// the buffer) which shards to scan, and this runner scans each on a thread of
// its own. Results go to the buffer as NDJSON result batches before any
// checkpoint that covers them is reported, so a checkpoint the supervisor
// stores in ZooKeeper never skips a result: at worst a resumed shard repeats a
// few probes, and the collector deduplicates results.
//
// Threads: Assign, Release, ReleaseAll, JoinAll and Running may be called from
// any thread (not from on_event). RequestStopAll is async-signal-safe.
// on_event runs on the shard threads, possibly several at once; it must be
// thread-safe, should not block for long, and must not call back into the runner.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "picket/buffer/buffer_store.h"
#include "picket/common/shared_job.h"
#include "picket/common/worker_protocol.h"
#include "picket/scan/scanner.h"
#include "worker/scan_job_runner.h"

namespace picket::worker {

struct ShardAssignment {
  SharedJobSpec job;
  std::uint32_t shard = 0;
  std::uint64_t start_index = 0;  // resume point (a checkpoint from an earlier run)
};

// The runner reports in the control channel's own type: the worker forwards it as is.
using ShardEvent = worker_protocol::ShardEvent;

class ShardRunner {
 public:
  // `store` is the runner's own buffer connection, shared by its threads under a mutex.
  ShardRunner(std::uint64_t max_probes, std::unique_ptr<buffer::BufferStore> store,
              std::function<void(const ShardEvent&)> on_event, ScanJobOptions options = {});
  ~ShardRunner();  // stops every shard (each reports kStopped) and joins
  ShardRunner(const ShardRunner&) = delete;
  ShardRunner& operator=(const ShardRunner&) = delete;

  // Starts scanning a shard on a new thread. Ignored when that (job, shard) is
  // still running, or after RequestStopAll. Every assignment that starts ends
  // with exactly one kFinished, kStopped or kFailed event.
  void Assign(ShardAssignment assignment);
  // Stops the shard and waits for it: when this returns its final event is out —
  // kStopped with the checkpoint to resume from, or kFinished/kFailed if it had
  // already ended. Unknown shards are ignored.
  void Release(const std::string& job, std::uint32_t shard);
  void ReleaseAll();
  // Async-signal-safe: stops every running shard and refuses later assignments.
  void RequestStopAll() noexcept;
  // Waits for every shard thread to end (does not stop them).
  void JoinAll();
  // The (job, shard) pairs still scanning.
  std::vector<std::pair<std::string, std::uint32_t>> Running() const;

 private:
  // Where a shard thread publishes its scanner so stops can reach it without a
  // lock. Cells are recycled but never freed before the runner, so a signal
  // handler may walk the list at any time.
  struct StopCell {
    std::atomic<scan::Scanner*> scanner{nullptr};
    std::atomic<bool> stop{false};
    std::atomic<int> stoppers{0};  // callers between loading `scanner` and RequestStop
    StopCell* next = nullptr;      // set once, before the cell is published
    bool in_use = false;           // guarded by mu_
  };
  struct Shard {
    ShardAssignment assignment;
    StopCell* cell = nullptr;
    std::thread thread;
    std::atomic<bool> ended{false};  // the final event is being or was emitted
  };
  using ShardList = std::vector<std::unique_ptr<Shard>>;

  void RunShard(Shard& shard);
  // Moves `lines` into result batches; counts what went in into *results.
  Status Flush(std::vector<std::string>& lines, std::uint64_t* results);
  static void Stop(StopCell& cell) noexcept;
  StopCell* TakeCell();   // with mu_ held
  ShardList TakeEnded();  // with mu_ held
  void JoinAndRecycle(ShardList shards);

  const std::uint64_t max_probes_;
  const std::function<void(const ShardEvent&)> on_event_;
  const ScanJobOptions options_;
  std::mutex store_mu_;
  std::unique_ptr<buffer::BufferStore> store_;  // guarded by store_mu_
  std::atomic<bool> stop_all_{false};
  std::atomic<StopCell*> cells_head_{nullptr};
  mutable std::mutex mu_;  // guards shards_, cells_ and StopCell::in_use
  std::vector<std::unique_ptr<StopCell>> cells_;
  ShardList shards_;
};

}  // namespace picket::worker
