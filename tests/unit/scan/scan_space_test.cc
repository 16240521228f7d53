// Permutation, target space and shards: bijections over small spaces, checked
// exhaustively.
#include "scan/scan_space.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

namespace picket::scan {
namespace {

std::vector<AddressRange> Targets(const char* text) {
  auto r = ParseTargetList(text);
  REQUIRE(r.ok());
  return *r;
}
std::vector<PortRange> Ports(const char* text) {
  auto r = ParsePortList(text);
  REQUIRE(r.ok());
  return *r;
}

TEST_CASE("permutation is a bijection on 0..n-1 for every small n and several seeds") {
  for (std::uint64_t n = 1; n <= 300; ++n) {
    for (std::uint64_t seed : {0ull, 1ull, 42ull, 0xdeadbeefcafeull}) {
      Permutation p(n, seed);
      std::vector<int> seen(n, 0);
      for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint64_t x = p.At(i);
        REQUIRE(x < n);
        ++seen[x];
      }
      CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
    }
  }
  for (std::uint64_t n : {1000ull, 4096ull, 4097ull, 65535ull, 81920ull}) {
    Permutation p(n, 7);
    std::vector<bool> seen(n, false);
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t x = p.At(i);
      REQUIRE(x < n);
      REQUIRE_FALSE(seen[x]);
      seen[x] = true;
    }
  }
}

TEST_CASE("same seed and size give the same order and another seed another order") {
  Permutation a(10000, 99), b(10000, 99), c(10000, 100);
  int same = 0, differ = 0;
  for (std::uint64_t i = 0; i < 10000; ++i) {
    same += a.At(i) == b.At(i);
    differ += a.At(i) != c.At(i);
  }
  CHECK(same == 10000);
  CHECK(differ > 9900);
  // Not the identity, and consecutive indices are spread out.
  int in_place = 0;
  for (std::uint64_t i = 0; i < 10000; ++i) in_place += a.At(i) == i;
  CHECK(in_place < 20);
}

TEST_CASE("target space: every pair exactly once, exclusions never, overlaps merged") {
  auto space = TargetSpace::Build(Targets("10.0.0.0/28,10.0.0.8-10.0.0.20,::1,fd00::/126"),
                                  Targets("10.0.0.3,10.0.0.16/30,fd00::2"),
                                  Ports("22,80-82,81,443"), 1u << 20);
  REQUIRE(space.ok());
  // 10.0.0.0-20 = 21 addresses minus 10.0.0.3 and 10.0.0.16-19 = 16; ::1; fd00::0,1,3.
  CHECK(space->address_count() == 20);
  CHECK(space->port_count() == 5);
  REQUIRE(space->size() == 100);
  Permutation perm(space->size(), 5);
  std::set<std::pair<std::string, int>> seen;
  for (std::uint64_t i = 0; i < space->size(); ++i) {
    const auto probe = space->At(perm.At(i));
    CHECK(seen.emplace(probe.ip.ToString(), probe.port).second);
  }
  CHECK(seen.size() == 100);
  for (const char* excluded : {"10.0.0.3", "10.0.0.16", "10.0.0.19", "fd00::2"}) {
    for (int port : {22, 80, 81, 82, 443}) CHECK(seen.count({excluded, port}) == 0);
  }
  CHECK(seen.count({"10.0.0.20", 443}) == 1);
  CHECK(seen.count({"::1", 22}) == 1);
  CHECK(seen.count({"fd00::3", 82}) == 1);
}

TEST_CASE("target space refusals name the value") {
  auto all_excluded =
      TargetSpace::Build(Targets("127.0.0.0/30"), Targets("127.0.0.0/24"), Ports("1"), 100);
  REQUIRE_FALSE(all_excluded.ok());
  CHECK(all_excluded.status().message().find("127.0.0.0-127.0.0.3") != std::string::npos);
  auto too_big = TargetSpace::Build(Targets("10.0.0.0/8"), {}, Ports("1-65535"), 1ull << 32);
  REQUIRE_FALSE(too_big.ok());
  const std::string m = too_big.status().message();
  CHECK(m.find("10.0.0.0-10.255.255.255") != std::string::npos);
  CHECK(m.find("16777216 addresses x 65535 ports = 1099494850560 probes") != std::string::npos);
  CHECK(m.find("max_probes (4294967296)") != std::string::npos);
  auto huge_v6 = TargetSpace::Build(Targets("fd00::/8"), {}, Ports("80"), 1ull << 32);
  REQUIRE_FALSE(huge_v6.ok());
  CHECK(huge_v6.status().message().find("more than 2^64") != std::string::npos);
}

TEST_CASE("shards partition the permuted space exactly") {
  for (std::uint64_t n : {1ull, 2ull, 7ull, 100ull, 1001ull}) {
    for (std::uint32_t count : {1u, 2u, 3u, 7u, 16u}) {
      Permutation perm(n, 11);
      std::vector<int> hits(n, 0);
      std::uint64_t total = 0;
      for (std::uint32_t k = 0; k < count; ++k) {
        ShardView shard{n, k, count};
        total += shard.size();
        for (std::uint64_t j = 0; j < shard.size(); ++j) {
          const std::uint64_t g = shard.Global(j);
          REQUIRE(g < n);
          ++hits[perm.At(g)];
        }
      }
      CHECK(total == n);
      CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
    }
  }
}

TEST_CASE("resuming a shard from a checkpoint covers the rest exactly") {
  const std::uint64_t n = 997;
  Permutation perm(n, 3);
  for (std::uint32_t count : {1u, 4u}) {
    for (std::uint32_t k = 0; k < count; ++k) {
      ShardView shard{n, k, count};
      for (std::uint64_t checkpoint :
           {std::uint64_t{0}, std::uint64_t{1}, shard.size() / 2, shard.size() - 1, shard.size()}) {
        std::multiset<std::uint64_t> first_run, resumed, whole;
        for (std::uint64_t j = 0; j < checkpoint; ++j) first_run.insert(perm.At(shard.Global(j)));
        for (std::uint64_t j = checkpoint; j < shard.size(); ++j)
          resumed.insert(perm.At(shard.Global(j)));
        for (std::uint64_t j = 0; j < shard.size(); ++j) whole.insert(perm.At(shard.Global(j)));
        std::multiset<std::uint64_t> both = first_run;
        both.insert(resumed.begin(), resumed.end());
        CHECK(both == whole);
        for (auto x : resumed) CHECK(first_run.count(x) == 0);
      }
    }
  }
}

}  // namespace
}  // namespace picket::scan

namespace picket::scan {
namespace {

TEST_CASE("IPv6 spans carry across the 64-bit halves") {
  auto targets = ParseTargetList("::ffff:ffff:ffff:fffe-0:0:0:1::1");
  REQUIRE(targets.ok());
  auto space = TargetSpace::Build(*targets, {}, *ParsePortList("80"), 100);
  REQUIRE(space.ok());
  REQUIRE(space->size() == 4);
  const char* want[] = {"::ffff:ffff:ffff:fffe", "::ffff:ffff:ffff:ffff",
                        "0:0:0:1::", "0:0:0:1::1"};
  for (std::uint64_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(space->At(i).ip == *IpAddress::Parse(want[i]));
  }
  // Excluding the two middle addresses splits the span across the carry.
  auto split = TargetSpace::Build(*targets, *ParseTargetList("::ffff:ffff:ffff:ffff-0:0:0:1::"),
                                  *ParsePortList("80"), 100);
  REQUIRE(split.ok());
  CHECK(split->size() == 2);
  CHECK(split->spans().size() == 2);
}

}  // namespace
}  // namespace picket::scan
