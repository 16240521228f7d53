#include "worker/scan_job_runner.h"

#include <chrono>
#include <random>

#include <nlohmann/json.hpp>

#include "picket/common/clock.h"
#include "picket/common/log.h"

namespace picket::worker {

namespace {

std::string StateKey(const ScanJobConfig& job) { return "scan:" + job.id; }

std::string Fingerprint(const ScanJobConfig& job) {
  return job.targets + "|" + job.exclude + "|" + job.ports + "|" +
         (job.mode == ScanMode::kSyn ? "syn" : "connect");
}


}  // namespace

ScanJobRunner::ScanJobRunner(std::vector<ScanJobConfig> jobs, std::uint64_t max_probes,
                             std::unique_ptr<buffer::BufferStore> store, ScanJobOptions options)
    : jobs_(std::move(jobs)),
      max_probes_(max_probes),
      store_(std::move(store)),
      options_(std::move(options)) {}

ScanJobRunner::~ScanJobRunner() {
  RequestStop();
  Join();
}

void ScanJobRunner::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void ScanJobRunner::RequestStop() noexcept {
  stop_.store(true);
  if (scan::Scanner* s = current_.load()) s->RequestStop();
}

void ScanJobRunner::Join() {
  if (thread_.joinable()) thread_.join();
}

void ScanJobRunner::Loop() {
  while (!stop_.load()) {
    RunDueJobsOnce();
    // Interval jobs: look again in a second. Bounded by stop_; no busy loop.
    for (int i = 0; i < 10 && !stop_.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

void ScanJobRunner::RunDueJobsOnce() {
  for (const auto& job : jobs_) {
    if (stop_.load()) return;
    if (!Due(job, SealMarkNow())) continue;
    if (Status st = RunJob(job); !st.ok()) {
      PICKET_LOG(kError, "worker", "scan job failed", {"job", job.id}, {"error", st});
    }
  }
}

bool ScanJobRunner::Due(const ScanJobConfig& job, const SealMark& now) {
  JobState s = LoadState(job);
  if (s.finished_ms == 0) return true;          // never run, or interrupted: (re)start or resume
  if (job.interval.count() == 0) return false;  // a one-shot job that finished
  // Monotonic within a boot: a wall clock stepped back does not hold the next run off.
  const SealMark finished{s.finished_boot_id, s.finished_boot_ms, s.finished_ms};
  return ElapsedMs(finished, now) >= job.interval.count();
}

ScanJobRunner::JobState ScanJobRunner::LoadState(const ScanJobConfig& job) {
  JobState s;
  std::lock_guard lock(mu_);
  auto raw = store_->GetState(StateKey(job));
  if (!raw.ok() || !raw->has_value()) return s;
  auto j = nlohmann::json::parse(**raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return s;
  s.run = j.value("run", std::int64_t{0});
  s.seed = j.value("seed", std::uint64_t{0});
  s.checkpoint = j.value("checkpoint", std::uint64_t{0});
  s.finished_ms = j.value("finished_ms", std::int64_t{0});
  s.finished_boot_id = j.value("finished_boot_id", std::string());
  s.finished_boot_ms = j.value("finished_boot_ms", std::int64_t{0});
  s.fingerprint = j.value("fingerprint", std::string());
  if (s.fingerprint != Fingerprint(job)) return JobState{};  // the job changed: start over
  return s;
}

Status ScanJobRunner::SaveState(const ScanJobConfig& job, const JobState& s) {
  nlohmann::json j = {{"run", s.run},           {"seed", s.seed},
                      {"checkpoint", s.checkpoint}, {"finished_ms", s.finished_ms},
                      {"finished_boot_id", s.finished_boot_id},
                      {"finished_boot_ms", s.finished_boot_ms}, {"fingerprint", s.fingerprint}};
  std::lock_guard lock(mu_);
  return store_->PutState(StateKey(job), j.dump());
}

Status ScanJobRunner::FlushResults() {
  std::lock_guard lock(mu_);
  while (!pending_.empty()) {
    const std::size_t n = std::min(pending_.size(), options_.flush_lines);
    std::string body;
    for (std::size_t i = 0; i < n; ++i) body += pending_[i] + "\n";
    auto id = store_->AppendBatch(buffer::BatchKind::kResults, body, n);
    if (!id.ok()) return id.status();
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return Status::Ok();
}

Status ScanJobRunner::RunJob(const ScanJobConfig& job) {
  JobState state = LoadState(job);
  if (state.finished_ms != 0 || state.seed == 0) {
    // A new run: a fresh permutation, so repeated scans do not hit hosts in the same order.
    state = JobState{};
    state.run = LoadState(job).run + 1;
    std::random_device rd;
    state.seed = (std::uint64_t{rd()} << 32 | rd()) | 1;
    state.fingerprint = Fingerprint(job);
    PICKET_RETURN_IF_ERROR(SaveState(job, state));
  }
  auto spec = scan::SpecFromConfig(job, state.seed);
  if (!spec.ok()) return spec.status();
  spec->max_probes = max_probes_;
  spec->start_index = state.checkpoint;
  spec->device_budget = options_.device_budget;
  auto scanner = options_.make_scanner(*spec);
  if (!scanner.ok()) return scanner.status();
  PICKET_LOG(kInfo, "worker", state.checkpoint ? "resuming scan job" : "starting scan job",
             {"job", job.id}, {"run", state.run}, {"from_index", state.checkpoint},
             {"mode", job.mode == ScanMode::kSyn ? "syn" : "connect"}, {"rate_pps", job.rate_pps});
  current_.store(scanner->get());
  if (stop_.load()) (*scanner)->RequestStop();  // a stop that raced with the start
  Status progress_error;
  Status st = (*scanner)->Run(
      [&](const scan::ScanResult& r) {
        std::lock_guard lock(mu_);
        pending_.push_back(r.ToJson());
      },
      [&](const scan::ScanProgress& p) {
        // Results first, then the checkpoint that covers them: a crash in
        // between repeats probes, it never skips them.
        Status flushed = FlushResults();
        if (flushed.ok() && p.checkpoint > state.checkpoint) {
          state.checkpoint = p.checkpoint;
          flushed = SaveState(job, state);
        }
        if (!flushed.ok()) progress_error = flushed;
      });
  current_.store(nullptr);
  PICKET_RETURN_IF_ERROR(FlushResults());
  if (!progress_error.ok()) return progress_error;
  const auto summary = (*scanner)->Summary();
  if (!st.ok() || stop_.load()) {
    PICKET_LOG(kInfo, "worker", "scan job interrupted", {"job", job.id},
               {"checkpoint", state.checkpoint}, {"status", st});
    return st;
  }
  const SealMark finished = SealMarkNow();
  state.finished_ms = finished.wall_ms;
  state.finished_boot_id = finished.boot_id;
  state.finished_boot_ms = finished.boot_ms;
  PICKET_RETURN_IF_ERROR(SaveState(job, state));
  PICKET_LOG(kInfo, "worker", "scan job finished", {"job", job.id}, {"run", state.run},
             {"sent", summary.sent}, {"open", summary.open}, {"pps", summary.pps},
             {"seconds", summary.seconds});
  return Status::Ok();
}

}  // namespace picket::worker
