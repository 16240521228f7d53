#include "picket/common/wire.h"

#include <doctest/doctest.h>

namespace picket::wire {

TEST_SUITE("collector.routes") {
  TEST_CASE("device endpoints carry the validated id and seq") {
    auto put = MatchRoute("PUT", "/v1/devices/gw-01/chunks/000000000042");
    REQUIRE(put.matched());
    CHECK(put.route.endpoint == Endpoint::kPutChunk);
    CHECK(put.route.device == "gw-01");
    CHECK(put.route.seq == 42);
    CHECK(IsDeviceWrite(put.route.endpoint));

    auto get = MatchRoute("GET", "/v1/devices/gw-01/chunks/0");
    REQUIRE(get.matched());
    CHECK(get.route.endpoint == Endpoint::kGetChunk);
    CHECK_FALSE(IsDeviceWrite(get.route.endpoint));

    CHECK(MatchRoute("GET", "/v1/devices/gw-01/chunks").route.endpoint == Endpoint::kListChunks);
    CHECK(MatchRoute("POST", "/v1/devices/gw-01/results").route.endpoint == Endpoint::kPostResults);
    CHECK(MatchRoute("POST", "/v1/devices/gw-01/logs").route.endpoint == Endpoint::kPostLogs);
    CHECK(MatchRoute("GET", "/v1/devices").route.endpoint == Endpoint::kListDevices);
  }

  TEST_CASE("query parameters are percent-decoded") {
    auto m = MatchRoute("GET", "/v1/results?device=gw-01&job=scan%20one&since=7");
    REQUIRE(m.matched());
    CHECK(m.route.endpoint == Endpoint::kListResults);
    CHECK(QueryText(m.route, "job") == "scan one");
    CHECK(QueryText(m.route, "device") == "gw-01");
    auto since = QueryNumber(m.route, "since");
    REQUIRE(since.ok());
    CHECK(*since == std::optional<std::uint64_t>(7));
    auto limit = QueryNumber(m.route, "limit");
    REQUIRE(limit.ok());
    CHECK_FALSE(limit->has_value());

    auto bad = MatchRoute("GET", "/v1/logs?since=-1");
    REQUIRE(bad.matched());
    CHECK_FALSE(QueryNumber(bad.route, "since").ok());
    CHECK(MatchRoute("GET", "/v1/logs?device=%zz").http_status == 400);
    CHECK(MatchRoute("GET", "/v1/logs?device=%4").http_status == 400);
    CHECK(MatchRoute("GET", "/v1/logs?a=1&a=2").http_status == 400);
  }

  TEST_CASE("unknown paths are 404") {
    for (const char* path :
         {"/v1", "/v1/", "/ui/", "/ui/../x", "/ui/.hidden", "/ui/a/b", "/metricsx", "/v2/devices", "/v1/devices/", "/v1/devices/gw",
          "/v1/devices/gw/chunks/1/x", "/v1/devices/gw/stats", "/v1/devicesx", "v1/devices", ""}) {
      CAPTURE(path);
      CHECK(MatchRoute("GET", path).http_status == 404);
    }
  }

  TEST_CASE("console routes: page, probes, fleet, scans, admin actions") {
    CHECK(MatchRoute("GET", "/").route.endpoint == Endpoint::kPageAsset);
    CHECK(MatchRoute("GET", "/ui/app.js").route.asset == "app.js");
    CHECK(MatchRoute("GET", "/metrics").route.endpoint == Endpoint::kMetrics);
    CHECK(MatchRoute("GET", "/healthz").route.endpoint == Endpoint::kHealthz);
    CHECK(MatchRoute("POST", "/healthz").http_status == 405);
    CHECK(MatchRoute("POST", "/v1/devices/gw/status").route.endpoint == Endpoint::kPostStatus);
    CHECK(MatchRoute("GET", "/v1/devices/gw/status").route.endpoint == Endpoint::kGetDeviceStatus);
    CHECK(MatchRoute("GET", "/v1/devices/gw/series?window=1h").route.query.at("window") == "1h");
    CHECK(MatchRoute("PUT", "/v1/devices/gw/config").route.endpoint == Endpoint::kPutDeviceConfig);
    CHECK(MatchRoute("GET", "/v1/devices/gw/config").http_status == 405);
    CHECK(MatchRoute("POST", "/v1/scans").route.endpoint == Endpoint::kSubmitScan);
    auto cancel = MatchRoute("POST", "/v1/scans/job-1/cancel");
    CHECK(cancel.route.endpoint == Endpoint::kCancelScan);
    CHECK(cancel.route.job == "job-1");
    CHECK(MatchRoute("POST", "/v1/scans/a%2Fb/cancel").http_status == 400);
    CHECK(EndpointAccess(Endpoint::kPostStatus) == Access::kDevice);
    CHECK(EndpointAccess(Endpoint::kSubmitScan) == Access::kAdmin);
    CHECK(EndpointAccess(Endpoint::kMetrics) == Access::kRead);
    CHECK(EndpointAccess(Endpoint::kLogin) == Access::kPublic);
    CHECK(CancelScanPath("job 1") == "/v1/scans/job%201/cancel");
    CHECK(DeviceSeriesPath("gw", "24h") == "/v1/devices/gw/series?window=24h");
  }

  TEST_CASE("wrong methods are 405 with Allow") {
    auto m = MatchRoute("DELETE", "/v1/devices/gw/chunks/1");
    CHECK(m.http_status == 405);
    CHECK(m.allow == "GET, PUT");
    CHECK(MatchRoute("GET", "/v1/devices/gw/results").allow == "POST");
    CHECK(MatchRoute("POST", "/v1/devices").http_status == 405);
    CHECK(MatchRoute("PUT", "/v1/devices/gw/chunks").http_status == 405);
  }

  TEST_CASE("bad ids and seqs are 400 naming the value") {
    auto id = MatchRoute("PUT", "/v1/devices/../chunks/1");
    CHECK(id.http_status == 400);
    CHECK(id.error.find("'..'") != std::string::npos);
    CHECK(MatchRoute("PUT", "/v1/devices/" + std::string(65, 'a') + "/chunks/1").http_status ==
          400);
    CHECK(MatchRoute("PUT", "/v1/devices/a%2Fb/chunks/1").http_status == 400);
    for (const char* seq :
         {"-1", "+1", "1.5", "0x10", "abc", "1000000000000", "99999999999999999999"}) {
      CAPTURE(seq);
      auto m = MatchRoute("PUT", std::string("/v1/devices/gw/chunks/") + seq);
      CHECK(m.http_status == 400);
      CHECK(m.error.find(seq) != std::string::npos);
    }
    CHECK(MatchRoute("PUT", "/v1/devices/gw/chunks/999999999999").matched());
  }
}

}  // namespace picket::wire
