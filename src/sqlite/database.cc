#include "picket/sqlite/database.h"

#include <sqlite3.h>

#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "picket/common/c_handle.h"

namespace picket::sqlite {

namespace {

using DbHandle = CHandle<sqlite3, sqlite3_close_v2>;
using StmtHandle = CHandle<sqlite3_stmt, sqlite3_finalize>;

std::string Quoted(std::string_view sql) { return "'" + std::string(sql.substr(0, 60)) + "'"; }

// "<context>: <SQLite's message>" with the mapped code. `db` may be null (open failed early).
Status Error(sqlite3* db, int rc, std::string_view context) {
  std::string m(context);
  m += ": ";
  m += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return ErrorStatus(rc, std::move(m));
}

// Finished statements kept for the next Prepare of the same SQL text: a
// prepare costs ~20 us, and the collector prepared four per stored chunk
// (13% of its CPU at 2,000 chunks/s). A statement is reset and its bindings
// cleared before it is kept, so it holds no lock and no read snapshot. A
// statement in use is not in the pool: a second Prepare of the same SQL
// while the first is alive gets a fresh one.
struct StatementPool {
  static constexpr std::size_t kMaxIdle = 32;  // the distinct SQL one connection runs hot
  std::vector<std::pair<std::string, StmtHandle>> idle;  // least recently kept first

  StmtHandle Take(std::string_view sql) {
    for (auto it = idle.rbegin(); it != idle.rend(); ++it) {
      if (it->first == sql) {
        StmtHandle stmt = std::move(it->second);
        idle.erase(std::next(it).base());
        return stmt;
      }
    }
    return StmtHandle();
  }

  void Keep(std::string sql, StmtHandle stmt) {
    sqlite3_reset(stmt.get());
    sqlite3_clear_bindings(stmt.get());
    if (idle.size() == kMaxIdle) idle.erase(idle.begin());
    idle.emplace_back(std::move(sql), std::move(stmt));
  }
};

}  // namespace

Status ErrorStatus(int rc, std::string message) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(message));
    case SQLITE_FULL:
      return Status::ResourceExhausted(std::move(message));
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return Status::IoError(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(message));
    case SQLITE_CONSTRAINT:
      return Status::Conflict(std::move(message));
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return Status::PermissionDenied(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

// ---- Statement ----

struct Statement::Impl {
  sqlite3* db;
  const std::string* path;  // the Database's, which outlives the statement
  StmtHandle stmt;
  StatementPool* pool;  // the Database's: where the statement goes when done
  std::string sql;      // its key there
  int bind_error = SQLITE_OK;

  Impl(sqlite3* db_in, const std::string* path_in, StmtHandle stmt_in, StatementPool* pool_in,
       std::string sql_in)
      : db(db_in), path(path_in), stmt(std::move(stmt_in)), pool(pool_in), sql(std::move(sql_in)) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (stmt) pool->Keep(std::move(sql), std::move(stmt));
  }

  std::string Context(std::string_view what) const {
    const char* sql = sqlite3_sql(stmt.get());
    return *path + ": " + std::string(what) + " " + Quoted(sql != nullptr ? sql : "");
  }
  void Note(int rc) {
    if (rc != SQLITE_OK && bind_error == SQLITE_OK) bind_error = rc;
  }
};

