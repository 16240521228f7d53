// Pure pieces of `picket devices`, `picket config` and `picket scan`:
// argument splitting, tables, the device and job views, job ids.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/config_command.h"
#include "picket/common/config_check.h"
#include "cli/devices_command.h"
#include "cli/operator_support.h"
#include "cli/scan_jobs_command.h"

namespace picket::cli {
namespace {

std::vector<char*> Argv(std::vector<std::string>& storage) {
  std::vector<char*> out;
  for (auto& s : storage) out.push_back(s.data());
  return out;
}

TEST_CASE("SplitPositionals keeps flag values with their flags") {
  std::vector<std::string> args = {"set",       "gw-1", "--json", "{\"a\":1}", "--db=mysql://x@h/d",
                                   "--verbose", "extra"};
  auto argv = Argv(args);
  SplitArgs split = SplitPositionals(argv, {"json", "db"});
  CHECK(split.positionals == std::vector<std::string>{"set", "gw-1", "extra"});
  REQUIRE(split.flags.size() == 4);
  CHECK(std::string(split.flags[0]) == "--json");
  CHECK(std::string(split.flags[1]) == "{\"a\":1}");
  CHECK(std::string(split.flags[2]) == "--db=mysql://x@h/d");
  CHECK(std::string(split.flags[3]) == "--verbose");
}

TEST_CASE("FormatTable pads columns and trims trailing blanks") {
  std::string t = FormatTable({"A", "LONGER"}, {{"xyz", "1"}, {"q", ""}});
  CHECK(t == "A    LONGER\nxyz  1\nq\n");
}

TEST_CASE("BuildDeviceView reads status, config and sync nodes") {
  const std::string status = R"({"device":"gw-1","group":"lab",
    "config":{"applied_version":7,"desired_version":8},
    "worker":{"state":"running"},"last_error":"boom",
    "counters":{"bytes_pending":4096}})";
  DeviceView d = BuildDeviceView("gw-1", std::string(R"({"version":8})"), status, std::nullopt);
  CHECK(d.id == "gw-1");
  CHECK(d.group == "lab");
  CHECK(d.alive);
  CHECK(d.applied_version == 7);
  CHECK(d.desired_version == 8);
  CHECK(d.bytes_pending == 4096u);
  CHECK(d.worker_state == "running");
  CHECK(d.last_error == "boom");

  SUBCASE("a newer sync refusal wins") {
    DeviceView s = BuildDeviceView("gw-1", std::string(R"({"version":8})"), status,
                                   std::string(R"({"version":9,"error":"/capture/filter: bad"})"));
    CHECK(s.last_error == "sync refused version 9: /capture/filter: bad");
  }
  SUBCASE("an older sync refusal does not") {
    DeviceView s = BuildDeviceView("gw-1", std::string(R"({"version":8})"), status,
                                   std::string(R"({"version":6,"error":"old"})"));
    CHECK(s.last_error == "boom");
  }
  SUBCASE("no status: dead, unknown fields") {
    DeviceView s = BuildDeviceView("gw-2", std::nullopt, std::nullopt, std::nullopt);
    CHECK_FALSE(s.alive);
    CHECK_FALSE(s.applied_version);
    CHECK_FALSE(s.desired_version);
    std::string table = FormatDevicesTable({s});
    CHECK(table.find("\ngw-2    -      no     -  ") != std::string::npos);
    auto j = nlohmann::json::parse(FormatDevicesJson({s}));
    CHECK(j[0]["alive"] == false);
    CHECK(j[0]["applied_version"].is_null());
  }
}

