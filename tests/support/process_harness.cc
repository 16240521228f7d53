#include "support/process_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

extern char** environ;

namespace picket::testing {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(5);

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

bool WaitFor(const std::function<bool()>& condition, Deadline deadline) {
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
}

Result<ChildProcess> ChildProcess::Spawn(const std::vector<std::string>& argv,
                                         const std::string& log_path) {
  if (argv.empty()) return Status::InvalidArgument("spawn: empty argv");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return FromErrno("spawn " + argv[0], rc);
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_status_(other.exit_status_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    exit_status_ = other.exit_status_;
  }
  return *this;
}

ChildProcess::~ChildProcess() { KillAndReap(); }

void ChildProcess::KillAndReap() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void ChildProcess::Reap(int wait_status) {
  exit_status_ = DecodeWaitStatus(wait_status);
  pid_ = -1;
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    Reap(status);
    return false;
  }
  return true;
}

Status ChildProcess::Signal(int signal_number) {
  if (pid_ <= 0) return Status::FailedPrecondition("process already exited");
  if (::kill(pid_, signal_number) != 0) return FromErrno("kill", errno);
  return Status::Ok();
}

Result<int> ChildProcess::WaitForExit(Deadline deadline) {
  if (!WaitFor([this] { return !running(); }, deadline)) {
    return Status(StatusCode::kDeadlineExceeded,
                  "process " + std::to_string(pid_) + " still running");
  }
  return exit_status_;
}

Result<int> ChildProcess::Stop(Deadline deadline) {
  if (running()) {
    (void)Signal(SIGTERM);
    auto code = WaitForExit(deadline);
    if (code.ok()) return code;
    (void)Signal(SIGKILL);
    return WaitForExit(After(std::chrono::seconds(10)));
  }
  return exit_status_;
}

Result<std::string> WaitForFile(const std::string& path, Deadline deadline, ChildProcess* child) {
  std::string content;
  bool exited = false;
  bool found = WaitFor(
      [&] {
        std::error_code ec;
        if (std::filesystem::file_size(path, ec) > 0 && !ec) {
          auto text = ReadWholeFile(path);
          if (text.ok()) content = std::move(*text);
          return text.ok();
        }
        if (child != nullptr && !child->running()) exited = true;
        return exited;
      },
      deadline);
  if (exited) return Status::Unavailable("process exited before writing " + path);
  if (!found) return Status(StatusCode::kDeadlineExceeded, "timed out waiting for " + path);
  return content;
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Status WriteWholeFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return Status::IoError("cannot write " + path);
  // Private like every secret picket reads (ReadPrivateFile refuses others).
  if (::chmod(path.c_str(), 0600) != 0) return Status::IoError("cannot chmod 600 " + path);
  return Status::Ok();
}

}  // namespace picket::testing
