// Chunks a reader is streaming, which retention must not delete yet: a
// session pcap reads its chunk files one after another, long after it looked
// them up. A reader pins (device, seq) before it looks the rows up, and
// unpins when its answer ends; retention filters its batch and deletes it
// while holding the same lock (WhileLocked), so a chunk is either deleted
// before the reader's lookup (which then finds no row: 404) or kept until the
// next pass. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace picket::collector {

class ChunkPins {
 public:
  using Key = std::pair<std::string, std::uint64_t>;  // device, seq

  void Pin(const std::vector<Key>& keys) {
    std::lock_guard lock(mu_);
    for (const Key& k : keys) ++pins_[k];
  }
  void Unpin(const std::vector<Key>& keys) {
    std::lock_guard lock(mu_);
    for (const Key& k : keys) {
      auto it = pins_.find(k);
      if (it != pins_.end() && --it->second == 0) pins_.erase(it);
    }
  }
  // Runs fn(is_pinned) under the lock: no pin comes or goes meanwhile.
  template <typename Fn>
  auto WhileLocked(Fn&& fn) {
    std::lock_guard lock(mu_);
    return fn([this](const Key& k) { return pins_.count(k) != 0; });
  }

  // Unpins its keys when destroyed (the end of a streamed answer).
  class Lease {
   public:
    Lease(ChunkPins* pins, std::vector<Key> keys) : pins_(pins), keys_(std::move(keys)) {
      if (pins_ != nullptr) pins_->Pin(keys_);
    }
    ~Lease() {
      if (pins_ != nullptr) pins_->Unpin(keys_);
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    ChunkPins* pins_;
    std::vector<Key> keys_;
  };

 private:
  std::mutex mu_;
  std::map<Key, int> pins_;
};

}  // namespace picket::collector
