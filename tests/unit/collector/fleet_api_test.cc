// The fleet routes through ApiHandler (admission + handling) without a socket.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "collector/api_handler.h"
#include "collector/fleet_api.h"
#include "collector/gunzip.h"
#include "fakes/capture/fake_clock.h"
#include "support/temp_dir.h"
#include "unit/collector/api_call.h"
#include "unit/collector/token_text.h"

namespace picket::collector {

namespace {

struct FleetFixture {
  testing::TempDir dir;
  TokenTable tokens =
      TokenTable::Parse(picket::testing::HashedTokens("gw-1 tok-1\ngw-2 tok-2\n@operator tok-op\n"),
                        "t")
          .value();
  std::unique_ptr<CollectorDb> db = CollectorDb::Open(dir.path() + "/collector.db").value();
  ChunkStore store = *ChunkStore::Open(dir.path());
  capture::testing::FakeClock clock;
  ApiHandler api{&tokens, db.get(), &store, 1 << 20, &clock};
  std::unique_ptr<FleetStore> fleet_store =
      FleetStore::Open(dir.path() + "/fleet.db", std::chrono::hours(24)).value();
  FleetState state{fleet_store.get(), &clock};
  FleetServices services;

  FleetFixture() {
    services.state = &state;
    services.store = fleet_store.get();
    services.data_dir = dir.path();
    services.min_free_disk = *ParseDiskThreshold("0");
    api.EnableFleet(&services);
  }

  Reply Call(std::string method, std::string target, std::string token, std::string body = {},
             std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.insert(headers.begin(), {"Authorization", "Bearer " + token});
    return testing::CallApi(api, std::move(method), std::move(target), headers, std::move(body));
  }
};

nlohmann::json Json(const Reply& r) { return nlohmann::json::parse(r.body); }

}  // namespace

TEST_SUITE("collector.fleet_api") {
  TEST_CASE("a heartbeat is stored and shows in the fleet, the device status and metrics") {
    FleetFixture f;
    const std::string beat = R"({"group":"lab","interval_ms":5000,"worker":{"state":"running"},
                                "counters":{"packets":10,"bytes_pending":5}})";
    Reply r = f.Call("POST", "/v1/devices/gw-1/status", "tok-1", beat);
    CHECK(r.status == 200);
    CHECK(Json(r) == nlohmann::json{{"ok", true}});
    CHECK(f.Call("POST", "/v1/devices/gw-2/status", "tok-1", beat).status == 403);
    CHECK(f.Call("POST", "/v1/devices/gw-1/status", "tok-op", beat).status == 403);
    Reply bad = f.Call("POST", "/v1/devices/gw-1/status", "tok-1", "[]");
    CHECK(bad.status == 400);
    CHECK(Json(bad)["error"].get<std::string>().find("not a JSON object") != std::string::npos);

    auto fleet = Json(f.Call("GET", "/v1/fleet", "tok-op"));
    CHECK(fleet["counts"]["online"] == 1);
    CHECK(fleet["offline_after_ms_default"] == 15000);
    REQUIRE(fleet["devices"].size() == 1);
    CHECK(fleet["devices"][0]["id"] == "gw-1");
    CHECK(fleet["devices"][0]["group"] == "lab");
    CHECK(fleet["devices"][0]["backlog_bytes"] == 5);

    auto status = Json(f.Call("GET", "/v1/devices/gw-1/status", "tok-op"));
    CHECK(status["heartbeat"]["counters"]["packets"] == 10);
    CHECK(status["config"].is_null());
    CHECK(f.Call("GET", "/v1/devices/gw-2/status", "tok-op").status == 404);

