// Heartbeats, fleet state, issues, scans, probes and metrics (config/API.md
// "Fleet state", "Probes and metrics").
#include <nlohmann/json.hpp>

#include "collector/api_handler.h"
#include "collector/fleet_api.h"
#include "collector/gunzip.h"
#include "collector/retention.h"
#include "picket/common/json_limits.h"
#include "picket/zk/json_merge.h"

namespace picket::collector {

namespace {

using nlohmann::json;

std::map<std::string, DeviceUploads> UploadsFrom(const json& rows) {
  std::map<std::string, DeviceUploads> out;
  if (!rows.is_array()) return out;
  for (const json& row : rows) {
    if (!row.is_object() || !row.contains("id") || !row["id"].is_string()) continue;
    DeviceUploads u;
    if (auto v = row.find("last_seen_ms"); v != row.end() && v->is_number_integer()) {
      u.last_upload_ms = v->get<std::int64_t>();
    }
    out.emplace(row["id"].get<std::string>(), u);
  }
  return out;
}

Reply TextReply(int status, std::string body, std::string_view type) {
  Reply r;
  r.status = status;
  r.content_type = std::string(type);
  r.body = std::move(body);
  return r;
}

json IssueJson(const IssueRow& i) {
  return json{{"kind", i.issue.kind},
              {"device", i.device},
              {"severity", i.issue.severity},
              {"since_ms", i.since_ms},
              {"message", i.issue.message}};
}

}  // namespace

Reply ApiHandler::HandleFleet(const Admission& a, std::string body) {
  const wire::Endpoint e = a.route.endpoint;
  if (e == wire::Endpoint::kHealthz) return TextReply(wire::kHttpOk, "ok\n", "text/plain");
  if (fleet_ == nullptr) {
    return JsonError(wire::kHttpUnavailable, "fleet state is not enabled in this collector");
  }
  FleetServices& f = *fleet_;
  std::shared_ptr<const ZkFleetSnapshot> zk = f.zk ? f.zk->Snapshot() : nullptr;

  if (e == wire::Endpoint::kPostStatus) {
    const std::size_t wire_bytes = body.size();
    Result<std::string> decoded = DecodeBodyCapped(a.encoding, std::move(body), kMaxHeartbeatBytes);
    if (!decoded.ok()) {
      return JsonError(decoded.status().code() == StatusCode::kResourceExhausted
                           ? wire::kHttpPayloadTooLarge
                           : wire::kHttpBadRequest,
                       decoded.status().message());
    }
    if (Status st = f.state->Ingest(a.route.device, *decoded); !st.ok()) {
      return JsonError(wire::kHttpBadRequest, st.message());
    }
    metrics_.AddIngest("status", wire_bytes, 1);
    return JsonReply(wire::kHttpOk, json{{"ok", true}});
  }

  if (e == wire::Endpoint::kReadyz) {
    ReadinessInput in;
    in.database = f.store->ProbeWrite(clock_->WallMillis());
    auto disk = DiskSpaceOf(f.data_dir);
    if (disk.ok()) {
      in.disk = *disk;
    } else {
      in.disk_error = disk.status().message();
    }
    in.threshold = f.min_free_disk;
    if (zk) {
      const bool recent = zk->connected && clock_->WallMillis() - zk->read_at_ms < 10'000;
      in.zookeeper = recent;
      if (!recent) {
        in.zookeeper_error =
            zk->read_at_ms == 0 ? "ZooKeeper not read yet"
                                : "ZooKeeper not read for " +
                                      std::to_string((clock_->WallMillis() - zk->read_at_ms) /
                                                     1000) +
                                      " s" + (zk->error.empty() ? "" : ": " + zk->error);
      }
    }
    Readiness r = EvaluateReadiness(in);
    return JsonReply(r.ready ? wire::kHttpOk : wire::kHttpUnavailable, r.body);
  }

  if (e == wire::Endpoint::kListScans) {
    return JsonReply(wire::kHttpOk,
                     json{{"zookeeper", zk != nullptr && zk->connected},
                          {"jobs", zk ? zk->jobs : json::array()}});
  }

  if (e == wire::Endpoint::kGetDeviceSeries) {
    const std::string window = wire::QueryText(a.route, wire::kWindowParam).value_or("1h");
    const RollupLevel* level = nullptr;
    for (const RollupLevel& l : kRollupLevels) {
      if (window == l.window) level = &l;
    }
    if (level == nullptr) {
      return JsonError(wire::kHttpBadRequest,
                       "query parameter 'window' must be 1h, 24h or 7d, got '" + window + "'");
    }
    const std::int64_t span_ms =
        std::min<std::int64_t>(level->keep_s * 1000, f.store->retention().count());
    auto points = f.store->Series(a.route.device, level->step_s, clock_->WallMillis() - span_ms);
    if (!points.ok()) return StorageError(points.status(), "read series");
    json out = json::array();
    auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(); };
    for (const SeriesPoint& p : *points) {
      out.push_back({{"t_ms", p.t_ms},
                     {"pps", opt(p.pps)},
                     {"bps", opt(p.bps)},
                     {"drops", p.drops},
                     {"drop_pct", opt(p.drop_pct)},
                     {"backlog_bytes", p.backlog_bytes ? json(*p.backlog_bytes) : json()},
                     {"upload_bps", opt(p.upload_bps)},
                     {"upload_errors", p.upload_errors}});
    }
    json answer = json::object();
    answer["device"] = a.route.device;
    answer["window"] = window;
    answer["step_s"] = level->step_s;
    answer["points"] = std::move(out);
    return JsonReply(wire::kHttpOk, answer);
  }

