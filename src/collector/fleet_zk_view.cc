#include "collector/fleet_zk_view.h"

#include <algorithm>

#include "picket/common/json_limits.h"
#include "picket/common/log.h"
#include "picket/common/shared_job.h"
#include "picket/scan/scanner.h"
#include "picket/zk/fleet_views.h"
#include "picket/zk/zk_session.h"
#include "picket/zk/znode_layout.h"

namespace picket::collector {

namespace {

constexpr std::size_t kMaxDevices = 100'000;  // a hostile tree cannot exhaust memory
constexpr std::size_t kMaxJobs = 1'000;

using nlohmann::json;

// Node data, nullopt when there is no such node; other errors end the read.
Result<std::optional<std::string>> ReadOptional(zk::ZkSession& session, const std::string& path) {
  auto node = session.Get(path);
  if (node.ok()) return std::optional<std::string>(std::move(node->data));
  if (node.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  return node.status();
}

Result<std::vector<std::string>> ChildrenOrEmpty(zk::ZkSession& session, const std::string& path) {
  auto children = session.GetChildren(path);
  if (!children.ok() && children.status().code() == StatusCode::kNotFound) {
    return std::vector<std::string>();
  }
  return children;
}

Status ReadTree(zk::ZkSession& session, const zk::ZnodeLayout& layout, ZkFleetSnapshot& out) {
  auto devices = ChildrenOrEmpty(session, layout.Devices());
  if (!devices.ok()) return devices.status();
  if (devices->size() > kMaxDevices) devices->resize(kMaxDevices);
  for (const std::string& id : *devices) {
    ZkDeviceNodes nodes;
    auto config = ReadOptional(session, layout.DeviceConfig(id));
    if (!config.ok()) return config.status();
    auto status = ReadOptional(session, layout.DeviceStatus(id));
    if (!status.ok()) return status.status();
    auto sync = ReadOptional(session, layout.DeviceSyncError(id));
    if (!sync.ok()) return sync.status();
    nodes.config = std::move(*config);
    nodes.status = std::move(*status);
    nodes.sync = std::move(*sync);
    out.devices.emplace(id, std::move(nodes));
  }
  auto groups = ChildrenOrEmpty(session, layout.Groups());
  if (!groups.ok()) return groups.status();
  if (groups->size() > kMaxDevices) groups->resize(kMaxDevices);
  for (const std::string& group : *groups) {
    ZkGroupNodes nodes;
    auto config = ReadOptional(session, layout.GroupConfig(group));
    if (!config.ok()) return config.status();
    auto sync = ReadOptional(session, layout.GroupSyncError(group));
    if (!sync.ok()) return sync.status();
    nodes.config = std::move(*config);
    nodes.sync = std::move(*sync);
    out.groups.emplace(group, std::move(nodes));
  }
  auto jobs = ChildrenOrEmpty(session, layout.Jobs());
  if (!jobs.ok()) return jobs.status();
  std::sort(jobs->begin(), jobs->end());
  if (jobs->size() > kMaxJobs) jobs->resize(kMaxJobs);
  for (const std::string& job : *jobs) {
    auto text = ReadOptional(session, layout.Job(job));
    if (!text.ok()) return text.status();
    if (!*text) continue;  // cancelled or finished between listing and reading
    auto spec = ParseSharedJobSpec(job, **text);
    if (!spec.ok()) {
      out.jobs.push_back({{"job", job}, {"error", spec.status().message()}});
      continue;
    }
    auto nodes = zk::ReadJobNodes(session, layout, *spec);
    if (!nodes.ok()) return nodes.status();
    out.jobs.push_back(ScanJobJson(
        *spec, ParseJsonBounded(**text),
        zk::BuildJobStatus(*spec, *nodes, scan::ScanSpec{}.connect_timeout)));
  }
  return Status::Ok();
}

}  // namespace

json ScanJobJson(const SharedJobSpec& spec, const json& spec_doc, const zk::JobStatusView& v) {
  json shards = json::array();
  double pct_sum = 0;
  for (const zk::ShardView& r : v.rows) {
    std::optional<double> pct;
    if (r.state == "done") {
      pct = 100.0;
    } else if (r.checkpoint && r.total && *r.total > 0) {
      pct = 100.0 * static_cast<double>(std::min(*r.checkpoint, *r.total)) /
            static_cast<double>(*r.total);
    }
    pct_sum += pct.value_or(0);
    shards.push_back({{"shard", r.shard},
                      {"state", r.state},
                      {"holder", r.device.empty() ? json() : json(r.device)},
                      {"done", r.checkpoint ? json(*r.checkpoint) : json()},
                      {"total", r.total ? json(*r.total) : json()},
                      {"pct", pct ? json(*pct) : json()},
                      {"results", r.results ? json(*r.results) : json()}});
  }
  const char* state = v.done == v.shards ? "done" : v.claimed > 0 ? "running" : "pending";
  return json{{"job", v.job},
              {"spec", spec_doc.is_object() ? spec_doc : json()},
              {"state", state},
              {"shards_done", v.done},
              {"shards_claimed", v.claimed},
              {"shards_waiting", v.waiting},
              {"progress_pct", v.shards > 0 ? pct_sum / v.shards : 0.0},
              {"rate_pps", static_cast<double>(v.claimed) * static_cast<double>(spec.rate_pps)},
              {"eta_s", v.eta_s ? json(*v.eta_s) : json()},
              {"eta_unknown", v.eta_unknown.empty() ? json() : json(v.eta_unknown)},
              {"found", v.results},
              {"shards", std::move(shards)}};
}

ZkFleetView::ZkFleetView(ZkViewOptions options, const Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      snapshot_(std::make_shared<const ZkFleetSnapshot>()) {}

ZkFleetView::~ZkFleetView() { Stop(); }

void ZkFleetView::Start() { thread_ = std::thread([this] { Run(); }); }

void ZkFleetView::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const ZkFleetSnapshot> ZkFleetView::Snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

void ZkFleetView::Run() {
  const zk::ZnodeLayout layout(options_.root);
  std::unique_ptr<zk::ZkSession> session;
  while (true) {
    auto next = std::make_shared<ZkFleetSnapshot>();
    if (!session) {
      auto opened =
          zk::ZkSession::Open({options_.hosts, 10'000, options_.auth.user, options_.auth.password});
      if (opened.ok()) {
        session = std::move(*opened);
      } else {
        next->error = opened.status().message();
      }
    }
    if (session && session->WaitConnected(options_.period)) {
      Status st = ReadTree(*session, layout, *next);
      if (st.ok()) {
        next->connected = true;
        next->read_at_ms = clock_->WallMillis();
      } else {
        next->error = st.message();
      }
    } else if (session) {
      next->error = "not connected (" + std::string(zk::SessionStateName(session->state())) + ")";
    }
    {
      std::unique_lock lock(mu_);
      if (!next->connected) {
        // Keep the last good tree and its time: readiness and rows judge its age.
        auto kept = std::make_shared<ZkFleetSnapshot>(*snapshot_);
        kept->connected = false;
        kept->error = next->error;
        snapshot_ = std::move(kept);
      } else {
        snapshot_ = std::move(next);
      }
      if (wake_.wait_for(lock, options_.period, [this] { return stopping_; })) break;
    }
  }
}

}  // namespace picket::collector
