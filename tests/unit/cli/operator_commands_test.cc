// Pure pieces of `picket devices`, `picket config` and `picket scan`:
// argument splitting, tables, the device and job views, job ids.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/config_command.h"
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
    CHECK(table.find("\ngw-2    -      no     -/-") != std::string::npos);
    auto j = nlohmann::json::parse(FormatDevicesJson({s}));
    CHECK(j[0]["alive"] == false);
    CHECK(j[0]["applied_version"].is_null());
  }
}

TEST_CASE("MakeJobId formats UTC time and four hex digits") {
  // 2026-11-21 14:49:52 UTC
  CHECK(MakeJobId(1795272592000, 0xab1) == "scan-20261121-144952-0ab1");
}

TEST_CASE("BuildJobStatus classifies shards") {
  std::map<std::uint32_t, std::string> claims = {{1, R"({"device":"gw-2","session":5})"}};
  std::map<std::uint32_t, std::string> progress = {{1, R"({"checkpoint":300,"device":"gw-2"})"},
                                                   {2, R"({"checkpoint":50})"}};
  std::map<std::uint32_t, std::string> done = {
      {0, R"({"device":"gw-1","results":12,"checkpoint":750})"}};
  std::map<std::uint32_t, std::uint64_t> totals = {{1, 750}};
  JobStatusView v = BuildJobStatus("sweep", 3, claims, progress, done, totals);
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
  std::string table = FormatJobStatusTable(v);
  CHECK(table.find("300/750 (40%)") != std::string::npos);
  CHECK(table.find("job sweep: 1/3 shards done, 1 claimed, 1 waiting") != std::string::npos);
  auto j = nlohmann::json::parse(FormatJobStatusJson(v));
  CHECK(j["shard_states"][2]["state"] == "waiting");
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
