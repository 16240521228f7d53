#include "collector/fleet_zk_view.h"

#include <doctest/doctest.h>

#include "picket/zk/fleet_views.h"

namespace picket::collector {

TEST_SUITE("collector.fleet_zk_view") {
  TEST_CASE("a scan job for GET /v1/scans: state, progress, rate and shards") {
    SharedJobSpec spec;
    spec.id = "sweep";
    spec.shards = 3;
    spec.rate_pps = 100;
    spec.retries = 0;
    spec.wait = std::chrono::milliseconds(2000);
    zk::JobNodes nodes;
    nodes.claims = {{1, R"({"device":"gw-2"})"}};
    nodes.progress = {{1, R"({"checkpoint":300})"}};
    nodes.done = {{0, R"({"device":"gw-1","results":12,"checkpoint":750})"}};
    nodes.totals = {{1, 750}};
    const auto view = zk::BuildJobStatus(spec, nodes, std::chrono::milliseconds(1000));
    nlohmann::json j = ScanJobJson(spec, nlohmann::json{{"targets", "10.0.0.0/24"}}, view);
    CHECK(j["job"] == "sweep");
    CHECK(j["state"] == "running");
    CHECK(j["spec"]["targets"] == "10.0.0.0/24");
    CHECK(j["found"] == 12);
    CHECK(j["rate_pps"].get<double>() == doctest::Approx(100));
    CHECK(j["progress_pct"].get<double>() == doctest::Approx((100.0 + 40.0 + 0.0) / 3));
    CHECK(j["eta_s"].get<double>() == doctest::Approx(14));  // 450 + 750 left at 100/s, + 2 s wait
    REQUIRE(j["shards"].size() == 3);
    CHECK(j["shards"][0]["holder"] == "gw-1");
    CHECK(j["shards"][0]["pct"] == 100.0);
    CHECK(j["shards"][1]["done"] == 300);
    CHECK(j["shards"][1]["total"] == 750);
    CHECK(j["shards"][2]["holder"].is_null());
    CHECK(j["shards"][2]["pct"].is_null());

    nodes.claims.clear();
    nodes.done = {{0, "{}"}, {1, "{}"}, {2, "not json"}};
    CHECK(ScanJobJson(spec, nullptr, zk::BuildJobStatus(spec, nodes, std::chrono::seconds(1)))
              ["state"] == "done");
    nodes.done.clear();
    CHECK(ScanJobJson(spec, nullptr, zk::BuildJobStatus(spec, nodes, std::chrono::seconds(1)))
              ["state"] == "pending");
  }

  TEST_CASE("hostile node data never throws: wrong types are unknown") {
    SharedJobSpec spec;
    spec.id = "j";
    spec.shards = 2;
    zk::JobNodes nodes;
    nodes.claims = {{0, R"({"device": 5})"}};
    nodes.done = {{1, R"({"device": ["x"], "results": "many"})"}};
    nodes.progress = {{0, R"([[[[[[)"}};
    const auto view = zk::BuildJobStatus(spec, nodes, std::chrono::seconds(1));
    CHECK(view.rows[0].device.empty());
    CHECK(view.rows[1].device.empty());
    CHECK_FALSE(view.rows[1].results.has_value());
    const auto d = zk::BuildDeviceView("gw", std::string("{\"version\":\"7\"}"),
                                       std::string(R"({"group": 3, "last_error": {"x":1}})"),
                                       std::string("[]"));
    CHECK(d.alive);
    CHECK_FALSE(d.desired_version.has_value());
    CHECK(d.group.empty());
    CHECK(d.last_error.empty());
  }
}

}  // namespace picket::collector
