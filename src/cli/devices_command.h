// `picket devices`: every device under <root>/devices in ZooKeeper, with what
// it runs (applied vs desired config version), whether it is alive (its
// ephemeral status node exists) and its last error.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace picket::cli {

struct DeviceView {
  std::string id;
  std::string group;                            // "" when unknown (no status)
  bool alive = false;                           // the status ephemeral exists
  std::optional<std::int64_t> applied_version;  // status.config.applied_version
  std::optional<std::int64_t> desired_version;  // "version" in <id>/config
  std::string last_error;                       // "" when none
  std::optional<std::uint64_t> bytes_pending;   // status.counters.bytes_pending
  std::string worker_state;                     // status.worker.state, "" when unknown
};

// Pure: builds the view from the three nodes' data (nullopt: no such node).
// The sync refusal (<id>/sync {"version","error"}) wins over status.last_error
// when its version is newer than the applied one (or nothing is applied).
DeviceView BuildDeviceView(std::string id, const std::optional<std::string>& config,
                           const std::optional<std::string>& status,
                           const std::optional<std::string>& sync);

std::string FormatDevicesTable(const std::vector<DeviceView>& devices);
std::string FormatDevicesJson(const std::vector<DeviceView>& devices);

inline constexpr std::string_view kDevicesSummary = "list devices from ZooKeeper with their state";

inline constexpr std::string_view kDevicesUsage =
    "devices [--json] [--zk HOSTS] [--zk-root PATH] [--zk-user USER --zk-password-file FILE]\n\n"
    "Reads <root>/devices/<id>/{config,status,sync}: group, alive (the status ephemeral\n"
    "exists), applied vs desired config version, last error (a refusal by picket sync\n"
    "wins when newer), bytes pending upload and the worker state.\n\n"
    "  --json             one JSON array instead of the table\n"
    "  --zk HOSTS         ZooKeeper HOST:PORT[,...] (default: \"zookeeper\" in the CLI config)\n"
    "  --zk-root PATH     znode root (default: \"zk_root\" in the CLI config, else /picket)\n"
    "  --zk-user USER, --zk-password-file FILE\n"
    "                     ZooKeeper digest credentials, when the tree has ACLs (default:\n"
    "                     \"zk_user\", \"zk_password_file\" in the CLI config)\n\n"
    "Exit codes: 0 listed, 1 ZooKeeper error, 2 bad flag or config.\n";

int RunDevicesCommand(std::span<char* const> args);

}  // namespace picket::cli
