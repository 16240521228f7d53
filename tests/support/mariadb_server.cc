#include "support/mariadb_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace picket::testing {
namespace {

constexpr const char* kServer = "/usr/sbin/mariadbd";
constexpr const char* kInstall = "/usr/bin/mariadb-install-db";
constexpr const char* kClient = "/usr/bin/mariadb";

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

std::string MariaDbServer::MissingPrerequisite() {
  for (const char* tool : {kServer, kInstall, kClient}) {
    if (access(tool, X_OK) != 0) {
      return std::string(tool) + " not found (apt-get install mariadb-server mariadb-client)";
    }
  }
  return {};
}

MariaDbServer::MariaDbServer() = default;
MariaDbServer::~MariaDbServer() { (void)Stop(); }

Status MariaDbServer::RunTool(const std::vector<std::string>& argv, const std::string& log) {
  auto child = ChildProcess::Spawn(argv, log);
  if (!child.ok()) return child.status();
  auto rc = child->WaitForExit(After(std::chrono::seconds(60)));
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    // The temp dir goes with the test: the log's tail goes into the message.
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > 1500) text = text.substr(text.size() - 1500);
    return Status::Internal(argv[0] + " exited with " + std::to_string(*rc) + "; " + log +
                            " ends with:\n" + text);
  }
  return Status::Ok();
}

Status MariaDbServer::Start(const std::string& schema_path) {
  if (child_) return Status::FailedPrecondition("mariadb already running");
  const std::string& d = dir_.path();
  const bool first = port_ == 0;
  if (first) {
    port_ = FreeLoopbackPort();
    if (port_ == 0) return Status::Unavailable("no free port on 127.0.0.1");
    const std::vector<std::string> install = {kInstall, "--no-defaults", "--user=root",
                                              "--datadir=" + d + "/data",
                                              "--auth-root-authentication-method=normal",
                                              "--skip-test-db"};
    Status installed = RunTool(install, d + "/install.log");
    if (!installed.ok()) {
      // Seen failing twice in full runs under load, its log gone with the temp dir: one
      // more try on an empty data dir, and both reasons when that fails too.
      std::error_code ignored;
      std::filesystem::remove_all(d + "/data", ignored);
      Status again = RunTool(install, d + "/install-again.log");
      if (!again.ok()) {
        return Status::Internal(installed.ToString() + "\nand again: " + again.ToString());
      }
    }
  }
  std::vector<std::string> argv = {
      kServer, "--no-defaults", "--user=root", "--datadir=" + d + "/data",
      "--socket=" + d + "/mysql.sock", "--port=" + std::to_string(port_),
      "--bind-address=127.0.0.1", "--pid-file=" + d + "/mariadbd.pid",
      "--log-error=" + d + "/error.log", "--skip-name-resolve", "--innodb-buffer-pool-size=32M"};
  if (binlog_) {
    argv.insert(argv.end(), {"--log-bin=" + d + "/data/binlog", "--server-id=1", "--binlog-format=ROW"});
  }
  auto child = ChildProcess::Spawn(argv, d + "/mariadbd-" + std::to_string(++starts_) + ".out");
  if (!child.ok()) return child.status();
  child_.emplace(std::move(child).value());
  const bool ready = WaitFor([&] { return !child_->running() || Accepts(port_); },
                             After(std::chrono::seconds(30)));
  if (!ready || !child_->running()) {
    (void)Stop();
    return Status::Unavailable("mariadbd did not listen on port " + std::to_string(port_) +
                               " (see " + d + "/error.log)");
  }
  if (first) {
    const std::string port = "-P" + std::to_string(port_);
    PICKET_RETURN_IF_ERROR(RunTool({kClient, "--no-defaults", "-h127.0.0.1", port, "-uroot", "-e",
                                    "CREATE DATABASE picket"},
                                   d + "/createdb.log"));
    PICKET_RETURN_IF_ERROR(RunTool({kClient, "--no-defaults", "-h127.0.0.1", port, "-uroot",
                                    "picket", "-e", "source " + schema_path},
                                   d + "/schema.log"));
  }
  return Status::Ok();
}

Status MariaDbServer::Stop() {
  if (!child_) return Status::Ok();
  auto rc = child_->Stop(After(std::chrono::seconds(20)));  // SIGTERM, then SIGKILL, by PID
  child_.reset();
  return rc.ok() ? Status::Ok() : rc.status();
}

}  // namespace picket::testing
