// One worker at a time per buffer: an exclusive lock file (Linux: flock).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "picket/common/c_handle.h"
#include "picket/common/status.h"

namespace picket::worker {

// Takes an exclusive lock on `path` (created if needed), waiting up to
// `timeout` for a previous holder: only one worker captures into a buffer, so
// a worker that is still sealing its last chunk and a new one never overlap
// (that overlap would put the same packets in two chunks). The lock lives as
// long as the returned fd and is released by the kernel if the process dies.
// Between tries it calls `pause` with the time to wait (2 ms; default: sleep),
// so the caller may serve something else meanwhile.
Result<UniqueFd> LockExclusive(const std::string& path, std::chrono::milliseconds timeout,
                               const std::function<void(std::chrono::milliseconds)>& pause = {});

// Waits up to `timeout` until process `pid` has exited (a pidfd: no pid reuse),
// calling `pause` between looks. Returns at once when it is gone already or
// pidfds are missing (the lock alone then orders the workers).
void WaitForExit(int pid, std::chrono::milliseconds timeout,
                 const std::function<void(std::chrono::milliseconds)>& pause);

}  // namespace picket::worker
