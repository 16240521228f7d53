// The pure parts of `picket scan status --watch` and `picket scan list`: a
// job's completed fraction from its shard view, a rate and ETA smoothed over
// time so they do not swing with every sample, and the text both print.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/shared_job.h"
#include "picket/sync/operator_rows.h"
#include "picket/zk/fleet_views.h"

namespace picket::cli {

// A claimer's live count of each shard it scans: indices whose first probe
// went out ("done" of its status node's "scan" entries for the job).
using LiveDone = std::map<std::uint32_t, std::uint64_t>;
void AddLiveDone(std::string_view status_json, std::string_view job, LiveDone& out);

// 0..1: done shards count whole, claimed shards by the larger of checkpoint
// and live count over the size when the claimer reported it, waiting shards
// (and unknown sizes) as 0.
double JobFraction(const zk::JobStatusView& view, const LiveDone& live = {});

// Address x port pairs of the whole job: the claimers' reported shard sizes x
// shards when one is known (exact), else the spec's upper bound.
std::uint64_t JobPairs(const zk::JobStatusView& view, const SharedJobSpec& spec);

// An exponentially weighted rate of the fraction per second, with time
// constant tau_s: a sample 1 s later moves it by 1 - e^(-1/tau) (~10 % for
// tau 10 s), so one slow or fast poll cannot halve or double the ETA. The first
// sample that moved seeds it: a job waiting for its first claim has no rate.
// Progress arrives in steps (claimers write their live counts with their status,
// every 5 s; a shard's done node lands at once): a poll that sees no change
// within hold_s is not a sample (the next change is spread over the time since
// the last one), and one sample moves the rate by at most x1.5 either way.
class ProgressSmoother {
 public:
  explicit ProgressSmoother(double tau_s = 10.0, double hold_s = 10.0)
      : tau_s_(tau_s), hold_s_(hold_s) {}
  // t_s: seconds on a monotonic clock; fraction 0..1.
  void Add(double t_s, double fraction);
  std::optional<double> FractionPerSecond() const { return rate_; }
  // Seconds to 100 %, nullopt until two samples moved forward.
  std::optional<double> EtaSeconds() const;

 private:
  static constexpr double kMaxStep = 1.5;
  double tau_s_, hold_s_;
  std::optional<double> last_t_, last_fraction_, rate_;
  bool started_ = false;
};

struct WatchSample {
  std::string job;
  std::string state;  // "running", "finished", "cancelled"
  double fraction = 0;
  std::optional<double> pairs_per_s;  // smoothed
  std::uint64_t found = 0;            // open ports in done shards
  std::uint32_t shards = 0, done = 0, claimed = 0, waiting = 0;
  std::optional<double> eta_s;        // smoothed
  std::int64_t ts_ms = 0;
};

// "scan-x: 42.17% done, rate 1.2k/s, found 5, shards 2/4 done 1 running, ETA 0:01:23"
std::string FormatWatchLine(const WatchSample& s);
// One NDJSON event (no newline).
std::string WatchEventJson(const WatchSample& s);

// One row of `picket scan list`: the database row, plus ZooKeeper's view when
// the job is there, plus sync's refusal when there is one.
struct JobListEntry {
  sync::ScanJobListing row;
  std::optional<double> fraction;  // nullopt: not in ZooKeeper (or not readable)
  std::uint32_t shards_done = 0;
  std::uint64_t found = 0;
  std::vector<std::string> devices;  // claimers and finishers
  std::string refused;               // sync's reason, "" when none
};
std::string FormatJobListTable(const std::vector<JobListEntry>& entries);
std::string FormatJobListJson(const std::vector<JobListEntry>& entries);  // a JSON array + "\n"

}  // namespace picket::cli
