// Idempotent compare-and-set writes of row documents into ZooKeeper. Every
// write reads the znode first; a znode whose embedded version is already >=
// the row's is left alone, otherwise it is replaced with Set(expected = the
// stat version just read), retried on a conflict. So an older row never
// overwrites a newer znode, whoever wrote it and in whatever order.
//
// `may_write` is asked before every mutation: when this instance is no longer
// the leader (or its session changed) nothing is written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "picket/common/status.h"
#include "picket/zk/zk_session.h"

namespace picket::sync {

enum class PushOutcome { kWritten, kUpToDate };

class ZnodeWriter {
 public:
  ZnodeWriter(zk::ZkSession* session, std::function<Status()> may_write)
      : session_(session), may_write_(std::move(may_write)) {}

  // `document` carries "version": row_version.
  Result<PushOutcome> PushVersioned(const std::string& path, const std::string& document,
                                    std::int64_t row_version);
  // A job spec (no embedded version) and its version node, in one multi.
  Result<PushOutcome> PushJob(const std::string& job_path, const std::string& version_path,
                              const std::string& spec, std::int64_t row_version);
  // Writes the sync error node unless it already explains this version.
  Status PushError(const std::string& path, std::int64_t row_version, const std::string& error,
                   std::int64_t at_ms);
  // Removes the sync error node once `pushed_version` (or newer) is in place.
  Status ClearError(const std::string& path, std::int64_t pushed_version);
  // Deletes the node if it exists. Returns true when something was deleted.
  Result<bool> DeleteIfExists(const std::string& path);
  // Deletes the node and everything below it (children may appear meanwhile: retried).
  Result<bool> DeleteTree(const std::string& path);

 private:
  Result<std::optional<zk::NodeData>> Read(const std::string& path);

  zk::ZkSession* session_;
  std::function<Status()> may_write_;
};

}  // namespace picket::sync
