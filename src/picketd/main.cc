// picketd: the edge daemon. Thin: a table of subcommands over the modules.
#include <uv.h>

#include <cstdio>
#include <optional>
#include <span>

#include "picket/common/command_line.h"
#include "picket/common/version.h"
#include "picket/common/log.h"
#include "picket/scan/scan_command.h"
#include "picket/common/config_check.h"
#include "picket/supervisor/daemon.h"
#include "picket/worker/worker.h"
#include "picketd/edge_libraries.h"

namespace {

using picket::FlagParser;

int ReportFlagError(std::string_view command, const picket::Status& st) {
  return picket::ReportFlagError("picketd", command, st);
}

int RunVersion(std::span<char* const> args) {
  return picket::RunVersionCommand("picketd", picket::picketd::EdgeLibraryVersions(), args);
}

int RunCheckConfig(std::span<char* const> args) {
  FlagParser flags({"config"}, {"quiet"});
  if (auto st = flags.Parse(args); !st.ok()) return ReportFlagError("check-config", st);
  auto path = flags.Value("config");
  picket::ConfigCheck check = path ? picket::CheckDaemonConfigFile(*path)
                                   : picket::EmbeddedDefaultConfig();
  const std::string source = path ? *path : "(embedded defaults)";
  if (!check.ok()) {
    std::fputs(("picketd check-config: " + picket::FormatConfigErrors(source, check)).c_str(),
               stderr);
    return 1;
  }
  if (!flags.Has("quiet")) {
    std::printf("%s\n", picket::DaemonConfigToJson(check.config).c_str());
  }
  std::fprintf(stderr, "picketd check-config: %s is valid\n", source.c_str());
  return 0;
}

// Loads and fully validates the config for run/worker; prints every error on failure.
bool LoadConfig(std::string_view command, const std::optional<std::string>& path,
                picket::ConfigCheck* check) {
  *check = path ? picket::CheckDaemonConfigFile(*path)
                : picket::EmbeddedDefaultConfig();
  if (check->ok()) return true;
  const std::string origin = "config " + (path ? *path : std::string("(embedded defaults)"));
  std::fprintf(stderr, "picketd %.*s: %s", static_cast<int>(command.size()), command.data(),
               picket::FormatConfigErrors(origin, *check).c_str());
  return false;
}

void ApplyLogConfig(const picket::LogSection& log) {
  picket::log::SetLevel(log.level);
  if (!log.file.empty()) {
    if (auto st = picket::log::OpenFileSink({log.file, log.file_max_bytes, log.file_keep}); !st.ok()) {
      PICKET_LOG(kWarn, "supervisor", "log file unavailable, logging to stderr only", {"error", st});
    }
  }
}

int RunRun(std::span<char* const> args) {
  FlagParser flags({"config"}, {});
  if (auto st = flags.Parse(args); !st.ok()) return ReportFlagError("run", st);
  picket::ConfigCheck check;
  if (!LoadConfig("run", flags.Value("config"), &check)) return 1;
  ApplyLogConfig(check.config.log);
  char exe[4096];
  size_t exe_len = sizeof exe;
  if (uv_exepath(exe, &exe_len) != 0) {
    std::fprintf(stderr, "picketd run: cannot find its own executable path\n");
    return 1;
  }
  picket::supervisor::RunOptions options;
  options.config = check.config;
  options.config_source = flags.Value("config").value_or("(embedded defaults)");
  options.self_executable.assign(exe, exe_len);
  return picket::supervisor::RunDaemon(options);
}

int RunWorkerCommand(std::span<char* const> args) {
  FlagParser flags({"config"}, {"control"});
  if (auto st = flags.Parse(args); !st.ok()) return ReportFlagError("worker", st);
  picket::ConfigCheck check;
  if (!LoadConfig("worker", flags.Value("config"), &check)) return 1;
  ApplyLogConfig(check.config.log);
  return picket::worker::Run(check.config, flags.Has("control"));
}

constexpr picket::Command kCommands[] = {
    {"run", "run the daemon: capture worker, local buffer, uploads",
     "run [--config FILE]\n\n"
     "Runs picketd in the foreground (systemd/procd supervise it): starts `picketd worker`\n"
     "to capture into pcap chunks, keeps every chunk in the local SQLite buffer until the\n"
     "collector has it, and restarts the worker with backoff if it dies. SIGTERM/SIGINT stop\n"
     "both cleanly, sealing the open chunk. Every upload.heartbeat_interval (default 5s,\n"
     "0s: off) it POSTs its status document (versions, worker, counters, disk) to the\n"
     "collector, never stored and never retried. Without --config it runs on the embedded\n"
     "defaults: capture on lo, buffer in /var/lib/picketd, collector http://127.0.0.1:8750.\n"
     "Started as root it hands the buffer to security.user (default picketd, which must exist)\n"
     "and keeps CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_KILL; the worker becomes that user with\n"
     "CAP_NET_RAW only, NO_NEW_PRIVS and a seccomp allowlist (security.seccomp).\n"
     "  --config FILE   JSON config (see config/README.md)\n",
     RunRun},
    {"worker", "(internal) the capture process that `run` starts",
     "worker --config FILE [--control]\n\n"
     "Started by `picketd run`; not for direct use. Captures on the configured interface\n"
     "into crash-safe pcap chunks committed to the local buffer; SIGTERM seals the open\n"
     "chunk and exits. --control: stdin/stdout are the supervisor's control channel.\n",
     RunWorkerCommand},
    {"version", "print picketd's version and every linked library's",
     "version [--json]\n\n"
     "Prints picketd's version and the version of each library linked into it\n"
     "(libpcap, libuv, libcurl and its TLS/DNS backends, SQLite, ZooKeeper, Boost.Asio, ...).\n"
     "  --json   one JSON object instead of the table\n",
     RunVersion},
    {"check-config", "validate a config file and print the effective config",
     "check-config [--config FILE] [--quiet]\n\n"
     "Validates FILE (or, without --config, the embedded defaults) exactly as the daemon\n"
     "does before applying a config: JSON types and ranges, CIDRs, port lists, URLs,\n"
     "durations, sizes, unknown keys, and the BPF filter compiled with libpcap.\n"
     "On success prints the effective config (defaults filled in) and exits 0; otherwise\n"
     "lists every error with its JSON path on stderr and exits 1.\n"
     "  --config FILE   the JSON config to check\n"
     "  --quiet         do not print the effective config\n",
     RunCheckConfig},
    {"scan", picket::scan::kScanCommandSummary, picket::scan::kScanCommandUsage,
     picket::scan::RunScanCommand},
};

}  // namespace

int main(int argc, char** argv) {
  return picket::RunCommandTable("picketd", "picket's edge daemon: capture, scan, buffer, upload",
                                 kCommands, argc, argv);
}
