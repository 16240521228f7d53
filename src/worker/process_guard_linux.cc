#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "worker/process_guard.h"

namespace picket::worker {

Status StopWithParent(int signal) {
  const pid_t parent = ::getppid();
  if (::prctl(PR_SET_PDEATHSIG, signal) != 0) return FromErrno("prctl(PR_SET_PDEATHSIG)", errno);
  // The parent may have died before prctl took effect: then we were re-parented.
  if (::getppid() != parent || parent == 1) {
    return Status::FailedPrecondition("the supervisor exited before the worker started");
  }
  return Status::Ok();
}

Result<UniqueFd> LockExclusive(const std::string& path, std::chrono::milliseconds timeout) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
  if (!fd.valid()) return FromErrno("open " + path, errno);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return fd;
    if (errno != EWOULDBLOCK && errno != EINTR) return FromErrno("flock " + path, errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Unavailable("another worker still holds " + path);
    }
    // flock has no timed wait; a short poll is fine for a once-per-start lock.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace picket::worker
