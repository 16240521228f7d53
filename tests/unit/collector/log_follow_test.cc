// GET /v1/logs?follow=1 without a socket: admission, the start cursor, the
// events a follower reads and the wake-up a POST sends.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "collector/api_handler.h"
#include "support/temp_dir.h"
#include "unit/collector/token_text.h"

namespace picket::collector {

namespace {

class StepClock final : public Clock {
 public:
  MonoTime MonotonicNow() const override { return MonoTime(); }
  std::int64_t WallMillis() const override { return now_ms; }
  std::int64_t now_ms = 1'700'000'000'000;
};

struct FollowFixture {
  testing::TempDir dir;
  TokenTable tokens =
      TokenTable::Parse(picket::testing::HashedTokens("gw-1 tok-1\ngw-2 tok-2\n@operator tok-op\n"),
                        "t")
          .value();
  std::unique_ptr<CollectorDb> db = CollectorDb::Open(dir.path() + "/collector.db").value();
  ChunkStore store = *ChunkStore::Open(dir.path());
  StepClock clock;
  ApiHandler api{&tokens, db.get(), &store, 4096, &clock, 2};

  Admission Admit(std::string target, std::vector<std::pair<std::string, std::string>> headers = {
                                          {"Authorization", "Bearer tok-op"}}) {
    RequestHead head;
    head.method = "GET";
    head.target = std::move(target);
    for (auto& [k, v] : headers) head.headers.Add(k, v);
    return api.Admit(head);
  }

  int PostLogs(const std::string& device, const std::string& key, const std::string& body) {
    RequestHead head;
    head.method = "POST";
    head.target = "/v1/devices/" + device + "/logs";
    head.headers.Add("Authorization", "Bearer tok-" + device.substr(3));
    head.headers.Add("Idempotency-Key", key);
    head.content_length = body.size();
    Admission a = api.Admit(head);
    return api.Handle(std::move(a), body).status;
  }
};

}  // namespace

TEST_SUITE("collector.log_follow") {
  TEST_CASE("follow=1 is admitted with its cursor, without it the listing is unchanged") {
    FollowFixture f;
    auto plain = f.Admit("/v1/logs?device=gw-1");
    CHECK_FALSE(plain.reject.has_value());
    CHECK_FALSE(plain.follow.has_value());
    CHECK_FALSE(f.Admit("/v1/logs?device=gw-1&follow=0").follow.has_value());

    auto follow = f.Admit("/v1/logs?device=gw-1&follow=1&since=5");
    REQUIRE(follow.follow.has_value());
    CHECK(follow.follow->device == "gw-1");
    CHECK(follow.follow->cursor == 5);

    auto resumed = f.Admit("/v1/logs?device=gw-1&follow=1&since=5",
                           {{"Authorization", "Bearer tok-op"}, {"Last-Event-ID", "9"}});
    REQUIRE(resumed.follow.has_value());
    CHECK(resumed.follow->cursor == 9);  // the reconnect wins over the original since

    CHECK(f.Admit("/v1/logs?follow=yes").reject->status == 400);
    CHECK(
        f.Admit("/v1/logs?follow=1", {{"Authorization", "Bearer tok-op"}, {"Last-Event-ID", "abc"}})
            .reject->status == 400);
    CHECK(f.Admit("/v1/logs?follow=1", {}).reject->status == 401);
    CHECK(f.Admit("/v1/logs?follow=1", {{"Authorization", "Bearer tok-1"}}).reject->status == 403);
  }

  TEST_CASE("events after the cursor, one device, a POST wakes its followers") {
    FollowFixture f;
    int woken = 0;
    auto id = f.api.log_feed().Subscribe(std::string("gw-1"), [&] { ++woken; });
    REQUIRE(id != 0);
    CHECK(f.PostLogs("gw-1", "k1", "{\"msg\":\"one\"}\n{\"msg\":\"two\"}\n") == 200);
    CHECK(woken == 1);
    CHECK(f.PostLogs("gw-2", "k1", "{\"msg\":\"other\"}\n") == 200);
    CHECK(woken == 1);
    // A replay (same key, same body) stores nothing and wakes nobody.
    CHECK(f.PostLogs("gw-1", "k1", "{\"msg\":\"one\"}\n{\"msg\":\"two\"}\n") == 200);
    CHECK(woken == 1);

    LogFollow follow;
    follow.device = "gw-1";
    auto first = f.api.NextLogEvents(follow, 0);
    REQUIRE(first.ok());
    CHECK(first->cursor == 2);
    CHECK_FALSE(first->more);
    CHECK(first->text.find("id: 1\ndata: {") == 0);
    CHECK(first->text.find("\"msg\":\"two\"") != std::string::npos);
    CHECK(first->text.find("other") == std::string::npos);
    auto none = f.api.NextLogEvents(follow, first->cursor);
    REQUIRE(none.ok());
    CHECK(none->text.empty());
    CHECK(none->cursor == 2);
  }

  TEST_CASE("since_ms starts at the first line received at that time") {
    FollowFixture f;
    CHECK(f.PostLogs("gw-1", "a", "{\"msg\":\"old\"}\n") == 200);
    f.clock.now_ms += 60'000;
    CHECK(f.PostLogs("gw-1", "b", "{\"msg\":\"new\"}\n") == 200);
    LogFollow follow;
    follow.since_ms = f.clock.now_ms - 1000;
    auto cursor = f.api.StartCursor(follow);
    REQUIRE(cursor.ok());
    CHECK(*cursor == 1);
    follow.since_ms = f.clock.now_ms + 1000;  // nothing yet: start after the newest row
    CHECK(*f.api.StartCursor(follow) == 2);
  }
}

}  // namespace picket::collector
