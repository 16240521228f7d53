// Leader/follower group commit, for both CollectorDb engines: whoever finds
// no commit running takes every request queued so far and commits them
// together, and goes on with what queued meanwhile until the queue is empty;
// the others wait for the commit that holds theirs (Submit) or return at once
// and are called back after it (SubmitAsync). A commit that throws fails its batch
// (never the queue: every later request still commits).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace picket::collector {

template <typename Request, typename Answer>
class GroupCommit {
 public:
  struct Item {
    const Request* request;
    std::optional<Answer> answer;  // set by the commit that holds it
    std::function<void(Answer)> done;  // SubmitAsync's: called once answered
    bool answered = false;  // Submit's: under mu_, after the commit (the answer is then read)
  };
  // `commit` gets the batch and must answer every item of it.
  using CommitFn = std::function<void(std::vector<Item*>&)>;
  // The answer for a request its commit did not answer: the commit threw (`why` is what it
  // threw; only std::bad_alloc can, every step returns a Status) or forgot it (a bug).
  using FailedFn = std::function<Answer(const std::string& why)>;

  explicit GroupCommit(FailedFn failed) : failed_(std::move(failed)) {}

  // Returns the answer once the commit that holds `request` is done.
  Answer Submit(const Request& request, const CommitFn& commit) {
    Item mine{&request, std::nullopt, nullptr};
    std::unique_lock lock(mu_);
    queue_.push_back(&mine);
    while (!mine.answered) {
      if (committing_) {
        committed_.wait(lock);
        continue;
      }
      CommitQueued(lock, commit, &mine);
    }
    return std::move(*mine.answer);
  }

  // Returns at once; `done(answer)` runs after the commit that holds `request`, on the
  // thread that ran it (keep it short: the next batch waits). `request` must stay valid
  // until then. No thread waits per request, so a batch can hold every request in flight
  // (a blocked thread per request bounded batches by the thread count).
  void SubmitAsync(const Request& request, std::function<void(Answer)> done,
                   const CommitFn& commit) {
    auto* mine = new Item{&request, std::nullopt, std::move(done)};
    std::unique_lock lock(mu_);
    queue_.push_back(mine);
    if (!committing_) CommitQueued(lock, commit, nullptr);
  }

  // Requests waiting for the commit that runs now.
  std::size_t queued() {
    std::lock_guard lock(mu_);
    return queue_.size();
  }

 private:
  // Commits batch after batch until the queue is empty; `lock` is held on entry and exit.
  // A Submit caller (`mine`) stops once it is answered unless SubmitAsync requests wait (no
  // one else would commit them): a waiting caller then leads the next commit, so under steady
  // load no caller commits others' batches for ever before it can return.
  // noexcept: the commit's own throw is answered (RunCommit), but running out of memory for the
  // batch's vectors or for a failure answer would leave committing_ set and every request waiting
  // for ever; ending the process instead lets it restart, and the devices send again.
  void CommitQueued(std::unique_lock<std::mutex>& lock, const CommitFn& commit,
                    const Item* mine) noexcept {
    committing_ = true;
    while (!queue_.empty()) {
      if (mine != nullptr && mine->answered &&
          std::none_of(queue_.begin(), queue_.end(), [](const Item* i) { return i->done; })) {
        break;
      }
      std::vector<Item*> batch, waiting;
      batch.swap(queue_);
      std::vector<std::unique_ptr<Item>> called_back;
      for (Item* item : batch) {
        if (item->done) {
          called_back.emplace_back(item);
        } else {
          waiting.push_back(item);  // Submit's: on its caller's stack until answered
        }
      }
      lock.unlock();
      RunCommit(batch, commit);
      for (auto& item : called_back) {
        try {
          item->done(std::move(*item->answer));
        } catch (...) {  // that caller's loss alone: the others are still answered
        }
      }
      lock.lock();
      for (Item* item : waiting) item->answered = true;
      committed_.notify_all();
    }
    committing_ = false;
    committed_.notify_all();  // a waiter leads what is left
  }

  // Leaves every item of `batch` answered, whatever `commit` does. Without this a throw left
  // committing_ set and every later request waited for ever.
  void RunCommit(std::vector<Item*>& batch, const CommitFn& commit) {
    std::string thrown;  // stays empty (no allocation) on the usual path
    try {
      commit(batch);
    } catch (const std::exception& e) {
      thrown = std::string("the commit threw: ") + e.what();
    } catch (...) {
      thrown = "the commit threw an unknown exception";
    }
    for (Item* item : batch) {
      if (!item->answer) {
        item->answer.emplace(failed_(thrown.empty() ? "the commit gave no answer" : thrown));
      }
    }
  }

  const FailedFn failed_;
  std::mutex mu_;
  std::condition_variable committed_;
  std::vector<Item*> queue_;
  bool committing_ = false;
};

}  // namespace picket::collector
