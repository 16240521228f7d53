// The worker's end of the control channel with its supervisor: commands
// arrive on stdin, one JSON document a line; events go out on stdout the same
// way. A thread reads stdin and hands each command to `on_command`; Send may
// be called from any thread. EOF on stdin means the supervisor is gone (the
// worker's parent-death signal stops the worker then).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

namespace picket::worker {

class WorkerControl {
 public:
  using OnCommand = std::function<void(const nlohmann::json& command)>;

  WorkerControl(int in_fd, int out_fd);
  ~WorkerControl();  // stops the reader thread
  WorkerControl(const WorkerControl&) = delete;
  WorkerControl& operator=(const WorkerControl&) = delete;

  // on_tick runs on the reader thread about every `tick` (periodic stats).
  void Start(OnCommand on_command, std::function<void()> on_tick = {},
             std::chrono::milliseconds tick = std::chrono::seconds(2));
  void Stop();
  // Writes one line; a supervisor that is gone makes this a no-op (EPIPE).
  void Send(const nlohmann::json& event);

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
