#include "picket/zk/fleet_views.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "picket/common/json_limits.h"
#include "picket/common/wire.h"
#include "picket/zk/zk_session.h"
#include "picket/zk/znode_layout.h"

namespace picket::zk {

namespace {

using nlohmann::json;

json ParseObjectOrNull(const std::optional<std::string>& text) {
  if (!text) return json();
  json j = ParseJsonBounded(*text);
  return j.is_object() ? j : json();
}

json ParseObject(const std::string& text) {
  json j = ParseJsonBounded(text);
  return j.is_object() ? j : json::object();
}

std::optional<std::int64_t> IntAt(const json& j, const json::json_pointer& p) {
  if (!j.is_object() || !j.contains(p)) return std::nullopt;
  const json& v = j.at(p);
  if (v.is_number_integer()) return v.get<std::int64_t>();
  return std::nullopt;
}

std::string StringAt(const json& j, const json::json_pointer& p) {
  if (!j.is_object() || !j.contains(p)) return {};
  const json& v = j.at(p);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::string OrDash(const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : "-"; }

ConfigEvent EventOf(std::string kind, const json& object) {
  ConfigEvent e;
  e.kind = std::move(kind);
  e.version = IntAt(object, json::json_pointer("/version"));
  e.group_version = IntAt(object, json::json_pointer("/group_version"));
  e.error = StringAt(object, json::json_pointer("/error"));
  if (e.error.empty()) e.error = StringAt(object, json::json_pointer("/reason"));
  return e;
}

std::optional<std::uint64_t> UintMember(const json& j, const char* key) {
  if (j.contains(key) && j[key].is_number_unsigned()) return j[key].get<std::uint64_t>();
  if (j.contains(key) && j[key].is_number_integer() && j[key].get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(j[key].get<std::int64_t>());
  }
  return std::nullopt;
}

// A string member; "" when absent or not a string (json::value would throw).
std::string TextMember(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<std::uint32_t> ShardNumber(std::string_view name, std::uint32_t shards) {
  std::uint32_t n = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
  if (name.empty() || ec != std::errc() || end != name.data() + name.size() || n >= shards) {
    return std::nullopt;
  }
  return n;
}

// How long a shard takes for `indices` permutation indices, paced as the scanners pace
// themselves (their own eta_s): SYN mode sends every retry at the rate and then waits
// for replies; connect mode retries only timeouts and ends with the last attempts' timeout.
struct ShardPace {
  double seconds_per_index = 0;
  double tail_s = 0;
  double Seconds(double indices) const { return indices * seconds_per_index + tail_s; }
};

ShardPace PaceOf(const SharedJobSpec& spec, std::chrono::milliseconds connect_timeout) {
  const bool syn = spec.mode == ScanMode::kSyn;
  const double probes_per_index = syn ? spec.retries + 1.0 : 1.0;
  const auto tail = syn ? spec.wait : connect_timeout;
  return {probes_per_index / static_cast<double>(std::max<std::uint64_t>(spec.rate_pps, 1)),
          std::chrono::duration<double>(tail).count()};
}

// Rough by design: the work left is spread over the shards claimed now, each at
// rate_pps (devices that join later make it shorter), but no sooner than the
// slowest of them ends. With none claimed nothing says when one will start, so
// the ETA is unknown rather than a guess.
void EstimateJobEta(JobStatusView& v, const ShardPace& pace) {
  if (v.done == v.shards) {
    v.eta_s = 0;
    return;
  }
  if (v.claimed == 0) {
    v.eta_unknown = "no shard running";
    return;
  }
  // Shards are interleaved strides of one permutation, so their sizes differ by at
  // most one: any known size (a done shard's checkpoint is its size) stands in for
  // a waiting shard's.
  std::uint64_t shard_size = 0;
  double slowest = 0;
  for (const auto& r : v.rows) {
    if (r.state == "claimed" && !r.eta_s) {
      v.eta_unknown = "shard " + std::to_string(r.shard) + " has not reported its size";
      return;
    }
    shard_size = std::max(shard_size, (r.state == "done" ? r.checkpoint : r.total).value_or(0));
    if (r.eta_s) slowest = std::max(slowest, *r.eta_s);
  }
  std::uint64_t indices_left = 0;
  for (const auto& r : v.rows) {
    if (r.state == "done") continue;
    const std::uint64_t size = r.total.value_or(shard_size);
    indices_left += size - std::min(size, r.checkpoint.value_or(0));  // waiting: maybe resumed
  }
  v.eta_s = std::max(slowest, pace.Seconds(static_cast<double>(indices_left) / v.claimed));
}

Result<std::optional<std::string>> GetIfExists(ZkSession& session, const std::string& path) {
  auto node = session.Get(path);
  if (node.ok()) return std::optional<std::string>(node->data);
  if (node.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  return node.status().WithContext(path);
}

Result<std::map<std::uint32_t, std::string>> ReadShardNodes(ZkSession& session,
                                                            const std::string& dir,
                                                            std::uint32_t shards) {
  std::map<std::uint32_t, std::string> out;
  auto children = session.GetChildren(dir);
  if (!children.ok()) {
    if (children.status().code() == StatusCode::kNotFound) return out;
    return children.status().WithContext(dir);
  }
  for (const auto& c : *children) {
    auto n = ShardNumber(c, shards);
    if (!n) continue;
    auto data = GetIfExists(session, ZnodeLayout::Child(dir, c));
    if (!data.ok()) return data.status();
    if (*data) out[*n] = **data;  // gone between listing and reading: skip
  }
  return out;
}

}  // namespace

DeviceView BuildDeviceView(std::string id, const std::optional<std::string>& config,
                           const std::optional<std::string>& status,
                           const std::optional<std::string>& sync) {
  DeviceView d;
  d.id = std::move(id);
  d.alive = status.has_value();
  d.desired_version = IntAt(ParseObjectOrNull(config), json::json_pointer("/version"));
  const json s = ParseObjectOrNull(status);
  d.group = StringAt(s, json::json_pointer("/group"));
  d.applied_version = IntAt(s, json::json_pointer("/config/applied_version"));
  d.last_error = StringAt(s, json::json_pointer("/last_error"));
  d.worker_state = StringAt(s, json::json_pointer("/worker/state"));
  if (auto pending = IntAt(s, json::json_pointer("/counters/bytes_pending"));
      pending && *pending >= 0) {
    d.bytes_pending = static_cast<std::uint64_t>(*pending);
  }
  d.applied_group_version = IntAt(s, json::json_pointer("/config/applied_group_version"));
  d.zookeeper = StringAt(s, json::json_pointer("/zookeeper"));
  const json::json_pointer crash_loop("/worker/crash_loop");
  d.crash_loop = s.is_object() && s.contains(crash_loop) && s.at(crash_loop).is_boolean() &&
                 s.at(crash_loop).get<bool>();
  if (const json::json_pointer config("/config"); s.is_object() && s.contains(config) &&
                                                   s.at(config).is_object()) {
    // Bounded by the parser's limits; each kind once (object keys are unique).
    for (const auto& [key, value] : s.at(config).items()) {
      if (value.is_object() && !value.empty()) d.config_events.push_back(EventOf(key, value));
    }
  }
  const json refusal = ParseObjectOrNull(sync);
  const std::string error = StringAt(refusal, json::json_pointer("/error"));
  const auto refused_version = IntAt(refusal, json::json_pointer("/version"));
  if (!error.empty() &&
      (!d.applied_version || !refused_version || *refused_version > *d.applied_version)) {
    d.last_error = "sync refused version " + OrDash(refused_version) + ": " + error;
    d.sync_refusal = EventOf("sync", refusal);
  }
  return d;
}

void AddGroupView(DeviceView& view, const std::optional<std::string>& group_config,
                  const std::optional<std::string>& group_sync) {
  view.desired_group_version = DocumentVersion(group_config);
  const json refusal = ParseObjectOrNull(group_sync);
  if (refusal.is_object() && !StringAt(refusal, json::json_pointer("/error")).empty()) {
    view.group_refusal = EventOf("group sync", refusal);
  }
}

std::optional<std::int64_t> DocumentVersion(const std::optional<std::string>& document) {
  return IntAt(ParseObjectOrNull(document), json::json_pointer("/version"));
}

JobStatusView BuildJobStatus(const SharedJobSpec& spec, const JobNodes& nodes,
                             std::chrono::milliseconds connect_timeout) {
  const ShardPace pace = PaceOf(spec, connect_timeout);
  JobStatusView v;
  v.job = spec.id;
  v.shards = spec.shards;
  for (std::uint32_t s = 0; s < spec.shards; ++s) {
    ShardView r;
    r.shard = s;
    if (auto it = nodes.progress.find(s); it != nodes.progress.end()) {
      r.checkpoint = UintMember(ParseObject(it->second), "checkpoint");
    }
    if (auto it = nodes.totals.find(s); it != nodes.totals.end()) r.total = it->second;
    if (auto it = nodes.done.find(s); it != nodes.done.end()) {
      const json d = ParseObject(it->second);
      r.state = "done";
      r.device = TextMember(d, "device");
      r.results = UintMember(d, "results");
      if (auto c = UintMember(d, "checkpoint")) r.checkpoint = c;
      r.eta_s = 0;
      ++v.done;
      v.results += r.results.value_or(0);
      if (!r.device.empty()) {
        ++v.devices[r.device].done;
        v.devices[r.device].results += r.results.value_or(0);
      }
    } else if (auto it = nodes.claims.find(s); it != nodes.claims.end()) {
      r.state = "claimed";
      r.device = TextMember(ParseObject(it->second), "device");
      if (r.total) {  // without a progress node nothing is checkpointed yet
        r.eta_s = pace.Seconds(
            static_cast<double>(*r.total - std::min(*r.total, r.checkpoint.value_or(0))));
      }
      ++v.claimed;
      if (!r.device.empty()) {
        DeviceShards& d = v.devices[r.device];
        ++d.claimed;
        if (auto p = nodes.device_pps.find(r.device); p != nodes.device_pps.end()) d.total_pps = p->second;
      }
    } else {
      r.state = "waiting";
      ++v.waiting;
    }
    v.rows.push_back(std::move(r));
  }
  EstimateJobEta(v, pace);
  return v;
}

Result<JobNodes> ReadJobNodes(ZkSession& session, const ZnodeLayout& layout,
                              const SharedJobSpec& spec) {
  const std::string& job = spec.id;
  JobNodes n;
  auto claims = ReadShardNodes(session, layout.JobClaims(job), spec.shards);
  if (!claims.ok()) return claims.status();
  auto progress = ReadShardNodes(session, layout.JobProgress(job), spec.shards);
  if (!progress.ok()) return progress.status();
  auto done = ReadShardNodes(session, layout.JobDone(job), spec.shards);
  if (!done.ok()) return done.status();
  n.claims = std::move(*claims);
  n.progress = std::move(*progress);
  n.done = std::move(*done);
  // A claimer's status node reports the shard's size and live checkpoint
  // ("scan":[{"job","shard","total","checkpoint"}]).
  std::map<std::string, json> statuses;
  for (const auto& [shard, data] : n.claims) {
    const std::string device = TextMember(ParseObject(data), "device");
    if (device.empty() || !wire::IsValidDeviceId(device)) continue;
    if (!statuses.count(device)) {
      auto s = GetIfExists(session, layout.DeviceStatus(device));
      statuses[device] = s.ok() && *s ? ParseObject(**s) : json::object();
    }
    const json& st = statuses[device];
    if (!st.contains("scan") || !st["scan"].is_array()) continue;
    double pps = 0;
    for (const json& e : st["scan"]) {
      if (e.is_object() && e.contains("pps") && e["pps"].is_number()) pps += e["pps"].get<double>();
    }
    n.device_pps[device] = pps;
    for (const json& e : st["scan"]) {
      if (e.is_object() && TextMember(e, "job") == job &&
          UintMember(e, "shard") == std::optional<std::uint64_t>(shard)) {
        // 0 until the worker reports the shard's size.
        if (auto t = UintMember(e, "total"); t && *t > 0) n.totals[shard] = *t;
        // The claimer's live checkpoint runs ahead of progress/<shard>, which
        // advances only every few seconds and once the results are uploaded.
        auto live = UintMember(e, "checkpoint");
        auto stored = n.progress.count(shard)
                          ? UintMember(ParseObject(n.progress[shard]), "checkpoint")
                          : std::nullopt;
        if (live && *live > stored.value_or(0)) {
          n.progress[shard] = json{{"checkpoint", *live}}.dump();
        }
      }
    }
  }
  return n;
}

}  // namespace picket::zk
