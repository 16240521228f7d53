// Reusable pieces for integration tests that drive real processes: a child
// process that is always stopped and reaped (by PID, also when a test fails),
// and waiting for a condition with a deadline instead of sleeping a fixed time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "picket/common/status.h"
#include "support/free_port.h"
#include "support/temp_dir.h"

namespace picket::testing {

using Deadline = std::chrono::steady_clock::time_point;
inline Deadline After(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

// Polls `condition` every few milliseconds until it holds (true) or the
// deadline passes (false).
bool WaitFor(const std::function<bool()>& condition, Deadline deadline);

// A child started with posix_spawn; stdout and stderr go to one log file.
// The destructor sends SIGKILL if it is still running and always reaps it.
class ChildProcess {
 public:
  static Result<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                    const std::string& log_path);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running();  // reaps it if it has exited
  Status Signal(int signal_number);
  // Exit code, or 128 + signal number when killed; DeadlineExceeded if still running.
  Result<int> WaitForExit(Deadline deadline);
  // SIGTERM, then SIGKILL if it has not exited by the deadline. Returns the exit status.
  Result<int> Stop(Deadline deadline);

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  void Reap(int wait_status);
  void KillAndReap();

  pid_t pid_ = -1;  // -1 once reaped or moved from
  int exit_status_ = -1;
};

// The file's contents once it exists and is non-empty; fails early when
// `child` (optional) exits first, and with DeadlineExceeded on timeout.
Result<std::string> WaitForFile(const std::string& path, Deadline deadline,
                                ChildProcess* child = nullptr);

Result<std::string> ReadWholeFile(const std::string& path);
Status WriteWholeFile(const std::string& path, std::string_view data);

}  // namespace picket::testing
