#include "collector/liveness.h"

#include <algorithm>
#include <cstdio>

namespace picket::collector {

namespace {

std::string Percent(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", v);
  return text;
}

std::string Version(const std::optional<std::int64_t>& v) {
  return v ? std::to_string(*v) : std::string("none");
}

// A degraded reason and, when it deserves one, the matching issue.
struct Findings {
  std::vector<std::string>& reasons;
  std::vector<Issue>& issues;
  void Add(std::string reason, std::string_view kind, std::string_view severity) {
    issues.push_back({std::string(kind), std::string(severity), reason});
    reasons.push_back(std::move(reason));
  }
};

}  // namespace

std::string_view DeviceStatusName(DeviceStatus status) {
  switch (status) {
    case DeviceStatus::kOnline: return "online";
    case DeviceStatus::kDegraded: return "degraded";
    case DeviceStatus::kOffline: return "offline";
    case DeviceStatus::kNeverSeen: return "never_seen";
  }
  return "unknown";
}

std::int64_t OfflineAfterMs(std::optional<std::int64_t> interval_ms) {
  const std::int64_t interval =
      interval_ms && *interval_ms > 0 ? std::min<std::int64_t>(*interval_ms, 86'400'000)
                                      : kDefaultHeartbeatIntervalMs;
  return std::max(3 * interval, kMinOfflineAfterMs);
}

Assessment AssessDevice(const LivenessInput& in) {
  Assessment out;
  out.offline_after_ms = OfflineAfterMs(in.interval_ms);
  out.heard_hb =
      in.last_heartbeat_ms && in.now_ms - *in.last_heartbeat_ms <= out.offline_after_ms;
  const bool zk_alive = in.zk_alive.value_or(false);

  if (!in.last_heartbeat_ms && !in.ever_uploaded && !zk_alive) {
    out.status = DeviceStatus::kNeverSeen;
    out.reasons.push_back("never seen: no heartbeat, no upload, no ZooKeeper status node");
    return out;
  }
  if (!out.heard_hb && !zk_alive) {
    out.status = DeviceStatus::kOffline;
    std::string why = in.last_heartbeat_ms
                          ? "no heartbeat for " +
                                std::to_string((in.now_ms - *in.last_heartbeat_ms) / 1000) + " s"
                          : std::string("no heartbeat ever");
    if (in.zk_alive) why += ", no ZooKeeper status node";
    out.reasons.push_back(why);
    out.issues.push_back({"offline", "critical", why});
    return out;
  }

  Findings f{out.reasons, out.issues};
  if (out.heard_hb && in.zk_alive == false) {
    f.Add("ZooKeeper session lost", "zookeeper_lost", "warning");
  } else if (out.heard_hb && in.zk_configured == true && in.zk_connected == false) {
    f.Add("ZooKeeper session lost (the device reports it disconnected)", "zookeeper_lost",
          "warning");
  }
  if (!out.heard_hb && zk_alive) f.Add("heartbeats not arriving", "heartbeat_missing", "warning");
  if (in.crash_loop) {
    f.Add("worker in a crash loop", "crash_loop", "critical");
  } else if (in.worker_state && *in.worker_state != "running") {
    out.reasons.push_back("worker " + *in.worker_state);
  }
  for (const Refusal& r : in.refusals) {
    f.Add(r.source + " config version " + Version(r.version) + " refused: " + r.error,
          "config_refused", "warning");
  }
  if (in.drift_since_ms && in.now_ms - *in.drift_since_ms > kDriftGraceMs) {
    f.Add("config drift: desired " + Version(in.desired_version) + ", applied " +
              Version(in.applied_version) + " for " +
              std::to_string((in.now_ms - *in.drift_since_ms) / 1000) + " s",
          "config_drift", "warning");
  }
  if (in.drop_pct_last_minute && *in.drop_pct_last_minute > kMaxDropPct) {
    f.Add("drops " + Percent(*in.drop_pct_last_minute) + " in the last minute", "drops",
          "warning");
  }
  if (in.disk_free_pct && *in.disk_free_pct < kLowDiskPct) {
    f.Add("disk free " + Percent(*in.disk_free_pct), "low_disk",
          *in.disk_free_pct < kCriticalDiskPct ? "critical" : "warning");
  }
  if (in.last_error && !in.last_error->empty()) {
    out.reasons.push_back("last error: " + in.last_error->substr(0, 200));
  }
  // Issues without a degraded reason of their own: noticed, not yet a fault.
  if (in.worker_state == "running" && in.last_packet_change_ms &&
      in.now_ms - *in.last_packet_change_ms >= kNoPacketsAfterMs) {
    out.issues.push_back({"no_packets", "warning",
                          "worker running but no packet for " +
                              std::to_string((in.now_ms - *in.last_packet_change_ms) / 1000) +
                              " s"});
  }
  if (in.backlog_growing) {
    out.issues.push_back(
        {"backlog_growing", "warning", "upload backlog grew over the last minute"});
  }
  out.status = out.reasons.empty() ? DeviceStatus::kOnline : DeviceStatus::kDegraded;
  return out;
}

}  // namespace picket::collector
