// "Last good" means ran: a config the worker has not yet run is on trial. It
// becomes last good once a worker has captured (and started its scans) on it
// for `proven_after` without exiting; a trial config whose worker fails
// `max_failures` times within `failure_window` is rolled back to the last
// good one. Pure bookkeeping on the monotonic clock: the daemon owns the
// timers and the worker, this decides.
//
// Why 10 s: a worker that cannot run its config fails at once (an interface
// that is missing or down, a capture filter the kernel refuses, a scan raw
// socket, seccomp on the first scan probe): all within its first second.
// Ten seconds also spans the 2 s stats tick and the first idle chunk rotation
// of a quiet link, and is short enough that a device told to change twice in
// a row does not keep the older config as its fallback for long.
// Why 3 failures in 60 s: the worker's restart backoff (0.5 s, 1 s, 2 s ...)
// reaches the third failure about 2 s after the first, so a broken config is
// rolled back within the 10 s the fleet expects; one transient failure (the
// previous worker still holding the lock) is not enough to refuse a config.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

#include "picket/common/clock.h"

namespace picket::supervisor {

struct TrialPolicy {
  std::chrono::milliseconds proven_after{10'000};
  int max_failures = 3;
  std::chrono::milliseconds failure_window{60'000};
};

class ConfigTrial {
 public:
  explicit ConfigTrial(TrialPolicy policy = {}) : policy_(policy) {}

  // The worker is handed config `version`, not yet proven: the trial starts over.
  void Begin(std::int64_t version);
  // A newer version the same worker runs on (no restart: log level, uploads,
  // the filter): the trial goes on for it, its clocks and failures kept.
  void Retarget(std::int64_t version) {
    if (version_) version_ = version;
  }
  // The config running is proven (or needs no proof): no trial.
  void End();

  // A worker reported ready on `version` at `now`; a stale version is ignored.
  void OnReady(std::int64_t version, MonoTime now);
  // Any exit (asked for or not): the ready worker is gone.
  void OnExit() { ready_at_.reset(); }
  // An unexpected exit at `now`: true when the trial config has now failed
  // max_failures times within failure_window (roll it back).
  bool OnFailure(MonoTime now);
  // True when the config on trial has run proven_after since its worker was ready.
  bool ProvenAt(MonoTime now) const;
  // How long until ProvenAt(now) holds: zero when it does, nullopt when no
  // ready worker is on trial. A loop timer may fire early by the age of its
  // cached clock; the caller waits this much more.
  std::optional<std::chrono::milliseconds> UntilProven(MonoTime now) const;
  // Its worker is ready and nothing on this trial failed: asked to stop now
  // (SIGTERM), the config ran until it was told to stop, and counts as run.
  bool RunningCleanly() const { return version_ && ready_at_ && failures_.empty(); }

  bool on_trial() const { return version_.has_value(); }
  std::int64_t version() const { return version_.value_or(-1); }
  int failures() const { return static_cast<int>(failures_.size()); }
  const TrialPolicy& policy() const { return policy_; }

 private:
  TrialPolicy policy_;
  std::optional<std::int64_t> version_;
  std::optional<MonoTime> ready_at_;
  std::deque<MonoTime> failures_;  // within failure_window of the newest
};

}  // namespace picket::supervisor
