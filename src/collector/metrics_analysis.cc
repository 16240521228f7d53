// picket_session_analysis_lag_seconds / _pending_chunks: chunks stored in
// collector.db at or after each device's analysis cursor (sessions.db).
#include <algorithm>
#include <map>
#include <mutex>

#include "collector/fleet_api.h"
#include "collector/session_store.h"

namespace picket::collector {

Result<std::function<Result<AnalysisBacklog>()>> MakeAnalysisBacklog(
    const std::string& collector_db_path, SessionStore* sessions, const Clock* clock) {
  auto db = sqlite::Database::Open(collector_db_path);
  if (!db.ok()) return db.status();
  struct Reader {
    explicit Reader(sqlite::Database d) : db(std::move(d)) {}
    std::mutex mu;
    sqlite::Database db;
  };
  auto reader = std::make_shared<Reader>(std::move(*db));
  return std::function<Result<AnalysisBacklog>()>(
      [reader, sessions, clock]() -> Result<AnalysisBacklog> {
        auto counters = sessions->AllCounters();
        if (!counters.ok()) return counters.status();
        std::map<std::string, std::uint64_t> next_seq;
        for (const AnalysisState& c : *counters) next_seq[c.device] = c.next_seq;
        std::lock_guard lock(reader->mu);
        auto devices = reader->db.Prepare("SELECT id FROM devices");
        if (!devices.ok()) return devices.status();
        std::vector<std::string> ids;
        while (true) {
          auto row = devices->Step();
          if (!row.ok()) return row.status();
          if (!*row) break;
          ids.push_back(devices->Text(0));
        }
        auto pending = reader->db.Prepare(
            "SELECT count(*), min(received_at_ms) FROM chunks WHERE device = ?1 AND seq >= ?2");
        if (!pending.ok()) return pending.status();
        AnalysisBacklog out;
        std::optional<std::int64_t> oldest;
        for (const std::string& id : ids) {
          pending->Reset();
          auto it = next_seq.find(id);
          pending->Bind(1, id).Bind(2, static_cast<std::int64_t>(
                                           it == next_seq.end() ? 0 : it->second));
          auto row = pending->Step();
          if (!row.ok()) return row.status();
          if (!*row) continue;
          out.pending_chunks += static_cast<std::uint64_t>(std::max<std::int64_t>(0, pending->Int(0)));
          if (!pending->IsNull(1)) {
            oldest = oldest ? std::min(*oldest, pending->Int(1)) : pending->Int(1);
          }
        }
        if (oldest) {
          out.lag_seconds =
              static_cast<double>(std::max<std::int64_t>(0, clock->WallMillis() - *oldest)) / 1000.0;
        }
        return out;
      });
}

}  // namespace picket::collector
