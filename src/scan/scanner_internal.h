// Private plumbing shared by the SYN and connect scanners: the validated scan
// (spec + normalized space + routes), the counters both report from, and the
// factory functions CreateScanner dispatches to.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "picket/scan/scanner.h"
#include "scan/route_lookup.h"
#include "scan/scan_space.h"

namespace picket::scan {

struct PreparedScan {
  ScanSpec spec;
  TargetSpace space;
  ShardView shard;
  std::vector<RouteInfo>
      span_routes;  // parallel to space.spans(): route of the span's first address
  std::vector<std::string> interfaces;  // distinct outgoing interfaces (capture on each)
};

// Validates `spec` and resolves routes with `routes`. Every refusal is
// InvalidArgument naming the value. Routes are looked up for each merged span's
// first and last address (plus where it enters or leaves 127/8), not for every
// address: SYN probes are routed by the kernel anyway, but replies are captured
// only on the interfaces found here.
Result<PreparedScan> PrepareScan(const ScanSpec& spec, RouteResolver& routes);
// CreateScanner with an injected resolver (tests).
Result<std::unique_ptr<Scanner>> CreateScannerWith(const ScanSpec& spec, RouteResolver& routes);

std::unique_ptr<Scanner> MakeSynScanner(PreparedScan scan);
std::unique_ptr<Scanner> MakeConnectScanner(PreparedScan scan);

// Connects to each result's (ip, port) and stores what the service sends first
// (at most kBannerBytes, printable-escaped). Used after a SYN scan with banners.
// Bounded: `concurrency` sockets, connect_timeout + banner_timeout per target.
void GrabBanners(std::vector<ScanResult>& results, int concurrency,
                 std::chrono::milliseconds connect_timeout,
                 std::chrono::milliseconds banner_timeout, const std::atomic<bool>& stop);

inline constexpr std::size_t kBannerBytes = 256;
// Bytes → UTF-8 text, one character per byte (ISO 8859-1), escaped only by the
// JSON writer (it was escaped twice: \\r\\n in JSON).
std::string EscapeBanner(const std::uint8_t* data, std::size_t size);

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the soft limit now in force.
std::uint64_t RaiseOpenFileLimit();

// Counters both scanners update from their threads and read for progress.
struct ScanCounters {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> replies{0};
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> send_errors{0};
};

// Wall-clock milliseconds since the Unix epoch.
std::int64_t WallNowMs();

}  // namespace picket::scan
