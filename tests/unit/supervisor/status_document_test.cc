// The status document as a heartbeat: the fields the collector's contract
// lists, counters that survive worker restarts, disk space of the buffer.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "supervisor/status_document.h"
#include "support/temp_dir.h"

namespace picket::supervisor {

using nlohmann::json;
using worker_protocol::Stats;

TEST_SUITE("supervisor.status") {
  TEST_CASE("a heartbeat is the status document plus its own fields") {
    const json status = {{"picketd", "0.1.0"},
                         {"pid", 42},
                         {"config", {{"applied_version", 3}}},
                         {"counters", {{"packets", 10}}},
                         {"zookeeper", "connected"},  // the status node's spelling
                         {"last_error", nullptr}};
    HeartbeatFields f;
    f.sent_at_ms = 1'800'000'000'123;
    f.interval_ms = 5000;
    f.uptime_s = 61;
    f.device = "gw-1";
    f.group = "lab";
    f.zk_configured = true;
    f.zk_connected = false;
    f.disk_path = "/var/lib/picketd";
    f.disk = DiskSpace{100, 400};
    f.scan = json::array({{{"job", "sweep"}, {"shard", 1}}});
    const json doc = json::parse(HeartbeatBody(status, f));
    CHECK(doc["picketd"] == "0.1.0");
    CHECK(doc["pid"] == 42);
    CHECK(doc["config"]["applied_version"] == 3);
    CHECK(doc["counters"]["packets"] == 10);
    CHECK(doc["last_error"].is_null());
    CHECK(doc["device"] == "gw-1");
    CHECK(doc["group"] == "lab");
    CHECK(doc["sent_at_ms"] == 1'800'000'000'123);
    CHECK(doc["interval_ms"] == 5000);
    CHECK(doc["uptime_s"] == 61);
    CHECK(doc["zookeeper"] == json{{"configured", true}, {"connected", false}});
    CHECK(doc["disk"] == json{{"path", "/var/lib/picketd"}, {"free_bytes", 100}, {"total_bytes", 400}});
    CHECK(doc["scan"][0]["job"] == "sweep");
  }

  TEST_CASE("unknown disk space is null, no scan means no scan key, bad UTF-8 is replaced") {
    HeartbeatFields f;
    f.disk_path = "/gone";
    const std::string body = HeartbeatBody({{"last_error", "bad \xff byte"}}, f);
    const json doc = json::parse(body);  // would throw on invalid UTF-8
    CHECK(doc["disk"]["free_bytes"].is_null());
    CHECK(doc["disk"]["total_bytes"].is_null());
    CHECK_FALSE(doc.contains("scan"));
    CHECK(doc["last_error"].get<std::string>().rfind("bad ", 0) == 0);
    // Not an object (cannot happen in the daemon): still a valid heartbeat.
    CHECK(json::parse(HeartbeatBody(json::array(), f)).is_object());
  }

  TEST_CASE("worker counters add up over restarts and ignore late lines of an old worker") {
    WorkerCounterTotals totals;
    totals.Update(1, Stats{100, 1, 0, 5, 1, 10'000});
    totals.Update(1, Stats{250, 2, 1, 7, 1, 25'000});
    CHECK(totals.Total() == Stats{250, 2, 1, 7, 1, 25'000});
    totals.Update(2, Stats{30, 0, 0, 0, 0, 3'000});  // restarted: counts from zero
    CHECK(totals.Total() == Stats{280, 2, 1, 7, 1, 28'000});
    totals.Update(1, Stats{260, 2, 1, 7, 1, 26'000});  // the old worker's last line, read late
    CHECK(totals.Total() == Stats{280, 2, 1, 7, 1, 28'000});
    totals.Update(4, Stats{5, 0, 0, 2, 0, 500});  // run 3 died before its first stats
    json c = json::object();
    totals.WriteTo(c);
    CHECK(c == json{{"packets", 285},     {"lost_packets", 2}, {"kernel_drops", 9},
                    {"if_drops", 1},      {"bytes_captured", 28'500}});
  }

  TEST_CASE("disk space of a directory, and an error naming a missing one") {
    testing::TempDir dir;
    auto disk = StatDisk(dir.path());
    REQUIRE_MESSAGE(disk.ok(), disk.status().ToString());
    CHECK(disk->total_bytes > 0);
    CHECK(disk->free_bytes <= disk->total_bytes);
    auto missing = StatDisk(dir.Join("no-such-dir"));
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().ToString().find("no-such-dir") != std::string::npos);
  }
}

}  // namespace picket::supervisor

namespace picket::supervisor {

TEST_SUITE("supervisor.status") {
  TEST_CASE("a heartbeat over the collector's 64 KiB limit is cut, never refused") {
    json errors = json::array();
    for (int i = 0; i < 2000; ++i) errors.push_back("/scans/" + std::to_string(i) + "/ports: bad");
    json scan = json::array();
    for (int i = 0; i < 2000; ++i) scan.push_back({{"job", "sweep"}, {"shard", i}, {"done", i}});
    const json status = {{"config", {{"refused", {{"version", 9}, {"errors", errors}}}}},
                         {"last_error", std::string(100'000, 'e')},
                         {"counters", {{"packets", 7}}}};
    HeartbeatFields f;
    f.device = "gw-1";
    f.scan = scan;
    const std::string body = HeartbeatBody(status, f);
    CHECK(body.size() <= kMaxHeartbeatBytes);
    const json doc = json::parse(body);
    CHECK(doc["truncated"] == true);
    CHECK(doc["device"] == "gw-1");
    CHECK(doc["counters"]["packets"] == 7);
    CHECK(doc["config"]["refused"]["version"] == 9);
    CHECK(doc["config"]["refused"]["errors"].size() == 3);
    CHECK(doc["last_error"].get<std::string>().size() == 1024);
    CHECK(doc["scan"].empty());
    // A normal document is not marked.
    CHECK_FALSE(json::parse(HeartbeatBody({{"counters", {{"packets", 7}}}}, HeartbeatFields{}))
                    .contains("truncated"));
  }
}

}  // namespace picket::supervisor
