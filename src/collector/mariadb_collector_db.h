// CollectorDb on MariaDB: the collector_* tables of one database that several
// collectors share. A small pool of connections, each used by one thread at a
// time; chunk PUTs of one collector still commit in groups (one transaction
// and one file sync per batch). Every batch locks its device rows in sorted
// order, so two collectors' transactions wait for each other instead of
// deadlocking. InnoDB only, a primary key on every table, no table locks:
// Galera-compatible.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "collector/collector_db.h"
#include "collector/group_commit.h"
#include "collector/mariadb_pool.h"

namespace picket::collector {

namespace sql {
class Transaction;
}  // namespace sql

class MariaDbCollectorDb final : public CollectorDb {
 public:
  // Connects, creates the tables when missing (harmless when several
  // collectors open at once) and refuses a newer schema version.
  static Result<std::unique_ptr<MariaDbCollectorDb>> Open(const sync::DbUrl& url,
                                                          std::size_t connections,
                                                          std::string chunk_root);
  ~MariaDbCollectorDb() override;

  Result<std::optional<std::string>> ChunkHash(const std::string& device,
                                               std::uint64_t seq) override;
  Result<ChunkPut> PutChunk(const ChunkPutRequest& request) override;
  void PutChunkAsync(const ChunkPutRequest& request, PutChunkDone done) override;
  using CollectorDb::PutChunk;
  std::size_t chunks_queued() override;
  Result<std::uint64_t> DeviceChunkBytes(const std::string& device) override;
  Result<std::unordered_set<std::uint64_t>> ChunkSeqs(const std::string& device) override;
  Status TouchDevice(const std::string& device, std::int64_t now_ms,
                     const DeviceReport& report) override;
  Result<IngestOutcome> IngestLines(LineKind kind, const std::string& device,
                                    const std::string& idempotency_key,
                                    const std::vector<NdjsonLine>& lines, std::int64_t now_ms,
                                    const DeviceReport& report,
                                    std::string_view body_sha256 = {}) override;
  Result<std::optional<std::string>> ChunkPath(const std::string& device,
                                               std::uint64_t seq) override;
  Result<std::vector<std::string>> DevicesWithChunks() override;
  Result<std::vector<AnalysisChunk>> NextChunksFrom(const std::string& device,
                                                    std::uint64_t from_seq,
                                                    std::size_t limit) override;
  Result<PendingChunks> ChunksBehind(const std::vector<AnalysisCursor>& cursors) override;
  Result<std::vector<StoredChunk>> OldestChunks(const std::optional<ChunkCursor>& after,
                                                std::size_t limit) override;
  Result<std::map<std::string, std::uint64_t>> ChunkBytesByDevice() override;
  Result<std::vector<StoredChunk>> DeleteChunks(
      const std::vector<std::pair<std::string, std::uint64_t>>& keys) override;
  Result<std::uint64_t> DeleteLinesBefore(LineKind kind, std::int64_t before_ms,
                                          std::uint64_t batch) override;
  Result<std::uint64_t> DeleteIdempotencyKeysBefore(std::int64_t before_ms,
                                                    std::uint64_t batch) override;
  Result<nlohmann::json> ListDevices() override;
  Result<nlohmann::json> ListChunks(const std::string& device, const ListQuery& query) override;
  Result<nlohmann::json> ListResults(const ListQuery& query) override;
  Result<nlohmann::json> ListLogs(const ListQuery& query) override;
  Result<std::uint64_t> LogCursorAt(std::int64_t since_ms) override;
  Result<std::uint64_t> LogCursorTail(const std::optional<std::string>& device,
                                      std::uint64_t lines) override;

 private:
  using Lease = MariaDbConnectionPool::Lease;
  MariaDbCollectorDb(const sync::DbUrl& url, std::size_t connections, std::string chunk_root)
      : pool_(url, connections), chunk_root_(std::move(chunk_root)) {}
  // The row's path when it is <chunk_root_>/<device>/<seq>.pcap (any path
  // without a root); else Corruption naming the row and both paths.
  Result<std::string> CheckedPath(const std::string& device, std::uint64_t seq,
                                  const std::string& stored) const;
  // The same for retention: "" (nothing to unlink) and a warning instead of an error.
  std::string PathOrNothing(const std::string& device, std::uint64_t seq,
                            const std::string& stored) const;
  Status CreateSchema();
  // One text column of one chunk row.
  Result<std::optional<std::string>> ChunkText(std::string_view column, const std::string& device,
                                               std::uint64_t seq);

  using Commits = GroupCommit<ChunkPutRequest, Result<ChunkPut>>;
  using QueuedPut = Commits::Item;
  using Outcomes = std::vector<std::optional<Result<ChunkPut>>>;
  void CommitChunks(std::vector<QueuedPut*>& batch);
  // The whole batch in a fixed number of statements (upsert, locking read, insert, counters),
  // each chunk decided as PutOneChunk would. `published`: the chunks whose file it renamed.
  // An error leaves the transaction to be rolled back.
  Status PutChunksTogether(Lease& conn, const std::vector<QueuedPut*>& batch, Outcomes& outcomes,
                           std::vector<bool>& published);
  // One chunk in the batch's transaction, after its savepoint (when a batch's statement
  // failed: only that chunk fails). `published`: its file is in place already.
  Result<ChunkPut> PutOneChunk(Lease& conn, const ChunkPutRequest& request, bool published);
  // Makes the stored chunks' files durable, commits, answers every chunk of the batch.
  void FinishCommit(sql::Transaction& tx, std::vector<QueuedPut*>& batch, Outcomes& outcomes,
                    CommitClock::time_point began);

  MariaDbConnectionPool pool_;
  const std::string chunk_root_;
  Commits commits_{ChunkCommitFailed};
};

}  // namespace picket::collector
