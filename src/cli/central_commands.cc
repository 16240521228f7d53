#include "picket/cli/central_commands.h"

#include <cstdio>

#include "cli/chunks_command.h"
#include "cli/config_command.h"
#include "cli/devices_command.h"
#include "cli/logs_command.h"
#include "cli/scan_jobs_command.h"
#include "cli/sessions_command.h"
#include "cli/zk_command.h"
#include "picket/collector/collector_command.h"
#include "picket/collector/library_info.h"
#include "picket/collector/token_command.h"
#include "picket/common/version.h"
#include "picket/common/config_check.h"
#include "picket/sync/sync_command.h"

namespace picket::cli {

namespace {

int ReportFlagError(std::string_view command, const Status& st) {
  return picket::ReportFlagError("picket", command, st);
}

int RunVersion(std::span<char* const> args) {
  return RunVersionCommand("picket", collector::CentralLibraryVersions(), args);
}

// Operators check a device config before it goes into MariaDB, with the
// daemon's own validator, so the CLI never accepts what a device would refuse.
int RunCheckConfig(std::span<char* const> args) {
  FlagParser flags({"file"}, {});
  if (auto st = flags.Parse(args); !st.ok()) return ReportFlagError("check-config", st);
  auto path = flags.Value("file");
  if (!path) return ReportFlagError("check-config", Status::InvalidArgument("--file is required"));
  ConfigCheck check = CheckDaemonConfigFile(*path);
  if (!check.ok()) {
    std::fputs(("picket check-config: " + FormatConfigErrors(*path, check)).c_str(), stderr);
    return 1;
  }
  std::printf("%s is a valid device config\n", path->c_str());
  return 0;
}

constexpr Command kCommands[] = {
    {"version", "print picket's version and every linked library's",
     "version [--json]\n\n  --json   one JSON object instead of the table\n", RunVersion},
    {"check-config", "validate a device config with the daemon's own validator",
     "check-config --file FILE\n\n"
     "Validates FILE as picketd would before applying it (types, ranges, CIDRs, ports,\n"
     "URLs, durations, sizes, unknown keys, BPF filter). Exits 1 and lists every error\n"
     "with its JSON path when it is invalid.\n",
     RunCheckConfig},
    {"collector", collector::kCollectorSummary, collector::kCollectorUsage,
     collector::RunCollectorCommand},
    {"token", collector::kTokenSummary, collector::kTokenUsage, collector::RunTokenCommand},
    {"sync", sync::kSyncSummary, sync::kSyncUsage, sync::RunSyncCommand},
    {"logs", kLogsSummary, kLogsUsage, RunLogsCommand},
    {"devices", kDevicesSummary, kDevicesUsage, RunDevicesCommand},
    {"config", kConfigSummary, kConfigUsage, RunConfigCommand},
    {"scan", kScanSummary, kScanUsage, RunScanJobsCommand},
    {"sessions", kSessionsSummary, kSessionsUsage, RunSessionsCommand},
    {"chunks", kChunksSummary, kChunksUsage, RunChunksCommand},
    {"zk", kZkSummary, kZkUsage, RunZkCommand},
};

}  // namespace

std::span<const Command> CentralCommands() { return kCommands; }

}  // namespace picket::cli
