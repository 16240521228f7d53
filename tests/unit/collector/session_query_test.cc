#include "collector/session_query.h"

#include <doctest/doctest.h>

#include <tuple>

#include "picket/common/wire.h"

namespace picket::collector {

namespace {

constexpr std::int64_t kNowMs = 1'800'000'000'000;

Result<SessionQuery> Parse(std::string_view target) {
  auto m = wire::MatchRoute("GET", target);
  REQUIRE(m.matched());
  return ParseSessionQuery(m.route, kNowMs);
}

}  // namespace

TEST_SUITE("collector.session_query") {
  TEST_CASE("the session routes are matched with their ids") {
    auto list = wire::MatchRoute("GET", wire::SessionsPath({.device = "gw-1", .port = "53"}));
    REQUIRE(list.matched());
    CHECK(list.route.endpoint == wire::Endpoint::kListSessions);
    auto one = wire::MatchRoute("GET", wire::SessionPath(42));
    REQUIRE(one.matched());
    CHECK(one.route.endpoint == wire::Endpoint::kGetSession);
    CHECK(one.route.session_id == 42);
    auto pcap = wire::MatchRoute("GET", wire::SessionPcapPath(7));
    REQUIRE(pcap.matched());
    CHECK(pcap.route.endpoint == wire::Endpoint::kGetSessionPcap);
    CHECK(pcap.route.session_id == 7);
    CHECK(wire::MatchRoute("GET", "/v1/sessions/0").http_status == 400);
    CHECK(wire::MatchRoute("GET", "/v1/sessions/x/pcap").http_status == 400);
    CHECK(wire::MatchRoute("GET", "/v1/sessions/1/other").http_status == 404);
    CHECK(wire::MatchRoute("PUT", "/v1/sessions/1").http_status == 405);
    CHECK_FALSE(wire::IsDeviceWrite(wire::Endpoint::kGetSessionPcap));
  }

  TEST_CASE("filters are parsed and defaults apply") {
    auto q = Parse("/v1/sessions?device=gw&ip=::0001&port=443&proto=tcp&app=TLS&risk=x&state=SF"
                   "&after=10&limit=5");
    REQUIRE(q.ok());
    CHECK(q->filter.device == "gw");
    CHECK(q->filter.ip == "::1");
    CHECK(q->filter.port == 443);
    CHECK(q->filter.proto == 6);
    CHECK(q->filter.app == "TLS");
    CHECK(q->filter.after == 10);
    CHECK(q->limit == 5);
    auto plain = Parse("/v1/sessions");
    REQUIRE(plain.ok());
    CHECK(plain->limit == wire::kDefaultSessionLimit);
    CHECK_FALSE(plain->filter.port.has_value());
    CHECK(Parse("/v1/sessions?proto=58")->filter.proto == 58);
    CHECK(Parse("/v1/sessions?proto=icmp6")->filter.proto == 58);
  }

  TEST_CASE("times are RFC 3339 or a duration back from now") {
    CHECK(*ParseTimeOrAgo("2027-01-15T08:00:00Z", kNowMs) == 1'800'000'000'000'000);
    CHECK(*ParseTimeOrAgo("1970-01-01T00:00:01.5Z", kNowMs) == 1'500'000);
    CHECK(*ParseTimeOrAgo("1970-01-01T01:00:00+01:00", kNowMs) == 0);
    CHECK(*ParseTimeOrAgo("1h", kNowMs) == (kNowMs - 3'600'000) * 1000);
    CHECK_FALSE(ParseTimeOrAgo("yesterday", kNowMs).ok());
    CHECK_FALSE(ParseTimeOrAgo("2027-13-01T00:00:00Z", kNowMs).ok());
    CHECK_FALSE(ParseTimeOrAgo("2027-01-01T00:00:00", kNowMs).ok());  // no zone
  }

  TEST_CASE("a bad value is refused naming the parameter and the value") {
    for (auto [query, name, value] :
         {std::tuple{"port=65536", "port", "65536"}, std::tuple{"port=x", "port", "x"},
          std::tuple{"proto=300", "proto", "300"}, std::tuple{"ip=1.2.3", "ip", "1.2.3"},
          std::tuple{"since=soon", "since", "soon"}, std::tuple{"until=1", "until", "1"},
          std::tuple{"device=a%2Fb", "device", "a/b"}, std::tuple{"limit=0", "limit", "0"},
          std::tuple{"limit=100001", "limit", "100001"}, std::tuple{"app=", "app", "''"},
          std::tuple{"after=-3", "after", "-3"}}) {
      CAPTURE(query);
      auto q = Parse(std::string("/v1/sessions?") + query);
      REQUIRE_FALSE(q.ok());
      CHECK(q.status().message().find(name) != std::string::npos);
      CHECK(q.status().message().find(value) != std::string::npos);
    }
  }
}

}  // namespace picket::collector
