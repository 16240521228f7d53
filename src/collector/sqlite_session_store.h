// SessionStore on SQLite (<data>/sessions.db, WAL): one writer connection and
// one reader connection, each behind its own mutex.
#pragma once

#include <mutex>

#include "collector/session_store.h"
#include "picket/sqlite/database.h"

namespace picket::collector {

class SqliteSessionStore final : public SessionStore {
 public:
  static Result<std::unique_ptr<SqliteSessionStore>> Open(const std::string& path);
  ~SqliteSessionStore() override;

  Result<std::optional<AnalysisState>> LoadState(const std::string& device) override;
  Status CommitChunks(const std::string& device, std::span<const AnalysedChunk> chunks) override;
  using SessionStore::CommitChunk;
  Result<std::uint64_t> DeleteOlderThan(std::int64_t before_us, std::uint64_t batch) override;
  Result<bool> ClaimDevice(const std::string&, const std::string&, std::int64_t,
                           std::int64_t) override {
    return true;  // one collector per file
  }
  Status ReleaseDevices(const std::string&) override { return Status::Ok(); }
  Result<std::vector<StoredSession>> List(const SessionFilter& filter,
                                          std::uint64_t max_rows) override;
  Result<std::optional<StoredSession>> Get(std::uint64_t id, bool with_packets) override;
  Result<std::vector<analysis::PacketRef>> Packets(const std::string& device,
                                                   std::uint64_t uid) override;
  Result<std::vector<AnalysisState>> AllCounters() override;

  const std::string& path() const { return path_; }

 private:
  SqliteSessionStore(std::string path, sqlite::Database writer, sqlite::Database reader);
  // One chunk's sessions and packet refs, in the caller's transaction.
  Status InsertChunkRows(const std::string& device, const AnalysedChunk& chunk);
  Result<std::vector<analysis::PacketRef>> PacketsLocked(const std::string& device,
                                                         std::uint64_t uid);

  std::string path_;
  std::mutex writer_mu_;
  sqlite::Database writer_;
  std::mutex reader_mu_;
  sqlite::Database reader_;
};

}  // namespace picket::collector
