#include "picket/common/wire.h"

#include <doctest/doctest.h>

#include <string>

namespace picket::wire {

TEST_SUITE("common.wire") {
  TEST_CASE("builders spell the targets the clients sent before the contract existed") {
    CHECK(DevicesPath() == "/v1/devices");
    CHECK(ChunksPath("gw-1") == "/v1/devices/gw-1/chunks");
    CHECK(ChunksPath("gw-1", {.since = 4, .limit = 10}) ==
          "/v1/devices/gw-1/chunks?since=4&limit=10");
    CHECK(ChunkPath("gw-1", 42) == "/v1/devices/gw-1/chunks/42");
    CHECK(ChunkPath("gw-1", kMaxChunkSeq) == "/v1/devices/gw-1/chunks/999999999999");
    CHECK(DeviceResultsPath("gw-1") == "/v1/devices/gw-1/results");
    CHECK(DeviceLogsPath("gw-1") == "/v1/devices/gw-1/logs");
    CHECK(ResultsPath() == "/v1/results");
    // picket scan results
    CHECK(ResultsPath({.job = "e2e-scan", .limit = 1000}) == "/v1/results?job=e2e-scan&limit=1000");
    CHECK(ResultsPath({.device = "gw-1", .job = "j", .since = 3, .limit = 5}) ==
          "/v1/results?device=gw-1&job=j&limit=5&since=3");
    CHECK(LogsPath() == "/v1/logs");
    // picket logs: one page, then the next from the cursor, then --follow
    CHECK(LogsPath({.device = "gw-1", .limit = 1000}) == "/v1/logs?device=gw-1&limit=1000");
    CHECK(LogsPath({.device = "gw-1", .since = 77, .limit = 1000, .since_ms = 1700000000000}) ==
          "/v1/logs?device=gw-1&limit=1000&since=77&since_ms=1700000000000");
    CHECK(LogsPath({.device = "gw-1", .follow = true}) == "/v1/logs?device=gw-1&follow=1");
    CHECK(LogsPath({.device = "gw-1", .follow = true, .since_ms = 5}) ==
          "/v1/logs?device=gw-1&follow=1&since_ms=5");
  }

  TEST_CASE("every builder's target matches its endpoint") {
    struct Case {
      std::string target;
      Endpoint endpoint;
    };
    for (const Case& c : {
             Case{DevicesPath(), Endpoint::kListDevices},
             Case{ChunksPath("gw.1_a-Z", {.limit = 3}), Endpoint::kListChunks},
             Case{ChunkPath("gw.1_a-Z", 7), Endpoint::kGetChunk},
             Case{ChunkPath("gw.1_a-Z", 7), Endpoint::kPutChunk},
             Case{DeviceResultsPath("gw.1_a-Z"), Endpoint::kPostResults},
             Case{DeviceLogsPath("gw.1_a-Z"), Endpoint::kPostLogs},
             Case{ResultsPath({.device = "gw-1", .job = "j"}), Endpoint::kListResults},
             Case{LogsPath({.device = "gw-1", .follow = true}), Endpoint::kListLogs},
         }) {
      CAPTURE(c.target);
      auto m = MatchRoute(EndpointMethod(c.endpoint), c.target);
      REQUIRE(m.matched());
      CHECK(m.route.endpoint == c.endpoint);
      if (c.target.find("/v1/devices/") == 0) CHECK(m.route.device == "gw.1_a-Z");
    }
    auto chunk = MatchRoute("PUT", ChunkPath("gw", kMaxChunkSeq));
    REQUIRE(chunk.matched());
    CHECK(chunk.route.seq == kMaxChunkSeq);
    auto logs = MatchRoute("GET", LogsPath({.device = "gw-1", .since = 9, .since_ms = 12}));
    REQUIRE(logs.matched());
    CHECK(QueryText(logs.route, kDeviceParam) == "gw-1");
    CHECK(*QueryNumber(logs.route, kSinceParam) == std::optional<std::uint64_t>(9));
    CHECK(*QueryNumber(logs.route, kSinceMsParam) == std::optional<std::uint64_t>(12));
    CHECK_FALSE(QueryText(logs.route, kFollowParam).has_value());
  }

  TEST_CASE("query values round-trip whatever they hold") {
    const std::string job = "scan one&limit=5?#%+/é";
    auto m = MatchRoute("GET", ResultsPath({.job = job}));
    REQUIRE(m.matched());
    CHECK(QueryText(m.route, kJobParam) == job);
    CHECK(m.route.query.size() == 1);  // the '&' and '=' did not make a second parameter
  }

  TEST_CASE("a hostile device id is encoded, and the collector refuses it as a bad id") {
    for (const char* device : {"a/b", "..", ".", "a b", "gw?x=1", "gw#1", "%2e%2e", ""}) {
      CAPTURE(device);
      auto m = MatchRoute("PUT", ChunkPath(device, 1));
      CHECK(m.http_status == kHttpBadRequest);
    }
    CHECK(ChunkPath("a/b", 1) == "/v1/devices/a%2Fb/chunks/1");
    CHECK(DeviceLogsPath("../x") == "/v1/devices/..%2Fx/logs");
  }

  TEST_CASE("hostile targets") {
    // ids: the grammar, its length limit, and the two dot names
    CHECK(MatchRoute("GET", "/v1/devices/" + std::string(kMaxDeviceIdLength, 'a') + "/chunks")
              .matched());
    CHECK(MatchRoute("GET", "/v1/devices/" + std::string(kMaxDeviceIdLength + 1, 'a') + "/chunks")
              .http_status == kHttpBadRequest);
    CHECK(MatchRoute("GET", "/v1/devices/" + std::string(100000, 'a') + "/chunks").http_status ==
          kHttpBadRequest);
    CHECK(MatchRoute("POST", "/v1/devices/./logs").http_status == kHttpBadRequest);
    CHECK(MatchRoute("POST", "/v1/devices/../logs").http_status == kHttpBadRequest);
    CHECK(MatchRoute("POST", "/v1/devices/.../logs").matched());  // a plain name, no traversal
    // path segments are never percent-decoded
    CHECK(MatchRoute("GET", "/v1/devices/%67w/chunks").http_status == kHttpBadRequest);
    CHECK(MatchRoute("GET", "/v1/devices/%2e%2e/chunks").http_status == kHttpBadRequest);
    CHECK(MatchRoute("GET", "/v1/%64evices").http_status == kHttpNotFound);
    CHECK(MatchRoute("GET", "/v1/devices//chunks").http_status == kHttpBadRequest);  // empty id
    CHECK(MatchRoute("GET", "/v1/devices/gw/chunks/%31").http_status == kHttpBadRequest);
    // seqs
    for (const char* seq : {"", " 1", "1 ", "1%00", "1;x", "18446744073709551616"}) {
      CAPTURE(seq);
      CHECK(MatchRoute("GET", std::string("/v1/devices/gw/chunks/") + seq).http_status ==
            kHttpBadRequest);
    }
    CHECK(MatchRoute("GET", "/v1/devices/gw/chunks/0000000000000000001").matched());
    // shapes that are no route
    for (const char* target :
         {"http://127.0.0.1/v1/devices", "*", "/v1//devices", "/V1/devices", "/v1/Devices",
          "/v1/devices/gw/chunks/1/", "/v1/devices/gw/logs/1", "/v1/logs/x"}) {
      CAPTURE(target);
      CHECK(MatchRoute("GET", target).http_status == kHttpNotFound);
    }
    // the query is split off first: a '?' in it is data, a '#' is not special
    auto q = MatchRoute("GET", "/v1/logs?device=a?b&since=1#x");
    REQUIRE(q.matched());
    CHECK(QueryText(q.route, kDeviceParam) == "a?b");
    CHECK_FALSE(QueryNumber(q.route, kSinceParam).ok());  // "1#x"
    // empty items are skipped, a name without '=' has an empty value, '+' is a space
    auto e = MatchRoute("GET", "/v1/results?&&job&device=a+b%2B");
    REQUIRE(e.matched());
    CHECK(QueryText(e.route, kJobParam) == "");
    CHECK(QueryText(e.route, kDeviceParam) == "a b+");
    // a bad query is a 400 once the path is under /v1, before the route is known
    CHECK(MatchRoute("GET", "/v1/nothing?device=%G0").http_status == kHttpBadRequest);
    CHECK(MatchRoute("GET", "/v2/nothing?device=%G0").http_status == kHttpNotFound);
    CHECK(MatchRoute("GET", "/v1/logs?device=%").http_status == kHttpBadRequest);
    CHECK(MatchRoute("GET", "/v1/logs?dev%69ce=a&device=b").http_status == kHttpBadRequest);
    // methods are case-sensitive (RFC 9110)
    auto lower = MatchRoute("get", "/v1/devices");
    CHECK(lower.http_status == kHttpMethodNotAllowed);
    CHECK(lower.allow == "GET");
  }

  TEST_CASE("who may call what") {
    CHECK(IsDeviceWrite(Endpoint::kPutChunk));
    CHECK(IsDeviceWrite(Endpoint::kPostResults));
    CHECK(IsDeviceWrite(Endpoint::kPostLogs));
    for (Endpoint e : {Endpoint::kGetChunk, Endpoint::kListChunks, Endpoint::kListDevices,
                       Endpoint::kListResults, Endpoint::kListLogs}) {
      CAPTURE(EndpointName(e));
      CHECK_FALSE(IsDeviceWrite(e));
      CHECK(EndpointMethod(e) == "GET");
    }
    CHECK(EndpointMethod(Endpoint::kPutChunk) == "PUT");
    CHECK(EndpointMethod(Endpoint::kPostLogs) == "POST");
    CHECK(EndpointName(Endpoint::kListLogs) == "list_logs");
  }

  TEST_CASE("headers and bearer tokens") {
    CHECK(HeaderLine(kIdempotencyKeyHeader, "k1") == "Idempotency-Key: k1");
    CHECK(BearerHeaderLine("s3cret") == "Authorization: Bearer s3cret");
    CHECK(ParseBearerToken("Bearer s3cret") == "s3cret");
    CHECK(ParseBearerToken("  bEaReR   s3cret \t") == "s3cret");
    CHECK_FALSE(ParseBearerToken("Bearer ").has_value());  // trimmed first: no token
    CHECK_FALSE(ParseBearerToken("Bearer").has_value());
    CHECK_FALSE(ParseBearerToken("Bearers3cret").has_value());
    CHECK_FALSE(ParseBearerToken("Basic dTpw").has_value());
    CHECK_FALSE(ParseBearerToken("").has_value());
  }
}

}  // namespace picket::wire
