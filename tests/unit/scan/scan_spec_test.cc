// Spec validation (with an injected route table), SpecFromConfig, result JSON.
#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "picket/scan/scanner.h"
#include "scan/route_lookup.h"
#include "scan/scanner_internal.h"

namespace picket::scan {
namespace {

// Routes: 127/8 → lo (loopback) except 127.0.0.66 → eth0 (the misrouted
// loopback case); 10.1/16 → eth0 (on-link); 10.2/16 → eth0 via 10.1.0.254;
// ::1 → lo; everything else unroutable.
class FakeRoutes final : public RouteResolver {
 public:
  Result<RouteInfo> Lookup(const IpAddress& ip) override {
    ++lookups;
    RouteInfo lo{1, "lo", true, true, IpAddress::V4(0x7f000001)};
    RouteInfo eth{2, "eth0", false, false, IpAddress::V4(0x0a010001)};
    if (ip.v6) {
      if (ip.IsLoopback()) return RouteInfo{1, "lo", true, true, *IpAddress::Parse("::1")};
      return Status(StatusCode::kNotFound,
                    "no route to " + ip.ToString() + ": Network is unreachable");
    }
    const std::uint32_t a = ip.V4HostOrder();
    if (a == 0x7f000042) return eth;
    if ((a >> 24) == 127) return lo;
    if ((a >> 16) == 0x0a01) return eth;
    if ((a >> 16) == 0x0a02) {
      eth.gateway = IpAddress::V4(0x0a0100fe);
      return eth;
    }
    return Status(StatusCode::kNotFound,
                  "no route to " + ip.ToString() + ": Network is unreachable");
  }
  int lookups = 0;
};

ScanSpec Spec(const char* targets, const char* ports, ScanMode mode = ScanMode::kSyn) {
  ScanSpec s;
  s.targets = *ParseTargetList(targets);
  s.ports = *ParsePortList(ports);
  s.mode = mode;
  return s;
}

std::string Refusal(const ScanSpec& spec) {
  FakeRoutes routes;
  auto r = PrepareScan(spec, routes);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  return r.status().message();
}

bool Contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

TEST_CASE("a good spec prepares with per-span routes and interfaces") {
  FakeRoutes routes;
  auto scan = PrepareScan(Spec("127.0.0.0/20,10.1.2.0/24", "22,80"), routes);
  REQUIRE(scan.ok());
  CHECK(scan->space.size() == (4096 + 256) * 2);
  CHECK(scan->interfaces == std::vector<std::string>{"eth0", "lo"});
  REQUIRE(scan->span_routes.size() == 2);
  CHECK(scan->span_routes[0].ifname == "eth0");  // 10.1.2.0/24 sorts first
  CHECK(scan->span_routes[1].ifname == "lo");
}

TEST_CASE("the packet send path needs every target behind one gateway on one interface") {
  ScanSpec good = Spec("10.2.0.0/24,10.2.9.9", "80");
  good.send_path = SendPath::kPacket;
  FakeRoutes routes;
  auto scan = PrepareScan(good, routes);
  REQUIRE(scan.ok());
  CHECK(scan->span_routes.front().gateway == IpAddress::V4(0x0a0100fe));
  for (const char* targets : {"127.0.0.0/24", "10.1.2.0/24", "10.2.0.0/24,10.1.0.1"}) {
    CAPTURE(targets);
    ScanSpec bad = Spec(targets, "80");
    bad.send_path = SendPath::kPacket;
    const std::string why = Refusal(bad);
    CHECK(Contains(why, "send_path packet: target "));
    CHECK(Contains(why, "one gateway on one non-loopback interface"));
  }
  ScanSpec connect = Spec("10.2.0.0/24", "80", ScanMode::kConnect);
  connect.send_path = SendPath::kPacket;
  CHECK(Contains(Refusal(connect), "only for SYN mode"));
}

TEST_CASE("spec refusals name the value") {
  CHECK(Contains(Refusal(Spec("10.99.0.0/24", "80")), "10.99.0.0"));
  CHECK(Contains(Refusal(Spec("10.99.0.0/24", "80")), "unroutable"));
  const std::string lo_bad = Refusal(Spec("127.0.0.66-127.0.0.70", "80"));
  CHECK(Contains(lo_bad, "loopback target 127.0.0.66"));
  CHECK(Contains(lo_bad, "eth0"));
  CHECK(Contains(Refusal(Spec("::1", "80")), "::1 is IPv6; SYN mode scans IPv4 only"));

  ScanSpec zero_rate = Spec("127.0.0.1", "80");
  zero_rate.rate_pps = 0;
  CHECK(Contains(Refusal(zero_rate), "rate: 0"));

  ScanSpec big = Spec("127.0.0.0/8", "1-65535");
  CHECK(Contains(Refusal(big), "16777216 addresses x 65535 ports"));
  big.max_probes = 1000;
  big.targets = *ParseTargetList("127.0.0.0/24");
  big.ports = *ParsePortList("1-4");
  CHECK(Contains(Refusal(big), "1024 probes is over max_probes (1000)"));

  ScanSpec empty = Spec("127.0.0.1", "80");
  empty.targets.clear();
  CHECK(Contains(Refusal(empty), "targets: the target list is empty"));
  ScanSpec excluded = Spec("127.0.0.0/30", "80");
  excluded.exclude = *ParseTargetList("127.0.0.0/24");
  CHECK(Contains(Refusal(excluded), "nothing left to scan in '127.0.0.0-127.0.0.3'"));

  ScanSpec shard = Spec("127.0.0.1", "80");
  shard.shard_index = 3;
  shard.shard_count = 3;
  CHECK(Contains(Refusal(shard), "shard: 3/3"));
  ScanSpec retries = Spec("127.0.0.1", "80");
  retries.retries = 11;
  CHECK(Contains(Refusal(retries), "retries: 11"));
  ScanSpec start = Spec("127.0.0.1", "80-89");
  start.start_index = 11;
  CHECK(Contains(Refusal(start), "start_index: 11"));
}

TEST_CASE("connect mode accepts IPv6 loopback and refuses unroutable IPv6 by value") {
  FakeRoutes routes;
  CHECK(PrepareScan(Spec("::1,127.0.0.1", "80", ScanMode::kConnect), routes).ok());
  CHECK(Contains(Refusal(Spec("fd00::1", "80", ScanMode::kConnect)), "fd00::1"));
}

TEST_CASE("a span straddling 127/8 has its loopback part checked") {
  FakeRoutes routes;
  auto r = PrepareScan(Spec("126.255.255.254-127.0.0.1", "80"), routes);
  REQUIRE_FALSE(r.ok());  // 126.255.255.254 is unroutable in the fake table
  CHECK(Contains(r.status().message(), "126.255.255.254"));
}

TEST_CASE("SpecFromConfig carries the job and refuses bad fields by value") {
  ScanJobConfig job;
  job.id = "lab";
  job.targets = "127.0.0.0/24";
  job.exclude = "127.0.0.5";
  job.ports = "22,80";
  job.rate_pps = 5000;
  job.mode = ScanMode::kConnect;
  job.retries = 2;
  job.wait = std::chrono::milliseconds(1500);
  job.banners = true;
  auto spec = SpecFromConfig(job, 77);
  REQUIRE(spec.ok());
  CHECK(spec->job_id == "lab");
  CHECK(spec->targets.size() == 1);
  CHECK(spec->exclude.size() == 1);
  CHECK(spec->ports.size() == 2);
  CHECK(spec->rate_pps == 5000);
  CHECK(spec->mode == ScanMode::kConnect);
  CHECK(spec->retries == 2);
  CHECK(spec->wait == std::chrono::milliseconds(1500));
  CHECK(spec->banners);
  CHECK(spec->seed == 77);
  job.exclude = "";
  CHECK(SpecFromConfig(job, 1)->exclude.empty());
  job.ports = "0";
  auto bad = SpecFromConfig(job, 1);
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status().message(), "'0'"));
  CHECK(Contains(bad.status().message(), "lab"));
}

