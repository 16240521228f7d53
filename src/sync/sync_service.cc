#include "sync/sync_service.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "picket/common/digest.h"
#include "picket/common/log.h"
#include "picket/common/shared_job.h"
#include "picket/zk/fleet_acl.h"

namespace picket::sync {

namespace {

// The extra read after a doorbell ring (see the loop): the engine commit
// follows the binary log write within milliseconds.
constexpr std::chrono::milliseconds kAfterRing{50};
constexpr int kHintBatch = 5000;
constexpr int kHintRetentionDays = 30;
constexpr int kSecureEvery = 10;  // reconciles between ACL walks when nothing changed

}  // namespace

SyncService::SyncService(SyncOptions options)
    : options_(std::move(options)), layout_(options_.root), cursor_(options_.gap_grace) {}

SyncService::~SyncService() {
  doorbell_.reset();  // its thread wakes this object
  election_.reset();  // unwatches before the session goes
  zk_.reset();
}

void SyncService::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

void SyncService::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void SyncService::Ring() {
  {
    std::lock_guard lock(mu_);
    rung_ = woken_ = true;
  }
  cv_.notify_all();
}

bool SyncService::TakeRung() {
  std::lock_guard lock(mu_);
  return std::exchange(rung_, false);
}

void SyncService::WaitFor(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, delay, [&] { return stop_ || woken_; });
  woken_ = false;
}

Status SyncService::MayWrite() {
  // Only the leader writes, and only through the session that won: after an
  // expiry ZkSession opens a new session, which must win the election again.
  if (!leading_.load() || zk_->session_id() != leader_session_) {
    return Status::FailedPrecondition("not the sync leader (anymore)");
  }
  return Status::Ok();
}

void SyncService::ReportFailure(std::string_view what, const Status& st) {
  std::string line = std::string(what) + ": " + st.ToString();
  if (line == last_failure_) return;
  last_failure_ = line;
  PICKET_LOG(kWarn, "sync", "retrying with backoff", {"source", what}, {"error", st});
}

void SyncService::PublishStatus() {
  const std::string doc = nlohmann::json{{"doorbell", doorbell_->State()},
                                         {"poll_interval_ms", options_.poll_interval.count()}}
                              .dump();
  if (doc == published_status_ && published_session_ == leader_session_) return;
  if (!MayWrite().ok()) return;
  const std::string path = layout_.SyncStatus();
  Status st;
  if (published_session_ != leader_session_) {
    // A node of the previous leader's session would vanish with it: ours replaces it.
    if (Status gone = zk_->Delete(path); !gone.ok() && gone.code() != StatusCode::kNotFound) st = gone;
    if (st.ok()) st = zk_->CreateEphemeral(path, doc, zk::ZkSession::Lifetime::kThisSession);
  } else {
    st = zk_->Set(path, doc);
  }
  if (!st.ok()) {
    PICKET_LOG(kDebug, "sync", "status node not written", {"error", st});
    return;
  }
  published_status_ = doc;
  published_session_ = leader_session_;
}

void SyncService::ReportRecovery() {
  if (last_failure_.empty()) return;
  PICKET_LOG(kInfo, "sync", "recovered", {"after", last_failure_});
  last_failure_.clear();
}

