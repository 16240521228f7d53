// SqliteBufferStore: BufferStore over SQLite (WAL) plus chunk files.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>

#include "picket/buffer/buffer_store.h"
#include "picket/common/c_handle.h"
#include "picket/common/digest.h"
#include "picket/common/file_io.h"
#include "picket/common/log.h"
#include "picket/sqlite/database.h"

namespace picket::buffer {

namespace {

using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

constexpr int kPending = 0, kUploaded = 1, kDead = 2, kEvicted = 3;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS chunks(
  seq INTEGER PRIMARY KEY, file TEXT NOT NULL, bytes INTEGER NOT NULL, packets INTEGER NOT NULL,
  first_ts_us INTEGER NOT NULL, last_ts_us INTEGER NOT NULL, kernel_drops INTEGER NOT NULL,
  interface_drops INTEGER NOT NULL, gap_before_ms INTEGER NOT NULL, sha256 TEXT NOT NULL,
  lost_packets INTEGER NOT NULL DEFAULT 0, ts_backwards INTEGER NOT NULL DEFAULT 0,
  switched_at_us INTEGER NOT NULL DEFAULT 0, interface TEXT NOT NULL, sealed_at_ms INTEGER NOT NULL,
  state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE INDEX IF NOT EXISTS chunks_due ON chunks(state, next_attempt_ms);
CREATE TABLE IF NOT EXISTS batches(
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL, idem_key TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL, lines INTEGER NOT NULL, bytes INTEGER NOT NULL, created_ms INTEGER NOT NULL,
  state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE INDEX IF NOT EXISTS batches_due ON batches(state, next_attempt_ms);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql";

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) == 0) return Status::Ok();
  if (errno != EEXIST) return FromErrno("mkdir " + path, errno);
  // EEXIST is fine for a directory only: a file there must stop the start, not the worker later.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FromErrno("stat " + path, errno);
  if (!S_ISDIR(st.st_mode)) return FromErrno("mkdir " + path, ENOTDIR);
  return Status::Ok();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  CHandle<DIR, closedir> d(::opendir(dir.c_str()));
  if (!d) return names;
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  return names;
}

std::uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

std::string RandomKey() {
  std::random_device rd;
  std::uint8_t bytes[16];
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rd());
  return HexEncode(bytes, sizeof bytes);
}

class SqliteBufferStore final : public BufferStore {
 public:
  SqliteBufferStore(Database db, BufferOptions options)
      : db_(std::move(db)), options_(std::move(options)) {}

  Status Init() {
    PICKET_RETURN_IF_ERROR(db_.Exec("PRAGMA journal_mode=WAL"));
    // FULL: a committed row survives power loss, matching the fsync'd chunk files.
    PICKET_RETURN_IF_ERROR(db_.Exec("PRAGMA synchronous=FULL"));
    // The WAL counts against the budget: checkpoint every 64 pages and give the
    // file back down to 256 KiB after each reset (the default grows it to 4 MiB and keeps it).
    PICKET_RETURN_IF_ERROR(db_.Exec("PRAGMA wal_autocheckpoint=64"));
    PICKET_RETURN_IF_ERROR(db_.Exec("PRAGMA journal_size_limit=262144"));
    PICKET_RETURN_IF_ERROR(db_.Exec(kSchema));
    // Databases made before lost_packets existed get the column (the error says it exists).
    (void)db_.Exec("ALTER TABLE chunks ADD COLUMN lost_packets INTEGER NOT NULL DEFAULT 0");
    (void)db_.Exec("ALTER TABLE chunks ADD COLUMN ts_backwards INTEGER NOT NULL DEFAULT 0");
    (void)db_.Exec("ALTER TABLE chunks ADD COLUMN switched_at_us INTEGER NOT NULL DEFAULT 0");
    auto check = db_.Prepare("PRAGMA quick_check");
    if (!check.ok()) return check.status();
    auto row = check->Step();
    if (!row.ok()) return row.status();
    if (*row && check->Text(0) != "ok") {
      return Status::Corruption(db_.path() + ": quick_check: " + check->Text(0));
    }
    return Status::Ok();
  }

