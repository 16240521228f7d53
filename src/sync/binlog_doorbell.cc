#include "sync/binlog_doorbell.h"

#include <errmsg.h>
#include <mysql.h>  // before mariadb_rpl.h, which uses its types without including it
#include <mysqld_error.h>
// clang-format off
#include <mariadb_rpl.h>
// clang-format on
#include <sys/socket.h>

#include <cctype>
#include <random>
#include <utility>

#include "picket/common/log.h"
#include "sync/mysql_handle.h"

namespace picket::sync {

namespace {

using RplHandle = CHandle<MARIADB_RPL, mariadb_rpl_close>;
using RplEvent = CHandle<MARIADB_RPL_EVENT, mariadb_free_rpl_event>;

std::string_view View(const MARIADB_STRING& s) { return {s.str ? s.str : "", s.length}; }

bool StartsWithWord(std::string_view text, std::string_view word) {
  if (text.size() < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(text[i])) != word[i]) return false;
  }
  return true;
}

// A replica id no real replica is likely to hold: a clash would make the
// server drop the other connection, so it is random in the upper range.
unsigned ReplicaServerId() {
  std::random_device random;
  return 0x70000000u | (random() & 0x0fffffffu);
}

Status QueryError(MYSQL* m, std::string_view what) {
  return Status::Unavailable(std::string(what) + ": " + mysql_error(m) + " (" +
                             std::to_string(mysql_errno(m)) + ")");
}

// The first row of a query's result, each value "" for NULL.
Result<std::vector<std::string>> FirstRow(MYSQL* m, const std::string& sql) {
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) return QueryError(m, sql);
  CHandle<MYSQL_RES, mysql_free_result> result(mysql_store_result(m));
  if (!result) return QueryError(m, sql);
  std::vector<std::string> out;
  if (MYSQL_ROW row = mysql_fetch_row(result.get())) {
    for (unsigned i = 0; i < mysql_num_fields(result.get()); ++i) out.emplace_back(row[i] ? row[i] : "");
  }
  return out;
}

}  // namespace

bool BinlogBell::TableMap(std::string_view database) {
  if (database == schema_) touched_ = true;
  return false;  // rows follow; the commit rings
}

bool BinlogBell::Query(std::string_view database, std::string_view statement) {
  if (StartsWithWord(statement, "BEGIN") || StartsWithWord(statement, "XA START")) {
    touched_ = false;
    return false;
  }
  if (StartsWithWord(statement, "COMMIT")) return std::exchange(touched_, false);
  // Statement format logs DML as text under the session's default database,
  // which need not be the table's: a qualified name counts too.
  const bool ours = database == schema_ || statement.find(qualified_) != std::string_view::npos ||
                    statement.find(quoted_) != std::string_view::npos;
  if (!ours) return false;
  touched_ = true;
  return true;  // DDL has no commit event; DML rings again at its XID
}

bool BinlogBell::Xid() { return std::exchange(touched_, false); }

BinlogDoorbell::BinlogDoorbell(DbUrl db, std::function<void()> ring)
    : db_(std::move(db)), ring_(std::move(ring)) {}

BinlogDoorbell::~BinlogDoorbell() { Stop(); }

void BinlogDoorbell::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
}

void BinlogDoorbell::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    if (socket_ >= 0) ::shutdown(socket_, SHUT_RDWR);  // ends a blocking read at once
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string BinlogDoorbell::State() const {
  std::lock_guard lock(mu_);
  return state_;
}

bool BinlogDoorbell::following() const {
  std::lock_guard lock(mu_);
  return state_ == "binlog";
}

void BinlogDoorbell::SetState(std::string state) {
  std::lock_guard lock(mu_);
  if (state == state_) return;
  state_ = std::move(state);
  if (state_ == "binlog") {
    PICKET_LOG(kInfo, "sync", "doorbell: following the binary log; changes are synced at commit");
  } else {
    PICKET_LOG(kWarn, "sync", "doorbell off, polling only", {"why", state_.substr(9)});
  }
}

void BinlogDoorbell::Retry(std::chrono::seconds delay) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, delay, [&] { return stop_; });
}

