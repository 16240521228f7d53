#include "collector/session_analysis.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <limits>
#include <memory>

#include "collector/chunk_store.h"
#include "picket/common/log.h"

namespace picket::collector {

namespace {

constexpr std::int64_t kRetentionEveryMs = 60'000;
constexpr std::uint64_t kRetentionBatch = 5'000;
constexpr int kRetentionBatchesPerTick = 20;
constexpr std::int64_t kRetryFailedDeviceMs = 10'000;  // a broken device logs once per 10 s
constexpr int kAnalysisNice = 10;                      // see Loop
// Chunks of one device per commit: one state write and one log flush for them
// (a crash re-analyses at most these from the state before them).
constexpr std::size_t kChunksPerCommit = 16;
// Devices per commit (FlushGroup): a few statements for them all on MariaDB, not ~6 each.
// At most half the resident analysers, so loading another never evicts one with work to commit.
constexpr std::size_t kDevicesPerCommit = 32;

// The chunk file behind a packet ref, one chunk kept in memory: a restore
// re-dissects packets of a few recent chunks, mostly in order.
struct FetchCache {
  std::uint64_t seq = std::numeric_limits<std::uint64_t>::max();
  std::string bytes;
};

}  // namespace

struct SessionAnalysis::Device {
  std::string id;
  std::unique_ptr<analysis::Analyzer> analyzer;
  std::vector<analysis::Session> closed;  // the analyser's sink, emptied per chunk
  AnalysisState state;                    // counters and next_seq; blob unused here
  // The next_seq on record (nullopt: no state stored yet) and the chunks
  // analysed since, committed together (Flush) at the latest when a turn ends.
  std::optional<std::uint64_t> committed_next_seq;
  std::vector<AnalysedChunk> pending;
  std::int64_t last_active_ms = 0;
  std::int64_t lease_until_ms = 0;        // our lease on it runs until then
};

SessionAnalysis::SessionAnalysis(SessionAnalysisOptions options, CollectorDb* chunks,
                                 SessionStore* store, const Clock* clock)
    : options_(std::move(options)), store_(store), clock_(clock), chunks_(chunks) {}

SessionAnalysis::~SessionAnalysis() { Stop(); }

Result<std::unique_ptr<SessionAnalysis>> SessionAnalysis::Create(SessionAnalysisOptions options,
                                                                 CollectorDb* chunks,
                                                                 SessionStore* store,
                                                                 const Clock* clock) {
  options.analyzer.refs_in_session = false;
  if (chunks == nullptr || store == nullptr) {
    return Status::InvalidArgument("session analysis needs the chunk and session stores");
  }
  return std::unique_ptr<SessionAnalysis>(
      new SessionAnalysis(std::move(options), chunks, store, clock));
}

void SessionAnalysis::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void SessionAnalysis::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
    // The others may take our devices over at once, not after the lease runs out.
    if (Status st = store_->ReleaseDevices(options_.owner); !st.ok()) {
      PICKET_LOG(kWarn, "collector", "analysis leases not released (they run out)",
                 {"status", st});
    }
  }
}

void SessionAnalysis::Notify(const std::string& device) {
  bool was_empty;
  {
    std::lock_guard lock(mu_);
    was_empty = notified_.empty();
    notified_.insert(device);
  }
  // The loop waits only when it found the set empty (under mu_), so only the
  // first device of a pass needs to wake it: not one futex wake per chunk.
  if (was_empty) wake_.notify_all();
}

std::size_t SessionAnalysis::resident_devices_peak() const {
  std::lock_guard lock(mu_);
  return resident_peak_;
}

std::size_t SessionAnalysis::resident_devices() const {
  std::lock_guard lock(mu_);
  return resident_count_;
}

void SessionAnalysis::Loop() {
  // Ingest first: a device waits for its answer, analysis has a queue and catches up. With
  // CPU to spare this changes nothing; on a busy collector its ingest threads get the CPU
  // (2 vCPUs, 1,000 devices: +6-17% chunks/s at 1 MiB, +17% at 64 KiB) and analysis the rest
  // (nice 10: about a tenth of a busy thread's share, never starved). Raising nice needs no
  // privilege, so this cannot fail for a thread of our own.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kAnalysisNice);
  ::pthread_setname_np(::pthread_self(), "sessions");  // as `top -H` and /proc show it
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Status st = PassCaught();
    if (!st.ok()) {
      PICKET_LOG(kError, "collector", "session analysis failed; retrying", {"status", st});
    }
    lock.lock();
    if (stopping_) break;
    // Work left (or a failure) comes back within a second; new chunks at once.
    if (notified_.empty()) wake_.wait_for(lock, std::chrono::seconds(1));
  }
}

