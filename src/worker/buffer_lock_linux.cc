#include "worker/buffer_lock.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace picket::worker {

Result<UniqueFd> LockExclusive(const std::string& path, std::chrono::milliseconds timeout,
                               const std::function<void(std::chrono::milliseconds)>& pause) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return FromErrno("open " + path, errno);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return fd;
    if (errno != EWOULDBLOCK && errno != EINTR) return FromErrno("flock " + path, errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Unavailable("another worker still holds " + path);
    }
    // flock has no timed wait; a short poll is fine for a once-per-start lock,
    // and short enough not to delay a hand-over.
    constexpr std::chrono::milliseconds kRetry(2);
    if (pause) pause(kRetry);
    else std::this_thread::sleep_for(kRetry);
  }
}

void WaitForExit(int pid, std::chrono::milliseconds timeout,
                 const std::function<void(std::chrono::milliseconds)>& pause) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!fd.valid()) return;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};  // readable once the process has exited
    if (::poll(&p, 1, 0) != 0 || std::chrono::steady_clock::now() >= deadline) return;
    pause(std::chrono::milliseconds(2));
  }
}

}  // namespace picket::worker
