// `picket logs`: prints a device's log lines as the collector stored them,
// and with --follow keeps printing new ones as they arrive (GET /v1/logs and
// its server-sent-event follow mode, DESIGN.md §5).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <string_view>

namespace picket::cli {

inline constexpr std::string_view kLogsSummary = "print (and follow) a device's log lines";

inline constexpr std::string_view kLogsUsage =
    "logs --device ID [-f|--follow] [-n N] [--since DURATION] [--level LEVEL] [--json]\n"
    "            [--collector URL] [--token-file FILE]\n\n"
    "Like `journalctl -n N [-f]`: the newest N lines of the device, oldest first, then\n"
    "(with -f) every new line as the collector receives it.\n"
    "  --device ID        the device whose lines to print (exit 1 when the collector has\n"
    "                     never heard of it; with -f a warning, and it waits for it)\n"
    "  -f, --follow       keep printing new lines as the collector receives them;\n"
    "                     reconnects with backoff (sending Last-Event-ID); Ctrl-C exits 0\n"
    "  -n, --lines N      the newest N lines first (1..10000; default 10 with -f, else 1000)\n"
    "  --since DURATION   instead: every line received in the last DURATION (e.g. 10m,\n"
    "                     2h), oldest first; with -n, the first N of them\n"
    "  --level LEVEL      only lines at LEVEL or worse: error, warn, info, debug, trace\n"
    "                     (filtered after fetching: -n counts lines before the filter)\n"
    "  --limit N          the same as -n (kept for scripts)\n"
    "  --json             one stored JSON row per line instead of '<device> <line>'\n"
    "  --collector URL    collector base URL (default: \"collector\" in the CLI config)\n"
    "  --token-file FILE  operator token (default: \"token_file\" in the CLI config;\n"
    "                     none: no Authorization header, for --insecure-no-auth collectors)\n\n"
    "The CLI config is $PICKET_CLI_CONFIG, else ~/.config/picket/cli.json.\n"
    "Exit codes: 0 done (or interrupted while following), 1 collector or network error,\n"
    "2 bad flag or config.\n";

int RunLogsCommand(std::span<char* const> args);

// The text of one stored row: the device ships {"line": "..."} documents (and
// {"dropped_lines": N} when its queue overflowed), which the collector keeps
// whole in "line".
std::string LogLineText(const nlohmann::json& row);

}  // namespace picket::cli
