#include "collector/connection_limits.h"

#include <doctest/doctest.h>

#include <memory>
#include <vector>

using picket::collector::AffordableConnections;
using picket::collector::ConnectionCaps;
using picket::collector::ConnectionLimits;

TEST_SUITE("collector.connection_limits") {
  TEST_CASE("the total cap stays below the file limit, leaving the reserve") {
    CHECK(AffordableConnections(4096, 1024) == 896);
    CHECK(AffordableConnections(4096, 1'048'576) == 4096);
    CHECK(AffordableConnections(100, 1024) == 100);
    CHECK(AffordableConnections(4096, 64) == 16);  // a tiny limit still serves someone
  }

  TEST_CASE("per-address cap refuses, total cap asks for an eviction, tickets release") {
    ConnectionLimits limits(ConnectionCaps{3, 2, 8});
    std::vector<std::unique_ptr<ConnectionLimits::Ticket>> held(5);
    CHECK(limits.Open("10.0.0.1", &held[0]) == ConnectionLimits::Verdict::kAdmit);
    CHECK(limits.Open("10.0.0.1", &held[1]) == ConnectionLimits::Verdict::kAdmit);
    CHECK(limits.Open("10.0.0.1", &held[2]) == ConnectionLimits::Verdict::kRefuseAddress);
    CHECK(held[2] == nullptr);
    CHECK(limits.Open("10.0.0.2", &held[2]) == ConnectionLimits::Verdict::kAdmit);
    CHECK(limits.Open("10.0.0.3", &held[3]) == ConnectionLimits::Verdict::kAdmitAfterEvicting);
    CHECK(limits.open() == 4);
    held[0].reset();
    held[3].reset();
    CHECK(limits.open() == 2);
    CHECK(limits.Open("10.0.0.1", &held[0]) == ConnectionLimits::Verdict::kAdmit);
  }

  TEST_CASE("one device's requests in flight are capped, other devices are not") {
    ConnectionLimits limits(ConnectionCaps{100, 100, 2});
    CHECK(limits.TryAcquireDevice("gw-1"));
    CHECK(limits.TryAcquireDevice("gw-1"));
    CHECK_FALSE(limits.TryAcquireDevice("gw-1"));
    CHECK(limits.TryAcquireDevice("gw-2"));
    limits.ReleaseDevice("gw-1");
    CHECK(limits.TryAcquireDevice("gw-1"));
  }
}