Status SyncService::Run() {
  auto session = zk::ZkSession::Open({options_.zk_hosts,
                                      static_cast<int>(options_.session_timeout.count()),
                                      options_.zk_auth.user, options_.zk_auth.password});
  if (!session.ok()) return session.status().WithContext("--zk " + options_.zk_hosts);
  zk_ = std::move(session).value();
  if (!options_.zk_auth.user.empty()) {
    // Admin-only until PrepareAdminAcls has read who else the ACLs name.
    zk::FleetIdentities admin_only;
    admin_only.admin = zk::DigestId(options_.zk_auth.user, options_.zk_auth.password);
    zk_->SetAclProvider([layout = layout_, admin_only](const std::string& path) {
      return zk::AclFor(layout, admin_only, path);
    });
  }
  zk_->SetStateListener([this](zk::SessionState state) {
    if (state == zk::SessionState::kExpired) leading_.store(false);
    Wake();
  });
  election_ = std::make_unique<LeaderElection>(zk_.get(), layout_, [this] { Wake(); });
  writer_ = std::make_unique<ZnodeWriter>(zk_.get(), [this] { return MayWrite(); });
  PICKET_LOG(kInfo, "sync", "starting", {"db", options_.db.Redacted()}, {"zk", options_.zk_hosts},
             {"root", options_.root}, {"poll_ms", options_.poll_interval.count()},
             {"reconcile_ms", options_.reconcile_interval.count()});

  doorbell_ = std::make_unique<BinlogDoorbell>(options_.db, [this] { Ring(); });
  doorbell_->Start();

  JitteredBackoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(10));
  std::int64_t seen_session = 0;
  bool need_reconcile = true;
  bool led = false;
  MonoTime next_reconcile{};
  auto retry = [&](std::string_view what, const Status& st) {
    ReportFailure(what, st);
    WaitFor(backoff.Next());
  };

  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
    }
    if (zk_->state() != zk::SessionState::kConnected) {
      if (!zk_->WaitConnected(options_.poll_interval)) {
        ReportFailure("zookeeper", Status::Unavailable("not connected to " + options_.zk_hosts));
        continue;
      }
    }
    if (zk_->session_id() != seen_session) {
      if (seen_session != 0) PICKET_LOG(kInfo, "sync", "new ZooKeeper session: full reconcile");
      seen_session = zk_->session_id();
      need_reconcile = true;
    }

    auto leader = election_->Check();
    if (!leader.ok()) {
      retry("zookeeper", leader.status());
      continue;
    }
    if (!*leader) {
      // leading_ may have been cleared on ZooKeeper's thread (expiry); `led` is the loop's own.
      leading_.store(false);
      if (std::exchange(led, false)) PICKET_LOG(kWarn, "sync", "lost leadership, standing by");
      ReleaseLeaderLock();
      if (WatchLeaderLock()) ReportRecovery();
      WaitFor(options_.poll_interval);
      continue;
    }
    if (!leading_.load() || leader_session_ != election_->leader_session()) {
      leader_session_ = election_->leader_session();
      leading_.store(true);
      need_reconcile = true;
      PICKET_LOG(kInfo, "sync", "leader now: full reconcile", {"session", leader_session_});
    }
    led = true;

    Status db_error;
    if (!EnsureDb(&db_error)) {
      retry("mariadb", db_error);
      continue;
    }
    if (reconcile_on_connect_) {
      reconcile_on_connect_ = false;
      need_reconcile = true;  // catch up on whatever changed while we were away
    }
    HoldLeaderLock();

    const MonoTime now = SystemClock::Instance().MonotonicNow();
    // MariaDB sends a transaction's events once they are in the binary log,
    // before the engine has committed it: a read at once can miss the row
    // (seen in CI: one change of 20 waited for the next poll), so one more follows.
    const bool after_ring = TakeRung();
    Status st;
    if (need_reconcile || now >= next_reconcile) {
      st = Reconcile();
      if (st.ok()) st = SecureTree();
      if (st.ok()) {
        need_reconcile = false;
        next_reconcile = now + options_.reconcile_interval;
      }
    } else {
      st = Poll();
      if (!st.ok()) need_reconcile = true;  // hints taken but not all applied
    }
    if (st.ok()) st = FinishDoneJobs();
    if (!st.ok()) {
      retry(db_broken_ ? "mariadb" : "zookeeper", st);
      continue;
    }
    backoff.Reset();
    ReportRecovery();
    PublishStatus();
    WaitFor(after_ring ? std::min(kAfterRing, options_.poll_interval) : options_.poll_interval);
  }

  doorbell_->Stop();
  if (leading_.exchange(false)) PICKET_LOG(kInfo, "sync", "resigning leadership");
  ReleaseLeaderLock();
  election_->Resign();
  PICKET_LOG(kInfo, "sync", "stopped");
  return Status::Ok();
}

