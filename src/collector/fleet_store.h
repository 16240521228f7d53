// <data>/fleet.db: the newest heartbeat of every device and its counters
// rolled up at three steps (10 s kept 1 h, 5 min kept 24 h, 1 h kept
// --heartbeat-retention). Raw heartbeats are never stored: each one adds its
// counter deltas to the three buckets it falls in. Writes are queued in memory
// and written by Flush in one transaction (the collector calls it once a
// second), so 1,000 devices beating every 5 s cost one small commit a second.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "picket/common/clock.h"
#include "picket/common/status.h"
#include "picket/sqlite/database.h"

namespace picket::collector {

// One rollup step and how long its buckets are kept (before the retention cap).
struct RollupLevel {
  std::int64_t step_s;
  std::int64_t keep_s;
  const char* window;  // the series window it serves: "1h", "24h", "7d"
};
inline constexpr RollupLevel kRollupLevels[] = {
    {10, 3600, "1h"}, {300, 86400, "24h"}, {3600, 7 * 86400, "7d"}};

// Counter increases between two heartbeats of one device, stamped with the
// newer one's receive time; covered_ms is the time between them (0 after a
// daemon restart: the counters started again, nothing is known).
struct CounterDelta {
  std::int64_t t_ms = 0;
  std::int64_t covered_ms = 0;
  std::int64_t packets = 0, bytes = 0, drops = 0, uploaded_bytes = 0, upload_errors = 0;
  std::optional<std::int64_t> backlog_bytes;  // a gauge: the newest value in the bucket
};

struct SeriesPoint {
  std::int64_t t_ms = 0;  // bucket start
  std::optional<double> pps, bps, drop_pct, upload_bps;
  std::int64_t drops = 0, upload_errors = 0;
  std::optional<std::int64_t> backlog_bytes;
};

struct StoredHeartbeat {
  std::string device;
  std::int64_t received_ms = 0;
  std::string document;  // the JSON text as received (validated)
};

class FleetStore {
 public:
  // Opens or creates the file (mode 0600). retention caps every level; 0 = 7 d.
  static Result<std::unique_ptr<FleetStore>> Open(const std::string& path,
                                                  std::chrono::milliseconds retention);
  ~FleetStore();

  void QueueHeartbeat(StoredHeartbeat beat);
  void QueueDelta(const std::string& device, const CounterDelta& delta);
  // Writes everything queued in one transaction. On failure the queue is kept
  // (and merged with what arrives meanwhile) for the next call.
  Status Flush();
  // Deletes buckets older than their level's keep time (capped by retention).
  Status Prune(std::int64_t now_ms);
  // A write that touches the disk (readiness): a one-row table updated.
  Status ProbeWrite(std::int64_t now_ms);

  Result<std::vector<StoredHeartbeat>> LoadLatest();
  // Points of one level from since_ms on, ascending (flushed buckets only).
  Result<std::vector<SeriesPoint>> Series(const std::string& device, std::int64_t step_s,
                                          std::int64_t since_ms);

  std::chrono::milliseconds retention() const { return retention_; }
  std::size_t queued() const;

 private:
  FleetStore(sqlite::Database db, std::chrono::milliseconds retention);

  struct Bucket {
    std::int64_t covered_ms = 0, packets = 0, bytes = 0, drops = 0, uploaded_bytes = 0,
                 upload_errors = 0;
    std::optional<std::int64_t> backlog_bytes;
  };
  using BucketKey = std::tuple<std::string, std::int64_t, std::int64_t>;  // device, step, t

  mutable std::mutex queue_mu_;
  std::map<std::string, StoredHeartbeat> latest_queue_;
  std::map<BucketKey, Bucket> bucket_queue_;

  std::mutex db_mu_;
  sqlite::Database db_;
  std::chrono::milliseconds retention_;
};

// The collector's writer thread for a FleetStore: Flush every second, Prune
// every minute; a failure is logged and retried on the next turn.
class FleetFlusher {
 public:
  FleetFlusher(FleetStore* store, const Clock* clock) : store_(store), clock_(clock) {}
  ~FleetFlusher() { Stop(); }
  void Start();
  void Stop();  // flushes what is queued

 private:
  FleetStore* store_;
  const Clock* clock_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace picket::collector
