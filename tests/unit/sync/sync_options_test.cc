#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "picket/sync/sync_command.h"

namespace picket::sync {
namespace {

Result<SyncOptions> Parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseSyncOptions(argv);
}

TEST_CASE("ParseSyncOptions: defaults and values") {
  auto o = Parse({"--db", "mysql://u:p@127.0.0.1:3306/picket", "--zk", "127.0.0.1:2181",
                  "--zk-open-acl"});
  REQUIRE(o.ok());
  CHECK(o->root == "/picket");
  CHECK(o->poll_interval == std::chrono::milliseconds(250));
  CHECK(o->reconcile_interval == std::chrono::seconds(60));
  auto custom = Parse({"--db", "mysql://u@h/d", "--zk", "a:1,b:2/chroot", "--root", "/p2",
                       "--poll-interval", "500ms", "--reconcile-interval", "30s",
                       "--session-timeout", "6s", "--zk-open-acl"});
  REQUIRE(custom.ok());
  CHECK(custom->root == "/p2");
  CHECK(custom->poll_interval == std::chrono::milliseconds(500));
  CHECK(custom->session_timeout == std::chrono::seconds(6));
}

TEST_CASE("ParseSyncOptions: errors name the flag and the value") {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--zk", "h:1"}, "--db is required"},
      {{"--db", "mysql://u@h/d"}, "--zk is required"},
      {{"--db", "mysql://u@h/d", "--zk", "nohost"}, "--zk nohost"},
      {{"--db", "mysql://u@h/d", "--zk", "h:1", "--root", "picket"}, "--root picket"},
      {{"--db", "mysql://u@h/d", "--zk", "h:1", "--poll-interval", "2s"}, "--poll-interval 2s"},
      {{"--db", "mysql://u@h/d", "--zk", "h:1", "--poll-interval", "soon"}, "--poll-interval soon"},
      {{"--db", "mysql://u@h/d", "--zk", "h:1", "--log-level", "loud"}, "--log-level loud"},
      {{"--db", "mysql://u@h/d", "--zk", "h:1", "--bogus", "1"}, "bogus"},
      {{"--db", "mysql://u@h/d", "--zk", "h:1"}, "--zk-open-acl"},
      {{"--db", "mysql://u@h/d", "--zk", "h:1"}, "without credentials"},
  };
  for (const auto& c : cases) {
    auto o = Parse(c.args);
    REQUIRE(!o.ok());
    CHECK_MESSAGE(o.status().message().find(c.expect) != std::string::npos, o.status().message());
  }
}

}  // namespace
}  // namespace picket::sync