TEST_CASE("BuildDeviceView shows what the status node and the group's nodes report") {
  const std::string status = R"({"device":"gw-1","group":"lab",
    "config":{"applied_version":1764787332123457,"applied_group_version":1764787300000002,
              "refused":{"version":1764787332123458,"group_version":1764787300000003,
                         "error":"/capture/interface: no such device"},
              "rolled_back":{"version":9,"reason":"worker failed 3 times"},"source":"zookeeper"},
    "worker":{"state":"degraded: disk full","crash_loop":true},"zookeeper":"connecting",
    "last_error":"config version 1764787332123458 refused: /capture/interface: no such device"})";
  DeviceView d =
      BuildDeviceView("gw-1", std::string(R"({"version":1764787332123457})"), status, std::nullopt);
  AddGroupView(d, std::string(R"({"version":1764787300000003,"log":{"level":"debug"}})"),
               std::string(R"({"version":1764787300000004,"error":"/log/level: 'loud'"})"));
  CHECK(d.applied_group_version == 1764787300000002);
  CHECK(d.desired_group_version == 1764787300000003);
  CHECK(d.crash_loop);
  CHECK(d.zookeeper == "connecting");
  REQUIRE(d.config_events.size() == 2);
  CHECK(d.config_events[0].kind == "refused");
  CHECK(d.config_events[0].group_version == 1764787300000003);
  CHECK(d.config_events[1].kind == "rolled_back");
  CHECK(d.config_events[1].error == "worker failed 3 times");
  REQUIRE(d.group_refusal);
  CHECK(d.group_refusal->version == 1764787300000004);

  const std::string table = FormatDevicesTable({d});
  INFO(table);
  // Readable versions only: no 16-digit stamp in the table.
  CHECK(table.find("1764787") == std::string::npos);
  CHECK(table.find("2025-12-03T18:42:12.123457Z") != std::string::npos);
  CHECK(table.find("2025-12-03T18:41:40.000002Z -> 2025-12-03T18:41:40.000003Z") !=
        std::string::npos);
  CHECK(table.find("sync refused group lab row version 2025-12-03T18:41:40.000004Z: /log/level: "
                   "'loud'") != std::string::npos);
  CHECK(table.find("rolled_back version 9: worker failed 3 times") != std::string::npos);
  CHECK(table.find("worker crash loop") != std::string::npos);
  CHECK(table.find("zookeeper connecting") != std::string::npos);
  CHECK(table.find("degraded: disk full") != std::string::npos);
  CHECK(table.find("config version 2025-12-03T18:42:12.123458Z refused") != std::string::npos);
  // picketd's refusal is in last_error once, not twice.
  CHECK(table.find("no such device") == table.rfind("no such device"));

  auto j = nlohmann::json::parse(FormatDevicesJson({d}));
  CHECK(j[0]["applied_version"] == 1764787332123457);
  CHECK(j[0]["applied_version_text"] == "2025-12-03T18:42:12.123457Z");
  CHECK(j[0]["group_applied"] == false);
  CHECK(j[0]["group_refusal"]["version"] == 1764787300000004);
  CHECK(j[0]["config_events"].size() == 2);
  CHECK(j[0]["crash_loop"] == true);
}

TEST_CASE("BuildDeviceView reads hostile status nodes without trusting their types") {
  for (const char* status : {R"({"config":[],"worker":{"crash_loop":"yes"}})",
                             R"({"config":{"refused":{"version":"x","error":7}}})",
                             R"({"config":{"refused":null,"rolled_back":{}}})", "[[[[", "null"}) {
    DeviceView d = BuildDeviceView("gw", std::nullopt, std::string(status), std::nullopt);
    AddGroupView(d, std::string("{\"version\":\"7\"}"), std::string("not json"));
    CHECK_FALSE(d.crash_loop);
    CHECK_FALSE(d.desired_group_version);
    CHECK_FALSE(d.group_refusal);
    for (const auto& e : d.config_events) CHECK_FALSE(e.version);
    CHECK_NOTHROW((void)FormatDevicesJson({d}));
  }
}

TEST_CASE("FormatVersion prints microsecond row versions as UTC time, small ones as counters") {
  CHECK(FormatVersion(std::nullopt) == "-");
  CHECK(FormatVersion(7) == "7");
  CHECK(FormatVersion(-1) == "-1");
  CHECK(FormatVersion(1764787332123457) == "2025-12-03T18:42:12.123457Z");
  CHECK(FormatVersion(1000000000000000) == "2001-09-09T01:46:40.000000Z");
  CHECK(FormatVersion(999999999999999) == "999999999999999");
}

TEST_CASE("MakeJobId formats UTC time and four hex digits") {
  // 2026-11-21 14:49:52 UTC
  CHECK(MakeJobId(1795272592000, 0xab1) == "scan-20261121-144952-0ab1");
}

// 100 probes/s per shard, no retries, 2 s reply wait: a shard of n probes takes n/100 + 2 s.
SharedJobSpec JobSpec(std::uint32_t shards) {
  SharedJobSpec spec;
  spec.id = "sweep";
  spec.shards = shards;
  spec.rate_pps = 100;
  spec.retries = 0;
  spec.wait = std::chrono::milliseconds(2000);
  return spec;
}

using Nodes = std::map<std::uint32_t, std::string>;

