#include "shard_coordinator.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "picket/common/clock.h"
#include "picket/common/json_limits.h"
#include "picket/common/log.h"

namespace picket::supervisor {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kFailedJobBackoff = std::chrono::seconds(30);
// A finished or foreign job changes only when its row is edited (sync rewrites
// the spec) or it is deleted (the listing shows that at once).
constexpr auto kSettledJobRecheck = std::chrono::seconds(10);
constexpr auto kSteadyJobRecheck = std::chrono::seconds(3);
// A device that already scans takes a free shard of a job only once it has
// known the job this long, even when no member holds fewer: every device looks
// at the jobs each second and joins a new one at its first look, so by then
// every live eligible device is a member and its load can be seen.
constexpr auto kNewJobGrace = std::chrono::milliseconds(2000);
// A member holding fewer shards that has not claimed a free one by then has a
// reason not to (its scans fail, it is overloaded): take the shard after all.
constexpr auto kLighterMemberGrace = std::chrono::seconds(15);
// An idle device leaves a free shard this long to a faster idle member.
constexpr auto kFasterFirstDelay = std::chrono::milliseconds(1500);
// Hand-overs to idle members: at most this many per job, this far apart, so
// two devices can never pass a shard back and forth for long.
constexpr int kMaxHandOversPerJob = 4;
// A device that gave a shard of a job away claims none of that job for this
// long while other members are there: the member it yielded to looks at the
// job only every few seconds when it had nothing to do there.
constexpr auto kAfterYield = std::chrono::seconds(6);
constexpr auto kHandOverSpacing = std::chrono::seconds(20);

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::vector<std::string> ChildrenOrEmpty(zk::ZkSession& s, const std::string& path) {
  auto children = s.GetChildren(path);
  if (children.ok()) return *children;
  return {};
}

std::set<std::uint32_t> ShardNumbers(const std::vector<std::string>& names, std::uint32_t shards) {
  std::set<std::uint32_t> out;
  for (const auto& n : names) {
    char* end = nullptr;
    unsigned long v = std::strtoul(n.c_str(), &end, 10);
    if (end && *end == '\0' && !n.empty() && v < shards) out.insert(static_cast<std::uint32_t>(v));
  }
  return out;
}

}  // namespace

