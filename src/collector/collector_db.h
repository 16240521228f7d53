// The collector's metadata store: devices and their counters, chunk rows,
// scan results, log lines and idempotency keys. Two engines behind this one
// interface: SQLite in <data>/collector.db (sqlite_collector_db.h, the
// one-machine default) and MariaDB shared by many collectors
// (mariadb_collector_db.h). Every method is safe from any thread and each
// write is one transaction.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "picket/common/status.h"

namespace picket::sync {
struct DbUrl;
}

namespace picket::collector {

// Metadata of one uploaded chunk (X-Picket-* headers, common/wire.h).
struct ChunkRecord {
  std::string device;
  std::uint64_t seq = 0;
  std::string sha256_hex;
  std::uint64_t bytes = 0;
  std::optional<std::int64_t> packets, first_ts_us, last_ts_us, kernel_drops, interface_drops,
      lost_packets, gap_before_ms, ts_backwards, switched_at_us;
  std::optional<std::string> interface;
  std::int64_t received_at_ms = 0;
  std::string path;  // where the chunk file lives
};

// Cumulative counters a device reports on every upload; absent ones are kept.
struct DeviceReport {
  std::optional<std::int64_t> evicted_chunks, evicted_bytes;
};

// kOverDiskQuota: the device's stored chunk bytes plus this chunk would pass
// its disk quota; nothing is written.
enum class ChunkOutcome { kStored, kAlreadyStored, kConflict, kOverDiskQuota };

struct ChunkPut {
  ChunkOutcome outcome = ChunkOutcome::kStored;
  std::string stored_sha256;       // the hash on record (kAlreadyStored, kConflict)
  std::uint64_t device_bytes = 0;  // the device's stored chunk bytes (kOverDiskQuota)
};

// Both engines' answer for a chunk whose group commit failed outside its own steps.
inline Result<ChunkPut> ChunkCommitFailed(const std::string& why) {
  return Status::Internal("chunk commit failed: " + why);
}

// The natural key of a scan result: a repeated finding updates last_seen.
struct ResultKey {
  std::string job;  // "" when the line names no job
  std::string ip;
  std::int64_t port = 0;
  std::string proto;
};

struct NdjsonLine {
  std::string_view raw;                 // one JSON object, stored as sent
  std::optional<ResultKey> result_key;  // results only, when ip/port/proto are present
};

enum class LineKind { kResults, kLogs };
std::string_view LineKindName(LineKind kind);

struct IngestOutcome {
  std::size_t accepted = 0;
  bool duplicate = false;
};

// Rows in one answer of a list endpoint, at most.
inline constexpr std::uint64_t kMaxListLimit = 10000;

// A stored chunk as retention sees it.
struct StoredChunk {
  std::string device;
  std::uint64_t seq = 0;
  std::uint64_t bytes = 0;
  std::int64_t received_at_ms = 0;
  std::string path;
};

// A stored chunk as session analysis reads it.
struct AnalysisChunk {
  std::uint64_t seq = 0;
  std::string path;
  std::int64_t gap_before_ms = 0;  // 0 when the row has none
  std::int64_t received_at_ms = 0;
};

// Where a device's session analysis stands: its chunks at seq >= next_seq are
// not analysed yet.
struct AnalysisCursor {
  std::string device;
  std::uint64_t next_seq = 0;
};

// Chunks at or after their devices' analysis cursors (/metrics backlog).
struct PendingChunks {
  std::uint64_t count = 0;
  std::optional<std::int64_t> oldest_received_at_ms;
  // One device's (or batch's) pending chunks and the oldest one's time.
  void Add(std::int64_t chunks, std::int64_t oldest_ms) {
    count += static_cast<std::uint64_t>(std::max<std::int64_t>(0, chunks));
    oldest_received_at_ms = std::min(oldest_received_at_ms.value_or(oldest_ms), oldest_ms);
  }
};

// Where an oldest-first walk of the chunks stopped (exclusive).
struct ChunkCursor {
  std::int64_t received_at_ms = 0;
  std::string device;
  std::uint64_t seq = 0;
};

struct ListQuery {
  std::optional<std::string> device;
  std::optional<std::string> job;      // results only
  std::optional<std::uint64_t> since;  // exclusive: rows (or seqs) after this one
  std::optional<std::int64_t> since_ms;  // logs only: received at or after this wall time
  std::uint64_t limit = 1000;
};

class CollectorDb {
 public:
  // The one-machine default: SQLite at `path` (WAL), opened or created with
  // its schema. Errors name the path.
  static Result<std::unique_ptr<CollectorDb>> Open(const std::string& path);
  // Many collectors: the tables in a MariaDB database (created if missing),
  // `connections` connections for the writers and readers. Errors name the
  // database (password redacted). With a `chunk_root`, a chunk row whose path
  // is not <chunk_root>/<device>/<seq>.pcap is never handed out (whoever can
  // write the database must not make a collector serve or delete other files).
  static Result<std::unique_ptr<CollectorDb>> OpenMariaDb(const std::string& url,
                                                          std::size_t connections,
                                                          std::string chunk_root = "");
  static Result<std::unique_ptr<CollectorDb>> OpenMariaDb(const sync::DbUrl& url,
                                                          std::size_t connections,
                                                          std::string chunk_root = "");
  virtual ~CollectorDb() = default;
  CollectorDb(const CollectorDb&) = delete;
  CollectorDb& operator=(const CollectorDb&) = delete;

