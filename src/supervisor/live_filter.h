// A filter change is applied live: sent to the worker that captures, applied
// when it acknowledges. During a restart's hand-over that worker is the
// successor, which read its config file before the change was written, so its
// Ready carries the older version. This remembers which run was sent which
// version and what it answered, so that Ready is not mistaken for a worker
// that must be restarted to run the newest config: it is restarted only when
// the change did not reach it, or it refused it, or it did not answer in time.
// It also knows which versions change the worker at all, so that a Ready on a
// config older only by, say, a log level is not a reason to restart either.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace picket::supervisor {

class LiveFilter {
 public:
  // How long a worker may take to install a filter sent to it: the sniffer
  // drains its ring first (the capture timeout, ~1 s), a successor installs it
  // once its capture loop runs (after its predecessor sealed: up to ~1 s more).
  static constexpr std::chrono::milliseconds kAckDeadline{5000};

  enum class Readiness {
    kCurrent,   // it runs the newest config
    kAcked,     // it runs the newest: its filter came live and was installed
    kAwaitAck,  // it was sent the newest filter and has not answered yet
    kStale,     // it runs an older config: restart it to run the newest
  };

  // `version` changes what the worker runs (a restart's config or a filter):
  // from it up to the newest config, the worker's part stays the same, as
  // later changes it need not know (log level, uploads) leave it.
  void WorkerNeeds(std::int64_t version) { needed_ = version; }
  // `version`'s filter was written to the control channel of `run` (the newest replaces).
  void Sent(std::uint64_t run, std::int64_t version) { sent_ = Entry{run, version, std::nullopt}; }
  // The worker restarts with the newest config (`version`) in its file: nothing is in flight.
  void Restarted(std::int64_t version) {
    sent_.reset();
    needed_ = version;
  }
  // `run` answered for `version`.
  void Acked(std::uint64_t run, std::int64_t version, bool ok) {
    if (sent_ && sent_->run == run && sent_->version == version) sent_->ok = ok;
  }
  // A worker that read `worker_version` runs what `newest` asks of it. Equal
  // versions always are (a rollback to an older config is the newest).
  bool Current(std::int64_t worker_version, std::int64_t newest) const {
    return worker_version == newest ||
           (needed_ && *needed_ <= worker_version && worker_version <= newest);
  }
  // What a Ready from `run` carrying `ready_version` means while `newest` is the config to run.
  Readiness OnReady(std::uint64_t run, std::int64_t ready_version, std::int64_t newest) const {
    return Current(ready_version, newest) ? Readiness::kCurrent : Answer(run, newest);
  }
  // Where `run` stands with the newest filter: acked, awaited, or never sent to it / refused.
  Readiness Answer(std::uint64_t run, std::int64_t newest) const {
    if (!sent_ || sent_->run != run || !Current(sent_->version, newest)) return Readiness::kStale;
    if (!sent_->ok) return Readiness::kAwaitAck;
    return *sent_->ok ? Readiness::kAcked : Readiness::kStale;
  }

 private:
  struct Entry {
    std::uint64_t run;
    std::int64_t version;
    std::optional<bool> ok;  // unanswered while empty
  };
  std::optional<Entry> sent_;
  std::optional<std::int64_t> needed_;  // unknown until the first start
};

}  // namespace picket::supervisor
