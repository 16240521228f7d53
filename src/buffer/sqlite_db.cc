#include "sqlite_db.h"

namespace picket::buffer {

Status SqliteError(sqlite3* db, int rc, std::string_view context) {
  std::string m(context);
  m += ": ";
  m += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Status::Corruption(std::move(m));
    case SQLITE_FULL: return Status::ResourceExhausted(std::move(m));
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Status::Unavailable(std::move(m));
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR: return Status::IoError(std::move(m));
    case SQLITE_CONSTRAINT: return Status::AlreadyExists(std::move(m));
    default: return Status::Internal(std::move(m));
  }
}

SqliteStmt& SqliteStmt::Bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_.get(), index, value);
  return *this;
}

SqliteStmt& SqliteStmt::Bind(int index, std::string_view value) {
  sqlite3_bind_text(stmt_.get(), index, value.data(), static_cast<int>(value.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

SqliteStmt& SqliteStmt::BindNull(int index) {
  sqlite3_bind_null(stmt_.get(), index);
  return *this;
}

Result<bool> SqliteStmt::Step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, rc, "sqlite step '" + sql_.substr(0, 60) + "'");
}

Status SqliteStmt::Run() {
  for (;;) {
    auto row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

std::string SqliteStmt::Text(int column) const {
  const unsigned char* p = sqlite3_column_text(stmt_.get(), column);
  int n = sqlite3_column_bytes(stmt_.get(), column);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

Result<SqliteDb> SqliteDb::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteHandle db(raw);
  if (rc != SQLITE_OK) return SqliteError(raw, rc, "open " + path);
  // Worker and supervisor share the file; wait for each other's short transactions.
  sqlite3_busy_timeout(raw, 5000);
  return SqliteDb(std::move(db), path);
}

Status SqliteDb::Exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &err);
  if (err) sqlite3_free(err);
  if (rc != SQLITE_OK) return SqliteError(db_.get(), rc, path_ + ": '" + text.substr(0, 60) + "'");
  return Status::Ok();
}

Result<SqliteStmt> SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  SqliteStmtHandle stmt(raw);
  if (rc != SQLITE_OK) {
    return SqliteError(db_.get(), rc, path_ + ": prepare '" + std::string(sql.substr(0, 60)) + "'");
  }
  return SqliteStmt(db_.get(), std::move(stmt), std::string(sql));
}

Transaction::~Transaction() {
  if (open_) (void)db_.Exec("ROLLBACK");
}

Status Transaction::Begin() {
  PICKET_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  open_ = true;
  return Status::Ok();
}

Status Transaction::Commit() {
  PICKET_RETURN_IF_ERROR(db_.Exec("COMMIT"));
  open_ = false;
  return Status::Ok();
}

}  // namespace picket::buffer
