// A private MariaDB server for tests (research/sync-anchors.md §6.2): its own
// datadir in a temp dir, --no-defaults, 127.0.0.1 on a free port, passwordless
// root over TCP. Started and stopped by PID; Restart keeps datadir and port.
#pragma once

#include <optional>
#include <string>

#include "picket/common/status.h"
#include "support/process_harness.h"
#include "support/require_server.h"

namespace picket::testing {

class MariaDbServer {
 public:
  // Empty when mariadbd, mariadb-install-db or the mariadb client is missing.
  static std::string MissingPrerequisite();

  MariaDbServer();
  ~MariaDbServer();  // stops the server by PID

  // The first start initialises the datadir, creates database `picket` and
  // loads `schema_path` (config/schema.sql) with the mariadb client.
  Status Start(const std::string& schema_path);
  // Before Start: the server keeps a binary log (row format), as `picket sync`'s doorbell reads.
  void EnableBinlog() { binlog_ = true; }
  Status Stop();
  bool running() const { return child_.has_value(); }
  int port() const { return port_; }
  std::string Url() const { return "mysql://root@127.0.0.1:" + std::to_string(port_) + "/picket"; }

 private:
  Status RunTool(const std::vector<std::string>& argv, const std::string& log);

  TempDir dir_;
  int port_ = 0;
  int starts_ = 0;
  bool binlog_ = false;
  std::optional<ChildProcess> child_;
};

#define PICKET_REQUIRE_MARIADB() \
  PICKET_REQUIRE_SERVER(::picket::testing::MariaDbServer::MissingPrerequisite())

}  // namespace picket::testing