  // The hash stored for (device, seq), if any. A read; no transaction.
  virtual Result<std::optional<std::string>> ChunkHash(const std::string& device, std::uint64_t seq) = 0;

  // What makes the files a batch published durable (data and names), once
  // per batch, before its rows commit (ChunkStore: one syncfs).
  class PublishedFileSync {
   public:
    virtual ~PublishedFileSync() = default;
    virtual Status SyncPublished() const = 0;
  };

  struct ChunkPutRequest {
    const ChunkRecord* record = nullptr;
    const DeviceReport* report = nullptr;
    std::function<Status()> publish_file;
    const PublishedFileSync* file_sync = nullptr;  // null: publish_file makes it durable itself
    std::uint64_t disk_quota = 0;
  };
  // In one write transaction: when (device, seq) is already on record, reports
  // kAlreadyStored or kConflict and leaves the file alone; otherwise calls
  // publish_file (which renames the chunk file to record.path), makes it
  // durable (file_sync, or publish_file itself when null), inserts the row
  // and adds to the device's counters, then commits; returns after that
  // commit. Concurrent PUTs of one seq are serialised, also across
  // collectors sharing a database. disk_quota > 0: a new chunk that would
  // take the device's stored chunk bytes past it is kOverDiskQuota (checked
  // in the transaction, so concurrent PUTs cannot overshoot), and
  // publish_file is not called. SQLite commits the chunks waiting together
  // (group commit: one file_sync call per distinct sync and one WAL fsync for
  // the batch); MariaDB runs them on a pool of connections and InnoDB groups
  // the log flushes.
  virtual Result<ChunkPut> PutChunk(const ChunkPutRequest& request) = 0;
  // The same without waiting: returns at once, and `done` gets the answer after the commit,
  // on the thread that ran it (keep it short). `request` and what it points to must stay
  // valid until then. The engines queue it for their group commit.
  using PutChunkDone = std::function<void(Result<ChunkPut>)>;
  virtual void PutChunkAsync(const ChunkPutRequest& request, PutChunkDone done) = 0;
  Result<ChunkPut> PutChunk(const ChunkRecord& record, const DeviceReport& report,
                            const std::function<Status()>& publish_file,
                            std::uint64_t disk_quota = 0) {
    return PutChunk(ChunkPutRequest{&record, &report, publish_file, nullptr, disk_quota});
  }

  // Chunks committed and commits made by PutChunk (/metrics: the batch size),
  // and chunks waiting for the commit that runs now.
  std::uint64_t chunk_commits() const { return chunk_commits_.load(); }
  std::uint64_t chunks_committed() const { return chunks_committed_.load(); }
  // Seconds spent in those commits, and in their file syncs (syncfs) within them.
  // Commits run one at a time: a commit time near the wall time means ingest waits
  // on them, and the file sync's share says whether on the chunk files or the rows.
  double chunk_commit_seconds() const { return Seconds(chunk_commit_ns_); }
  double chunk_file_sync_seconds() const { return Seconds(chunk_file_sync_ns_); }
  virtual std::size_t chunks_queued() = 0;

  // The chunk bytes stored for the device (0 for an unknown one). A read.
  virtual Result<std::uint64_t> DeviceChunkBytes(const std::string& device) = 0;

  // The seqs of the device's chunks on record (the startup sweep of orphaned files).
  virtual Result<std::unordered_set<std::uint64_t>> ChunkSeqs(const std::string& device) = 0;

  // Marks the device as seen now with its latest counters (re-PUTs, conflicts).
  virtual Status TouchDevice(const std::string& device, std::int64_t now_ms, const DeviceReport& report) = 0;