// After each full reconcile: every node under the root gets the ACL of
// zk/acl_policy.h, nodes made before credentials were turned on included,
// and groups follow the devices' current rows. The walk costs ~1 ms a node
// (two calls each), so it runs on leadership, when the identities or groups
// changed, and every kSecureEvery-th reconcile otherwise (nodes made since
// got their ACL at creation).
Status SyncService::SecureTree() {
  if (options_.zk_auth.user.empty()) return Status::Ok();  // an open fleet, allowed by name
  PICKET_RETURN_IF_ERROR(MayWrite());
  auto regrouped = zk::UpdateIdentityGroups(*zk_, layout_, device_groups_);
  if (!regrouped.ok()) return regrouped.status();
  auto ids = zk::PrepareAdminAcls(*zk_, layout_, options_.zk_auth.user, options_.zk_auth.password);
  if (!ids.ok()) return ids.status();
  const bool due = !secured_ids_ || *secured_ids_ != *ids ||
                   secured_session_ != leader_session_ || ++reconciles_since_secure_ >= kSecureEvery;
  if (!due) return Status::Ok();
  const MonoTime started = SystemClock::Instance().MonotonicNow();
  auto report = zk::SecureTree(*zk_, layout_, *ids);
  if (!report.ok()) return report.status();
  secured_ids_ = *ids;
  secured_session_ = leader_session_;
  reconciles_since_secure_ = 0;
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      SystemClock::Instance().MonotonicNow() - started);
  PICKET_LOG(kInfo, "sync", "ZooKeeper ACLs checked", {"nodes", report->nodes},
             {"changed", report->changed}, {"devices", ids->devices.size()},
             {"regrouped", *regrouped}, {"ms", took.count()});
  return Status::Ok();
}

bool SyncService::EnsureDb(Status* error) {
  if (db_ && !db_broken_) return true;
  db_.reset();
  db_broken_ = false;
  lock_connection_.reset();  // the lock went with the old connection
  auto connection = MariaDbConnection::Connect(options_.db);
  if (!connection.ok()) {
    *error = connection.status();
    return false;
  }
  db_ = std::make_unique<SyncDb>(std::move(connection).value());
  reconcile_on_connect_ = true;
  leader_lock_.reset();  // a new connection has seen nothing yet
  PICKET_LOG(kInfo, "sync", "connected to MariaDB", {"db", options_.db.Redacted()});
  return true;
}

std::string SyncService::LeaderLockName() const {
  // MariaDB lock names are at most 64 characters.
  std::string name = "picket-sync:" + options_.root;
  return name.size() <= 64 ? name : "picket-sync:" + Sha256Hex(options_.root).substr(0, 40);
}

void SyncService::HoldLeaderLock() {
  if (lock_connection_) return;
  auto mine = db_->TryLockLeader(LeaderLockName());
  if (!mine.ok()) {
    if (mine.status().code() == StatusCode::kUnavailable) db_broken_ = true;
    ReportFailure("mariadb leader lock", mine.status());
    return;
  }
  // Held by another connection: a deposed leader that has not noticed yet;
  // it releases the lock when it does. Leadership itself is ZooKeeper's.
  if (!*mine) return;
  if (Status st = election_->Advertise(**mine); !st.ok()) {
    ReportFailure("zookeeper", st);
    return;  // advertised on the next pass
  }
  lock_connection_ = **mine;
  PICKET_LOG(kInfo, "sync", "holding the leader lock in MariaDB",
             {"lock", LeaderLockName()}, {"db_connection", **mine});
}

void SyncService::ReleaseLeaderLock() {
  if (!lock_connection_) return;
  lock_connection_.reset();
  if (db_ && !db_broken_) (void)db_->UnlockLeader(LeaderLockName());
}

