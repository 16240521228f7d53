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
using zk::AddGroupView;
using zk::BuildDeviceView;
using zk::DeviceView;

// What needs a look, one phrase each: the last error (or the row sync refused),
// the group row sync refused, the status node's config events (refusals,
// rollbacks), a crash loop, a lost ZooKeeper session.
std::vector<std::string> DeviceProblems(const DeviceView& d);
std::string FormatDevicesTable(const std::vector<DeviceView>& devices);
std::string FormatDevicesJson(const std::vector<DeviceView>& devices);

inline constexpr std::string_view kDevicesSummary = "list devices from ZooKeeper with their state";

inline constexpr std::string_view kDevicesUsage =
    "devices [--json] [--zk HOSTS] [--zk-root PATH]\n"
    "        [--zk-user USER --zk-password-file FILE | --zk-open-acl]\n"
    "        [--collector URL] [--token-file FILE]\n\n"
    "Reads <root>/devices/<id>/{config,status,sync} and the group's\n"
    "<root>/groups/<group>/{config,sync}: group, alive (the status ephemeral exists),\n"
    "STATUS (when a collector is configured: its liveness rule, GET /v1/fleet, which\n"
    "also counts heartbeats and uploads: online, degraded, offline, never_seen, and\n"
    "the first reason, e.g. a device whose ZooKeeper session is lost but uploads),\n"
    "CONFIG and GROUP_CONFIG (the device row's and the group row's version the device\n"
    "runs, then \" -> \" and the one ZooKeeper holds when they differ), the worker\n"
    "state, bytes pending upload and PROBLEMS: the last error (a device row refused\n"
    "by picket sync wins when newer), the group row refused by picket sync (on every\n"
    "device of the group), what the device reports under status \"config\" (refused,\n"
    "rolled back), a worker crash loop, a ZooKeeper session that is not connected.\n"
    "Versions print as the row's time, ISO 8601 UTC to the microsecond (each edit\n"
    "adds 1 us to the time the row was created), or as a plain counter below 10^15.\n\n"
    "  --json             one JSON array instead of the table: raw versions and\n"
    "                     *_version_text beside them, group_applied, sync_refusal,\n"
    "                     group_refusal, config_events, problems, crash_loop,\n"
    "                     status, status_reasons\n"
    "  --zk HOSTS         ZooKeeper HOST:PORT[,...] (default: \"zookeeper\" in the CLI config)\n"
    "  --zk-root PATH     znode root (default: \"zk_root\" in the CLI config, else /picket)\n"
    "  --zk-user USER, --zk-password-file FILE\n"
    "                     the fleet's admin ZooKeeper identity (default: \"zk_user\",\n"
    "                     \"zk_password_file\" in the CLI config); required unless\n"
    "  --zk-open-acl      UNSAFE: a ZooKeeper without credentials (or \"zk_open_acl\": true)\n"
    "  --collector URL, --token-file FILE\n"
    "                     the collector for STATUS (default: \"collector\", \"token_file\" in\n"
    "                     the CLI config); without one STATUS is \"-\"; a collector that\n"
    "                     does not answer is a note on stderr, not an error\n\n"
    "Exit codes: 0 listed, 1 ZooKeeper error, 2 bad flag or config.\n";

int RunDevicesCommand(std::span<char* const> args);

}  // namespace picket::cli
