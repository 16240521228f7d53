#include "picket/upload/upload_scheduler.h"

#include <uv.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "picket/common/backoff.h"
#include "picket/common/log.h"

namespace picket::upload {

namespace {

std::atomic<std::uint64_t> g_generation{1};

constexpr const char* kHeartbeatKey = "h";  // in_flight_ key: at most one heartbeat

// Each pool thread keeps one uploader (one CURL handle, one keep-alive
// connection) until the settings generation changes.
struct ThreadUploader {
  std::uint64_t generation = 0;
  std::unique_ptr<upload::ChunkUploader> uploader;
};
thread_local ThreadUploader t_uploader;

}  // namespace

class UploadScheduler::Impl {
 public:
  Impl(uv_loop_t* loop, buffer::BufferStore* store, UploadSchedulerOptions options);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status Start();
  // Stops scheduling; `done` runs on the loop once in-flight attempts finished.
  void Stop(std::function<void()> done);
  // Poll now (e.g. the worker reported a new chunk).
  void Kick();
  void SetHeartbeat(std::string body);

  const UploadStats& stats() const { return stats_; }
  std::size_t in_flight() const { return in_flight_.size(); }

 private:
  struct Job;
  static void OnTimer(uv_timer_t* timer);
  static void DoWork(uv_work_t* req);
  static void AfterWork(uv_work_t* req, int status);

  void Poll();
  void Dispatch(std::unique_ptr<Job> job);
  void Finish(Job& job);
  void FinishHeartbeat(const Job& job);
  void MaybeFinishStop();
  std::int64_t NowMs() const;
  bool Held(const std::string& key, std::int64_t now) const;
  void RecordLaterOutcomes(std::int64_t now);
  Status RecordOutcome(bool is_chunk, std::int64_t id, upload::Outcome outcome,
                       const std::string& error);

  uv_loop_t* loop_;
  buffer::BufferStore* store_;
  UploadSchedulerOptions options_;
  uv_timer_t* timer_ = nullptr;  // freed in its close callback
  std::set<std::string> in_flight_;  // "c<seq>" / "b<id>" / kHeartbeatKey
  std::optional<std::string> pending_heartbeat_;
  bool heartbeat_failing_ = false;  // log the change of state, not every tick
  std::size_t collector_index_ = 0;
  bool collector_down_ = false;
  bool stopping_ = false;
  std::function<void()> on_stopped_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::uint64_t generation_;
  std::shared_ptr<const UploadSchedulerOptions> shared_options_;
  UploadStats stats_;
  // Due times are on this clock: steady_clock anchored at the wall clock of
  // construction, so a wall-clock step never delays (or hurries) a retry. The
  // buffer's next_attempt_ms of an earlier process means nothing here: Start
  // makes every item due.
  const std::int64_t clock_anchor_ms_;

  // Items whose outcome the buffer could not record (disk full, database
  // locked): kept in memory so nothing is sent again in a loop.
  struct HeldRetry {
    std::int64_t due_ms = 0;
    int attempts = 0;
  };
  std::map<std::string, HeldRetry> held_retries_;  // key -> when it may go again
  struct LaterOutcome {
    bool is_chunk = true;
    std::int64_t id = 0;
    upload::Outcome outcome = upload::Outcome::kDone;
    std::string error;
  };
  std::map<std::string, LaterOutcome> later_outcomes_;  // delivered/refused, not yet recorded
  std::int64_t next_record_ms_ = 0;  // the next try at recording later_outcomes_
  int record_failures_ = 0;
};

namespace {
// Bounds the rows read per poll. The held maps need no bound of their own: one
// entry per pending item at most, and the buffer bounds those.
constexpr std::size_t kMaxRowsPerPoll = 10000;
// A held retry whose item did not come back this long after its due time is
// gone from the buffer (evicted, or recorded by now): forget it.
constexpr std::int64_t kForgetHeldMs = 600'000;
}  // namespace

struct UploadScheduler::Impl::Job {
  uv_work_t req{};
  Impl* self = nullptr;
  std::string key;
  bool is_chunk = true;
  bool is_heartbeat = false;
  std::string status_body;  // heartbeat only
  buffer::PendingChunk chunk;
  buffer::Batch batch;
  std::string collector;
  std::size_t collector_index = 0;
  upload::DeviceCounters counters;
  std::shared_ptr<const UploadSchedulerOptions> options;
  std::uint64_t generation = 0;
  upload::UploadResult result;
};

UploadScheduler::Impl::Impl(uv_loop_t* loop, buffer::BufferStore* store,
                                 UploadSchedulerOptions options)
    : loop_(loop),
      store_(store),
      options_(std::move(options)),
      generation_(g_generation++),
      shared_options_(std::make_shared<const UploadSchedulerOptions>(options_)),
      clock_anchor_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch() -
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count()) {}

