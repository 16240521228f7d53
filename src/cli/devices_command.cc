#include "cli/devices_command.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/collector_client.h"
#include "cli/fleet_reads.h"
#include "cli/operator_support.h"
#include "picket/common/json_limits.h"
#include "picket/common/wire.h"
#include "picket/zk/zk_session.h"
#include "picket/zk/znode_layout.h"

namespace picket::cli {

namespace {

using nlohmann::json;

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

template <typename T>
std::string OrDash(const std::optional<T>& v) {
  return v ? std::to_string(*v) : "-";
}

// "<applied>" when the device runs what is desired, else "<applied> -> <desired>".
std::string VersionCell(std::optional<std::int64_t> applied, std::optional<std::int64_t> desired) {
  if (!applied && !desired) return "-";
  if (applied == desired) return FormatVersion(applied);
  return FormatVersion(applied) + " -> " + FormatVersion(desired);
}

json OrNull(std::optional<std::int64_t> v) { return v ? json(*v) : json(); }
json TextOrNull(const std::string& s) { return s.empty() ? json() : json(s); }

// "refused version V (group G): error", versions readable.
std::string DescribeEvent(const zk::ConfigEvent& e, std::string_view what) {
  std::string out(what);
  if (e.version) out += " version " + FormatVersion(e.version);
  if (e.group_version) out += " (group version " + FormatVersion(e.group_version) + ")";
  if (!e.error.empty()) out += ": " + e.error;
  return out;
}

json EventJson(const zk::ConfigEvent& e) {
  return {{"kind", e.kind},
          {"version", OrNull(e.version)},
          {"version_text", e.version ? json(FormatVersion(e.version)) : json()},
          {"group_version", OrNull(e.group_version)},
          {"error", TextOrNull(e.error)}};
}

// Whether the device runs the group row ZooKeeper holds; nullopt: cannot tell
// (no group, a dead device, or no group node).
std::optional<bool> GroupApplied(const DeviceView& d) {
  if (d.group.empty() || !d.alive || !d.desired_group_version) return std::nullopt;
  return d.applied_group_version == d.desired_group_version;
}

// Texts written by devices name versions raw ("config version 1796326396977529
// refused: ..."): the table prints every 16-digit number in them as FormatVersion does.
std::string ReadableVersions(const std::string& text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j == i) {
      out += text[i++];
      continue;
    }
    const bool alone = (i == 0 || !std::isalnum(static_cast<unsigned char>(text[i - 1]))) &&
                       (j == text.size() || !std::isalnum(static_cast<unsigned char>(text[j])));
    out += alone && j - i == 16 ? FormatVersion(std::stoll(text.substr(i, j - i)))
                                : text.substr(i, j - i);
    i = j;
  }
  return out;
}

}  // namespace

std::vector<std::string> DeviceProblems(const DeviceView& d) {
  std::vector<std::string> out;
  if (d.sync_refusal) {
    out.push_back(DescribeEvent(*d.sync_refusal, "sync refused device row"));
  } else if (!d.last_error.empty()) {
    out.push_back(d.last_error);
  }
  if (d.group_refusal) {
    out.push_back(DescribeEvent(*d.group_refusal, "sync refused group " + d.group + " row"));
  }
  for (const auto& e : d.config_events) {
    // picketd's own refusal is in last_error already, word for word.
    if (e.kind == "refused" && !e.error.empty() && d.last_error.find(e.error) != std::string::npos) {
      continue;
    }
    out.push_back(DescribeEvent(e, e.kind == "refused" ? "device refused" : e.kind));
  }
  if (d.crash_loop) out.push_back("worker crash loop");
  if (d.alive && !d.zookeeper.empty() && d.zookeeper != "connected") {
    out.push_back("zookeeper " + d.zookeeper);
  }
  return out;
}

std::string FormatDevicesTable(const std::vector<DeviceView>& devices) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : devices) {
    std::string problems;
    for (const auto& p : DeviceProblems(d)) {
      problems += (problems.empty() ? "" : "; ") + ReadableVersions(p);
    }
    std::string status = OrDash(d.collector_status);
    if (!d.collector_reasons.empty() && d.collector_status != "online") {
      status += " (" + OneLineText(d.collector_reasons.front()) + ")";
    }
    rows.push_back({d.id, OrDash(d.group), d.alive ? "yes" : "no", status,
                    VersionCell(d.applied_version, d.desired_version),
                    d.group.empty() ? "-" : VersionCell(d.applied_group_version, d.desired_group_version),
                    OrDash(d.worker_state), OrDash(d.bytes_pending), OrDash(problems)});
  }
  return FormatTable({"DEVICE", "GROUP", "ALIVE", "STATUS", "CONFIG(applied[ -> desired])", "GROUP_CONFIG",
                      "WORKER", "PENDING_BYTES", "PROBLEMS"},
                     rows);
}

