// Runs functions on a libuv loop's thread when posted from any other thread
// (ZooKeeper's threads, the fleet agent). Close() before the loop ends.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <mutex>

namespace picket::supervisor {

class LoopInbox {
 public:
  explicit LoopInbox(uv_loop_t* loop) {
    async_ = new uv_async_t;
    async_->data = this;
    uv_async_init(loop, async_, &LoopInbox::OnAsync);
  }
  ~LoopInbox() { Close(); }
  LoopInbox(const LoopInbox&) = delete;
  LoopInbox& operator=(const LoopInbox&) = delete;

  // Any thread. Dropped once closed.
  void Post(std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      queue_.push_back(std::move(fn));
    }
    uv_async_send(async_);
  }

  // Loop thread only.
  void Close() {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      queue_.clear();
    }
    async_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(async_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
  }

 private:
  static void OnAsync(uv_async_t* handle) {
    auto* self = static_cast<LoopInbox*>(handle->data);
    if (!self) return;
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard lock(self->mu_);
      batch.swap(self->queue_);
    }
    for (auto& fn : batch) fn();
  }

  uv_async_t* async_;
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
  bool closed_ = false;
};

}  // namespace picket::supervisor
