// Ships the daemon's log lines to the collector: the supervisor's own lines
// (through the log facade's line observer, from any thread) and the worker's
// (read from its stderr pipe) are queued in memory and written to the buffer
// as one NDJSON batch a second; the upload scheduler sends them like any batch.
// Every line still goes to stderr as well. The queue is bounded: when the
// buffer cannot keep up, the oldest lines are dropped and the drop is counted
// in the next batch.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

#include "picket/buffer/buffer_store.h"

namespace picket::supervisor {

class LogShipper {
 public:
  LogShipper(uv_loop_t* loop, buffer::BufferStore* store, std::size_t max_queued_lines = 10000);
  ~LogShipper();
  LogShipper(const LogShipper&) = delete;
  LogShipper& operator=(const LogShipper&) = delete;

  // Installs the line observer and the flush timer.
  void Start();
  // Any thread: queue one formatted log line.
  void Enqueue(std::string_view line);
  // Loop thread: feed bytes read from the worker's stderr (partial lines are kept).
  void FeedWorkerOutput(std::string_view bytes);
  // Loop thread: write what is queued to the buffer now (also on shutdown).
  void Flush();
  // Removes the observer and stops the timer; queued lines are flushed.
  void Stop();

  std::uint64_t shipped() const { return shipped_; }

 private:
  static void OnTimer(uv_timer_t* timer);

  uv_loop_t* loop_;
  buffer::BufferStore* store_;
  std::size_t max_lines_;
  uv_timer_t* timer_ = nullptr;
  std::mutex mu_;
  std::deque<std::string> queue_;   // guarded by mu_
  std::uint64_t dropped_ = 0;       // guarded by mu_
  std::string partial_;             // loop thread only
  std::uint64_t shipped_ = 0;       // loop thread only
};

}  // namespace picket::supervisor
