#include "collector/retention.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <set>
#include <system_error>
#include <thread>

#include "picket/common/log.h"
#include "picket/common/units.h"

namespace picket::collector {

namespace {

// Row deletions per transaction for results, logs and idempotency keys, and
// how many such batches one pass may run for each (the rest waits for the
// next pass, so a first pass over years of rows never runs for hours).
constexpr std::uint64_t kLineBatch = 2000;
constexpr int kLineBatchesPerPass = 500;

// Chunk files unlinked at once. On a disk mounted with `discard`, ext4
// without a journal trims a file's blocks inside unlink(), so each unlink
// waits for the device, and a device trims several at once: under ingest on
// the bench VM one thread unlinked ~1,100 files/s and kept retention at ~630
// chunks/s, below the ingest rate; four threads unlinked 2.6 times as fast.
constexpr std::size_t kUnlinkThreads = 4;
constexpr std::size_t kFilesPerUnlinkThread = 16;  // fewer: one thread does them all

void RemoveChunkFiles(const std::vector<StoredChunk>& chunks) {
  auto remove_range = [&chunks](std::size_t first, std::size_t step) {
    for (std::size_t i = first; i < chunks.size(); i += step) {
      // After the commit: a reader that opened the file goes on reading it.
      if (std::remove(chunks[i].path.c_str()) != 0 && errno != ENOENT) {
        PICKET_LOG(kWarn, "collector", "retention: cannot remove a chunk file (its row is gone)",
                   {"path", chunks[i].path}, {"errno", errno});
      }
    }
  };
  const std::size_t threads =
      std::clamp<std::size_t>(chunks.size() / kFilesPerUnlinkThread, 1, kUnlinkThreads);
  std::vector<std::thread> others;
  for (std::size_t k = 1; k < threads; ++k) {
    try {
      others.emplace_back(remove_range, k, threads);
    } catch (const std::system_error&) {  // no thread to be had: this one does that share
      remove_range(k, threads);
    }
  }
  remove_range(0, threads);
  for (std::thread& t : others) t.join();
}

bool Analysed(const std::map<std::string, std::uint64_t>* cursors, const std::string& device,
              std::uint64_t seq) {
  if (cursors == nullptr) return true;
  auto it = cursors->find(device);
  return it != cursors->end() && seq < it->second;
}

}  // namespace

DropReason DecideChunk(const RetentionPolicy& policy, std::int64_t now_ms, const ChunkFacts& chunk,
                       std::uint64_t device_bytes, std::uint64_t total_bytes,
                       RetentionPhase phase) {
  if (phase != RetentionPhase::kLimits) {
    const bool over = policy.total_bytes > 0 && total_bytes > policy.total_bytes;
    return over && (chunk.analysed || phase == RetentionPhase::kHardTotal) ? DropReason::kTotalBytes
                                                                           : DropReason::kKeep;
  }
  if (!chunk.analysed) return DropReason::kKeep;
  if (policy.max_age_ms > 0 && chunk.received_at_ms < now_ms - policy.max_age_ms) {
    return DropReason::kAge;
  }
  if (policy.device_bytes > 0 && device_bytes > policy.device_bytes) {
    return DropReason::kDeviceBytes;
  }
  return DropReason::kKeep;
}

std::vector<DropReason> PlanRetention(const RetentionPolicy& policy, std::int64_t now_ms,
                                      const std::vector<ChunkFacts>& oldest_first) {
  std::map<std::string, std::uint64_t> device_bytes;
  std::uint64_t total = 0;
  for (const ChunkFacts& c : oldest_first) {
    device_bytes[c.device] += c.bytes;
    total += c.bytes;
  }
  std::vector<DropReason> out(oldest_first.size(), DropReason::kKeep);
  for (RetentionPhase phase :
       {RetentionPhase::kLimits, RetentionPhase::kTotal, RetentionPhase::kHardTotal}) {
    if (phase != RetentionPhase::kLimits &&
        (policy.total_bytes == 0 || total <= policy.total_bytes)) {
      break;
    }
    for (std::size_t i = 0; i < oldest_first.size(); ++i) {
      if (out[i] != DropReason::kKeep) continue;
      const ChunkFacts& c = oldest_first[i];
      const DropReason r = DecideChunk(policy, now_ms, c, device_bytes[c.device], total, phase);
      if (r == DropReason::kKeep) continue;
      out[i] = r;
      device_bytes[c.device] -= c.bytes;
      total -= c.bytes;
    }
  }
  return out;
}

void WriteRetentionMetrics(ExpositionWriter& out, const RetentionCounters& c) {
  out.Family("picket_retention_deleted_chunks_total", "counter",
             "Chunks (row and file) deleted by retention, by reason (age: --retain-age, "
             "device_bytes: --retain-device-bytes, total_bytes: --retain-bytes).");
  for (std::size_t i = 0; i < kDropReasonNames.size(); ++i) {
    out.Sample("picket_retention_deleted_chunks_total", {{"reason", kDropReasonNames[i]}},
               static_cast<double>(c.chunks[i].load()));
  }
  out.Family("picket_retention_deleted_chunk_bytes_total", "counter",
             "Bytes of the chunks deleted by retention, by reason.");
  for (std::size_t i = 0; i < kDropReasonNames.size(); ++i) {
    out.Sample("picket_retention_deleted_chunk_bytes_total", {{"reason", kDropReasonNames[i]}},
               static_cast<double>(c.chunk_bytes[i].load()));
  }
  out.Family("picket_retention_unanalysed_chunks_deleted_total", "counter",
             "Chunks deleted over --retain-bytes before the session analysis reached them.");
  out.Sample("picket_retention_unanalysed_chunks_deleted_total",
             static_cast<double>(c.unanalysed_chunks.load()));
  out.Family("picket_retention_deleted_rows_total", "counter",
             "Rows deleted by --retain-age, by kind (results, logs, idempotency_keys).");
  out.Sample("picket_retention_deleted_rows_total", {{"kind", "results"}},
             static_cast<double>(c.results.load()));
  out.Sample("picket_retention_deleted_rows_total", {{"kind", "logs"}},
             static_cast<double>(c.logs.load()));
  out.Sample("picket_retention_deleted_rows_total", {{"kind", "idempotency_keys"}},
             static_cast<double>(c.idempotency_keys.load()));
  out.Family("picket_retention_passes_total", "counter", "Retention passes run.");
  out.Sample("picket_retention_passes_total", static_cast<double>(c.passes.load()));
  out.Family("picket_retention_errors_total", "counter",
             "Retention passes ended by a storage error (retried on the next pass).");
  out.Sample("picket_retention_errors_total", static_cast<double>(c.errors.load()));
}

namespace {

std::uint64_t NudgeBytes(const RetentionPolicy& policy) {
  std::uint64_t smallest = 0;
  for (std::uint64_t cap : {policy.total_bytes, policy.device_bytes}) {
    if (cap > 0 && (smallest == 0 || cap < smallest)) smallest = cap;
  }
  if (smallest == 0) return 0;
  return std::max<std::uint64_t>(smallest / 8, 256 * 1024);
}

}  // namespace

Retention::Retention(RetentionPolicy policy, CollectorDb* db, AnalysisCursors cursors,
                     const Clock* clock, std::chrono::milliseconds interval, std::size_t batch,
                     ChunkPins* pins)
    : policy_(policy),
      db_(db),
      pins_(pins),
      cursors_(std::move(cursors)),
      clock_(clock),
      interval_(interval),
      batch_(batch < 1 ? 1 : batch),
      nudge_bytes_(NudgeBytes(policy)) {}

Retention::~Retention() { Stop(); }

void Retention::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void Retention::Stop() {
  stop_requested_.store(true, std::memory_order_relaxed);  // ends a pass after its batch
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Retention::OnStored(std::uint64_t bytes) {
  if (nudge_bytes_ == 0) return;
  const std::uint64_t before = stored_since_pass_.fetch_add(bytes, std::memory_order_relaxed);
  if (before < nudge_bytes_ && before + bytes >= nudge_bytes_) {  // once per crossing
    {
      std::lock_guard lock(mu_);
      nudged_ = true;
    }
    wake_.notify_all();
  }
}

void Retention::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    nudged_ = false;
    lock.unlock();
    stored_since_pass_.store(0, std::memory_order_relaxed);
    (void)RunPass();  // logged and counted inside
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stopping_ || nudged_; });
  }
}

