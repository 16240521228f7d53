#include "collector/sqlite_collector_db.h"

#include <algorithm>

#include "picket/common/file_io.h"
#include "picket/common/json_limits.h"

namespace picket::collector {

namespace {

using sqlite::ColumnType;
using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

// 2: idempotency_keys.body_sha256 (a key reused with another body is refused).
constexpr int kSchemaVersion = 4;  // 3: chunks.ts_backwards, 4: chunks.switched_at_us

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS devices(
  id TEXT PRIMARY KEY,
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  chunks INTEGER NOT NULL DEFAULT 0,
  chunk_bytes INTEGER NOT NULL DEFAULT 0,
  packets INTEGER NOT NULL DEFAULT 0,
  kernel_drops INTEGER NOT NULL DEFAULT 0,
  interface_drops INTEGER NOT NULL DEFAULT 0,
  lost_packets INTEGER NOT NULL DEFAULT 0,
  last_chunk_seq INTEGER,
  last_chunk_ms INTEGER,
  results INTEGER NOT NULL DEFAULT 0,
  log_lines INTEGER NOT NULL DEFAULT 0,
  evicted_chunks INTEGER NOT NULL DEFAULT 0,
  evicted_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS chunks(
  device TEXT NOT NULL,
  seq INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  packets INTEGER,
  first_ts_us INTEGER,
  last_ts_us INTEGER,
  kernel_drops INTEGER,
  interface_drops INTEGER,
  lost_packets INTEGER,
  gap_before_ms INTEGER,
  ts_backwards INTEGER,
  switched_at_us INTEGER,
  interface TEXT,
  received_at_ms INTEGER NOT NULL,
  path TEXT NOT NULL,
  PRIMARY KEY(device, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chunks_by_received ON chunks(received_at_ms);
CREATE TABLE IF NOT EXISTS results(
  id INTEGER PRIMARY KEY,
  device TEXT NOT NULL,
  job TEXT,
  ip TEXT,
  port INTEGER,
  proto TEXT,
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  seen INTEGER NOT NULL DEFAULT 1,
  line TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS results_by_finding ON results(device, job, ip, port, proto)
  WHERE ip IS NOT NULL;
CREATE INDEX IF NOT EXISTS results_by_job ON results(job, id);
CREATE INDEX IF NOT EXISTS results_by_last_seen ON results(last_seen_ms);
CREATE TABLE IF NOT EXISTS logs(
  id INTEGER PRIMARY KEY,
  device TEXT NOT NULL,
  received_at_ms INTEGER NOT NULL,
  line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_device ON logs(device, id);
CREATE TABLE IF NOT EXISTS idempotency_keys(
  device TEXT NOT NULL,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  received_at_ms INTEGER NOT NULL,
  accepted INTEGER NOT NULL,
  body_sha256 TEXT,
  PRIMARY KEY(device, kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_keys_by_time ON idempotency_keys(received_at_ms);
)sql";

std::int64_t ClampLimit(std::uint64_t limit) {
  return static_cast<std::int64_t>(std::clamp<std::uint64_t>(limit, 1, kMaxListLimit));
}

// Rows with id (or seq) above this; -1 when the query has no "since".
std::int64_t SinceBound(const ListQuery& q) {
  // Row ids and seqs fit in int64; a larger "since" simply matches nothing.
  return q.since ? static_cast<std::int64_t>(std::min<std::uint64_t>(*q.since, INT64_MAX)) : -1;
}

// The current row as a JSON object keyed by column name (INTEGER, REAL, TEXT, NULL).
// Columns named in json_columns hold JSON text and are embedded as parsed values.
nlohmann::json RowAsJson(const Statement& stmt,
                         std::initializer_list<std::string_view> json_columns) {
  nlohmann::json row = nlohmann::json::object();
  const int n = stmt.ColumnCount();
  for (int i = 0; i < n; ++i) {
    std::string name = stmt.ColumnName(i);
    switch (stmt.Type(i)) {
      case ColumnType::kInteger:
        row[name] = stmt.Int(i);
        break;
      case ColumnType::kReal:
        row[name] = stmt.Real(i);
        break;
      case ColumnType::kNull:
        row[name] = nullptr;
        break;
      default: {
        std::string text = stmt.Text(i);
        bool is_json = false;
        for (auto c : json_columns) is_json = is_json || c == name;
        // Rows stored before ingest bounded nesting are served as text, never parsed deep.
        if (is_json && JsonNestingWithin(text)) {
          auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
          row[name] = parsed.is_discarded() ? nlohmann::json(text) : std::move(parsed);
        } else {
          row[name] = std::move(text);
        }
      }
    }
  }
  return row;
}

Result<nlohmann::json> CollectRows(Statement& stmt,
                                   std::initializer_list<std::string_view> json_columns = {}) {
  nlohmann::json rows = nlohmann::json::array();
  while (true) {
    auto row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return rows;
    rows.push_back(RowAsJson(stmt, json_columns));
  }
}

}  // namespace

std::string_view LineKindName(LineKind kind) {
  return kind == LineKind::kResults ? "results" : "logs";
}

Result<std::unique_ptr<CollectorDb>> CollectorDb::Open(const std::string& path) {
  auto db = SqliteCollectorDb::Open(path);
  if (!db.ok()) return db.status();
  return std::unique_ptr<CollectorDb>(std::move(*db));
}

Result<std::unique_ptr<SqliteCollectorDb>> SqliteCollectorDb::Open(const std::string& path) {
  auto db = Database::Open(path);
  if (!db.ok()) return db.status();
  std::unique_ptr<SqliteCollectorDb> out(new SqliteCollectorDb(std::move(*db)));
  PICKET_RETURN_IF_ERROR(out->CreateSchema());
  // Reads get a connection of their own: in WAL mode they see the last commit
  // and never wait for (or make wait) the writers' mutex and transactions.
  auto reader = Database::Open(path);
  if (!reader.ok()) return reader.status().WithContext("read connection");
  PICKET_RETURN_IF_ERROR(reader->Exec("PRAGMA query_only=ON"));
  out->reader_.emplace(std::move(*reader));
  return out;
}

SqliteCollectorDb::~SqliteCollectorDb() = default;

Status SqliteCollectorDb::CreateSchema() {
  // WAL: readers never block the writer. synchronous=FULL: a 201 means the row
  // survives power loss, as the chunk file does.
  {
    auto mode = db_.Prepare("PRAGMA journal_mode=WAL");
    if (!mode.ok()) return mode.status();
    auto row = mode->Step();
    if (!row.ok()) return row.status();
    if (!*row || mode->Text(0) != "wal") {
      return Status::IoError(db_.path() + ": cannot switch the database to WAL mode");
    }
  }
  PICKET_RETURN_IF_ERROR(db_.Exec("PRAGMA synchronous=FULL"));
  PICKET_RETURN_IF_ERROR(db_.Exec("PRAGMA foreign_keys=ON"));
  auto version = db_.Prepare("PRAGMA user_version");
  if (!version.ok()) return version.status();
  auto row = version->Step();
  if (!row.ok()) return row.status();
  const std::int64_t found = *row ? version->Int(0) : 0;
  if (found > kSchemaVersion) {
    return Status::FailedPrecondition(db_.path() + ": database schema version " +
                                      std::to_string(found) + " is newer than this collector's (" +
                                      std::to_string(kSchemaVersion) + ")");
  }
  auto tx = Transaction::Begin(db_);
  if (!tx.ok()) return tx.status();
  PICKET_RETURN_IF_ERROR(db_.Exec(kSchema));
  if (found == 1) {
    PICKET_RETURN_IF_ERROR(db_.Exec("ALTER TABLE idempotency_keys ADD COLUMN body_sha256 TEXT"));
  }
  // Columns added since: older chunks keep NULL (not known).
  for (const auto& [since, column] : {std::pair{3, "ts_backwards"}, std::pair{4, "switched_at_us"}}) {
    if (found < 1 || found >= since) continue;
    bool has_column = false;
    {  // finished before the ALTER
      auto has = db_.Prepare("SELECT 1 FROM pragma_table_info('chunks') WHERE name = ?1");
      if (!has.ok()) return has.status();
      has->Bind(1, column);
      auto row = has->Step();
      if (!row.ok()) return row.status();
      has_column = *row;
    }
    if (!has_column) {
      PICKET_RETURN_IF_ERROR(
          db_.Exec("ALTER TABLE chunks ADD COLUMN " + std::string(column) + " INTEGER"));
    }
  }
  PICKET_RETURN_IF_ERROR(db_.Exec("PRAGMA user_version=" + std::to_string(kSchemaVersion)));
  return tx->Commit();
}

Status SqliteCollectorDb::UpsertDevice(const std::string& device, std::int64_t now_ms,
                                 const DeviceReport& report) {
  auto stmt = db_.Prepare(R"sql(
    INSERT INTO devices(id, first_seen_ms, last_seen_ms, evicted_chunks, evicted_bytes)
    VALUES(?1, ?2, ?2, coalesce(?3, 0), coalesce(?4, 0))
    ON CONFLICT(id) DO UPDATE SET
      last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
      evicted_chunks = coalesce(?3, evicted_chunks),
      evicted_bytes = coalesce(?4, evicted_bytes))sql");
  if (!stmt.ok()) return stmt.status();
  return stmt
      ->Bind(1, device)
      .Bind(2, now_ms)
      .Bind(3, report.evicted_chunks)
      .Bind(4, report.evicted_bytes)
      .Run();
}

Result<std::optional<std::string>> SqliteCollectorDb::ChunkHash(const std::string& device,
                                                          std::uint64_t seq) {
  return ChunkText("SELECT sha256 FROM chunks WHERE device=?1 AND seq=?2", device, seq);
}

Result<ChunkPut> SqliteCollectorDb::PutChunk(const ChunkPutRequest& request) {
  return commits_.Submit(request, [this](std::vector<QueuedPut*>& batch) { CommitChunks(batch); });
}

void SqliteCollectorDb::PutChunkAsync(const ChunkPutRequest& request, PutChunkDone done) {
  commits_.SubmitAsync(request, std::move(done),
                       [this](std::vector<QueuedPut*>& batch) { CommitChunks(batch); });
}

std::size_t SqliteCollectorDb::chunks_queued() { return commits_.queued(); }

void SqliteCollectorDb::CommitChunks(const std::vector<QueuedPut*>& batch) {
  std::lock_guard lock(mu_);
  const auto began = CommitClock::now();
  auto fail_all = [&](const Status& st) {
    for (QueuedPut* q : batch) q->answer = st;
  };
  auto tx = Transaction::Begin(db_);
  if (!tx.ok()) return fail_all(tx.status());
  std::vector<std::optional<Result<ChunkPut>>> outcomes(batch.size());
  std::vector<const PublishedFileSync*> syncs;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    // A savepoint each: one chunk's failure leaves the others in the batch.
    auto savepoint = Transaction::Begin(db_);
    if (!savepoint.ok()) return fail_all(savepoint.status());
    Result<ChunkPut> put = PutOneChunk(*batch[i]->request);
    if (put.ok()) {
      if (Status st = savepoint->Commit(); !st.ok()) put = st;
    }
    if (put.ok() && put->outcome == ChunkOutcome::kStored &&
        batch[i]->request->file_sync != nullptr) {
      syncs.push_back(batch[i]->request->file_sync);
    }
    outcomes[i] = std::move(put);
  }
  std::sort(syncs.begin(), syncs.end());
  syncs.erase(std::unique(syncs.begin(), syncs.end()), syncs.end());
  // The files must be durable before the rows that point at them commit. A
  // crash between a rename and the commit leaves a file without a row:
  // ChunkStore::SweepOrphans removes it at the next start.
  const auto sync_began = CommitClock::now();
  for (const PublishedFileSync* sync : syncs) {
    if (Status st = sync->SyncPublished(); !st.ok()) return fail_all(st);
  }
  const auto file_sync = CommitClock::now() - sync_began;
  if (Status st = tx->Commit(); !st.ok()) return fail_all(st);
  CountChunkCommit(batch.size(), began, file_sync);
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->answer = std::move(*outcomes[i]);
}

Result<ChunkPut> SqliteCollectorDb::PutOneChunk(const ChunkPutRequest& request) {
  const ChunkRecord& r = *request.record;
  PICKET_RETURN_IF_ERROR(UpsertDevice(r.device, r.received_at_ms, *request.report));

  auto existing = db_.Prepare("SELECT sha256 FROM chunks WHERE device=?1 AND seq=?2");
  if (!existing.ok()) return existing.status();
  existing->Bind(1, r.device).Bind(2, static_cast<std::int64_t>(r.seq));
  auto row = existing->Step();
  if (!row.ok()) return row.status();
  if (*row) {
    ChunkPut put;
    put.stored_sha256 = existing->Text(0);
    put.outcome =
        put.stored_sha256 == r.sha256_hex ? ChunkOutcome::kAlreadyStored : ChunkOutcome::kConflict;
    return put;  // the savepoint keeps the last_seen update
  }

  if (request.disk_quota > 0) {
    auto used = db_.Prepare("SELECT chunk_bytes FROM devices WHERE id=?1");
    if (!used.ok()) return used.status();
    used->Bind(1, r.device);
    auto found = used->Step();
    if (!found.ok()) return found.status();
    const auto bytes = *found ? static_cast<std::uint64_t>(used->Int(0)) : 0;
    used->Reset();  // no read open on devices while it is updated below
    if (bytes + r.bytes > request.disk_quota) {
      return ChunkPut{ChunkOutcome::kOverDiskQuota, "", bytes};
    }
  }

  PICKET_RETURN_IF_ERROR(request.publish_file());

  auto insert = db_.Prepare(R"sql(
    INSERT INTO chunks(device, seq, sha256, bytes, packets, first_ts_us, last_ts_us, kernel_drops,
                       interface_drops, gap_before_ms, interface, received_at_ms, path, lost_packets,
                       ts_backwards, switched_at_us)
    VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16))sql");
  if (!insert.ok()) return insert.status();
  PICKET_RETURN_IF_ERROR(insert
                             ->Bind(1, r.device)
                             .Bind(2, static_cast<std::int64_t>(r.seq))
                             .Bind(3, r.sha256_hex)
                             .Bind(4, static_cast<std::int64_t>(r.bytes))
                             .Bind(5, r.packets)
                             .Bind(6, r.first_ts_us)
                             .Bind(7, r.last_ts_us)
                             .Bind(8, r.kernel_drops)
                             .Bind(9, r.interface_drops)
                             .Bind(10, r.gap_before_ms)
                             .Bind(11, r.interface)
                             .Bind(12, r.received_at_ms)
                             .Bind(13, r.path)
                             .Bind(14, r.lost_packets)
                             .Bind(15, r.ts_backwards)
                             .Bind(16, r.switched_at_us)
                             .Run());
  // Counters saturate at 2^53 - 1: headers are capped there (api_handler), so
  // a sum never overflows int64 (which SQLite would turn into a float) and
  // every value stays exact in JSON.
  auto counters = db_.Prepare(R"sql(
    UPDATE devices SET chunks = chunks + 1, chunk_bytes = min(chunk_bytes + ?2, (1 << 53) - 1),
      packets = min(packets + coalesce(?3, 0), (1 << 53) - 1),
      kernel_drops = min(kernel_drops + coalesce(?4, 0), (1 << 53) - 1),
      interface_drops = min(interface_drops + coalesce(?5, 0), (1 << 53) - 1),
      lost_packets = min(lost_packets + coalesce(?8, 0), (1 << 53) - 1),
      last_chunk_seq = max(coalesce(last_chunk_seq, ?6), ?6), last_chunk_ms = ?7
    WHERE id = ?1)sql");
  if (!counters.ok()) return counters.status();
  PICKET_RETURN_IF_ERROR(counters
                             ->Bind(1, r.device)
                             .Bind(2, static_cast<std::int64_t>(r.bytes))
                             .Bind(3, r.packets)
                             .Bind(4, r.kernel_drops)
                             .Bind(5, r.interface_drops)
                             .Bind(6, static_cast<std::int64_t>(r.seq))
                             .Bind(7, r.received_at_ms)
                             .Bind(8, r.lost_packets)
                             .Run());
  return ChunkPut{ChunkOutcome::kStored, r.sha256_hex};
}

Result<std::uint64_t> SqliteCollectorDb::DeviceChunkBytes(const std::string& device) {
  std::lock_guard lock(read_mu_);
  auto q = reader_->Prepare("SELECT chunk_bytes FROM devices WHERE id=?1");
  if (!q.ok()) return q.status();
  q->Bind(1, device);
  auto row = q->Step();
  if (!row.ok()) return row.status();
  return *row ? static_cast<std::uint64_t>(q->Int(0)) : 0;
}

Result<std::unordered_set<std::uint64_t>> SqliteCollectorDb::ChunkSeqs(const std::string& device) {
  std::lock_guard lock(read_mu_);
  auto q = reader_->Prepare("SELECT seq FROM chunks WHERE device=?1");
  if (!q.ok()) return q.status();
  q->Bind(1, device);
  std::unordered_set<std::uint64_t> seqs;
  while (true) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    seqs.insert(static_cast<std::uint64_t>(q->Int(0)));
  }
  return seqs;
}

Status SqliteCollectorDb::TouchDevice(const std::string& device, std::int64_t now_ms,
                                const DeviceReport& report) {
  std::lock_guard lock(mu_);
  return UpsertDevice(device, now_ms, report);
}

Result<IngestOutcome> SqliteCollectorDb::IngestLines(LineKind kind, const std::string& device,
                                               const std::string& idempotency_key,
                                               const std::vector<NdjsonLine>& lines,
                                               std::int64_t now_ms, const DeviceReport& report,
                                               std::string_view body_sha256) {
  std::lock_guard lock(mu_);
  auto tx = Transaction::Begin(db_);
  if (!tx.ok()) return tx.status();
  PICKET_RETURN_IF_ERROR(UpsertDevice(device, now_ms, report));

  auto claim = db_.Prepare(R"sql(
    INSERT INTO idempotency_keys(device, kind, key, received_at_ms, accepted, body_sha256)
    VALUES(?1, ?2, ?3, ?4, ?5, nullif(?6, '')) ON CONFLICT DO NOTHING)sql");
  if (!claim.ok()) return claim.status();
  PICKET_RETURN_IF_ERROR(claim->Bind(1, device)
                             .Bind(2, LineKindName(kind))
                             .Bind(3, idempotency_key)
                             .Bind(4, now_ms)
                             .Bind(5, static_cast<std::int64_t>(lines.size()))
                             .Bind(6, body_sha256)
                             .Run());
  if (db_.Changes() == 0) {
    // A replay. Keys stored before schema 2, or without a fingerprint, match any body.
    auto stored = db_.Prepare(
        "SELECT coalesce(body_sha256, '') FROM idempotency_keys WHERE device = ?1 AND kind = ?2 "
        "AND key = ?3");
    if (!stored.ok()) return stored.status();
    stored->Bind(1, device).Bind(2, LineKindName(kind)).Bind(3, idempotency_key);
    auto row = stored->Step();
    if (!row.ok()) return row.status();
    const std::string first = *row ? stored->Text(0) : std::string();
    if (!first.empty() && !body_sha256.empty() && first != body_sha256) {
      return Status::Conflict("Idempotency-Key \"" + idempotency_key +
                              "\" was first used with another body (sha256 " + first + ")");
    }
    PICKET_RETURN_IF_ERROR(tx->Commit());  // keeps the last_seen update
    return IngestOutcome{0, true};
  }

  if (kind == LineKind::kLogs) {
    auto insert = db_.Prepare("INSERT INTO logs(device, received_at_ms, line) VALUES(?1, ?2, ?3)");
    if (!insert.ok()) return insert.status();
    for (const NdjsonLine& line : lines) {
      insert->Reset();
      PICKET_RETURN_IF_ERROR(insert->Bind(1, device).Bind(2, now_ms).Bind(3, line.raw).Run());
    }
  } else {
    // A finding seen again keeps first_seen and its row id; last_seen and the line move on.
    auto insert = db_.Prepare(R"sql(
      INSERT INTO results(device, job, ip, port, proto, first_seen_ms, last_seen_ms, line)
      VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)
      ON CONFLICT(device, job, ip, port, proto) WHERE ip IS NOT NULL DO UPDATE SET
        last_seen_ms = max(last_seen_ms, excluded.last_seen_ms), seen = seen + 1,
        line = excluded.line)sql");
    if (!insert.ok()) return insert.status();
    for (const NdjsonLine& line : lines) {
      insert->Reset();
      insert->Bind(1, device).Bind(6, now_ms).Bind(7, line.raw);
      if (line.result_key) {
        insert->Bind(2, std::string_view(line.result_key->job))
            .Bind(3, std::string_view(line.result_key->ip))
            .Bind(4, line.result_key->port)
            .Bind(5, std::string_view(line.result_key->proto));
      } else {
        insert->BindNull(2).BindNull(3).BindNull(4).BindNull(5);
      }
      PICKET_RETURN_IF_ERROR(insert->Run());
    }
  }
  auto counter = db_.Prepare(kind == LineKind::kLogs
                                 ? "UPDATE devices SET log_lines = log_lines + ?2 WHERE id = ?1"
                                 : "UPDATE devices SET results = results + ?2 WHERE id = ?1");
  if (!counter.ok()) return counter.status();
  PICKET_RETURN_IF_ERROR(
      counter->Bind(1, device).Bind(2, static_cast<std::int64_t>(lines.size())).Run());
  PICKET_RETURN_IF_ERROR(tx->Commit());
  return IngestOutcome{lines.size(), false};
}

Result<std::optional<std::string>> SqliteCollectorDb::ChunkPath(const std::string& device,
                                                          std::uint64_t seq) {
  return ChunkText("SELECT path FROM chunks WHERE device=?1 AND seq=?2", device, seq);
}

Result<std::optional<std::string>> SqliteCollectorDb::ChunkText(const char* sql,
                                                          const std::string& device,
                                                          std::uint64_t seq) {
  std::lock_guard lock(read_mu_);
  auto stmt = reader_->Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, device).Bind(2, static_cast<std::int64_t>(seq));
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(stmt->Text(0));
}

Result<std::vector<std::string>> SqliteCollectorDb::DevicesWithChunks() {
  std::lock_guard lock(read_mu_);
  auto stmt = reader_->Prepare("SELECT id FROM devices WHERE chunks > 0");
  if (!stmt.ok()) return stmt.status();
  std::vector<std::string> out;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(stmt->Text(0));
  }
  return out;
}

Result<std::vector<AnalysisChunk>> SqliteCollectorDb::NextChunksFrom(const std::string& device,
                                                                     std::uint64_t from_seq,
                                                                     std::size_t limit) {
  std::lock_guard lock(read_mu_);
  auto stmt = reader_->Prepare(
      "SELECT seq, path, coalesce(gap_before_ms, 0), received_at_ms FROM chunks "
      "WHERE device = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, device)
      .Bind(2, static_cast<std::int64_t>(std::min<std::uint64_t>(from_seq, INT64_MAX)))
      .Bind(3, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
  std::vector<AnalysisChunk> out;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    AnalysisChunk c;
    c.seq = static_cast<std::uint64_t>(stmt->Int(0));
    c.path = stmt->Text(1);
    c.gap_before_ms = stmt->Int(2);
    c.received_at_ms = stmt->Int(3);
    out.push_back(std::move(c));
  }
  return out;
}

Result<PendingChunks> SqliteCollectorDb::ChunksBehind(const std::vector<AnalysisCursor>& cursors) {
  std::lock_guard lock(read_mu_);
  // In process, one indexed lookup per device costs microseconds: no batching.
  auto stmt = reader_->Prepare(
      "SELECT count(*), min(received_at_ms) FROM chunks WHERE device = ?1 AND seq >= ?2");
  if (!stmt.ok()) return stmt.status();
  PendingChunks out;
  for (const AnalysisCursor& cursor : cursors) {
    stmt->Reset();
    stmt->Bind(1, cursor.device)
        .Bind(2, static_cast<std::int64_t>(std::min<std::uint64_t>(cursor.next_seq, INT64_MAX)));
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row || stmt->IsNull(1)) continue;  // no chunk behind this cursor
    out.Add(stmt->Int(0), stmt->Int(1));
  }
  return out;
}

Result<std::vector<StoredChunk>> SqliteCollectorDb::OldestChunks(const std::optional<ChunkCursor>& after,
                                                          std::size_t limit) {
  std::lock_guard lock(read_mu_);
  // Walks chunks_by_received (its entries end with the primary key, so the
  // row-value comparison is one index range).
  auto stmt = reader_->Prepare(after ? R"sql(
    SELECT device, seq, bytes, received_at_ms, path FROM chunks
    WHERE (received_at_ms, device, seq) > (?1, ?2, ?3)
    ORDER BY received_at_ms, device, seq LIMIT ?4)sql"
                                     : R"sql(
    SELECT device, seq, bytes, received_at_ms, path FROM chunks
    ORDER BY received_at_ms, device, seq LIMIT ?4)sql");
  if (!stmt.ok()) return stmt.status();
  if (after) {
    stmt->Bind(1, after->received_at_ms)
        .Bind(2, after->device)
        .Bind(3, static_cast<std::int64_t>(after->seq));
  }
  stmt->Bind(4, static_cast<std::int64_t>(limit));
  std::vector<StoredChunk> out;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back({stmt->Text(0), static_cast<std::uint64_t>(stmt->Int(1)),
                   static_cast<std::uint64_t>(std::max<std::int64_t>(0, stmt->Int(2))),
                   stmt->Int(3), stmt->Text(4)});
  }
}

