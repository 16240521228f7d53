// picketd: the edge daemon. Thin: a table of subcommands over the modules.
#include <cstdio>
#include <span>

#include "picket/common/command_line.h"
#include "picket/common/version.h"
#include "picket/supervisor/config_loader.h"
#include "picket/supervisor/library_info.h"

namespace {

using picket::FlagParser;

int ReportFlagError(std::string_view command, const picket::Status& st) {
  std::fprintf(stderr, "picketd %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               st.message().c_str());
  return 2;
}

int RunVersion(std::span<char* const> args) {
  FlagParser flags({}, {"json"});
  if (auto st = flags.Parse(args); !st.ok()) return ReportFlagError("version", st);
  std::fputs(picket::FormatVersionReport("picketd", picket::supervisor::EdgeLibraryVersions(),
                                         flags.Has("json"))
                 .c_str(),
             stdout);
  return 0;
}

int RunCheckConfig(std::span<char* const> args) {
  FlagParser flags({"config"}, {"quiet"});
  if (auto st = flags.Parse(args); !st.ok()) return ReportFlagError("check-config", st);
  auto path = flags.Value("config");
  picket::ConfigCheck check = path ? picket::supervisor::CheckDaemonConfigFile(*path)
                                   : picket::supervisor::EmbeddedDefaultConfig();
  const std::string source = path ? *path : "(embedded defaults)";
  if (!check.ok()) {
    std::fprintf(stderr, "picketd check-config: %s is invalid, %zu error(s):\n", source.c_str(),
                 check.errors.size());
    for (const auto& e : check.errors) std::fprintf(stderr, "  %s\n", e.ToString().c_str());
    return 1;
  }
  if (!flags.Has("quiet")) {
    std::printf("%s\n", picket::DaemonConfigToJson(check.config).c_str());
  }
  std::fprintf(stderr, "picketd check-config: %s is valid\n", source.c_str());
  return 0;
}

constexpr picket::Command kCommands[] = {
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
};

}  // namespace

int main(int argc, char** argv) {
  return picket::RunCommandTable("picketd", "picket's edge daemon: capture, scan, buffer, upload",
                                 kCommands, argc, argv);
}