Status Retention::DropBatch(std::vector<std::pair<ChunkFacts, DropReason>>& batch,
                            RetentionPassSummary& summary) {
  if (batch.empty()) return Status::Ok();
  std::map<std::pair<std::string, std::uint64_t>, const std::pair<ChunkFacts, DropReason>*> why;
  for (const auto& item : batch) why[{item.first.device, item.first.seq}] = &item;
  // Filtered, deleted and unlinked under the pins' lock: no reader pins a
  // chunk of this batch meanwhile (chunk_pins.h).
  auto drop = [&](const auto& pinned) -> Result<std::vector<StoredChunk>> {
    std::vector<std::pair<std::string, std::uint64_t>> keys;
    for (const auto& item : batch) {
      ChunkPins::Key key{item.first.device, item.first.seq};
      if (pinned(key)) {
        ++summary.kept_pinned;
        continue;
      }
      keys.push_back(std::move(key));
    }
    if (keys.empty()) return std::vector<StoredChunk>();
    auto deleted = db_->DeleteChunks(keys);
    if (!deleted.ok()) return deleted.status();
    RemoveChunkFiles(*deleted);
    return deleted;
  };
  auto deleted = pins_ != nullptr ? pins_->WhileLocked(drop)
                                  : drop([](const ChunkPins::Key&) { return false; });
  if (!deleted.ok()) return deleted.status().WithContext("retention: delete chunks");
  for (const StoredChunk& c : *deleted) {
    const auto& [facts, reason] = *why[{c.device, c.seq}];
    const auto i = static_cast<std::size_t>(reason) - 1;
    counters_.chunks[i].fetch_add(1, std::memory_order_relaxed);
    counters_.chunk_bytes[i].fetch_add(c.bytes, std::memory_order_relaxed);
    if (!facts.analysed) {
      counters_.unanalysed_chunks.fetch_add(1, std::memory_order_relaxed);
      ++summary.unanalysed_chunks;
    }
    ++summary.chunks;
    summary.chunk_bytes += c.bytes;
  }
  batch.clear();
  return Status::Ok();
}

