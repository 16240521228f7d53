// What the collector's MariaDB engines (mariadb_collector_db.cc,
// mariadb_session_store.cc) share: SQL literals, integer columns, a
// transaction on a pooled connection and the versioned schema.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collector/mariadb_pool.h"
#include "picket/common/status.h"

namespace picket::collector::sql {

using Lease = MariaDbConnectionPool::Lease;

// Multi-row INSERTs stop growing here, well under max_allowed_packet.
inline constexpr std::size_t kMaxInsertBytes = 1 << 20;

inline std::string Int(std::int64_t v) { return std::to_string(v); }
inline std::string Int(std::uint64_t v) { return std::to_string(static_cast<std::int64_t>(v)); }
inline std::string OptInt(const std::optional<std::int64_t>& v) { return v ? Int(*v) : "NULL"; }
inline std::uint64_t NonNegative(std::int64_t v) { return v < 0 ? 0 : static_cast<std::uint64_t>(v); }

// An integer column as the text protocol returns it; Internal, naming `column`
// when given, when it is not one.
Result<std::int64_t> ParseInt(const sync::SqlValue& v, std::string_view column = {});
// The integer columns `columns` of `row`, in that order; the first that is not one fails.
template <std::size_t N>
Result<std::array<std::int64_t, N>> ParseInts(const sync::SqlRow& row,
                                              const std::size_t (&columns)[N]) {
  std::array<std::int64_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    if (columns[i] >= row.size()) {
      return Status::Internal("MariaDB returned a row of " + std::to_string(row.size()) +
                              " columns, without column " + std::to_string(columns[i]));
    }
    auto v = ParseInt(row[columns[i]]);
    if (!v.ok()) {
      return Status::Internal(v.status().message() + " (column " + std::to_string(columns[i]) +
                              ")");
    }
    out[i] = *v;
  }
  return out;
}
// The rows of a query that selects `columns` columns. A narrower row (a broken
// or hostile server) is Internal, so the caller may index every row below `columns`.
Result<std::vector<sync::SqlRow>> Rows(Result<std::vector<sync::SqlRow>> rows, std::size_t columns);
// `prefix` + rows + `suffix` in as few statements as fit: each grows to about
// kMaxInsertBytes, and a row that would take it past `max_statement` bytes starts the next
// one. `execute` runs each statement (Lease::Execute, or a caller's size check around it).
Status InsertRows(std::string_view prefix, const std::vector<std::string>& rows,
                  std::string_view suffix, std::size_t max_statement,
                  const std::function<Status(const std::string&)>& execute);
// Connection problems become Unavailable: the client (a device) retries.
Status AsUnavailable(const Status& st);
// One integer read by `sql`; `fallback` when it returns no row or NULL.
Result<std::int64_t> ReadInt(Lease& conn, const std::string& sql, std::int64_t fallback);
// Rows the last statement changed (SELECT ROW_COUNT()).
Result<std::uint64_t> RowCount(Lease& conn);

// One transaction on a lease, rolled back unless committed (and not at all
// when the connection is broken: the server drops it with the session).
class Transaction {
 public:
  static Result<Transaction> Begin(Lease& conn);
  Transaction(Transaction&& other) noexcept : conn_(other.conn_), open_(other.open_) {
    other.open_ = false;
  }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Status Commit();

 private:
  explicit Transaction(Lease& conn) : conn_(conn) {}
  Lease& conn_;
  bool open_ = true;
};

// Creates `tables` (CREATE TABLE IF NOT EXISTS: collectors opening at once all
// succeed) after checking `version_table` (id 1 = the version; created by
// `version_table_sql`): a newer version than `version` is FailedPrecondition
// naming `what` and the database.
Status CreateVersionedSchema(Lease& conn, std::string_view version_table_sql,
                             std::string_view version_table, std::span<const std::string_view> tables,
                             int version, std::string_view what);

}  // namespace picket::collector::sql
