#include "fleet_agent.h"

#include "picket/common/clock.h"
#include "picket/common/log.h"
#include "picket/zk/collector_directory.h"
#include "picket/zk/fleet_acl.h"

namespace picket::supervisor {

namespace {
using nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr auto kUrgentSpacing = std::chrono::milliseconds(100);
}  // namespace

FleetAgent::FleetAgent(FleetAgentOptions options, FleetAgentHooks hooks)
    : options_(std::move(options)), layout_(options_.root), hooks_(std::move(hooks)) {}

FleetAgent::~FleetAgent() { Stop(); }

Status FleetAgent::Start() {
  auto session = zk::ZkSession::Open(options_.zk);
  if (!session.ok()) return session.status();
  session_ = std::move(*session);
  shards_ = std::make_unique<ShardCoordinator>(
      *session_, ShardCoordinatorOptions{options_.root, options_.device_id, options_.group},
      [this](worker_protocol::Command command) { hooks_.to_worker(std::move(command)); });
  session_->SetStateListener([this](zk::SessionState state) {
    SetStatus("zookeeper", SessionStateName(state), true);
    if (state == zk::SessionState::kExpired) {
      Post([this] {
        status_created_ = false;  // the session rebuilds it; write it again anyway
        shards_->OnSessionExpired();
      });
    }
    if (state == zk::SessionState::kConnected) Post([this] { last_published_.clear(); });
    const bool connected = state == zk::SessionState::kConnected;
    if (hooks_.on_session && connected != session_connected_.exchange(connected)) {
      hooks_.on_session(connected);  // on a change only: retries while down are not news
    }
  });
  // Listings on change instead of every tick: an idle device reads nothing.
  session_->WatchChildren(layout_.Jobs(), [this](const zk::WatchEvent& e) {
    Post([this, jobs = e.children] {
      shards_->SetJobs(jobs);
      next_tick_ = Clock::now();
    });
  });
  session_->WatchChildren(zk::CollectorsPath(options_.root), [this](const zk::WatchEvent&) {
    Post([this] { RefreshCollectors(); });
  });
  watcher_ = std::make_unique<zk::ConfigWatcher>(
      *session_, zk::ConfigWatcherOptions{options_.root, options_.group, options_.device_id},
      [this](std::string merged, std::int64_t version, std::int64_t group_version) {
        hooks_.on_config(std::move(merged), version, group_version);
      });
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void FleetAgent::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  watcher_.reset();
  if (session_) {
    // Gone at once rather than after the session timeout.
    (void)session_->Delete(layout_.DeviceStatus(options_.device_id));
  }
  shards_.reset();
  session_.reset();
}

void FleetAgent::Post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(fn));
  }
  cv_.notify_all();
}

void FleetAgent::SetStatus(std::string key, json value, bool urgent) {
  {
    std::lock_guard lock(mu_);
    status_[key] = std::move(value);
    urgent_ = urgent_ || urgent;
  }
  if (urgent) cv_.notify_all();
}

void FleetAgent::SetStatusNow(std::string key, json value) {
  {
    std::lock_guard lock(mu_);
    status_[key] = std::move(value);
    urgent_ = true;
    immediate_ = true;
  }
  cv_.notify_all();
}

void FleetAgent::OnWorkerEvent(worker_protocol::ShardEvent event,
                               std::optional<std::uint64_t> results_pending) {
  Post([this, event = std::move(event), results_pending] {
    shards_->OnWorkerEvent(event, results_pending);
    PublishScan();
  });
}

// Checkpoints ride the periodic status write; a shard taken, released or
// sized for the first time is published at once (what `picket scan status`
// needs for its ETA without waiting for the next periodic write).
void FleetAgent::PublishScan() {
  json scan = shards_->Describe();
  json shape = json::array();
  for (const auto& s : scan) shape.push_back({s["job"], s["shard"], s["total"]});
  const bool changed = shape != scan_shape_;
  if (changed) scan_shape_ = std::move(shape);
  SetStatus("scan", std::move(scan), changed);
}

void FleetAgent::OnWorkerReady() {
  Post([this] { shards_->OnWorkerReady(); });
}

void FleetAgent::SetResultsPending(std::uint64_t batches) {
  Post([this, batches] { shards_->SetResultsPending(batches); });
}

bool FleetAgent::connected() const {
  return session_ && session_->state() == zk::SessionState::kConnected;
}

json FleetAgent::ScanStatus() const {
  std::lock_guard lock(mu_);
  auto it = status_.find("scan");
  return it == status_.end() ? json() : *it;
}

void FleetAgent::OnWorkerExit() {
  Post([this] { shards_->OnWorkerExit(); });
}

