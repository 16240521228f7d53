#include "incoming_config.h"

#include <nlohmann/json.hpp>

#include "picket/common/json_limits.h"
#include "picket/common/log.h"
#include "picket/common/config_check.h"
#include "picket/zk/json_merge.h"

namespace picket::supervisor {

namespace {

using nlohmann::json;

// Keys ZooKeeper may not change: they say who the device is, how it reaches
// ZooKeeper and where its buffer is, so a bad row cannot cut a device off;
// nor may a row loosen the worker's confinement (security).
constexpr const char* kLocalOnly[][2] = {{"device", "id"},      {"device", "group"},
                                         {"buffer", "dir"},     {"zookeeper", nullptr},
                                         {"security", nullptr}};

void PinLocalKeys(const json& local, json& merged) {
  for (const auto& key : kLocalOnly) {
    const json& from = key[1] ? local[key[0]][key[1]] : local[key[0]];
    json& to = key[1] ? merged[key[0]][key[1]] : merged[key[0]];
    if (to != from) {
      PICKET_LOG(kWarn, "supervisor", "ignoring a local-only key set in ZooKeeper",
                 {"key", std::string("/") + key[0] + (key[1] ? std::string("/") + key[1] : "")});
    }
    to = from;
  }
}

}  // namespace

ConfigCheck CheckZooKeeperConfig(const DaemonConfig& local, std::string_view zk_document,
                                 std::int64_t version, std::string* effective_json) {
  // Bounded before parsing: merging and dumping recurse once per level.
  json overlay = ParseJsonBounded(zk_document.empty() ? std::string_view("{}") : zk_document,
                                  kMaxConfigDepth);
  // Not an object (or too deep): the validator's own message says what is wrong with it.
  if (overlay.is_discarded() || !overlay.is_object()) return CheckDaemonConfigText(zk_document);
  // Merged and checked as parsed values; the text is only measured (the byte
  // limit) and kept as the last good copy.
  const json local_json = DaemonConfigToJsonValue(local);
  json merged = local_json;
  zk::DeepMerge(merged, overlay);
  PinLocalKeys(local_json, merged);
  merged["version"] = version;
  std::string text = merged.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxConfigBytes) {  // the byte limit is a property of the text
    ConfigCheck too_big;
    too_big.errors.push_back({"/", "document is " + std::to_string(text.size()) +
                                       " bytes, the limit is " + std::to_string(kMaxConfigBytes)});
    return too_big;
  }
  ConfigCheck check = CheckDaemonConfigValue(merged);
  if (check.ok() && effective_json) *effective_json = std::move(text);
  return check;
}

ConfigDelta CompareConfigs(const DaemonConfig& running, const DaemonConfig& next) {
  const json a = DaemonConfigToJsonValue(running);
  const json b = DaemonConfigToJsonValue(next);
  ConfigDelta d;
  json capture_a = a["capture"], capture_b = b["capture"];
  const bool filter_changed = capture_a["filter"] != capture_b["filter"];
  capture_a.erase("filter");
  capture_b.erase("filter");
  d.restart_worker = capture_a != capture_b || a["scans"] != b["scans"] ||
                     a["scan_max_probes"] != b["scan_max_probes"] ||
                     a["scan_max_pps"] != b["scan_max_pps"] ||
                     a["buffer"] != b["buffer"] ||
                     a["upload"]["collectors"] != b["upload"]["collectors"];
  d.filter_only = filter_changed && !d.restart_worker;
  d.uploads = a["upload"] != b["upload"];
  d.log_level = a["log"]["level"] != b["log"]["level"];
  return d;
}

}  // namespace picket::supervisor