  // Removes temp files and chunk files that no committed row references.
  Status RemoveOrphans() {
    std::set<std::string> known;
    auto q = db_.Prepare("SELECT file FROM chunks WHERE state = 0 OR state = 2");
    if (!q.ok()) return q.status();
    for (;;) {
      auto row = q->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      known.insert(q->Text(0));
    }
    int removed = 0;
    for (const std::string& name : ListDir(ChunkDir())) {
      std::string path = ChunkDir() + "/" + name;
      if (known.count(path)) continue;
      if (::unlink(path.c_str()) == 0) ++removed;
    }
    if (removed > 0) {
      PICKET_LOG(kWarn, "buffer", "removed uncommitted chunk files", {"count", removed},
                 {"dir", ChunkDir()});
    }
    return Status::Ok();
  }

  std::string ChunkDir() const override { return options_.dir + "/chunks"; }

  // The next chunk seq will be above `floor` (it never goes down).
  Status RaiseSeqFloor(std::int64_t floor) {
    auto q = db_.Prepare(
        "INSERT INTO counters(name, value) VALUES('chunk_seq_floor', ?) "
        "ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)");
    if (!q.ok()) return q.status();
    q->Bind(1, floor);
    return q->Run();
  }

  Result<std::int64_t> NextChunkSeq() override {
    auto q = db_.Prepare("SELECT COALESCE(MAX(seq), 0) FROM chunks");
    if (!q.ok()) return q.status();
    auto row = q->Step();
    if (!row.ok()) return row.status();
    std::int64_t max_seq = q->Int(0);
    auto floor = CounterValue("chunk_seq_floor");  // survives pruning of old rows
    if (!floor.ok()) return floor.status();
    return std::max(max_seq, *floor) + 1;
  }

  Status CommitChunk(const ChunkMeta& m) override {
    std::vector<std::string> evicted_files;
    PICKET_RETURN_IF_ERROR(Durable([&] {
      evicted_files.clear();
      return CommitChunkOnce(m, &evicted_files);
    }));
    RemoveFiles(evicted_files);
    return Status::Ok();
  }

  Result<std::uint64_t> MakeRoom(std::uint64_t free_bytes) override {
    std::uint64_t free = FreeBytes();
    if (free >= free_bytes) return free;
    std::vector<std::string> files;
    std::uint64_t freed = 0;
    PICKET_RETURN_IF_ERROR(Durable([&]() -> Status {
      files.clear();
      auto tx = Transaction::Begin(db_);
      if (!tx.ok()) return tx.status();
      auto evicted = EvictOldest(static_cast<std::int64_t>(free_bytes - free), true, &files);
      if (!evicted.ok()) return evicted.status();
      freed = static_cast<std::uint64_t>(*evicted);
      return tx->Commit();
    }));
    RemoveFiles(files);
    free = FreeBytes();
    if (free < free_bytes) {
      return Status::ResourceExhausted("buffer: " + std::to_string(free) + " bytes free on the "
                                       "filesystem of " + options_.dir + ", " +
                                       std::to_string(free_bytes) + " needed; " +
                                       (freed == 0 ? "no pending chunk left to evict"
                                                   : "evicting every pending chunk was not enough"));
    }
    return free;
  }

  Result<std::uint64_t> FootprintBytes() override {
    auto used = UsedBytes();
    if (!used.ok()) return used.status();
    return static_cast<std::uint64_t>(*used);
  }


  Result<std::optional<ChunkMeta>> LastChunk() override {
    auto q = db_.Prepare(std::string(kChunkColumns) + " FROM chunks ORDER BY seq DESC LIMIT 1");
    if (!q.ok()) return q.status();
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<ChunkMeta>();
    return std::optional<ChunkMeta>(ReadChunk(*q));
  }

  Result<std::vector<PendingChunk>> DueChunks(std::int64_t now_ms, int limit) override {
    auto q = db_.Prepare(std::string(kChunkColumns) +
                         ", attempts FROM chunks WHERE state = 0 AND next_attempt_ms <= ? "
                         "ORDER BY seq LIMIT ?");
    if (!q.ok()) return q.status();
    q->Bind(1, now_ms).Bind(2, std::int64_t{limit});
    std::vector<PendingChunk> out;
    for (;;) {
      auto row = q->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      out.push_back({ReadChunk(*q), static_cast<int>(q->Int(kChunkColumnCount))});
    }
    return out;
  }