TEST_CASE("BuildJobStatus classifies shards") {
  std::map<std::uint32_t, std::string> claims = {{1, R"({"device":"gw-2","session":5})"}};
  std::map<std::uint32_t, std::string> progress = {{1, R"({"checkpoint":300,"device":"gw-2"})"},
                                                   {2, R"({"checkpoint":50})"}};
  std::map<std::uint32_t, std::string> done = {
      {0, R"({"device":"gw-1","results":12,"checkpoint":750})"}};
  std::map<std::uint32_t, std::uint64_t> totals = {{1, 750}};
  JobStatusView v = BuildJobStatus(JobSpec(3), claims, progress, done, totals);
  REQUIRE(v.rows.size() == 3);
  CHECK(v.rows[0].state == "done");
  CHECK(v.rows[0].device == "gw-1");
  CHECK(v.rows[0].results == 12u);
  CHECK(v.rows[1].state == "claimed");
  CHECK(v.rows[1].device == "gw-2");
  CHECK(v.rows[1].checkpoint == 300u);
  CHECK(v.rows[1].total == 750u);
  CHECK(v.rows[2].state == "waiting");
  CHECK(v.rows[2].checkpoint == 50u);
  CHECK(v.done == 1);
  CHECK(v.claimed == 1);
  CHECK(v.waiting == 1);
  CHECK(v.results == 12u);
  CHECK(v.eta_s.value_or(-1) == doctest::Approx(13.5));  // 450 + the waiting shard's 700 left
  std::string table = FormatJobStatusTable(v);
  CHECK(table.find("300/750 (40%)") != std::string::npos);
  CHECK(table.find("job sweep: 1/3 shards done, 1 claimed, 1 waiting") != std::string::npos);
  auto j = nlohmann::json::parse(FormatJobStatusJson(v));
  CHECK(j["shard_states"][2]["state"] == "waiting");
}

TEST_CASE("scan status: all shards waiting has no ETA and no devices") {
  JobStatusView v = BuildJobStatus(JobSpec(3), {}, {}, {}, {});
  CHECK(v.waiting == 3);
  CHECK_FALSE(v.eta_s.has_value());
  CHECK(v.eta_unknown == "no shard running");
  CHECK(v.devices.empty());
  std::string table = FormatJobStatusTable(v);
  CHECK(table.find("ETA unknown (no shard running)\n") != std::string::npos);
  CHECK(table.find("per device") == std::string::npos);
  auto j = nlohmann::json::parse(FormatJobStatusJson(v));
  CHECK(j["eta_s"].is_null());
  CHECK(j["shard_states"][0]["eta_s"].is_null());
  CHECK(j["devices"] == nlohmann::json::object());
}

TEST_CASE("scan status: ETA spreads the work left over the running shards") {
  const Nodes claims = {{2, R"({"device":"gw-2"})"}, {4, R"({"device":"gw-1"})"}};
  const Nodes progress = {{2, R"({"checkpoint":400})"}, {4, R"({"checkpoint":900})"}};
  const Nodes done = {{0, R"({"device":"gw-1","results":5,"checkpoint":1000})"},
                      {1, R"({"device":"gw-1","results":7,"checkpoint":1000})"},
                      {3, R"({"device":"gw-2","results":1,"checkpoint":1000})"}};
  const std::map<std::uint32_t, std::uint64_t> totals = {{2, 1000}, {4, 1000}};
  JobStatusView v = BuildJobStatus(JobSpec(6), claims, progress, done, totals);
  CHECK(v.rows[0].eta_s == 0.0);
  CHECK(v.rows[2].eta_s.value_or(-1) == doctest::Approx(8.0));  // 600 left / 100 + 2
  CHECK(v.rows[4].eta_s.value_or(-1) == doctest::Approx(3.0));  // 100 left / 100 + 2
  CHECK_FALSE(v.rows[5].eta_s.has_value());                     // waiting
  // 600 + 100 + 1000 (the waiting shard, sized like the others) over 2 shards at 100/s, + 2 s.
  REQUIRE(v.eta_s.has_value());
  CHECK(v.eta_s.value_or(-1) == doctest::Approx(10.5));
  std::string table = FormatJobStatusTable(v);
  CHECK(table.find("\nETA ~11s\n") != std::string::npos);
  CHECK(table.find("per device: gw-1 2 done + 1 claimed, gw-2 1 done + 1 claimed\n") !=
        std::string::npos);
  auto j = nlohmann::json::parse(FormatJobStatusJson(v));
  CHECK(j["eta_s"] == 10.5);
  CHECK(j["shard_states"][2]["eta_s"] == 8.0);
  CHECK(j["shard_states"][5]["eta_s"].is_null());
  CHECK(j["devices"]["gw-1"] == nlohmann::json{{"done", 2}, {"claimed", 1}, {"results", 12}});
  CHECK(j["devices"]["gw-2"] == nlohmann::json{{"done", 1}, {"claimed", 1}, {"results", 1}});

  SUBCASE("no sooner than the slowest running shard") {
    v = BuildJobStatus(JobSpec(5), claims, progress, done, totals);  // no waiting shard
    CHECK(v.eta_s.value_or(-1) ==
          doctest::Approx(8.0));  // (600 + 100) / 2 / 100 + 2 = 5.5 is too soon
  }
  SUBCASE("SYN mode sends every retry at the rate") {
    SharedJobSpec spec = JobSpec(6);
    spec.retries = 1;
    v = BuildJobStatus(spec, claims, progress, done, totals);
    CHECK(v.rows[2].eta_s.value_or(-1) == doctest::Approx(14.0));
    CHECK(v.eta_s.value_or(-1) == doctest::Approx(19.0));
  }
  SUBCASE("connect mode retries only timeouts and has no reply wait") {
    SharedJobSpec spec = JobSpec(6);
    spec.mode = ScanMode::kConnect;
    spec.retries = 1;
    v = BuildJobStatus(spec, claims, progress, done, totals);
    CHECK(v.eta_s.value_or(-1) == doctest::Approx(8.5 + 1.0));  // + the default 1 s connect timeout
  }
}