bool SyncService::WatchLeaderLock() {
  const MonoTime now = SystemClock::Instance().MonotonicNow();
  if ((!db_ || db_broken_) && now < next_standby_connect_) return false;
  Status db_error;
  if (!EnsureDb(&db_error)) {
    // Without MariaDB a standby still takes over when the leader's session expires.
    next_standby_connect_ = now + std::chrono::seconds(2);
    ReportFailure("mariadb", db_error);
    return false;
  }
  auto leader = election_->OtherLeader();
  if (!leader.ok() || !*leader || !(*leader)->db_connection) {
    leader_lock_.reset();
    return leader.ok();
  }
  // What this connection has seen of this leader's lock. Only a lock seen held
  // by the connection the leader advertised, then free, means its process
  // died: after a MariaDB restart every lock is free until the leader
  // reconnects, and that must not depose it.
  const std::string path = (*leader)->path;
  const std::int64_t advertised = *(*leader)->db_connection;
  if (!leader_lock_ || leader_lock_->path != path || leader_lock_->advertised != advertised) {
    leader_lock_ = LeaderLockWatch{path, advertised};
  }
  auto holder = db_->LeaderLockHolder(LeaderLockName());
  if (!holder.ok()) {
    if (holder.status().code() == StatusCode::kUnavailable) db_broken_ = true;
    ReportFailure("mariadb", holder.status());
    return false;
  }
  if (*holder) {
    leader_lock_->seen_held = leader_lock_->seen_held || **holder == advertised;
    leader_lock_->free_polls = 0;
    return true;
  }
  // Free twice in a row, one poll apart: the connection is gone, not between queries.
  if (!leader_lock_->seen_held || ++leader_lock_->free_polls < 2) return true;
  leader_lock_.reset();
  PICKET_LOG(kWarn, "sync", "the leader's MariaDB lock is free: deposing it before its session expires",
             {"leader", (*leader)->path}, {"db_connection", *(*leader)->db_connection});
  Status st = election_->Depose(**leader);
  if (!st.ok()) ReportFailure("zookeeper", st);
  Wake();
  return st.ok();
}

// ---------------------------------------------------------------------------

Status SyncService::SyncDevice(const DeviceRow& row, Counters& c) {
  return SyncConfigNode("device", row.id, layout_.DeviceConfig(row.id),
                        layout_.DeviceSyncError(row.id),
                        [&] { return BuildDeviceDocument(row); }, row.version, c);
}

Status SyncService::SyncGroup(const GroupRow& row, Counters& c) {
  return SyncConfigNode("group", row.name, layout_.GroupConfig(row.name),
                        layout_.GroupSyncError(row.name),
                        [&] { return BuildGroupDocument(row); }, row.version, c);
}

// A device or group row → its config node, or its refusal → its sync error node.
Status SyncService::SyncConfigNode(const std::string& kind, const std::string& name,
                                   const std::string& config_path,
                                   const std::string& error_path,
                                   const std::function<Result<std::string>()>& build,
                                   std::int64_t version, Counters& c) {
  if (!IsValidNodeName(name)) {
    PICKET_LOG(kWarn, "sync", kind + " " + (kind == "device" ? "id" : "name") +
                                  " cannot be a znode name: skipped",
               {kind, name});
    ++c.refused;
    return Status::Ok();
  }
  auto doc = build();
  if (!doc.ok()) {
    ++c.refused;
    PICKET_LOG(kWarn, "sync", kind + " config refused", {kind, name}, {"version", version},
               {"error", doc.status().message()});
    return writer_->PushError(error_path, version, doc.status().message(),
                              SystemClock::Instance().WallMillis());
  }
  auto pushed = writer_->PushVersioned(config_path, *doc, version);
  if (!pushed.ok()) return pushed.status();
  if (*pushed == PushOutcome::kWritten) {
    ++c.written;
    PICKET_LOG(kInfo, "sync", kind + " config pushed", {kind, name}, {"version", version});
  } else {
    ++c.up_to_date;
  }
  return writer_->ClearError(error_path, version);
}

