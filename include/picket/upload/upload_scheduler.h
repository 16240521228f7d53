// Drives uploads from the buffer on the supervisor's libuv loop: a timer picks
// due chunks and batches, each attempt runs on a libuv pool thread
// (uv_queue_work) with that thread's own reusable ChunkUploader, and the
// outcome is written back to the buffer on the loop thread — the only thread
// that touches the BufferStore. Collector URLs are tried in order; a network
// error or 5xx moves the next attempts to the next collector. Heartbeats (the
// status document) ride the same pool but never touch the buffer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "picket/buffer/buffer_store.h"
#include "picket/upload/http_uploader.h"

namespace picket::upload {

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
  // Heartbeats are counted apart: they are not items and never retried.
  std::uint64_t heartbeats_ok = 0, heartbeats_failed = 0, heartbeats_replaced = 0;
};

class UploadScheduler {
 public:
  // `uv_loop` is the caller's uv_loop_t, run by the caller (opaque here so
  // include/ holds no libuv types); `store` must outlive the scheduler.
  UploadScheduler(void* uv_loop, buffer::BufferStore* store, UploadSchedulerOptions options);
  ~UploadScheduler();
  UploadScheduler(const UploadScheduler&) = delete;
  UploadScheduler& operator=(const UploadScheduler&) = delete;

  Status Start();
  // Stops scheduling; `done` runs on the loop once in-flight attempts finished.
  void Stop(std::function<void()> done);
  // Poll now (e.g. the worker reported a new chunk).
  void Kick();
  // Queues a heartbeat (the status document, JSON); before Start it waits for
  // the first poll. Only the newest waits: it replaces one not sent yet. When
  // a slot is free it goes before chunks and batches (it is small); at most one is in flight; it is never written to
  // the buffer and never retried (a failure drops it; the caller's next tick
  // brings a fresh one). Ignored once Stop was called. Loop thread.
  void SetHeartbeat(std::string body);

  const UploadStats& stats() const;
  std::size_t in_flight() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace picket::upload