Result<std::map<std::string, std::uint64_t>> SqliteCollectorDb::ChunkBytesByDevice() {
  std::lock_guard lock(read_mu_);
  auto stmt = reader_->Prepare("SELECT id, chunk_bytes FROM devices");
  if (!stmt.ok()) return stmt.status();
  std::map<std::string, std::uint64_t> out;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out[stmt->Text(0)] = static_cast<std::uint64_t>(std::max<std::int64_t>(0, stmt->Int(1)));
  }
}

Result<std::vector<StoredChunk>> SqliteCollectorDb::DeleteChunks(
    const std::vector<std::pair<std::string, std::uint64_t>>& keys) {
  std::lock_guard lock(mu_);
  auto tx = Transaction::Begin(db_);
  if (!tx.ok()) return tx.status();
  auto drop = db_.Prepare(
      "DELETE FROM chunks WHERE device = ?1 AND seq = ?2 "
      "RETURNING bytes, received_at_ms, path");
  if (!drop.ok()) return drop.status();
  auto counters = db_.Prepare(
      "UPDATE devices SET chunks = max(chunks - 1, 0), chunk_bytes = max(chunk_bytes - ?2, 0) "
      "WHERE id = ?1");
  if (!counters.ok()) return counters.status();
  std::vector<StoredChunk> deleted;
  for (const auto& [device, seq] : keys) {
    drop->Reset();
    drop->Bind(1, device).Bind(2, static_cast<std::int64_t>(seq));
    auto row = drop->Step();
    if (!row.ok()) return row.status();
    if (!*row) continue;  // gone already
    StoredChunk c{device, seq, static_cast<std::uint64_t>(std::max<std::int64_t>(0, drop->Int(0))),
                  drop->Int(1), drop->Text(2)};
    auto rest = drop->Step();  // finishes the statement
    if (!rest.ok()) return rest.status();
    counters->Reset();
    PICKET_RETURN_IF_ERROR(
        counters->Bind(1, device).Bind(2, static_cast<std::int64_t>(c.bytes)).Run());
    deleted.push_back(std::move(c));
  }
  PICKET_RETURN_IF_ERROR(tx->Commit());
  return deleted;
}

