// `picket chunks`: the capture chunks a device uploaded, listed or fetched
// from the collector (GET /v1/devices/{id}/chunks[/{seq}]), each download
// checked against the SHA-256 the collector recorded when it was stored.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace picket::cli {

inline constexpr std::string_view kChunksSummary =
    "list or download a device's capture chunks from the collector";

inline constexpr std::string_view kChunksUsage =
    "chunks list DEVICE [--since SEQ] [--limit N] [--json]\n"
    "       picket chunks get DEVICE SEQ [-o FILE]\n\n"
    "list: one line per stored chunk of DEVICE, oldest first: seq, packets, bytes, first\n"
    "and last packet time (UTC), drops (kernel + interface), lost packets, capture gap\n"
    "before it (ms), SWITCH (a config change switched captures without a gap: every\n"
    "packet stamped up to this time is in earlier chunks; - none), TS_BACK (packets stamped earlier than the one before them: the device's\n"
    "clock was stepped back; 0 in order, - not reported), and the first 16 hex digits\n"
    "of its SHA-256.\n"
    "  --since SEQ        only chunks after this seq\n"
    "  --limit N          at most N chunks (default 1000; pages of 1000 are fetched)\n"
    "  --json             one JSON record per line, as the collector stores it\n"
    "get: writes chunk SEQ of DEVICE, a classic pcap, to FILE (default DEVICE-SEQ.pcap;\n"
    "\"-\" writes to stdout), through FILE.part renamed when complete, and checks its SHA-256\n"
    "against the collector's record (a mismatch removes the file and exits 1).\n"
    "Both take --collector URL --token-file FILE (default: \"collector\" and \"token_file\"\n"
    "in the CLI config).\n\n"
    "Exit codes: 0 done, 1 collector or file error (404: no such chunk), 2 bad arguments.\n";

int RunChunksCommand(std::span<char* const> args);

// The table columns of a chunk record (GET /v1/devices/{id}/chunks); missing
// fields print as "-". Pure, for tests.
std::vector<std::string> ChunkTableHeader();
std::vector<std::string> ChunkTableCells(const nlohmann::json& chunk);

}  // namespace picket::cli
