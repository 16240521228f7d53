#include "picket/analysis/session.h"

#include <doctest/doctest.h>

namespace picket::analysis {

namespace {

Session Example() {
  Session s;
  s.uid = 42;
  s.community_id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
  s.proto = 6;
  s.src_ip = "128.232.110.120";
  s.src_port = 34855;
  s.dst_ip = "66.35.250.204";
  s.dst_port = 80;
  s.orig_pkts = 6;
  s.orig_bytes = 500;
  s.resp_pkts = 4;
  s.resp_bytes = 3000;
  s.orig_payload_bytes = 100;
  s.resp_payload_bytes = 2700;
  s.first_ts_us = 1'796'288'263'123'456;  // 2026-12-03T08:57:43.123456Z
  s.last_ts_us = s.first_ts_us + 2'500'000;
  s.state = "SF";
  s.history = "ShADadFf";
  s.end_reason = EndReason::kFin;
  s.app = "HTTP";
  s.category = "Web";
  s.risks = {"Known Protocol on Non Standard Port"};
  s.risk_score = 50;
  s.server_name = "example.org";
  s.packets = {{3, 24}, {3, 100}, {4, 24}};
  s.features = {{true, 74, 0, 0, 2}, {false, 74, 0, 1500, 18}};
  return s;
}

}  // namespace

TEST_SUITE("analysis.session") {
  TEST_CASE("end reasons have one name each, and parse back") {
    for (EndReason r : {EndReason::kFin, EndReason::kRst, EndReason::kIdle, EndReason::kEndOfData,
                        EndReason::kGap, EndReason::kReused, EndReason::kResources}) {
      CHECK(ParseEndReason(EndReasonName(r)) == r);
    }
    CHECK(EndReasonName(EndReason::kEndOfData) == "end_of_data");
    CHECK_FALSE(ParseEndReason("timeout").has_value());
  }

  TEST_CASE("JSON: the contract's field names, RFC 3339 times, packets by chunk, features as arrays") {
    const nlohmann::json j = ToJson(Example(), true);
    CHECK(j["first_ts"] == "2026-12-03T08:57:43.123456Z");
    CHECK(j["last_ts"] == "2026-12-03T08:57:45.623456Z");
    CHECK(j["duration"].get<double>() == doctest::Approx(2.5));
    CHECK(j["end_reason"] == "fin");
    CHECK(j["packets"] == nlohmann::json::parse(R"([{"chunk":3,"offsets":[24,100]},{"chunk":4,"offsets":[24]}])"));
    CHECK(j["features"]["direction"] == nlohmann::json::parse("[1,-1]"));
    CHECK(j["features"]["iat_us"] == nlohmann::json::parse("[0,1500]"));
    CHECK_FALSE(ToJson(Example(), false).contains("packets"));
    Session bare = Example();
    bare.features.clear();
    CHECK_FALSE(ToJson(bare, true).contains("features"));
  }

  TEST_CASE("FromJson inverts ToJson, and its errors name the field") {
    const Session s = Example();
    auto back = FromJson(ToJson(s, true));
    REQUIRE(back.ok());
    CHECK(ToJson(*back, true) == ToJson(s, true));
    CHECK(back->packets == s.packets);
    nlohmann::json j = ToJson(s, false);
    j.erase("orig_bytes");
    auto missing = FromJson(j);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().message().find("orig_bytes") != std::string::npos);
    j = ToJson(s, false);
    j["first_ts"] = "yesterday";
    CHECK(FromJson(j).status().message().find("first_ts") != std::string::npos);
    j = ToJson(s, false);
    j["src_port"] = 70000;
    CHECK(FromJson(j).status().message().find("src_port") != std::string::npos);
    j = ToJson(s, false);
    j["end_reason"] = "bored";
    CHECK(FromJson(j).status().message().find("end_reason") != std::string::npos);
    CHECK_FALSE(FromJson(nlohmann::json::array()).ok());
  }

  TEST_CASE("negative and pre-1970 times format and parse") {
    Session s = Example();
    s.first_ts_us = -1;
    s.last_ts_us = 0;
    const nlohmann::json j = ToJson(s, false);
    CHECK(j["first_ts"] == "1969-12-31T23:59:59.999999Z");
    auto back = FromJson(j);
    REQUIRE(back.ok());
    CHECK(back->first_ts_us == -1);
  }

  TEST_CASE("table: a header and one line per session with the endpoints and the label") {
    const std::string row = TableRow(Example());
    CHECK(TableHeader().find("FIRST_TS") == 0);
    CHECK(row.find("2026-12-03T08:57:43.123456Z tcp") == 0);
    CHECK(row.find("128.232.110.120:34855 -> 66.35.250.204:80") != std::string::npos);
    CHECK(row.find("HTTP") != std::string::npos);
    CHECK(row.find("example.org") != std::string::npos);
    Session v6 = Example();
    v6.src_ip = "2001:db8::1";
    CHECK(TableRow(v6).find("[2001:db8::1]:34855") != std::string::npos);
  }
}

}  // namespace picket::analysis
