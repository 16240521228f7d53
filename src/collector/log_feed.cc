#include "collector/log_feed.h"

#include <vector>

namespace picket::collector {

std::uint64_t LogFeed::Subscribe(std::optional<std::string> device, std::function<void()> notify) {
  std::lock_guard lock(mu_);
  if (static_cast<int>(followers_.size()) >= max_followers_) return 0;
  std::uint64_t id = next_id_++;
  followers_.emplace(id, Follower{std::move(device), std::move(notify)});
  return id;
}

void LogFeed::Unsubscribe(std::uint64_t id) {
  std::function<void()> dropped;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  auto it = followers_.find(id);
  if (it == followers_.end()) return;
  dropped = std::move(it->second.notify);
  followers_.erase(it);
}

void LogFeed::Publish(const std::string& device) {
  // Copies, so a callback may (un)subscribe without deadlocking.
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, f] : followers_) {
      if (!f.device || *f.device == device) wake.push_back(f.notify);
    }
  }
  for (auto& notify : wake) notify();
}

int LogFeed::followers() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(followers_.size());
}

}  // namespace picket::collector
