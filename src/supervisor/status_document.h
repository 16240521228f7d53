// The device's status document: one JSON object the daemon keeps whatever its
// config source, written to ZooKeeper's status node by the FleetAgent (when
// configured) and POSTed to the collector as a heartbeat (when enabled). The
// heartbeat adds what only it needs (sent_at_ms, interval, uptime, disk and
// the ZooKeeper link); config/README.md ("Heartbeats") shows the result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "picket/common/status.h"
#include "picket/common/worker_protocol.h"

namespace picket::supervisor {

struct DiskSpace {
  std::uint64_t free_bytes = 0;   // available to an unprivileged writer (f_bavail)
  std::uint64_t total_bytes = 0;
};

// statvfs of `path`; the error names the path.
Result<DiskSpace> StatDisk(const std::string& path);

struct HeartbeatFields {
  std::int64_t sent_at_ms = 0;
  std::int64_t interval_ms = 0;
  std::int64_t uptime_s = 0;
  std::string device, group;
  bool zk_configured = false, zk_connected = false;
  std::string disk_path;
  std::optional<DiskSpace> disk;  // absent: statvfs failed, the collector shows unknown
  nlohmann::json scan;            // the status node's "scan" (shared-job shards); null: none
};

// The collector refuses a larger status body (console contract, "Heartbeat").
inline constexpr std::size_t kMaxHeartbeatBytes = 64 * 1024;

// `status` (the daemon's document) with the heartbeat's own fields laid over
// it, serialized. Invalid UTF-8 (an error text) is replaced, never thrown.
// Over kMaxHeartbeatBytes (a long refusal, many shards) the bulky parts are
// cut and "truncated": true is set, so the device never looks offline for it.
std::string HeartbeatBody(const nlohmann::json& status, const HeartbeatFields& fields);

// The worker's counters summed over every worker the daemon has run: a
// restarted worker counts from zero, the status document must not.
class WorkerCounterTotals {
 public:
  // `run` numbers the worker that sent `stats` (WorkerProcess's on_event);
  // stats of an older run than the newest seen are late lines and ignored.
  void Update(std::uint64_t run, const worker_protocol::Stats& stats);
  worker_protocol::Stats Total() const;
  // packets, lost_packets, kernel_drops, if_drops, bytes_captured.
  void WriteTo(nlohmann::json& counters) const;

 private:
  std::uint64_t run_ = 0;
  worker_protocol::Stats finished_;  // sum over runs before run_
  worker_protocol::Stats current_;   // latest of run_
};

}  // namespace picket::supervisor