  Status MarkChunkUploaded(std::int64_t seq) override {
    std::string file, reason;
    bool was_evicted = false;
    std::int64_t bytes = 0, packets = 0;
    {
      // Evicted too: the worker may evict a chunk while it is on its way to the collector.
      auto q = db_.Prepare(
          "SELECT file, state, last_error, bytes, packets FROM chunks WHERE seq = ? AND state IN (0, 3)");
      if (!q.ok()) return q.status();
      q->Bind(1, seq);
      auto row = q->Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::NotFound("no pending chunk " + std::to_string(seq));
      file = q->Text(0);
      was_evicted = q->Int(1) == kEvicted;
      reason = q->Text(2);
      bytes = q->Int(3);
      packets = q->Int(4);
    }
    PICKET_RETURN_IF_ERROR(Durable([&]() -> Status {
      auto tx = Transaction::Begin(db_);
      if (!tx.ok()) return tx.status();
      if (was_evicted) {
        // Delivered after all: it counts as uploaded, not as evicted.
        auto q = db_.Prepare("UPDATE chunks SET state = 1, last_error = '' WHERE seq = ? AND state = 3");
        if (!q.ok()) return q.status();
        q->Bind(1, seq);
        PICKET_RETURN_IF_ERROR(q->Run());
        PICKET_RETURN_IF_ERROR(AddCounter("chunks_evicted", -1));
        PICKET_RETURN_IF_ERROR(AddCounter("bytes_evicted", -bytes));
        PICKET_RETURN_IF_ERROR(AddCounter("packets_evicted", -packets));
        if (reason == kDiskFull) PICKET_RETURN_IF_ERROR(AddCounter("chunks_evicted_disk_full", -1));
      } else {
        PICKET_RETURN_IF_ERROR(SetChunkState(seq, kUploaded, ""));
      }
      PICKET_RETURN_IF_ERROR(AddCounter("chunks_uploaded", 1));
      return tx->Commit();
    }));
    // The row is the truth; a file left behind by a crash here is an orphan
    // and is removed at the next start.
    ::unlink(file.c_str());
    return PruneUploaded();
  }

  Status MarkChunkRetry(std::int64_t seq, std::int64_t next_ms, const std::string& error) override {
    return Durable([&]() -> Status {
      auto q = db_.Prepare(
          "UPDATE chunks SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ? "
          "WHERE seq = ? AND state = 0");
      if (!q.ok()) return q.status();
      q->Bind(1, next_ms).Bind(2, error).Bind(3, seq);
      return q->Run();
    });
  }

  Status MarkChunkDead(std::int64_t seq, const std::string& error) override {
    return Durable([&]() -> Status {
      auto tx = Transaction::Begin(db_);
      if (!tx.ok()) return tx.status();
      PICKET_RETURN_IF_ERROR(SetChunkState(seq, kDead, error));
      PICKET_RETURN_IF_ERROR(AddCounter("chunks_dead", 1));
      return tx->Commit();
    });
  }

  Status RetryAllNow() override {
    return Durable([&]() -> Status {
      auto tx = Transaction::Begin(db_);
      if (!tx.ok()) return tx.status();
      PICKET_RETURN_IF_ERROR(db_.Exec("UPDATE chunks SET next_attempt_ms = 0 WHERE state = 0"));
      PICKET_RETURN_IF_ERROR(db_.Exec("UPDATE batches SET next_attempt_ms = 0 WHERE state = 0"));
      return tx->Commit();
    });
  }

  Result<std::int64_t> AppendBatch(BatchKind kind, const std::string& ndjson,
                                   std::uint64_t lines) override {
    const std::string key = RandomKey();
    PICKET_RETURN_IF_ERROR(Durable([&]() -> Status {
      auto q = db_.Prepare(
          "INSERT INTO batches(kind, idem_key, body, lines, bytes, created_ms) VALUES(?,?,?,?,?,?)");
      if (!q.ok()) return q.status();
      q->Bind(1, std::int64_t{kind == BatchKind::kResults ? 0 : 1}).Bind(2, key)
          .Bind(3, ndjson).Bind(4, static_cast<std::int64_t>(lines))
          .Bind(5, static_cast<std::int64_t>(ndjson.size())).Bind(6, NowMs());
      return q->Run();
    }));
    return db_.LastInsertRowId();
  }

