// The rows `picket sync` reads from MariaDB (config/schema.sql). Every read is
// a plain SELECT; the one write is a finished job's state (MarkJobFinished).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "picket/common/status.h"
#include "picket/sync/sync_documents.h"
#include "picket/sync/mariadb_connection.h"

namespace picket::sync {

struct ChangeHint {
  std::uint64_t seq = 0;
  std::string table;  // "devices", "device_groups", "scan_jobs"
  std::string key;
};

// Every row plus the hint seqs visible in the same consistent snapshot, so a
// hint visible here is covered by the rows read here.
struct Snapshot {
  std::vector<GroupRow> groups;
  std::vector<DeviceRow> devices;
  std::vector<JobRow> jobs;
  std::uint64_t hint_base = 0;              // hints <= base are older than the window
  std::vector<std::uint64_t> hint_seqs;     // visible seqs > hint_base
};

class SyncDb {
 public:
  explicit SyncDb(std::unique_ptr<MariaDbConnection> connection)
      : connection_(std::move(connection)) {}

  // One REPEATABLE READ snapshot; nothing is returned unless every table was read.
  Result<Snapshot> ReadSnapshot();
  Result<std::vector<ChangeHint>> ReadChanges(std::uint64_t after_seq, int limit);
  Result<std::optional<DeviceRow>> ReadDevice(const std::string& id);
  Result<std::optional<GroupRow>> ReadGroup(const std::string& name);
  Result<std::optional<JobRow>> ReadJob(const std::string& id);
  // Compare-and-set 'active' at `version` -> 'finished' (finished_at = now).
  // False when the row changed since (cancelled, edited, deleted): nothing written.
  Result<bool> MarkJobFinished(const std::string& id, std::int64_t version);
  // Deletes hints older than `days` (bounded batch); the leader calls it now and then.
  Status PruneHints(int days);

  // The leader's liveness beacon: a MariaDB named lock held by the leader's
  // connection. MariaDB frees it the moment that connection closes, so a
  // standby learns of a crashed leader long before its ZooKeeper session
  // expires. TryLockLeader gives this connection's id when the lock is ours
  // (now or already), nullopt when another connection holds it.
  Result<std::optional<std::int64_t>> TryLockLeader(const std::string& name);
  Status UnlockLeader(const std::string& name);
  // The connection id holding the lock, nullopt when it is free.
  Result<std::optional<std::int64_t>> LeaderLockHolder(const std::string& name);

 private:
  Result<std::vector<GroupRow>> Groups(const std::string& where);
  Result<std::vector<DeviceRow>> Devices(const std::string& where);
  Result<std::vector<JobRow>> Jobs(const std::string& where);

  std::unique_ptr<MariaDbConnection> connection_;
};

}  // namespace picket::sync