// json::value() throws on a non-object or a mistyped member: read by hand.
std::int64_t ClaimSessionOf(std::string_view claim_node) {
  const json owner = ParseJsonBounded(claim_node);
  const auto it = owner.is_object() ? owner.find("session") : owner.end();
  return it != owner.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

std::optional<std::string> ClaimDeviceOf(std::string_view claim_node) {
  const json owner = ParseJsonBounded(claim_node);
  const auto it = owner.is_object() ? owner.find("device") : owner.end();
  if (it == owner.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::uint64_t ProgressCheckpointOf(std::string_view progress_node) {
  const json p = ParseJsonBounded(progress_node);
  const auto it = p.is_object() ? p.find("checkpoint") : p.end();
  // A negative checkpoint would wrap to a huge index and skip the whole shard.
  return it != p.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

MemberLoad MemberLoadOf(std::string_view member_node) {
  const json load = ParseJsonBounded(member_node);
  MemberLoad m;
  if (!load.is_object()) return m;
  if (auto h = load.find("held"); h != load.end() && h->is_number_unsigned()) {
    m.held = static_cast<std::size_t>(std::min<std::uint64_t>(h->get<std::uint64_t>(), kUnknownLoad - 1));
  }
  if (auto p = load.find("pps"); p != load.end() && p->is_number() && p->get<double>() >= 0) {
    m.pps = p->get<double>();
  }
  return m;
}

ShardCoordinator::ShardCoordinator(zk::ZkSession& session, ShardCoordinatorOptions options,
                                   ToWorker to_worker)
    : session_(session),
      options_(std::move(options)),
      layout_(options_.root),
      to_worker_(std::move(to_worker)) {}

void ShardCoordinator::SetResultsPending(std::uint64_t batches) { results_pending_ = batches; }

void ShardCoordinator::SetJobs(std::vector<std::string> jobs) { jobs_ = std::move(jobs); }

void ShardCoordinator::Tick() {
  if (session_.state() != zk::SessionState::kConnected) return;  // keep scanning what is held
  if (results_pending_ == 0) {
    for (auto it = pending_done_.begin(); it != pending_done_.end();) {
      it = CompleteShard(it->first, it->second) ? pending_done_.erase(it) : std::next(it);
    }
  }
  if (!jobs_) return;  // not listed yet
  const std::vector<std::string>& jobs = *jobs_;
  std::set<std::string> listed(jobs.begin(), jobs.end());
  std::erase_if(resting_, [&](const auto& entry) { return !listed.count(entry.first); });
  std::erase_if(first_seen_, [&](const auto& entry) { return !listed.count(entry.first); });
  std::erase_if(yielded_at_, [&](const auto& entry) { return !listed.count(entry.first); });
  for (const auto& job : listed) first_seen_.try_emplace(job, Clock::now());
  // Shards of jobs that were deleted: stop scanning them.
  for (auto& [key, held] : held_) {
    if (!listed.count(key.first) && !held.releasing) {
      held.releasing = true;
      to_worker_(worker_protocol::ReleaseShard{key.first, key.second});
    }
  }
  std::vector<std::string> order(jobs.begin(), jobs.end());
  std::shuffle(order.begin(), order.end(), rng_);  // no device favours the first job
  for (const auto& job : order) TickJob(job);
  PublishLoad();
}

void ShardCoordinator::TickJob(const std::string& job) {
  if (auto r = resting_.find(job); r != resting_.end()) {
    if (Clock::now() < r->second) return;
    resting_.erase(r);
  }
  auto node = session_.Get(layout_.Job(job));
  if (!node.ok()) return;
  auto spec = ParseSharedJobSpec(job, node->data);
  if (!spec.ok()) {
    PICKET_LOG(kWarn, "supervisor", "job spec refused", {"job", job}, {"error", spec.status()});
    resting_[job] = Clock::now() + kFailedJobBackoff;
    return;
  }
  if (!JobEligible(*spec, options_.device_id, options_.group)) {
    LeaveJob(job);
    resting_[job] = Clock::now() + kSettledJobRecheck;
    return;
  }
  const auto done = ShardNumbers(ChildrenOrEmpty(session_, layout_.JobDone(job)), spec->shards);
  if (done.size() >= spec->shards) {
    LeaveJob(job);
    resting_[job] = Clock::now() + kSettledJobRecheck;
    return;
  }
  if (!member_of_.count(job)) {
    Status st = EnsureJobDir(layout_.JobMembers(job));
    if (st.ok()) {
      st = session_.CreateEphemeral(layout_.JobMember(job, options_.device_id), LoadDocument(),
                                    zk::ZkSession::Lifetime::kThisSession);
    }
    if (st.ok() || st.code() == StatusCode::kAlreadyExists) {
      member_of_.insert(job);
    } else {
      PICKET_LOG(kWarn, "supervisor", "cannot join job", {"job", job}, {"error", st});
      return;
    }
  }
  const auto claims =
      ShardNumbers(ChildrenOrEmpty(session_, layout_.JobClaims(job)), spec->shards);
  const std::size_t members =
      std::max<std::size_t>(1, ChildrenOrEmpty(session_, layout_.JobMembers(job)).size());
  const std::size_t open = spec->shards - done.size();
  const std::size_t fair = (open + members - 1) / members;
  const std::size_t limit = std::min<std::size_t>(spec->max_parallel_shards, std::max<std::size_t>(1, fair));
  std::size_t mine = 0;
  for (const auto& [key, held] : held_) mine += key.first == job && !held.releasing;

  std::set<std::uint32_t> busy = done;
  busy.insert(claims.begin(), claims.end());
  for (const auto& [key, f] : pending_done_) {
    if (key.first == job) busy.insert(key.second);
  }
  const bool free_shard = busy.size() < spec->shards;
  if (!free_shard) deferring_since_.erase(job);
  if (mine < limit && free_shard) {
    // Left to another device for now: looked at again next tick.
    if (ClaimNow(job, *spec, spec->shards - busy.size(), members)) {
      deferring_since_.erase(job);
      if (TryClaim(job, *spec, node->data, busy)) PublishLoad();
    }
  } else if (mine > limit && !free_shard) {
    MaybeYield(job, limit);
  } else {
    if (!free_shard && mine > 0 && HeldTotal() >= 2) MaybeHandOver(job);
    // Nothing to claim or yield now: look again in a few seconds (a shard of
    // ours ending looks at once). What changes meanwhile, a dead device's
    // claim or a new member, takes longer than that to matter.
    resting_[job] = Clock::now() + kSteadyJobRecheck;
  }
}

bool ShardCoordinator::TryClaim(const std::string& job, const SharedJobSpec& spec,
                                const std::string& spec_text,
                                const std::set<std::uint32_t>& busy) {
  std::vector<std::uint32_t> free;
  for (std::uint32_t s = 0; s < spec.shards; ++s) {
    if (!busy.count(s)) free.push_back(s);
  }
  if (free.empty()) return false;
  const std::uint32_t shard = free[std::uniform_int_distribution<std::size_t>(0, free.size() - 1)(rng_)];
  if (Status st = EnsureJobDir(layout_.JobClaims(job)); !st.ok()) return false;
  const json claim = {{"device", options_.device_id},
                      {"session", session_.session_id()},
                      {"at_ms", SystemClock::Instance().WallMillis()}};
  Status st = session_.CreateEphemeral(layout_.ShardClaim(job, shard), claim.dump(),
                                       zk::ZkSession::Lifetime::kThisSession);
  if (st.code() == StatusCode::kAlreadyExists || st.code() == StatusCode::kUnavailable) {
    // Lost the race, or the reply was lost: it is ours only if it names this session.
    auto existing = session_.Get(layout_.ShardClaim(job, shard));
    if (!existing.ok()) return false;
    if (ClaimSessionOf(existing->data) != session_.session_id()) return false;
  } else if (!st.ok()) {
    PICKET_LOG(kWarn, "supervisor", "cannot claim shard", {"job", job}, {"shard", shard}, {"error", st});
    return false;
  }
  // The done and claims listings are two reads: a shard finished between them
  // looks free. Its done node was created with the old claim's deletion, so
  // it exists now if that happened.
  if (auto finished = session_.Exists(layout_.ShardDone(job, shard)); !finished.ok() || *finished) {
    (void)session_.Delete(layout_.ShardClaim(job, shard));
    return false;
  }
  const Key key{job, shard};
  std::uint64_t start = best_checkpoint_[key];
  if (auto progress = session_.Get(layout_.ShardProgress(job, shard)); progress.ok()) {
    start = std::max(start, ProgressCheckpointOf(progress->data));
  }
  Held& held = held_[key];
  held = Held{};
  held.spec_text = spec_text;
  held.checkpoint = held.uploaded_checkpoint = start;
  held.last_progress_write = Clock::now();
  PICKET_LOG(kInfo, "supervisor", "claimed shard", {"job", job}, {"shard", shard},
             {"shards", spec.shards}, {"from_index", start});
  SendAssign(key, held);
  return true;
}

void ShardCoordinator::MaybeYield(const std::string& job, std::size_t limit) {
  // Yield only to a member that holds fewer claims than its share.
  std::map<std::string, std::size_t> per_device;
  for (const auto& m : ChildrenOrEmpty(session_, layout_.JobMembers(job))) per_device[m] = 0;
  for (const auto& c : ChildrenOrEmpty(session_, layout_.JobClaims(job))) {
    auto node = session_.Get(zk::ZnodeLayout::Child(layout_.JobClaims(job), c));
    if (!node.ok()) continue;
    if (auto owner = ClaimDeviceOf(node->data)) ++per_device[*owner];
  }
  const bool someone_starved = std::any_of(per_device.begin(), per_device.end(), [&](const auto& d) {
    return d.first != options_.device_id && d.second < limit;
  });
  if (!someone_starved) return;
  Key least{};
  std::uint64_t least_done = ~std::uint64_t{0};
  for (const auto& [key, held] : held_) {
    if (key.first == job && !held.releasing && held.done < least_done) {
      least = key;
      least_done = held.done;
    }
  }
  if (least_done == ~std::uint64_t{0}) return;
  PICKET_LOG(kInfo, "supervisor", "yielding shard to a device with fewer claims", {"job", job},
             {"shard", least.second});
  yielded_at_[job] = Clock::now();
  held_[least].releasing = true;
  to_worker_(worker_protocol::ReleaseShard{least.first, least.second});
}

std::size_t ShardCoordinator::HeldTotal() const {
  std::size_t n = 0;
  for (const auto& [key, held] : held_) n += !held.releasing;
  return n;
}

std::string ShardCoordinator::LoadDocument() const {
  return json{{"held", HeldTotal()}, {"pps", std::round(measured_pps_)}}.dump();
}

// Every member node of this device carries its load; rewritten when it changes.
void ShardCoordinator::PublishLoad() {
  const std::size_t held = HeldTotal();
  const double pps = std::round(measured_pps_);
  if (held == published_held_ && pps == published_pps_) return;
  const std::string data = LoadDocument();
  bool all = true;
  for (const auto& job : member_of_) {
    Status st = session_.Set(layout_.JobMember(job, options_.device_id), data);
    if (!st.ok() && st.code() != StatusCode::kNotFound) all = false;
  }
  if (all) {
    published_held_ = held;
    published_pps_ = pps;
  }
}

std::vector<ShardCoordinator::MemberLoadOfDevice> ShardCoordinator::OtherMembers(
    const std::string& job) {
  std::vector<MemberLoadOfDevice> out;
  for (const auto& m : ChildrenOrEmpty(session_, layout_.JobMembers(job))) {
    if (m == options_.device_id) continue;
    auto node = session_.Get(layout_.JobMember(job, m));
    if (!node.ok()) continue;  // gone since the listing
    out.push_back({MemberLoadOf(node->data), m});
  }
  return out;
}

bool ShardCoordinator::ClaimNow(const std::string& job, const SharedJobSpec& spec,
                                std::size_t free_count, std::size_t members) {
  const std::size_t held = HeldTotal();
  const auto now = Clock::now();
  if (auto y = yielded_at_.find(job); y != yielded_at_.end()) {
    if (now - y->second < kAfterYield && members > 1) return false;
    yielded_at_.erase(y);
  }
  if (held == 0 && measured_pps_ <= 0) return true;  // idle, pace unknown: nobody to wait for
  const auto [since, first_look] = deferring_since_.try_emplace(job, now);
  const auto waited = now - since->second;
  const auto others = OtherMembers(job);
  if (held == 0) {
    const auto faster = static_cast<std::size_t>(std::count_if(
        others.begin(), others.end(),
        [&](const MemberLoadOfDevice& m) { return m.held == 0 && m.pps > measured_pps_; }));
    if (faster < free_count || waited >= kFasterFirstDelay) return true;
    if (first_look) {
      PICKET_LOG(kDebug, "supervisor", "leaving a free shard to a faster idle device", {"job", job},
                 {"faster_idle", faster}, {"free", free_count});
    }
    return false;
  }
  const auto lighter = std::find_if(others.begin(), others.end(),
                                    [&](const MemberLoadOfDevice& m) { return m.held < held; });
  if (lighter == others.end()) {
    // A job that names its devices: once all of them are members, nobody else is coming.
    const bool all_here = !spec.devices.empty() &&
        std::all_of(spec.devices.begin(), spec.devices.end(), [&](const std::string& d) {
          return d == options_.device_id ||
                 std::any_of(others.begin(), others.end(), [&](const MemberLoadOfDevice& m) {
                   return m.device == d && m.held != kUnknownLoad;
                 });
        });
    return all_here || now - first_seen_[job] >= kNewJobGrace;
  }
  if (waited < kLighterMemberGrace) {
    if (first_look) {
      PICKET_LOG(kDebug, "supervisor", "leaving a free shard to a device that holds fewer",
                 {"job", job}, {"device", lighter->device}, {"its_shards", lighter->held},
                 {"mine", held});
    }
    return false;
  }
  PICKET_LOG(kInfo, "supervisor", "claiming a free shard a device holding fewer left alone",
             {"job", job}, {"device", lighter->device}, {"waited_s", Seconds(waited)});
  return true;
}

void ShardCoordinator::MaybeHandOver(const std::string& job) {
  Yields& yields = hand_overs_[job];
  const auto now = Clock::now();
  if (yields.count >= kMaxHandOversPerJob ||
      (yields.count > 0 && now - yields.last < kHandOverSpacing)) {
    return;
  }
  const auto others = OtherMembers(job);
  const auto idle = std::find_if(others.begin(), others.end(),
                                 [](const MemberLoadOfDevice& m) { return m.held == 0; });
  if (idle == others.end()) return;
  // The least advanced shard: one not started yet loses nothing at all.
  std::optional<Key> least;
  std::uint64_t least_done = 0;
  for (const auto& [key, held] : held_) {
    if (key.first == job && !held.releasing && (!least || held.done < least_done)) {
      least = key;
      least_done = held.done;
    }
  }
  if (!least) return;
  const Key key = *least;
  ++yields.count;
  yields.last = now;
  PICKET_LOG(kInfo, "supervisor", "yielding shard to an idle device", {"job", job},
             {"shard", key.second}, {"to", idle->device}, {"mine", HeldTotal()},
             {"reason", "this device scans several shards and a member of the job scans none"},
             {"hand_over", yields.count}, {"of_at_most", kMaxHandOversPerJob});
  held_[key].releasing = true;
  yielded_at_[job] = now;
  to_worker_(worker_protocol::ReleaseShard{key.first, key.second});
  PublishLoad();
}

void ShardCoordinator::NoteFinishedPace(const Held& held) {
  if (!held.seen_event) return;
  const double seconds = Seconds(held.rate_time - held.first_event);
  if (seconds < 0.5 || held.rate_done <= held.first_done) return;  // too short to tell
  const double pps = static_cast<double>(held.rate_done - held.first_done) / seconds;
  measured_pps_ = measured_pps_ <= 0 ? pps : 0.5 * measured_pps_ + 0.5 * pps;
}

void ShardCoordinator::SendAssign(const Key& key, Held& held) {
  if (!worker_ready_) return;  // sent when the worker reports ready
  held.with_worker = true;
  to_worker_(worker_protocol::AssignShard{key.first, key.second, held.spec_text, held.checkpoint});
}

void ShardCoordinator::WriteProgress(const Key& key, std::uint64_t checkpoint) {
  const std::string path = layout_.ShardProgress(key.first, key.second);
  const std::string data = json{{"checkpoint", checkpoint},
                                {"device", options_.device_id},
                                {"at_ms", SystemClock::Instance().WallMillis()}}
                               .dump();
  Status st = session_.Set(path, data);
  if (st.code() == StatusCode::kNotFound) {
    st = EnsureJobDir(layout_.JobProgress(key.first));
    if (st.ok()) st = session_.Create(path, data);
  }
  if (!st.ok()) {
    PICKET_LOG(kDebug, "supervisor", "progress not written; next time", {"path", path}, {"error", st});
  }
}

bool ShardCoordinator::CompleteShard(const Key& key, const Finished& finished) {
  using Op = zk::ZkSession::Op;
  const std::string done_path = layout_.ShardDone(key.first, key.second);
  const std::string claim_path = layout_.ShardClaim(key.first, key.second);
  const std::string data = json{{"device", options_.device_id},
                                {"results", finished.results},
                                {"checkpoint", finished.checkpoint},
                                {"finished_at_ms", SystemClock::Instance().WallMillis()}}
                               .dump();
  if (Status st = EnsureJobDir(layout_.JobDone(key.first)); !st.ok()) {
    if (st.code() != StatusCode::kNotFound) return false;  // retried next tick
    // The job was deleted (cancelled) meanwhile: nothing to record the shard in.
    PICKET_LOG(kInfo, "supervisor", "shard finished after its job was deleted", {"job", key.first},
               {"shard", key.second}, {"results", finished.results});
    DropClaim(key);
    return true;
  }
  Status st = session_.Multi({{Op::kCreate, done_path, data}, {Op::kDelete, claim_path}});
  if (st.ok()) {
    PICKET_LOG(kInfo, "supervisor", "shard done", {"job", key.first}, {"shard", key.second},
               {"results", finished.results});
    return true;
  }
  if (st.code() == StatusCode::kUnavailable) return false;  // retried next tick
  if (st.code() == StatusCode::kNotFound) {
    // Our claim lapsed (session expiry) but the shard was scanned to the end.
    st = session_.Create(done_path, data);
    if (st.code() == StatusCode::kUnavailable) return false;
  }
  // AlreadyExists: another device finished it too; it is recorded once.
  PICKET_LOG(kInfo, "supervisor", "shard done (claim had lapsed)", {"job", key.first},
             {"shard", key.second}, {"results", finished.results}, {"status", st});
  DropClaim(key);
  return true;
}

// A job's claims/progress/done/members folder, created when missing, but
// never the job node itself (as EnsurePath would): a job picket sync deleted
// must stay deleted, not come back empty. NotFound: the job is gone. Looked
// for first: a create that fails still costs the ensemble a write (a quorum
// round of an error transaction), an exists is a read any server answers.
Status ShardCoordinator::EnsureJobDir(const std::string& dir) {
  if (auto exists = session_.Exists(dir); exists.ok() && *exists) return Status::Ok();
  Status st = session_.Create(dir, "");
  return st.code() == StatusCode::kAlreadyExists ? Status::Ok() : st;
}

void ShardCoordinator::DropClaim(const Key& key) {
  Status st = session_.Delete(layout_.ShardClaim(key.first, key.second));
  if (!st.ok() && st.code() != StatusCode::kNotFound) {
    PICKET_LOG(kWarn, "supervisor", "cannot drop claim", {"job", key.first}, {"shard", key.second},
               {"error", st});
  }
}

void ShardCoordinator::LeaveJob(const std::string& job) {
  if (!member_of_.erase(job)) return;
  (void)session_.Delete(layout_.JobMember(job, options_.device_id));
}

void ShardCoordinator::OnWorkerEvent(const worker_protocol::ShardEvent& event,
                                     std::optional<std::uint64_t> results_pending) {
  using Kind = worker_protocol::ShardEvent::Kind;
  const Key key{event.job, event.shard};
  std::uint64_t& best = best_checkpoint_[key];
  best = std::max(best, event.checkpoint);
  auto it = held_.find(key);
  if (it == held_.end()) return;  // released after an expiry: only the checkpoint matters
  Held& held = it->second;
  held.checkpoint = std::max(held.checkpoint, event.checkpoint);
  const auto now = Clock::now();
  if (!held.seen_event) {
    held.seen_event = true;
    held.first_done = held.rate_done = event.done;
    held.first_event = held.rate_time = now;
  } else if (now - held.rate_time >= std::chrono::seconds(1) || event.kind != Kind::kProgress) {
    const double dt = Seconds(now - held.rate_time);
    if (dt > 0 && event.done >= held.rate_done) {
      held.pps = static_cast<double>(event.done - held.rate_done) / dt;
    }
    held.rate_done = event.done;
    held.rate_time = now;
  }
  held.done = event.done;
  held.total = event.total;
  // The loop stamps each event with the result batches pending when it arrived.
  if (results_pending) results_pending_ = *results_pending;
  if (results_pending_ == 0) held.uploaded_checkpoint = held.checkpoint;
  if (event.kind == Kind::kProgress) {
    if (Clock::now() - held.last_progress_write >= options_.progress_interval) {
      held.last_progress_write = Clock::now();
      WriteProgress(key, held.uploaded_checkpoint);
    }
  } else if (event.kind == Kind::kFinished) {
    Finished f{event.results, held.checkpoint};
    NoteFinishedPace(held);
    held_.erase(it);
    PublishLoad();
    resting_.erase(key.first);  // free for the next shard at the next tick
    if (results_pending_ != 0 || !CompleteShard(key, f)) pending_done_[key] = f;
  } else {  // stopped or failed
    const bool failed = event.kind == Kind::kFailed;
    if (failed) {
      PICKET_LOG(kError, "supervisor", "shard failed on this device; released",
                 {"job", key.first}, {"shard", key.second}, {"error", event.error});
      resting_[key.first] = Clock::now() + kFailedJobBackoff;
    }
    WriteProgress(key, held.uploaded_checkpoint);
    if (held.releasing || failed) {
      DropClaim(key);
      held_.erase(it);
      PublishLoad();
    } else {
      held.with_worker = false;  // the worker is stopping; its successor resumes the shard
    }
  }
}

void ShardCoordinator::OnWorkerReady() {
  worker_ready_ = true;
  for (auto& [key, held] : held_) {
    if (!held.releasing) SendAssign(key, held);
  }
}

void ShardCoordinator::OnWorkerExit() {
  worker_ready_ = false;
  for (auto& [key, held] : held_) held.with_worker = false;
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->second.releasing) {  // the stop we asked for happened with the exit
      DropClaim(it->first);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

void ShardCoordinator::OnSessionExpired() {
  if (!held_.empty()) {
    PICKET_LOG(kWarn, "supervisor", "session expired: stopping the shards it had claimed",
               {"shards", held_.size()});
    to_worker_(worker_protocol::ReleaseAll{});
  }
  held_.clear();
  member_of_.clear();
  published_held_ = ~std::size_t{0};  // the member nodes are made anew
  // A finished shard whose done node is not written yet is finished still:
  // pending_done_ stays; CompleteShard copes with the claim being gone.
}

json ShardCoordinator::Describe() const {
  json shards = json::array();
  for (const auto& [key, held] : held_) {
    shards.push_back({{"job", key.first},
                      {"shard", key.second},
                      {"done", held.done},
                      {"total", held.total},
                      {"checkpoint", held.checkpoint},
                      {"pps", std::round(held.pps)}});
  }
  return shards;
}

}  // namespace picket::supervisor