Statement::Statement(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Statement::Statement(Statement&& other) noexcept = default;
Statement& Statement::operator=(Statement&& other) noexcept = default;
Statement::~Statement() = default;

Statement& Statement::Bind(int index, std::int64_t value) {
  impl_->Note(sqlite3_bind_int64(impl_->stmt.get(), index, value));
  return *this;
}

Statement& Statement::Bind(int index, std::string_view value) {
  impl_->Note(sqlite3_bind_text64(impl_->stmt.get(), index, value.data(), value.size(),
                                  SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Statement& Statement::Bind(int index, const std::optional<std::int64_t>& value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::Bind(int index, const std::optional<std::string>& value) {
  return value ? Bind(index, std::string_view(*value)) : BindNull(index);
}

Statement& Statement::BindNull(int index) {
  impl_->Note(sqlite3_bind_null(impl_->stmt.get(), index));
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  impl_->Note(sqlite3_bind_blob64(impl_->stmt.get(), index, bytes.data(), bytes.size(),
                                  SQLITE_TRANSIENT));
  return *this;
}

void Statement::Reset() {
  impl_->bind_error = SQLITE_OK;
  // sqlite3_reset repeats the error of the last step, which that step already reported.
  sqlite3_reset(impl_->stmt.get());
  sqlite3_clear_bindings(impl_->stmt.get());
}

Result<bool> Statement::Step() {
  if (impl_->bind_error != SQLITE_OK) {
    return ErrorStatus(impl_->bind_error,
                       impl_->Context("bind") + ": " + sqlite3_errstr(impl_->bind_error));
  }
  int rc = sqlite3_step(impl_->stmt.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(impl_->db, rc, impl_->Context("step"));
}

Status Statement::Run() {
  while (true) {
    auto row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

std::int64_t Statement::Int(int column) const {
  return sqlite3_column_int64(impl_->stmt.get(), column);
}

double Statement::Real(int column) const {
  return sqlite3_column_double(impl_->stmt.get(), column);
}

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(impl_->stmt.get(), column);
  int size = sqlite3_column_bytes(impl_->stmt.get(), column);
  return text != nullptr
             ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size))
             : std::string();
}

std::string Statement::Blob(int column) const {
  const void* bytes = sqlite3_column_blob(impl_->stmt.get(), column);
  int size = sqlite3_column_bytes(impl_->stmt.get(), column);
  return bytes != nullptr
             ? std::string(static_cast<const char*>(bytes), static_cast<std::size_t>(size))
             : std::string();
}

ColumnType Statement::Type(int column) const {
  switch (sqlite3_column_type(impl_->stmt.get(), column)) {
    case SQLITE_INTEGER:
      return ColumnType::kInteger;
    case SQLITE_FLOAT:
      return ColumnType::kReal;
    case SQLITE_TEXT:
      return ColumnType::kText;
    case SQLITE_BLOB:
      return ColumnType::kBlob;
    default:
      return ColumnType::kNull;
  }
}

int Statement::ColumnCount() const { return sqlite3_column_count(impl_->stmt.get()); }

std::string Statement::ColumnName(int column) const {
  const char* name = sqlite3_column_name(impl_->stmt.get(), column);
  return name != nullptr ? name : "";
}

// ---- Database ----

struct Database::Impl {
  DbHandle db;
  std::string path;
  StatementPool pool;  // after db: its statements are finalized before the close
};

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::Database(Database&& other) noexcept = default;
Database& Database::operator=(Database&& other) noexcept = default;
Database::~Database() = default;

Result<Database> Database::Open(const std::string& path, OpenOptions options) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbHandle db(raw);  // sqlite3_open_v2 may hand back a handle even when it fails
  if (rc != SQLITE_OK) return Error(raw, rc, "open " + path);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  return Database(std::make_unique<Impl>(Impl{std::move(db), path, {}}));
}

Status Database::Exec(std::string_view sql) {
  if (sql.find_first_not_of(" \t\r\n") == std::string_view::npos) return Status::Ok();
  if (sql.find(';') == std::string_view::npos) {  // one statement: through the pool
    auto stmt = Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    return stmt->Run();
  }
  int rc = sqlite3_exec(impl_->db.get(), std::string(sql).c_str(), nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return Status::Ok();
  return Error(impl_->db.get(), rc, impl_->path + ": " + Quoted(sql));
}

Result<Statement> Database::Prepare(std::string_view sql) {
  StmtHandle stmt = impl_->pool.Take(sql);
  if (!stmt) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(impl_->db.get(), sql.data(), static_cast<int>(sql.size()), &raw,
                                nullptr);
    stmt.reset(raw);
    if (rc != SQLITE_OK) {
      return Error(impl_->db.get(), rc, impl_->path + ": prepare " + Quoted(sql));
    }
  }
  return Statement(std::make_unique<Statement::Impl>(impl_->db.get(), &impl_->path,
                                                     std::move(stmt), &impl_->pool,
                                                     std::string(sql)));
}

std::int64_t Database::LastInsertRowId() const {
  return sqlite3_last_insert_rowid(impl_->db.get());
}

std::int64_t Database::Changes() const { return sqlite3_changes(impl_->db.get()); }

bool Database::InTransaction() const { return sqlite3_get_autocommit(impl_->db.get()) == 0; }

const std::string& Database::path() const { return impl_->path; }

// ---- Transaction ----

namespace {
// One name for every level: SQLite releases or rolls back to the innermost
// savepoint of that name, which is the one this Transaction opened.
constexpr std::string_view kSavepoint = "picket_nested";
}  // namespace

Result<Transaction> Transaction::Begin(Database& db) {
  if (db.InTransaction()) {
    PICKET_RETURN_IF_ERROR(db.Exec("SAVEPOINT " + std::string(kSavepoint)));
    return Transaction(&db, true);
  }
  PICKET_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return Transaction(&db, false);
}

Transaction::Transaction(Transaction&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), nested_(other.nested_) {}

Transaction::~Transaction() { Rollback(); }

void Transaction::Rollback() {
  Database* db = std::exchange(db_, nullptr);
  if (db == nullptr) return;
  // Best effort: after some errors (FULL, IOERR) SQLite has already rolled back.
  if (nested_) {
    (void)db->Exec("ROLLBACK TO " + std::string(kSavepoint));
    (void)db->Exec("RELEASE " + std::string(kSavepoint));
  } else if (db->InTransaction()) {
    (void)db->Exec("ROLLBACK");
  }
}

Status Transaction::Commit() {
  if (db_ == nullptr) return Status::FailedPrecondition("transaction already finished");
  Status st = db_->Exec(nested_ ? "RELEASE " + std::string(kSavepoint) : std::string("COMMIT"));
  if (!st.ok()) {
    Rollback();
    return st;
  }
  db_ = nullptr;
  return Status::Ok();
}

}  // namespace picket::sqlite
