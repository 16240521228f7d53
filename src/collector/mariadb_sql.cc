#include "collector/mariadb_sql.h"

#include <charconv>

namespace picket::collector::sql {

Result<std::int64_t> ParseInt(const sync::SqlValue& v, std::string_view column) {
  // Built only for an error: every integer cell of every row comes through here.
  auto what = [column] {
    return column.empty() ? std::string("an integer column")
                          : "integer column " + std::string(column);
  };
  std::int64_t out = 0;
  if (!v) return Status::Internal("MariaDB returned NULL for " + what());
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size()) {
    // Bounded: the value is the server's, and the message goes into logs and answers.
    constexpr std::size_t kShown = 64;
    const std::string shown = v->size() > kShown ? v->substr(0, kShown) + "..." : *v;
    return Status::Internal("MariaDB returned \"" + shown + "\" for " + what());
  }
  return out;
}

Result<std::vector<sync::SqlRow>> Rows(Result<std::vector<sync::SqlRow>> rows,
                                       std::size_t columns) {
  if (!rows.ok()) return rows;
  for (const sync::SqlRow& row : *rows) {
    if (row.size() < columns) {
      return Status::Internal("MariaDB returned a row of " + std::to_string(row.size()) +
                              " column(s) where the query selects " + std::to_string(columns));
    }
  }
  return rows;
}

Status InsertRows(std::string_view prefix, const std::vector<std::string>& rows,
                  std::string_view suffix, std::size_t max_statement,
                  const std::function<Status(const std::string&)>& execute) {
  std::string sql;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!sql.empty() && sql.size() + rows[i].size() + suffix.size() > max_statement) {
      PICKET_RETURN_IF_ERROR(execute(sql + std::string(suffix)));
      sql.clear();
    }
    sql += sql.empty() ? std::string(prefix) : std::string(", ");
    sql += rows[i];
    if (sql.size() >= kMaxInsertBytes || i + 1 == rows.size()) {
      PICKET_RETURN_IF_ERROR(execute(sql + std::string(suffix)));
      sql.clear();
    }
  }
  return Status::Ok();
}

Status AsUnavailable(const Status& st) {
  return st.code() == StatusCode::kUnavailable ? st : Status::Unavailable(st.message());
}

Result<std::int64_t> ReadInt(Lease& conn, const std::string& sql, std::int64_t fallback) {
  auto rows = conn.Query(sql);
  if (!rows.ok()) return rows.status();
  if (rows->empty() || rows->front().empty() || !rows->front()[0]) return fallback;
  return ParseInt(rows->front()[0]);
}

Result<std::uint64_t> RowCount(Lease& conn) {
  auto n = ReadInt(conn, "SELECT ROW_COUNT()", 0);
  if (!n.ok()) return n.status();
  return NonNegative(*n);
}

Result<Transaction> Transaction::Begin(Lease& conn) {
  PICKET_RETURN_IF_ERROR(conn.Execute("START TRANSACTION"));
  return Transaction(conn);
}

Transaction::~Transaction() {
  if (open_ && !conn_.broken()) (void)conn_.Execute("ROLLBACK");
}

Status Transaction::Commit() {
  open_ = false;
  Status st = conn_.Execute("COMMIT");
  if (!st.ok() && !conn_.broken()) (void)conn_.Execute("ROLLBACK");
  return st;
}

Status CreateVersionedSchema(Lease& conn, std::string_view version_table_sql,
                             std::string_view version_table, std::span<const std::string_view> tables,
                             int version, std::string_view what) {
  PICKET_RETURN_IF_ERROR(conn.Execute(version_table_sql));
  auto found =
      Rows(conn.Query("SELECT version FROM " + std::string(version_table) + " WHERE id = 1"), 1);
  if (!found.ok()) return found.status();
  if (!found->empty()) {
    auto stored = ParseInt(found->front()[0], std::string(version_table) + ".version");
    if (!stored.ok()) return stored.status();
    if (*stored > version) {
      return Status::FailedPrecondition(
          conn.url().Redacted() + ": " + std::string(what) + " schema version " +
          std::to_string(*stored) + " is newer than this collector's (" + std::to_string(version) + ")");
    }
  }
  for (std::string_view table : tables) PICKET_RETURN_IF_ERROR(conn.Execute(table));
  return conn.Execute("INSERT INTO " + std::string(version_table) + "(id, version) VALUES(1, " +
                      std::to_string(version) +
                      ") ON DUPLICATE KEY UPDATE version = GREATEST(version, VALUES(version))");
}

}  // namespace picket::collector::sql