// Nothing catches on this thread: an exception (a library's, or running out of
// memory) would end the collector. Every device goes back to its committed
// state instead, and all are resumed on the next pass.
Status SessionAnalysis::PassCaught() {
  try {
    return Pass();
  } catch (const std::exception& e) {
    resident_.clear();
    unflushed_.clear();
    first_pass_ = true;
    std::lock_guard lock(mu_);
    resident_count_ = 0;
    return Status::Internal(std::string("session analysis threw: ") + e.what());
  }
}

Result<bool> SessionAnalysis::AdvanceCaught(const std::string& device) {
  try {
    return Advance(device);
  } catch (const std::exception& e) {  // the caller drops it back to its committed state
    return Status::Internal(std::string("analysis threw: ") + e.what());
  }
}

Status SessionAnalysis::Pass() {
  std::set<std::string> devices;
  {
    std::lock_guard lock(mu_);
    devices.swap(notified_);
  }
  if (first_pass_) {
    // Resume every device with chunks: some may have arrived while we were down.
    auto with_chunks = chunks_->DevicesWithChunks();
    if (!with_chunks.ok()) return with_chunks.status();
    devices.insert(with_chunks->begin(), with_chunks->end());
    first_pass_ = false;
  }
  devices.insert(waiting_.begin(), waiting_.end());
  Status first_error;
  const std::int64_t now_ms = clock_->WallMillis();
  for (const std::string& device : devices) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    if (auto failed = failed_until_ms_.find(device); failed != failed_until_ms_.end()) {
      if (now_ms < failed->second) continue;  // still in waiting_: retried later
      failed_until_ms_.erase(failed);
    }
    auto more = AdvanceCaught(device);  // a device that throws rests like one that fails
    if (!more.ok()) {
      Rest(device, more.status(), first_error, now_ms);
      continue;
    }
    if (*more) Notify(device);
    const std::size_t group =
        std::clamp<std::size_t>(options_.max_resident_devices / 2, 1, kDevicesPerCommit);
    if (unflushed_.size() >= group) FlushGroup(first_error, now_ms);
  }
  FlushGroup(first_error, now_ms);
  if (Status st = RunRetention(); !st.ok() && first_error.ok()) first_error = st;
  EvictIdle();
  return first_error;
}

Result<bool> SessionAnalysis::Claim(const std::string& device) {
  const std::int64_t now = clock_->WallMillis();
  const std::int64_t ttl = options_.lease_ttl.count();
  if (auto it = resident_.find(device); it != resident_.end()) {
    // Renewed only when half of it is gone: one round trip per ttl/2, not per chunk.
    if (it->second->lease_until_ms - now > ttl / 2) return true;
    if (it->second->lease_until_ms <= now) Drop(device);  // lapsed: its state may have moved on
  }
  auto claimed = store_->ClaimDevice(device, options_.owner, now, ttl);
  if (!claimed.ok()) return claimed.status();
  if (!*claimed) {
    Drop(device);
    return false;
  }
  if (auto it = resident_.find(device); it != resident_.end()) {
    it->second->lease_until_ms = now + ttl;
  }
  return true;
}

void SessionAnalysis::Drop(const std::string& device) {
  if (resident_.erase(device) == 0) return;
  std::lock_guard lock(mu_);
  resident_count_ = resident_.size();
}

