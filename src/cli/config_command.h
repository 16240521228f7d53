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
    "       config set DEVICE|--group GROUP (--file FILE | --json '{...}') [--db URL]\n\n"
    "get prints the row's config JSON from MariaDB (table devices, or device_groups\n"
    "with --group). set validates the config with picketd's own validator (as\n"
    "`picket check-config` does); when it is invalid every error is printed with its\n"
    "JSON path, nothing is written and the exit code is 1. Otherwise the row is\n"
    "updated (or inserted) and the new version is printed; `picket sync` pushes it.\n\n"
    "  --group GROUP      the group's row instead of a device's\n"
    "  --file FILE        the new config (set)\n"
    "  --json TEXT        the new config inline (set)\n"
    "  --db URL           mysql://USER[:PASS]@HOST[:PORT]/DB (default: \"db\" in the CLI\n"
    "                     config); PICKET_DB_PASSWORD overrides the password\n\n"
    "Exit codes: 0 done, 1 invalid config, no such row or database error, 2 bad flag.\n";

int RunConfigCommand(std::span<char* const> args);

}  // namespace picket::cli
