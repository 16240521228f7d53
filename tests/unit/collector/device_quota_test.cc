#include "collector/device_quota.h"

#include <doctest/doctest.h>

#include "fakes/capture/fake_clock.h"

using picket::collector::DeviceQuota;

TEST_SUITE("collector.device_quota") {
  TEST_CASE("a device gets a minute's allowance, refills over time, and others are unaffected") {
    picket::capture::testing::FakeClock clock;
    DeviceQuota quota({1000, 100}, &clock);
    CHECK_FALSE(quota.Charge("gw-1", 600, 60));
    auto over = quota.Charge("gw-1", 600, 10);  // 400 bytes left
    REQUIRE(over);
    CHECK(over->message.find("quota of 1000 bytes a minute (--device-bytes-per-minute)") !=
          std::string::npos);
    CHECK(over->retry_after_s == 12);  // 200 missing bytes at 1000 a minute
    CHECK_FALSE(quota.Charge("gw-2", 600, 60));  // its own buckets
    auto rows = quota.Charge("gw-1", 10, 50);  // 40 rows left
    REQUIRE(rows);
    CHECK(rows->message.find("100 rows a minute") != std::string::npos);
    clock.Advance(std::chrono::seconds(30));  // +500 bytes, +50 rows
    CHECK_FALSE(quota.Charge("gw-1", 600, 50));
  }

  TEST_CASE("a request above a whole minute's allowance passes on a full bucket, then waits") {
    picket::capture::testing::FakeClock clock;
    DeviceQuota quota({1000, 0}, &clock);
    CHECK_FALSE(quota.Charge("gw-1", 5000, 0));  // a big chunk is slowed, never refused forever
    auto next = quota.Charge("gw-1", 1, 0);
    REQUIRE(next);
    CHECK(next->retry_after_s == 60);
    clock.Advance(std::chrono::minutes(5));
    CHECK_FALSE(quota.Charge("gw-1", 1, 0));
  }

  TEST_CASE("zero limits charge nothing") {
    picket::capture::testing::FakeClock clock;
    DeviceQuota quota({0, 0}, &clock);
    for (int i = 0; i < 100; ++i) CHECK_FALSE(quota.Charge("gw-1", 1ull << 40, 1ull << 30));
  }
}
