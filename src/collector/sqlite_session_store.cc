#include "collector/sqlite_session_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

namespace picket::collector {

namespace {

using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

constexpr int kSchemaVersion = 1;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sessions(
  id INTEGER PRIMARY KEY,
  device TEXT NOT NULL,
  uid INTEGER NOT NULL,
  community_id TEXT NOT NULL,
  proto INTEGER NOT NULL,
  src_ip TEXT NOT NULL,
  src_port INTEGER NOT NULL,
  dst_ip TEXT NOT NULL,
  dst_port INTEGER NOT NULL,
  orig_pkts INTEGER NOT NULL,
  orig_bytes INTEGER NOT NULL,
  resp_pkts INTEGER NOT NULL,
  resp_bytes INTEGER NOT NULL,
  orig_payload_bytes INTEGER NOT NULL,
  resp_payload_bytes INTEGER NOT NULL,
  first_ts_us INTEGER NOT NULL,
  last_ts_us INTEGER NOT NULL,
  state TEXT NOT NULL,
  history TEXT NOT NULL,
  end_reason TEXT NOT NULL,
  app TEXT NOT NULL,
  category TEXT NOT NULL,
  risks TEXT NOT NULL,
  risk_score INTEGER NOT NULL,
  server_name TEXT NOT NULL,
  UNIQUE(device, uid)
);
CREATE INDEX IF NOT EXISTS sessions_by_device_time ON sessions(device, first_ts_us);
CREATE INDEX IF NOT EXISTS sessions_by_last_ts ON sessions(last_ts_us);
CREATE INDEX IF NOT EXISTS sessions_by_src_ip ON sessions(src_ip);
CREATE INDEX IF NOT EXISTS sessions_by_dst_ip ON sessions(dst_ip);
CREATE INDEX IF NOT EXISTS sessions_by_src_port ON sessions(src_port);
CREATE INDEX IF NOT EXISTS sessions_by_dst_port ON sessions(dst_port);
CREATE INDEX IF NOT EXISTS sessions_by_app ON sessions(app);
CREATE INDEX IF NOT EXISTS sessions_by_community_id ON sessions(community_id);
CREATE TABLE IF NOT EXISTS session_packets(
  device TEXT NOT NULL,
  uid INTEGER NOT NULL,
  chunk_seq INTEGER NOT NULL,
  offsets BLOB NOT NULL,
  PRIMARY KEY(device, uid, chunk_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS analysis_state(
  device TEXT PRIMARY KEY,
  next_seq INTEGER NOT NULL,
  state BLOB NOT NULL,
  chunks_analysed INTEGER NOT NULL,
  damaged_chunks INTEGER NOT NULL,
  skipped_seqs INTEGER NOT NULL,
  sessions INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

constexpr std::string_view kSessionColumns =
    "id, device, uid, community_id, proto, src_ip, src_port, dst_ip, dst_port, orig_pkts, "
    "orig_bytes, resp_pkts, resp_bytes, orig_payload_bytes, resp_payload_bytes, first_ts_us, "
    "last_ts_us, state, history, end_reason, app, category, risks, risk_score, server_name";

std::int64_t I64(std::uint64_t v) { return static_cast<std::int64_t>(v); }
std::uint64_t U64(std::int64_t v) { return v < 0 ? 0 : static_cast<std::uint64_t>(v); }

StoredSession ReadSession(const Statement& s) {
  StoredSession out;
  out.id = U64(s.Int(0));
  analysis::Session& r = out.session;
  r.device = s.Text(1);
  r.uid = U64(s.Int(2));
  r.community_id = s.Text(3);
  r.proto = static_cast<std::uint8_t>(s.Int(4));
  r.src_ip = s.Text(5);
  r.src_port = static_cast<std::uint16_t>(s.Int(6));
  r.dst_ip = s.Text(7);
  r.dst_port = static_cast<std::uint16_t>(s.Int(8));
  r.orig_pkts = U64(s.Int(9));
  r.orig_bytes = U64(s.Int(10));
  r.resp_pkts = U64(s.Int(11));
  r.resp_bytes = U64(s.Int(12));
  r.orig_payload_bytes = U64(s.Int(13));
  r.resp_payload_bytes = U64(s.Int(14));
  r.first_ts_us = s.Int(15);
  r.last_ts_us = s.Int(16);
  r.state = s.Text(17);
  r.history = s.Text(18);
  r.end_reason = analysis::ParseEndReason(s.Text(19)).value_or(analysis::EndReason::kIdle);
  r.app = s.Text(20);
  r.category = s.Text(21);
  auto risks = nlohmann::json::parse(s.Text(22), nullptr, /*allow_exceptions=*/false);
  if (risks.is_array()) {
    for (const auto& name : risks) {
      if (name.is_string()) r.risks.push_back(name.get<std::string>());
    }
  }
  r.risk_score = static_cast<std::uint32_t>(s.Int(23));
  r.server_name = s.Text(24);
  return out;
}

Status SetPragmas(Database& db) {
  auto mode = db.Prepare("PRAGMA journal_mode=WAL");
  if (!mode.ok()) return mode.status();
  auto row = mode->Step();
  if (!row.ok()) return row.status();
  if (!*row || mode->Text(0) != "wal") {
    return Status::IoError(db.path() + ": cannot switch the database to WAL mode");
  }
  // NORMAL is enough: a commit lost to a power cut takes its chunk's sessions
  // and state with it, and the chunk (still in collector.db) is analysed again.
  return db.Exec("PRAGMA synchronous=NORMAL");
}

// Creates the file 0600 before SQLite opens it (SQLite would use 0644).
Status CreatePrivateFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return FromErrno(path + ": cannot create", errno);
  ::close(fd);
  return Status::Ok();
}

void AppendVarint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

}  // namespace

std::string EncodeOffsets(const std::vector<std::uint64_t>& offsets) {
  std::string out;
  out.reserve(offsets.size() * 2);
  std::uint64_t previous = 0;
  for (std::uint64_t offset : offsets) {
    const auto delta = static_cast<std::int64_t>(offset - previous);
    AppendVarint(out, (static_cast<std::uint64_t>(delta) << 1) ^
                          static_cast<std::uint64_t>(delta >> 63));
    previous = offset;
  }
  return out;
}

Result<std::vector<std::uint64_t>> DecodeOffsets(std::string_view blob) {
  std::vector<std::uint64_t> out;
  std::uint64_t previous = 0;
  std::size_t i = 0;
  while (i < blob.size()) {
    std::uint64_t zigzag = 0;
    int shift = 0;
    while (true) {
      if (i >= blob.size() || shift > 63) {
        return Status::Corruption("packet offsets: truncated varint at byte " + std::to_string(i));
      }
      const auto byte = static_cast<unsigned char>(blob[i++]);
      zigzag |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      shift += 7;
      if ((byte & 0x80) == 0) break;
    }
    const auto delta = static_cast<std::int64_t>((zigzag >> 1) ^ (~(zigzag & 1) + 1));
    previous += static_cast<std::uint64_t>(delta);
    out.push_back(previous);
  }
  return out;
}

SqliteSessionStore::SqliteSessionStore(std::string path, Database writer, Database reader)
    : path_(std::move(path)), writer_(std::move(writer)), reader_(std::move(reader)) {}
SqliteSessionStore::~SqliteSessionStore() = default;

Result<std::unique_ptr<SessionStore>> SessionStore::Open(const std::string& path) {
  auto store = SqliteSessionStore::Open(path);
  if (!store.ok()) return store.status();
  return std::unique_ptr<SessionStore>(std::move(*store));
}

Result<std::unique_ptr<SqliteSessionStore>> SqliteSessionStore::Open(const std::string& path) {
  PICKET_RETURN_IF_ERROR(CreatePrivateFile(path));
  auto writer = Database::Open(path);
  if (!writer.ok()) return writer.status();
  PICKET_RETURN_IF_ERROR(SetPragmas(*writer));
  {
    auto version = writer->Prepare("PRAGMA user_version");
    if (!version.ok()) return version.status();
    auto row = version->Step();
    if (!row.ok()) return row.status();
    if (*row && version->Int(0) > kSchemaVersion) {
      return Status::FailedPrecondition(path + ": session schema version " +
                                        std::to_string(version->Int(0)) +
                                        " is newer than this collector's");
    }
  }
  {
    auto tx = Transaction::Begin(*writer);
    if (!tx.ok()) return tx.status();
    PICKET_RETURN_IF_ERROR(writer->Exec(kSchema));
    PICKET_RETURN_IF_ERROR(writer->Exec("PRAGMA user_version=" + std::to_string(kSchemaVersion)));
    PICKET_RETURN_IF_ERROR(tx->Commit());
  }
  // WAL and shm files are created by SQLite with the main file's mode bits.
  auto reader = Database::Open(path);
  if (!reader.ok()) return reader.status();
  return std::unique_ptr<SqliteSessionStore>(
      new SqliteSessionStore(path, std::move(*writer), std::move(*reader)));
}

Result<std::optional<AnalysisState>> SqliteSessionStore::LoadState(const std::string& device) {
  std::lock_guard lock(writer_mu_);
  auto stmt = writer_.Prepare(
      "SELECT device, next_seq, state, chunks_analysed, damaged_chunks, skipped_seqs, sessions "
      "FROM analysis_state WHERE device = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, device);
  {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<AnalysisState>();
    AnalysisState s;
    s.device = stmt->Text(0);
    s.next_seq = U64(stmt->Int(1));
    s.blob = stmt->Blob(2);
    s.chunks_analysed = U64(stmt->Int(3));
    s.damaged_chunks = U64(stmt->Int(4));
    s.skipped_seqs = U64(stmt->Int(5));
    s.sessions = U64(stmt->Int(6));
    return std::optional<AnalysisState>(std::move(s));
  }
}

Status SqliteSessionStore::CommitChunks(const std::string& device,
                                        std::span<const AnalysedChunk> chunks) {
  if (chunks.empty()) return Status::InvalidArgument("CommitChunks: no chunk");
  std::lock_guard lock(writer_mu_);
  auto tx = Transaction::Begin(writer_);
  if (!tx.ok()) return tx.status();
  {  // the state this chunk was analysed from must still be the one on record
    auto on_record = writer_.Prepare("SELECT next_seq FROM analysis_state WHERE device = ?1");
    if (!on_record.ok()) return on_record.status();
    on_record->Bind(1, device);
    auto row = on_record->Step();
    if (!row.ok()) return row.status();
    const std::optional<std::uint64_t> stored =
        *row ? std::optional<std::uint64_t>(U64(on_record->Int(0))) : std::nullopt;
    if (stored != chunks.front().previous_next_seq) {
      return Status::Conflict("device " + device + ": its analysis state moved on elsewhere");
    }
  }
  for (const AnalysedChunk& chunk : chunks) {
    PICKET_RETURN_IF_ERROR(InsertChunkRows(device, chunk));
  }
  const AnalysisState& s = chunks.back().state;
  auto state = writer_.Prepare(R"sql(
    INSERT INTO analysis_state(device, next_seq, state, chunks_analysed, damaged_chunks,
                               skipped_seqs, sessions)
    VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT(device) DO UPDATE SET next_seq = excluded.next_seq, state = excluded.state,
      chunks_analysed = excluded.chunks_analysed, damaged_chunks = excluded.damaged_chunks,
      skipped_seqs = excluded.skipped_seqs, sessions = excluded.sessions)sql");
  if (!state.ok()) return state.status();
  PICKET_RETURN_IF_ERROR(state->Bind(1, device)
                             .Bind(2, I64(s.next_seq))
                             .BindBlob(3, s.blob)
                             .Bind(4, I64(s.chunks_analysed))
                             .Bind(5, I64(s.damaged_chunks))
                             .Bind(6, I64(s.skipped_seqs))
                             .Bind(7, I64(s.sessions))
                             .Run());
  return tx->Commit();
}

Status SqliteSessionStore::InsertChunkRows(const std::string& device, const AnalysedChunk& chunk) {
  if (!chunk.closed.empty()) {
    auto insert = writer_.Prepare(R"sql(
      INSERT INTO sessions(device, uid, community_id, proto, src_ip, src_port, dst_ip, dst_port,
        orig_pkts, orig_bytes, resp_pkts, resp_bytes, orig_payload_bytes, resp_payload_bytes,
        first_ts_us, last_ts_us, state, history, end_reason, app, category, risks, risk_score,
        server_name)
      VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
             ?19, ?20, ?21, ?22, ?23, ?24))sql");
    if (!insert.ok()) return insert.status();
    for (const analysis::Session& s : chunk.closed) {
      insert->Reset();
      const std::string risks = nlohmann::json(s.risks).dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
      PICKET_RETURN_IF_ERROR(insert->Bind(1, device)
                                 .Bind(2, I64(s.uid))
                                 .Bind(3, s.community_id)
                                 .Bind(4, std::int64_t{s.proto})
                                 .Bind(5, s.src_ip)
                                 .Bind(6, std::int64_t{s.src_port})
                                 .Bind(7, s.dst_ip)
                                 .Bind(8, std::int64_t{s.dst_port})
                                 .Bind(9, I64(s.orig_pkts))
                                 .Bind(10, I64(s.orig_bytes))
                                 .Bind(11, I64(s.resp_pkts))
                                 .Bind(12, I64(s.resp_bytes))
                                 .Bind(13, I64(s.orig_payload_bytes))
                                 .Bind(14, I64(s.resp_payload_bytes))
                                 .Bind(15, s.first_ts_us)
                                 .Bind(16, s.last_ts_us)
                                 .Bind(17, s.state)
                                 .Bind(18, s.history)
                                 .Bind(19, analysis::EndReasonName(s.end_reason))
                                 .Bind(20, s.app)
                                 .Bind(21, s.category)
                                 .Bind(22, risks)
                                 .Bind(23, std::int64_t{s.risk_score})
                                 .Bind(24, s.server_name)
                                 .Run());
    }
  }
  if (!chunk.refs.empty()) {
    auto insert = writer_.Prepare(
        "INSERT INTO session_packets(device, uid, chunk_seq, offsets) VALUES(?1, ?2, ?3, ?4)");
    if (!insert.ok()) return insert.status();
    std::vector<std::uint64_t> offsets;
    for (const analysis::SessionPackets& p : chunk.refs) {
      offsets.clear();
      for (const analysis::PacketRef& ref : p.refs) {
        if (ref.chunk_seq == chunk.seq) offsets.push_back(ref.offset);
      }
      if (offsets.empty()) continue;
      insert->Reset();
      PICKET_RETURN_IF_ERROR(insert->Bind(1, device)
                                 .Bind(2, I64(p.uid))
                                 .Bind(3, I64(chunk.seq))
                                 .BindBlob(4, EncodeOffsets(offsets))
                                 .Run());
    }
  }
  return Status::Ok();
}

Result<std::uint64_t> SqliteSessionStore::DeleteOlderThan(std::int64_t before_us, std::uint64_t batch) {
  std::lock_guard lock(writer_mu_);
  auto tx = Transaction::Begin(writer_);
  if (!tx.ok()) return tx.status();
  auto pick = writer_.Prepare(
      "SELECT id, device, uid FROM sessions WHERE last_ts_us < ?1 ORDER BY last_ts_us LIMIT ?2");
  if (!pick.ok()) return pick.status();
  pick->Bind(1, before_us).Bind(2, I64(batch));
  auto drop_packets = writer_.Prepare("DELETE FROM session_packets WHERE device=?1 AND uid=?2");
  if (!drop_packets.ok()) return drop_packets.status();
  auto drop_session = writer_.Prepare("DELETE FROM sessions WHERE id=?1");
  if (!drop_session.ok()) return drop_session.status();
  struct Victim {
    std::int64_t id;
    std::string device;
    std::int64_t uid;
  };
  std::vector<Victim> victims;
  while (true) {
    auto row = pick->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    victims.push_back({pick->Int(0), pick->Text(1), pick->Int(2)});
  }
  for (const Victim& v : victims) {
    drop_packets->Reset();
    PICKET_RETURN_IF_ERROR(drop_packets->Bind(1, v.device).Bind(2, v.uid).Run());
    drop_session->Reset();
    PICKET_RETURN_IF_ERROR(drop_session->Bind(1, v.id).Run());
  }
  PICKET_RETURN_IF_ERROR(tx->Commit());
  return static_cast<std::uint64_t>(victims.size());
}

Result<std::vector<StoredSession>> SqliteSessionStore::List(const SessionFilter& f,
                                                      std::uint64_t max_rows) {
  // Only the conditions given, so SQLite can pick an index for them.
  std::string sql = "SELECT " + std::string(kSessionColumns) + " FROM sessions WHERE id > ?1";
  int next = 2;
  auto param = [&next] { return "?" + std::to_string(next++); };
  if (f.device) sql += " AND device = " + param();
  if (f.since_us) sql += " AND last_ts_us >= " + param();
  if (f.until_us) sql += " AND first_ts_us < " + param();
  if (f.ip) {
    const std::string p = param();
    sql += " AND (src_ip = " + p + " OR dst_ip = " + p + ")";
  }
  if (f.port) {
    const std::string p = param();
    sql += " AND (src_port = " + p + " OR dst_port = " + p + ")";
  }
  if (f.proto) sql += " AND proto = " + param();
  if (f.app) sql += " AND app = " + param();
  if (f.state) sql += " AND state = " + param();
  if (f.risk) {
    sql += " AND EXISTS (SELECT 1 FROM json_each(sessions.risks) WHERE value = " + param() + ")";
  }
  sql += " ORDER BY id LIMIT " + param();

  std::lock_guard lock(reader_mu_);
  auto stmt = reader_.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  int i = 1;
  stmt->Bind(i++, static_cast<std::int64_t>(std::min<std::uint64_t>(f.after, INT64_MAX)));
  if (f.device) stmt->Bind(i++, *f.device);
  if (f.since_us) stmt->Bind(i++, *f.since_us);
  if (f.until_us) stmt->Bind(i++, *f.until_us);
  if (f.ip) stmt->Bind(i++, *f.ip);
  if (f.port) stmt->Bind(i++, std::int64_t{*f.port});
  if (f.proto) stmt->Bind(i++, std::int64_t{*f.proto});
  if (f.app) stmt->Bind(i++, *f.app);
  if (f.state) stmt->Bind(i++, *f.state);
  if (f.risk) stmt->Bind(i++, *f.risk);
  stmt->Bind(i, I64(max_rows));
  std::vector<StoredSession> out;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(ReadSession(*stmt));
  }
}

Result<std::optional<StoredSession>> SqliteSessionStore::Get(std::uint64_t id, bool with_packets) {
  std::lock_guard lock(reader_mu_);
  // One read transaction, so the packets belong to the row read.
  PICKET_RETURN_IF_ERROR(reader_.Exec("BEGIN"));
  struct EndRead {
    Database& db;
    ~EndRead() { (void)db.Exec("COMMIT"); }
  } end_read{reader_};
  auto stmt =
      reader_.Prepare("SELECT " + std::string(kSessionColumns) + " FROM sessions WHERE id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, I64(id));
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<StoredSession>();
  StoredSession out = ReadSession(*stmt);
  if (with_packets) {
    auto packets = PacketsLocked(out.session.device, out.session.uid);
    if (!packets.ok()) return packets.status();
    out.session.packets = std::move(*packets);
  }
  return std::optional<StoredSession>(std::move(out));
}

Result<std::vector<AnalysisState>> SqliteSessionStore::AllCounters() {
  std::lock_guard lock(reader_mu_);
  auto stmt = reader_.Prepare(
      "SELECT device, next_seq, chunks_analysed, damaged_chunks, skipped_seqs, sessions "
      "FROM analysis_state ORDER BY device");
  if (!stmt.ok()) return stmt.status();
  std::vector<AnalysisState> out;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    AnalysisState s;
    s.device = stmt->Text(0);
    s.next_seq = U64(stmt->Int(1));
    s.chunks_analysed = U64(stmt->Int(2));
    s.damaged_chunks = U64(stmt->Int(3));
    s.skipped_seqs = U64(stmt->Int(4));
    s.sessions = U64(stmt->Int(5));
    out.push_back(std::move(s));
  }
}

Result<std::vector<analysis::PacketRef>> SqliteSessionStore::Packets(const std::string& device,
                                                               std::uint64_t uid) {
  std::lock_guard lock(reader_mu_);
  return PacketsLocked(device, uid);
}

Result<std::vector<analysis::PacketRef>> SqliteSessionStore::PacketsLocked(const std::string& device,
                                                                     std::uint64_t uid) {
  auto stmt = reader_.Prepare(
      "SELECT chunk_seq, offsets FROM session_packets WHERE device=?1 AND uid=?2 "
      "ORDER BY chunk_seq");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, device).Bind(2, I64(uid));
  std::vector<analysis::PacketRef> out;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    const std::uint64_t seq = U64(stmt->Int(0));
    auto offsets = DecodeOffsets(stmt->Blob(1));
    if (!offsets.ok()) {
      return offsets.status().WithContext(path_ + ": session " + device + "/" +
                                          std::to_string(uid) + " chunk " + std::to_string(seq));
    }
    for (std::uint64_t offset : *offsets) out.push_back({seq, offset});
  }
}

}  // namespace picket::collector