Result<std::uint64_t> SqliteCollectorDb::DeleteLinesBefore(LineKind kind, std::int64_t before_ms,
                                                     std::uint64_t batch) {
  std::lock_guard lock(mu_);
  auto tx = Transaction::Begin(db_);
  if (!tx.ok()) return tx.status();
  if (kind == LineKind::kResults) {
    auto drop = db_.Prepare(R"sql(
      DELETE FROM results WHERE id IN (
        SELECT id FROM results WHERE last_seen_ms < ?1 ORDER BY last_seen_ms LIMIT ?2))sql");
    if (!drop.ok()) return drop.status();
    PICKET_RETURN_IF_ERROR(
        drop->Bind(1, before_ms).Bind(2, static_cast<std::int64_t>(batch)).Run());
  } else {
    // Ids grow with arrival: the old lines are the first ones. Reading the
    // first `batch` ids walks the primary key only; a filter on the time
    // alone would scan the table once the old lines are gone.
    auto first = db_.Prepare("SELECT id, received_at_ms FROM logs ORDER BY id LIMIT ?1");
    if (!first.ok()) return first.status();
    first->Bind(1, static_cast<std::int64_t>(batch));
    std::optional<std::int64_t> last_old;
    while (true) {
      auto row = first->Step();
      if (!row.ok()) return row.status();
      if (!*row || first->Int(1) >= before_ms) break;
      last_old = first->Int(0);
    }
    first->Reset();
    if (!last_old) return std::uint64_t{0};
    auto drop = db_.Prepare("DELETE FROM logs WHERE id <= ?1");
    if (!drop.ok()) return drop.status();
    PICKET_RETURN_IF_ERROR(drop->Bind(1, *last_old).Run());
  }
  const auto n = static_cast<std::uint64_t>(db_.Changes());
  PICKET_RETURN_IF_ERROR(tx->Commit());
  return n;
}

