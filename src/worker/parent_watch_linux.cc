#include "worker/parent_watch.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>

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

}  // namespace picket::worker
