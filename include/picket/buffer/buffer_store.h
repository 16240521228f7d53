// The local buffer: the single source of truth for what is pending upload.
// pcap chunk payloads are files (made durable by the capture module before
// CommitChunk); everything else is rows in SQLite (WAL), shared by the worker
// process (which commits chunks and results) and the supervisor (which
// uploads and acknowledges them). Each process opens its own BufferStore; one
// BufferStore is used by one thread at a time.
//
// Disk budget (max_bytes): the real footprint — pending chunk bytes + the
// database and its WAL files (they hold the batches: at least the pending batch
// bytes are counted) + the reserve file. Committing a
// chunk over budget evicts the oldest pending chunks first (counted, never
// silent); result and log batches are never evicted. The filesystem's free
// space is checked too (statvfs): below kMinFreeBytes the oldest pending chunks
// are evicted ("disk full", counted apart), and when nothing is left to evict
// MakeRoom fails so the caller pauses capture (its packets counted as lost).
//
// Recording an outcome must not fail on a full disk: the buffer keeps a
// preallocated reserve file (kReserveBytes). A write that SQLite refuses with
// "database or disk is full" releases the reserve, evicts the oldest pending
// chunks to get the floor back, tries the write once more and re-creates the
// reserve. Simpler than preallocating SQLite's pages (WAL frames are appended
// whatever the free pages), and it frees room for the WAL as well.
//
// The WAL is kept small: journal_size_limit and wal_autocheckpoint bound it,
// and it is checkpointed (TRUNCATE) after evictions and pruning.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "picket/common/status.h"

namespace picket::buffer {

struct ChunkMeta {
  std::int64_t seq = 0;            // continuous: the last committed seq + 1
  std::string file;                // absolute path of the sealed pcap
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
  std::int64_t first_ts_us = 0;    // first/last packet timestamps, µs since the epoch
  std::int64_t last_ts_us = 0;
  std::uint64_t ts_backwards = 0;  // packets stamped before the one ahead (clock stepped back)
  std::uint64_t kernel_drops = 0;  // during this chunk's interval
  std::uint64_t interface_drops = 0;
  std::uint64_t lost_packets = 0;  // received but in no chunk: disk too slow, write errors
  std::int64_t gap_before_ms = 0;  // capture was down this long before the chunk (restart)
  // A config change switched captures without a gap: packets stamped up to
  // this (µs) are in earlier chunks. 0: no switch before this chunk.
  std::int64_t switched_at_us = 0;
  std::string sha256_hex;
  std::string interface;
  std::int64_t sealed_at_ms = 0;   // wall clock
  // Seqs handed out right before this one whose chunks never got committed (a
  // failed commit): CommitChunk then expects seq = NextChunkSeq() + this, so a
  // seq is never handed out twice.
  std::int64_t uncommitted_before = 0;
};

// Free space the buffer keeps on its filesystem: below it the oldest pending
// chunks are evicted and capture pauses rather than writing into ENOSPC.
inline constexpr std::uint64_t kMinFreeBytes = 512u << 10;
// The preallocated reserve file (dir/reserve) released when SQLite hits a full disk.
inline constexpr std::uint64_t kReserveBytes = 256u << 10;

enum class BatchKind { kResults, kLogs };

struct Batch {
  std::int64_t id = 0;
  BatchKind kind = BatchKind::kResults;
  std::string idempotency_key;     // stable across retries
  std::string body;                // NDJSON
  std::uint64_t lines = 0;
  int attempts = 0;
};

struct PendingChunk {
  ChunkMeta meta;
  int attempts = 0;
};

struct BufferCounters {
  std::uint64_t chunks_pending = 0, chunk_bytes_pending = 0;
  std::uint64_t chunks_uploaded = 0, chunks_dead = 0;
  std::uint64_t chunks_evicted = 0, bytes_evicted = 0;
  // Of chunks_evicted: evicted because the filesystem was full (the rest: max_bytes).
  std::uint64_t chunks_evicted_disk_full = 0;
  std::uint64_t packets_evicted = 0;  // packets in evicted chunks (either reason)
  std::uint64_t batches_pending = 0, batch_bytes_pending = 0;
  std::uint64_t result_batches_pending = 0;  // scan results the collector does not have yet
  std::uint64_t batches_uploaded = 0, batches_dead = 0;
  std::int64_t last_chunk_seq = 0;   // 0: none yet
};

struct BufferOptions {
  std::string dir;                   // holds buffer.db and chunks/
  std::uint64_t max_bytes = 1ull << 30;
  // Remove chunk files no committed row references. Only the process that
  // writes chunks (the worker, holding the worker lock) may do this: another
  // process could delete a chunk the worker is about to commit.
  bool remove_orphans = true;
};

class BufferStore {
 public:
  virtual ~BufferStore() = default;

