#include "support/zookeeper_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace picket::testing {
namespace {

constexpr const char* kJar = "/usr/share/java/zookeeper.jar";

std::string FindJava() {
  const char* java_home = std::getenv("JAVA_HOME");
  if (java_home != nullptr && *java_home != '\0') {
    std::string p = std::string(java_home) + "/bin/java";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string p = dir + "/java";
    if (!dir.empty() && access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

}  // namespace

std::string FourLetterWord(int port, const std::string& word) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      send(fd, word.data(), word.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(word.size())) {
    char buf[512];
    pollfd pfd{fd, POLLIN, 0};
    while (poll(&pfd, 1, 1000) > 0) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      reply.append(buf, static_cast<std::size_t>(n));
    }
  }
  close(fd);
  return reply;
}

std::string ZooKeeperServer::MissingPrerequisite() {
  if (FindJava().empty()) return "java not found (apt-get install default-jre-headless)";
  if (access(kJar, R_OK) != 0) return std::string(kJar) + " not found (apt-get install zookeeper)";
  return {};
}

ZooKeeperServer::ZooKeeperServer() = default;

ZooKeeperServer::~ZooKeeperServer() { (void)Stop(); }

Status ZooKeeperServer::Start() {
  if (child_) return Status::FailedPrecondition("zookeeper already running");
  const std::string& d = dir_.path();
  if (port_ == 0) {
    port_ = FreeLoopbackPort();
    if (port_ == 0) return Status::Unavailable("no free port on 127.0.0.1");
    std::filesystem::create_directories(d + "/data");
    std::filesystem::create_directories(d + "/conf");
    std::ostringstream cfg;
    cfg << "tickTime=2000\ninitLimit=10\nsyncLimit=5\n"
        << "dataDir=" << d << "/data\n"
        << "clientPort=" << port_ << "\nclientPortAddress=127.0.0.1\n"
        << "admin.enableServer=false\n"
        << "4lw.commands.whitelist=ruok,srvr,stat,mntr,cons,wchs\n"
        << "maxClientCnxns=0\n";
    PICKET_RETURN_IF_ERROR(WriteWholeFile(d + "/conf/zoo.cfg", cfg.str()));
    std::error_code ec;
    std::filesystem::copy_file("/etc/zookeeper/conf_example/log4j.properties",
                               d + "/conf/log4j.properties", ec);  // optional: logs only
  }
  std::string cp = d + "/conf:" + kJar;
  for (const char* jar : {"/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"}) {
    if (access(jar, R_OK) == 0) cp += std::string(":") + jar;
  }
  // -XX:-UsePerfData: no /tmp/hsperfdata_<user>/<pid> file left behind.
  std::vector<std::string> argv = {FindJava(), "-Xmx256m", "-XX:-UsePerfData", "-cp", cp,
                                   "-Dzookeeper.log.dir=" + d,
                                   "-Dzookeeper.root.logger=INFO,CONSOLE",
                                   "-Dzookeeper.jmx.log4j.disable=true",
                                   "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                                   d + "/conf/zoo.cfg"};
  auto child = ChildProcess::Spawn(argv, d + "/zk-" + std::to_string(++starts_) + ".out");
  if (!child.ok()) return child.status();
  child_.emplace(std::move(child).value());
  bool ready = WaitFor(
      [&] { return !child_->running() || FourLetterWord(port_, "ruok") == "imok"; },
      After(std::chrono::seconds(30)));
  if (!ready || !child_->running()) {
    (void)Stop();
    return Status::Unavailable("zookeeper did not answer ruok on port " + std::to_string(port_) +
                               " (see " + d + "/zk-" + std::to_string(starts_) + ".out)");
  }
  // Serving once srvr reports the mode (shortly after imok).
  WaitFor([&] { return FourLetterWord(port_, "srvr").find("Mode:") != std::string::npos; },
          After(std::chrono::seconds(10)));
  return Status::Ok();
}

Status ZooKeeperServer::Stop() {
  if (!child_) return Status::Ok();
  auto rc = child_->Stop(After(std::chrono::seconds(10)));  // SIGTERM, then SIGKILL, by PID
  child_.reset();
  return rc.ok() ? Status::Ok() : rc.status();
}

}  // namespace picket::testing