Result<SessionAnalysis::Device*> SessionAnalysis::Resident(const std::string& device) {
  if (auto it = resident_.find(device); it != resident_.end()) return it->second.get();
  auto saved = store_->LoadState(device);
  if (!saved.ok()) return saved.status();
  auto dev = std::make_unique<Device>();
  dev->id = device;
  Device* raw = dev.get();
  dev->analyzer = std::make_unique<analysis::Analyzer>(
      options_.analyzer, [raw](analysis::Session&& s) { raw->closed.push_back(std::move(s)); });
  if (*saved) {
    dev->committed_next_seq = (*saved)->next_seq;
    dev->state = std::move(**saved);
    if (!dev->state.blob.empty()) {
      auto cache = std::make_shared<FetchCache>();
      auto fetch = [this, device, cache](const analysis::PacketRef& ref, std::string& storage,
                                         analysis::RawPacket& packet) -> Status {
        if (cache->seq != ref.chunk_seq) {
          auto path = chunks_->ChunkPath(device, ref.chunk_seq);
          if (!path.ok()) return path.status();
          if (!*path) return Status::NotFound("chunk " + std::to_string(ref.chunk_seq) + " is gone");
          auto bytes = ChunkStore::Read(**path);
          if (!bytes.ok()) return bytes.status();
          cache->bytes = std::move(*bytes);
          cache->seq = ref.chunk_seq;
        }
        PICKET_RETURN_IF_ERROR(analysis::PacketAt(cache->bytes, ref.offset, packet));
        storage.assign(reinterpret_cast<const char*>(packet.data.data()), packet.data.size());
        packet.data = {reinterpret_cast<const std::uint8_t*>(storage.data()), storage.size()};
        packet.ref = ref;
        return Status::Ok();
      };
      Status st = dev->analyzer->RestoreState(dev->state.blob, fetch);
      if (!st.ok()) {
        // New uids would collide with stored ones: stop this device, loudly.
        return st.WithContext("restore the saved analysis state of device " + device);
      }
    }
    dev->state.blob.clear();
    dev->closed.clear();  // a restore emits nothing new; be sure
  } else {
    dev->state.device = device;
    // picketd numbers chunks from 1; a tool that starts at 0 gets 0 analysed
    // when it is the first seq stored.
    dev->state.next_seq = 1;
    auto first = chunks_->NextChunksFrom(device, 0, 1);
    if (!first.ok()) return first.status();
    if (!first->empty() && first->front().seq == 0) dev->state.next_seq = 0;
  }
  dev->last_active_ms = clock_->WallMillis();
  dev->lease_until_ms = dev->last_active_ms + options_.lease_ttl.count();  // claimed just before
  raw = dev.get();
  // The cap holds within a pass too: a backlog over many devices (a burst, a restart) kept
  // every one's analyser until the pass ended (measured: 1,000 devices, +300 MiB).
  EvictOldest(options_.max_resident_devices > 0 ? options_.max_resident_devices - 1 : 0);
  resident_.emplace(device, std::move(dev));
  {
    std::lock_guard lock(mu_);
    resident_count_ = resident_.size();
    resident_peak_ = std::max(resident_peak_, resident_count_);
  }
  return raw;
}

void SessionAnalysis::Rest(const std::string& device, const Status& why, Status& first_error,
                           std::int64_t now_ms) {
  if (first_error.ok()) first_error = why.WithContext("device " + device);
  Drop(device);  // back to its committed state
  waiting_.insert(device);
  failed_until_ms_[device] = now_ms + kRetryFailedDeviceMs;
}

Result<bool> SessionAnalysis::Advance(const std::string& device) {
  waiting_.erase(device);
  auto more = AdvanceTurn(device);
  auto it = resident_.find(device);
  if (it == resident_.end()) return more;
  if (more.ok()) {
    // The turn's chunks are committed with other devices' (FlushGroup), within this pass.
    if (!it->second->pending.empty() &&
        std::find(unflushed_.begin(), unflushed_.end(), device) == unflushed_.end()) {
      unflushed_.push_back(device);
    }
    return more;
  }
  it->second->pending.clear();  // resumed from the store below or next pass
  if (more.status().code() == StatusCode::kConflict) {
    MovedOnElsewhere(device);
    return false;
  }
  return more;
}

