#include "sync/sync_db.h"

#include <charconv>

namespace picket::sync {

namespace {

// Hints this far below the newest are assumed committed long ago.
constexpr std::uint64_t kHintWindow = 10'000;

template <typename T>
std::optional<T> Number(const SqlValue& v) {
  if (!v) return std::nullopt;
  T out{};
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size()) return std::nullopt;
  return out;
}

std::string Text(const SqlValue& v) { return v ? *v : std::string(); }

Status Malformed(std::string_view table, const SqlRow& row) {
  return Status::Internal(std::string("unexpected row shape from ") + std::string(table) + " (" +
                          std::to_string(row.size()) + " columns)");
}

}  // namespace

Result<std::vector<GroupRow>> SyncDb::Groups(const std::string& where) {
  auto rows = connection_->Query("SELECT name, config, version FROM device_groups" + where);
  if (!rows.ok()) return rows.status();
  std::vector<GroupRow> out;
  for (const auto& r : *rows) {
    if (r.size() != 3) return Malformed("device_groups", r);
    out.push_back({Text(r[0]), Text(r[1]), Number<std::int64_t>(r[2]).value_or(0)});
  }
  return out;
}

Result<std::vector<DeviceRow>> SyncDb::Devices(const std::string& where) {
  auto rows =
      connection_->Query("SELECT id, group_name, enabled, config, version FROM devices" + where);
  if (!rows.ok()) return rows.status();
  std::vector<DeviceRow> out;
  for (const auto& r : *rows) {
    if (r.size() != 5) return Malformed("devices", r);
    DeviceRow d;
    d.id = Text(r[0]);
    d.group = Text(r[1]);
    d.enabled = Number<int>(r[2]).value_or(1) != 0;
    d.config = Text(r[3]);
    d.version = Number<std::int64_t>(r[4]).value_or(0);
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::vector<JobRow>> SyncDb::Jobs(const std::string& where) {
  auto rows = connection_->Query(
      "SELECT id, targets, exclude, ports, rate_pps, mode, retries, wait_ms, banners, shards, "
      "max_parallel_shards, group_name, devices, seed, state, version FROM scan_jobs" +
      where);
  if (!rows.ok()) return rows.status();
  std::vector<JobRow> out;
  for (const auto& r : *rows) {
    if (r.size() != 16) return Malformed("scan_jobs", r);
    JobRow j;
    j.id = Text(r[0]);
    j.targets = Text(r[1]);
    j.exclude = Text(r[2]);
    j.ports = Text(r[3]);
    j.rate_pps = Number<std::int64_t>(r[4]);
    j.mode = r[5];
    j.retries = Number<std::int64_t>(r[6]);
    j.wait_ms = Number<std::int64_t>(r[7]);
    j.banners = Number<std::int64_t>(r[8]);
    j.shards = Number<std::int64_t>(r[9]);
    j.max_parallel_shards = Number<std::int64_t>(r[10]);
    j.group = Text(r[11]);
    j.devices = Text(r[12]);
    j.seed = Number<std::uint64_t>(r[13]);
    j.state = Text(r[14]);
    j.version = Number<std::int64_t>(r[15]).value_or(0);
    out.push_back(std::move(j));
  }
  return out;
}

Result<Snapshot> SyncDb::ReadSnapshot() {
  PICKET_RETURN_IF_ERROR(connection_->Execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"));
  auto read = [&]() -> Result<Snapshot> {
    Snapshot s;
    auto max = connection_->Query("SELECT COALESCE(MAX(seq), 0) FROM config_changes");
    if (!max.ok()) return max.status();
    const std::uint64_t newest =
        max->empty() ? 0 : Number<std::uint64_t>((*max)[0][0]).value_or(0);
    s.hint_base = newest > kHintWindow ? newest - kHintWindow : 0;
    auto seqs = connection_->Query("SELECT seq FROM config_changes WHERE seq > " +
                                   std::to_string(s.hint_base));
    if (!seqs.ok()) return seqs.status();
    for (const auto& r : *seqs) {
      if (auto v = Number<std::uint64_t>(r[0])) s.hint_seqs.push_back(*v);
    }
    auto groups = Groups("");
    if (!groups.ok()) return groups.status();
    s.groups = std::move(groups).value();
    auto devices = Devices("");
    if (!devices.ok()) return devices.status();
    s.devices = std::move(devices).value();
    auto jobs = Jobs("");
    if (!jobs.ok()) return jobs.status();
    s.jobs = std::move(jobs).value();
    return s;
  };
  auto snapshot = read();
  Status end = connection_->Execute(snapshot.ok() ? "COMMIT" : "ROLLBACK");
  if (!snapshot.ok()) return snapshot.status();
  if (!end.ok()) return end;
  return snapshot;
}

Result<std::vector<ChangeHint>> SyncDb::ReadChanges(std::uint64_t after_seq, int limit) {
  auto rows = connection_->Query(
      "SELECT seq, table_name, row_key FROM config_changes WHERE seq > " +
      std::to_string(after_seq) + " ORDER BY seq LIMIT " + std::to_string(limit));
  if (!rows.ok()) return rows.status();
  std::vector<ChangeHint> out;
  for (const auto& r : *rows) {
    if (r.size() != 3) return Malformed("config_changes", r);
    out.push_back({Number<std::uint64_t>(r[0]).value_or(0), Text(r[1]), Text(r[2])});
  }
  return out;
}

Result<std::optional<DeviceRow>> SyncDb::ReadDevice(const std::string& id) {
  auto rows = Devices(" WHERE id = " + connection_->Quote(id));
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<DeviceRow>();
  return std::optional<DeviceRow>(std::move(rows->front()));
}

Result<std::optional<GroupRow>> SyncDb::ReadGroup(const std::string& name) {
  auto rows = Groups(" WHERE name = " + connection_->Quote(name));
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<GroupRow>();
  return std::optional<GroupRow>(std::move(rows->front()));
}

Result<std::optional<JobRow>> SyncDb::ReadJob(const std::string& id) {
  auto rows = Jobs(" WHERE id = " + connection_->Quote(id));
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<JobRow>();
  return std::optional<JobRow>(std::move(rows->front()));
}

Result<bool> SyncDb::MarkJobFinished(const std::string& id, std::int64_t version) {
  PICKET_RETURN_IF_ERROR(connection_->Execute(
      "UPDATE scan_jobs SET state = 'finished', finished_at = NOW(6) WHERE id = " +
      connection_->Quote(id) + " AND state = 'active' AND version = " + std::to_string(version)));
  auto changed = connection_->Query("SELECT ROW_COUNT()");
  if (!changed.ok()) return changed.status();
  if (changed->size() != 1 || (*changed)[0].size() != 1) return Malformed("ROW_COUNT", SqlRow());
  return Number<std::int64_t>((*changed)[0][0]).value_or(0) == 1;
}

Status SyncDb::PruneHints(int days) {
  return connection_->Execute("DELETE FROM config_changes WHERE changed_at < NOW(6) - INTERVAL " +
                              std::to_string(days) + " DAY LIMIT 10000");
}

Result<std::optional<std::int64_t>> SyncDb::TryLockLeader(const std::string& name) {
  // Timeout 0: never wait for a lock another instance holds.
  auto rows = connection_->Query("SELECT GET_LOCK(" + connection_->Quote(name) +
                                 ", 0), CONNECTION_ID()");
  if (!rows.ok()) return rows.status();
  if (rows->size() != 1 || (*rows)[0].size() != 2) return Malformed("GET_LOCK", SqlRow());
  if (Number<int>((*rows)[0][0]) != 1) return std::optional<std::int64_t>();
  return Number<std::int64_t>((*rows)[0][1]);
}

Status SyncDb::UnlockLeader(const std::string& name) {
  return connection_->Execute("DO RELEASE_LOCK(" + connection_->Quote(name) + ")");
}

Result<std::optional<std::int64_t>> SyncDb::LeaderLockHolder(const std::string& name) {
  auto rows = connection_->Query("SELECT IS_USED_LOCK(" + connection_->Quote(name) + ")");
  if (!rows.ok()) return rows.status();
  if (rows->size() != 1 || (*rows)[0].size() != 1) return Malformed("IS_USED_LOCK", SqlRow());
  return Number<std::int64_t>((*rows)[0][0]);
}

}  // namespace picket::sync
