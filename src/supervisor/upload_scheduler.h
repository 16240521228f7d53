// Drives uploads from the buffer on the supervisor's libuv loop: a timer picks
// due chunks and batches, each attempt runs on a libuv pool thread
// (uv_queue_work) with that thread's own reusable ChunkUploader, and the
// outcome is written back to the buffer on the loop thread — the only thread
// that touches the BufferStore. Collector URLs are tried in order; a network
// error or 5xx moves the next attempts to the next collector.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "picket/buffer/buffer_store.h"
#include "picket/upload/http_uploader.h"

namespace picket::supervisor {

struct UploadSchedulerOptions {
  std::vector<std::string> collectors;
  upload::UploadSettings settings;
  int max_in_flight = 2;                         // = upload threads
  std::chrono::milliseconds poll_interval{200};
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds retry_max{300000};
  // Makes one uploader per pool thread; called on pool threads. Default: libcurl.
  std::function<std::unique_ptr<upload::ChunkUploader>(const upload::UploadSettings&)>
      make_uploader = upload::MakeCurlUploader;
};

struct UploadStats {
  std::uint64_t chunks_ok = 0, batches_ok = 0, failures = 0, dead = 0, bytes_sent = 0;
};

class UploadScheduler {
 public:
  // `store` must outlive the scheduler; the loop must be run by the caller.
  UploadScheduler(uv_loop_t* loop, buffer::BufferStore* store, UploadSchedulerOptions options);
  ~UploadScheduler();
  UploadScheduler(const UploadScheduler&) = delete;
  UploadScheduler& operator=(const UploadScheduler&) = delete;

  Status Start();
  // Stops scheduling; `done` runs on the loop once in-flight attempts finished.
  void Stop(std::function<void()> done);
  // Poll now (e.g. the worker reported a new chunk).
  void Kick();

  const UploadStats& stats() const { return stats_; }
  std::size_t in_flight() const { return in_flight_.size(); }

 private:
  struct Job;
  static void OnTimer(uv_timer_t* timer);
  static void DoWork(uv_work_t* req);
  static void AfterWork(uv_work_t* req, int status);

  void Poll();
  void Dispatch(std::unique_ptr<Job> job);
  void Finish(Job& job);
  void MaybeFinishStop();
  std::int64_t NowMs() const;

  uv_loop_t* loop_;
  buffer::BufferStore* store_;
  UploadSchedulerOptions options_;
  uv_timer_t* timer_ = nullptr;  // freed in its close callback
  std::set<std::string> in_flight_;  // "c<seq>" / "b<id>"
  std::size_t collector_index_ = 0;
  bool collector_down_ = false;
  bool stopping_ = false;
  std::function<void()> on_stopped_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::uint64_t generation_;
  std::shared_ptr<const UploadSchedulerOptions> shared_options_;
  UploadStats stats_;
};

}  // namespace picket::supervisor
