// How a config from ZooKeeper becomes the daemon's config, and what applying
// it takes. The local file stays the base: ZooKeeper's merged group+device
// document is laid over it, except for the keys only the device itself may
// set (its identity, its ZooKeeper settings and where its buffer lives).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "picket/common/daemon_config.h"

namespace picket::supervisor {

// Validates `zk_document` laid over `local` (the validator plus the BPF
// compile). `version` becomes the config's version. On success
// *effective_json is the merged document (stored as the last good config).
ConfigCheck CheckZooKeeperConfig(const DaemonConfig& local, std::string_view zk_document,
                                 std::int64_t version, std::string* effective_json);

struct ConfigDelta {
  bool restart_worker = false;  // capture (beyond the filter), scans, buffer budget, collectors
  bool filter_only = false;     // only capture.filter changed: pcap_setfilter, no restart
  bool uploads = false;         // upload settings: the upload scheduler is rebuilt
  bool log_level = false;
  bool any() const { return restart_worker || filter_only || uploads || log_level; }
};

ConfigDelta CompareConfigs(const DaemonConfig& running, const DaemonConfig& next);

}  // namespace picket::supervisor
