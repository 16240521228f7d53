// A standalone ZooKeeper 3.8 server (Debian's zookeeper.jar under java) for
// tests: 127.0.0.1 only, a free port, a temp dataDir, no admin server. Started
// and stopped by PID through the process harness; ready once `ruok` → `imok`.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "picket/common/status.h"
#include "support/process_harness.h"
#include "support/require_server.h"

namespace picket::testing {

class ZooKeeperServer {
 public:
  // Empty when java or /usr/share/java/zookeeper.jar is missing.
  static std::string MissingPrerequisite();

  ZooKeeperServer();
  ~ZooKeeperServer();  // stops the server by PID

  // Picks the port on the first start; Restart keeps port and dataDir.
  Status Start();
  Status Stop();
  bool running() const { return child_.has_value(); }
  int port() const { return port_; }
  std::string hosts() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  int port_ = 0;
  int starts_ = 0;
  std::optional<ChildProcess> child_;
};

// Sends a four-letter word to 127.0.0.1:port and returns the reply ("" on failure).
std::string FourLetterWord(int port, const std::string& word);

// Skips (MESSAGE + return) or fails under CI=true when ZooKeeper cannot run here.
#define PICKET_REQUIRE_ZOOKEEPER() \
  PICKET_REQUIRE_SERVER(::picket::testing::ZooKeeperServer::MissingPrerequisite())

}  // namespace picket::testing