Result<std::uint64_t> SqliteCollectorDb::DeleteIdempotencyKeysBefore(std::int64_t before_ms,
                                                               std::uint64_t batch) {
  std::lock_guard lock(mu_);
  auto drop = db_.Prepare(R"sql(
    DELETE FROM idempotency_keys WHERE (device, kind, key) IN (
      SELECT device, kind, key FROM idempotency_keys WHERE received_at_ms < ?1
      ORDER BY received_at_ms LIMIT ?2))sql");
  if (!drop.ok()) return drop.status();
  PICKET_RETURN_IF_ERROR(drop->Bind(1, before_ms).Bind(2, static_cast<std::int64_t>(batch)).Run());
  return static_cast<std::uint64_t>(db_.Changes());
}

Result<nlohmann::json> SqliteCollectorDb::ListDevices() {
  std::lock_guard lock(read_mu_);
  auto stmt = reader_->Prepare(R"sql(
    SELECT id, first_seen_ms, last_seen_ms, chunks, chunk_bytes, packets, kernel_drops,
           interface_drops, lost_packets, last_chunk_seq, last_chunk_ms, results, log_lines, evicted_chunks,
           evicted_bytes
    FROM devices ORDER BY id)sql");
  if (!stmt.ok()) return stmt.status();
  return CollectRows(*stmt);
}

