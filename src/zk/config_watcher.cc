#include "picket/zk/config_watcher.h"

#include <nlohmann/json.hpp>

#include "picket/common/log.h"
#include "picket/zk/json_merge.h"
#include "picket/zk/znode_layout.h"

namespace picket::zk {

std::string GroupConfigPath(const ConfigWatcherOptions& o) {
  return ZnodeLayout(o.root).GroupConfig(o.group);
}
std::string DeviceConfigPath(const ConfigWatcherOptions& o) {
  return ZnodeLayout(o.root).DeviceConfig(o.device_id);
}

ConfigWatcher::ConfigWatcher(ZkSession& session, ConfigWatcherOptions options, OnConfig on_config)
    : session_(session), options_(std::move(options)), on_config_(std::move(on_config)) {
  group_watch_ = session_.Watch(GroupConfigPath(options_),
                                [this](const WatchEvent& e) { OnNode(false, e); });
  device_watch_ = session_.Watch(DeviceConfigPath(options_),
                                 [this](const WatchEvent& e) { OnNode(true, e); });
}

ConfigWatcher::~ConfigWatcher() {
  session_.Unwatch(group_watch_);
  session_.Unwatch(device_watch_);
}

std::pair<std::string, std::int64_t> ConfigWatcher::Merge(const std::optional<WatchEvent>& group,
                                                          const std::optional<WatchEvent>& device) {
  std::string_view group_text = group ? std::string_view(group->data) : std::string_view();
  std::string_view device_text = device ? std::string_view(device->data) : std::string_view();
  std::int64_t version = device ? device->version : -1;
  // Each node's text is parsed once, here; the merged document is serialised
  // once, for the hand-over to the loop.
  auto parsed_group = ParseJsonObjectDocument(group_text, "group document");
  auto parsed_device = ParseJsonObjectDocument(device_text, "device document");
  if (device && parsed_device.ok()) {
    auto v = parsed_device->find("version");
    if (v != parsed_device->end() && v->is_number_integer()) version = v->get<std::int64_t>();
  }
  std::string merged;
  if (parsed_group.ok() && parsed_device.ok()) {
    DeepMerge(*parsed_group, *parsed_device);
    merged = parsed_group->dump();
  } else {
    // Not mergeable: hand the offending text on so validation refuses it.
    merged = parsed_device.ok() ? std::string(group_text) : std::string(device_text);
  }
  return {std::move(merged), version};
}

std::int64_t ConfigWatcher::GroupVersion(const std::optional<WatchEvent>& group) {
  if (!group) return -1;
  auto parsed = ParseJsonObjectDocument(group->data, "group document");
  if (parsed.ok()) {
    auto v = parsed->find("version");
    if (v != parsed->end() && v->is_number_integer()) return v->get<std::int64_t>();
  }
  return group->version;
}

void ConfigWatcher::OnNode(bool is_device, const WatchEvent& event) {
  std::tuple<std::string, std::int64_t, std::int64_t> merged;
  {
    std::lock_guard lock(mu_);
    std::optional<WatchEvent> value;
    if (event.exists) value = event;
    if (is_device) {
      device_ = std::move(value);
      device_seen_ = true;
    } else {
      group_ = std::move(value);
      group_seen_ = true;
    }
    if (!group_seen_ || !device_seen_) return;
    auto [document, version] = Merge(group_, device_);
    merged = {std::move(document), version, GroupVersion(group_)};
    if (last_ && *last_ == merged) return;
    last_ = merged;
  }
  auto& [document, version, group_version] = merged;
  PICKET_LOG(kInfo, "zk", "config changed", {"version", version}, {"group_version", group_version},
             {"bytes", document.size()}, {"node", event.path});
  on_config_(std::move(document), version, group_version);
}

}  // namespace picket::zk
