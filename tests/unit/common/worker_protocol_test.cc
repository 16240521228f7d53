#include "picket/common/worker_protocol.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace picket::worker_protocol {

namespace {

struct BadLine {
  const char* name;
  std::string line;
  const char* field;  // the message must name the field ...
  const char* value;  // ... and the offending value (empty: nothing to quote)
};

void CheckRefused(const Status& st, const BadLine& bad) {
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find(bad.field) != std::string::npos, st.message());
  CHECK_MESSAGE(st.message().find(bad.value) != std::string::npos, st.message());
}

}  // namespace

TEST_SUITE("common.worker_protocol") {
  TEST_CASE("every command survives encoding and parsing") {
    const std::vector<Command> commands = {
        FilterCommand{"tcp port 80 and not host 10.0.0.1", 42},
        FilterCommand{"", 0},
        AssignShard{"lab-scan", 3, R"({"targets":"127.0.0.1","ports":"80"})", 123456789012ull},
        AssignShard{"j", 0, "", 0},
        ReleaseShard{"lab-scan", 4294967295u},
        ReleaseAll{},
        HandOver{4242, 0},
        HandOver{4242, 1'796'435'445'606'958},
    };
    for (const auto& c : commands) {
      const std::string line = EncodeCommand(c);
      CAPTURE(line);
      CHECK(line.find('\n') == std::string::npos);
      auto parsed = ParseCommand(line);
      REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
      CHECK(*parsed == c);
      auto with_newline = ParseCommand(line + "\n");
      REQUIRE(with_newline.ok());
      CHECK(*with_newline == c);
    }
  }

  TEST_CASE("every event survives encoding and parsing") {
    ShardEvent failed;
    failed.kind = ShardEvent::kFailed;
    failed.job = "lab";
    failed.shard = 2;
    failed.error = "invalid argument: rate_pps: must be at least 1";
    const std::vector<Event> events = {
        Ready{7, true},
        Ready{-1, false},
        Armed{8, 0},
        Armed{8, 1'796'435'445'606'958},
        FilterAck{9, true, ""},
        FilterAck{9, false, "capture is not running"},
        ShardEvent{ShardEvent::kProgress, "lab", 1, 100, 120, 65536, 3, ""},
        ShardEvent{ShardEvent::kFinished, "lab", 1, 65536, 65536, 65536, 17, ""},
        ShardEvent{ShardEvent::kStopped, "lab", 0, 5, 6, 10, 0, ""},
        failed,
        Stats{1000000, 12, 2},
        Stats{1000000, 12, 2, 40, 3, 96000000},
        Stats{0, 0, 0, ~std::uint64_t{0}, ~std::uint64_t{0}, ~std::uint64_t{0}},
        Failed{"capture", "unavailable: nosuch0: No such device exists"},
        Failed{"", ""},
    };
    for (const auto& e : events) {
      const std::string line = EncodeEvent(e);
      CAPTURE(line);
      auto parsed = ParseEvent(line);
      REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
      CHECK(*parsed == e);
    }
  }

  TEST_CASE("a worker's failure text is cut to kMaxFailureBytes, both ways") {
    const std::string long_error(10'000, 'e');
    const std::string line = EncodeEvent(Failed{"capture", long_error});
    CHECK(line.size() < kMaxFailureBytes + 100);
    auto parsed = ParseEvent(R"({"event":"failed","what":"capture","error":")" + long_error + "\"}");
    REQUIRE(parsed.ok());
    CHECK(std::get<Failed>(*parsed).error.size() == kMaxFailureBytes);
  }

  TEST_CASE("the wire format is the one the worker and the supervisor always spoke") {
    CHECK(EncodeCommand(FilterCommand{"port 80", 3}) ==
          R"({"filter":"port 80","op":"filter","version":3})");
    CHECK(EncodeCommand(AssignShard{"j", 1, "{}", 5}) ==
          R"({"job":"j","op":"assign","shard":1,"spec":"{}","start_index":5})");
    CHECK(EncodeCommand(ReleaseShard{"j", 1}) == R"({"job":"j","op":"release","shard":1})");
    CHECK(EncodeCommand(ReleaseAll{}) == R"({"op":"release_all"})");
    CHECK(EncodeEvent(Ready{4, true}) == R"({"capture":true,"event":"ready","version":4})");
    CHECK(EncodeEvent(FilterAck{4, true, ""}) == R"({"event":"filter","ok":true,"version":4})");
    CHECK(EncodeEvent(Stats{1, 2, 3, 4, 5, 6}) ==
          R"({"bytes_captured":6,"event":"stats","filter_changes":3,"if_drops":5,"kernel_drops":4,"lost_packets":2,"packets":1})");
    CHECK(EncodeEvent(ShardEvent{ShardEvent::kProgress, "j", 1, 2, 3, 4, 5, ""}) ==
          R"({"checkpoint":2,"done":3,"event":"shard","job":"j","kind":"progress","results":5,"shard":1,"total":4})");
  }

  TEST_CASE("invalid UTF-8 in a string is replaced, not thrown") {
    const std::string line = EncodeEvent(FilterAck{1, false, "bad \xff byte"});
    auto parsed = ParseEvent(line);
    REQUIRE(parsed.ok());
    CHECK(std::get<FilterAck>(*parsed).error.find("bad ") == 0);
  }

  TEST_CASE("stats from an older worker without the drop and byte counters read as zero") {
    auto parsed = ParseEvent(R"({"event":"stats","packets":5,"lost_packets":1,"filter_changes":0})");
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
    CHECK(std::get<Stats>(*parsed) == Stats{5, 1, 0, 0, 0, 0});
    auto bare = ParseEvent(R"({"event":"stats"})");
    REQUIRE(bare.ok());
    CHECK(std::get<Stats>(*bare) == Stats{});
  }

  TEST_CASE("optional counters default to zero") {
    auto parsed = ParseEvent(R"({"event":"shard","kind":"failed","job":"j","shard":1,"error":"x"})");
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
    const auto& e = std::get<ShardEvent>(*parsed);
    CHECK(e.kind == ShardEvent::kFailed);
    CHECK(e.checkpoint == 0);
    CHECK(e.results == 0);
    CHECK(e.error == "x");
  }

  TEST_CASE("malformed commands are refused with the field named") {
    const std::vector<BadLine> bad = {
        {"not json", "{op", "not JSON", ""},
        {"not an object", "[1,2]", "must be an object", "[1,2]"},
        {"no op", R"({"filter":"x"})", "\"op\"", "missing"},
        {"op not a string", R"({"op":7})", "\"op\"", "7"},
        {"unknown op", R"({"op":"reboot"})", "\"op\"", "reboot"},
        {"filter missing", R"({"op":"filter","version":1})", "\"filter\"", "missing"},
        {"filter a number", R"({"op":"filter","filter":80,"version":1})", "\"filter\"", "80"},
        {"version a string", R"({"op":"filter","filter":"","version":"1"})", "\"version\"", "\"1\""},
        {"version too big", R"({"op":"filter","filter":"","version":9223372036854775808})",
         "\"version\"", "9223372036854775808"},
        {"shard negative", R"({"op":"release","job":"j","shard":-1})", "\"shard\"", "-1"},
        {"shard too big", R"({"op":"release","job":"j","shard":4294967296})", "\"shard\"",
         "4294967296"},
        {"shard fractional", R"({"op":"release","job":"j","shard":1.5})", "\"shard\"", "1.5"},
        {"job null", R"({"op":"assign","job":null,"shard":1,"spec":"{}"})", "\"job\"", "null"},
        {"start_index negative",
         R"({"op":"assign","job":"j","shard":1,"spec":"{}","start_index":-5})", "\"start_index\"",
         "-5"},
        {"too deep", R"({"op":"filter","filter":[[[[["x"]]]]],"version":1})", "nested", ""},
        {"hand over to no process", R"({"op":"hand_over","successor_pid":0})", "\"successor_pid\"",
         "got 0"},
        {"hand over to nobody", R"({"op":"hand_over"})", "\"successor_pid\"", "missing"},
        {"hand over before 1970", R"({"op":"hand_over","successor_pid":5,"successor_since_us":-2})",
         "\"successor_since_us\"", "-2"},
        {"hand over since a string", R"({"op":"hand_over","successor_pid":5,"successor_since_us":"9"})",
         "\"successor_since_us\"", "\"9\""},
    };
    for (const auto& b : bad) {
      CAPTURE(b.name);
      auto parsed = ParseCommand(b.line);
      REQUIRE_FALSE(parsed.ok());
      CheckRefused(parsed.status(), b);
    }
  }

  TEST_CASE("malformed events are refused with the field named") {
    const std::vector<BadLine> bad = {
        {"empty", "", "not JSON", ""},
        {"no event", R"({"kind":"progress"})", "\"event\"", "missing"},
        {"unknown event", R"({"event":"hello"})", "\"event\"", "hello"},
        {"ready without version", R"({"event":"ready","capture":true})", "\"version\"", "missing"},
        {"armed without version", R"({"event":"armed"})", "\"version\"", "missing"},
        {"armed before 1970", R"({"event":"armed","version":1,"capturing_since_us":-1})",
         "\"capturing_since_us\"", "-1"},
        {"armed time a float", R"({"event":"armed","version":1,"capturing_since_us":1.5})",
         "\"capturing_since_us\"", "1.5"},
        {"capture not a bool", R"({"event":"ready","version":1,"capture":1})", "\"capture\"", "1"},
        {"ok not a bool", R"({"event":"filter","version":1,"ok":"yes"})", "\"ok\"", "yes"},
        {"failed without error", R"({"event":"failed","what":"capture"})", "\"error\"", "missing"},
        {"failed error a number", R"({"event":"failed","what":"capture","error":5})", "\"error\"", "5"},
        {"unknown kind", R"({"event":"shard","kind":"paused","job":"j","shard":1})", "\"kind\"",
         "paused"},
        {"checkpoint a string",
         R"({"event":"shard","kind":"progress","job":"j","shard":1,"checkpoint":"10"})",
         "\"checkpoint\"", "\"10\""},
        {"packets negative", R"({"event":"stats","packets":-3})", "\"packets\"", "-3"},
        {"kernel_drops a string", R"({"event":"stats","kernel_drops":"7"})", "\"kernel_drops\"",
         "\"7\""},
        {"if_drops a float", R"({"event":"stats","if_drops":1.5})", "\"if_drops\"", "1.5"},
        {"bytes_captured negative", R"({"event":"stats","bytes_captured":-1})",
         "\"bytes_captured\"", "-1"},
    };
    for (const auto& b : bad) {
      CAPTURE(b.name);
      auto parsed = ParseEvent(b.line);
      REQUIRE_FALSE(parsed.ok());
      CheckRefused(parsed.status(), b);
    }
  }

  TEST_CASE("an overlong line is refused before it is parsed") {
    std::string line = R"({"op":"filter","version":1,"filter":")";
    line.append(kMaxLineBytes, 'a');
    line += "\"}";
    auto parsed = ParseCommand(line);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().message().find("over the limit") != std::string::npos);
  }

  TEST_CASE("an overlong string field is refused with its name") {
    std::string line = R"({"event":"filter","version":1,"ok":false,"error":")";
    line.append(100 * 1024, 'e');
    line += "\"}";
    auto parsed = ParseEvent(line);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().message().find("\"error\"") != std::string::npos);
  }
}

}  // namespace picket::worker_protocol