  // The rest evaluate the fleet: heartbeats + uploads + ZooKeeper.
  auto devices = db_->ListDevices();
  if (!devices.ok()) return StorageError(devices.status(), "list devices");
  const bool with_rows =
      e == wire::Endpoint::kGetFleet || e == wire::Endpoint::kGetDeviceStatus;
  // One device's page evaluates that device, not the whole fleet.
  const std::string* only = e == wire::Endpoint::kGetDeviceStatus ? &a.route.device : nullptr;
  std::vector<DeviceFacts> facts =
      f.state->Evaluate(UploadsFrom(*devices), zk.get(), with_rows, only);

  if (e == wire::Endpoint::kGetFleet) {
    json counts = {{"online", 0}, {"degraded", 0}, {"offline", 0}, {"never_seen", 0}};
    json rows = json::array();
    for (DeviceFacts& d : facts) {
      auto& c = counts[std::string(DeviceStatusName(d.assessment.status))];
      c = c.get<int>() + 1;
      rows.push_back(std::move(d.row));
    }
    // Assigned, not a json{{...}} list: that would deep-copy all rows once more.
    json out = json::object();
    out["now_ms"] = clock_->WallMillis();
    out["offline_after_ms_default"] = OfflineAfterMs(std::nullopt);
    out["zookeeper"] = zk ? json(zk->connected) : json();
    out["counts"] = std::move(counts);
    out["devices"] = std::move(rows);
    return JsonReply(wire::kHttpOk, out);
  }

  if (e == wire::Endpoint::kListIssues) {
    json out = json::array();
    for (const IssueRow& i : f.state->Issues(facts)) out.push_back(IssueJson(i));
    json answer = json::object();
    answer["issues"] = std::move(out);
    return JsonReply(wire::kHttpOk, answer);
  }

  if (e == wire::Endpoint::kGetDeviceStatus) {
    for (DeviceFacts& d : facts) {
      if (d.id != a.route.device) continue;
      json config, device_config;
      json refusals = json::array();
      for (const Refusal& r : d.input.refusals) {
        refusals.push_back({{"source", r.source},
                            {"version", r.version ? json(*r.version) : json()},
                            {"error", r.error}});
      }
      if (zk) {
        if (auto n = zk->devices.find(d.id); n != zk->devices.end() && n->second.config) {
          std::string merged = *n->second.config;
          const std::string group = d.row["group"].is_string() ? d.row["group"].get<std::string>()
                                                                : std::string();
          if (auto g = zk->groups.find(group); g != zk->groups.end() && g->second.config) {
            auto m = zk::MergeJsonDocuments(*g->second.config, *n->second.config);
            if (m.ok()) merged = std::move(*m);
          }
          config = ParseJsonBounded(merged);
          if (config.is_discarded()) config = json();
          // The device's own row (what PUT /v1/devices/{id}/config replaces),
          // without the "version" sync adds beside it.
          device_config = ParseJsonBounded(*n->second.config);
          if (device_config.is_object()) {
            device_config.erase("version");
          } else {
            device_config = json();
          }
        }
      }
      auto latest = f.state->Latest(d.id);
      return JsonReply(wire::kHttpOk, json{{"device", std::move(d.row)},
                                           {"heartbeat", latest ? *latest : json()},
                                           {"config", std::move(config)},
                                           {"device_config", std::move(device_config)},
                                           {"refusals", std::move(refusals)}});
    }
    return JsonError(wire::kHttpNotFound, "no device '" + a.route.device +
                                              "': no heartbeat, upload or ZooKeeper node");
  }