Result<nlohmann::json> SqliteCollectorDb::ListChunks(const std::string& device, const ListQuery& q) {
  std::lock_guard lock(read_mu_);
  auto stmt = reader_->Prepare(R"sql(
    SELECT seq, sha256, bytes, packets, first_ts_us, last_ts_us, kernel_drops, interface_drops,
           lost_packets, gap_before_ms, ts_backwards, switched_at_us, interface, received_at_ms
    FROM chunks WHERE device = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3)sql");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, device).Bind(2, SinceBound(q)).Bind(3, ClampLimit(q.limit));
  return CollectRows(*stmt);
}

Result<nlohmann::json> SqliteCollectorDb::ListResults(const ListQuery& q) {
  std::lock_guard lock(read_mu_);
  auto stmt = reader_->Prepare(R"sql(
    SELECT id, device, job, ip, port, proto, first_seen_ms, last_seen_ms, seen, line AS result
    FROM results
    WHERE (?1 IS NULL OR device = ?1) AND (?2 IS NULL OR job = ?2) AND id > ?3
    ORDER BY id LIMIT ?4)sql");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, q.device).Bind(2, q.job).Bind(3, SinceBound(q)).Bind(4, ClampLimit(q.limit));
  return CollectRows(*stmt, {"result"});
}

