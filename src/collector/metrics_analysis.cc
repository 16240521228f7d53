// picket_session_analysis_lag_seconds / _pending_chunks: chunks stored at or
// after each device's analysis cursor (the session store's next_seq).
#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include "collector/collector_db.h"
#include "collector/fleet_api.h"
#include "collector/session_store.h"

namespace picket::collector {

std::function<Result<AnalysisBacklog>()> MakeAnalysisBacklog(CollectorDb* chunks,
                                                             SessionStore* sessions,
                                                             const Clock* clock) {
  return [chunks, sessions, clock]() -> Result<AnalysisBacklog> {
    auto counters = sessions->AllCounters();
    if (!counters.ok()) return counters.status();
    std::map<std::string, std::uint64_t> next_seq;
    for (const AnalysisState& c : *counters) next_seq[c.device] = c.next_seq;
    auto devices = chunks->DevicesWithChunks();
    if (!devices.ok()) return devices.status();
    std::vector<AnalysisCursor> cursors;
    cursors.reserve(devices->size());
    for (const std::string& id : *devices) {
      auto it = next_seq.find(id);
      cursors.push_back({id, it == next_seq.end() ? 0 : it->second});
    }
    auto pending = chunks->ChunksBehind(cursors);
    if (!pending.ok()) return pending.status();
    AnalysisBacklog out;
    out.pending_chunks = pending->count;
    const std::optional<std::int64_t>& oldest = pending->oldest_received_at_ms;
    if (oldest) {
      out.lag_seconds =
          static_cast<double>(std::max<std::int64_t>(0, clock->WallMillis() - *oldest)) / 1000.0;
    }
    return out;
  };
}

}  // namespace picket::collector