  Result<std::vector<Batch>> DueBatches(std::int64_t now_ms, int limit) override {
    auto q = db_.Prepare(
        "SELECT id, kind, idem_key, body, lines, attempts FROM batches "
        "WHERE state = 0 AND next_attempt_ms <= ? ORDER BY id LIMIT ?");
    if (!q.ok()) return q.status();
    q->Bind(1, now_ms).Bind(2, std::int64_t{limit});
    std::vector<Batch> out;
    for (;;) {
      auto row = q->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      out.push_back({q->Int(0), q->Int(1) == 0 ? BatchKind::kResults : BatchKind::kLogs,
                     q->Text(2), q->Text(3), static_cast<std::uint64_t>(q->Int(4)),
                     static_cast<int>(q->Int(5))});
    }
    return out;
  }

  Status MarkBatchUploaded(std::int64_t id) override {
    return Durable([&]() -> Status {
      auto tx = Transaction::Begin(db_);
      if (!tx.ok()) return tx.status();
      auto q = db_.Prepare("DELETE FROM batches WHERE id = ? AND state = 0");
      if (!q.ok()) return q.status();
      q->Bind(1, id);
      PICKET_RETURN_IF_ERROR(q->Run());
      PICKET_RETURN_IF_ERROR(AddCounter("batches_uploaded", db_.Changes()));
      return tx->Commit();
    });
  }

  Status MarkBatchRetry(std::int64_t id, std::int64_t next_ms, const std::string& error) override {
    return Durable([&]() -> Status {
      auto q = db_.Prepare(
          "UPDATE batches SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ? "
          "WHERE id = ? AND state = 0");
      if (!q.ok()) return q.status();
      q->Bind(1, next_ms).Bind(2, error).Bind(3, id);
      return q->Run();
    });
  }

  Status MarkBatchDead(std::int64_t id, const std::string& error) override {
    return Durable([&]() -> Status {
      auto tx = Transaction::Begin(db_);
      if (!tx.ok()) return tx.status();
      auto q =
          db_.Prepare("UPDATE batches SET state = 2, last_error = ? WHERE id = ? AND state = 0");
      if (!q.ok()) return q.status();
      q->Bind(1, error).Bind(2, id);
      PICKET_RETURN_IF_ERROR(q->Run());
      PICKET_RETURN_IF_ERROR(AddCounter("batches_dead", db_.Changes()));
      return tx->Commit();
    });
  }

  Result<std::uint64_t> ResultBatchesPending() override {
    auto r = db_.Prepare("SELECT COUNT(*) FROM batches WHERE state = 0 AND kind = ?");
    if (!r.ok()) return r.status();
    r->Bind(1, static_cast<std::int64_t>(BatchKind::kResults));
    if (auto row = r->Step(); !row.ok()) return row.status();
    return static_cast<std::uint64_t>(r->Int(0));
  }

