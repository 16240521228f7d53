// A ZooKeeper document laid over the local file: validation, the keys only
// the device may set, and what a change takes to apply.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "supervisor/incoming_config.h"

namespace picket::supervisor {
namespace {

DaemonConfig Local() {
  DaemonConfig c;
  c.device.id = "gw-1";
  c.device.group = "lab";
  c.buffer.dir = "/tmp/picket-local";
  c.zookeeper.hosts = "127.0.0.1:22181";
  c.zookeeper.auth_user = "gw-1";  // ZooKeeper without credentials is refused
  c.zookeeper.auth_password_file = "/etc/picketd/zk.password";
  c.capture.filter = "udp";
  return c;
}

ConfigCheck Check(std::string_view doc, std::int64_t version = 7, std::string* out = nullptr) {
  return CheckZooKeeperConfig(Local(), doc, version, out);
}

TEST_CASE("ZooKeeper config: laid over the local file, version from ZooKeeper") {
  std::string effective;
  ConfigCheck c = Check(R"({"capture":{"filter":"tcp port 80"}})", 7, &effective);
  REQUIRE(c.ok());
  CHECK(c.config.capture.filter == "tcp port 80");
  CHECK(c.config.capture.interface == "lo");
  CHECK(c.config.version == 7);
  CHECK(nlohmann::json::parse(effective)["version"] == 7);
  CHECK(Check("").ok());    // a missing node: the local file as it is
  CHECK(Check("{}").config.capture.filter == "udp");
}

// 200,000 levels fit in a znode; merging and dumping them overflowed the
// stack (zk_documents_fuzzer). Refused as any invalid document is.
TEST_CASE("ZooKeeper config: a document nested too deep is refused, not merged") {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  ConfigCheck c = Check(R"({"capture":{"x":)" + deep + "}}");
  REQUIRE_FALSE(c.ok());
  CHECK(c.errors.at(0).message.find("32") != std::string::npos);
}

TEST_CASE("ZooKeeper config: identity, ZooKeeper settings and buffer dir stay local") {
  ConfigCheck c = Check(
      R"({"device":{"id":"evil","group":"other"},"buffer":{"dir":"/"},"zookeeper":{"hosts":""}})");
  REQUIRE(c.ok());
  CHECK(c.config.device.id == "gw-1");
  CHECK(c.config.device.group == "lab");
  CHECK(c.config.buffer.dir == "/tmp/picket-local");
  CHECK(c.config.zookeeper.hosts == "127.0.0.1:22181");
}

TEST_CASE("ZooKeeper config: refused documents name the field and value") {
  struct Case { const char* doc; const char* path; const char* mentions; };
  const Case cases[] = {
      {"{not json", "/", ""},
      {"[1,2]", "/", ""},
      {R"({"capture":{"filter":"tcp port eighty"}})", "/capture/filter", "eighty"},
      {R"({"capture":{"snaplen":"big"}})", "/capture/snaplen", "big"},
      {R"({"scans":[{"id":"a","targets":"10.0.0.1/33","ports":"80"}]})", "/scans/0/targets", "10.0.0.1/33"},
      {R"({"upload":{"collectors":["ftp://x"]}})", "/upload/collectors/0", "ftp://x"},
  };
  for (const auto& k : cases) {
    CAPTURE(k.doc);
    ConfigCheck c = Check(k.doc);
    REQUIRE_FALSE(c.ok());
    const std::string all = c.ToStatus().message();
    CHECK(all.find(k.path) != std::string::npos);
    CHECK(all.find(k.mentions) != std::string::npos);
  }
}

TEST_CASE("ZooKeeper config: what a change takes") {
  DaemonConfig a = Local(), b = Local();
  CHECK_FALSE(CompareConfigs(a, b).any());
  b.capture.filter = "tcp";
  ConfigDelta d = CompareConfigs(a, b);
  CHECK(d.filter_only);
  CHECK_FALSE(d.restart_worker);
  b.capture.snaplen = 128;
  d = CompareConfigs(a, b);
  CHECK(d.restart_worker);
  CHECK_FALSE(d.filter_only);
  DaemonConfig c = Local();
  c.upload.threads = 4;
  d = CompareConfigs(a, c);
  CHECK(d.uploads);
  CHECK_FALSE(d.restart_worker);
  c = Local();
  c.upload.collectors = {"http://127.0.0.1:9000"};
  d = CompareConfigs(a, c);
  CHECK(d.uploads);
  CHECK(d.restart_worker);  // the capture must exclude the new collector
  c = Local();
  c.log.level = log::Level::kDebug;
  CHECK(CompareConfigs(a, c).log_level);
  c = Local();
  c.version = 99;
  CHECK_FALSE(CompareConfigs(a, c).any());  // only the version: nothing to redo
}

}  // namespace
}  // namespace picket::supervisor
