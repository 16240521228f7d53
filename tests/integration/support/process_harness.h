// Reusable pieces for integration tests that drive real processes: a temp
// directory, a child process that is always stopped and reaped (by PID, also
// when a test fails), and waiting for a condition with a deadline instead of
// sleeping a fixed time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "picket/common/status.h"

namespace picket::testing {

using Deadline = std::chrono::steady_clock::time_point;
inline Deadline After(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

// Polls `condition` every few milliseconds until it holds (true) or the
// deadline passes (false).
bool WaitFor(const std::function<bool()>& condition, Deadline deadline);

// A TCP port on 127.0.0.1 that was free a moment ago (0 when none), for
// servers a test starts.
int FreeLoopbackPort();

// mkdtemp under $TMPDIR; removed recursively on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

// In a test case: skips (MESSAGE + return) when `missing` (an expression
// giving a std::string) says a server cannot run here, or fails under CI=true.
#define PICKET_REQUIRE_SERVER(missing)                                               \
  do {                                                                               \
    std::string missing_ = (missing);                                                \
    if (!missing_.empty()) {                                                         \
      const char* ci_ = std::getenv("CI");                                           \
      if (ci_ != nullptr && std::string(ci_) == "true") FAIL("CI=true: " << missing_); \
      MESSAGE("skipped: " << missing_);                                              \
      return;                                                                        \
    }                                                                                \
  } while (0)

}  // namespace picket::testing
