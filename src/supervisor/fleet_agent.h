// The supervisor's side of ZooKeeper, on a thread of its own so a slow or
// absent ZooKeeper never stalls the libuv loop (uploads, signals, worker):
// one session; the group+device config watch (handed to the loop, which
// validates and applies); the ephemeral status node; the collector list;
// the shard coordinator for shared scan jobs. Everything that reaches the
// worker or the loop goes through the hooks, which must post, not block.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "picket/common/daemon_config.h"
#include "picket/common/worker_protocol.h"
#include "picket/zk/config_watcher.h"
#include "picket/zk/zk_session.h"
#include "picket/zk/znode_layout.h"
#include "shard_coordinator.h"

namespace picket::supervisor {

struct FleetAgentHooks {
  // The merged group+device document (unvalidated) and its version; session thread.
  std::function<void(std::string document, std::int64_t version, std::int64_t group_version)>
      on_config;
  // Collector URLs registered in ZooKeeper, when the list changes; agent thread.
  std::function<void(std::vector<std::string> urls)> on_collectors;
  // A command for the worker's control channel; agent thread.
  std::function<void(worker_protocol::Command command)> to_worker;
  // The ZooKeeper session connected (true) or lost its connection (false); session thread.
  std::function<void(bool connected)> on_session;
};

struct FleetAgentOptions {
  zk::ZkOptions zk;
  std::string root = std::string(zk::kDefaultRoot);
  std::string device_id, group;
  std::chrono::milliseconds tick{1000};           // held shards, claims of listed jobs
  std::chrono::milliseconds status_every{5000};   // counters without a change
  // /jobs and the collector list are child-watched; listed again this often
  // only in case a watch event is lost (a server that drops NodeCreated was seen).
  std::chrono::milliseconds relist_every{30000};
};

class FleetAgent {
 public:
  FleetAgent(FleetAgentOptions options, FleetAgentHooks hooks);
  ~FleetAgent();  // Stop()
  FleetAgent(const FleetAgent&) = delete;
  FleetAgent& operator=(const FleetAgent&) = delete;

  // Opens the session in the background and starts the thread; fails only on
  // a host string the client refuses.
  Status Start();
  // Removes the status node, closes the session and joins the thread.
  void Stop();

  // Any thread. Sets status[key] = value; urgent ones are published at once
  // (at most every 100 ms), the rest with the next periodic update.
  void SetStatus(std::string key, nlohmann::json value, bool urgent);
  // Like an urgent SetStatus, but not held back by the 100 ms spacing: for a
  // config version applied (one per change, which an operator is waiting for).
  void SetStatusNow(std::string key, nlohmann::json value);
  // A shard event, with the result batches pending when it arrived (if known).
  void OnWorkerEvent(worker_protocol::ShardEvent event,
                     std::optional<std::uint64_t> results_pending);
  void OnWorkerReady();
  void OnWorkerExit();
  void SetResultsPending(std::uint64_t batches);

  // For the heartbeat (any thread): the session is connected now; the "scan"
  // entry the agent keeps (null before the first one).
  bool connected() const;
  nlohmann::json ScanStatus() const;

 private:
  void Post(std::function<void()> fn);
  void PublishScan();
  void Run();
  void PublishStatus();
  void RefreshCollectors();
  void RelistJobs();
  void LearnAcls();

  FleetAgentOptions options_;
  zk::ZnodeLayout layout_;
  FleetAgentHooks hooks_;
  std::unique_ptr<zk::ZkSession> session_;
  std::unique_ptr<zk::ConfigWatcher> watcher_;
  std::unique_ptr<ShardCoordinator> shards_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  bool urgent_ = false;
  bool immediate_ = false;  // the pending urgent write skips the spacing (SetStatusNow)
  nlohmann::json status_ = nlohmann::json::object();
  std::thread thread_;
  std::atomic<bool> session_connected_{false};  // the last state told to hooks_.on_session

  // Agent thread only.
  bool status_created_ = false;
  bool acls_known_ = false;
  std::chrono::steady_clock::time_point next_acl_try_{};
  std::string acl_error_;
  std::string last_published_;
  nlohmann::json scan_shape_ = nlohmann::json::array();  // fleet thread: shards held and their sizes
  std::chrono::steady_clock::time_point last_publish_{};
  std::vector<std::string> collectors_;
  std::chrono::steady_clock::time_point next_tick_{};  // a jobs change sets it to now
};

}  // namespace picket::supervisor
