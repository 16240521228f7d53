// The sync loop: leader election, full reconciles and hint polling, with
// jittered backoff while MariaDB or ZooKeeper is away. One thread runs Run();
// Stop() may be called from any thread (signal handler thread).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "picket/common/backoff.h"
#include "picket/common/clock.h"
#include "picket/sync/change_cursor.h"
#include "picket/sync/sync_command.h"
#include "picket/sync/sync_documents.h"
#include "picket/zk/zk_session.h"
#include "picket/zk/znode_layout.h"
#include "sync/binlog_doorbell.h"
#include "sync/leader_election.h"
#include "sync/sync_db.h"
#include "sync/znode_writer.h"

namespace picket::sync {

class SyncService {
 public:
  explicit SyncService(SyncOptions options);
  ~SyncService();

  // Startup errors only (bad host string); everything else is retried.
  Status Run();
  void Stop();

 private:
  struct Counters {
    std::uint64_t written = 0, up_to_date = 0, refused = 0, deleted = 0;
  };
  void Wake();
  // The doorbell's wake: also makes the next wait short (kAfterRing).
  void Ring();
  bool TakeRung();
  void WaitFor(std::chrono::milliseconds delay);
  Status MayWrite();
  Status Reconcile();
  Status SecureTree();
  Status Poll();
  Status SyncDevice(const DeviceRow& row, Counters& c);
  Status SyncGroup(const GroupRow& row, Counters& c);
  Status SyncConfigNode(const std::string& kind, const std::string& name,
                        const std::string& config_path, const std::string& error_path,
                        const std::function<Result<std::string>()>& build, std::int64_t version,
                        Counters& c);
  // *kept: the job's tree stays in ZooKeeper (active, finished, or every shard done).
  Status SyncJob(const JobRow& row, Counters& c, bool* kept = nullptr);
  // Whether every shard of the job's tree in ZooKeeper has its done node.
  Result<bool> JobTreeComplete(const std::string& id);
  // Active jobs whose shards are all done become 'finished' in MariaDB (once a second).
  Status FinishDoneJobs();
  Status RemoveDevice(const std::string& id, Counters& c);
  Status RemoveGroup(const std::string& name, Counters& c);
  Status RemoveJob(const std::string& id, Counters& c);
  Status SyncKey(const std::string& table, const std::string& key, Counters& c);
  // Logs an error once per distinct message; `what` is "mariadb"/"zookeeper"/...
  void ReportFailure(std::string_view what, const Status& st);
  // Connects db_ if it is missing or broken; true when it is usable.
  bool EnsureDb(Status* error);
  // The leader's side of the liveness beacon: hold the lock, name the connection.
  void HoldLeaderLock();
  void ReleaseLeaderLock();
  // A standby's side: depose a leader whose lock went free (crashed process).
  // False when MariaDB or ZooKeeper failed (already reported).
  bool WatchLeaderLock();
  std::string LeaderLockName() const;
  void ReportRecovery();
  // The leader's <root>/sync/status: how changes reach it (doorbell or polling), on change.
  void PublishStatus();

  SyncOptions options_;
  zk::ZnodeLayout layout_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;
  bool rung_ = false;  // the doorbell rang since the loop last looked

  std::unique_ptr<zk::ZkSession> zk_;
  std::unique_ptr<LeaderElection> election_;
  std::unique_ptr<ZnodeWriter> writer_;
  std::unique_ptr<SyncDb> db_;
  // Wakes the loop when a transaction on the database commits (polling stays the fallback).
  std::unique_ptr<BinlogDoorbell> doorbell_;
  std::string published_status_;         // the document in <root>/sync/status
  std::int64_t published_session_ = 0;   // ... written as the leader of this session
  bool db_broken_ = false;  // set by any DB call that failed with Unavailable
  bool reconcile_on_connect_ = false;  // a new DB connection means a full reconcile
  std::optional<std::int64_t> lock_connection_;  // ours holds the leader lock, advertised
  MonoTime next_standby_connect_{};
  struct LeaderLockWatch {  // a standby's view of the current leader's lock
    std::string path;           // the leader's election node
    std::int64_t advertised;    // the connection it named
    bool seen_held = false;     // by that connection, through our current one
    int free_polls = 0;         // consecutive polls that found it free
  };
  std::optional<LeaderLockWatch> leader_lock_;
  std::int64_t leader_session_ = 0;
  std::atomic<bool> leading_{false};
  ChangeCursor cursor_;
  std::string last_failure_;
  std::map<std::string, std::string> device_groups_;  // rows of the last reconcile: id -> group
  std::optional<zk::FleetIdentities> secured_ids_;    // what the last ACL walk applied
  std::int64_t secured_session_ = 0;                  // ... as the leader of this session
  int reconciles_since_secure_ = 0;
  struct PushedJob {
    std::int64_t version = 0;  // the row version pushed: the compare-and-set's condition
    std::uint32_t shards = 1;
  };
  std::map<std::string, PushedJob> active_jobs_;  // pushed, not yet seen finished
  MonoTime next_finish_check_{};
};

}  // namespace picket::sync
