#include "picket/zk/collector_directory.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "picket/common/json_limits.h"
#include "picket/common/log.h"
#include "picket/common/url.h"
#include "picket/zk/znode_layout.h"

namespace picket::zk {

namespace {

// Logs each distinct bad node once: devices list collectors periodically.
void WarnOnce(const std::string& path, const std::string& data, std::string_view why) {
  static std::mutex mu;
  static std::set<std::pair<std::string, std::size_t>> seen;
  {
    std::lock_guard lock(mu);
    if (seen.size() >= 1024) seen.clear();  // bounded; a repeat line now and then is fine
    if (!seen.emplace(path, std::hash<std::string>{}(data)).second) return;
  }
  PICKET_LOG(kWarn, "zk", "ignoring a collector node", {"path", path}, {"reason", why});
}

}  // namespace

Result<std::string> CollectorUrlFromNode(std::string_view data) {
  auto doc = ParseJsonBounded(data);
  if (!doc.is_object()) {
    return Status::InvalidArgument("not a JSON object (or nested deeper than " +
                                   std::to_string(kMaxJsonDepth) + " levels)");
  }
  auto url_field = doc.find("url");
  if (url_field == doc.end() || !url_field->is_string()) {
    return Status::InvalidArgument("no \"url\" string");
  }
  auto url = ParseUrl(url_field->get<std::string>());
  if (!url.ok()) return url.status();
  return url->ToString();
}

std::string CollectorsPath(const std::string& root) { return ZnodeLayout(root).Collectors(); }

Result<std::vector<std::string>> ListCollectorUrls(ZkSession& session, const std::string& root) {
  const std::string dir = CollectorsPath(root);
  auto children = session.GetChildren(dir);
  if (!children.ok()) {
    if (children.status().code() == StatusCode::kNotFound) return std::vector<std::string>{};
    return children.status();
  }
  std::vector<std::string> urls;
  for (const std::string& child : *children) {
    const std::string path = ZnodeLayout::Child(dir, child);
    auto node = session.Get(path);
    if (!node.ok()) {
      if (node.status().code() == StatusCode::kNotFound) continue;  // its collector just left
      return node.status();
    }
    auto url = CollectorUrlFromNode(node->data);
    if (!url.ok()) {
      WarnOnce(path, node->data, url.status().message());
      continue;
    }
    urls.push_back(std::move(*url));
  }
  std::sort(urls.begin(), urls.end());
  urls.erase(std::unique(urls.begin(), urls.end()), urls.end());
  return urls;
}

}  // namespace picket::zk
