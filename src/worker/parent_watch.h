// The worker never outlives its supervisor (Linux: PR_SET_PDEATHSIG).
#pragma once

#include "picket/common/status.h"

namespace picket::worker {

// Asks the kernel to send `signal` to this process when its parent dies, so a
// worker never outlives a supervisor killed with SIGKILL. Fails when the parent
// is already gone.
Status StopWithParent(int signal);

}  // namespace picket::worker
