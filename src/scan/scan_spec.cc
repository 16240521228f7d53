// ScanSpec validation, SpecFromConfig, ScanResult::ToJson and CreateScanner.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <set>

#include "picket/common/clock.h"
#include "picket/scan/scanner.h"
#include "scan/scanner_internal.h"

namespace picket::scan {

std::int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}


}  // namespace

std::string ScanResult::ToJson() const {
  std::string out = "{\"ip\":";
  AppendJsonString(out, ip.ToString());
  out += ",\"port\":" + std::to_string(port) + ",\"proto\":\"tcp\",\"state\":";
  AppendJsonString(out, state);
  if (ttl > 0) out += ",\"ttl\":" + std::to_string(ttl);
  out += ",\"ts\":";
  AppendJsonString(out, FormatRfc3339Millis(ts_ms));
  if (!banner.empty()) {
    out += ",\"banner\":";
    AppendJsonString(out, banner);
  }
  if (!job_id.empty()) {
    out += ",\"job\":";
    AppendJsonString(out, job_id);
    out += ",\"shard\":" + std::to_string(shard);
  }
  out += '}';
  return out;
}

std::string EscapeBanner(const std::uint8_t* data, std::size_t size) {
  // Each byte one character (ISO 8859-1 → UTF-8): ToJson escapes once, and a
  // JSON reader gets back the bytes as code points 0-255.
  std::string out;
  out.reserve(size);
  for (std::size_t i = 0; i < size; ++i) {
    const std::uint8_t c = data[i];
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xc0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3f));
    }
  }
  return out;
}

std::uint64_t RaiseOpenFileLimit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : static_cast<std::uint64_t>(rl.rlim_cur);
}

Result<ScanSpec> SpecFromConfig(const ScanJobConfig& job, std::uint64_t seed) {
  ScanSpec spec;
  spec.job_id = job.id;
  auto targets = ParseTargetList(job.targets);
  if (!targets.ok()) return targets.status().WithContext("scan job '" + job.id + "' targets");
  spec.targets = std::move(*targets);
  if (job.exclude.find_first_not_of(" \t,") != std::string::npos) {
    auto exclude = ParseTargetList(job.exclude);
    if (!exclude.ok()) return exclude.status().WithContext("scan job '" + job.id + "' exclude");
    spec.exclude = std::move(*exclude);
  }
  auto ports = ParsePortList(job.ports);
  if (!ports.ok()) return ports.status().WithContext("scan job '" + job.id + "' ports");
  spec.ports = std::move(*ports);
  spec.rate_pps = job.rate_pps;
  spec.mode = job.mode;
  spec.retries = job.retries;
  spec.wait = job.wait;
  spec.banners = job.banners;
  spec.seed = seed;
  return spec;
}

namespace {

Status CheckScalars(const ScanSpec& spec) {
  if (spec.rate_pps == 0) {
    return Status::InvalidArgument("rate: 0 packets per second; must be at least 1");
  }
  if (spec.rate_pps > 100'000'000) {
    return Status::InvalidArgument("rate: " + std::to_string(spec.rate_pps) +
                                   " packets per second is over the 100000000 limit");
  }
  if (spec.retries < 0 || spec.retries > 10) {
    return Status::InvalidArgument("retries: " + std::to_string(spec.retries) + " is not in 0..10");
  }
  if (spec.wait.count() < 0 || spec.wait > std::chrono::hours(1)) {
    return Status::InvalidArgument("wait: " + std::to_string(spec.wait.count()) +
                                   "ms is not in 0..1h");
  }
  if (spec.shard_count == 0) return Status::InvalidArgument("shard: count 0; must be at least 1");
  if (spec.shard_index >= spec.shard_count) {
    return Status::InvalidArgument("shard: " + std::to_string(spec.shard_index) + "/" +
                                   std::to_string(spec.shard_count) + ": index must be 0.." +
                                   std::to_string(spec.shard_count - 1));
  }
  if (spec.connect_concurrency < 1 || spec.connect_concurrency > 65536) {
    return Status::InvalidArgument(
        "connect_concurrency: " + std::to_string(spec.connect_concurrency) + " is not in 1..65536");
  }
  if (spec.connect_timeout.count() <= 0 || spec.connect_timeout > std::chrono::minutes(1)) {
    return Status::InvalidArgument(
        "connect_timeout: " + std::to_string(spec.connect_timeout.count()) +
        "ms is not in 1ms..1m");
  }
  if (spec.banner_timeout.count() <= 0 || spec.banner_timeout > std::chrono::minutes(1)) {
    return Status::InvalidArgument(
        "banner_timeout: " + std::to_string(spec.banner_timeout.count()) + "ms is not in 1ms..1m");
  }
  if (spec.max_probes == 0) return Status::InvalidArgument("max_probes: 0; must be at least 1");
  for (const auto& p : spec.ports) {
    if (p.first == 0 || p.first > p.last) {
      return Status::InvalidArgument("ports: bad range " + std::to_string(p.first) + "-" +
                                     std::to_string(p.last));
    }
  }
  for (const auto* list : {&spec.targets, &spec.exclude}) {
    for (const auto& r : *list) {
      if (r.first.v6 != r.last.v6 || r.first.bytes > r.last.bytes) {
        return Status::InvalidArgument(std::string(list == &spec.targets ? "targets" : "exclude") +
                                       ": bad range " + r.ToString());
      }
    }
  }
  return Status::Ok();
}

IpAddress V4Of(std::uint32_t host_order) { return IpAddress::V4(host_order); }

// The addresses of a span whose routes are looked up: its ends, and the ends of
// its overlap with 127.0.0.0/8 so a span straddling loopback is checked there too.
std::vector<IpAddress> ProbeAddresses(const AddressSpan& s) {
  std::vector<IpAddress> out{AddressFromKey(s.v6, s.first)};
  if (s.last != s.first) out.push_back(AddressFromKey(s.v6, s.last));
  if (!s.v6) {
    const U128 lo = 0x7f000000u, hi = 0x7fffffffu;
    if (s.first < lo && s.last >= lo) out.push_back(V4Of(0x7f000000u));
    if (s.last > hi && s.first <= hi) out.push_back(V4Of(0x7fffffffu));
  }
  return out;
}

}  // namespace

