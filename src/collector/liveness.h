// The one liveness rule (config/API.md "Fleet state"): every route, /metrics
// and the issues list call AssessDevice, so a device is never "online" on one
// page and "offline" on another. Pure: the caller gathers the inputs (latest
// heartbeat, ZooKeeper view, uploads) and the time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace picket::collector {

enum class DeviceStatus { kOnline, kDegraded, kOffline, kNeverSeen };
std::string_view DeviceStatusName(DeviceStatus status);  // "online", ...

inline constexpr std::int64_t kDefaultHeartbeatIntervalMs = 5000;
inline constexpr std::int64_t kMinOfflineAfterMs = 15000;
inline constexpr std::int64_t kDriftGraceMs = 30000;       // desired ≠ applied longer: drift
inline constexpr std::int64_t kNoPacketsAfterMs = 60000;   // worker running, no packet
inline constexpr double kMaxDropPct = 1.0;                 // over it, in the last minute
inline constexpr double kLowDiskPct = 10.0;                // free under it
inline constexpr double kCriticalDiskPct = 2.0;            // low_disk becomes critical

// max(3 × interval, 15 s); a missing or non-positive interval is 5 s.
std::int64_t OfflineAfterMs(std::optional<std::int64_t> interval_ms);

struct Refusal {
  std::string source;  // "device", "group" or "sync"
  std::optional<std::int64_t> version;
  std::string error;
};

// What is known about one device at now_ms; nullopt/empty: unknown.
struct LivenessInput {
  std::int64_t now_ms = 0;
  std::optional<std::int64_t> last_heartbeat_ms;  // when the collector received it
  std::optional<std::int64_t> interval_ms;        // the heartbeat's own interval_ms
  std::optional<bool> zk_alive;                   // nullopt: the collector has no --zk
  bool ever_uploaded = false;                     // a row in the devices table
  // From the latest heartbeat (or the ZooKeeper status node).
  std::optional<std::string> worker_state;
  bool crash_loop = false;
  std::vector<Refusal> refusals;                 // device, group and sync refusals
  std::optional<std::int64_t> drift_since_ms;    // desired ≠ applied since then
  std::optional<std::int64_t> desired_version, applied_version;
  std::optional<double> drop_pct_last_minute;
  std::optional<double> disk_free_pct;
  std::optional<std::string> last_error;
  std::optional<bool> zk_configured, zk_connected;  // the heartbeat's "zookeeper" object
  std::optional<std::int64_t> last_packet_change_ms;  // packets counter last rose (or first heard)
  bool backlog_growing = false;                       // see FleetState
};

struct Issue {
  std::string kind;      // offline, no_packets, drops, backlog_growing, low_disk, config_refused,
                         // crash_loop, config_drift, zookeeper_lost, heartbeat_missing
  std::string severity;  // "critical" or "warning"
  std::string message;
};

struct Assessment {
  DeviceStatus status = DeviceStatus::kNeverSeen;
  bool heard_hb = false;
  std::int64_t offline_after_ms = kMinOfflineAfterMs;
  std::vector<std::string> reasons;  // empty exactly when online
  std::vector<Issue> issues;         // at most one per kind
};

Assessment AssessDevice(const LivenessInput& in);

}  // namespace picket::collector
