// Watches a device's group config and device config znodes and delivers the
// merged document (device over group, objects merged deeply, arrays replaced)
// whenever it changes. A missing node counts as {}. It does not validate:
// a node that is not a JSON object is passed through as raw text so the
// validator refuses it (the device node's text wins when both are bad).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "picket/zk/zk_session.h"
#include "picket/zk/znode_layout.h"

namespace picket::zk {

struct ConfigWatcherOptions {
  std::string root = std::string(kDefaultRoot);
  std::string group;
  std::string device_id;
};

std::string GroupConfigPath(const ConfigWatcherOptions& options);   // <root>/groups/<group>/config
std::string DeviceConfigPath(const ConfigWatcherOptions& options);  // <root>/devices/<id>/config

class ConfigWatcher {
 public:
  // version: the device document's integer "version" field if present, else
  // the device znode's version (-1 when the device node is missing).
  // group_version: the same rule for the group node, so the device can report
  // which group row it applied (the merge keeps only the device's "version").
  using OnConfig = std::function<void(std::string merged_json, std::int64_t version,
                                      std::int64_t group_version)>;

  // Called on the session's thread, once both nodes have been read and then
  // whenever the (merged document, version) pair changes.
  ConfigWatcher(ZkSession& session, ConfigWatcherOptions options, OnConfig on_config);
  ~ConfigWatcher();  // unwatches; not from inside on_config
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // The merge and version rule, exposed for tests. Missing node: nullopt.
  static std::pair<std::string, std::int64_t> Merge(const std::optional<WatchEvent>& group,
                                                    const std::optional<WatchEvent>& device);
  // The group node's version by the same rule (-1 when it is missing).
  static std::int64_t GroupVersion(const std::optional<WatchEvent>& group);

 private:
  void OnNode(bool is_device, const WatchEvent& event);

  ZkSession& session_;
  ConfigWatcherOptions options_;
  OnConfig on_config_;
  std::mutex mu_;
  bool group_seen_ = false, device_seen_ = false;
  std::optional<WatchEvent> group_, device_;
  std::optional<std::tuple<std::string, std::int64_t, std::int64_t>> last_;
  ZkSession::WatchId group_watch_ = 0, device_watch_ = 0;
};

}  // namespace picket::zk
