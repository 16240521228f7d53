// `picket config get|set`: a device's (or group's) config row in MariaDB.
// `set` validates with picketd's own validator first and writes nothing when
// it refuses; the triggers bump the row version and `picket sync` pushes it.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "picket/common/daemon_config.h"

namespace picket::cli {

inline constexpr std::string_view kConfigSummary =
    "print or change a device's or group's config row";

inline constexpr std::string_view kConfigUsage =
    "config get DEVICE|--group GROUP [--db URL]\n"
    "       config set DEVICE|--group GROUP (--file FILE | --json '{...}') [--db URL]\n"
    "       config effective DEVICE [--group GROUP] [--json] [--zk HOSTS] [--zk-root PATH]\n"
    "              [--zk-user USER --zk-password-file FILE | --zk-open-acl]\n\n"
    "get prints the row's config JSON from MariaDB (table devices, or device_groups\n"
    "with --group). A row picket sync refuses (its validator, the devices' own) is\n"
    "printed after a line \"// refused: <reason>\", and stderr says that the devices\n"
    "keep the last version sync accepted.\n"
    "set validates the config with picketd's own validator (as `picket check-config`\n"
    "does); when it is invalid every error is printed with its JSON path, nothing is\n"
    "written and the exit code is 1. Otherwise the row is updated (or inserted) and\n"
    "the new version is printed (readable, then \"raw N\"); `picket sync` pushes it.\n"
    "effective prints what DEVICE builds from ZooKeeper: its group's config node with\n"
    "its own laid over it (objects merged key by key, the device's values win; the\n"
    "device's own merge code), after \"//\" lines naming both versions and whether the\n"
    "device reports it runs them (status applied_version and applied_group_version);\n"
    "the document's raw \"version\" is left out there (--json keeps it).\n"
    "picketd lays this over its local file (device.id, group, zookeeper, ...).\n"
    "Versions print as the row's time, ISO 8601 UTC (see `picket devices --help`).\n\n"
    "  --group GROUP      get/set: the group's row instead of a device's;\n"
    "                     effective: the group when the device is not running\n"
    "  --file FILE        the new config (set)\n"
    "  --json TEXT        the new config inline (set); effective: one JSON object\n"
    "                     {device, group, config, version, group_version, *_text,\n"
    "                     alive, applied_version, applied_group_version, runs_effective}\n"
    "  --db URL           mysql://USER[:PASS]@HOST[:PORT]/DB (default: \"db\" in the CLI\n"
    "                     config); PICKET_DB_PASSWORD overrides the password\n"
    "  --zk HOSTS, --zk-root PATH, --zk-user USER, --zk-password-file FILE, --zk-open-acl\n"
    "                     effective: ZooKeeper, as for `picket devices`\n\n"
    "Exit codes: 0 done, 1 invalid config, no such row or node, database or ZooKeeper\n"
    "error, 2 bad flag or config.\n";

int RunConfigCommand(std::span<char* const> args);

}  // namespace picket::cli
