// A doorbell for the sync loop: follows MariaDB's binary log as a replica
// would, only to learn *when* a transaction touching picket's database
// commits, and rings then (the loop polls at once instead of at its next
// interval). No row is decoded (research/sync-anchors.md §2: Connector/C's row
// decoding is unsafe); polling and the reconcile stay the source of truth.
//
// Its own thread and connection. When the binary log is off, the account lacks
// REPLICATION SLAVE or the server is away, State() says so, the loop keeps
// polling, and the doorbell tries again later.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "picket/common/status.h"
#include "picket/sync/db_url.h"

namespace picket::sync {

// What one binlog event means for the sync loop; pure, so tested without a server.
class BinlogBell {
 public:
  explicit BinlogBell(std::string schema)
      : schema_(std::move(schema)), qualified_(schema_ + "."), quoted_("`" + schema_ + "`.") {}
  // True when the loop should poll now: a transaction that touched the schema
  // committed (XID), or a statement on it outside a transaction ran (DDL).
  bool TableMap(std::string_view database);
  bool Query(std::string_view database, std::string_view statement);
  bool Xid();

 private:
  std::string schema_;
  std::string qualified_, quoted_;  // "schema." and "`schema`." as statements name its tables
  bool touched_ = false;  // in the open transaction
};

class BinlogDoorbell {
 public:
  // `ring` runs on the doorbell's thread; it must only wake the loop.
  BinlogDoorbell(DbUrl db, std::function<void()> ring);
  ~BinlogDoorbell();  // Stop()
  BinlogDoorbell(const BinlogDoorbell&) = delete;
  BinlogDoorbell& operator=(const BinlogDoorbell&) = delete;

  void Start();
  void Stop();
  // "binlog" while following it, else "polling: <why>" ("polling: starting"
  // before the first connection).
  std::string State() const;
  bool following() const;

 private:
  void Run();
  // One connection's life: returns why following stopped.
  Status Follow();
  void SetState(std::string state);
  void Retry(std::chrono::seconds delay);

  const DbUrl db_;
  const std::function<void()> ring_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  int socket_ = -1;  // the stream's socket, shut down by Stop() to end a blocking read
  std::string state_ = "polling: starting";
};

}  // namespace picket::sync
