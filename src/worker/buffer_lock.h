// One worker at a time per buffer: an exclusive lock file (Linux: flock).
#pragma once

#include <chrono>
#include <string>

#include "picket/common/c_handle.h"
#include "picket/common/status.h"

namespace picket::worker {

// Takes an exclusive lock on `path` (created if needed), waiting up to
// `timeout` for a previous holder: only one worker captures into a buffer, so
// a worker that is still sealing its last chunk and a new one never overlap
// (that overlap would put the same packets in two chunks). The lock lives as
// long as the returned fd and is released by the kernel if the process dies.
Result<UniqueFd> LockExclusive(const std::string& path, std::chrono::milliseconds timeout);

}  // namespace picket::worker
