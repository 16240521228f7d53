#include "collector/metrics.h"

#include <doctest/doctest.h>

#include <limits>

#include "collector/probes.h"

namespace picket::collector {

TEST_SUITE("collector.metrics") {
  TEST_CASE("label values are escaped and values spelled as the format wants") {
    CHECK(EscapeLabelValue(R"(a"b\c)" "\n") == R"(a\"b\\c\n)");
    CHECK(FormatMetricValue(1) == "1");
    CHECK(FormatMetricValue(0.25) == "0.25");
    CHECK(FormatMetricValue(std::numeric_limits<double>::infinity()) == "+Inf");
    CHECK(FormatMetricValue(-std::numeric_limits<double>::infinity()) == "-Inf");
    CHECK(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()) == "NaN");
    CHECK(FormatMetricValue(1e20) == "1e+20");
  }

  TEST_CASE("families, samples and a cumulative histogram in text format 0.0.4") {
    CollectorMetrics m;
    m.ObserveRequest("get_fleet", 200, 0.003);
    m.ObserveRequest("get_fleet", 200, 0.2);
    m.ObserveRequest("get_fleet", 401, 20);  // over the last bucket: only +Inf
    m.AddIngest("status", 1000, 1);
    m.RequestStarted();
    ExpositionWriter w;
    m.Write(w);
    w.Family("picket_device_up", "gauge", "1 when up.");
    w.Sample("picket_device_up", {{"device", "gw\"1"}}, 1);
    const std::string& t = w.text();
    CHECK(t.find("# HELP picket_http_requests_total ") != std::string::npos);
    CHECK(t.find("# TYPE picket_http_requests_total counter\n") != std::string::npos);
    CHECK(t.find("picket_http_requests_total{route=\"get_fleet\",code=\"200\"} 2\n") !=
          std::string::npos);
    CHECK(t.find("picket_http_requests_total{route=\"get_fleet\",code=\"401\"} 1\n") !=
          std::string::npos);
    CHECK(t.find("# TYPE picket_http_request_duration_seconds histogram\n") != std::string::npos);
    CHECK(t.find("picket_http_request_duration_seconds_bucket{route=\"get_fleet\",le=\"0.001\"} 0\n") !=
          std::string::npos);
    CHECK(t.find("picket_http_request_duration_seconds_bucket{route=\"get_fleet\",le=\"0.005\"} 1\n") !=
          std::string::npos);
    CHECK(t.find("picket_http_request_duration_seconds_bucket{route=\"get_fleet\",le=\"0.25\"} 2\n") !=
          std::string::npos);
    CHECK(t.find("picket_http_request_duration_seconds_bucket{route=\"get_fleet\",le=\"10\"} 2\n") !=
          std::string::npos);
    CHECK(t.find("picket_http_request_duration_seconds_bucket{route=\"get_fleet\",le=\"+Inf\"} 3\n") !=
          std::string::npos);
    CHECK(t.find("picket_http_request_duration_seconds_count{route=\"get_fleet\"} 3\n") !=
          std::string::npos);
    CHECK(t.find("picket_http_inflight_requests 1\n") != std::string::npos);
    CHECK(t.find("picket_ingest_bytes_total{kind=\"status\"} 1000\n") != std::string::npos);
    CHECK(t.find("picket_ingest_rows_total{kind=\"chunk\"} 0\n") != std::string::npos);
    CHECK(t.find("picket_device_up{device=\"gw\\\"1\"} 1\n") != std::string::npos);
    CHECK(t.back() == '\n');
  }
}

TEST_SUITE("collector.probes") {
  TEST_CASE("--min-free-disk takes a size or a percentage") {
    auto size = ParseDiskThreshold("512MiB");
    REQUIRE(size.ok());
    CHECK(size->bytes == 512ull << 20);
    CHECK_FALSE(size->percent);
    auto pct = ParseDiskThreshold("2.5%");
    REQUIRE(pct.ok());
    CHECK(*pct->percent == doctest::Approx(2.5));
    CHECK_FALSE(ParseDiskThreshold("101%").ok());
    CHECK_FALSE(ParseDiskThreshold("x%").ok());
    CHECK(ParseDiskThreshold("lots").status().message().find("--min-free-disk") !=
          std::string::npos);
  }

  TEST_CASE("readiness names the failing check") {
    ReadinessInput in;
    in.database = Status::Ok();
    in.disk = DiskSpace{100, 1000};
    in.threshold = *ParseDiskThreshold("10%");
    Readiness ok = EvaluateReadiness(in);
    CHECK(ok.ready);
    CHECK(ok.body["checks"]["disk"]["ok"] == true);
    CHECK(ok.body["checks"]["zookeeper"]["configured"] == false);

    in.disk = DiskSpace{99, 1000};
    Readiness full = EvaluateReadiness(in);
    CHECK_FALSE(full.ready);
    CHECK(full.body["ready"] == false);
    CHECK(full.body["checks"]["disk"]["ok"] == false);
    CHECK(full.body["checks"]["database"]["ok"] == true);

    in.disk = DiskSpace{1 << 20, 1 << 30};
    in.database = Status::ResourceExhausted("fleet.db: database or disk is full");
    in.zookeeper = false;
    in.zookeeper_error = "ZooKeeper not read for 12 s";
    Readiness bad = EvaluateReadiness(in);
    CHECK_FALSE(bad.ready);
    CHECK(bad.body["checks"]["database"]["error"] == "fleet.db: database or disk is full");
    CHECK(bad.body["checks"]["zookeeper"]["error"] == "ZooKeeper not read for 12 s");
  }
}

}  // namespace picket::collector
