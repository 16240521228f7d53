// CollectorDb on SQLite (<data>/collector.db, WAL): one write connection
// behind a mutex with group commit, and a read connection of its own.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <vector>

#include "collector/collector_db.h"
#include "collector/group_commit.h"
#include "picket/sqlite/database.h"

namespace picket::collector {

class SqliteCollectorDb final : public CollectorDb {
 public:
  static Result<std::unique_ptr<SqliteCollectorDb>> Open(const std::string& path);
  ~SqliteCollectorDb() override;

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
  // One text column of one chunk row; `sql` takes ?1 = device, ?2 = seq.
  Result<std::optional<std::string>> ChunkText(const char* sql, const std::string& device,
                                               std::uint64_t seq);
  explicit SqliteCollectorDb(sqlite::Database db) : db_(std::move(db)) {}
  Status CreateSchema();
  Status UpsertDevice(const std::string& device, std::int64_t now_ms, const DeviceReport& report);

  using Commits = GroupCommit<ChunkPutRequest, Result<ChunkPut>>;
  using QueuedPut = Commits::Item;
  void CommitChunks(const std::vector<QueuedPut*>& batch);  // holds mu_
  Result<ChunkPut> PutOneChunk(const ChunkPutRequest& request);  // in the batch's transaction

  std::mutex mu_;  // writes, on db_
  sqlite::Database db_;
  Commits commits_{ChunkCommitFailed};
  std::mutex read_mu_;  // reads, on reader_ (so a long read never stalls a write)
  std::optional<sqlite::Database> reader_;
};

}  // namespace picket::collector