Status SyncService::SyncJob(const JobRow& row, Counters& c, bool* kept) {
  if (kept) *kept = false;
  if (!IsValidNodeName(row.id)) {
    PICKET_LOG(kWarn, "sync", "job id cannot be a znode name: skipped", {"job", row.id});
    ++c.refused;
    return Status::Ok();
  }
  if (!JobIsActive(row)) {
    active_jobs_.erase(row.id);
    // A finished job keeps its tree (claims gone, done nodes with results) for
    // `scan status`; so does one cancelled after its last shard was done.
    bool keep = row.state == "finished";
    if (!keep) {
      auto complete = JobTreeComplete(row.id);
      if (!complete.ok()) return complete.status();
      keep = *complete;
    }
    if (!keep) return RemoveJob(row.id, c);
    if (kept) *kept = true;
    return writer_->ClearError(layout_.SyncJobError(row.id), row.version);
  }
  if (kept) *kept = true;
  auto doc = BuildJobDocument(row);
  if (!doc.ok()) {
    active_jobs_.erase(row.id);
    ++c.refused;
    PICKET_LOG(kWarn, "sync", "scan job refused", {"job", row.id}, {"version", row.version},
               {"error", doc.status().message()});
    return writer_->PushError(layout_.SyncJobError(row.id), row.version, doc.status().message(),
                              SystemClock::Instance().WallMillis());
  }
  auto pushed = writer_->PushJob(layout_.Job(row.id), layout_.SyncJobVersion(row.id), *doc, row.version);
  if (!pushed.ok()) return pushed.status();
  if (*pushed == PushOutcome::kWritten) {
    ++c.written;
    PICKET_LOG(kInfo, "sync", "scan job pushed", {"job", row.id}, {"version", row.version});
  } else {
    ++c.up_to_date;
  }
  if (auto spec = ParseSharedJobSpec(row.id, *doc); spec.ok()) {
    active_jobs_[row.id] = PushedJob{row.version, spec->shards};
  }
  return writer_->ClearError(layout_.SyncJobError(row.id), row.version);
}

Result<bool> SyncService::JobTreeComplete(const std::string& id) {
  auto spec_text = zk_->Get(layout_.Job(id));
  if (!spec_text.ok()) {
    if (spec_text.status().code() == StatusCode::kNotFound) return false;
    return spec_text.status();
  }
  auto spec = ParseSharedJobSpec(id, spec_text->data);
  if (!spec.ok()) return false;
  auto done = zk_->GetChildren(layout_.JobDone(id));
  if (!done.ok()) {
    if (done.status().code() == StatusCode::kNotFound) return false;
    return done.status();
  }
  return CountDoneShards(*done, spec->shards) >= spec->shards;
}

// One GetChildren per active job a second: a job finishes within about a
// second of its last done node, without a watch per job.
Status SyncService::FinishDoneJobs() {
  const MonoTime now = SystemClock::Instance().MonotonicNow();
  if (now < next_finish_check_ || active_jobs_.empty()) return Status::Ok();
  next_finish_check_ = now + std::chrono::seconds(1);
  std::vector<std::string> settled;
  for (const auto& [id, job] : active_jobs_) {
    auto done = zk_->GetChildren(layout_.JobDone(id));
    if (!done.ok()) {
      if (done.status().code() == StatusCode::kNotFound) continue;
      return done.status();
    }
    if (CountDoneShards(*done, job.shards) < job.shards) continue;
    auto marked = db_->MarkJobFinished(id, job.version);
    settled.push_back(id);
    if (!marked.ok()) {
      if (marked.status().code() == StatusCode::kUnavailable) {
        db_broken_ = true;
        return marked.status();  // tried again after the reconcile a new connection brings
      }
      // Refused (a sync user without UPDATE on scan_jobs): say so, and keep syncing.
      PICKET_LOG(kWarn, "sync", "cannot mark a done scan job finished (grant UPDATE (state, "
                 "finished_at) ON scan_jobs to the sync user)", {"job", id}, {"error", marked.status()});
      continue;
    }
    if (*marked) {
      PICKET_LOG(kInfo, "sync", "scan job finished", {"job", id}, {"shards", job.shards});
    } else {
      // The row moved on (cancelled, edited): its hint brings the new row.
      PICKET_LOG(kInfo, "sync", "scan job done but its row changed: left as it is", {"job", id});
    }
  }
  for (const auto& id : settled) active_jobs_.erase(id);
  return Status::Ok();
}

