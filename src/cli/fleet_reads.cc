#include "cli/fleet_reads.h"

#include <algorithm>
#include <thread>

namespace picket::cli {

namespace {

using Nodes = std::vector<std::optional<zk::NodeData>>;

std::vector<std::string> Slice(const std::vector<std::string>& paths, std::size_t k,
                               std::size_t count) {
  const std::size_t per = (paths.size() + count - 1) / count;
  const auto first = paths.begin() + static_cast<std::ptrdiff_t>(std::min(paths.size(), k * per));
  const auto last =
      paths.begin() + static_cast<std::ptrdiff_t>(std::min(paths.size(), (k + 1) * per));
  return {first, last};
}

}  // namespace

Result<Nodes> ReadNodes(ZkConnection& connection, const std::vector<std::string>& paths) {
  const std::size_t count =
      std::clamp<std::size_t>(paths.size() / kPathsPerReadSession, 1, kMaxReadSessions);
  if (count == 1) return connection.session->GetMany(paths);
  // parts[k]: slice k's result; nullopt when its session could not be opened.
  std::vector<std::optional<Result<Nodes>>> parts(count);
  std::vector<std::thread> others;
  for (std::size_t k = 1; k < count; ++k) {
    others.emplace_back([&connection, &paths, &parts, k, count] {
      auto session = ConnectZk(connection.address);
      if (session.ok()) parts[k] = (*session)->GetMany(Slice(paths, k, count));
    });  // the session closes here, beside the others
  }
  parts[0] = connection.session->GetMany(Slice(paths, 0, count));
  for (std::thread& t : others) t.join();
  Nodes nodes;
  nodes.reserve(paths.size());
  for (std::size_t k = 0; k < count; ++k) {
    if (!parts[k]) parts[k] = connection.session->GetMany(Slice(paths, k, count));
    if (!parts[k]->ok()) return parts[k]->status();
    for (auto& node : **parts[k]) nodes.push_back(std::move(node));
  }
  return nodes;
}

}  // namespace picket::cli
