// `picketd run`: the supervisor process. Owns the libuv loop, the worker child
// (`picketd worker`), the upload scheduler and the signal handling; returns
// the process exit code. Startup errors return non-zero with one clear line.
#pragma once

#include <string>

#include "picket/common/daemon_config.h"

namespace picket::supervisor {

struct RunOptions {
  DaemonConfig config;
  std::string config_source;   // file path or "(embedded defaults)", for logs
  std::string self_executable; // picketd's own path, to start `picketd worker`
};

int RunDaemon(const RunOptions& options);

// Where the supervisor hands the effective config to its worker.
std::string WorkerConfigPath(const DaemonConfig& config);

}  // namespace picket::supervisor
