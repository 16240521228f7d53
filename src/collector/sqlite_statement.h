// Thin RAII over the SQLite C API for the collector's database: one
// connection, prepared statements that finalize themselves, and a write
// transaction that rolls back unless committed. Errors carry the SQL and the
// database path. Not thread-safe: CollectorDb serialises access.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "picket/common/c_handle.h"
#include "picket/common/status.h"

namespace picket::collector {

using SqliteDb = CHandle<sqlite3, sqlite3_close>;
using SqliteStmt = CHandle<sqlite3_stmt, sqlite3_finalize>;

Status SqliteError(sqlite3* db, int rc, std::string_view context);

class Statement {
 public:
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql);

  // Parameters are 1-based, as in SQLite.
  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, std::string_view value);
  Statement& Bind(int index, const std::string& value) {
    return Bind(index, std::string_view(value));
  }
  Statement& Bind(int index, const std::optional<std::int64_t>& value);
  Statement& Bind(int index, const std::optional<std::string>& value);
  Statement& BindNull(int index);

  // Makes the statement runnable again and clears its parameters.
  void Reset();

  // true: a row is available; false: done. Errors name the SQL.
  Result<bool> Step();
  // Runs to completion, ignoring rows.
  Status Run();

  std::int64_t Int(int column) const { return sqlite3_column_int64(stmt_.get(), column); }
  std::string Text(int column) const;
  bool IsNull(int column) const { return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL; }
  // The current row as a JSON object keyed by column name (INTEGER, REAL, TEXT, NULL).
  // Columns named in json_columns hold JSON text and are embedded as parsed values.
  nlohmann::json RowAsJson(std::initializer_list<std::string_view> json_columns = {}) const;

 private:
  Statement(sqlite3* db, SqliteStmt stmt) : db_(db), stmt_(std::move(stmt)) {}
  sqlite3* db_;
  SqliteStmt stmt_;
  int bind_error_ = SQLITE_OK;
};

Status Exec(sqlite3* db, std::string_view sql);

// BEGIN IMMEDIATE on construction (Begin), ROLLBACK on destruction unless Commit().
class WriteTransaction {
 public:
  static Result<WriteTransaction> Begin(sqlite3* db);
  WriteTransaction(WriteTransaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  WriteTransaction& operator=(WriteTransaction&&) = delete;
  ~WriteTransaction();
  Status Commit();

 private:
  explicit WriteTransaction(sqlite3* db) : db_(db) {}
  sqlite3* db_;  // null once committed or rolled back
};

}  // namespace picket::collector
