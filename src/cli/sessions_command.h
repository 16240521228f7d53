// `picket sessions`: the sessions of a capture file read offline (--read, like
// `tshark -r`), or those the collector stored (sessions_online.h). This file
// owns the dispatch between the forms and the offline reader.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "picket/analysis/analyzer.h"
#include "picket/common/status.h"

namespace picket::cli {

inline constexpr std::string_view kSessionsSummary =
    "list sessions: of a capture file (--read) or stored by the collector";

inline constexpr std::string_view kSessionsUsage =
    "sessions --read FILE [--json [--packets]] [--features N] [--no-labels]\n"
    "                       [--tcp-idle DUR] [--udp-idle DUR] [--icmp-idle DUR] [--other-idle DUR]\n"
    "       picket sessions [--device D] [--since T] [--until T] [filters] [--json] [--limit N]\n"
    "       picket sessions show ID [--json]\n"
    "       picket sessions pcap ID -o FILE\n\n"
    "Offline (like `tshark -r`): cuts FILE (pcap or pcapng; \"-\" reads stdin) into\n"
    "bidirectional sessions keyed by Community ID v1, labels them with nDPI and prints\n"
    "each one as it ends (idle timer, FIN both ways, RST, or the end of the file).\n"
    "  --read FILE        the capture to analyse; nothing is sent anywhere\n"
    "  --json             one JSON session record per line (NDJSON) instead of the table\n"
    "  --packets          with --json: each session's packets as byte offsets in FILE\n"
    "  --features N       with --json: the first N packets of each session (1..10000) as\n"
    "                     arrays of direction, wire length, payload length, inter-arrival\n"
    "                     time (µs) and TCP flags\n"
    "  --no-labels        skip nDPI (app, category, risks and server_name stay empty)\n"
    "  --tcp-idle DUR     close a TCP session after DUR without a packet (default 300s)\n"
    "  --udp-idle DUR     the same for UDP (default 60s)\n"
    "  --icmp-idle DUR    the same for ICMP and ICMPv6 (default 30s)\n"
    "  --other-idle DUR   the same for SCTP and other IP protocols (default 60s)\n"
    "Timers run on packet time, so a file always gives the same sessions. A summary\n"
    "(packets, sessions, undecodable packets, time) goes to stderr. A damaged file\n"
    "prints the sessions of the packets before the damage, then the error (exit 1).\n\n"
    "Online: the sessions the collector cut from the devices' uploads\n"
    "(GET /v1/sessions, /v1/sessions/{id}, /v1/sessions/{id}/pcap):\n"
    "  sessions [filters]   list; filters: --device D, --since T, --until T (an RFC 3339\n"
    "                       time or a duration back from now, e.g. 1h; sessions that\n"
    "                       overlap [since, until)), --ip IP, --port N, --proto N,\n"
    "                       --app NAME, --risk NAME, --state S; --limit N, --json\n"
    "  sessions show ID     one session in full\n"
    "  sessions pcap ID -o FILE\n"
    "                       the session's packets as a pcap file, rebuilt from the chunks\n"
    "  --collector URL and --token-file FILE as for `picket logs` (default: the CLI\n"
    "  config, $PICKET_CLI_CONFIG else ~/.config/picket/cli.json).\n\n"
    "Exit codes: 0 done, 1 unreadable or damaged file, collector or network error,\n"
    "2 bad flag (also a filter value the collector refuses with 400).\n";

int RunSessionsCommand(std::span<char* const> args);

// Which form a command line asks for.
enum class SessionsForm { kRead, kList, kShow, kPcap };
SessionsForm PickSessionsForm(std::span<char* const> args);

// The offline form's options. Errors name the flag and the value.
struct SessionsReadOptions {
  std::string file;  // "-": stdin
  bool json = false;
  bool with_packets = false;
  analysis::AnalyzerOptions analyzer;
};
inline constexpr std::size_t kMaxFeaturePackets = 10'000;
Result<SessionsReadOptions> ParseSessionsReadOptions(std::span<char* const> args);

}  // namespace picket::cli
