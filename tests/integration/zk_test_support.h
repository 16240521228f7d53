// Shared helpers for the ZooKeeper integration tests.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "picket/zk/zk_session.h"

namespace picket::testing {

// Collects watch callbacks; waits with deadlines instead of sleeping.
class WatchRecorder {
 public:
  zk::ZkSession::WatchCallback Callback() {
    return [this](const zk::WatchEvent& e) {
      {
        std::lock_guard lock(mu_);
        events_.push_back(e);
      }
      cv_.notify_all();
    };
  }
  bool WaitForCount(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return events_.size();
  }
  zk::WatchEvent last() {
    std::lock_guard lock(mu_);
    return events_.empty() ? zk::WatchEvent{} : events_.back();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<zk::WatchEvent> events_;
};

// Creates `path` and its missing parents as persistent nodes (data on the last one).
inline Status CreateWithParents(zk::ZkSession& s, const std::string& path, std::string_view data) {
  for (std::size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    Status st = s.Create(path.substr(0, pos), "");
    if (!st.ok() && st.code() != StatusCode::kAlreadyExists) return st;
  }
  return s.Create(path, data);
}

inline std::unique_ptr<zk::ZkSession> OpenConnected(const std::string& hosts, int timeout_ms = 10'000) {
  auto s = zk::ZkSession::Open({hosts, timeout_ms, "", ""});
  REQUIRE(s.ok());
  REQUIRE((*s)->WaitConnected(std::chrono::seconds(15)));
  return std::move(s).value();
}

}  // namespace picket::testing
