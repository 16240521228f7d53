// Retention at the collector: chunks (rows and files) by age, by bytes per
// device and by bytes in total; scan results, log lines and idempotency keys
// by age. (Sessions have their own age limit, --session-retention, applied by
// SessionAnalysis.)
//
// A pass walks the chunks oldest first (received_at_ms) in batches read on
// CollectorDb's read connection and asks DecideChunk about each one, with the
// usage left after the deletions before it; every batch of deletions is one
// short write transaction, and the files are unlinked after its commit (a
// crash in between leaves files without rows, which ChunkStore::SweepOrphans
// removes at the next start). Ingest takes the write mutex between batches.
//
// Analysis. A chunk the session analysis has not reached yet (seq at or after
// its device's cursor) is kept by the age and per-device limits; only the
// total cap, the hard one that protects the disk, deletes it, in a last
// scan once the analysed chunks are not enough, and counts it. A reader that
// already opened a chunk keeps reading it after the unlink (POSIX); one that
// looks the path up afterwards finds no row and answers 404. Session pcaps,
// which open their chunks one after another, pin them (chunk_pins.h).
//
// Threads: Start runs RunPass on its own thread every `interval`, and sooner
// when ingest has stored an eighth of the smallest size cap since the last
// pass (OnStored): a fast ingest overshoots a cap by that much, not by a
// whole interval of chunks. Without Start a test calls RunPass itself with
// an injected clock. Counters are
// atomics, read by GET /metrics from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "collector/chunk_pins.h"
#include "collector/collector_db.h"
#include "collector/metrics.h"
#include "picket/common/clock.h"
#include "picket/common/status.h"

namespace picket::collector {

// 0 turns a limit off.
struct RetentionPolicy {
  std::int64_t max_age_ms = 0;     // --retain-age
  std::uint64_t total_bytes = 0;   // --retain-bytes (resolved from a percentage at start)
  std::uint64_t device_bytes = 0;  // --retain-device-bytes
};

struct ChunkFacts {
  std::string device;
  std::uint64_t seq = 0;
  std::uint64_t bytes = 0;
  std::int64_t received_at_ms = 0;
  bool analysed = true;  // the session analysis has passed it (or is off)
};

enum class DropReason { kKeep, kAge, kDeviceBytes, kTotalBytes };
inline constexpr std::array<const char*, 3> kDropReasonNames = {"age", "device_bytes",
                                                                "total_bytes"};

// A pass scans the chunks oldest first up to three times: the age and
// per-device limits (analysed chunks only), then, while the total is over
// its cap, analysed chunks, then any chunk (the hard cap). The total comes
// last so that what the other limits free counts before it takes anything.
enum class RetentionPhase { kLimits, kTotal, kHardTotal };

// Whether one chunk goes in this phase, and why. device_bytes and
// total_bytes are what is stored now (after earlier deletions of the pass).
DropReason DecideChunk(const RetentionPolicy& policy, std::int64_t now_ms, const ChunkFacts& chunk,
                       std::uint64_t device_bytes, std::uint64_t total_bytes, RetentionPhase phase);

// A whole pass in memory, as RunPass does it against the database: chunks
// oldest first, usage from the chunks themselves. Returns one reason per chunk.
std::vector<DropReason> PlanRetention(const RetentionPolicy& policy, std::int64_t now_ms,
                                      const std::vector<ChunkFacts>& oldest_first);

// Everything deleted since the start.
struct RetentionCounters {
  std::array<std::atomic<std::uint64_t>, 3> chunks{}, chunk_bytes{};  // by DropReason - 1
  std::atomic<std::uint64_t> unanalysed_chunks{0};  // deleted before analysis (total cap)
  std::atomic<std::uint64_t> results{0}, logs{0}, idempotency_keys{0};
  std::atomic<std::uint64_t> passes{0}, errors{0};
};
void WriteRetentionMetrics(ExpositionWriter& out, const RetentionCounters& counters);

struct RetentionPassSummary {
  std::uint64_t chunks = 0, chunk_bytes = 0, unanalysed_chunks = 0, results = 0, logs = 0,
                idempotency_keys = 0;
  std::uint64_t kept_unanalysed = 0;  // over a soft limit but not analysed yet: kept
  std::uint64_t kept_pinned = 0;      // due, but a reader is streaming it: next pass
};

class Retention {
 public:
  // device → the analysis cursor (first seq not analysed); unset: analysis off.
  using AnalysisCursors = std::function<Result<std::map<std::string, std::uint64_t>>()>;

  // pins (may be null): chunks readers are streaming, kept until a later pass.
  Retention(RetentionPolicy policy, CollectorDb* db, AnalysisCursors cursors, const Clock* clock,
            std::chrono::milliseconds interval, std::size_t batch = 256,
            ChunkPins* pins = nullptr);
  ~Retention();  // stops the thread

  void Start();
  void Stop();

  // Ingest stored `bytes` of chunks; wakes the thread early once they add up
  // to nudge_bytes() since the last pass. Any thread; cheap (one atomic add).
  void OnStored(std::uint64_t bytes);
  // An eighth of the smallest size cap (at least 256 KiB); 0 without one.
  std::uint64_t nudge_bytes() const { return nudge_bytes_; }

  // One pass; logs one summary line. Storage errors end the pass (counted).
  Result<RetentionPassSummary> RunPass();

  const RetentionCounters& counters() const { return counters_; }
  const RetentionPolicy& policy() const { return policy_; }

 private:
  Status ScanChunks(std::int64_t now_ms, const std::map<std::string, std::uint64_t>* cursors,
                    RetentionPhase phase, std::map<std::string, std::uint64_t>& device_bytes,
                    std::uint64_t& total_bytes, RetentionPassSummary& summary);
  Status DropBatch(std::vector<std::pair<ChunkFacts, DropReason>>& batch,
                   RetentionPassSummary& summary);
  void Loop();

  const RetentionPolicy policy_;
  CollectorDb* db_;
  ChunkPins* pins_;
  AnalysisCursors cursors_;
  const Clock* clock_;
  const std::chrono::milliseconds interval_;
  const std::size_t batch_;
  const std::uint64_t nudge_bytes_;
  RetentionCounters counters_;
  std::atomic<std::uint64_t> stored_since_pass_{0};

  std::atomic<bool> stop_requested_{false};  // read between batches
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool nudged_ = false;
  std::thread thread_;
};

}  // namespace picket::collector