void SessionAnalysis::FlushGroup(Status& first_error, std::int64_t now_ms) {
  std::vector<Device*> group;
  std::vector<SessionStore::DeviceChunks> commits;
  for (const std::string& id : unflushed_) {
    auto it = resident_.find(id);
    if (it == resident_.end()) {  // dropped meanwhile: again from its committed state
      waiting_.insert(id);
      continue;
    }
    if (it->second->pending.empty()) continue;
    Device& d = *it->second;
    PrepareCommit(d);
    group.push_back(&d);
    commits.push_back({d.id, d.pending});
  }
  unflushed_.clear();
  if (group.empty()) return;
  std::vector<Status> answers;
  try {
    answers = store_->CommitDevices(commits);
  } catch (const std::exception& e) {  // every device of the group fails, as in AdvanceCaught
    answers.assign(group.size(), Status::Internal(std::string("analysis threw: ") + e.what()));
  }
  answers.resize(group.size(), Status::Internal("the session store gave no answer"));
  for (std::size_t i = 0; i < group.size(); ++i) {
    Device& d = *group[i];
    Committed(d, answers[i]);
    if (answers[i].ok()) continue;
    const std::string id = d.id;  // d goes with Drop
    if (answers[i].code() == StatusCode::kConflict) {
      MovedOnElsewhere(id);
    } else {
      Rest(id, answers[i], first_error, now_ms);
    }
  }
}

Result<bool> SessionAnalysis::AdvanceTurn(const std::string& device) {
  auto claimed = Claim(device);
  if (!claimed.ok()) return claimed.status();
  if (!*claimed) {
    waiting_.insert(device);  // retried each pass: the other may die or let go
    return false;
  }
  auto first = Resident(device);
  if (!first.ok()) return first.status();
  // One read for the turn: the chunks on record from the next seq on.
  auto rows = chunks_->NextChunksFrom(device, (*first)->state.next_seq, options_.chunks_per_turn);
  if (!rows.ok()) return rows.status();
  for (const ChunkRow& row : *rows) {
    claimed = Claim(device);  // renewed as it runs low: a turn may outlast the lease
    if (!claimed.ok()) return claimed.status();
    if (!*claimed) {
      waiting_.insert(device);
      return false;
    }
    auto dev = Resident(device);  // reloaded when the claim dropped a stale analyser
    if (!dev.ok()) return dev.status();
    Device& d = **dev;
    if (row.seq < d.state.next_seq) continue;  // the reloaded state is past it
    bool gap = row.gap_before_ms > 0;
    if (row.seq > d.state.next_seq) {
      const std::int64_t waited = clock_->WallMillis() - row.received_at_ms;
      if (waited < options_.gap_wait.count()) {
        waiting_.insert(device);
        return false;
      }
      const std::uint64_t skipped = row.seq - d.state.next_seq;
      PICKET_LOG(kWarn, "collector", "chunks missing; analysis skips them", {"device", device},
                 {"from_seq", d.state.next_seq}, {"count", skipped}, {"next_seq", row.seq});
      d.state.skipped_seqs += skipped;
      gap = true;
    }
    // Conflict (another collector committed this device meanwhile) goes up to
    // Advance, whose flush of what is left then finds nothing.
    PICKET_RETURN_IF_ERROR(AnalyseChunk(d, row, gap));
  }
  return rows->size() >= options_.chunks_per_turn;  // a full turn: there may be more
}

Status SessionAnalysis::AnalyseChunk(Device& d, const ChunkRow& row, bool gap) {
  d.closed.clear();
  (void)d.analyzer->TakePacketRefs();  // nothing should be pending; be sure
  if (gap) d.analyzer->CloseAll(analysis::EndReason::kGap);
  bool damaged = false;
  // Read from the file, never whole into memory: a chunk may be 64 MiB.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(row.path.c_str(), "rbe"),
                                                        &std::fclose);
  if (!file) {
    damaged = true;
    PICKET_LOG(kWarn, "collector", "chunk unreadable; no sessions from it", {"device", d.id},
               {"seq", row.seq}, {"status", FromErrno("open " + row.path, errno)});
  } else {
    Status st = analysis::ReadCapture(
        file.get(), row.seq, [&d](const analysis::RawPacket& p) { d.analyzer->Feed(p); });
    if (!st.ok()) {
      damaged = true;
      PICKET_LOG(kWarn, "collector", "damaged chunk: analysed up to the damage", {"device", d.id},
                 {"seq", row.seq}, {"path", row.path}, {"status", st});
    }
  }
  AnalysedChunk chunk;
  chunk.seq = row.seq;
  chunk.closed = std::move(d.closed);
  d.closed.clear();
  for (analysis::Session& s : chunk.closed) s.device = d.id;
  chunk.refs = d.analyzer->TakePacketRefs();
  chunk.state = d.state;
  chunk.state.next_seq = row.seq + 1;
  chunk.state.chunks_analysed += 1;
  chunk.state.damaged_chunks += damaged ? 1 : 0;
  chunk.state.sessions += chunk.closed.size();
  d.state = chunk.state;
  d.pending.push_back(std::move(chunk));
  d.last_active_ms = clock_->WallMillis();
  return d.pending.size() >= kChunksPerCommit ? Flush(d) : Status::Ok();
}

