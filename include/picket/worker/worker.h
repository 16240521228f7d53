// `picketd worker`: the capture process the supervisor starts. Opens the
// capture (then drops to CAP_NET_RAW), cuts traffic into chunks and commits
// each sealed chunk to the local buffer; SIGTERM seals the open chunk and
// exits 0. Returns the process exit code.
#pragma once

#include "picket/common/daemon_config.h"

namespace picket::worker {

// control_channel: stdin/stdout carry the supervisor's commands and the
// worker's events (live filter changes, shards of shared scan jobs).
int Run(const DaemonConfig& config, bool control_channel = false);

}  // namespace picket::worker
