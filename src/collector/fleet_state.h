// What the collector knows about every device right now: the newest heartbeat
// in memory (restored from fleet.db at start), rates from the last two, a
// minute of samples for the drop and backlog rules, and when each issue began.
// Rows and issues come from AssessDevice (liveness.h), the one rule.
// Thread-safe; Ingest and Evaluate take one mutex for a few µs per device.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "collector/fleet_store.h"
#include "collector/fleet_zk_view.h"
#include "collector/liveness.h"
#include "picket/common/clock.h"
#include "picket/common/status.h"

namespace picket::collector {

struct DeviceUploads {
  std::int64_t last_upload_ms = 0;  // devices.last_seen_ms
};

// One device, evaluated.
struct DeviceFacts {
  std::string id;
  LivenessInput input;
  Assessment assessment;
  nlohmann::json row;  // the FleetRow of GET /v1/fleet (null when not asked for)
  // Cumulative counters for /metrics (the newest heartbeat's).
  std::optional<std::int64_t> packets, drops, backlog_bytes;
};

struct IssueRow {
  Issue issue;
  std::string device;
  std::int64_t since_ms = 0;
};

class FleetState {
 public:
  FleetState(FleetStore* store, const Clock* clock);

  // Loads the newest heartbeats kept in fleet.db (rates start again).
  Status Restore();
  // A heartbeat body (already size-checked): InvalidArgument names what is wrong.
  Status Ingest(const std::string& device, std::string_view body);

  // Every known device (heartbeats, uploads, ZooKeeper), sorted by id.
  // with_rows = false skips building DeviceFacts::row (issues, metrics);
  // `only` evaluates that one device (when any source knows it), not the fleet.
  std::vector<DeviceFacts> Evaluate(const std::map<std::string, DeviceUploads>& uploads,
                                    const ZkFleetSnapshot* zk, bool with_rows = true,
                                    const std::string* only = nullptr);
  // Issues of the evaluated devices, with when each began (critical first).
  std::vector<IssueRow> Issues(const std::vector<DeviceFacts>& facts);
  // The newest heartbeat document, nullopt when none.
  std::optional<nlohmann::json> Latest(const std::string& device) const;
  std::uint64_t heartbeats() const;

 private:
  struct Sample {
    std::int64_t ms = 0;
    std::optional<std::int64_t> packets, drops, backlog, bytes;
  };
  struct Track {
    std::int64_t received_ms = 0;
    nlohmann::json doc;
    std::optional<double> pps, bps, drop_pct;
    std::deque<Sample> minute;
    std::optional<std::int64_t> last_packet_change_ms;
    std::optional<std::int64_t> drift_since_ms;
  };
  static constexpr std::int64_t kRateWindowMs = 10'000;  // rates shown in a row
  static void ShownRates(Track& t);
  DeviceFacts EvaluateOne(const std::string& id, const Track* track, const DeviceUploads* uploads,
                          const ZkDeviceNodes* nodes, const ZkFleetSnapshot* zk,
                          std::int64_t now_ms, bool with_rows);

  FleetStore* store_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, Track> tracks_;
  std::map<std::string, std::int64_t> drift_since_zk_;             // from ZooKeeper nodes
  std::map<std::pair<std::string, std::string>, std::int64_t> issue_since_;  // (device, kind)
  std::uint64_t heartbeats_ = 0;
};

// Counters of a heartbeat document; nullopt when absent or not a
// non-negative integer.
std::optional<std::int64_t> CounterAt(const nlohmann::json& doc, const char* pointer);

}  // namespace picket::collector
