#include <doctest/doctest.h>

#include <vector>

#include "collector/http_session.h"

using picket::collector::InflightLimit;

TEST_SUITE("collector.inflight_limit") {
  TEST_CASE("a freed slot goes to the first in line, and nobody takes one past the line") {
    InflightLimit limit(2);
    CHECK(limit.TryAcquire());
    CHECK(limit.TryAcquire());
    CHECK_FALSE(limit.TryAcquire());
    std::vector<int> served;
    auto first = limit.Wait([&] { served.push_back(1); });
    auto second = limit.Wait([&] { served.push_back(2); });
    CHECK(limit.waiting() == 2);
    limit.Release();  // to the first waiter: the count stays at the cap
    CHECK(served == std::vector<int>{1});
    CHECK_FALSE(limit.TryAcquire());  // the second still waits: no barging
    limit.Release();
    CHECK(served == std::vector<int>{1, 2});
    CHECK(limit.waiting() == 0);
    CHECK_FALSE(limit.Cancel(first));  // served: it owns its slot
    limit.Release();
    limit.Release();
    CHECK(limit.TryAcquire());  // both slots free again
    CHECK(limit.TryAcquire());
  }

  TEST_CASE("a cancelled waiter leaves the line and is never served") {
    InflightLimit limit(1);
    REQUIRE(limit.TryAcquire());
    int gone = 0, next = 0;
    auto give_up = limit.Wait([&] { ++gone; });
    auto stays = limit.Wait([&] { ++next; });
    CHECK(limit.Cancel(give_up));
    CHECK_FALSE(limit.Cancel(give_up));  // once
    CHECK(limit.waiting() == 1);
    limit.Release();
    CHECK(gone == 0);
    CHECK(next == 1);
    limit.Release();
    CHECK(limit.TryAcquire());
  }

  TEST_CASE("waiting when a slot is free serves at once") {
    InflightLimit limit(1);
    int served = 0;
    auto w = limit.Wait([&] { ++served; });
    CHECK(served == 1);
    CHECK(limit.waiting() == 0);
    CHECK_FALSE(limit.TryAcquire());  // the waiter holds it
    limit.Release();
    CHECK(limit.TryAcquire());
  }
}