std::string FormatDevicesJson(const std::vector<DeviceView>& devices) {
  json out = json::array();
  for (const auto& d : devices) {
    json events = json::array();
    for (const auto& e : d.config_events) events.push_back(EventJson(e));
    json problems = json::array();
    for (const auto& p : DeviceProblems(d)) problems.push_back(p);
    const auto group_applied = GroupApplied(d);
    json j = {{"id", d.id},
              {"group", TextOrNull(d.group)},
              {"alive", d.alive},
              {"applied_version", OrNull(d.applied_version)},
              {"desired_version", OrNull(d.desired_version)},
              {"applied_version_text", FormatVersion(d.applied_version)},
              {"desired_version_text", FormatVersion(d.desired_version)},
              {"applied_group_version", OrNull(d.applied_group_version)},
              {"desired_group_version", OrNull(d.desired_group_version)},
              {"applied_group_version_text", FormatVersion(d.applied_group_version)},
              {"desired_group_version_text", FormatVersion(d.desired_group_version)},
              {"group_applied", group_applied ? json(*group_applied) : json()},
              {"last_error", TextOrNull(d.last_error)},
              {"sync_refusal", d.sync_refusal ? EventJson(*d.sync_refusal) : json()},
              {"group_refusal", d.group_refusal ? EventJson(*d.group_refusal) : json()},
              {"config_events", std::move(events)},
              {"problems", std::move(problems)},
              {"bytes_pending", d.bytes_pending ? json(*d.bytes_pending) : json()},
              {"worker_state", TextOrNull(d.worker_state)},
              {"crash_loop", d.crash_loop},
              {"zookeeper", TextOrNull(d.zookeeper)},
              {"status", TextOrNull(d.collector_status)},
              {"status_reasons", d.collector_reasons}};
    out.push_back(std::move(j));
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

// The collector's view of each device (its liveness rule counts heartbeats and
// uploads, so a device that lost ZooKeeper but still uploads is not "dead").
// Only when a collector is configured; its failure is a note, not an error:
// ZooKeeper's view stands alone.
void AddCollectorStatus(const FlagParser& flags, std::vector<DeviceView>& views) {
  auto config = LoadCliConfig();
  if (!config.ok() || (!flags.Value("collector") && !config->collector)) return;
  auto collector = ResolveCollector(flags, *config);
  if (!collector.ok()) {
    std::fprintf(stderr, "picket devices: STATUS unknown: %s\n", collector.status().message().c_str());
    return;
  }
  const std::string path = "/v1/fleet";
  std::string body;
  CollectorTransfer t = CollectorGet(*collector, path, [&body](std::string_view data) {
    body.append(data);
    return body.size() <= (64u << 20);
  });
  json fleet;
  if (std::string why = TransferError(*collector, path, t); !why.empty()) {
    std::fprintf(stderr, "picket devices: STATUS unknown: %s\n", why.c_str());
    return;
  }
  fleet = ParseJsonBounded(body, kMaxJsonAnswerDepth);
  if (!fleet.is_object() || !fleet.contains("devices") || !fleet["devices"].is_array()) {
    std::fprintf(stderr, "picket devices: STATUS unknown: %s%s: not a fleet answer\n",
                 collector->base_url.c_str(), path.c_str());
    return;
  }
  std::map<std::string, const json*> rows;
  for (const json& row : fleet["devices"]) {
    if (row.is_object() && row.contains("id") && row["id"].is_string()) {
      rows[row["id"].get<std::string>()] = &row;
    }
  }
  for (DeviceView& v : views) {
    auto it = rows.find(v.id);
    if (it == rows.end()) continue;
    const json& row = *it->second;
    if (row.contains("status") && row["status"].is_string()) v.collector_status = row["status"];
    if (row.contains("reasons") && row["reasons"].is_array()) {
      for (const json& r : row["reasons"]) {
        if (r.is_string()) v.collector_reasons.push_back(r.get<std::string>());
      }
    }
  }
}

namespace {

// How row changes reach the fleet, from the sync leader's status node ("" without one).
std::string SyncNote(const std::optional<zk::NodeData>& node) {
  if (!node) return "";
  const json doc = json::parse(node->data.substr(0, 4096), nullptr, false);
  if (!doc.is_object() || !doc.contains("doorbell") || !doc["doorbell"].is_string()) return "";
  const std::string doorbell = doc["doorbell"].get<std::string>();
  if (doorbell == "binlog") return "sync: changes follow MariaDB's binary log (synced at commit)";
  std::string note = "sync: " + OneLineText(doorbell);
  if (doc.contains("poll_interval_ms") && doc["poll_interval_ms"].is_number_integer()) {
    note += " (every " + std::to_string(doc["poll_interval_ms"].get<std::int64_t>()) + " ms)";
  }
  return note;
}

}  // namespace

int RunDevicesCommand(std::span<char* const> args) {
  constexpr std::string_view kName = "devices";
  FlagParser flags({"zk", "zk-root", "zk-user", "zk-password-file", "collector", "token-file"},
                   {"json", "zk-open-acl"});
  if (auto st = flags.Parse(args); !st.ok()) return Fail(kName, st.message(), 2);
  int exit_code = 0;
  auto connection = OpenZkOrFail(kName, flags, &exit_code);
  if (!connection) return exit_code;
  const zk::ZnodeLayout layout(connection->address.root);
  zk::ZkSession& zk = *connection->session;

  auto ids = ChildrenIfExists(zk, layout.Devices());
  if (!ids.ok()) return Fail(kName, ids.status().ToString(), 1);
  // Every node read pipelined, over several sessions for a big fleet: 3 per
  // device, then 2 per group (one round trip each would take seconds for
  // thousands of devices).
  std::vector<std::string> paths;
  paths.reserve(ids->size() * 3);
  for (const std::string& id : *ids) {
    paths.push_back(layout.DeviceConfig(id));
    paths.push_back(layout.DeviceStatus(id));
    paths.push_back(layout.DeviceSyncError(id));
  }
  paths.push_back(layout.SyncStatus());
  auto nodes = ReadNodes(*connection, paths);
  if (!nodes.ok()) return Fail(kName, nodes.status().ToString(), 1);
  if (const std::string note = SyncNote(nodes->back()); !note.empty()) {
    std::fprintf(stderr, "picket devices: %s\n", note.c_str());
  }
  const auto data_of = [](const std::optional<zk::NodeData>& n) {
    return n ? std::optional<std::string>(n->data) : std::nullopt;
  };
  std::vector<DeviceView> views;
  views.reserve(ids->size());
  for (std::size_t i = 0; i < ids->size(); ++i) {
    views.push_back(BuildDeviceView((*ids)[i], data_of((*nodes)[3 * i]), data_of((*nodes)[3 * i + 1]),
                                    data_of((*nodes)[3 * i + 2])));
  }
  // Each group's nodes once, whatever the number of its devices.
  std::vector<std::string> group_names;
  for (const DeviceView& v : views) {
    if (v.group.empty() || !wire::IsValidDeviceId(v.group)) continue;  // names a znode: checked
    group_names.push_back(v.group);
  }
  std::sort(group_names.begin(), group_names.end());
  group_names.erase(std::unique(group_names.begin(), group_names.end()), group_names.end());
  paths.clear();
  for (const std::string& g : group_names) {
    paths.push_back(layout.GroupConfig(g));
    paths.push_back(layout.GroupSyncError(g));
  }
  auto group_nodes = zk.GetMany(paths);
  if (!group_nodes.ok()) return Fail(kName, group_nodes.status().ToString(), 1);
  std::map<std::string, std::size_t> group_index;
  for (std::size_t i = 0; i < group_names.size(); ++i) group_index[group_names[i]] = i;
  for (DeviceView& v : views) {
    auto it = group_index.find(v.group);
    if (it == group_index.end()) continue;
    AddGroupView(v, data_of((*group_nodes)[2 * it->second]), data_of((*group_nodes)[2 * it->second + 1]));
  }
  AddCollectorStatus(flags, views);
  const std::string text = flags.Has("json") ? FormatDevicesJson(views) : FormatDevicesTable(views);
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace picket::cli