  // Directory where sealed chunk files live (the capture module writes there).
  virtual std::string ChunkDir() const = 0;
  // The seq the next committed chunk must carry.
  virtual Result<std::int64_t> NextChunkSeq() = 0;
  // Records a durable chunk file; enforces the disk budget. Fails with
  // FailedPrecondition when meta.seq is not NextChunkSeq().
  virtual Status CommitChunk(const ChunkMeta& meta) = 0;
  virtual Result<std::optional<ChunkMeta>> LastChunk() = 0;
  // Evicts the oldest pending chunks ("disk full") until the filesystem has at
  // least `free_bytes` available; ResourceExhausted (naming both figures) when
  // nothing is left to evict. Returns the free bytes. Cheap when there is room:
  // one statvfs, no database access.
  virtual Result<std::uint64_t> MakeRoom(std::uint64_t free_bytes) = 0;
  // The budget's view of the footprint (see the top of this file).
  virtual Result<std::uint64_t> FootprintBytes() = 0;

  // Items whose next attempt is due at `now_ms`, oldest first.
  virtual Result<std::vector<PendingChunk>> DueChunks(std::int64_t now_ms, int limit) = 0;
  virtual Status MarkChunkUploaded(std::int64_t seq) = 0;   // deletes the file
  virtual Status MarkChunkRetry(std::int64_t seq, std::int64_t next_attempt_ms,
                                const std::string& error) = 0;
  virtual Status MarkChunkDead(std::int64_t seq, const std::string& error) = 0;  // kept aside
  // Makes every pending chunk and batch due now: once the collector answers
  // again, nothing should sit out the rest of a backoff from the outage.
  virtual Status RetryAllNow() = 0;

  virtual Result<std::int64_t> AppendBatch(BatchKind kind, const std::string& ndjson,
                                           std::uint64_t lines) = 0;
  virtual Result<std::vector<Batch>> DueBatches(std::int64_t now_ms, int limit) = 0;
  virtual Status MarkBatchUploaded(std::int64_t id) = 0;
  virtual Status MarkBatchRetry(std::int64_t id, std::int64_t next_attempt_ms,
                                const std::string& error) = 0;
  virtual Status MarkBatchDead(std::int64_t id, const std::string& error) = 0;

  virtual Result<BufferCounters> Counters() = 0;
  // Counters().result_batches_pending alone: one indexed count, cheap enough
  // for every shard event.
  virtual Result<std::uint64_t> ResultBatchesPending() = 0;
  // Whole seconds the oldest pending item has waited at `now_ms`: a chunk since
  // it was sealed, a batch since it was appended; 0 when nothing is pending
  // (or the clock went back). Dead and evicted items do not count.
  virtual Result<std::uint64_t> OldestPendingAgeS(std::int64_t now_ms) = 0;

  // Small durable key/value state (last good config, device state).
  virtual Status PutState(const std::string& key, const std::string& value) = 0;
  virtual Result<std::optional<std::string>> GetState(const std::string& key) = 0;
};

// Opens or creates the SQLite buffer in options.dir and recovers it: temp
// files and chunk files without a committed row are removed; a database that
// SQLite reports as damaged is moved aside (with the chunk files it owned, to
// dir/lost+found/) and a fresh one is started, so start-up never wedges.
Result<std::unique_ptr<BufferStore>> OpenSqliteBuffer(const BufferOptions& options);

}  // namespace picket::buffer