  Result<std::uint64_t> OldestPendingAgeS(std::int64_t now_ms) override {
    auto q = db_.Prepare(
        "SELECT MIN(t) FROM (SELECT MIN(sealed_at_ms) AS t FROM chunks WHERE state = 0 "
        "UNION ALL SELECT MIN(created_ms) FROM batches WHERE state = 0)");
    if (!q.ok()) return q.status();
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row || q->IsNull(0)) return std::uint64_t{0};
    const std::int64_t oldest = q->Int(0);
    return oldest < now_ms ? static_cast<std::uint64_t>((now_ms - oldest) / 1000) : 0;
  }

  Result<BufferCounters> Counters() override {
    BufferCounters c;
    auto q = db_.Prepare(
        "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM chunks WHERE state = 0");
    if (!q.ok()) return q.status();
    if (auto row = q->Step(); !row.ok()) return row.status();
    c.chunks_pending = static_cast<std::uint64_t>(q->Int(0));
    c.chunk_bytes_pending = static_cast<std::uint64_t>(q->Int(1));
    auto b = db_.Prepare("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM batches WHERE state = 0");
    if (!b.ok()) return b.status();
    if (auto row = b->Step(); !row.ok()) return row.status();
    c.batches_pending = static_cast<std::uint64_t>(b->Int(0));
    c.batch_bytes_pending = static_cast<std::uint64_t>(b->Int(1));
    auto results = ResultBatchesPending();
    if (!results.ok()) return results.status();
    c.result_batches_pending = *results;
    auto get = [&](const char* name, std::uint64_t* out) -> Status {
      auto v = CounterValue(name);
      if (!v.ok()) return v.status();
      *out = static_cast<std::uint64_t>(*v);
      return Status::Ok();
    };
    PICKET_RETURN_IF_ERROR(get("chunks_uploaded", &c.chunks_uploaded));
    PICKET_RETURN_IF_ERROR(get("chunks_dead", &c.chunks_dead));
    PICKET_RETURN_IF_ERROR(get("chunks_evicted", &c.chunks_evicted));
    PICKET_RETURN_IF_ERROR(get("bytes_evicted", &c.bytes_evicted));
    PICKET_RETURN_IF_ERROR(get("chunks_evicted_disk_full", &c.chunks_evicted_disk_full));
    PICKET_RETURN_IF_ERROR(get("packets_evicted", &c.packets_evicted));
    PICKET_RETURN_IF_ERROR(get("batches_uploaded", &c.batches_uploaded));
    PICKET_RETURN_IF_ERROR(get("batches_dead", &c.batches_dead));
    auto next = NextChunkSeq();
    if (!next.ok()) return next.status();
    c.last_chunk_seq = *next - 1;
    return c;
  }

  Status PutState(const std::string& key, const std::string& value) override {
    return Durable([&]() -> Status {
      auto q = db_.Prepare("INSERT OR REPLACE INTO state(key, value) VALUES(?, ?)");
      if (!q.ok()) return q.status();
      q->Bind(1, key).Bind(2, value);
      return q->Run();
    });
  }

  Result<std::optional<std::string>> GetState(const std::string& key) override {
    auto q = db_.Prepare("SELECT value FROM state WHERE key = ?");
    if (!q.ok()) return q.status();
    q->Bind(1, key);
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<std::string>();
    return std::optional<std::string>(q->Text(0));
  }

  // Preallocates the reserve file; best effort (a full disk makes it later).
  void EnsureReserve() {
    const std::string path = ReservePath();
    if (FileSize(path) >= kReserveBytes) return;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return;
    const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(kReserveBytes));
    ::close(fd);
    if (rc != 0) ::unlink(path.c_str());  // a partial reserve would only hide the shortage
  }

 private:
  static constexpr const char* kBudget = "evicted: disk budget";
  static constexpr const char* kDiskFull = "evicted: disk full";

  std::string ReservePath() const { return options_.dir + "/reserve"; }

  std::uint64_t FreeBytes() const {
    struct statvfs vfs {};
    if (::statvfs(options_.dir.c_str(), &vfs) != 0) return ~std::uint64_t{0};  // unknown: no eviction
    return static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  }

  // The footprint: pending chunk files + the database and its WAL (which hold
  // the batches; their bytes when the files do not show them yet) + the reserve.
  Result<std::int64_t> UsedBytes() {
    auto total = db_.Prepare(
        "SELECT (SELECT COALESCE(SUM(bytes), 0) FROM chunks WHERE state = 0), "
        "(SELECT COALESCE(SUM(bytes), 0) FROM batches WHERE state = 0)");
    if (!total.ok()) return total.status();
    if (auto row = total->Step(); !row.ok()) return row.status();
    const std::string db = options_.dir + "/buffer.db";
    const auto files = static_cast<std::int64_t>(FileSize(db) + FileSize(db + "-wal"));
    return total->Int(0) + std::max(total->Int(1), files) +
           static_cast<std::int64_t>(FileSize(ReservePath()));
  }

  static void RemoveFiles(const std::vector<std::string>& files) {
    for (const auto& f : files) ::unlink(f.c_str());
  }

  // Runs a write; when SQLite says the disk is full, releases the reserve file,
  // evicts the oldest pending chunks back to the free-space floor and tries once
  // more, then makes the reserve again. So an outcome can be recorded on a full disk.
  template <typename Op>
  Status Durable(Op&& op) {
    Status st = op();
    if (st.code() != StatusCode::kResourceExhausted) return st;
    ::unlink(ReservePath().c_str());
    std::vector<std::string> files;
    Status evicted = [&]() -> Status {
      const std::uint64_t free = FreeBytes();
      if (free >= kMinFreeBytes) return Status::Ok();
      auto tx = Transaction::Begin(db_);
      if (!tx.ok()) return tx.status();
      auto n = EvictOldest(static_cast<std::int64_t>(kMinFreeBytes - free), true, &files);
      if (!n.ok()) return n.status();
      return tx->Commit();
    }();
    if (evicted.ok()) RemoveFiles(files);
    PICKET_LOG(kWarn, "buffer", "disk full: released the reserve and evicted to write",
               {"error", st}, {"evicted_files", files.size()}, {"evict_status", evicted},
               {"free_bytes", FreeBytes()});
    st = op();
    Checkpoint();
    EnsureReserve();
    return st;
  }

  // Gives the WAL file back after deletes; failures (a reader in the way) only wait for the next.
  void Checkpoint() { (void)db_.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); }

  Status CommitChunkOnce(const ChunkMeta& m, std::vector<std::string>* evicted_files) {
    auto tx = Transaction::Begin(db_);
    if (!tx.ok()) return tx.status();
    auto next = NextChunkSeq();
    if (!next.ok()) return next.status();
    if (m.uncommitted_before < 0 || m.seq != *next + m.uncommitted_before) {
      return Status::FailedPrecondition("chunk seq " + std::to_string(m.seq) +
                                        " committed out of order, expected " +
                                        std::to_string(*next + std::max<std::int64_t>(
                                                                   0, m.uncommitted_before)));
    }
    auto ins = db_.Prepare(
        "INSERT INTO chunks(seq, file, bytes, packets, first_ts_us, last_ts_us, kernel_drops, "
        "interface_drops, gap_before_ms, sha256, interface, sealed_at_ms, lost_packets, ts_backwards, "
        "switched_at_us) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!ins.ok()) return ins.status();
    ins->Bind(1, m.seq).Bind(2, m.file).Bind(3, static_cast<std::int64_t>(m.bytes))
        .Bind(4, static_cast<std::int64_t>(m.packets)).Bind(5, m.first_ts_us).Bind(6, m.last_ts_us)
        .Bind(7, static_cast<std::int64_t>(m.kernel_drops))
        .Bind(8, static_cast<std::int64_t>(m.interface_drops)).Bind(9, m.gap_before_ms)
        .Bind(10, m.sha256_hex).Bind(11, m.interface).Bind(12, m.sealed_at_ms)
        .Bind(13, static_cast<std::int64_t>(m.lost_packets))
        .Bind(14, static_cast<std::int64_t>(m.ts_backwards)).Bind(15, m.switched_at_us);
    PICKET_RETURN_IF_ERROR(ins->Run());
    PICKET_RETURN_IF_ERROR(EvictOverBudget(evicted_files));
    return tx->Commit();
  }

  static constexpr std::string_view kChunkColumns =
      "SELECT seq, file, bytes, packets, first_ts_us, last_ts_us, kernel_drops, interface_drops, "
      "gap_before_ms, sha256, interface, sealed_at_ms, lost_packets, ts_backwards, switched_at_us";
  static constexpr int kChunkColumnCount = 15;  // the index of a column added after them

  static ChunkMeta ReadChunk(const Statement& q) {
    ChunkMeta m;
    m.seq = q.Int(0);
    m.file = q.Text(1);
    m.bytes = static_cast<std::uint64_t>(q.Int(2));
    m.packets = static_cast<std::uint64_t>(q.Int(3));
    m.first_ts_us = q.Int(4);
    m.last_ts_us = q.Int(5);
    m.kernel_drops = static_cast<std::uint64_t>(q.Int(6));
    m.interface_drops = static_cast<std::uint64_t>(q.Int(7));
    m.gap_before_ms = q.Int(8);
    m.sha256_hex = q.Text(9);
    m.interface = q.Text(10);
    m.sealed_at_ms = q.Int(11);
    m.lost_packets = static_cast<std::uint64_t>(q.Int(12));
    m.ts_backwards = static_cast<std::uint64_t>(q.Int(13));
    m.switched_at_us = q.Int(14);
    return m;
  }

  Result<std::int64_t> CounterValue(std::string_view name) {
    auto q = db_.Prepare("SELECT value FROM counters WHERE name = ?");
    if (!q.ok()) return q.status();
    q->Bind(1, name);
    auto row = q->Step();
    if (!row.ok()) return row.status();
    return *row ? q->Int(0) : std::int64_t{0};
  }

  Status AddCounter(std::string_view name, std::int64_t delta) {
    auto q = db_.Prepare(
        "INSERT INTO counters(name, value) VALUES(?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value");
    if (!q.ok()) return q.status();
    q->Bind(1, name).Bind(2, delta);
    return q->Run();
  }

  Status SetChunkState(std::int64_t seq, int state, const std::string& error) {
    auto q = db_.Prepare("UPDATE chunks SET state = ?, last_error = ? WHERE seq = ? AND state = 0");
    if (!q.ok()) return q.status();
    q->Bind(1, std::int64_t{state}).Bind(2, error).Bind(3, seq);
    PICKET_RETURN_IF_ERROR(q->Run());
    if (db_.Changes() == 0) {
      return Status::NotFound("no pending chunk " + std::to_string(seq));
    }
    return Status::Ok();
  }

  // Inside the commit transaction: evict the oldest pending chunks until the
  // footprint fits the budget, then until the filesystem keeps kMinFreeBytes.
  // The newest chunk goes last, and only when it alone (with the batches, which
  // are never evicted, and the database) is over budget.
  Status EvictOverBudget(std::vector<std::string>* files) {
    auto counted = UsedBytes();
    if (!counted.ok()) return counted.status();
    const std::int64_t used = *counted;
    const auto budget = static_cast<std::int64_t>(options_.max_bytes);
    std::int64_t freed = 0;
    if (used > budget) {
      auto n = EvictOldest(used - budget, false, files);
      if (!n.ok()) return n.status();
      freed = *n;
    }
    const auto free = static_cast<std::int64_t>(std::min<std::uint64_t>(FreeBytes(), INT64_MAX / 2));
    const auto floor = static_cast<std::int64_t>(kMinFreeBytes);
    if (free + freed < floor) {
      auto n = EvictOldest(floor - free - freed, true, files);
      if (!n.ok()) return n.status();
    }
    return Status::Ok();
  }

  // Inside a transaction: marks the oldest pending chunks evicted until at
  // least `bytes` are freed (or none is left), counts them by `reason`, and
  // adds their files to `files` (removed once the transaction committed).
  // Returns the bytes freed.
  Result<std::int64_t> EvictOldest(std::int64_t bytes, bool disk_full,
                                   std::vector<std::string>* files) {
    const char* reason = disk_full ? kDiskFull : kBudget;
    auto oldest =
        db_.Prepare("SELECT seq, file, bytes, packets FROM chunks WHERE state = 0 ORDER BY seq");
    if (!oldest.ok()) return oldest.status();
    struct Victim {
      std::int64_t seq;
      std::string file;
      std::int64_t bytes, packets;
    };
    std::vector<Victim> victims;
    std::int64_t freed = 0, packets = 0;
    while (freed < bytes) {
      auto row = oldest->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      victims.push_back({oldest->Int(0), oldest->Text(1), oldest->Int(2), oldest->Int(3)});
      freed += oldest->Int(2);
      packets += oldest->Int(3);
    }
    if (victims.empty()) return std::int64_t{0};
    for (const auto& v : victims) {
      PICKET_RETURN_IF_ERROR(SetChunkState(v.seq, kEvicted, reason));
      files->push_back(v.file);
    }
    const auto count = static_cast<std::int64_t>(victims.size());
    PICKET_RETURN_IF_ERROR(AddCounter("chunks_evicted", count));
    PICKET_RETURN_IF_ERROR(AddCounter("bytes_evicted", freed));
    PICKET_RETURN_IF_ERROR(AddCounter("packets_evicted", packets));
    if (disk_full) PICKET_RETURN_IF_ERROR(AddCounter("chunks_evicted_disk_full", count));
    PICKET_LOG(kWarn, "buffer",
               disk_full ? "filesystem full, evicted oldest chunks"
                                   : "disk budget exceeded, evicted oldest chunks",
               {"chunks", count}, {"bytes", freed}, {"packets", packets},
               {"first_seq", victims.front().seq}, {"budget", options_.max_bytes},
               {"free_bytes", FreeBytes()});
    return freed;
  }

  // Keeps the table small: rows of uploaded or evicted chunks older than the
  // newest 1000 go, and the seq floor remembers where numbering stands.
  Status PruneUploaded() {
    if (++prune_tick_ % 256 != 0) return Status::Ok();
    auto next = NextChunkSeq();
    if (!next.ok()) return next.status();
    auto tx = Transaction::Begin(db_);
    if (!tx.ok()) return tx.status();
    auto floor = db_.Prepare(
        "INSERT INTO counters(name, value) VALUES('chunk_seq_floor', ?) "
        "ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)");
    if (!floor.ok()) return floor.status();
    floor->Bind(1, *next - 1);
    PICKET_RETURN_IF_ERROR(floor->Run());
    auto del = db_.Prepare("DELETE FROM chunks WHERE state IN (1, 3) AND seq < ?");
    if (!del.ok()) return del.status();
    del->Bind(1, *next - 1000);
    PICKET_RETURN_IF_ERROR(del->Run());
    PICKET_RETURN_IF_ERROR(tx->Commit());
    Checkpoint();
    return Status::Ok();
  }

  Database db_;
  BufferOptions options_;
  std::uint64_t prune_tick_ = 0;
};