    Reply metrics = f.Call("GET", "/metrics", "tok-op");
    CHECK(metrics.status == 200);
    CHECK(metrics.content_type.rfind("text/plain; version=0.0.4", 0) == 0);
    CHECK(metrics.body.find("picket_heartbeats_total 1\n") != std::string::npos);
    CHECK(metrics.body.find("# TYPE picket_chunk_commit_seconds_total counter\n") !=
          std::string::npos);
    CHECK(metrics.body.find("picket_chunk_file_sync_seconds_total ") != std::string::npos);
    CHECK(metrics.body.find("picket_ingest_rows_total{kind=\"status\"} 1\n") != std::string::npos);
    CHECK(metrics.body.find("picket_devices{status=\"online\"} 1\n") != std::string::npos);
    CHECK(metrics.body.find("picket_device_packets_total{device=\"gw-1\"} 10\n") !=
          std::string::npos);
    CHECK(metrics.body.find("picket_data_disk_free_bytes ") != std::string::npos);
  }

  TEST_CASE("packets/s is steady when counters move in steps slower than heartbeats") {
    // The worker reports every 2 s, heartbeats go every 1 s: a rate between two
    // heartbeats alone would read 0, 100, 0, 100, ...
    FleetFixture f;
    for (int i = 0; i <= 20; ++i) {
      const int packets = 100 * (i / 2) * 2;  // +200 every second beat
      const std::string beat = R"({"interval_ms":1000,"worker":{"state":"running"},"counters":{"packets":)" +
                               std::to_string(packets) + "}}";
      REQUIRE(f.Call("POST", "/v1/devices/gw-1/status", "tok-1", beat).status == 200);
      if (i >= 12) {
        auto row = Json(f.Call("GET", "/v1/fleet", "tok-op"))["devices"][0];
        CAPTURE(i);
        CHECK(row["pps"].get<double>() == doctest::Approx(100.0).epsilon(0.15));
      }
      f.clock.Advance(std::chrono::seconds(1));
    }
  }

  TEST_CASE("heartbeat bodies are capped at 64 KiB, before and after gunzip") {
    FleetFixture f;
    const std::string big = R"({"pad":")" + std::string(70 * 1024, 'x') + R"("})";
    Reply r = f.Call("POST", "/v1/devices/gw-1/status", "tok-1", big);
    CHECK(r.status == 413);
    auto gz = GzipCompress(big);
    REQUIRE(gz.ok());
    CHECK(gz->size() < 64 * 1024);
    Reply z = f.Call("POST", "/v1/devices/gw-1/status", "tok-1", *gz, {{"Content-Encoding", "gzip"}});
    CHECK(z.status == 413);
    auto small = GzipCompress(R"({"counters":{"packets":1}})");
    CHECK(f.Call("POST", "/v1/devices/gw-1/status", "tok-1", *small, {{"Content-Encoding", "gzip"}})
              .status == 200);
  }

  TEST_CASE("series windows, issues and probes") {
    FleetFixture f;
    CHECK(f.Call("POST", "/v1/devices/gw-1/status", "tok-1", R"({"counters":{"packets":0}})")
              .status == 200);
    f.clock.Advance(Millis(5000));
    CHECK(f.Call("POST", "/v1/devices/gw-1/status", "tok-1",
                 R"({"counters":{"packets":500},"worker":{"crash_loop":true}})")
              .status == 200);
    REQUIRE(f.fleet_store->Flush().ok());
    auto series = Json(f.Call("GET", "/v1/devices/gw-1/series?window=1h", "tok-op"));
    CHECK(series["step_s"] == 10);
    REQUIRE_FALSE(series["points"].empty());
    CHECK(Json(f.Call("GET", "/v1/devices/gw-1/series", "tok-op"))["window"] == "1h");
    CHECK(Json(f.Call("GET", "/v1/devices/gw-1/series?window=24h", "tok-op"))["step_s"] == 300);
    CHECK(Json(f.Call("GET", "/v1/devices/gw-1/series?window=7d", "tok-op"))["step_s"] == 3600);
    Reply bad = f.Call("GET", "/v1/devices/gw-1/series?window=1y", "tok-op");
    CHECK(bad.status == 400);
    CHECK(Json(bad)["error"].get<std::string>().find("'1y'") != std::string::npos);

    auto issues = Json(f.Call("GET", "/v1/issues", "tok-op"))["issues"];
    REQUIRE(issues.size() == 1);
    CHECK(issues[0]["kind"] == "crash_loop");
    CHECK(issues[0]["severity"] == "critical");
    CHECK(issues[0]["device"] == "gw-1");

    auto scans = Json(f.Call("GET", "/v1/scans", "tok-op"));
    CHECK(scans["zookeeper"] == false);
    CHECK(scans["jobs"].empty());

    Reply health = f.Call("GET", "/healthz", "tok-op");
    CHECK(health.status == 200);
    CHECK(health.body == "ok\n");
    Reply ready = f.Call("GET", "/readyz", "tok-op");
    CHECK(ready.status == 200);
    CHECK(Json(ready)["checks"]["database"]["ok"] == true);
    f.services.min_free_disk = *ParseDiskThreshold("100%");
    Reply full = f.Call("GET", "/readyz", "tok-op");
    CHECK(full.status == 503);
    CHECK(Json(full)["checks"]["disk"]["ok"] == false);
  }
}

}  // namespace picket::collector
