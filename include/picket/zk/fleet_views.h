// What the fleet looks like from ZooKeeper's nodes: a device's view (alive,
// applied vs desired version, last error) and a shared scan job's status
// (shards done, claimed, waiting; ETA). Pure builders plus one reader of a
// job's nodes, shared by the operator CLI (`picket devices`, `picket scan
// status`) and the collector's ZooKeeper view (GET /v1/fleet, /v1/scans), so
// both compute the same answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "picket/common/shared_job.h"
#include "picket/common/status.h"

namespace picket::zk {

class ZkSession;
class ZnodeLayout;

// Something the status node's "config" object reports as an object (picketd's
// "refused", a rollback such as "rolled_back", whatever comes next), or a row
// picket sync refused; read generically so new kinds show without a CLI change.
struct ConfigEvent {
  std::string kind;                           // the status key, or "sync" / "group sync"
  std::optional<std::int64_t> version;        // "version"
  std::optional<std::int64_t> group_version;  // "group_version"
  std::string error;                          // "error", else "reason"; "" when neither
};

struct DeviceView {
  std::string id;
  std::string group;                            // "" when unknown (no status)
  bool alive = false;                           // the status ephemeral exists
  std::optional<std::int64_t> applied_version;  // status.config.applied_version
  std::optional<std::int64_t> desired_version;  // "version" in <id>/config
  std::string last_error;                       // "" when none
  std::optional<std::uint64_t> bytes_pending;   // status.counters.bytes_pending
  std::string worker_state;                     // status.worker.state, "" when unknown
  bool crash_loop = false;                      // status.worker.crash_loop
  std::string zookeeper;                        // status.zookeeper ("connected", ...)
  // The device row's refusal by picket sync when it explains a newer version
  // than the applied one (last_error then says the same).
  std::optional<ConfigEvent> sync_refusal;
  std::vector<ConfigEvent> config_events;  // status.config's objects ("refused", "rolled_back")
  // The group: its row's version in <root>/groups/<group>/config, the one the
  // device says it runs (status.config.applied_group_version), and the group
  // row's refusal by picket sync (<root>/groups/<group>/sync).
  std::optional<std::int64_t> applied_group_version;
  std::optional<std::int64_t> desired_group_version;
  std::optional<ConfigEvent> group_refusal;
  // The collector's liveness rule (GET /v1/fleet: "online", "degraded",
  // "offline", "never_seen" and its reasons), which also counts heartbeats and
  // uploads; filled by `picket devices` when it can ask a collector, else "".
  std::string collector_status;
  std::vector<std::string> collector_reasons;
};

// Pure: builds the view from the three nodes' data (nullopt: no such node).
// The sync refusal (<id>/sync {"version","error"}) wins over status.last_error
// when its version is newer than the applied one (or nothing is applied).
DeviceView BuildDeviceView(std::string id, const std::optional<std::string>& config,
                           const std::optional<std::string>& status,
                           const std::optional<std::string>& sync);

// Pure: adds the group's nodes (<root>/groups/<group>/config and /sync) to a
// view whose group is known. A group refusal is kept whatever its version:
// picket sync deletes it once a newer row of the group is pushed.
void AddGroupView(DeviceView& view, const std::optional<std::string>& group_config,
                  const std::optional<std::string>& group_sync);

// "<version>" (the device row's, the group's) as the same integer rule the
// device uses: the document's integer "version", else nullopt.
std::optional<std::int64_t> DocumentVersion(const std::optional<std::string>& document);

struct ShardView {
  std::uint32_t shard = 0;
  std::string state;   // "done", "claimed" or "waiting"
  std::string device;  // claimer or finisher, "" when waiting
  std::optional<std::uint64_t> checkpoint;
  std::optional<std::uint64_t> total;    // the shard's size when a status node reports it
  std::optional<std::uint64_t> results;  // done shards
  std::optional<double> eta_s;           // done: 0; claimed: when its size is known; waiting: never
};

struct DeviceShards {
  std::uint32_t done = 0, claimed = 0;
  std::uint64_t results = 0;
  // Probes/s of everything the device scans now, over all jobs (its status
  // node's "scan" entries); only for devices that hold a claim of this job.
  std::optional<double> total_pps;
};

struct JobStatusView {
  std::string job;
  std::uint32_t shards = 0;
  std::vector<ShardView> rows;
  std::uint32_t done = 0, claimed = 0, waiting = 0;
  std::uint64_t results = 0;
  std::optional<double> eta_s;                  // seconds until the last shard is done
  std::string eta_unknown;                      // why eta_s is empty
  std::map<std::string, DeviceShards> devices;  // by the device that claimed or finished
};

// A job's shard nodes by shard number (children that are not shard numbers are
// ignored) and the shards' sizes reported by the claimers' status nodes.
struct JobNodes {
  std::map<std::uint32_t, std::string> claims, progress, done;
  std::map<std::uint32_t, std::uint64_t> totals;
  std::map<std::string, double> device_pps;  // claimers: sum of "pps" over their status "scan"
};

// Pure. The spec gives the job id, shard count and the pace (rate, mode,
// retries, wait) for the ETAs; connect_timeout is the connect scanner's
// (scan::ScanSpec), the tail of a connect-mode shard.
JobStatusView BuildJobStatus(const SharedJobSpec& spec, const JobNodes& nodes,
                             std::chrono::milliseconds connect_timeout);

// Reads claims/, progress/ and done/ of the job, and the claimers' status
// nodes for shard sizes and live checkpoints (ahead of progress/<shard>,
// which advances only every few seconds). Nodes gone between listing and
// reading are skipped.
Result<JobNodes> ReadJobNodes(ZkSession& session, const ZnodeLayout& layout,
                              const SharedJobSpec& spec);

}  // namespace picket::zk
