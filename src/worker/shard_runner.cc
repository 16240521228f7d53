#include "worker/shard_runner.h"

#include <algorithm>
#include <optional>
#include <system_error>

#include "picket/common/log.h"

namespace picket::worker {

// RequestStopAll runs in signal handlers: everything it touches must be lock-free.
static_assert(std::atomic<scan::Scanner*>::is_always_lock_free);
static_assert(std::atomic<bool>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);

ShardRunner::ShardRunner(std::uint64_t max_probes, std::unique_ptr<buffer::BufferStore> store,
                         std::function<void(const ShardEvent&)> on_event, ScanJobOptions options)
    : max_probes_(max_probes),
      on_event_(std::move(on_event)),
      options_(std::move(options)),
      store_(std::move(store)) {}

ShardRunner::~ShardRunner() {
  RequestStopAll();
  JoinAll();
}

void ShardRunner::Stop(StopCell& cell) noexcept {
  cell.stop.store(true);
  // The shard thread waits for stoppers to leave before it destroys its scanner.
  cell.stoppers.fetch_add(1);
  if (scan::Scanner* s = cell.scanner.load()) s->RequestStop();
  cell.stoppers.fetch_sub(1);
}

void ShardRunner::RequestStopAll() noexcept {
  stop_all_.store(true);
  for (StopCell* c = cells_head_.load(); c != nullptr; c = c->next) Stop(*c);
}

ShardRunner::StopCell* ShardRunner::TakeCell() {
  for (auto& c : cells_) {
    if (!c->in_use) {
      c->in_use = true;
      c->stop.store(false);
      return c.get();
    }
  }
  auto cell = std::make_unique<StopCell>();
  cell->in_use = true;
  cell->next = cells_head_.load();
  cells_head_.store(cell.get());  // published complete: `next` is set before
  cells_.push_back(std::move(cell));
  return cells_.back().get();
}

ShardRunner::ShardList ShardRunner::TakeEnded() {
  ShardList ended;
  for (auto it = shards_.begin(); it != shards_.end();) {
    if ((*it)->ended.load()) {
      ended.push_back(std::move(*it));
      it = shards_.erase(it);
    } else {
      ++it;
    }
  }
  return ended;
}

void ShardRunner::JoinAndRecycle(ShardList shards) {
  for (auto& s : shards) {
    if (s->thread.joinable()) s->thread.join();
  }
  std::lock_guard lock(mu_);
  for (auto& s : shards) s->cell->in_use = false;
}

void ShardRunner::Assign(ShardAssignment assignment) {
  ShardList ended;
  std::optional<ShardEvent> not_started;
  {
    std::lock_guard lock(mu_);
    ended = TakeEnded();  // joined below, so finished threads never pile up
    const bool running = std::any_of(shards_.begin(), shards_.end(), [&](const auto& s) {
      return s->assignment.job.id == assignment.job.id && s->assignment.shard == assignment.shard;
    });
    if (running || stop_all_.load()) {
      PICKET_LOG(kDebug, "worker", running ? "shard already running" : "stopping; shard refused",
                 {"job", assignment.job.id}, {"shard", assignment.shard});
    } else {
      auto shard = std::make_unique<Shard>();
      shard->assignment = std::move(assignment);
      shard->cell = TakeCell();
      Shard* raw = shard.get();
      try {
        shard->thread = std::thread([this, raw] { RunShard(*raw); });
        shards_.push_back(std::move(shard));
      } catch (const std::system_error& e) {
        // No thread (resource limits): report it like any other failed shard.
        shard->cell->in_use = false;
        not_started.emplace();
        not_started->kind = ShardEvent::kFailed;
        not_started->job = shard->assignment.job.id;
        not_started->shard = shard->assignment.shard;
        not_started->checkpoint = shard->assignment.start_index;
        not_started->error = std::string("cannot start shard thread: ") + e.what();
      }
    }
  }
  if (not_started) on_event_(*not_started);
  JoinAndRecycle(std::move(ended));
}

void ShardRunner::Release(const std::string& job, std::uint32_t shard) {
  ShardList taken;
  {
    std::lock_guard lock(mu_);
    for (auto it = shards_.begin(); it != shards_.end();) {
      if ((*it)->assignment.job.id == job && (*it)->assignment.shard == shard) {
        Stop(*(*it)->cell);
        taken.push_back(std::move(*it));
        it = shards_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& s : TakeEnded()) taken.push_back(std::move(s));
  }
  JoinAndRecycle(std::move(taken));
}

void ShardRunner::ReleaseAll() {
  ShardList taken;
  {
    std::lock_guard lock(mu_);
    for (auto& s : shards_) Stop(*s->cell);
    taken.swap(shards_);
  }
  JoinAndRecycle(std::move(taken));
}

void ShardRunner::JoinAll() {
  ShardList taken;
  {
    std::lock_guard lock(mu_);
    taken.swap(shards_);
  }
  JoinAndRecycle(std::move(taken));
}

std::vector<std::pair<std::string, std::uint32_t>> ShardRunner::Running() const {
  std::vector<std::pair<std::string, std::uint32_t>> out;
  std::lock_guard lock(mu_);
  for (const auto& s : shards_) {
    if (!s->ended.load()) out.emplace_back(s->assignment.job.id, s->assignment.shard);
  }
  return out;
}

Status ShardRunner::Flush(std::vector<std::string>& lines, std::uint64_t* results) {
  const std::size_t per_batch = std::max<std::size_t>(1, options_.flush_lines);
  std::lock_guard lock(store_mu_);
  std::size_t start = 0;
  Status st;
  while (start < lines.size()) {
    const std::size_t n = std::min(lines.size() - start, per_batch);
    std::string body;
    for (std::size_t i = start; i < start + n; ++i) body += lines[i] + "\n";
    auto id = store_->AppendBatch(buffer::BatchKind::kResults, body, n);
    if (!id.ok()) {
      st = id.status();
      break;
    }
    start += n;
    *results += n;
  }
  // Lines that did not make it stay queued for the next attempt.
  lines.erase(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(start));
  return st;
}

void ShardRunner::RunShard(Shard& shard) {
  const ShardAssignment& a = shard.assignment;
  StopCell& cell = *shard.cell;
  std::vector<std::string> lines;  // results not yet in the buffer
  std::uint64_t results = 0;       // results in the buffer
  std::uint64_t checkpoint = a.start_index;
  scan::ScanProgress last;
  auto emit = [&](ShardEvent::Kind kind, std::string error = {}) {
    ShardEvent e{kind,      a.job.id,   a.shard, checkpoint,
                 last.done, last.total, results, std::move(error)};
    // Final events mark the shard ended first: once the supervisor hears of the
    // end, Running() no longer lists it and it may be assigned again.
    if (kind != ShardEvent::kProgress) shard.ended.store(true);
    on_event_(e);
  };

  if (a.shard >= a.job.shards) {
    return emit(ShardEvent::kFailed, "shard " + std::to_string(a.shard) + " is not in 0.." +
                                         std::to_string(a.job.shards - 1));
  }
  auto spec = scan::SpecFromConfig(ToScanJobConfig(a.job), a.job.seed);
  if (!spec.ok()) return emit(ShardEvent::kFailed, spec.status().ToString());
  spec->shard_index = a.shard;
  spec->shard_count = a.job.shards;
  spec->start_index = a.start_index;
  spec->max_probes = max_probes_;
  spec->device_budget = options_.device_budget;
  auto made = options_.make_scanner(*spec);
  if (!made.ok()) return emit(ShardEvent::kFailed, made.status().ToString());
  std::unique_ptr<scan::Scanner> scanner = std::move(*made);

  PICKET_LOG(kInfo, "worker", a.start_index ? "resuming shard" : "starting shard", {"job", a.job.id},
             {"shard", a.shard}, {"of", a.job.shards}, {"from_index", a.start_index});
  cell.scanner.store(scanner.get());
  if (cell.stop.load() || stop_all_.load()) scanner->RequestStop();  // raced with the start
  Status buffer_error;
  const Status st = scanner->Run(
      [&](const scan::ScanResult& r) {
        if (r.job_id == a.job.id && r.shard == a.shard) {
          lines.push_back(r.ToJson());
        } else {  // the collector groups results by job and shard; never send them unlabelled
          scan::ScanResult labelled = r;
          labelled.job_id = a.job.id;
          labelled.shard = a.shard;
          lines.push_back(labelled.ToJson());
        }
      },
      [&](const scan::ScanProgress& p) {
        if (!buffer_error.ok()) return;
        // Results first, then the checkpoint that covers them.
        buffer_error = Flush(lines, &results);
        if (!buffer_error.ok()) return scanner->RequestStop();
        last = p;
        checkpoint = std::max(checkpoint, p.checkpoint);
        emit(ShardEvent::kProgress);
      });
  // Unpublish the scanner and wait out any Stop still holding the pointer.
  cell.scanner.store(nullptr);
  while (cell.stoppers.load() != 0) std::this_thread::yield();
  const scan::ScanSummary summary = scanner->Summary();
  scanner.reset();

  const Status flushed = Flush(lines, &results);
  if (buffer_error.ok()) buffer_error = flushed;
  if (!buffer_error.ok()) {
    PICKET_LOG(kError, "worker", "shard failed: results cannot be buffered", {"job", a.job.id},
               {"shard", a.shard}, {"error", buffer_error});
    return emit(ShardEvent::kFailed, "buffer: " + buffer_error.ToString());
  }
  if (st.ok()) {
    checkpoint = last.total;
    last.done = last.total;
    PICKET_LOG(kInfo, "worker", "shard finished", {"job", a.job.id}, {"shard", a.shard},
               {"results", results}, {"sent", summary.sent}, {"replies", summary.replies},
               {"send_errors", summary.send_errors}, {"pps", summary.pps});
    return emit(ShardEvent::kFinished);
  }
  if (st.code() == StatusCode::kCancelled) {
    PICKET_LOG(kInfo, "worker", "shard stopped", {"job", a.job.id}, {"shard", a.shard},
               {"checkpoint", checkpoint});
    return emit(ShardEvent::kStopped);
  }
  PICKET_LOG(kError, "worker", "shard failed", {"job", a.job.id}, {"shard", a.shard}, {"error", st});
  emit(ShardEvent::kFailed, st.ToString());
}

}  // namespace picket::worker
