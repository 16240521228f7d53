#include "collector/mariadb_session_store.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "collector/mariadb_sql.h"
#include "picket/common/log.h"
#include "picket/sync/db_url.h"

namespace picket::collector {

namespace {

using namespace sql;  // literals, integer columns, Transaction (mariadb_sql.h)
using sync::SqlRow;
using sync::SqlValue;

constexpr int kSchemaVersion = 1;

constexpr std::string_view kSchemaTable = R"sql(
CREATE TABLE IF NOT EXISTS collector_session_schema(
  id TINYINT NOT NULL PRIMARY KEY,
  version INT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin)sql";

// utf8mb4_nopad_bin: comparisons and ORDER BY are bytewise and trailing
// spaces count, as in SQLite. server_name is bytes from the wire (SNI, Host),
// not always UTF-8, so it is a BLOB; risks holds the JSON array SQLite stores.
constexpr std::string_view kTables[] = {
    R"sql(
CREATE TABLE IF NOT EXISTS collector_sessions(
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  device VARCHAR(128) NOT NULL,
  uid BIGINT NOT NULL,
  community_id VARCHAR(128) NOT NULL,
  proto INT NOT NULL,
  src_ip VARCHAR(64) NOT NULL,
  src_port INT NOT NULL,
  dst_ip VARCHAR(64) NOT NULL,
  dst_port INT NOT NULL,
  orig_pkts BIGINT NOT NULL,
  orig_bytes BIGINT NOT NULL,
  resp_pkts BIGINT NOT NULL,
  resp_bytes BIGINT NOT NULL,
  orig_payload_bytes BIGINT NOT NULL,
  resp_payload_bytes BIGINT NOT NULL,
  first_ts_us BIGINT NOT NULL,
  last_ts_us BIGINT NOT NULL,
  state VARCHAR(64) NOT NULL,
  history TEXT NOT NULL,
  end_reason VARCHAR(64) NOT NULL,
  app VARCHAR(255) NOT NULL,
  category VARCHAR(255) NOT NULL,
  risks TEXT NOT NULL,
  risk_score BIGINT NOT NULL,
  server_name BLOB NOT NULL,
  UNIQUE KEY sessions_by_device_uid(device, uid),
  KEY sessions_by_device_time(device, first_ts_us),
  KEY sessions_by_last_ts(last_ts_us),
  KEY sessions_by_src_ip(src_ip),
  KEY sessions_by_dst_ip(dst_ip),
  KEY sessions_by_src_port(src_port),
  KEY sessions_by_dst_port(dst_port),
  KEY sessions_by_app(app),
  KEY sessions_by_community_id(community_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin)sql",
    R"sql(
CREATE TABLE IF NOT EXISTS collector_session_packets(
  device VARCHAR(128) NOT NULL,
  uid BIGINT NOT NULL,
  chunk_seq BIGINT NOT NULL,
  offsets MEDIUMBLOB NOT NULL,
  PRIMARY KEY(device, uid, chunk_seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin)sql",
    // An analyser's open flows can take megabytes: LONGBLOB.
    R"sql(
CREATE TABLE IF NOT EXISTS collector_analysis_state(
  device VARCHAR(128) NOT NULL PRIMARY KEY,
  next_seq BIGINT NOT NULL,
  state LONGBLOB NOT NULL,
  chunks_analysed BIGINT NOT NULL,
  damaged_chunks BIGINT NOT NULL,
  skipped_seqs BIGINT NOT NULL,
  sessions BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin)sql",
    // Apart from the state: a device is leased before its first commit, and
    // "no state row" means "never committed" to CommitChunk.
    R"sql(
CREATE TABLE IF NOT EXISTS collector_analysis_leases(
  device VARCHAR(128) NOT NULL PRIMARY KEY,
  owner VARCHAR(255) NOT NULL,
  until_ms BIGINT NOT NULL,
  KEY leases_by_owner(owner)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin)sql",
};

constexpr std::string_view kSessionColumns =
    "id, device, uid, community_id, proto, src_ip, src_port, dst_ip, dst_port, orig_pkts, "
    "orig_bytes, resp_pkts, resp_bytes, orig_payload_bytes, resp_payload_bytes, first_ts_us, "
    "last_ts_us, state, history, end_reason, app, category, risks, risk_score, server_name";
constexpr std::size_t kSessionColumnCount = 25;

// The command byte and the server's own margin around a statement.
constexpr std::size_t kPacketSlack = 1024;

// Stored as SQLite stores them: the two's-complement int64 of a uint64.

// Reads the cells of one row; the first bad one is kept in `error`.
struct RowReader {
  const SqlRow& row;
  Status error = Status::Ok();

  std::int64_t Signed(std::size_t i) {
    auto n = ParseInt(i < row.size() ? row[i] : SqlValue());
    if (!n.ok()) {
      if (error.ok()) error = n.status();
      return 0;
    }
    return *n;
  }
  std::uint64_t Unsigned(std::size_t i) { return NonNegative(Signed(i)); }
  std::string Text(std::size_t i) { return i < row.size() ? row[i].value_or("") : ""; }
};

// The columns of kSessionColumns, from the first cell of `row` on.
Result<StoredSession> ReadSession(const SqlRow& row) {
  if (row.size() < kSessionColumnCount) {
    return Status::Internal("MariaDB session row has the wrong columns");
  }
  RowReader r{row};
  StoredSession out;
  out.id = r.Unsigned(0);
  analysis::Session& s = out.session;
  s.device = r.Text(1);
  s.uid = r.Unsigned(2);
  s.community_id = r.Text(3);
  s.proto = static_cast<std::uint8_t>(r.Signed(4));
  s.src_ip = r.Text(5);
  s.src_port = static_cast<std::uint16_t>(r.Signed(6));
  s.dst_ip = r.Text(7);
  s.dst_port = static_cast<std::uint16_t>(r.Signed(8));
  s.orig_pkts = r.Unsigned(9);
  s.orig_bytes = r.Unsigned(10);
  s.resp_pkts = r.Unsigned(11);
  s.resp_bytes = r.Unsigned(12);
  s.orig_payload_bytes = r.Unsigned(13);
  s.resp_payload_bytes = r.Unsigned(14);
  s.first_ts_us = r.Signed(15);
  s.last_ts_us = r.Signed(16);
  s.state = r.Text(17);
  s.history = r.Text(18);
  s.end_reason = analysis::ParseEndReason(r.Text(19)).value_or(analysis::EndReason::kIdle);
  s.app = r.Text(20);
  s.category = r.Text(21);
  auto risks = nlohmann::json::parse(r.Text(22), nullptr, /*allow_exceptions=*/false);
  if (risks.is_array()) {
    for (const auto& name : risks) {
      if (name.is_string()) s.risks.push_back(name.get<std::string>());
    }
  }
  s.risk_score = static_cast<std::uint32_t>(r.Signed(23));
  s.server_name = r.Text(24);
  if (!r.error.ok()) return r.error;
  return out;
}

// Packet refs of one chunk from its stored offsets; errors name the session.
Status AppendPackets(const std::string& where, const std::string& device, std::uint64_t uid,
                     std::uint64_t seq, std::string_view blob,
                     std::vector<analysis::PacketRef>& out) {
  auto offsets = DecodeOffsets(blob);
  if (!offsets.ok()) {
    return offsets.status().WithContext(where + ": session " + device + "/" + std::to_string(uid) +
                                        " chunk " + std::to_string(seq));
  }
  for (std::uint64_t offset : *offsets) out.push_back({seq, offset});
  return Status::Ok();
}

using Lease = MariaDbConnectionPool::Lease;

// "a, b" with `table` ("s.") before each column: "s.a, s.b".
std::string Qualified(std::string_view columns, std::string_view table) {
  std::string out;
  while (!columns.empty()) {
    const std::size_t comma = columns.find(", ");
    if (!out.empty()) out += ", ";
    out += std::string(table) + std::string(columns.substr(0, comma));
    columns = comma == std::string_view::npos ? std::string_view() : columns.substr(comma + 2);
  }
  return out;
}

std::string CommaSeparated(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<SessionStore>> SessionStore::OpenMariaDb(const sync::DbUrl& url,
                                                                std::size_t connections) {
  auto store = MariaDbSessionStore::Open(url, connections);
  if (!store.ok()) return store.status();
  return std::unique_ptr<SessionStore>(std::move(*store));
}

Result<std::unique_ptr<MariaDbSessionStore>> MariaDbSessionStore::Open(const sync::DbUrl& url,
                                                                       std::size_t connections) {
  // Two at least: API reads never wait behind the analysis thread's commit.
  std::unique_ptr<MariaDbSessionStore> store(
      new MariaDbSessionStore(url, std::max<std::size_t>(connections, 2)));
  PICKET_RETURN_IF_ERROR(store->CreateSchema());
  return store;
}

MariaDbSessionStore::~MariaDbSessionStore() = default;

Status MariaDbSessionStore::CreateSchema() {
  auto conn = pool_.Borrow();
  if (!conn.ok()) return conn.status();
  PICKET_RETURN_IF_ERROR(sql::CreateVersionedSchema(*conn, kSchemaTable, "collector_session_schema",
                                                    kTables, kSchemaVersion, "session"));
  auto limit = conn->Query("SELECT @@max_allowed_packet");
  if (!limit.ok()) return limit.status();
  if (!limit->empty() && !limit->front().empty()) {
    auto bytes = ParseInt(limit->front()[0], "@@max_allowed_packet");
    if (!bytes.ok()) return bytes.status();
    max_packet_ = NonNegative(*bytes);
  }
  return Status::Ok();
}

Status MariaDbSessionStore::ExecuteWithin(Lease& conn, const std::string& sql,
                                          const std::string& device, std::size_t state_bytes) {
  const std::uint64_t limit = max_packet_;
  if (sql.size() + kPacketSlack > limit) {
    return Status::ResourceExhausted(
        "device " + device + ": a session store statement of " + std::to_string(sql.size()) +
        " bytes (analysis state " + std::to_string(state_bytes) +
        " bytes) exceeds MariaDB's max_allowed_packet of " + std::to_string(limit) + " bytes");
  }
  return conn.Execute(sql);
}

// ---- writer ----

Result<std::optional<AnalysisState>> MariaDbSessionStore::LoadState(const std::string& device) {
  auto conn = pool_.Borrow();
  if (!conn.ok()) return conn.status();
  auto rows = conn->Query(
      "SELECT device, next_seq, state, chunks_analysed, damaged_chunks, skipped_seqs, sessions "
      "FROM collector_analysis_state WHERE device = " +
      conn->Quote(device));
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<AnalysisState>();
  RowReader r{rows->front()};
  AnalysisState s;
  s.device = r.Text(0);
  s.next_seq = r.Unsigned(1);
  s.blob = r.Text(2);
  s.chunks_analysed = r.Unsigned(3);
  s.damaged_chunks = r.Unsigned(4);
  s.skipped_seqs = r.Unsigned(5);
  s.sessions = r.Unsigned(6);
  if (!r.error.ok()) return r.error;
  return std::optional<AnalysisState>(std::move(s));
}

namespace {

constexpr std::string_view kInsertSessions =
    "INSERT INTO collector_sessions(device, uid, community_id, proto, src_ip, src_port, dst_ip, "
    "dst_port, orig_pkts, orig_bytes, resp_pkts, resp_bytes, orig_payload_bytes, "
    "resp_payload_bytes, first_ts_us, last_ts_us, state, history, end_reason, app, category, "
    "risks, risk_score, server_name) VALUES ";
constexpr std::string_view kInsertPacketRefs =
    "INSERT INTO collector_session_packets(device, uid, chunk_seq, offsets) VALUES ";
constexpr std::string_view kInsertState =
    "INSERT INTO collector_analysis_state(device, next_seq, state, chunks_analysed, "
    "damaged_chunks, skipped_seqs, sessions) VALUES ";

std::string StateRow(Lease& conn, const std::string& device, const AnalysisState& s) {
  return "(" + conn.Quote(device) + ", " + Int(s.next_seq) + ", _binary" + conn.Quote(s.blob) +
         ", " + Int(s.chunks_analysed) + ", " + Int(s.damaged_chunks) + ", " + Int(s.skipped_seqs) +
         ", " + Int(s.sessions) + ")";
}

Status MovedOn(const std::string& device) {
  return Status::Conflict("device " + device + ": its analysis state moved on elsewhere");
}

}  // namespace

Status MariaDbSessionStore::CommitChunks(const std::string& device,
                                         std::span<const AnalysedChunk> chunks) {
  if (chunks.empty()) return Status::InvalidArgument("CommitChunks: no chunk");
  const AnalysedChunk& first = chunks.front();
  auto conn = pool_.Borrow();
  if (!conn.ok()) return conn.status();
  auto tx = Transaction::Begin(*conn);
  if (!tx.ok()) return tx.status();
  const std::string dev = conn->Quote(device);
  const AnalysisState& s = chunks.back().state;
  // The state row is locked (or created) first: a collector committing for
  // the same device waits here until this transaction ends, then sees it.
  if (!first.previous_next_seq) {
    // A row that appeared meanwhile stays as it is (ROW_COUNT 0: the
    // connection does not ask for CLIENT_FOUND_ROWS).
    PICKET_RETURN_IF_ERROR(ExecuteWithin(*conn,
                                         std::string(kInsertState) + StateRow(*conn, device, s) +
                                             " ON DUPLICATE KEY UPDATE device = device",
                                         device, s.blob.size()));
    auto inserted = RowCount(*conn);
    if (!inserted.ok()) return inserted.status();
    if (*inserted != 1) return MovedOn(device);
  } else {
    auto stored = conn->Query(
        "SELECT next_seq FROM collector_analysis_state WHERE device = " + dev + " FOR UPDATE");
    if (!stored.ok()) return stored.status();
    if (stored->empty() || stored->front().empty()) return MovedOn(device);
    auto seq = ParseInt(stored->front()[0], "collector_analysis_state.next_seq");
    if (!seq.ok()) return seq.status();
    if (NonNegative(*seq) != *first.previous_next_seq) return MovedOn(device);
  }
  std::vector<std::string> sessions, refs;
  for (const AnalysedChunk& chunk : chunks) {
    SessionRows(*conn, device, chunk, sessions);
    PacketRefRows(*conn, device, chunk, refs);
  }
  PICKET_RETURN_IF_ERROR(InsertRows(*conn, kInsertSessions, sessions, "", device, s.blob.size()));
  PICKET_RETURN_IF_ERROR(InsertRows(*conn, kInsertPacketRefs, refs, "", device, s.blob.size()));
  if (first.previous_next_seq) {
    PICKET_RETURN_IF_ERROR(ExecuteWithin(
        *conn,
        "UPDATE collector_analysis_state SET next_seq = " + Int(s.next_seq) + ", state = _binary" +
            conn->Quote(s.blob) + ", chunks_analysed = " + Int(s.chunks_analysed) +
            ", damaged_chunks = " + Int(s.damaged_chunks) + ", skipped_seqs = " +
            Int(s.skipped_seqs) + ", sessions = " + Int(s.sessions) + " WHERE device = " + dev,
        device, s.blob.size()));
  }
  return tx->Commit();
}

std::vector<Status> MariaDbSessionStore::CommitDevices(std::span<const DeviceChunks> devices) {
  std::vector<Status> answers(devices.size());
  if (devices.size() > 1) {
    auto conn = pool_.Borrow();
    if (!conn.ok()) {
      answers.assign(devices.size(), conn.status());
      return answers;
    }
    Status st = CommitTogether(*conn, devices, answers);
    if (st.ok()) return answers;
    if (conn->broken()) {
      answers.assign(devices.size(), st);
      return answers;
    }
    PICKET_LOG(kWarn, "collector",
               "analysis commit failed as a whole; committing its devices one by one",
               {"devices", devices.size()}, {"status", st});
  }  // the lease goes back before the devices borrow one each
  for (std::size_t i = 0; i < devices.size(); ++i) {
    answers[i] = CommitChunks(devices[i].device, devices[i].chunks);
  }
  return answers;
}

Status MariaDbSessionStore::CommitTogether(Lease& conn, std::span<const DeviceChunks> devices,
                                           std::vector<Status>& answers) {
  auto tx = Transaction::Begin(conn);
  if (!tx.ok()) return tx.status();
  // Every state row locked (a missing one: its gap) at once; a collector committing for one
  // of these devices waits here until this transaction ends, then sees it.
  std::string list;
  for (const DeviceChunks& d : devices) {
    if (d.chunks.empty()) return Status::InvalidArgument("CommitDevices: no chunk");
    list += (list.empty() ? "" : ", ") + conn.Quote(d.device);
  }
  auto found = Rows(conn.Query("SELECT device, next_seq FROM collector_analysis_state WHERE "
                               "device IN (" +
                               list + ") FOR UPDATE"),
                    2);
  if (!found.ok()) return found.status();
  std::map<std::string, std::uint64_t> stored;
  for (const SqlRow& row : *found) {
    auto seq = ParseInt(row[1], "collector_analysis_state.next_seq");
    if (!seq.ok()) return seq.status();
    if (row[0]) stored[*row[0]] = NonNegative(*seq);
  }
  std::vector<std::string> sessions, refs, states;
  std::size_t state_bytes = 0;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const DeviceChunks& d = devices[i];
    const auto previous = d.chunks.front().previous_next_seq;
    const auto on_record = stored.find(d.device);
    const bool same = previous ? on_record != stored.end() && on_record->second == *previous
                               : on_record == stored.end();
    if (!same) {
      answers[i] = MovedOn(d.device);
      continue;
    }
    const AnalysisState& s = d.chunks.back().state;
    std::string state = StateRow(conn, d.device, s);
    if (state.size() + kInsertState.size() + kPacketSlack > max_packet_) {
      answers[i] = ExecuteWithin(conn, std::string(kInsertState) + state, d.device, s.blob.size());
      continue;  // ResourceExhausted, before the statement is sent
    }
    for (const AnalysedChunk& chunk : d.chunks) {
      SessionRows(conn, d.device, chunk, sessions);
      PacketRefRows(conn, d.device, chunk, refs);
    }
    state_bytes = std::max(state_bytes, s.blob.size());
    states.push_back(std::move(state));
  }
  if (states.empty()) return Status::Ok();  // nothing to write: rolled back
  const std::string what = std::to_string(states.size()) + " devices";
  PICKET_RETURN_IF_ERROR(InsertRows(conn, kInsertSessions, sessions, "", what, state_bytes));
  PICKET_RETURN_IF_ERROR(InsertRows(conn, kInsertPacketRefs, refs, "", what, state_bytes));
  PICKET_RETURN_IF_ERROR(InsertRows(
      conn, kInsertState, states,
      " ON DUPLICATE KEY UPDATE next_seq = VALUES(next_seq), state = VALUES(state), "
      "chunks_analysed = VALUES(chunks_analysed), damaged_chunks = VALUES(damaged_chunks), "
      "skipped_seqs = VALUES(skipped_seqs), sessions = VALUES(sessions)",
      what, state_bytes));
  return tx->Commit();
}

Status MariaDbSessionStore::InsertRows(Lease& conn, std::string_view prefix,
                                       const std::vector<std::string>& rows,
                                       std::string_view suffix, const std::string& device,
                                       std::size_t state_bytes) {
  const std::uint64_t limit = max_packet_;
  return sql::InsertRows(
      prefix, rows, suffix, limit > kPacketSlack ? limit - kPacketSlack : 0,
      [&](const std::string& text) { return ExecuteWithin(conn, text, device, state_bytes); });
}

void MariaDbSessionStore::SessionRows(Lease& conn, const std::string& device,
                                      const AnalysedChunk& chunk, std::vector<std::string>& rows) {
  const std::string dev = conn.Quote(device);
  for (const analysis::Session& s : chunk.closed) {
    // The same JSON text as SQLite's, so the risk filter reads the same array.
    const std::string risks =
        nlohmann::json(s.risks).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    rows.push_back("(" + dev + ", " + Int(s.uid) + ", " + conn.Quote(s.community_id) + ", " +
                   Int(std::int64_t{s.proto}) + ", " + conn.Quote(s.src_ip) + ", " +
                   Int(std::int64_t{s.src_port}) + ", " + conn.Quote(s.dst_ip) + ", " +
                   Int(std::int64_t{s.dst_port}) + ", " + Int(s.orig_pkts) + ", " +
                   Int(s.orig_bytes) + ", " + Int(s.resp_pkts) + ", " + Int(s.resp_bytes) + ", " +
                   Int(s.orig_payload_bytes) + ", " + Int(s.resp_payload_bytes) + ", " +
                   Int(s.first_ts_us) + ", " + Int(s.last_ts_us) + ", " + conn.Quote(s.state) +
                   ", " + conn.Quote(s.history) + ", " +
                   conn.Quote(analysis::EndReasonName(s.end_reason)) + ", " + conn.Quote(s.app) +
                   ", " + conn.Quote(s.category) + ", " + conn.Quote(risks) + ", " +
                   Int(std::int64_t{s.risk_score}) + ", _binary" + conn.Quote(s.server_name) + ")");
  }
}

void MariaDbSessionStore::PacketRefRows(Lease& conn, const std::string& device,
                                        const AnalysedChunk& chunk,
                                        std::vector<std::string>& rows) {
  const std::string dev = conn.Quote(device);
  const std::string seq = Int(chunk.seq);
  std::vector<std::uint64_t> offsets;
  for (const analysis::SessionPackets& p : chunk.refs) {
    offsets.clear();
    for (const analysis::PacketRef& ref : p.refs) {
      if (ref.chunk_seq == chunk.seq) offsets.push_back(ref.offset);
    }
    if (offsets.empty()) continue;
    rows.push_back("(" + dev + ", " + Int(p.uid) + ", " + seq + ", _binary" +
                   conn.Quote(EncodeOffsets(offsets)) + ")");
  }
}

Result<std::uint64_t> MariaDbSessionStore::DeleteOlderThan(std::int64_t before_us,
                                                           std::uint64_t batch) {
  auto conn = pool_.Borrow();
  if (!conn.ok()) return conn.status();
  auto tx = Transaction::Begin(*conn);
  if (!tx.ok()) return tx.status();
  // Locked as read: another collector's sweep of the same rows waits, then
  // finds them gone and deletes nothing twice.
  auto victims = conn->Query("SELECT id, device, uid FROM collector_sessions WHERE last_ts_us < " +
                             Int(before_us) + " ORDER BY last_ts_us, id LIMIT " +
                             std::to_string(batch) + " FOR UPDATE");
  if (!victims.ok()) return victims.status();
  if (victims->empty()) return std::uint64_t{0};
  std::vector<std::string> ids;
  std::map<std::string, std::vector<std::string>> uids_by_device;
  for (const SqlRow& row : *victims) {
    RowReader r{row};
    ids.push_back(Int(r.Signed(0)));
    uids_by_device[r.Text(1)].push_back(Int(r.Signed(2)));
    if (!r.error.ok()) return r.error;
  }
  for (const auto& [device, uids] : uids_by_device) {
    PICKET_RETURN_IF_ERROR(conn->Execute(
        "DELETE FROM collector_session_packets WHERE device = " + conn->Quote(device) +
        " AND uid IN (" + CommaSeparated(uids) + ")"));
  }
  PICKET_RETURN_IF_ERROR(
      conn->Execute("DELETE FROM collector_sessions WHERE id IN (" + CommaSeparated(ids) + ")"));
  auto deleted = RowCount(*conn);
  if (!deleted.ok()) return deleted.status();
  PICKET_RETURN_IF_ERROR(tx->Commit());
  return *deleted;
}

Result<bool> MariaDbSessionStore::ClaimDevice(const std::string& device, const std::string& owner,
                                              std::int64_t now_ms, std::int64_t ttl_ms) {
  std::int64_t until_ms = 0;
  if (__builtin_add_overflow(now_ms, ttl_ms, &until_ms)) until_ms = INT64_MAX;
  auto conn = pool_.Borrow();
  if (!conn.ok()) return conn.status();
  auto tx = Transaction::Begin(*conn);
  if (!tx.ok()) return tx.status();
  const std::string dev = conn->Quote(device);
  const std::string me = conn->Quote(owner);
  // `takes` reads the same whether MariaDB assigns left to right (owner is
  // already ours when we took it, and the old until_ms then still ran) or
  // all at once (SIMULTANEOUS_ASSIGNMENT: the old values).
  const std::string takes = "(owner = " + me + " OR until_ms <= " + Int(now_ms) + ")";
  PICKET_RETURN_IF_ERROR(conn->Execute(
      "INSERT INTO collector_analysis_leases(device, owner, until_ms) VALUES(" + dev + ", " + me +
      ", " + Int(until_ms) + ") ON DUPLICATE KEY UPDATE owner = IF(" + takes + ", " + me +
      ", owner), until_ms = IF(" + takes + ", " + Int(until_ms) + ", until_ms)"));
  // The row stays locked until the commit: this is what the upsert left.
  auto holder = conn->Query("SELECT owner FROM collector_analysis_leases WHERE device = " + dev);
  if (!holder.ok()) return holder.status();
  PICKET_RETURN_IF_ERROR(tx->Commit());
  return !holder->empty() && !holder->front().empty() && holder->front()[0] == owner;
}

Status MariaDbSessionStore::ReleaseDevices(const std::string& owner) {
  auto conn = pool_.Borrow();
  if (!conn.ok()) return conn.status();
  return conn->Execute("UPDATE collector_analysis_leases SET until_ms = 0 WHERE owner = " +
                       conn->Quote(owner));
}

// ---- readers ----

Result<std::vector<StoredSession>> MariaDbSessionStore::List(const SessionFilter& f,
                                                             std::uint64_t max_rows) {
  auto conn = pool_.Borrow();
  if (!conn.ok()) return conn.status();
  // Only the conditions given, so MariaDB can pick an index for them.
  std::string sql = "SELECT " + std::string(kSessionColumns) +
                    " FROM collector_sessions WHERE id > " +
                    Int(static_cast<std::int64_t>(std::min<std::uint64_t>(f.after, INT64_MAX)));
  if (f.device) sql += " AND device = " + conn->Quote(*f.device);
  if (f.since_us) sql += " AND last_ts_us >= " + Int(*f.since_us);
  if (f.until_us) sql += " AND first_ts_us < " + Int(*f.until_us);
  if (f.ip) {
    const std::string ip = conn->Quote(*f.ip);
    sql += " AND (src_ip = " + ip + " OR dst_ip = " + ip + ")";
  }
  if (f.port) {
    const std::string port = Int(std::int64_t{*f.port});
    sql += " AND (src_port = " + port + " OR dst_port = " + port + ")";
  }
  if (f.proto) sql += " AND proto = " + Int(std::int64_t{*f.proto});
  if (f.app) sql += " AND app = " + conn->Quote(*f.app);
  if (f.state) sql += " AND state = " + conn->Quote(*f.state);
  if (f.risk) {
    // SQLite's json_each: the array's strings, unescaped, compared bytewise.
    sql +=
        " AND EXISTS (SELECT 1 FROM JSON_TABLE(collector_sessions.risks, '$[*]' COLUMNS(risk "
        "TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin PATH '$')) AS r WHERE r.risk = " +
        conn->Quote(*f.risk) + ")";
  }
  sql += " ORDER BY id LIMIT " + std::to_string(max_rows);
  auto rows = conn->Query(sql);
  if (!rows.ok()) return rows.status();
  std::vector<StoredSession> out;
  out.reserve(rows->size());
  for (const SqlRow& row : *rows) {
    auto session = ReadSession(row);
    if (!session.ok()) return session.status();
    out.push_back(std::move(*session));
  }
  return out;
}

Result<std::optional<StoredSession>> MariaDbSessionStore::Get(std::uint64_t id, bool with_packets) {
  auto conn = pool_.Borrow();
  if (!conn.ok()) return conn.status();
  const std::string where = " WHERE s.id = " + Int(id);
  const std::string columns = Qualified(kSessionColumns, "s.");
  // One statement, so the packets belong to the row read: a row per chunk.
  auto rows = conn->Query(
      with_packets ? "SELECT " + columns +
                         ", p.chunk_seq, p.offsets FROM collector_sessions s LEFT JOIN "
                         "collector_session_packets p ON p.device = s.device AND p.uid = s.uid" +
                         where + " ORDER BY p.chunk_seq"
                   : "SELECT " + columns + " FROM collector_sessions s" + where);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<StoredSession>();
  auto out = ReadSession(rows->front());
  if (!out.ok()) return out.status();
  if (with_packets) {
    const analysis::Session& s = out->session;
    for (const SqlRow& row : *rows) {
      if (row.size() != kSessionColumnCount + 2) {
        return Status::Internal("MariaDB session row has the wrong columns");
      }
      if (!row[kSessionColumnCount]) continue;  // no packet rows at all
      RowReader r{row};
      const std::uint64_t seq = r.Unsigned(kSessionColumnCount);
      if (!r.error.ok()) return r.error;
      PICKET_RETURN_IF_ERROR(AppendPackets(pool_.url().Redacted(), s.device, s.uid, seq,
                                           r.Text(kSessionColumnCount + 1), out->session.packets));
    }
  }
  return std::optional<StoredSession>(std::move(*out));
}

Result<std::vector<analysis::PacketRef>> MariaDbSessionStore::Packets(const std::string& device,
                                                                      std::uint64_t uid) {
  auto conn = pool_.Borrow();
  if (!conn.ok()) return conn.status();
  auto rows =
      conn->Query("SELECT chunk_seq, offsets FROM collector_session_packets WHERE device = " +
                  conn->Quote(device) + " AND uid = " + Int(uid) + " ORDER BY chunk_seq");
  if (!rows.ok()) return rows.status();
  std::vector<analysis::PacketRef> out;
  for (const SqlRow& row : *rows) {
    RowReader r{row};
    const std::uint64_t seq = r.Unsigned(0);
    if (!r.error.ok()) return r.error;
    PICKET_RETURN_IF_ERROR(AppendPackets(pool_.url().Redacted(), device, uid, seq, r.Text(1), out));
  }
  return out;
}

Result<std::vector<AnalysisState>> MariaDbSessionStore::AllCounters() {
  auto conn = pool_.Borrow();
  if (!conn.ok()) return conn.status();
  auto rows = conn->Query(
      "SELECT device, next_seq, chunks_analysed, damaged_chunks, skipped_seqs, sessions "
      "FROM collector_analysis_state ORDER BY device");
  if (!rows.ok()) return rows.status();
  std::vector<AnalysisState> out;
  out.reserve(rows->size());
  for (const SqlRow& row : *rows) {
    RowReader r{row};
    AnalysisState s;
    s.device = r.Text(0);
    s.next_seq = r.Unsigned(1);
    s.chunks_analysed = r.Unsigned(2);
    s.damaged_chunks = r.Unsigned(3);
    s.skipped_seqs = r.Unsigned(4);
    s.sessions = r.Unsigned(5);
    if (!r.error.ok()) return r.error;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace picket::collector