void SessionAnalysis::PrepareCommit(Device& d) {
  d.pending.front().previous_next_seq = d.committed_next_seq;
  d.pending.back().state.blob = d.analyzer->SaveState();  // the state after the last one
}

void SessionAnalysis::Committed(Device& d, const Status& st) {
  if (st.ok()) d.committed_next_seq = d.pending.back().state.next_seq;
  d.pending.clear();  // failed: the caller drops the analyser, which resumes from the store
}

void SessionAnalysis::MovedOnElsewhere(const std::string& device) {
  PICKET_LOG(kInfo, "collector", "device analysed elsewhere meanwhile; resuming from its state",
             {"device", device});
  Drop(device);
  waiting_.insert(device);
}

Status SessionAnalysis::Flush(Device& d) {
  if (d.pending.empty()) return Status::Ok();
  PrepareCommit(d);
  Status st = store_->CommitChunks(d.id, d.pending);
  Committed(d, st);
  return st;
}

Status SessionAnalysis::RunRetention() {
  if (options_.retention.count() <= 0) return Status::Ok();
  const std::int64_t now = clock_->WallMillis();
  if (now < next_retention_ms_) return Status::Ok();
  next_retention_ms_ = now + kRetentionEveryMs;
  const std::int64_t before_us = (now - options_.retention.count()) * 1000;
  std::uint64_t deleted = 0;
  for (int i = 0; i < kRetentionBatchesPerTick; ++i) {
    auto n = store_->DeleteOlderThan(before_us, kRetentionBatch);
    if (!n.ok()) return n.status().WithContext("session retention");
    deleted += *n;
    if (*n < kRetentionBatch) break;
    next_retention_ms_ = now;  // more to delete: again on the next pass
  }
  if (deleted > 0) {
    PICKET_LOG(kInfo, "collector", "session retention", {"deleted", deleted});
  }
  return Status::Ok();
}

void SessionAnalysis::EvictIdle() {
  const std::int64_t now = clock_->WallMillis();
  for (auto it = resident_.begin(); it != resident_.end();) {
    if (now - it->second->last_active_ms >= options_.idle_evict.count() &&
        !waiting_.count(it->first)) {
      it = resident_.erase(it);
    } else {
      ++it;
    }
  }
  EvictOldest(options_.max_resident_devices);
  std::lock_guard lock(mu_);
  resident_count_ = resident_.size();
}

void SessionAnalysis::EvictOldest(std::size_t keep) {
  while (resident_.size() > keep) {
    // The least recently active whose chunks are all committed (its state is saved with its
    // last one): devices of one pass share a millisecond, and one waiting in FlushGroup's
    // group would lose its analysed chunks.
    auto oldest = resident_.end();
    for (auto it = resident_.begin(); it != resident_.end(); ++it) {
      if (!it->second->pending.empty()) continue;
      if (oldest == resident_.end() ||
          it->second->last_active_ms < oldest->second->last_active_ms) {
        oldest = it;
      }
    }
    if (oldest == resident_.end()) {  // all have chunks to commit: one goes, analysed again
      oldest = std::min_element(resident_.begin(), resident_.end(), [](auto& a, auto& b) {
        return a.second->last_active_ms < b.second->last_active_ms;
      });
      waiting_.insert(oldest->first);
    }
    resident_.erase(oldest);
  }
}

Result<std::optional<DeviceAnalysisCounters>> SessionAnalysis::Counters(const std::string& device) {
  auto saved = store_->LoadState(device);
  if (!saved.ok()) return saved.status();
  if (!*saved) return std::optional<DeviceAnalysisCounters>();
  DeviceAnalysisCounters c;
  c.next_seq = (*saved)->next_seq;
  c.chunks_analysed = (*saved)->chunks_analysed;
  c.damaged_chunks = (*saved)->damaged_chunks;
  c.skipped_seqs = (*saved)->skipped_seqs;
  c.sessions = (*saved)->sessions;
  return std::optional<DeviceAnalysisCounters>(c);
}

}  // namespace picket::collector
