// Leader/follower group commit, for both CollectorDb engines: whoever finds
// no commit running takes every request queued so far and commits them
// together; the others wait for the commit that holds theirs.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace picket::collector {

template <typename Request, typename Answer>
class GroupCommit {
 public:
  struct Item {
    const Request* request;
    std::optional<Answer> answer;  // set by the commit that holds it
  };
  // `commit` gets the batch and must answer every item of it.
  using CommitFn = std::function<void(std::vector<Item*>&)>;

  Answer Submit(const Request& request, const CommitFn& commit) {
    Item mine{&request, std::nullopt};
    std::unique_lock lock(mu_);
    queue_.push_back(&mine);
    while (!mine.answer) {
      if (committing_) {
        committed_.wait(lock);
        continue;
      }
      committing_ = true;
      std::vector<Item*> batch;
      batch.swap(queue_);
      lock.unlock();
      commit(batch);
      lock.lock();
      committing_ = false;
      committed_.notify_all();
    }
    return std::move(*mine.answer);
  }

  // Requests waiting for the commit that runs now.
  std::size_t queued() {
    std::lock_guard lock(mu_);
    return queue_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable committed_;
  std::vector<Item*> queue_;
  bool committing_ = false;
};

}  // namespace picket::collector
