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
#include <string>
#include <thread>
#include <vector>

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
  // Commands kept by ServeBeforeStart go to on_command first, in order.
  void Start(OnCommand on_command, std::function<void()> on_tick = {},
             std::chrono::milliseconds tick = std::chrono::seconds(2));
  // Before Start, on the calling thread (no reader thread may run yet: the
  // worker drops privileges later): waits up to `wait` for commands and gives
  // each to `early`; one it declines (returns false) is kept for Start. A
  // successor waiting for its predecessor's seal takes a filter change so.
  using OnEarlyCommand = std::function<bool(const worker_protocol::Command& command)>;
  void ServeBeforeStart(std::chrono::milliseconds wait, const OnEarlyCommand& early);
  void Stop();
  // Writes one line; a supervisor that is gone makes this a no-op (EPIPE).
  void Send(const worker_protocol::Event& event);

 private:
  void ReadLoop();
  // One read of what stdin has, each complete line parsed and handed to
  // `each`; false at EOF (the supervisor closed the channel) or on an error.
  bool ReadLines(const std::function<void(const worker_protocol::Command&)>& each);

  int in_fd_, out_fd_;
  int wake_fd_;  // eventfd: Stop() ends the reader's poll at once
  OnCommand on_command_;
  std::function<void()> on_tick_;
  std::chrono::milliseconds tick_{2000};
  std::atomic<bool> stop_{false};
  std::mutex write_mu_;
  std::thread thread_;
  std::string partial_;  // an incomplete line; only one thread reads at a time
  std::vector<worker_protocol::Command> kept_;  // declined by ServeBeforeStart
  bool closed_ = false;                          // EOF seen before Start
};

}  // namespace picket::worker
