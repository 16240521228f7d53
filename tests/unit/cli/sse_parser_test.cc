#include "cli/sse_parser.h"

#include <doctest/doctest.h>

namespace picket::cli {

TEST_SUITE("cli.sse") {
  TEST_CASE("ParseSseLine: fields, comments, blank lines") {
    auto data = ParseSseLine("data: {\"a\":1}");
    CHECK(data.kind == SseLine::Kind::kField);
    CHECK(data.name == "data");
    CHECK(data.value == "{\"a\":1}");
    auto no_space = ParseSseLine("id:42");
    CHECK(no_space.name == "id");
    CHECK(no_space.value == "42");
    auto two_spaces = ParseSseLine("data:  x");
    CHECK(two_spaces.value == " x");  // only one space is dropped
    auto bare = ParseSseLine("data");
    CHECK(bare.kind == SseLine::Kind::kField);
    CHECK(bare.name == "data");
    CHECK(bare.value.empty());
    auto colon_in_value = ParseSseLine("data: a:b");
    CHECK(colon_in_value.value == "a:b");
    auto ping = ParseSseLine(": ping");
    CHECK(ping.kind == SseLine::Kind::kComment);
    CHECK(ping.value == "ping");
    CHECK(ParseSseLine("").kind == SseLine::Kind::kBlank);
  }

  TEST_CASE("events are dispatched by a blank line and carry the last id") {
    SseParser p;
    std::vector<SseEvent> out;
    p.Feed("id: 7\ndata: {\"x\":1}\n\n: ping\n\nid: 8\ndata: two\n\n", &out);
    REQUIRE(out.size() == 2);
    CHECK(out[0].id == "7");
    CHECK(out[0].data == "{\"x\":1}");
    CHECK(out[1].id == "8");
    CHECK(out[1].data == "two");
    CHECK(p.last_event_id() == "8");
  }

  TEST_CASE("any split of the bytes gives the same events") {
    const std::string stream =
        "id: 1\r\ndata: a\r\ndata: b\r\n\r\nid: 2\rdata: c\r\r: ping\n\nid: 3\ndata: d\n\n";
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
      SseParser p;
      std::vector<SseEvent> out;
      p.Feed(std::string_view(stream).substr(0, cut), &out);
      p.Feed(std::string_view(stream).substr(cut), &out);
      REQUIRE(out.size() == 3);
      CHECK(out[0].data == "a\nb");
      CHECK(out[0].id == "1");
      CHECK(out[1].data == "c");
      CHECK(out[2].id == "3");
    }
    SseParser bytewise;
    std::vector<SseEvent> out;
    for (char c : stream) bytewise.Feed(std::string_view(&c, 1), &out);
    CHECK(out.size() == 3);
  }

  TEST_CASE("no data, no event, the id still counts, a new connection drops a partial event") {
    SseParser p;
    std::vector<SseEvent> out;
    p.Feed("id: 5\n\nevent: x\n\n", &out);
    CHECK(out.empty());
    CHECK(p.last_event_id() == "5");
    p.Feed("id: 6\ndata: half", &out);
    p.ResetConnection();
    CHECK(p.last_event_id() == "6");
    p.Feed("data: whole\n\n", &out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].data == "whole");
  }
}

}  // namespace picket::cli
