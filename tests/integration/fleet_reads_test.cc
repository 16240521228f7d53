// cli::ReadNodes (the reads of `picket devices`) against a real ZooKeeper: a
// listing long enough for several sessions comes back whole and in order, and
// slices whose extra session cannot be opened are read over the command's own.
#include <doctest/doctest.h>

#include "cli/fleet_reads.h"
#include "integration/zk_test_support.h"
#include "support/free_port.h"
#include "support/zookeeper_server.h"

namespace picket::testing {
namespace {

// kMaxReadSessions slices' worth of paths; every 97th exists and holds its index.
std::vector<std::string> FleetPaths(zk::ZkSession& s) {
  REQUIRE(s.Create("/f", "").ok());
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < cli::kPathsPerReadSession * cli::kMaxReadSessions + 7; ++i) {
    paths.push_back("/f/n" + std::to_string(i));
    if (i % 97 == 0) REQUIRE(s.Create(paths.back(), std::to_string(i)).ok());
  }
  return paths;
}

void CheckInOrder(const std::vector<std::string>& paths,
                  const std::vector<std::optional<zk::NodeData>>& nodes) {
  REQUIRE(nodes.size() == paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    CAPTURE(i);
    if (i % 97 == 0) {
      REQUIRE(nodes[i].has_value());
      CHECK(nodes[i]->data == std::to_string(i));
    } else {
      CHECK_FALSE(nodes[i].has_value());
    }
  }
}

TEST_CASE("cli ReadNodes: a fleet-size listing over several sessions, whole and in order") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer server;
  REQUIRE(server.Start().ok());
  cli::ZkConnection connection{{server.hosts(), "/", "--zk", {}}, OpenConnected(server.hosts())};
  const auto paths = FleetPaths(*connection.session);
  auto nodes = cli::ReadNodes(connection, paths);
  REQUIRE(nodes.ok());
  CheckInOrder(paths, *nodes);
  // A short listing stays on the one session; an error names the path.
  CHECK(cli::ReadNodes(connection, {"/f/n0"}).value().front()->data == "0");
  auto paths_with_bad = paths;
  paths_with_bad.back() = "not-a-path";
  auto bad = cli::ReadNodes(connection, paths_with_bad);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("not-a-path") != std::string::npos);
}

TEST_CASE("cli ReadNodes: slices whose session cannot be opened are read over the command's own") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer server;
  REQUIRE(server.Start().ok());
  // The address the extra sessions would use leads nowhere (a closed port);
  // the command's own session is connected.
  const int closed_port = FreeLoopbackPort();
  REQUIRE(closed_port != 0);
  cli::ZkConnection connection{{"127.0.0.1:" + std::to_string(closed_port), "/", "--zk", {}},
                               OpenConnected(server.hosts())};
  const auto paths = FleetPaths(*connection.session);
  auto nodes = cli::ReadNodes(connection, paths);
  REQUIRE(nodes.ok());
  CheckInOrder(paths, *nodes);
}

}  // namespace
}  // namespace picket::testing