Result<PreparedScan> PrepareScan(const ScanSpec& spec, RouteResolver& routes) {
  PICKET_RETURN_IF_ERROR(CheckScalars(spec));
  auto space = TargetSpace::Build(spec.targets, spec.exclude, spec.ports, spec.max_probes);
  if (!space.ok()) return space.status();
  PreparedScan scan;
  scan.spec = spec;
  scan.space = std::move(*space);
  scan.shard = ShardView{scan.space.size(), spec.shard_index, spec.shard_count};
  if (spec.start_index > scan.shard.size()) {
    return Status::InvalidArgument("start_index: " + std::to_string(spec.start_index) +
                                   " is past the end of shard " + std::to_string(spec.shard_index) +
                                   "/" + std::to_string(spec.shard_count) + " (" +
                                   std::to_string(scan.shard.size()) + " probes)");
  }
  std::set<std::string> interfaces;
  for (const auto& s : scan.space.spans()) {
    const std::string span_text =
        AddressFromKey(s.v6, s.first).ToString() +
        (s.first == s.last ? "" : "-" + AddressFromKey(s.v6, s.last).ToString());
    if (s.v6 && spec.mode == ScanMode::kSyn) {
      return Status::InvalidArgument("targets: " + span_text +
                                     " is IPv6; SYN mode scans IPv4 only, use connect mode");
    }
    bool first = true;
    for (const IpAddress& ip : ProbeAddresses(s)) {
      auto route = routes.Lookup(ip);
      if (!route.ok()) {
        return Status::InvalidArgument("target " + ip.ToString() + " (in " + span_text +
                                       ") is unroutable: " + route.status().message());
      }
      if (ip.IsLoopback() && !route->loopback_interface) {
        return Status::InvalidArgument("loopback target " + ip.ToString() + " (in " + span_text +
                                       ") routes via " + route->ifname +
                                       ", which is not a loopback interface");
      }
      if (spec.mode == ScanMode::kSyn && (route->source.v6 || AddressKey(route->source) == 0)) {
        return Status::InvalidArgument("target " + ip.ToString() + ": route via " + route->ifname +
                                       " has no IPv4 source address");
      }
      if (spec.send_path == SendPath::kPacket) {
        const RouteInfo& one = scan.span_routes.empty() ? *route : scan.span_routes.front();
        if (route->loopback_interface || !route->gateway || route->ifindex != one.ifindex ||
            !one.gateway || *route->gateway != *one.gateway) {
          return Status::InvalidArgument(
              "send_path packet: target " + ip.ToString() + " routes via " + route->ifname +
              (route->gateway ? " gateway " + route->gateway->ToString() : " on-link") +
              "; every target must route via one gateway on one non-loopback interface");
        }
      }
      interfaces.insert(route->ifname);
      if (first) scan.span_routes.push_back(*route);
      first = false;
    }
  }
  if (spec.send_path == SendPath::kPacket && spec.mode != ScanMode::kSyn) {
    return Status::InvalidArgument("send_path packet: only for SYN mode (not --connect)");
  }
  scan.interfaces.assign(interfaces.begin(), interfaces.end());
  return scan;
}

Result<std::unique_ptr<Scanner>> CreateScannerWith(const ScanSpec& spec, RouteResolver& routes) {
  auto scan = PrepareScan(spec, routes);
  if (!scan.ok()) return scan.status();
  if (spec.mode == ScanMode::kSyn) return MakeSynScanner(std::move(*scan));
  return MakeConnectScanner(std::move(*scan));
}

Result<std::unique_ptr<Scanner>> CreateScanner(const ScanSpec& spec) {
  auto routes = MakeNetlinkRouteResolver();
  return CreateScannerWith(spec, *routes);
}

}  // namespace picket::scan