Status Retention::ScanChunks(std::int64_t now_ms,
                             const std::map<std::string, std::uint64_t>* cursors,
                             RetentionPhase phase,
                             std::map<std::string, std::uint64_t>& device_bytes,
                             std::uint64_t& total_bytes, RetentionPassSummary& summary) {
  std::set<std::string> over_device_cap;
  if (policy_.device_bytes > 0) {
    for (const auto& [device, bytes] : device_bytes) {
      if (bytes > policy_.device_bytes) over_device_cap.insert(device);
    }
  }
  std::optional<ChunkCursor> cursor;
  std::vector<std::pair<ChunkFacts, DropReason>> drops;
  std::set<std::string> kept_unanalysed;
  while (!stop_requested_.load(std::memory_order_relaxed)) {
    // Nothing more can go: the rest is younger than the age limit and no
    // device is over its cap; or the total is within its cap.
    if (phase == RetentionPhase::kLimits) {
      if (over_device_cap.empty() &&
          (policy_.max_age_ms <= 0 ||
           (cursor && cursor->received_at_ms >= now_ms - policy_.max_age_ms))) {
        break;
      }
    } else if (policy_.total_bytes == 0 || total_bytes <= policy_.total_bytes) {
      break;
    }
    auto rows = db_->OldestChunks(cursor, batch_);
    if (!rows.ok()) return rows.status().WithContext("retention: list chunks");
    for (const StoredChunk& row : *rows) {
      ChunkFacts c{row.device, row.seq, row.bytes, row.received_at_ms,
                   Analysed(cursors, row.device, row.seq)};
      std::uint64_t& dev = device_bytes[c.device];
      const DropReason r = DecideChunk(policy_, now_ms, c, dev, total_bytes, phase);
      if (r == DropReason::kKeep) {
        if (!c.analysed && over_device_cap.count(c.device) != 0) kept_unanalysed.insert(c.device);
        continue;
      }
      // The usage the next decision sees, as PlanRetention keeps it.
      dev -= std::min(dev, c.bytes);
      total_bytes -= std::min(total_bytes, c.bytes);
      if (policy_.device_bytes == 0 || dev <= policy_.device_bytes) {
        over_device_cap.erase(c.device);
      }
      drops.emplace_back(std::move(c), r);
    }
    // One transaction per batch read: ingest gets the write lock in between.
    PICKET_RETURN_IF_ERROR(DropBatch(drops, summary));
    if (rows->size() < batch_) break;
    const StoredChunk& last = rows->back();
    cursor = ChunkCursor{last.received_at_ms, last.device, last.seq};
  }
  summary.kept_unanalysed += kept_unanalysed.size();
  return Status::Ok();
}

