#include "collector/fleet_store.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "collector/fleet_state.h"
#include "fakes/capture/fake_clock.h"
#include "support/temp_dir.h"

namespace picket::collector {

namespace {

using capture::testing::FakeClock;
using nlohmann::json;

std::string Beat(std::int64_t packets, std::int64_t bytes, std::int64_t drops,
                 std::int64_t pending = 0, int pid = 100) {
  return json{{"device", "gw"},
              {"pid", pid},
              {"started_at_ms", 1},
              {"interval_ms", 5000},
              {"worker", {{"state", "running"}}},
              {"counters",
               {{"packets", packets},
                {"bytes_captured", bytes},
                {"kernel_drops", drops},
                {"if_drops", 0},
                {"bytes_pending", pending},
                {"bytes_uploaded", bytes / 2},
                {"uploads_failed", 0}}}}
      .dump();
}

const json* Row(const std::vector<DeviceFacts>& facts, const std::string& id) {
  for (const DeviceFacts& f : facts) {
    if (f.id == id) return &f.row;
  }
  return nullptr;
}

}  // namespace

TEST_SUITE("collector.fleet_store") {
  TEST_CASE("heartbeats roll up into 10 s, 5 min and 1 h buckets with rates") {
    testing::TempDir dir;
    FakeClock clock;
    auto store = FleetStore::Open(dir.path() + "/fleet.db", std::chrono::hours(24 * 7));
    REQUIRE(store.ok());
    struct stat st {};
    REQUIRE(::stat((dir.path() + "/fleet.db").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    FleetState state(store->get(), &clock);
    // Align to a 10 s bucket so the four beats fall into two of them.
    clock.StepWall(Millis(10000 - clock.WallMillis() % 10000));
    const std::int64_t t0 = clock.WallMillis();
    REQUIRE(state.Ingest("gw", Beat(0, 0, 0)).ok());
    clock.Advance(Millis(5000));
    REQUIRE(state.Ingest("gw", Beat(5000, 5'000'000, 0, 100)).ok());  // 1000 pps, 8 Mbit/s
    clock.Advance(Millis(5000));
    REQUIRE(state.Ingest("gw", Beat(10000, 10'000'000, 50, 200)).ok());
    clock.Advance(Millis(5000));
    REQUIRE(state.Ingest("gw", Beat(15000, 15'000'000, 100, 300)).ok());
    CHECK((*store)->queued() > 0);
    REQUIRE((*store)->Flush().ok());
    CHECK((*store)->queued() == 0);

    auto fine = (*store)->Series("gw", 10, t0 - 1);
    REQUIRE(fine.ok());
    REQUIRE(fine->size() == 2);
    CHECK((*fine)[0].t_ms == t0);
    REQUIRE((*fine)[0].pps);
    CHECK(*(*fine)[0].pps == doctest::Approx(1000));
    CHECK(*(*fine)[0].bps == doctest::Approx(8'000'000));
    CHECK(*(*fine)[0].upload_bps == doctest::Approx(4'000'000));
    CHECK((*fine)[0].drops == 0);
    CHECK((*fine)[0].backlog_bytes == 100);
    CHECK((*fine)[1].t_ms == t0 + 10000);
    CHECK((*fine)[1].drops == 100);
    CHECK(*(*fine)[1].drop_pct == doctest::Approx(100.0 * 100 / 10100));
    CHECK((*fine)[1].backlog_bytes == 300);

    auto hourly = (*store)->Series("gw", 3600, 0);
    REQUIRE(hourly.ok());
    std::int64_t drops = 0;
    for (const auto& p : *hourly) drops += p.drops;
    CHECK(drops == 100);  // the same deltas, coarser buckets

    // Rates from the last two beats, drops over the last minute.
    auto facts = state.Evaluate({}, nullptr);
    const json* row = Row(facts, "gw");
    REQUIRE(row != nullptr);
    CHECK((*row)["status"] == "online");
    CHECK((*row)["pps"].get<double>() == doctest::Approx(1000));
    CHECK((*row)["backlog_bytes"] == 300);
    CHECK((*row)["zk_alive"].is_null());
    CHECK(facts[0].input.drop_pct_last_minute.has_value());
  }

  TEST_CASE("a daemon restart does not count its counters as a delta") {
    testing::TempDir dir;
    FakeClock clock;
    auto store = FleetStore::Open(dir.path() + "/fleet.db", std::chrono::hours(1));
    REQUIRE(store.ok());
    FleetState state(store->get(), &clock);
    REQUIRE(state.Ingest("gw", Beat(1'000'000, 0, 0)).ok());
    clock.Advance(Millis(5000));
    REQUIRE(state.Ingest("gw", Beat(10, 0, 0, 0, /*pid=*/200)).ok());
    REQUIRE((*store)->Flush().ok());
    auto points = (*store)->Series("gw", 10, 0);
    REQUIRE(points.ok());
    for (const auto& p : *points) CHECK_FALSE(p.pps.has_value());
    auto facts = state.Evaluate({}, nullptr);
    CHECK(facts[0].row["pps"].is_null());
  }

  TEST_CASE("retention drops buckets past each level's keep time") {
    testing::TempDir dir;
    FakeClock clock;
    auto store = FleetStore::Open(dir.path() + "/fleet.db", std::chrono::hours(48));
    REQUIRE(store.ok());
    FleetState state(store->get(), &clock);
    REQUIRE(state.Ingest("gw", Beat(0, 0, 0)).ok());
    clock.Advance(Millis(5000));
    REQUIRE(state.Ingest("gw", Beat(100, 100, 0)).ok());
    REQUIRE((*store)->Flush().ok());
    auto count = [&](std::int64_t step) {
      auto p = (*store)->Series("gw", step, 0);
      REQUIRE(p.ok());
      return p->size();
    };
    CHECK(count(10) > 0);
    CHECK(count(300) > 0);
    CHECK(count(3600) > 0);
    clock.Advance(Millis(3600LL * 1000 + 20000));  // past 1 h: the 10 s rows go
    REQUIRE((*store)->Prune(clock.WallMillis()).ok());
    CHECK(count(10) == 0);
    CHECK(count(300) > 0);
    clock.Advance(Millis(24LL * 3600 * 1000));  // past 24 h: the 5 min rows go
    REQUIRE((*store)->Prune(clock.WallMillis()).ok());
    CHECK(count(300) == 0);
    CHECK(count(3600) > 0);
    clock.Advance(Millis(24LL * 3600 * 1000));  // past the 48 h retention: all gone
    REQUIRE((*store)->Prune(clock.WallMillis()).ok());
    CHECK(count(3600) == 0);
    auto latest = (*store)->LoadLatest();
    REQUIRE(latest.ok());
    CHECK(latest->empty());  // silent longer than the retention: forgotten
  }

  TEST_CASE("a restarted collector keeps the newest heartbeat and the series") {
    testing::TempDir dir;
    FakeClock clock;
    const std::string path = dir.path() + "/fleet.db";
    {
      auto store = FleetStore::Open(path, std::chrono::hours(24));
      REQUIRE(store.ok());
      FleetState state(store->get(), &clock);
      REQUIRE(state.Ingest("gw", Beat(0, 0, 0)).ok());
      clock.Advance(Millis(5000));
      REQUIRE(state.Ingest("gw", Beat(500, 500, 0, 42)).ok());
      REQUIRE((*store)->Flush().ok());
    }
    auto store = FleetStore::Open(path, std::chrono::hours(24));
    REQUIRE(store.ok());
    FleetState state(store->get(), &clock);
    REQUIRE(state.Restore().ok());
    auto latest = state.Latest("gw");
    REQUIRE(latest.has_value());
    CHECK((*latest)["counters"]["bytes_pending"] == 42);
    auto facts = state.Evaluate({}, nullptr);
    REQUIRE(facts.size() == 1);
    CHECK(facts[0].row["status"] == "online");
    CHECK(facts[0].row["backlog_bytes"] == 42);
    auto points = (*store)->Series("gw", 10, 0);
    REQUIRE(points.ok());
    CHECK_FALSE(points->empty());
  }

  TEST_CASE("hostile heartbeats are refused naming what is wrong, odd fields are unknown") {
    testing::TempDir dir;
    FakeClock clock;
    auto store = FleetStore::Open(dir.path() + "/fleet.db", std::chrono::hours(24));
    REQUIRE(store.ok());
    FleetState state(store->get(), &clock);
    CHECK(state.Ingest("gw", "[1,2]").message().find("not a JSON object") != std::string::npos);
    CHECK(state.Ingest("gw", "{").message().find("not valid JSON") != std::string::npos);
    CHECK(state.Ingest("gw", std::string(100, '[') + std::string(100, ']'))
              .message()
              .find("nesting") != std::string::npos);
    CHECK(state.Ingest("gw", R"({"counters": 5})").message().find("'counters'") !=
          std::string::npos);
    CHECK(state.Ingest("gw", R"({"interval_ms": "soon"})").message().find("'interval_ms'") !=
          std::string::npos);
    REQUIRE(state.Ingest("gw", R"({"counters": {"packets": -5, "bytes_pending": "x"},
        "worker": {"state": 3}, "disk": {"free_bytes": 1, "total_bytes": 0},
        "picketd": ")" + std::string(5000, 'v') + R"("})")
                .ok());
    auto facts = state.Evaluate({}, nullptr);
    REQUIRE(facts.size() == 1);
    const json& row = facts[0].row;
    CHECK(row["backlog_bytes"].is_null());
    CHECK(row["worker_state"].is_null());
    CHECK(row["disk_free_pct"].is_null());
    CHECK(row["picketd"].get<std::string>().size() <= 512);
  }

  TEST_CASE("issues keep the time they began and vanish when fixed") {
    testing::TempDir dir;
    FakeClock clock;
    auto store = FleetStore::Open(dir.path() + "/fleet.db", std::chrono::hours(24));
    REQUIRE(store.ok());
    FleetState state(store->get(), &clock);
    auto crash = json::parse(Beat(1, 1, 0));
    crash["worker"]["crash_loop"] = true;
    REQUIRE(state.Ingest("gw", crash.dump()).ok());
    const std::int64_t began = clock.WallMillis();
    auto issues = state.Issues(state.Evaluate({}, nullptr));
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].issue.kind == "crash_loop");
    CHECK(issues[0].since_ms == began);
    clock.Advance(Millis(3000));
    REQUIRE(state.Ingest("gw", crash.dump()).ok());
    issues = state.Issues(state.Evaluate({}, nullptr));
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].since_ms == began);
    clock.Advance(Millis(20000));  // silent past offline_after: only "offline" remains
    issues = state.Issues(state.Evaluate({}, nullptr));
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].issue.kind == "offline");
    CHECK(issues[0].since_ms == clock.WallMillis());
  }

  TEST_CASE("devices known only from uploads or ZooKeeper get rows") {
    testing::TempDir dir;
    FakeClock clock;
    auto store = FleetStore::Open(dir.path() + "/fleet.db", std::chrono::hours(24));
    REQUIRE(store.ok());
    FleetState state(store->get(), &clock);
    ZkFleetSnapshot zk;
    zk.connected = true;
    zk.read_at_ms = clock.WallMillis();
    zk.devices["zk-only"].config = R"({"version": 3})";
    zk.devices["zk-alive"].status =
        R"({"group": "lab", "worker": {"state": "running"}, "config": {"applied_version": 2}})";
    zk.devices["zk-alive"].config = R"({"version": 2})";
    zk.groups["lab"].sync = R"({"version": 9, "error": "bad port"})";
    std::map<std::string, DeviceUploads> uploads = {{"uploader", {clock.WallMillis() - 1000}}};
    auto facts = state.Evaluate(uploads, &zk);
    REQUIRE(facts.size() == 3);
    CHECK(Row(facts, "zk-only")->at("status") == "never_seen");
    CHECK(Row(facts, "zk-only")->at("zk_alive") == false);
    CHECK(Row(facts, "uploader")->at("status") == "offline");
    CHECK(Row(facts, "uploader")->at("last_upload_ms") == clock.WallMillis() - 1000);
    const json& alive = *Row(facts, "zk-alive");
    CHECK(alive["status"] == "degraded");  // heartbeats not arriving + the group refusal
    CHECK(alive["desired_version"] == 2);
    CHECK(alive["applied_version"] == 2);
    CHECK(alive["drift"] == false);
    auto issues = state.Issues(facts);
    bool group_refusal = false;
    for (const auto& i : issues) group_refusal |= i.issue.kind == "config_refused";
    CHECK(group_refusal);
  }
}

}  // namespace picket::collector