Status SyncService::RemoveDevice(const std::string& id, Counters& c) {
  if (!IsValidNodeName(id)) return Status::Ok();
  // Only what sync owns: the device's status ephemeral stays.
  auto config = writer_->DeleteIfExists(layout_.DeviceConfig(id));
  if (!config.ok()) return config.status();
  auto error = writer_->DeleteIfExists(layout_.DeviceSyncError(id));
  if (!error.ok()) return error.status();
  if (*config) {
    ++c.deleted;
    PICKET_LOG(kInfo, "sync", "device config deleted", {"device", id});
  }
  return Status::Ok();
}

Status SyncService::RemoveGroup(const std::string& name, Counters& c) {
  if (!IsValidNodeName(name)) return Status::Ok();
  auto config = writer_->DeleteIfExists(layout_.GroupConfig(name));
  if (!config.ok()) return config.status();
  auto error = writer_->DeleteIfExists(layout_.GroupSyncError(name));
  if (!error.ok()) return error.status();
  if (*config) {
    ++c.deleted;
    PICKET_LOG(kInfo, "sync", "group config deleted", {"group", name});
  }
  return Status::Ok();
}

Status SyncService::RemoveJob(const std::string& id, Counters& c) {
  if (!IsValidNodeName(id)) return Status::Ok();
  // Only jobs sync wrote (they have a version node): jobs made by the CLI stay.
  auto owned = zk_->Exists(layout_.SyncJobVersion(id));
  if (!owned.ok()) return owned.status();
  if (*owned) {
    auto tree = writer_->DeleteTree(layout_.Job(id));
    if (!tree.ok()) return tree.status();
    auto version = writer_->DeleteIfExists(layout_.SyncJobVersion(id));  // last: marks it done
    if (!version.ok()) return version.status();
    ++c.deleted;
    PICKET_LOG(kInfo, "sync", "scan job deleted", {"job", id});
  }
  auto error = writer_->DeleteIfExists(layout_.SyncJobError(id));
  return error.ok() ? Status::Ok() : error.status();
}

Status SyncService::Reconcile() {
  const MonoTime started = SystemClock::Instance().MonotonicNow();
  auto snapshot = db_->ReadSnapshot();
  if (!snapshot.ok()) {
    if (snapshot.status().code() == StatusCode::kUnavailable) db_broken_ = true;
    return snapshot.status();
  }
  Counters c;
  std::set<std::string> groups, devices, jobs;
  for (const auto& row : snapshot->groups) {
    groups.insert(row.name);
    PICKET_RETURN_IF_ERROR(SyncGroup(row, c));
  }
  for (const auto& row : snapshot->devices) {
    devices.insert(row.id);
    PICKET_RETURN_IF_ERROR(SyncDevice(row, c));
  }
  device_groups_.clear();
  for (const auto& row : snapshot->devices) device_groups_[row.id] = row.group;
  active_jobs_.clear();
  for (const auto& row : snapshot->jobs) {
    bool kept = false;
    PICKET_RETURN_IF_ERROR(SyncJob(row, c, &kept));
    if (kept) jobs.insert(row.id);
  }
  // Rows deleted while no hint reached us: their znodes go too.
  auto children = [&](const std::string& path) -> Result<std::vector<std::string>> {
    auto list = zk_->GetChildren(path);
    if (!list.ok() && list.status().code() == StatusCode::kNotFound) {
      return std::vector<std::string>();
    }
    return list;
  };
  auto device_nodes = children(layout_.Devices());
  if (!device_nodes.ok()) return device_nodes.status();
  for (const auto& id : *device_nodes) {
    if (!devices.count(id)) PICKET_RETURN_IF_ERROR(RemoveDevice(id, c));
  }
  auto group_nodes = children(layout_.Groups());
  if (!group_nodes.ok()) return group_nodes.status();
  for (const auto& name : *group_nodes) {
    if (!groups.count(name)) PICKET_RETURN_IF_ERROR(RemoveGroup(name, c));
  }
  auto job_nodes = children(layout_.SyncJobVersions());
  if (!job_nodes.ok()) return job_nodes.status();
  for (const auto& id : *job_nodes) {
    if (!jobs.count(id)) PICKET_RETURN_IF_ERROR(RemoveJob(id, c));
  }
  auto job_errors = children(layout_.SyncJobErrors());
  if (!job_errors.ok()) return job_errors.status();
  for (const auto& id : *job_errors) {
    bool has_row = false;
    for (const auto& row : snapshot->jobs) has_row = has_row || row.id == id;
    if (!has_row) {
      auto gone = writer_->DeleteIfExists(layout_.SyncJobError(id));
      if (!gone.ok()) return gone.status();
    }
  }

  cursor_.Reset(snapshot->hint_base, snapshot->hint_seqs, started);
  if (Status st = db_->PruneHints(kHintRetentionDays); !st.ok()) {
    if (st.code() == StatusCode::kUnavailable) db_broken_ = true;
    PICKET_LOG(kWarn, "sync", "pruning config_changes failed", {"error", st});
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      SystemClock::Instance().MonotonicNow() - started);
  PICKET_LOG(kInfo, "sync", "reconciled", {"groups", snapshot->groups.size()},
             {"devices", snapshot->devices.size()}, {"jobs", snapshot->jobs.size()},
             {"written", c.written}, {"up_to_date", c.up_to_date}, {"refused", c.refused},
             {"deleted", c.deleted}, {"ms", took.count()});
  return Status::Ok();
}

