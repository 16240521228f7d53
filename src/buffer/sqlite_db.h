// A thin RAII layer over the SQLite C API: one connection, prepared statements
// with typed binds, errors converted to Status with the SQL and file named.
// Not thread-safe: one SqliteDb per thread (SQLite's own locking coordinates
// the worker and supervisor processes through WAL).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "picket/common/c_handle.h"
#include "picket/common/status.h"

namespace picket::buffer {

using SqliteHandle = CHandle<sqlite3, sqlite3_close_v2>;
using SqliteStmtHandle = CHandle<sqlite3_stmt, sqlite3_finalize>;

class SqliteStmt {
 public:
  SqliteStmt(sqlite3* db, SqliteStmtHandle stmt, std::string sql)
      : db_(db), stmt_(std::move(stmt)), sql_(std::move(sql)) {}

  SqliteStmt& Bind(int index, std::int64_t value);
  SqliteStmt& Bind(int index, std::string_view value);
  SqliteStmt& BindNull(int index);
  // Steps once: true when a row is ready, false when done.
  Result<bool> Step();
  // Steps to completion (for statements without rows).
  Status Run();

  std::int64_t Int(int column) const { return sqlite3_column_int64(stmt_.get(), column); }
  std::string Text(int column) const;

 private:
  sqlite3* db_;
  SqliteStmtHandle stmt_;
  std::string sql_;
};

class SqliteDb {
 public:
  static Result<SqliteDb> Open(const std::string& path);

  Status Exec(std::string_view sql);
  Result<SqliteStmt> Prepare(std::string_view sql);
  std::int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_.get()); }
  sqlite3* raw() const { return db_.get(); }
  const std::string& path() const { return path_; }

 private:
  SqliteDb(SqliteHandle db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}
  SqliteHandle db_;
  std::string path_;
};

// Converts an SQLite result code into a Status naming the context:
// CORRUPT/NOTADB → Corruption, FULL → ResourceExhausted, BUSY/LOCKED → Unavailable.
Status SqliteError(sqlite3* db, int rc, std::string_view context);

// BEGIN IMMEDIATE … COMMIT; rolls back when destroyed uncommitted.
class Transaction {
 public:
  explicit Transaction(SqliteDb& db) : db_(db) {}
  ~Transaction();
  Status Begin();
  Status Commit();

 private:
  SqliteDb& db_;
  bool open_ = false;
};

}  // namespace picket::buffer
