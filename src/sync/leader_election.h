// Leader election among `picket sync` instances (ZooKeeper's recipe): each
// candidate holds an ephemeral node <root>/sync/leader-<10-digit seq>; the
// lowest is the leader; every other one watches only its predecessor (no herd).
//
// ZkSession has no sequential create, so the sequence comes from a persistent
// counter <root>/sync/leader-seq bumped with compare-and-set: unique and
// increasing like ZooKeeper's own sequence numbers. The candidate node is
// kThisSession: a session that expires loses it for good and must stand again.
//
// A leader also holds a MariaDB lock and names its connection in its node, so
// a standby that sees the lock free can depose a crashed leader without
// waiting for its session to expire (see SyncDb::TryLockLeader).
//
// Called from the sync loop only; `wake` runs on the session's thread when the
// predecessor goes away.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "picket/common/status.h"
#include "picket/zk/zk_session.h"
#include "picket/zk/znode_layout.h"

namespace picket::sync {

class LeaderElection {
 public:
  LeaderElection(zk::ZkSession* session, zk::ZnodeLayout layout, std::function<void()> wake);
  ~LeaderElection();
  LeaderElection(const LeaderElection&) = delete;
  LeaderElection& operator=(const LeaderElection&) = delete;

  // Stands (again) if needed and says whether this instance leads now.
  Result<bool> Check();
  // The session that won (valid while Check() returned true).
  std::int64_t leader_session() const { return node_session_; }
  // Deletes the candidate node (clean shutdown: the standby takes over at once).
  void Resign();

  // The leader's node as a standby sees it: where it is, its version, and the
  // MariaDB connection that holds the leader lock, once the leader said so.
  struct Leader {
    std::string path;
    std::int32_t version = -1;
    std::optional<std::int64_t> db_connection;
  };
  // Writes into our node which MariaDB connection holds the leader lock.
  Status Advertise(std::int64_t db_connection);
  // The current leader, as the last Check() saw the line, when it is not us;
  // nullopt when we lead or nobody stands.
  Result<std::optional<Leader>> OtherLeader();
  // Deletes a leader's node that has not changed since it was read (a dead
  // leader whose session has not expired yet); the line moves up at once.
  Status Depose(const Leader& leader);

 private:
  Result<std::uint64_t> NextSequence();
  std::string NodeData(std::optional<std::int64_t> db_connection) const;
  void WatchPredecessor(const std::string& path);

  zk::ZkSession* session_;
  zk::ZnodeLayout layout_;
  std::function<void()> wake_;
  std::string node_;               // our candidate node's name ("leader-0000000007"), "" if none
  std::int64_t node_session_ = 0;  // the session that created it
  std::string watched_;            // the predecessor being watched
  std::string lowest_;             // the lowest candidate at the last Check()
  zk::ZkSession::WatchId watch_id_ = 0;
};

}  // namespace picket::sync