  if (e == wire::Endpoint::kMetrics) {
    ExpositionWriter w;
    metrics_.Write(w);
    w.Family("picket_log_followers", "gauge", "Open GET /v1/logs?follow=1 streams.");
    w.Sample("picket_log_followers", log_feed_.followers());
    if (f.analysis_backlog) {
      auto backlog = f.analysis_backlog();
      if (backlog.ok()) {
        w.Family("picket_session_analysis_lag_seconds", "gauge",
                 "Age of the oldest stored chunk not yet analysed into sessions.");
        w.Sample("picket_session_analysis_lag_seconds", backlog->lag_seconds);
        w.Family("picket_session_analysis_pending_chunks", "gauge",
                 "Stored chunks not yet analysed into sessions.");
        w.Sample("picket_session_analysis_pending_chunks",
                 static_cast<double>(backlog->pending_chunks));
      }
    }
    if (f.retention != nullptr) WriteRetentionMetrics(w, *f.retention);
    w.Family("picket_chunk_commits_total", "counter",
             "Transactions that stored chunks; group commit puts every chunk waiting in one.");
    w.Sample("picket_chunk_commits_total", static_cast<double>(db_->chunk_commits()));
    w.Family("picket_chunks_committed_total", "counter",
             "Chunks that went through those transactions (stored, repeats and refusals).");
    w.Sample("picket_chunks_committed_total", static_cast<double>(db_->chunks_committed()));
    w.Family("picket_chunk_commit_seconds_total", "counter",
             "Time in those transactions, one at a time: near 1 s a second, ingest waits on them.");
    w.Sample("picket_chunk_commit_seconds_total", db_->chunk_commit_seconds());
    w.Family("picket_chunk_file_sync_seconds_total", "counter",
             "Of that time, syncing the chunk files to disk before their rows commit (syncfs).");
    w.Sample("picket_chunk_file_sync_seconds_total", db_->chunk_file_sync_seconds());
    w.Family("picket_heartbeats_total", "counter", "Heartbeats accepted since the start.");
    w.Sample("picket_heartbeats_total", static_cast<double>(f.state->heartbeats()));
    if (auto disk = DiskSpaceOf(f.data_dir); disk.ok()) {
      w.Family("picket_data_disk_free_bytes", "gauge", "Free bytes on the --data file system.");
      w.Sample("picket_data_disk_free_bytes", static_cast<double>(disk->free_bytes));
      w.Family("picket_data_disk_size_bytes", "gauge", "Size of the --data file system.");
      w.Sample("picket_data_disk_size_bytes", static_cast<double>(disk->total_bytes));
    }
    std::map<std::string, int> by_status = {
        {"online", 0}, {"degraded", 0}, {"offline", 0}, {"never_seen", 0}};
    for (const DeviceFacts& d : facts) ++by_status[std::string(DeviceStatusName(d.assessment.status))];
    w.Family("picket_devices", "gauge", "Devices by liveness status (config/API.md).");
    for (const auto& [status, n] : by_status) w.Sample("picket_devices", {{"status", status}}, n);
    w.Family("picket_device_packets_total", "counter",
             "Packets captured, from the device's newest heartbeat (since its daemon started).");
    for (const DeviceFacts& d : facts) {
      if (d.packets) w.Sample("picket_device_packets_total", {{"device", d.id}}, *d.packets);
    }
    w.Family("picket_device_drops_total", "counter",
             "Kernel and interface drops, from the device's newest heartbeat.");
    for (const DeviceFacts& d : facts) {
      if (d.drops) w.Sample("picket_device_drops_total", {{"device", d.id}}, *d.drops);
    }
    w.Family("picket_device_backlog_bytes", "gauge", "Bytes waiting for upload on the device.");
    for (const DeviceFacts& d : facts) {
      if (d.backlog_bytes)
        w.Sample("picket_device_backlog_bytes", {{"device", d.id}}, *d.backlog_bytes);
    }
    w.Family("picket_device_up", "gauge",
             "1 when the device is online or degraded, 0 when offline or never seen.");
    for (const DeviceFacts& d : facts) {
      const bool up = d.assessment.status == DeviceStatus::kOnline ||
                      d.assessment.status == DeviceStatus::kDegraded;
      w.Sample("picket_device_up", {{"device", d.id}}, up ? 1 : 0);
    }
    if (zk) {
      w.Family("picket_zookeeper_connected", "gauge", "1 when the last ZooKeeper read worked.");
      w.Sample("picket_zookeeper_connected", zk->connected ? 1 : 0);
    }
    return TextReply(wire::kHttpOk, w.Take(), kMetricsContentType);
  }
  return JsonError(wire::kHttpInternalError, "unhandled fleet endpoint");
}

}  // namespace picket::collector
