// What the fleet routes (fleet_api.cc) need besides the ApiHandler's own
// stores: the heartbeat state, fleet.db, the metrics, the ZooKeeper view
// (null without --zk) and the readiness settings. Built by collector_command.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "collector/fleet_state.h"
#include "collector/fleet_store.h"
#include "collector/fleet_zk_view.h"
#include "collector/metrics.h"
#include "collector/probes.h"
#include "picket/common/clock.h"
#include "picket/sqlite/database.h"

namespace picket::collector {

struct RetentionCounters;  // retention.h

// Chunks stored but not yet analysed into sessions (GET /metrics).
struct AnalysisBacklog {
  std::uint64_t pending_chunks = 0;
  double lag_seconds = 0;  // age of the oldest pending chunk
};

struct FleetServices {
  FleetState* state = nullptr;
  FleetStore* store = nullptr;
  ZkFleetView* zk = nullptr;  // null: no --zk
  std::string data_dir;
  DiskThreshold min_free_disk;
  // Reads the stored chunks against the analysis cursors; unset: no analysis.
  std::function<Result<AnalysisBacklog>()> analysis_backlog;
  const RetentionCounters* retention = nullptr;  // null: no retention thread (tests)
};

class CollectorDb;
class SessionStore;
// Compares each device's stored chunks with its analysis cursor in the
// session store (metrics_analysis.cc).
std::function<Result<AnalysisBacklog>()> MakeAnalysisBacklog(CollectorDb* chunks,
                                                             SessionStore* sessions,
                                                             const Clock* clock);

inline constexpr std::uint64_t kMaxHeartbeatBytes = 64 * 1024;  // after decompression

}  // namespace picket::collector
