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

#include "picket/zk/fleet_views.h"

namespace picket::cli {

// The view and its builder live in the zk module (the collector computes the
// same rows for GET /v1/fleet).
using zk::BuildDeviceView;
using zk::DeviceView;

std::string FormatDevicesTable(const std::vector<DeviceView>& devices);
std::string FormatDevicesJson(const std::vector<DeviceView>& devices);

inline constexpr std::string_view kDevicesSummary = "list devices from ZooKeeper with their state";

inline constexpr std::string_view kDevicesUsage =
    "devices [--json] [--zk HOSTS] [--zk-root PATH]\n"
    "        [--zk-user USER --zk-password-file FILE | --zk-open-acl]\n\n"
    "Reads <root>/devices/<id>/{config,status,sync}: group, alive (the status ephemeral\n"
    "exists), applied vs desired config version, last error (a refusal by picket sync\n"
    "wins when newer), bytes pending upload and the worker state.\n\n"
    "  --json             one JSON array instead of the table\n"
    "  --zk HOSTS         ZooKeeper HOST:PORT[,...] (default: \"zookeeper\" in the CLI config)\n"
    "  --zk-root PATH     znode root (default: \"zk_root\" in the CLI config, else /picket)\n"
    "  --zk-user USER, --zk-password-file FILE\n"
    "                     the fleet's admin ZooKeeper identity (default: \"zk_user\",\n"
    "                     \"zk_password_file\" in the CLI config); required unless\n"
    "  --zk-open-acl      UNSAFE: a ZooKeeper without credentials (or \"zk_open_acl\": true)\n\n"
    "Exit codes: 0 listed, 1 ZooKeeper error, 2 bad flag or config.\n";

int RunDevicesCommand(std::span<char* const> args);

}  // namespace picket::cli
