#include "worker/buffer_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <thread>

namespace picket::worker {

Result<UniqueFd> LockExclusive(const std::string& path, std::chrono::milliseconds timeout) {
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
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace picket::worker