TEST_CASE("scan status: all shards done is ETA 0 with the per-device split") {
  const Nodes done = {{0, R"({"device":"gw-1","results":3,"checkpoint":10})"},
                      {1, R"({"device":"gw-2","results":4,"checkpoint":10})"},
                      {2, R"({"device":"gw-1","results":0,"checkpoint":10})"}};
  JobStatusView v = BuildJobStatus(JobSpec(3), {}, {}, done, {});
  CHECK(v.eta_s == 0.0);
  CHECK(v.devices.size() == 2);
  CHECK(v.devices["gw-1"].done == 2);
  CHECK(v.devices["gw-1"].results == 3u);
  CHECK(v.devices["gw-2"].claimed == 0);
  std::string table = FormatJobStatusTable(v);
  CHECK(table.find("\nETA 0 (all shards done)\nper device: gw-1 2 done, gw-2 1 done\n") !=
        std::string::npos);
  auto j = nlohmann::json::parse(FormatJobStatusJson(v));
  CHECK(j["eta_s"] == 0);
  CHECK(j["devices"]["gw-2"] == nlohmann::json{{"done", 1}, {"claimed", 0}, {"results", 4}});
}

TEST_CASE("scan status: a running shard without a reported size makes the ETA unknown") {
  const Nodes claims = {{0, R"({"device":"gw-1"})"}, {1, R"({"device":"gw-2"})"}};
  const Nodes progress = {{0, R"({"checkpoint":40})"}, {1, R"({"checkpoint":50})"}};
  const std::map<std::uint32_t, std::uint64_t> totals = {{0, 100}};  // gw-2 reported none
  JobStatusView v = BuildJobStatus(JobSpec(2), claims, progress, {}, totals);
  CHECK(v.rows[0].eta_s.value_or(-1) == doctest::Approx(2.6));
  CHECK_FALSE(v.rows[1].eta_s.has_value());
  CHECK_FALSE(v.eta_s.has_value());
  CHECK(FormatJobStatusTable(v).find("ETA unknown (shard 1 has not reported its size)\n") !=
        std::string::npos);
  CHECK(nlohmann::json::parse(FormatJobStatusJson(v))["eta_s"].is_null());
}

TEST_CASE("FormatResultsTable takes the shard from the stored result line") {
  const std::string rows = R"([{"id":1,"device":"gw-1","job":"sweep","ip":"127.0.0.1","port":80,
    "proto":"tcp","first_seen_ms":0,"result":{"shard":2,"ip":"127.0.0.1"}}])";
  std::string t = FormatResultsTable(rows);
  CHECK(t ==
        "IP         PORT  PROTO  DEVICE  SHARD  TS\n"
        "127.0.0.1  80    tcp    gw-1    2      1970-01-01T00:00:00Z\n");
}

TEST_CASE("FormatConfigErrors lists every error with its path") {
  ConfigCheck check;
  check.errors.push_back({"/capture/snaplen", "must be at least 64, got 3"});
  check.errors.push_back({"/bogus", "unknown key"});
  CHECK(FormatConfigErrors("f.json", check) ==
        "f.json is invalid, 2 error(s):\n  /capture/snaplen: must be at least 64, got 3\n"
        "  /bogus: unknown key\n");
}

}  // namespace
}  // namespace picket::cli
