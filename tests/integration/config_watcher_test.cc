// ConfigWatcher against a real ZooKeeper: a change to either node is delivered
// merged within a second of the zoo_set.
#include "picket/zk/config_watcher.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "integration/zk_test_support.h"
#include "support/zookeeper_server.h"

namespace picket::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct Delivered {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, std::int64_t>> configs;
  std::vector<std::chrono::steady_clock::time_point> at;

  bool WaitForCount(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return configs.size() >= n; });
  }
  std::pair<json, std::int64_t> Last() {
    std::lock_guard lock(mu);
    return {json::parse(configs.back().first), configs.back().second};
  }
  std::chrono::steady_clock::time_point LastAt() {
    std::lock_guard lock(mu);
    return at.back();
  }
};

TEST_CASE("ConfigWatcher delivers the merged config within 1 s of a change to either node") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts());
  auto writer = OpenConnected(zk.hosts());
  zk::ConfigWatcherOptions options{"/picket", "lab", "dev-1"};
  const std::string group = zk::GroupConfigPath(options);
  const std::string device = zk::DeviceConfigPath(options);
  REQUIRE(CreateWithParents(*writer, group,
                            R"({"capture":{"interface":"lo","filter":"tcp"},"upload":{"urls":["a","b"]}})")
              .ok());

  Delivered d;
  zk::ConfigWatcher watcher(*s, options, [&](std::string merged, std::int64_t version, std::int64_t) {
    {
      std::lock_guard lock(d.mu);
      d.configs.emplace_back(std::move(merged), version);
      d.at.push_back(std::chrono::steady_clock::now());
    }
    d.cv.notify_all();
  });

  // Device node missing: {} over the group.
  REQUIRE(d.WaitForCount(1, 5s));
  auto [first, first_version] = d.Last();
  CHECK(first == json::parse(R"({"capture":{"interface":"lo","filter":"tcp"},"upload":{"urls":["a","b"]}})"));
  CHECK(first_version == -1);

  // The device node appears: device wins, objects merge, arrays are replaced.
  REQUIRE(CreateWithParents(*writer, device, R"({"capture":{"filter":"udp"},"upload":{"urls":["c"]},"version":7})").ok());
  REQUIRE(d.WaitForCount(2, 1s));
  auto [second, second_version] = d.Last();
  CHECK(second == json::parse(R"({"capture":{"interface":"lo","filter":"udp"},"upload":{"urls":["c"]},"version":7})"));
  CHECK(second_version == 7);

  // zoo_set on the device node, then on the group node: each within 1 s.
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(writer->Set(device, R"({"capture":{"filter":"port )" + std::to_string(1000 + round) + R"("},"version":)" +
                                    std::to_string(8 + round) + "}").ok());
    REQUIRE(d.WaitForCount(static_cast<std::size_t>(3 + 2 * round), 1s));
    CHECK(d.LastAt() - t0 < 1s);
    auto [merged, version] = d.Last();
    CHECK(merged["capture"]["filter"] == "port " + std::to_string(1000 + round));
    CHECK(merged["capture"]["interface"] == (round == 0 ? "lo" : "eth" + std::to_string(round - 1)));
    CHECK(version == 8 + round);

    t0 = std::chrono::steady_clock::now();
    REQUIRE(writer->Set(group, R"({"capture":{"interface":"eth)" + std::to_string(round) + R"("}})").ok());
    REQUIRE(d.WaitForCount(static_cast<std::size_t>(4 + 2 * round), 1s));
    CHECK(d.LastAt() - t0 < 1s);
    auto [merged2, version2] = d.Last();
    CHECK(merged2["capture"]["interface"] == "eth" + std::to_string(round));
    CHECK(merged2["capture"]["filter"] == "port " + std::to_string(1000 + round));
    CHECK(version2 == 8 + round);
  }

  // No "version" field: the device znode's version.
  REQUIRE(writer->Set(device, R"({"capture":{"filter":"icmp"}})").ok());
  REQUIRE(d.WaitForCount(9, 1s));
  auto [plain, plain_version] = d.Last();
  CHECK(plain_version == writer->Get(device)->version);
  CHECK(plain["capture"]["filter"] == "icmp");

  // The device node is deleted: back to the group alone.
  REQUIRE(writer->Delete(device).ok());
  REQUIRE(d.WaitForCount(10, 1s));
  auto [gone, gone_version] = d.Last();
  CHECK(gone == json::parse(R"({"capture":{"interface":"eth2"}})"));
  CHECK(gone_version == -1);
}

}  // namespace
}  // namespace picket::testing
