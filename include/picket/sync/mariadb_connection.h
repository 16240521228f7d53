// One MariaDB connection (Connector/C, text protocol over TCP) for the sync
// loop. Errors come back as Unavailable (server gone, timeouts: reconnect and
// retry) or Internal/InvalidArgument (SQL or schema problems), with the
// server's message. Not thread-safe: one owner thread. The Connector/C handle
// stays in the .cc, so no MYSQL type reaches include/.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/status.h"
#include "picket/sync/db_url.h"

namespace picket::sync {

using SqlValue = std::optional<std::string>;  // nullopt: SQL NULL
using SqlRow = std::vector<SqlValue>;

class MariaDbConnection {
 public:
  // Connects with short timeouts (connect 3 s, read/write 10 s).
  static Result<std::unique_ptr<MariaDbConnection>> Connect(const DbUrl& url);
  ~MariaDbConnection();
  MariaDbConnection(const MariaDbConnection&) = delete;
  MariaDbConnection& operator=(const MariaDbConnection&) = delete;

  // Runs one statement and returns every row (empty for statements without a result).
  Result<std::vector<SqlRow>> Query(std::string_view sql);
  Status Execute(std::string_view sql);
  // 'text' with quotes, escaped for this connection's character set.
  std::string Quote(std::string_view text);

 private:
  struct Handle;  // owns the MYSQL connection
  MariaDbConnection(std::unique_ptr<Handle> handle, std::string where);
  Status Error(std::string_view what);

  std::unique_ptr<Handle> handle_;
  std::string where_;  // the redacted URL, for messages
};

}  // namespace picket::sync