Status SyncService::SyncKey(const std::string& table, const std::string& key, Counters& c) {
  auto db_failed = [&](const Status& st) {
    if (st.code() == StatusCode::kUnavailable) db_broken_ = true;
    return st;
  };
  // The hint names the row; the row itself (re-read now) decides.
  if (table == "devices") {
    auto row = db_->ReadDevice(key);
    if (!row.ok()) return db_failed(row.status());
    return *row ? SyncDevice(**row, c) : RemoveDevice(key, c);
  }
  if (table == "device_groups") {
    auto row = db_->ReadGroup(key);
    if (!row.ok()) return db_failed(row.status());
    return *row ? SyncGroup(**row, c) : RemoveGroup(key, c);
  }
  if (table == "scan_jobs") {
    auto row = db_->ReadJob(key);
    if (!row.ok()) return db_failed(row.status());
    return *row ? SyncJob(**row, c) : RemoveJob(key, c);
  }
  PICKET_LOG(kDebug, "sync", "hint for an unknown table ignored", {"table", table});
  return Status::Ok();
}

Status SyncService::Poll() {
  auto hints = db_->ReadChanges(cursor_.low_water(), kHintBatch);
  if (!hints.ok()) {
    if (hints.status().code() == StatusCode::kUnavailable) db_broken_ = true;
    return hints.status();
  }
  if (hints->empty()) return Status::Ok();
  std::vector<std::uint64_t> seqs;
  seqs.reserve(hints->size());
  for (const auto& h : *hints) seqs.push_back(h.seq);
  const auto fresh = cursor_.Accept(seqs, SystemClock::Instance().MonotonicNow());
  if (fresh.empty()) return Status::Ok();
  const std::set<std::uint64_t> wanted(fresh.begin(), fresh.end());
  std::set<std::pair<std::string, std::string>> keys;  // each row once per poll
  for (const auto& h : *hints) {
    if (wanted.count(h.seq)) keys.emplace(h.table, h.key);
  }
  Counters c;
  for (const auto& [table, key] : keys) PICKET_RETURN_IF_ERROR(SyncKey(table, key, c));
  PICKET_LOG(kDebug, "sync", "hints applied", {"hints", fresh.size()}, {"rows", keys.size()},
             {"written", c.written}, {"low_water", cursor_.low_water()});
  return Status::Ok();
}

}  // namespace picket::sync