UploadScheduler::Impl::~Impl() {
  if (timer_) {
    timer_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
}

std::int64_t UploadScheduler::Impl::NowMs() const {
  return clock_anchor_ms_ + std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count();
}

bool UploadScheduler::Impl::Held(const std::string& key, std::int64_t now) const {
  if (later_outcomes_.count(key)) return true;  // delivered or refused: never sent again
  auto it = held_retries_.find(key);
  return it != held_retries_.end() && it->second.due_ms > now;
}

Status UploadScheduler::Impl::RecordOutcome(bool is_chunk, std::int64_t id,
                                            upload::Outcome outcome, const std::string& error) {
  if (outcome == upload::Outcome::kDone) {
    return is_chunk ? store_->MarkChunkUploaded(id) : store_->MarkBatchUploaded(id);
  }
  return is_chunk ? store_->MarkChunkDead(id, error) : store_->MarkBatchDead(id, error);
}

// Tries again to write outcomes the buffer refused, with backoff between rounds.
void UploadScheduler::Impl::RecordLaterOutcomes(std::int64_t now) {
  if (later_outcomes_.empty() || now < next_record_ms_) return;
  for (auto it = later_outcomes_.begin(); it != later_outcomes_.end();) {
    const LaterOutcome& o = it->second;
    Status st = RecordOutcome(o.is_chunk, o.id, o.outcome, o.error);
    if (!st.ok() && st.code() != StatusCode::kNotFound) {  // NotFound: gone meanwhile (evicted)
      ++record_failures_;
      next_record_ms_ = now + JitteredDelay(options_.retry_base, options_.retry_max,
                                            record_failures_, rng_).count();
      PICKET_LOG(kDebug, "upload", "upload outcome still not recorded", {"error", st},
                 {"waiting", later_outcomes_.size()});
      return;
    }
    it = later_outcomes_.erase(it);
  }
  record_failures_ = 0;
  PICKET_LOG(kInfo, "upload", "upload outcomes recorded again");
}

Status UploadScheduler::Impl::Start() {
  if (options_.collectors.empty()) return Status::InvalidArgument("no collector URL configured");
  upload::InitHttpGlobals();
  // Due times of an earlier process were on its own clock (and a reboot restarts the monotonic one).
  if (Status due = store_->RetryAllNow(); !due.ok()) {
    PICKET_LOG(kWarn, "upload", "cannot reset due times at start", {"error", due});
  }
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  auto every = static_cast<std::uint64_t>(options_.poll_interval.count());
  int rc = uv_timer_start(timer_, &OnTimer, 0, every);
  if (rc != 0) return Status::Internal(std::string("uv_timer_start: ") + uv_strerror(rc));
  return Status::Ok();
}

void UploadScheduler::Impl::OnTimer(uv_timer_t* timer) {
  if (auto* self = static_cast<Impl*>(timer->data)) self->Poll();
}

void UploadScheduler::Impl::Kick() {
  if (!stopping_) Poll();
}

void UploadScheduler::Impl::SetHeartbeat(std::string body) {
  if (stopping_ || options_.collectors.empty()) return;
  if (pending_heartbeat_) ++stats_.heartbeats_replaced;
  pending_heartbeat_ = std::move(body);
  Poll();
}

void UploadScheduler::Impl::Stop(std::function<void()> done) {
  stopping_ = true;
  pending_heartbeat_.reset();
  on_stopped_ = std::move(done);
  if (timer_) uv_timer_stop(timer_);
  MaybeFinishStop();
}

void UploadScheduler::Impl::MaybeFinishStop() {
  if (stopping_ && in_flight_.empty() && on_stopped_) {
    auto done = std::move(on_stopped_);
    on_stopped_ = nullptr;
    done();
  }
}

void UploadScheduler::Impl::Poll() {
  const int free_slots = options_.max_in_flight - static_cast<int>(in_flight_.size());
  if (!timer_ || stopping_ || free_slots <= 0) return;  // not started, or stopping
  int dispatched = 0;
  // The heartbeat first: a few hundred bytes that say the device is alive
  // must not wait behind megabytes of pcap.
  if (pending_heartbeat_ && !in_flight_.count(kHeartbeatKey)) {
    auto job = std::make_unique<Job>();
    job->key = kHeartbeatKey;
    job->is_chunk = false;
    job->is_heartbeat = true;
    job->status_body = std::move(*pending_heartbeat_);
    pending_heartbeat_.reset();
    Dispatch(std::move(job));
    if (++dispatched >= free_slots) return;
  }
  const std::int64_t now = NowMs();
  RecordLaterOutcomes(now);
  std::erase_if(held_retries_, [&](const auto& h) { return h.second.due_ms + kForgetHeldMs < now; });
  // Held items may come first in the buffer's order: read past them (bounded).
  const int want = static_cast<int>(std::min(
      kMaxRowsPerPoll, static_cast<std::size_t>(free_slots) + in_flight_.size() +
                           held_retries_.size() + later_outcomes_.size()));
  auto counters = store_->Counters();
  upload::DeviceCounters device;
  if (counters.ok()) {
    device.evicted_chunks = counters->chunks_evicted;
    device.evicted_bytes = counters->bytes_evicted;
  }
  // Batches first: results and logs are small and must never wait behind pcap.
  auto batches = store_->DueBatches(now, want);
  if (!batches.ok()) {
    PICKET_LOG(kError, "upload", "cannot read due batches", {"error", batches.status()});
    return;
  }
  for (auto& b : *batches) {
    if (dispatched >= free_slots) break;
    std::string key = "b" + std::to_string(b.id);
    if (in_flight_.count(key) || Held(key, now)) continue;
    if (auto h = held_retries_.find(key); h != held_retries_.end()) {
      b.attempts = std::max(b.attempts, h->second.attempts);
    }
    auto job = std::make_unique<Job>();
    job->key = key;
    job->is_chunk = false;
    job->batch = std::move(b);
    job->counters = device;
    Dispatch(std::move(job));
    ++dispatched;
  }
  if (dispatched >= free_slots) return;
  auto chunks = store_->DueChunks(now, want);
  if (!chunks.ok()) {
    PICKET_LOG(kError, "upload", "cannot read due chunks", {"error", chunks.status()});
    return;
  }
  for (auto& c : *chunks) {
    if (dispatched >= free_slots) break;
    std::string key = "c" + std::to_string(c.meta.seq);
    if (in_flight_.count(key) || Held(key, now)) continue;
    if (auto h = held_retries_.find(key); h != held_retries_.end()) {
      c.attempts = std::max(c.attempts, h->second.attempts);
    }
    auto job = std::make_unique<Job>();
    job->key = key;
    job->chunk = std::move(c);
    job->counters = device;
    Dispatch(std::move(job));
    ++dispatched;
  }
}

void UploadScheduler::Impl::Dispatch(std::unique_ptr<Job> job) {
  job->self = this;
  job->collector_index = collector_index_ % options_.collectors.size();
  job->collector = options_.collectors[job->collector_index];
  job->options = shared_options_;
  job->generation = generation_;
  job->req.data = job.get();
  in_flight_.insert(job->key);
  int rc = uv_queue_work(loop_, &job->req, &DoWork, &AfterWork);
  if (rc != 0) {
    in_flight_.erase(job->key);
    PICKET_LOG(kError, "upload", "uv_queue_work failed", {"error", uv_strerror(rc)});
    return;
  }
  (void)job.release();  // owned by the request until AfterWork
}

void UploadScheduler::Impl::DoWork(uv_work_t* req) {
  auto* job = static_cast<Job*>(req->data);
  if (t_uploader.generation != job->generation || !t_uploader.uploader) {
    t_uploader.uploader = job->options->make_uploader(job->options->settings);
    t_uploader.generation = job->generation;
  }
  upload::ChunkUploader& up = *t_uploader.uploader;
  if (job->is_heartbeat) {
    job->result = up.PostStatus(job->collector, job->status_body);
  } else if (job->is_chunk) {
    job->result = up.PutChunk(job->collector, job->chunk.meta, job->counters);
  } else {
    job->result = up.PostBatch(job->collector, job->batch, job->counters);
  }
}

void UploadScheduler::Impl::AfterWork(uv_work_t* req, int) {
  std::unique_ptr<Job> job(static_cast<Job*>(req->data));
  job->self->Finish(*job);
}

// Never retried and never a reason to fail over: the collector may not have
// the status route yet (501), and chunks judge the collector's health.
void UploadScheduler::Impl::FinishHeartbeat(const Job& job) {
  const upload::UploadResult& r = job.result;
  if (r.outcome == upload::Outcome::kDone) {
    ++stats_.heartbeats_ok;
    if (heartbeat_failing_) {
      heartbeat_failing_ = false;
      PICKET_LOG(kInfo, "upload", "heartbeats accepted again", {"url", job.collector});
    }
  } else {
    ++stats_.heartbeats_failed;
    if (!heartbeat_failing_) {
      heartbeat_failing_ = true;
      PICKET_LOG(kWarn, "upload", "heartbeat not accepted; dropped, the next one follows",
                 {"url", job.collector}, {"status", r.http_status}, {"error", r.error});
    } else {
      PICKET_LOG(kDebug, "upload", "heartbeat not accepted", {"status", r.http_status},
                 {"error", r.error});
    }
  }
  if (stopping_) {
    MaybeFinishStop();
  } else {
    Poll();  // a newer heartbeat may be waiting for this slot
  }
}

void UploadScheduler::Impl::Finish(Job& job) {
  in_flight_.erase(job.key);
  if (job.is_heartbeat) return FinishHeartbeat(job);
  const upload::UploadResult& r = job.result;
  const std::int64_t id = job.is_chunk ? job.chunk.meta.seq : job.batch.id;
  const char* what = job.is_chunk ? "chunk" : "batch";
  Status st;
  std::int64_t retry_at = 0;
  int attempts_now = 0;
  switch (r.outcome) {
    case upload::Outcome::kDone:
      st = RecordOutcome(job.is_chunk, id, r.outcome, r.error);
      (job.is_chunk ? stats_.chunks_ok : stats_.batches_ok)++;
      stats_.bytes_sent += r.bytes_sent;
      if (collector_down_) {
        collector_down_ = false;
        PICKET_LOG(kInfo, "upload", "collector reachable again", {"url", job.collector});
        if (Status due = store_->RetryAllNow(); !due.ok()) {
          PICKET_LOG(kError, "upload", "cannot reschedule pending items", {"error", due});
        }
        for (auto& [key, held] : held_retries_) held.due_ms = 0;
      }
      PICKET_LOG(kDebug, "upload", "uploaded", {"what", what}, {"id", id},
                 {"bytes", r.bytes_sent}, {"status", r.http_status});
      break;
    case upload::Outcome::kRetry: {
      ++stats_.failures;
      const int attempts = job.is_chunk ? job.chunk.attempts : job.batch.attempts;
      auto delay = std::max(JitteredDelay(options_.retry_base, options_.retry_max, attempts, rng_),
                            r.retry_after);
      // Fail over: the next attempts go to the next collector in the list.
      if (job.collector_index == collector_index_ % options_.collectors.size()) {
        collector_index_ = (collector_index_ + 1) % options_.collectors.size();
      }
      if (!collector_down_) {
        collector_down_ = true;
        if (r.http_status == 401 || r.http_status == 403) {
          PICKET_LOG(kError, "upload",
                     "collector refused this device's token (check upload.token_file and the "
                     "collector's tokens); items stay buffered, retrying with backoff",
                     {"url", job.collector}, {"status", r.http_status}, {"what", what},
                     {"id", id}, {"error", r.error}, {"retry_in_ms", delay.count()});
        } else {
          PICKET_LOG(kWarn, "upload", "upload failed, retrying with backoff",
                     {"url", job.collector}, {"what", what}, {"id", id}, {"error", r.error},
                     {"retry_in_ms", delay.count()});
        }
      }
      const std::int64_t next = NowMs() + delay.count();
      retry_at = next;
      attempts_now = attempts + 1;
      st = job.is_chunk ? store_->MarkChunkRetry(id, next, r.error)
                        : store_->MarkBatchRetry(id, next, r.error);
      break;
    }
    case upload::Outcome::kDead:
      ++stats_.dead;
      if (r.http_status == 0) {
        // Nothing reached the collector: the item itself is unusable here
        // (its chunk file is gone or unreadable); say so, do not blame the collector.
        PICKET_LOG(kError, "upload", "cannot read item to upload, kept aside", {"what", what},
                   {"id", id}, {"error", r.error});
      } else {
        PICKET_LOG(kError, "upload", "collector refused item, kept aside", {"what", what},
                   {"id", id}, {"url", job.collector}, {"status", r.http_status},
                   {"error", r.error});
      }
      st = RecordOutcome(job.is_chunk, id, r.outcome, r.error);
      break;
  }
  held_retries_.erase(job.key);
  if (!st.ok() && st.code() != StatusCode::kNotFound) {
    // The buffer cannot take the outcome (disk full, database locked): remember
    // it here, so the item is not sent again in a loop.
    if (r.outcome == upload::Outcome::kRetry) {
      held_retries_[job.key] = {retry_at, attempts_now};
    } else {
      later_outcomes_[job.key] = {job.is_chunk, id, r.outcome, r.error};
      if (next_record_ms_ == 0 || record_failures_ == 0) {
        next_record_ms_ = NowMs() + options_.retry_base.count();
      }
    }
    PICKET_LOG(kError, "upload", "cannot record upload outcome; held in memory, not re-sent",
               {"what", what}, {"id", id}, {"error", st}, {"held", held_retries_.size()},
               {"outcomes_waiting", later_outcomes_.size()});
  }
  if (stopping_) {
    MaybeFinishStop();
  } else if (r.outcome == upload::Outcome::kDone) {
    Poll();  // keep the pipeline full instead of waiting for the next tick
  }
}

UploadScheduler::UploadScheduler(void* uv_loop, buffer::BufferStore* store,
                                 UploadSchedulerOptions options)
    : impl_(std::make_unique<Impl>(static_cast<uv_loop_t*>(uv_loop), store, std::move(options))) {}
UploadScheduler::~UploadScheduler() = default;
Status UploadScheduler::Start() { return impl_->Start(); }
void UploadScheduler::Stop(std::function<void()> done) { impl_->Stop(std::move(done)); }
void UploadScheduler::Kick() { impl_->Kick(); }
void UploadScheduler::SetHeartbeat(std::string body) { impl_->SetHeartbeat(std::move(body)); }
const UploadStats& UploadScheduler::stats() const { return impl_->stats(); }
std::size_t UploadScheduler::in_flight() const { return impl_->in_flight(); }

}  // namespace picket::upload
