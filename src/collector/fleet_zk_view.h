// The collector's cached view of ZooKeeper (--zk): devices' config, status
// and sync nodes, group configs and refusals, and scan jobs. A thread of its
// own reads the tree at most every 2 s; requests only copy the last snapshot
// (a shared_ptr), so a slow or lost ZooKeeper never blocks them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "picket/common/clock.h"
#include "picket/common/shared_job.h"
#include "picket/zk/fleet_views.h"
#include "picket/zk/connect_string.h"

namespace picket::collector {

struct ZkDeviceNodes {
  std::optional<std::string> config, status, sync;  // node data; nullopt: no node
};

struct ZkGroupNodes {
  std::optional<std::string> config, sync;
};

struct ZkFleetSnapshot {
  bool connected = false;      // the last read reached ZooKeeper
  std::int64_t read_at_ms = 0;  // 0: never read
  std::string error;           // why the last read failed, "" when it did not
  std::map<std::string, ZkDeviceNodes> devices;
  std::map<std::string, ZkGroupNodes> groups;
  nlohmann::json jobs = nlohmann::json::array();  // GET /v1/scans "jobs"
};

struct ZkViewOptions {
  std::string hosts;
  std::string root;
  zk::ZkCredentials auth;
  std::chrono::milliseconds period{2000};
};

// One job of GET /v1/scans: {"job","spec","state","progress_pct","rate_pps",
// "eta_s","found","shards":[{"shard","state","holder","done","total","pct"}]}.
// state: done (every shard done), running (a shard claimed), else pending;
// progress_pct averages the shards (done 100, claimed checkpoint/total).
nlohmann::json ScanJobJson(const SharedJobSpec& spec, const nlohmann::json& spec_doc,
                           const zk::JobStatusView& view);

class ZkFleetView {
 public:
  ZkFleetView(ZkViewOptions options, const Clock* clock);
  ~ZkFleetView();  // stops the thread
  void Start();
  void Stop();
  // The newest snapshot (never null). Any thread, never blocks on ZooKeeper.
  std::shared_ptr<const ZkFleetSnapshot> Snapshot() const;

 private:
  void Run();

  ZkViewOptions options_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::shared_ptr<const ZkFleetSnapshot> snapshot_;
  std::thread thread_;
};

}  // namespace picket::collector
