#include "picket/common/rendezvous.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace picket {

namespace {

std::vector<std::string> Collectors(int n) {
  std::vector<std::string> urls;
  for (int i = 0; i < n; ++i) urls.push_back("https://c" + std::to_string(i) + ".example:8443");
  return urls;
}

std::string First(const std::string& device, const std::vector<std::string>& urls) {
  return RendezvousOrder(device, urls).front();
}

}  // namespace

TEST_SUITE("common.rendezvous") {
  TEST_CASE("the ranking is a permutation that does not depend on the input order") {
    auto urls = Collectors(5);
    auto ranked = RendezvousOrder("gw-1", urls);
    auto reversed = urls;
    std::reverse(reversed.begin(), reversed.end());
    CHECK(RendezvousOrder("gw-1", reversed) == ranked);
    auto sorted = ranked;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == urls);
    CHECK(RendezvousOrder("gw-1", {}).empty());
  }

  TEST_CASE("known answers (the weight is SHA-256 of device NUL url, as in tests/bench/ingest_load.c)") {
    const std::vector<std::string> urls{"http://127.0.0.1:1", "http://127.0.0.1:2",
                                        "http://127.0.0.1:3"};
    CHECK(RendezvousOrder("gw-1", urls) ==
          std::vector<std::string>{"http://127.0.0.1:3", "http://127.0.0.1:1", "http://127.0.0.1:2"});
    CHECK(RendezvousOrder("gw-2", urls) ==
          std::vector<std::string>{"http://127.0.0.1:2", "http://127.0.0.1:1", "http://127.0.0.1:3"});
  }

  TEST_CASE("10,000 devices spread over 3 collectors within 5% of even") {
    const auto urls = Collectors(3);
    std::map<std::string, int> load;
    for (int d = 0; d < 10000; ++d) ++load[First("gw-" + std::to_string(d), urls)];
    REQUIRE(load.size() == 3);
    for (const auto& [url, n] : load) {
      CHECK_MESSAGE(n > 3333 * 95 / 100, url << " " << n);
      CHECK_MESSAGE(n < 3333 * 105 / 100, url << " " << n);
    }
  }

  TEST_CASE("when a collector goes, only its devices move, spread over the others, and they return") {
    const auto all = Collectors(3);
    auto without = all;
    without.erase(without.begin() + 1);
    std::map<std::string, int> moved_to;
    int moved = 0;
    for (int d = 0; d < 3000; ++d) {
      const std::string device = "gw-" + std::to_string(d);
      const auto before = First(device, all);
      const auto after = First(device, without);
      if (before == all[1]) {
        ++moved;
        ++moved_to[after];
        // Its next choice: the second of the full ranking.
        CHECK(after == RendezvousOrder(device, all)[1]);
      } else {
        CHECK(after == before);  // nobody else moves
      }
    }
    CHECK(moved > 800);
    REQUIRE(moved_to.size() == 2);
    for (const auto& [url, n] : moved_to) CHECK_MESSAGE(n > moved / 3, url << " " << n);
  }
}

}  // namespace picket
