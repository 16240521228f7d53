// Znode reads at fleet size for the operator commands (picket devices).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/operator_support.h"
#include "picket/common/status.h"
#include "picket/zk/zk_session.h"

namespace picket::cli {

// The C client sends every request as two TCP segments and wakes its I/O
// thread once per request, so one session is bound by that thread's round
// trips rather than by the server: with 2,000 live devices on a 2-core box,
// the 6,000 reads of `picket devices` took a median 0.76 s (max 1.08) over one
// session and 0.61 s (max 0.79) over four (tests/bench/zk_fleet_bench.py
// --live). So a long listing is split over up to kMaxReadSessions sessions
// opened beside the command's own; each costs the ensemble a session create
// and close, hence one per kPathsPerReadSession paths only.
inline constexpr std::size_t kPathsPerReadSession = 1500;
inline constexpr std::size_t kMaxReadSessions = 4;

// As ZkSession::GetMany (one entry per path, in order, nullopt where missing;
// the first other error fails the call), over connection.session and up to
// kMaxReadSessions - 1 more. A slice whose extra session cannot be opened is
// read over connection.session. The reads are not one snapshot (neither are
// GetMany's): each node is as its server had it when read.
Result<std::vector<std::optional<zk::NodeData>>> ReadNodes(ZkConnection& connection,
                                                           const std::vector<std::string>& paths);

}  // namespace picket::cli
