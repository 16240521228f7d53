#include "collector/log_feed.h"

#include <doctest/doctest.h>

#include "collector/api_handler.h"

namespace picket::collector {

TEST_SUITE("collector.log_feed") {
  TEST_CASE("followers of a device, and of every device, are woken") {
    LogFeed feed(8);
    int gw1 = 0, gw2 = 0, all = 0;
    auto a = feed.Subscribe(std::string("gw-1"), [&] { ++gw1; });
    auto b = feed.Subscribe(std::string("gw-2"), [&] { ++gw2; });
    auto c = feed.Subscribe(std::nullopt, [&] { ++all; });
    CHECK(a != 0);
    CHECK(b != 0);
    CHECK(c != 0);
    feed.Publish("gw-1");
    feed.Publish("gw-1");
    feed.Publish("gw-3");
    CHECK(gw1 == 2);
    CHECK(gw2 == 0);
    CHECK(all == 3);
    feed.Unsubscribe(a);
    feed.Unsubscribe(a);  // twice is harmless
    feed.Publish("gw-1");
    CHECK(gw1 == 2);
    CHECK(feed.followers() == 2);
  }

  TEST_CASE("at most max_followers") {
    LogFeed feed(2);
    auto a = feed.Subscribe(std::nullopt, [] {});
    CHECK(feed.Subscribe(std::nullopt, [] {}) != 0);
    CHECK(feed.Subscribe(std::nullopt, [] {}) == 0);
    feed.Unsubscribe(a);
    CHECK(feed.Subscribe(std::nullopt, [] {}) != 0);
  }

  TEST_CASE("a callback may unsubscribe itself") {
    LogFeed feed(4);
    std::uint64_t id = 0;
    int calls = 0;
    id = feed.Subscribe(std::nullopt, [&] {
      ++calls;
      feed.Unsubscribe(id);
    });
    feed.Publish("gw-1");
    feed.Publish("gw-1");
    CHECK(calls == 1);
  }

  TEST_CASE("events are 'id' and one 'data' line") {
    CHECK(FormatSseEvent(42, R"({"id":42})") == "id: 42\ndata: {\"id\":42}\n\n");
  }
}

}  // namespace picket::collector
