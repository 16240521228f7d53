// Checkpoint bookkeeping and the `--resume` file.
//
// SentWindow (SYN mode): the sender reports "every local index below `end` has
// had all its attempts sent at time t"; the checkpoint is the largest such
// `end` whose t + wait has passed — the point a resumed scan can restart from
// without losing a reply. Memory is bounded: reports less than 1 ms after the
// first one of their group are merged into it, keeping the later time
// (conservative). Measured from the group's first report, not its last: a
// sender reporting every 50 us merged everything into one entry whose time kept
// moving, and the checkpoint stood still until the scan ended.
//
// InFlightWindow (connect mode): the checkpoint is the lowest index still in
// flight, or the next index to launch when none is.
//
// ResumeState: the text file `picketd scan --resume FILE` reads and rewrites
// (atomically, about once a second):
//   # picketd scan checkpoint
//   version=1
//   seed=42
//   shard=0/1
//   space=9f1c...   (SipHash fingerprint of the normalized targets/ports/excludes)
//   next=81920
//   total=81920
// Not thread-safe; one owner each.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <utility>

#include "picket/common/clock.h"
#include "picket/common/status.h"

namespace picket::scan {

class SentWindow {
 public:
  SentWindow(std::uint64_t start, std::chrono::nanoseconds wait) : base_(start), wait_(wait) {}
  void MarkSent(std::uint64_t end, MonoTime at);
  // Advances and returns the checkpoint as of `now`.
  std::uint64_t Checkpoint(MonoTime now);
  std::size_t pending() const { return pending_.size(); }

 private:
  struct Sent {
    std::uint64_t end;
    MonoTime at;           // the group's last report: when `end` was reached
    MonoTime group_start;  // its first: the group takes reports for 1 ms from here
  };
  std::uint64_t base_;
  std::chrono::nanoseconds wait_;
  std::deque<Sent> pending_;
};

class InFlightWindow {
 public:
  explicit InFlightWindow(std::uint64_t start) : next_(start) {}
  // Launches the next index and returns it.
  std::uint64_t Launch() {
    in_flight_.insert(next_);
    return next_++;
  }
  void Complete(std::uint64_t index) { in_flight_.erase(index); }
  std::uint64_t Checkpoint() const { return in_flight_.empty() ? next_ : *in_flight_.begin(); }
  std::uint64_t next() const { return next_; }
  std::size_t in_flight() const { return in_flight_.size(); }

 private:
  std::uint64_t next_;
  std::set<std::uint64_t> in_flight_;
};

struct ResumeState {
  std::uint64_t seed = 0;
  std::uint32_t shard_index = 0;
  std::uint32_t shard_count = 1;
  std::string space;  // fingerprint
  std::uint64_t next = 0;
  std::uint64_t total = 0;

  std::string Serialize() const;
  // Errors name the file and the bad line.
  static Result<ResumeState> Parse(std::string_view text, std::string_view file_name);
};

// Fingerprint of a normalized space text (TargetSpace::Canonical()).
std::string SpaceFingerprint(std::string_view canonical);

}  // namespace picket::scan
