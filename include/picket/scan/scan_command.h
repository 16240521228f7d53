// `picketd scan`: a one-shot scan from the command line. Results go to stdout
// (JSON lines or "open tcp PORT IP"), a progress line to stderr once a second
// and a summary line at the end; --resume FILE keeps a checkpoint so an
// interrupted scan continues where it stopped. Exit codes: 0 done, 1 runtime
// failure (no privileges, capture error), 2 bad input (names the flag and value),
// 130 stopped by SIGINT/SIGTERM (checkpoint written).
#pragma once

#include <span>
#include <string_view>

namespace picket::scan {

inline constexpr std::string_view kScanCommandSummary =
    "scan TCP ports (SYN or connect), masscan-style";
inline constexpr std::string_view kScanCommandUsage =
    "scan --targets LIST --ports LIST [--rate PPS] [--connect] [--retries N] [--wait DURATION]\n"
    "     [--exclude LIST] [--exclude-file FILE] [--shard I/N] [--format json|list]\n"
    "     [--banners] [--seed N] [--resume FILE] [--quiet] [--user NAME] [--no-seccomp]\n\n"
    "Scans every (address, port) of LIST x LIST once, in a seeded random order, at a fixed\n"
    "rate. SYN mode (default) sends raw SYNs and needs root or CAP_NET_RAW; --connect uses\n"
    "ordinary connections (IPv4 and IPv6, no privileges). Open ports go to stdout, progress\n"
    "(percent, rate, ETA) to stderr once a second, a summary line to stderr at the end.\n"
    "  --targets LIST     addresses, CIDRs, ranges: 127.0.0.1,10.0.0.0/24,10.0.1.5-10.0.1.9,::1\n"
    "  --ports LIST       22,80,8000-8100\n"
    "  --rate PPS         probes per second (default 1000)\n"
    "  --connect          connect mode instead of SYN mode\n"
    "  --retries N        extra probes per target/port, 0..10 (default 1): SYN mode always\n"
    "                     sends them (stateless); connect mode after a timeout only\n"
    "  --wait DURATION    the longest to listen after the last probe (default 2s; SYN\n"
    "                     mode): the scan ends as soon as every probe is answered, else\n"
    "                     srtt + 4 x rttvar of the measured reply times after it (>= 20ms)\n"
    "  --send-path P      raw (default): an IPv4 raw socket, the kernel routes each probe;\n"
    "                     packet: frames to the gateway's MAC through an AF_PACKET TX\n"
    "                     ring, qdisc bypassed, 3-4x the probes per core; every target\n"
    "                     must route via one gateway on one interface (SYN mode)\n"
    "  --exclude LIST     addresses never probed (same grammar as --targets)\n"
    "  --exclude-file F   one LIST per line; '#' starts a comment\n"
    "  --shard I/N        probe only shard I (0-based) of N; every shard needs the same --seed\n"
    "  --format FMT       json (default: one object per line) or list (\"open tcp PORT IP\")\n"
    "  --banners          read up to 256 bytes each open port sends first\n"
    "  --seed N           permutation seed (default random; printed in the summary)\n"
    "  --resume FILE      read the checkpoint from FILE if it exists and keep it updated\n"
    "  --quiet            no progress lines\n"
    "  --user NAME        started as root, run as this user with CAP_NET_RAW only once the\n"
    "                     scan is set up (default picketd; it must exist); --resume's\n"
    "                     directory must be writable by it\n"
    "  --no-seccomp       UNSAFE: run without the seccomp syscall allowlist (only where the\n"
    "                     kernel or an emulator refuses seccomp; NO_NEW_PRIVS stays)\n";

// args: everything after "scan".
int RunScanCommand(std::span<char* const> args);

}  // namespace picket::scan
