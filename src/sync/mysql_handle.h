// The Connector/C connection both the sync loop's MariaDbConnection and the
// binlog doorbell open: TCP only, utf8mb4, short timeouts. Internal to the
// sync module (MYSQL stays out of include/).
#pragma once

#include <mysql.h>

#include "picket/common/c_handle.h"
#include "picket/common/status.h"
#include "picket/sync/db_url.h"

namespace picket::sync {

using MysqlHandle = CHandle<MYSQL, mysql_close>;

// Connect timeout 3 s; reads and writes time out after `io_timeout_s`.
// PermissionDenied / NotFound (no such database) / Unavailable, naming the
// redacted URL and the server's message.
Result<MysqlHandle> ConnectMysql(const DbUrl& url, unsigned io_timeout_s);

}  // namespace picket::sync
