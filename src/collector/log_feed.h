// In-process notification of new log lines for `GET /v1/logs?follow=1`.
// POST /v1/devices/{id}/logs calls Publish after its transaction commits;
// each follower registered a callback that only says "device X has new rows":
// the follower then reads them from the database from its own cursor, so a
// notification can be coalesced or arrive late without losing or reordering
// lines. Callbacks run on the publishing thread and must only post work to
// the follower's own executor (never block, never throw).
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace picket::collector {

class LogFeed {
 public:
  explicit LogFeed(int max_followers) : max_followers_(max_followers) {}

  // Registers a follower of one device (nullopt: every device). Returns an id
  // for Unsubscribe, or 0 when max_followers are already registered.
  std::uint64_t Subscribe(std::optional<std::string> device, std::function<void()> notify);
  void Unsubscribe(std::uint64_t id);  // unknown ids are ignored

  // New rows of `device` are committed: wakes its followers.
  void Publish(const std::string& device);

  int followers() const;
  int max_followers() const { return max_followers_; }

 private:
  struct Follower {
    std::optional<std::string> device;
    std::function<void()> notify;
  };
  const int max_followers_;
  mutable std::mutex mu_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Follower> followers_;
};

}  // namespace picket::collector