void FleetAgent::Run() {
  next_tick_ = Clock::now();
  auto next_relist = Clock::now() + options_.relist_every;
  std::unique_lock lock(mu_);
  while (!stop_) {
    const auto now = Clock::now();
    const bool urgent_due = urgent_ && (immediate_ || now - last_publish_ >= kUrgentSpacing);
    const bool periodic_due = now - last_publish_ >= options_.status_every;
    if (!queue_.empty()) {
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
      continue;
    }
    if (urgent_due || periodic_due) {
      urgent_ = false;
      immediate_ = false;
      lock.unlock();
      PublishStatus();
      lock.lock();
      continue;
    }
    if (now >= next_tick_) {
      lock.unlock();
      LearnAcls();
      if (now >= next_relist) {
        RelistJobs();
        RefreshCollectors();
        next_relist = now + options_.relist_every;
      }
      shards_->Tick();
      PublishScan();
      lock.lock();
      next_tick_ = now + options_.tick;
      continue;
    }
    auto wake = std::min(next_tick_, last_publish_ + options_.status_every);
    if (urgent_) wake = std::min(wake, last_publish_ + kUrgentSpacing);
    cv_.wait_until(lock, wake);
  }
}

void FleetAgent::PublishStatus() {
  last_publish_ = Clock::now();
  if (session_->state() != zk::SessionState::kConnected) return;  // caught up on reconnect
  LearnAcls();
  json status;
  {
    std::lock_guard lock(mu_);
    status = status_;
  }
  status["device"] = options_.device_id;
  status["group"] = options_.group;
  status["updated_at_ms"] = SystemClock::Instance().WallMillis();
  status["zk_sessions"] = session_->session_count();
  const std::string data = status.dump();
  const std::string path = layout_.DeviceStatus(options_.device_id);
  Status st = status_created_ ? session_->Set(path, data) : Status::NotFound("first write");
  if (st.code() == StatusCode::kNotFound) {
    st = session_->EnsurePath(layout_.Device(options_.device_id));
    if (st.ok()) st = session_->CreateEphemeral(path, data);
    if (st.code() == StatusCode::kAlreadyExists) {
      // Left by this device's previous run (its session has not expired yet),
      // or re-created by ours after an expiry: either way it must be ours.
      (void)session_->Delete(path);
      st = session_->CreateEphemeral(path, data);
    }
  }
  status_created_ = st.ok();
  if (!st.ok()) {
    PICKET_LOG(kDebug, "supervisor", "status not written; next time", {"error", st});
  }
}

// The ACL of the nodes this device creates (status, claims, checkpoints) names
// the admin and fleet ids read from <root>/identities. Until they are known
// (no sync or collector has written them yet, or this device lacks the fleet
// identity that may read them) its nodes are the creator's only, and it asks
// again every 5 s; once known, the status node is made again with the right
// ACL. An open fleet needs none.
void FleetAgent::LearnAcls() {
  if (acls_known_ || options_.zk.auth_user.empty()) return;
  const auto now = Clock::now();
  if (now < next_acl_try_ || session_->state() != zk::SessionState::kConnected) return;
  next_acl_try_ = now + std::chrono::seconds(5);
  auto ids = zk::DeviceAcls(*session_, layout_, options_.device_id, options_.group,
                            options_.zk.auth_user, options_.zk.auth_password);
  if (!ids.ok()) {
    if (ids.status().message() != acl_error_) {
      acl_error_ = ids.status().message();
      PICKET_LOG(kWarn, "supervisor",
                 "cannot read the fleet's ZooKeeper identities: this device's nodes are its own "
                 "only (the operator cannot see its status) until it can",
                 {"error", ids.status()});
    }
    return;
  }
  session_->SetAclProvider([layout = layout_, ids = *ids](const std::string& path) {
    return zk::AclFor(layout, ids, path);
  });
  acls_known_ = true;
  if (status_created_) {
    (void)session_->Delete(layout_.DeviceStatus(options_.device_id));
    status_created_ = false;  // the next publish makes it with the fleet's ACL: at once, as
    std::lock_guard lock(mu_);  // an operator watching a scan reads its totals there
    urgent_ = immediate_ = true;
  }
  PICKET_LOG(kInfo, "supervisor", "fleet ZooKeeper identities read",
             {"admin", zk::DigestUser(ids->admin)}, {"fleet", !ids->fleet.empty()});
}

void FleetAgent::RelistJobs() {
  if (session_->state() != zk::SessionState::kConnected) return;
  auto jobs = session_->GetChildren(layout_.Jobs());
  if (jobs.ok()) {
    shards_->SetJobs(std::move(*jobs));
  } else if (jobs.status().code() == StatusCode::kNotFound) {
    shards_->SetJobs({});
  } else {
    PICKET_LOG(kWarn, "supervisor", "cannot list jobs", {"error", jobs.status()});
  }
}

void FleetAgent::RefreshCollectors() {
  if (session_->state() != zk::SessionState::kConnected) return;
  auto urls = zk::ListCollectorUrls(*session_, options_.root);
  if (!urls.ok() || *urls == collectors_) return;
  collectors_ = *urls;
  PICKET_LOG(kInfo, "supervisor", "collectors registered in ZooKeeper", {"count", collectors_.size()});
  if (hooks_.on_collectors) hooks_.on_collectors(collectors_);
}

}  // namespace picket::supervisor