  // Stores every line unless (device, kind, key) was already used, all in one
  // transaction: a replay stores nothing and reports duplicate. A replay whose
  // body_sha256 (hex of the decoded body; "" = not compared) differs from the
  // first use's is Conflict, naming the key: the API answers 422.
  virtual Result<IngestOutcome> IngestLines(LineKind kind, const std::string& device,
                                            const std::string& idempotency_key,
                                            const std::vector<NdjsonLine>& lines,
                                            std::int64_t now_ms, const DeviceReport& report,
                                            std::string_view body_sha256 = {}) = 0;

  virtual Result<std::optional<std::string>> ChunkPath(const std::string& device, std::uint64_t seq) = 0;

  // ---- session analysis (session_analysis.h), reads ----
  virtual Result<std::vector<std::string>> DevicesWithChunks() = 0;
  // The device's chunks from from_seq on, in seq order, at most `limit`.
  virtual Result<std::vector<AnalysisChunk>> NextChunksFrom(const std::string& device,
                                                            std::uint64_t from_seq,
                                                            std::size_t limit) = 0;
  // The chunks at or after each cursor, summed over the cursors. A scrape asks
  // for every device at once: one query per thousand devices, not one each.
  virtual Result<PendingChunks> ChunksBehind(const std::vector<AnalysisCursor>& cursors) = 0;

  // ---- retention (retention.h) ----
  // Up to `limit` chunks ordered by (received_at_ms, device, seq) after the
  // cursor (from the oldest without one). A read.
  virtual Result<std::vector<StoredChunk>> OldestChunks(const std::optional<ChunkCursor>& after,
                                                std::size_t limit) = 0;
  // Every device's stored chunk bytes (devices.chunk_bytes). A read.
  virtual Result<std::map<std::string, std::uint64_t>> ChunkBytesByDevice() = 0;
  // In one write transaction: deletes the rows of these chunks and takes them
  // off their devices' chunks/chunk_bytes. Returns the rows that were there
  // (the caller unlinks their files after this commit).
  virtual Result<std::vector<StoredChunk>> DeleteChunks(
      const std::vector<std::pair<std::string, std::uint64_t>>& keys) = 0;
  // In one write transaction: up to `batch` of the oldest result rows
  // (last_seen_ms) or log lines (lowest ids, while received_at_ms) before
  // before_ms. Returns how many went.
  virtual Result<std::uint64_t> DeleteLinesBefore(LineKind kind, std::int64_t before_ms,
                                          std::uint64_t batch) = 0;
  // Idempotency keys first used before before_ms, up to `batch`, one transaction.
  virtual Result<std::uint64_t> DeleteIdempotencyKeysBefore(std::int64_t before_ms, std::uint64_t batch) = 0;

  // JSON arrays for the GET endpoints, read on the read connection.
  virtual Result<nlohmann::json> ListDevices() = 0;
  virtual Result<nlohmann::json> ListChunks(const std::string& device, const ListQuery& query) = 0;
  virtual Result<nlohmann::json> ListResults(const ListQuery& query) = 0;
  virtual Result<nlohmann::json> ListLogs(const ListQuery& query) = 0;
  // The row-id cursor just before the first log line received at or after
  // since_ms (the newest row when there is none, 0 for an empty table): where
  // a follower that asked for a time starts reading ids.
  virtual Result<std::uint64_t> LogCursorAt(std::int64_t since_ms) = 0;
  // The cursor before the newest `lines` log rows (of `device`, or of all):
  // reading after it gives those rows. 0 when there are fewer.
  virtual Result<std::uint64_t> LogCursorTail(const std::optional<std::string>& device,
                                      std::uint64_t lines) = 0;

 protected:
  CollectorDb() = default;
  using CommitClock = std::chrono::steady_clock;
  // A commit of `chunks` chunks is done: it began at `began`, its file syncs took `file_sync`.
  void CountChunkCommit(std::size_t chunks, CommitClock::time_point began,
                        CommitClock::duration file_sync) {
    chunk_commits_.fetch_add(1);
    chunks_committed_.fetch_add(chunks);
    chunk_commit_ns_.fetch_add(Nanos(CommitClock::now() - began));
    chunk_file_sync_ns_.fetch_add(Nanos(file_sync));
  }

 private:
  static std::uint64_t Nanos(CommitClock::duration d) {  // steady: never negative
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  }
  static double Seconds(const std::atomic<std::uint64_t>& ns) {
    return static_cast<double>(ns.load()) / 1e9;
  }
  std::atomic<std::uint64_t> chunk_commits_{0}, chunks_committed_{0};
  std::atomic<std::uint64_t> chunk_commit_ns_{0}, chunk_file_sync_ns_{0};
};

}  // namespace picket::collector
