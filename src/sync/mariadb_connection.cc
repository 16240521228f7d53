#include "picket/sync/mariadb_connection.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "picket/common/c_handle.h"
#include "sync/mysql_handle.h"

namespace picket::sync {

namespace {

using MysqlResult = CHandle<MYSQL_RES, mysql_free_result>;

bool IsConnectionError(unsigned code) {
  return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST || code == CR_CONN_HOST_ERROR ||
         code == CR_CONNECTION_ERROR || code == CR_SERVER_LOST_EXTENDED ||
         code == CR_COMMANDS_OUT_OF_SYNC || code == ER_SERVER_SHUTDOWN ||
         code == ER_CONNECTION_KILLED || code == ER_LOCK_WAIT_TIMEOUT || code == ER_LOCK_DEADLOCK ||
         code == CR_UNKNOWN_HOST || code == ER_CON_COUNT_ERROR;
}

}  // namespace

struct MariaDbConnection::Handle {
  MysqlHandle mysql;
};

MariaDbConnection::MariaDbConnection(std::unique_ptr<Handle> handle, std::string where)
    : handle_(std::move(handle)), where_(std::move(where)) {}

Result<MysqlHandle> ConnectMysql(const DbUrl& url, unsigned io_timeout_s) {
  MYSQL* handle = mysql_init(nullptr);
  if (handle == nullptr) return Status::ResourceExhausted("mysql_init: out of memory");
  MysqlHandle owner(handle);
  const unsigned connect_timeout = 3;
  const unsigned protocol = MYSQL_PROTOCOL_TCP;  // never the local socket, even for "localhost"
  mysql_optionsv(handle, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_optionsv(handle, MYSQL_OPT_READ_TIMEOUT, &io_timeout_s);
  mysql_optionsv(handle, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout_s);
  mysql_optionsv(handle, MYSQL_OPT_PROTOCOL, &protocol);
  mysql_optionsv(handle, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (mysql_real_connect(handle, url.host.c_str(), url.user.c_str(), url.password.c_str(),
                         url.database.c_str(), url.port, nullptr, 0) == nullptr) {
    const unsigned code = mysql_errno(handle);
    std::string message = "connect " + url.Redacted() + ": " + mysql_error(handle) + " (" +
                          std::to_string(code) + ")";
    if (code == ER_ACCESS_DENIED_ERROR || code == ER_DBACCESS_DENIED_ERROR) {
      return Status::PermissionDenied(std::move(message));
    }
    if (code == ER_BAD_DB_ERROR) return Status::NotFound(std::move(message));
    return Status::Unavailable(std::move(message));
  }
  return owner;
}

Result<std::unique_ptr<MariaDbConnection>> MariaDbConnection::Connect(const DbUrl& url) {
  auto handle = ConnectMysql(url, 10);
  if (!handle.ok()) return handle.status();
  return std::unique_ptr<MariaDbConnection>(new MariaDbConnection(
      std::make_unique<Handle>(Handle{std::move(handle).value()}), url.Redacted()));
}

MariaDbConnection::~MariaDbConnection() = default;

Status MariaDbConnection::Error(std::string_view what) {
  const unsigned code = mysql_errno(handle_->mysql.get());
  std::string message = std::string(what) + " on " + where_ + ": " +
                        mysql_error(handle_->mysql.get()) + " (" + std::to_string(code) + ")";
  if (IsConnectionError(code) || (code >= 2000 && code < 3000)) {
    return Status::Unavailable(std::move(message));
  }
  if (code == ER_NO_SUCH_TABLE || code == ER_BAD_FIELD_ERROR) {
    return Status::FailedPrecondition(std::move(message) + " (load config/schema.sql)");
  }
  return Status::Internal(std::move(message));
}

Result<std::vector<SqlRow>> MariaDbConnection::Query(std::string_view sql) {
  if (mysql_real_query(handle_->mysql.get(), sql.data(), sql.size()) != 0) return Error("query");
  std::vector<SqlRow> rows;
  MysqlResult result(mysql_store_result(handle_->mysql.get()));
  if (!result) {
    if (mysql_field_count(handle_->mysql.get()) != 0) return Error("reading result");
    return rows;
  }
  const unsigned columns = mysql_num_fields(result.get());
  while (MYSQL_ROW row = mysql_fetch_row(result.get())) {
    unsigned long* lengths = mysql_fetch_lengths(result.get());
    SqlRow out;
    out.reserve(columns);
    for (unsigned i = 0; i < columns; ++i) {
      if (row[i] == nullptr) {
        out.emplace_back(std::nullopt);
      } else {
        out.emplace_back(std::string(row[i], lengths[i]));
      }
    }
    rows.push_back(std::move(out));
  }
  if (mysql_errno(handle_->mysql.get()) != 0) return Error("fetching rows");
  return rows;
}

Status MariaDbConnection::Execute(std::string_view sql) {
  auto rows = Query(sql);
  return rows.ok() ? Status::Ok() : rows.status();
}

std::string MariaDbConnection::Quote(std::string_view text) {
  std::string out(text.size() * 2 + 1, '\0');
  const unsigned long n =
      mysql_real_escape_string(handle_->mysql.get(), out.data(), text.data(), text.size());
  out.resize(n);
  return "'" + out + "'";
}

}  // namespace picket::sync