Result<RetentionPassSummary> Retention::RunPass() {
  const std::int64_t now_ms = clock_->WallMillis();
  RetentionPassSummary summary;
  auto run = [&]() -> Status {
    std::optional<std::map<std::string, std::uint64_t>> cursors;
    if (cursors_) {
      auto read = cursors_();
      if (!read.ok()) return read.status().WithContext("retention: analysis cursors");
      cursors = std::move(*read);
    }
    auto usage = db_->ChunkBytesByDevice();
    if (!usage.ok()) return usage.status().WithContext("retention: device usage");
    std::uint64_t total = 0;
    for (const auto& [device, bytes] : *usage) total += bytes;
    const auto* cur = cursors ? &*cursors : nullptr;
    for (RetentionPhase phase :
         {RetentionPhase::kLimits, RetentionPhase::kTotal, RetentionPhase::kHardTotal}) {
      PICKET_RETURN_IF_ERROR(ScanChunks(now_ms, cur, phase, *usage, total, summary));
    }
    if (policy_.max_age_ms <= 0) return Status::Ok();
    const std::int64_t before = now_ms - policy_.max_age_ms;
    struct RowKind {
      std::function<Result<std::uint64_t>()> drop;
      std::atomic<std::uint64_t>* counter;
      std::uint64_t* summary;
    };
    for (const RowKind& kind :
         {RowKind{[&] { return db_->DeleteLinesBefore(LineKind::kResults, before, kLineBatch); },
                  &counters_.results, &summary.results},
          RowKind{[&] { return db_->DeleteLinesBefore(LineKind::kLogs, before, kLineBatch); },
                  &counters_.logs, &summary.logs},
          RowKind{[&] { return db_->DeleteIdempotencyKeysBefore(before, kLineBatch); },
                  &counters_.idempotency_keys, &summary.idempotency_keys}}) {
      for (int i = 0; i < kLineBatchesPerPass && !stop_requested_.load(std::memory_order_relaxed);
           ++i) {
        auto n = kind.drop();
        if (!n.ok()) return n.status().WithContext("retention: delete rows");
        kind.counter->fetch_add(*n, std::memory_order_relaxed);
        *kind.summary += *n;
        if (*n < kLineBatch) break;
      }
    }
    return Status::Ok();
  };
  // Nothing catches on the retention thread: an exception would end the collector.
  const Status st = [&run] {
    try {
      return run();
    } catch (const std::exception& e) {
      return Status::Internal(std::string("retention pass threw: ") + e.what());
    }
  }();
  counters_.passes.fetch_add(1, std::memory_order_relaxed);
  if (!st.ok()) counters_.errors.fetch_add(1, std::memory_order_relaxed);
  if (st.ok()) {
    PICKET_LOG(kInfo, "collector", "retention pass", {"chunks", summary.chunks},
               {"chunk_bytes", summary.chunk_bytes},
               {"unanalysed_chunks", summary.unanalysed_chunks},
               {"kept_unanalysed_devices", summary.kept_unanalysed},
               {"kept_pinned", summary.kept_pinned}, {"results", summary.results},
               {"logs", summary.logs}, {"idempotency_keys", summary.idempotency_keys});
  } else {
    PICKET_LOG(kWarn, "collector", "retention pass failed, retried on the next pass",
               {"chunks", summary.chunks}, {"chunk_bytes", summary.chunk_bytes},
               {"results", summary.results}, {"logs", summary.logs}, {"error", st.message()});
  }
  if (!st.ok()) return st;
  return summary;
}

}  // namespace picket::collector
