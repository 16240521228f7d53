#include "collector/mariadb_pool.h"

#include "collector/mariadb_sql.h"

namespace picket::collector {

using sync::SqlRow;

namespace {

using sql::AsUnavailable;

// A new pooled connection with the session settings every engine call assumes.
Result<std::unique_ptr<sync::MariaDbConnection>> ConnectSession(const sync::DbUrl& url) {
  auto conn = sync::MariaDbConnection::Connect(url);
  if (!conn.ok()) return AsUnavailable(conn.status());
  // Read committed: fewer gap locks between collectors. The statement form
  // works on every MariaDB (transaction_isolation is 11.1+ only).
  Status st = (*conn)->Execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
  // Lock waits end on the server before the client's 10 s read timeout would
  // abandon a session that still holds its transaction's locks.
  if (st.ok()) st = (*conn)->Execute("SET SESSION autocommit = 1, innodb_lock_wait_timeout = 8");
  if (!st.ok()) return AsUnavailable(st);
  return conn;
}

}  // namespace

MariaDbConnectionPool::Lease::~Lease() {
  if (conn_) pool_->GiveBack(std::move(conn_), broken_);
}

Result<std::vector<SqlRow>> MariaDbConnectionPool::Lease::Query(std::string_view sql) {
  auto rows = conn_->Query(sql);
  if (!rows.ok() && rows.status().code() == StatusCode::kUnavailable) broken_ = true;
  return rows;
}

Status MariaDbConnectionPool::Lease::Execute(std::string_view sql) {
  auto rows = Query(sql);
  return rows.ok() ? Status::Ok() : rows.status();
}

Result<MariaDbConnectionPool::Lease> MariaDbConnectionPool::Borrow() {
  std::unique_lock lock(mu_);
  freed_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++open_;
  lock.unlock();  // connecting takes a round trip or a timeout: others go on
  auto conn = ConnectSession(url_);
  if (!conn.ok()) {
    lock.lock();
    --open_;
    freed_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(*conn));
}

void MariaDbConnectionPool::GiveBack(std::unique_ptr<sync::MariaDbConnection> conn, bool broken) {
  std::vector<std::unique_ptr<sync::MariaDbConnection>> closing;
  {
    std::lock_guard lock(mu_);
    if (broken) {
      // The server went away or rolled the session's transaction back: the
      // idle connections are likely dead too (a restart), so none is reused.
      closing.swap(idle_);
      closing.push_back(std::move(conn));
      open_ -= closing.size();
    } else {
      idle_.push_back(std::move(conn));
    }
  }
  freed_.notify_all();
  // `closing` goes here, outside the mutex (mysql_close may wait on a socket).
}

}  // namespace picket::collector
