// The worker's end of the control channel with its supervisor: commands
// arrive on stdin, events go out on stdout, one line each in the format of
// picket/common/worker_protocol.h. A thread reads stdin and hands each command
// that parses to `on_command` (others are logged and dropped); Send may
// be called from any thread. EOF on stdin means the supervisor is gone (the
// worker's parent-death signal stops the worker then).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "picket/common/worker_protocol.h"

namespace picket::worker {

class WorkerControl {
 public:
  using OnCommand = std::function<void(const worker_protocol::Command& command)>;

  WorkerControl(int in_fd, int out_fd);
  ~WorkerControl();  // stops the reader thread
  WorkerControl(const WorkerControl&) = delete;
  WorkerControl& operator=(const WorkerControl&) = delete;

  // on_tick runs on the reader thread about every `tick` (periodic stats).
  void Start(OnCommand on_command, std::function<void()> on_tick = {},
             std::chrono::milliseconds tick = std::chrono::seconds(2));
  void Stop();
  // Writes one line; a supervisor that is gone makes this a no-op (EPIPE).
  void Send(const worker_protocol::Event& event);

 private:
  void ReadLoop();

  int in_fd_, out_fd_;
  int wake_fd_;  // eventfd: Stop() ends the reader's poll at once
  OnCommand on_command_;
  std::function<void()> on_tick_;
  std::chrono::milliseconds tick_{2000};
  std::atomic<bool> stop_{false};
  std::mutex write_mu_;
  std::thread thread_;
};

}  // namespace picket::worker
