// Claims shards of shared scan jobs in ZooKeeper for this device and keeps
// the worker scanning them (DESIGN.md §3), through the job's members, claims,
// progress and done children (picket/zk/znode_layout.h). A checkpoint is
// written every few seconds; a done node is created together with the
// claim's deletion (one multi).
// Fairness within a job: a device holds at most min(max_parallel_shards,
// ceil(open shards / members)) claims, takes at most one new claim per tick,
// and yields its least advanced shard when it holds more than its share while
// nothing is free.
// Fairness across jobs: every member node carries the device's load, the
// shards it holds in all jobs and its measured probes/s. A device that already
// scans something leaves a free shard to a member holding fewer, and takes a
// free shard of a job it has known for less than a moment not even then (a
// device that has not looked at the new job yet gets its turn); it hands a shard over to a member of the job that
// holds none (a bounded number of times, logged with the reason). Among idle
// devices the faster (measured) claims first. config/README.md "Shared scan jobs".
// A dead device's claim vanishes with its session; another member resumes the
// shard from the larger of the ZooKeeper checkpoint and its own.
//
// Not thread-safe: the fleet agent calls everything on its own thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "picket/common/shared_job.h"
#include "picket/common/worker_protocol.h"
#include "picket/zk/zk_session.h"
#include "picket/zk/znode_layout.h"

namespace picket::supervisor {

struct ShardCoordinatorOptions {
  std::string root = std::string(zk::kDefaultRoot);
  std::string device_id;
  std::string group;
  std::chrono::milliseconds progress_interval{3000};  // ZooKeeper writes fsync: not more often
};

// What the coordinator reads from nodes other members write (untrusted):
// a claim's session id (0 when unreadable), a claim's device (nullopt when
// the node is not JSON) and a progress node's checkpoint (0 when unreadable).
std::int64_t ClaimSessionOf(std::string_view claim_node);
std::optional<std::string> ClaimDeviceOf(std::string_view claim_node);
std::uint64_t ProgressCheckpointOf(std::string_view progress_node);
// A member node's published load ({"held":N,"pps":X}, written by PublishLoad).
// A node that does not say (older picketd, junk) holds kUnknownLoad shards:
// never lighter than anyone. held is capped at kUnknownLoad - 1, pps at >= 0.
inline constexpr std::size_t kUnknownLoad = 1'000'000;
struct MemberLoad {
  std::size_t held = kUnknownLoad;
  double pps = 0;
};
MemberLoad MemberLoadOf(std::string_view member_node);

class ShardCoordinator {
 public:
  using ToWorker = std::function<void(worker_protocol::Command command)>;

  ShardCoordinator(zk::ZkSession& session, ShardCoordinatorOptions options, ToWorker to_worker);

  // The children of <root>/jobs, from the agent's child watch (empty when the
  // folder is missing). Until the first listing Tick looks at no job.
  void SetJobs(std::vector<std::string> jobs);
  // Looks at the listed jobs, finishes what is pending, claims or yields shards.
  void Tick();
  // A shard event from the worker (progress, finished, stopped, failed), with
  // the result batches pending when the loop received it (if it could tell).
  void OnWorkerEvent(const worker_protocol::ShardEvent& event,
                     std::optional<std::uint64_t> results_pending);
  void OnWorkerReady();   // a (new) worker runs: send it every held shard
  void OnWorkerExit();    // its shards stop; the next worker gets them again
  void OnSessionExpired();  // claims are gone with the session: stop scanning them
  // Result batches still waiting for the collector. A checkpoint reaches
  // ZooKeeper, and a shard is marked done, only once every result below it
  // is at the collector: another device resumes from that checkpoint if this
  // one dies, and what sat in a dead device's buffer would be missing.
  void SetResultsPending(std::uint64_t batches);

  // For the status node: every held shard with its progress.
  nlohmann::json Describe() const;

 private:
  using Key = std::pair<std::string, std::uint32_t>;
  struct Held {
    std::string spec_text;
    std::uint64_t checkpoint = 0, done = 0, total = 0;
    // Pace: `done` and the time of the first and of the latest event.
    std::uint64_t first_done = 0, rate_done = 0;
    std::chrono::steady_clock::time_point first_event{}, rate_time{};
    bool seen_event = false;
    double pps = 0;  // probes/s over the last few seconds
    std::uint64_t uploaded_checkpoint = 0;  // results below it are at the collector
    std::chrono::steady_clock::time_point last_progress_write{};
    bool with_worker = false;
    bool releasing = false;   // yielded or job gone: drop the claim when the worker stops
  };
  struct Finished {
    std::uint64_t results = 0, checkpoint = 0;
  };
  // Another member's load, from its member node ({"held":N,"pps":X}).
  struct MemberLoadOfDevice : MemberLoad {
    std::string device;
  };
  struct Yields {
    int count = 0;
    std::chrono::steady_clock::time_point last{};
  };

  void TickJob(const std::string& job);
  std::optional<std::vector<std::string>> jobs_;  // SetJobs
  bool TryClaim(const std::string& job, const SharedJobSpec& spec, const std::string& spec_text,
                const std::set<std::uint32_t>& busy);
  void MaybeYield(const std::string& job, std::size_t limit);
  // Whether to claim one of `free_count` free shards of `job` now (cross-job fairness).
  // `members`: how many the job lists, this device included.
  bool ClaimNow(const std::string& job, const SharedJobSpec& spec, std::size_t free_count,
                std::size_t members);
  // Hands a shard of `job` to a member that holds none, when this device holds several.
  void MaybeHandOver(const std::string& job);
  std::vector<MemberLoadOfDevice> OtherMembers(const std::string& job);
  std::size_t HeldTotal() const;
  std::string LoadDocument() const;
  void PublishLoad();
  void NoteFinishedPace(const Held& held);
  void SendAssign(const Key& key, Held& held);
  void WriteProgress(const Key& key, std::uint64_t checkpoint);
  bool CompleteShard(const Key& key, const Finished& finished);
  Status EnsureJobDir(const std::string& dir);
  void DropClaim(const Key& key);
  void LeaveJob(const std::string& job);

  zk::ZkSession& session_;
  ShardCoordinatorOptions options_;
  zk::ZnodeLayout layout_;
  ToWorker to_worker_;
  bool worker_ready_ = false;
  std::uint64_t results_pending_ = 0;
  std::map<Key, Held> held_;
  std::map<Key, Finished> pending_done_;        // finished; the multi is not through yet
  std::map<Key, std::uint64_t> best_checkpoint_;  // what this device itself scanned
  std::set<std::string> member_of_;             // member nodes created in this session
  // Jobs not looked at again until then: a refused spec (30 s), a job that is
  // all done or not for this device (10 s), one where this device has nothing
  // to claim or yield (3 s). Each look costs 2-4 ZooKeeper reads on every
  // device, and most listed jobs are in one of these states.
  std::map<std::string, std::chrono::steady_clock::time_point> resting_;
  // Since when this device has left a free shard of the job to others.
  std::map<std::string, std::chrono::steady_clock::time_point> deferring_since_;
  std::map<std::string, Yields> hand_overs_;
  std::map<std::string, std::chrono::steady_clock::time_point> first_seen_;  // listed jobs
  std::map<std::string, std::chrono::steady_clock::time_point> yielded_at_;  // last yield per job
  std::size_t published_held_ = ~std::size_t{0};
  double published_pps_ = -1;
  double measured_pps_ = 0;  // this device's probes/s over its finished shards (moving average)
  std::mt19937 rng_{std::random_device{}()};
};

}  // namespace picket::supervisor