TEST_CASE("result JSON: fields, escaping, job and shard only for jobs") {
  ScanResult r;
  r.ip = IpAddress::V4(0x7f000002);
  r.port = 8080;
  r.ttl = 64;
  r.ts_ms = 1'763'721'363'123;  // 2025-11-21T10:36:03.123Z
  CHECK(
      r.ToJson() ==
      R"({"ip":"127.0.0.2","port":8080,"proto":"tcp","state":"open","ttl":64,"ts":"2025-11-21T10:36:03.123Z"})");
  const std::uint8_t raw[] = {'S', 'S', 'H', '"', '\\', '\r', '\n', 0x01, 0xff};
  r.banner = EscapeBanner(raw, sizeof raw);
  CHECK(r.banner == "SSH\"\\\r\n\x01\xc3\xbf");
  r.job_id = "j1";
  r.shard = 3;
  r.ttl = 0;
  CHECK(
      r.ToJson() ==
      R"({"ip":"127.0.0.2","port":8080,"proto":"tcp","state":"open","ts":"2025-11-21T10:36:03.123Z",)"
      R"("banner":"SSH\"\\\r\n\u0001)" "\xc3\xbf" R"(","job":"j1","shard":3})");
  // Escaped once: a JSON reader gets the bytes back as code points.
  const auto parsed = nlohmann::json::parse(r.ToJson())["banner"].get<std::string>();
  CHECK(parsed == "SSH\"\\\r\n\x01\xc3\xbf");
}

}  // namespace
}  // namespace picket::scan
