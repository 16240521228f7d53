// The scanner: a stateless, rate-limited TCP port scanner in the manner of
// masscan/zmap. A ScanSpec describes the target×port space; CreateScanner
// validates it and picks SYN (raw packets + libpcap) or connect (Boost.Asio)
// mode. Probe order is a seeded permutation of the space, so the same seed and
// space give the same order, shards partition the space exactly, and a run can
// resume from a checkpoint index without losing or repeating probes.
//
// Threads: CreateScanner and Run are called from one thread; Run blocks.
// RequestStop may be called from any thread or a signal handler.
// No libpcap, raw-socket or Asio types appear here; they live in src/scan/.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "picket/common/daemon_config.h"
#include "picket/common/net_address.h"
#include "picket/common/status.h"
#include "picket/scan/rate_budget.h"

namespace picket::scan {

// How SYN probes leave (ScanSpec::send_path).
enum class SendPath {
  kRawSocket,  // IPv4 raw socket: the kernel routes each probe (any target, loopback too)
  kPacket,     // AF_PACKET frames to the gateway's MAC, qdisc bypassed: ~2x the rate per
               // core; every target must route via one gateway on one interface
};

struct ScanSpec {
  std::string job_id;                       // "" for one-shot CLI scans
  std::vector<AddressRange> targets, exclude;
  std::vector<PortRange> ports;
  std::uint64_t rate_pps = 1000;
  ScanMode mode = ScanMode::kSyn;           // picket::ScanMode from daemon_config.h
  int retries = 1;                          // extra probes: SYN always sends them, connect after a timeout
  std::chrono::milliseconds wait{2000};     // the longest wait after the last probe (SYN mode)
  bool banners = false;
  SendPath send_path = SendPath::kRawSocket;  // SYN mode only
  std::uint64_t seed = 0;                   // permutation seed: same seed+space → same order
  std::uint32_t shard_index = 0, shard_count = 1;
  std::uint64_t start_index = 0;            // resume: first permutation index (within the shard) to probe
  int connect_concurrency = 1000;
  std::chrono::milliseconds connect_timeout{1000};
  std::uint64_t max_probes = 1ull << 32;    // refuse bigger target×port spaces
  std::chrono::milliseconds banner_timeout{1000};  // read window after connect when banners
  // The device's scan_max_pps, shared by every scan it runs (null: no cap beyond rate_pps).
  std::shared_ptr<RateBudget> device_budget;
};

struct ScanResult {
  IpAddress ip;
  std::uint16_t port = 0;
  std::string state = "open";
  int ttl = 0;
  std::int64_t ts_ms = 0;                   // Unix epoch milliseconds
  std::string banner;                       // one character per byte (ISO 8859-1), UTF-8
  std::string job_id;
  std::uint32_t shard = 0;
  // {"ip":"127.0.0.2","port":8080,"proto":"tcp","state":"open","ttl":64,"ts":"RFC3339","banner":"…"}
  // plus "job","shard" when job_id is set; "banner" only when non-empty; "ttl" only when
  // known (SYN mode reads it from the SYN-ACK; a connect scan cannot see it).
  std::string ToJson() const;
};

struct ScanProgress {
  std::uint64_t checkpoint = 0;  // resume from here loses nothing: every index below it was probed and its wait has passed
  // done/total: shard-local indices whose first probe went out / the shard's size.
  // sent: probes incl. retries; replies: validated SYN-ACKs and RSTs (connect: accepted + refused).
  std::uint64_t done = 0, total = 0, sent = 0, replies = 0, open = 0;
  double pps = 0;
  double elapsed_s = 0, eta_s = 0;
};

struct ScanSummary {
  std::uint64_t sent = 0, replies = 0, open = 0;
  double pps = 0, seconds = 0;      // pps: probes sent / time from first to last probe
  std::uint64_t capture_drops = 0;  // SYN mode: packets the kernel dropped before libpcap saw them
  std::uint64_t send_errors = 0;    // probes the kernel refused to send (after bounded retries)
};

class Scanner;

// Validates the spec, resolves the outgoing interface per target by route lookup (netlink),
// refuses: unparsable/empty targets, space over max_probes, rate 0, a loopback target whose route
// is not via a loopback interface, an unroutable target — each with a message naming the value.
Result<std::unique_ptr<Scanner>> CreateScanner(const ScanSpec& spec);

class Scanner {
 public:
  virtual ~Scanner() = default;
  // Blocks until done, stopped or failed. on_result: every open port once; on_progress: about once a second.
  // Both callbacks run on the calling thread. Returns OK when the whole shard was probed and
  // waited for, Cancelled after RequestStop (the last on_progress carries the checkpoint to
  // resume from), PermissionDenied when SYN mode lacks CAP_NET_RAW, other errors otherwise.
  // Call once per Scanner.
  virtual Status Run(const std::function<void(const ScanResult&)>& on_result,
                     const std::function<void(const ScanProgress&)>& on_progress) = 0;
  virtual void RequestStop() noexcept = 0;   // async-signal-safe
  virtual ScanSummary Summary() const = 0;
};

Result<ScanSpec> SpecFromConfig(const ScanJobConfig& job, std::uint64_t seed);

}  // namespace picket::scan