Result<nlohmann::json> SqliteCollectorDb::ListLogs(const ListQuery& q) {
  std::lock_guard lock(read_mu_);
  auto stmt = reader_->Prepare(R"sql(
    SELECT id, device, received_at_ms, line FROM logs
    WHERE (?1 IS NULL OR device = ?1) AND id > ?2 AND (?4 IS NULL OR received_at_ms >= ?4)
    ORDER BY id LIMIT ?3)sql");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, q.device).Bind(2, SinceBound(q)).Bind(3, ClampLimit(q.limit)).Bind(4, q.since_ms);
  return CollectRows(*stmt, {"line"});
}

Result<std::uint64_t> SqliteCollectorDb::LogCursorTail(const std::optional<std::string>& device,
                                                 std::uint64_t lines) {
  std::lock_guard lock(read_mu_);
  // Two statements, so each walks an index backwards (logs_by_device or the
  // primary key) and reads `lines` entries, never the whole table.
  auto stmt = reader_->Prepare(device ? R"sql(
    SELECT coalesce((SELECT id FROM logs WHERE device = ?1
                     ORDER BY id DESC LIMIT 1 OFFSET ?2), 0))sql"
                                 : R"sql(
    SELECT coalesce((SELECT id FROM logs ORDER BY id DESC LIMIT 1 OFFSET ?2), 0))sql");
  if (!stmt.ok()) return stmt.status();
  if (device) stmt->Bind(1, *device);
  stmt->Bind(2, static_cast<std::int64_t>(lines));
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::uint64_t{0};
  return static_cast<std::uint64_t>(std::max<std::int64_t>(stmt->Int(0), 0));
}

Result<std::uint64_t> SqliteCollectorDb::LogCursorAt(std::int64_t since_ms) {
  std::lock_guard lock(read_mu_);
  auto stmt = reader_->Prepare(R"sql(
    SELECT coalesce((SELECT min(id) FROM logs WHERE received_at_ms >= ?1) - 1,
                    (SELECT max(id) FROM logs), 0))sql");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, since_ms);
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::uint64_t{0};
  return static_cast<std::uint64_t>(std::max<std::int64_t>(stmt->Int(0), 0));
}

}  // namespace picket::collector