// Moves a damaged database and the chunk files it owned out of the way.
// Returns the first chunk seq the fresh database may use (see OpenSqliteBuffer).
Result<std::int64_t> MoveAside(const BufferOptions& options, const Status& why) {
  const std::string lost = options.dir + "/lost+found";
  PICKET_RETURN_IF_ERROR(MakeDir(lost));
  const std::string stamp = std::to_string(NowMs());
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string from = options.dir + "/buffer.db" + suffix;
    std::string to = lost + "/buffer.db." + stamp + suffix;
    ::rename(from.c_str(), to.c_str());
  }
  const std::string chunks = options.dir + "/chunks";
  const std::string chunks_to = lost + "/chunks." + stamp;
  ::rename(chunks.c_str(), chunks_to.c_str());
  // The collector may already hold this device's chunks 1..N: a fresh database
  // numbering from 1 again would have every new chunk refused (409: same seq,
  // other hash) and kept aside as dead. Continue above anything the old
  // database can have issued: the wall clock in 10 ms units (~1.8e11 now;
  // the collector takes seqs up to 1e12 - 1) is above any count of chunks,
  // also after an earlier move-aside that started from the clock unless more
  // than 100 chunks a second were sealed since; the chunk files moved aside
  // are a floor when the clock is behind.
  std::int64_t floor = NowMs() / 10;
  for (const std::string& name : ListDir(chunks_to)) {
    long long seq = 0;
    if (std::sscanf(name.c_str(), "%lld.pcap", &seq) == 1) floor = std::max<std::int64_t>(floor, seq);
  }
  PICKET_LOG(kError, "buffer", "damaged buffer database moved aside, starting fresh",
             {"why", why.message()}, {"moved_to", lost}, {"stamp", stamp},
             {"next_chunk_seq", floor + 1});
  PICKET_RETURN_IF_ERROR(SyncDirectory(options.dir));
  return floor;
}

