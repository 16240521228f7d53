#include "collector/sqlite_statement.h"

namespace picket::collector {

Status SqliteError(sqlite3* db, int rc, std::string_view context) {
  std::string m(context);
  m += ": ";
  m += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(m));
    case SQLITE_FULL:
      return Status::ResourceExhausted(std::move(m));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(m));
    case SQLITE_CONSTRAINT:
      return Status::Conflict(std::move(m));
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
      return Status::IoError(std::move(m));
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return Status::PermissionDenied(std::move(m));
    default:
      return Status::Internal(std::move(m));
  }
}

Result<Statement> Statement::Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  SqliteStmt stmt(raw);
  if (rc != SQLITE_OK)
    return SqliteError(db, rc, "prepare '" + std::string(sql.substr(0, 60)) + "'");
  return Statement(db, std::move(stmt));
}

Statement& Statement::Bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_.get(), index, value);
  if (rc != SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::Bind(int index, std::string_view value) {
  int rc = sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  if (rc != SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::Bind(int index, const std::optional<std::int64_t>& value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::Bind(int index, const std::optional<std::string>& value) {
  return value ? Bind(index, std::string_view(*value)) : BindNull(index);
}

Statement& Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_.get(), index);
  if (rc != SQLITE_OK) bind_error_ = rc;
  return *this;
}

void Statement::Reset() {
  bind_error_ = SQLITE_OK;
  // sqlite3_reset repeats the error of the last step, which that step already reported.
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

Result<bool> Statement::Step() {
  const char* sql = sqlite3_sql(stmt_.get());
  std::string context =
      "sqlite '" + std::string(sql ? std::string_view(sql).substr(0, 60) : "") + "'";
  if (bind_error_ != SQLITE_OK) return SqliteError(db_, bind_error_, "bind " + context);
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, rc, context);
}

Status Statement::Run() {
  while (true) {
    auto row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), column);
  int size = sqlite3_column_bytes(stmt_.get(), column);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size))
              : std::string();
}

nlohmann::json Statement::RowAsJson(std::initializer_list<std::string_view> json_columns) const {
  nlohmann::json row = nlohmann::json::object();
  const int n = sqlite3_column_count(stmt_.get());
  for (int i = 0; i < n; ++i) {
    std::string name = sqlite3_column_name(stmt_.get(), i);
    switch (sqlite3_column_type(stmt_.get(), i)) {
      case SQLITE_INTEGER:
        row[name] = Int(i);
        break;
      case SQLITE_FLOAT:
        row[name] = sqlite3_column_double(stmt_.get(), i);
        break;
      case SQLITE_NULL:
        row[name] = nullptr;
        break;
      default: {
        std::string text = Text(i);
        bool is_json = false;
        for (auto c : json_columns) is_json = is_json || c == name;
        if (is_json) {
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

Status Exec(sqlite3* db, std::string_view sql) {
  int rc = sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return Status::Ok();
  return SqliteError(db, rc, "sqlite '" + std::string(sql.substr(0, 60)) + "'");
}

Result<WriteTransaction> WriteTransaction::Begin(sqlite3* db) {
  PICKET_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE"));
  return WriteTransaction(db);
}

WriteTransaction::~WriteTransaction() {
  if (db_ != nullptr) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Status WriteTransaction::Commit() {
  sqlite3* db = std::exchange(db_, nullptr);
  Status st = Exec(db, "COMMIT");
  if (!st.ok()) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return st;
}

}  // namespace picket::collector
