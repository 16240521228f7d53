#include "collector/fleet_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "picket/common/log.h"

namespace picket::collector {

namespace {

using sqlite::Database;
using sqlite::Transaction;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS latest(
  device TEXT PRIMARY KEY,
  received_ms INTEGER NOT NULL,
  document TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollups(
  device TEXT NOT NULL,
  step_s INTEGER NOT NULL,
  t_ms INTEGER NOT NULL,
  covered_ms INTEGER NOT NULL,
  packets INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  drops INTEGER NOT NULL,
  uploaded_bytes INTEGER NOT NULL,
  upload_errors INTEGER NOT NULL,
  backlog_bytes INTEGER,
  PRIMARY KEY(device, step_s, t_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollups_by_time ON rollups(step_s, t_ms);
CREATE TABLE IF NOT EXISTS probe(id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);
)sql";

Status CreatePrivateFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return FromErrno(path + ": cannot create", errno);
  ::close(fd);
  return Status::Ok();
}

std::int64_t BucketStart(std::int64_t t_ms, std::int64_t step_s) {
  const std::int64_t step_ms = step_s * 1000;
  return t_ms - ((t_ms % step_ms) + step_ms) % step_ms;
}

}  // namespace

FleetStore::FleetStore(Database db, std::chrono::milliseconds retention)
    : db_(std::move(db)), retention_(retention) {}
FleetStore::~FleetStore() = default;

Result<std::unique_ptr<FleetStore>> FleetStore::Open(const std::string& path,
                                                     std::chrono::milliseconds retention) {
  PICKET_RETURN_IF_ERROR(CreatePrivateFile(path));
  auto db = Database::Open(path);
  if (!db.ok()) return db.status();
  {
    auto mode = db->Prepare("PRAGMA journal_mode=WAL");
    if (!mode.ok()) return mode.status();
    auto row = mode->Step();
    if (!row.ok()) return row.status();
  }
  // A lost last second of rollups after a power cut is acceptable.
  PICKET_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=NORMAL"));
  PICKET_RETURN_IF_ERROR(db->Exec(kSchema));
  if (retention.count() <= 0) retention = std::chrono::hours(24 * 7);
  return std::unique_ptr<FleetStore>(new FleetStore(std::move(*db), retention));
}

void FleetStore::QueueHeartbeat(StoredHeartbeat beat) {
  std::lock_guard lock(queue_mu_);
  std::string device = beat.device;
  latest_queue_[device] = std::move(beat);
}

void FleetStore::QueueDelta(const std::string& device, const CounterDelta& d) {
  std::lock_guard lock(queue_mu_);
  for (const RollupLevel& level : kRollupLevels) {
    Bucket& b = bucket_queue_[{device, level.step_s, BucketStart(d.t_ms, level.step_s)}];
    b.covered_ms += d.covered_ms;
    b.packets += d.packets;
    b.bytes += d.bytes;
    b.drops += d.drops;
    b.uploaded_bytes += d.uploaded_bytes;
    b.upload_errors += d.upload_errors;
    if (d.backlog_bytes) b.backlog_bytes = d.backlog_bytes;
  }
}

std::size_t FleetStore::queued() const {
  std::lock_guard lock(queue_mu_);
  return latest_queue_.size() + bucket_queue_.size();
}

Status FleetStore::Flush() {
  std::map<std::string, StoredHeartbeat> latest;
  std::map<BucketKey, Bucket> buckets;
  {
    std::lock_guard lock(queue_mu_);
    latest.swap(latest_queue_);
    buckets.swap(bucket_queue_);
  }
  if (latest.empty() && buckets.empty()) return Status::Ok();
  Status st = [&]() -> Status {
    std::lock_guard lock(db_mu_);
    auto tx = Transaction::Begin(db_);
    if (!tx.ok()) return tx.status();
    auto put_latest = db_.Prepare(
        "INSERT INTO latest(device, received_ms, document) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(device) DO UPDATE SET received_ms = excluded.received_ms, "
        "document = excluded.document");
    if (!put_latest.ok()) return put_latest.status();
    for (const auto& [device, beat] : latest) {
      put_latest->Reset();
      put_latest->Bind(1, device).Bind(2, beat.received_ms).Bind(3, beat.document);
      PICKET_RETURN_IF_ERROR(put_latest->Run());
    }
    auto add = db_.Prepare(R"sql(
      INSERT INTO rollups(device, step_s, t_ms, covered_ms, packets, bytes, drops, uploaded_bytes,
                          upload_errors, backlog_bytes)
      VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
      ON CONFLICT(device, step_s, t_ms) DO UPDATE SET
        covered_ms = covered_ms + excluded.covered_ms, packets = packets + excluded.packets,
        bytes = bytes + excluded.bytes, drops = drops + excluded.drops,
        uploaded_bytes = uploaded_bytes + excluded.uploaded_bytes,
        upload_errors = upload_errors + excluded.upload_errors,
        backlog_bytes = coalesce(excluded.backlog_bytes, backlog_bytes))sql");
    if (!add.ok()) return add.status();
    for (const auto& [key, b] : buckets) {
      add->Reset();
      add->Bind(1, std::get<0>(key)).Bind(2, std::get<1>(key)).Bind(3, std::get<2>(key));
      add->Bind(4, b.covered_ms).Bind(5, b.packets).Bind(6, b.bytes).Bind(7, b.drops);
      add->Bind(8, b.uploaded_bytes).Bind(9, b.upload_errors).Bind(10, b.backlog_bytes);
      PICKET_RETURN_IF_ERROR(add->Run());
    }
    return tx->Commit();
  }();
  if (st.ok()) return st;
  // Keep what failed for the next attempt; newer heartbeats win, deltas add up.
  std::lock_guard lock(queue_mu_);
  for (auto& [device, beat] : latest) latest_queue_.try_emplace(device, std::move(beat));
  for (const auto& [key, b] : buckets) {
    Bucket& q = bucket_queue_[key];
    q.covered_ms += b.covered_ms;
    q.packets += b.packets;
    q.bytes += b.bytes;
    q.drops += b.drops;
    q.uploaded_bytes += b.uploaded_bytes;
    q.upload_errors += b.upload_errors;
    if (!q.backlog_bytes) q.backlog_bytes = b.backlog_bytes;
  }
  return st;
}

Status FleetStore::Prune(std::int64_t now_ms) {
  std::lock_guard lock(db_mu_);
  auto del = db_.Prepare("DELETE FROM rollups WHERE step_s = ?1 AND t_ms < ?2");
  if (!del.ok()) return del.status();
  for (const RollupLevel& level : kRollupLevels) {
    const std::int64_t keep_ms = std::min<std::int64_t>(level.keep_s * 1000, retention_.count());
    del->Reset();
    del->Bind(1, level.step_s).Bind(2, now_ms - keep_ms);
    PICKET_RETURN_IF_ERROR(del->Run());
  }
  // A device silent for longer than the retention is forgotten.
  auto old = db_.Prepare("DELETE FROM latest WHERE received_ms < ?1");
  if (!old.ok()) return old.status();
  old->Bind(1, now_ms - retention_.count());
  return old->Run();
}

Status FleetStore::ProbeWrite(std::int64_t now_ms) {
  std::lock_guard lock(db_mu_);
  auto tx = Transaction::Begin(db_);
  if (!tx.ok()) return tx.status();
  auto put = db_.Prepare(
      "INSERT INTO probe(id, at_ms) VALUES(1, ?1) ON CONFLICT(id) DO UPDATE SET at_ms = ?1");
  if (!put.ok()) return put.status();
  put->Bind(1, now_ms);
  PICKET_RETURN_IF_ERROR(put->Run());
  return tx->Commit();
}

Result<std::vector<StoredHeartbeat>> FleetStore::LoadLatest() {
  std::lock_guard lock(db_mu_);
  auto q = db_.Prepare("SELECT device, received_ms, document FROM latest ORDER BY device");
  if (!q.ok()) return q.status();
  std::vector<StoredHeartbeat> out;
  while (true) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back({q->Text(0), q->Int(1), q->Text(2)});
  }
  return out;
}

Result<std::vector<SeriesPoint>> FleetStore::Series(const std::string& device, std::int64_t step_s,
                                                    std::int64_t since_ms) {
  std::lock_guard lock(db_mu_);
  auto q = db_.Prepare(R"sql(
    SELECT t_ms, covered_ms, packets, bytes, drops, uploaded_bytes, upload_errors, backlog_bytes
    FROM rollups WHERE device = ?1 AND step_s = ?2 AND t_ms >= ?3 ORDER BY t_ms)sql");
  if (!q.ok()) return q.status();
  q->Bind(1, device).Bind(2, step_s).Bind(3, since_ms);
  std::vector<SeriesPoint> out;
  while (true) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    SeriesPoint p;
    p.t_ms = q->Int(0);
    const std::int64_t covered = q->Int(1), packets = q->Int(2), drops = q->Int(4);
    p.drops = drops;
    p.upload_errors = q->Int(6);
    if (covered > 0) {
      const double seconds = static_cast<double>(covered) / 1000.0;
      p.pps = static_cast<double>(packets) / seconds;
      p.bps = static_cast<double>(q->Int(3)) * 8.0 / seconds;
      p.upload_bps = static_cast<double>(q->Int(5)) * 8.0 / seconds;
    }
    if (packets + drops > 0) {
      p.drop_pct = 100.0 * static_cast<double>(drops) / static_cast<double>(packets + drops);
    }
    if (!q->IsNull(7)) p.backlog_bytes = q->Int(7);
    out.push_back(p);
  }
  return out;
}

void FleetFlusher::Start() {
  thread_ = std::thread([this] {
    std::int64_t next_prune_ms = 0;
    std::unique_lock lock(mu_);
    while (true) {
      const bool stop = wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
      lock.unlock();
      if (Status st = store_->Flush(); !st.ok()) {
        PICKET_LOG(kError, "collector", "fleet.db write failed; retried in 1 s", {"status", st});
      }
      const std::int64_t now = clock_->WallMillis();
      if (!stop && now >= next_prune_ms) {
        next_prune_ms = now + 60'000;
        if (Status st = store_->Prune(now); !st.ok()) {
          PICKET_LOG(kError, "collector", "fleet.db retention failed", {"status", st});
        }
      }
      lock.lock();
      if (stop) return;
    }
  });
}

void FleetFlusher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace picket::collector