// `seq_floor` > 0: chunk numbering continues above it (a fresh database after a move-aside).
Result<std::unique_ptr<BufferStore>> OpenOnce(const BufferOptions& options,
                                              std::int64_t seq_floor = 0) {
  auto db = Database::Open(options.dir + "/buffer.db");
  if (!db.ok()) return db.status();
  auto store = std::make_unique<SqliteBufferStore>(std::move(*db), options);
  PICKET_RETURN_IF_ERROR(store->Init());
  if (seq_floor > 0) PICKET_RETURN_IF_ERROR(store->RaiseSeqFloor(seq_floor));
  PICKET_RETURN_IF_ERROR(MakeDir(store->ChunkDir()));
  store->EnsureReserve();
  if (options.remove_orphans) PICKET_RETURN_IF_ERROR(store->RemoveOrphans());
  return std::unique_ptr<BufferStore>(std::move(store));
}

}  // namespace

Result<std::unique_ptr<BufferStore>> OpenSqliteBuffer(const BufferOptions& options) {
  PICKET_RETURN_IF_ERROR(MakeDir(options.dir));
  auto store = OpenOnce(options);
  if (store.ok() || store.status().code() != StatusCode::kCorruption) return store;
  auto floor = MoveAside(options, store.status());
  if (!floor.ok()) return floor.status();
  return OpenOnce(options, *floor);
}

}  // namespace picket::buffer