void BinlogDoorbell::Run() {
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    Status why = Follow();
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    SetState("polling: " + why.message());
    // A setting or a grant changes rarely; a server away comes back sooner.
    Retry(why.code() == StatusCode::kUnavailable ? std::chrono::seconds(5) : std::chrono::seconds(60));
  }
}

Status BinlogDoorbell::Follow() {
  // Heartbeats every second keep a quiet stream's reads inside the 5 s timeout.
  auto connected = ConnectMysql(db_, 5);
  if (!connected.ok()) return connected.status();
  MYSQL* m = connected->get();
  struct Unregister {  // runs before the connection closes: Stop() never shuts down a reused fd
    BinlogDoorbell* self;
    ~Unregister() {
      std::lock_guard lock(self->mu_);
      self->socket_ = -1;
    }
  } unregister{this};

  auto settings = FirstRow(m, "SELECT @@global.log_bin, @@global.gtid_binlog_pos");
  if (!settings.ok()) return settings.status();
  if (settings->size() != 2) return Status::Internal("no row for SELECT @@global.log_bin");
  if ((*settings)[0] != "1") {
    return Status::FailedPrecondition(
        "the server's binary log is off (log_bin; turn it on with binlog_format=ROW)");
  }
  // Start at the current end (GTID position), say which checksums and events we read.
  std::string quoted((*settings)[1].size() * 2 + 1, '\0');
  quoted.resize(mysql_real_escape_string(m, quoted.data(), (*settings)[1].data(), (*settings)[1].size()));
  const std::string setup =
      "SET @master_binlog_checksum = @@global.binlog_checksum, @mariadb_slave_capability = 4, "
      "@master_heartbeat_period = 1000000000, @slave_gtid_strict_mode = 0, "
      "@slave_connect_state = '" + quoted + "'";
  if (mysql_real_query(m, setup.data(), setup.size()) != 0) return QueryError(m, "SET for the binlog stream");

  RplHandle rpl(mariadb_rpl_init(m));
  if (!rpl) return QueryError(m, "mariadb_rpl_init");
  mariadb_rpl_optionsv(rpl.get(), MARIADB_RPL_SERVER_ID, ReplicaServerId());
  mariadb_rpl_optionsv(rpl.get(), MARIADB_RPL_FILENAME, "", std::size_t{0});  // GTID start
  mariadb_rpl_optionsv(rpl.get(), MARIADB_RPL_START, 4ul);
  mariadb_rpl_optionsv(rpl.get(), MARIADB_RPL_FLAGS, 0u);
  {
    std::lock_guard lock(mu_);
    if (stop_) return Status::Ok();
    socket_ = static_cast<int>(mysql_get_socket(m));
  }
  if (mariadb_rpl_open(rpl.get()) != 0) {
    const unsigned code = mysql_errno(m);
    if (code == ER_SPECIFIC_ACCESS_DENIED_ERROR || code == ER_ACCESS_DENIED_ERROR ||
        code == ER_DBACCESS_DENIED_ERROR) {
      return Status::PermissionDenied("user '" + db_.user + "' may not read the binary log (GRANT "
                                      "REPLICATION SLAVE ON *.* TO it): " + mysql_error(m));
    }
    return QueryError(m, "binlog dump");
  }
  SetState("binlog");
  BinlogBell bell(db_.database);
  int skipped = 0;  // events in a row Connector/C handed back as nothing
  for (;;) {
    RplEvent event(mariadb_rpl_fetch(rpl.get(), nullptr));
    {
      std::lock_guard lock(mu_);
      if (stop_) return Status::Ok();
    }
    if (!event) {
      if (mysql_errno(m) != 0) return QueryError(m, "binlog stream");
      // Connector/C skips some event types this way; a dead link errors on the
      // next read. An end-of-stream packet returns at once: never spin on it.
      if (++skipped > 1000) return Status::Unavailable("binlog stream: 1000 empty reads in a row");
      continue;
    }
    skipped = 0;
    bool ring = false;
    switch (event->event_type) {
      case TABLE_MAP_EVENT:
        ring = bell.TableMap(View(event->event.table_map.database));
        break;
      case QUERY_EVENT:
        ring = bell.Query(View(event->event.query.database), View(event->event.query.statement));
        break;
      case XID_EVENT:
        ring = bell.Xid();
        break;
      default:
        break;
    }
    if (ring) ring_();
  }
}

}  // namespace picket::sync
