// The real `picket collector` registering itself in a real ZooKeeper
// (DESIGN.md §3): the node appears with the advertised URL, goes on SIGTERM,
// waits for an earlier holder of its id, comes once ZooKeeper does; and
// zk::ListCollectorUrls on junk nodes.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/zk_test_support.h"
#include "picket/common/log.h"
#include "picket/zk/collector_directory.h"
#include "support/collector_process.h"
#include "support/zookeeper_server.h"

namespace picket::testing {
namespace {

using namespace std::chrono_literals;
using Urls = std::vector<std::string>;

// The collector's ZooKeeper session timeout (ZkRegistrationOptions default).
constexpr auto kSessionTimeout = 10s;

std::unique_ptr<CollectorProcess> StartRegistered(const std::string& hosts, const std::string& id,
                                                  const std::string& advertise) {
  auto c = CollectorProcess::Start(
      // --zk-open-acl: this test is about registration, not ACLs (e2e.zk_acl is).
      {"", {"--zk", hosts, "--zk-root", "/reg", "--advertise", advertise, "--collector-id", id,
            "--zk-open-acl"}});
  if (!c.ok()) FAIL("collector did not start: " << c.status().ToString());
  return std::move(c).value();
}

// Waits until ListCollectorUrls(/reg) returns `want`.
bool WaitForUrls(zk::ZkSession& s, const Urls& want, Deadline deadline) {
  return WaitFor(
      [&] {
        auto urls = zk::ListCollectorUrls(s, "/reg");
        return urls.ok() && *urls == want;
      },
      deadline);
}

bool LogContains(CollectorProcess& c, const std::string& text) {
  return c.Log().find(text) != std::string::npos;
}

TEST_CASE("collector registration: the node carries the advertised URL and goes on SIGTERM") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts());

  const std::string advertise = "http://127.0.0.1:8750/ingest";
  auto c = StartRegistered(zk.hosts(), "coll-a", advertise);
  CHECK_MESSAGE(WaitForUrls(*s, {advertise}, After(20s)), c->Log());

  auto node = s->Get("/reg/collectors/coll-a");
  REQUIRE(node.ok());
  auto doc = nlohmann::json::parse(node->data, nullptr, false);
  REQUIRE(doc.is_object());
  CHECK(doc.value("url", "") == advertise);
  CHECK(doc.value("id", "") == "coll-a");
  const std::string started_at = doc.value("started_at", "");
  CHECK(started_at.size() == 24);  // 2026-11-21T10:36:03.123Z
  CHECK(started_at.back() == 'Z');

  // Deleted before the process exits, not when the session times out.
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(c->process().Signal(SIGTERM).ok());
  auto code = c->process().WaitForExit(After(kSessionTimeout / 2));
  REQUIRE(code.ok());
  CHECK(*code == 0);
  CHECK_FALSE(s->Exists("/reg/collectors/coll-a").value());
  CHECK(std::chrono::steady_clock::now() - t0 < kSessionTimeout / 2);
  CHECK(zk::ListCollectorUrls(*s, "/reg")->empty());
  CHECK_MESSAGE(LogContains(*c, "unregistered from ZooKeeper"), c->Log());
}

TEST_CASE("collector registration: serves while ZooKeeper is down, registers once it is up") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());  // picks the port, kept across restarts
  REQUIRE(zk.Stop().ok());

  // CollectorProcess::Start returns once the collector listens.
  auto c = StartRegistered(zk.hosts(), "coll-b", "http://10.0.0.7:8750");
  CHECK(c->process().running());

  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts());
  CHECK_MESSAGE(WaitForUrls(*s, {"http://10.0.0.7:8750"}, After(30s)), c->Log());
  CHECK(LogContains(*c, "ZooKeeper registration pending"));
}

TEST_CASE("collector registration: waits for an earlier holder of its id, then registers") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts());
  const std::string path = "/reg/collectors/coll-c";
  const std::string stale = R"({"url":"http://127.0.0.1:1111","id":"coll-c"})";
  REQUIRE(s->EnsurePath("/reg/collectors").ok());
  REQUIRE(s->CreateEphemeral(path, stale).ok());

  auto c = StartRegistered(zk.hosts(), "coll-c", "http://127.0.0.1:2222");
  REQUIRE_MESSAGE(WaitFor([&] { return LogContains(*c, "exists already"); }, After(20s)), c->Log());
  CHECK(s->Get(path)->data == stale);  // never deleted by the newcomer

  REQUIRE(s->Delete(path).ok());  // the earlier holder's session ends
  CHECK_MESSAGE(WaitForUrls(*s, {"http://127.0.0.1:2222"}, After(kSessionTimeout)), c->Log());
}

TEST_CASE("collector registration: an id held by another live session is a startup error") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts());
  REQUIRE(s->EnsurePath("/reg/collectors").ok());
  REQUIRE(s->CreateEphemeral("/reg/collectors/coll-d", R"({"url":"http://127.0.0.1:1"})").ok());

  auto c = StartRegistered(zk.hosts(), "coll-d", "http://127.0.0.1:3333");
  // Gives up after the session timeout plus the server's expiry tick.
  auto code = c->process().WaitForExit(After(kSessionTimeout + 20s));
  REQUIRE_MESSAGE(code.ok(), c->Log());
  CHECK(*code == 1);
  CHECK_MESSAGE(LogContains(*c, "picket collector: ZooKeeper node /reg/collectors/coll-d"),
                c->Log());
  CHECK(zk::ListCollectorUrls(*s, "/reg").value() == Urls{"http://127.0.0.1:1"});
}

TEST_CASE("collector registration: bad flags exit 2 naming the flag and value") {
  TempDir dir;
  struct Case {
    std::vector<std::string> flags;
    std::vector<std::string> expected;  // substrings of the error line
  };
  const std::vector<Case> cases = {
      {{"--zk", "127.0.0.1:1", "--advertise", "ftp://collector:21"},
       {"--advertise", "ftp://collector:21", "http or https"}},
      {{"--zk", "127.0.0.1:1", "--advertise", "http://"}, {"--advertise", "'http://'"}},
      {{"--zk", "127.0.0.1:1"}, {"--advertise URL is required with --zk"}},
      {{"--advertise", "http://127.0.0.1:1"}, {"--advertise needs --zk"}},
      {{"--zk", "127.0.0.1", "--advertise", "http://127.0.0.1:1"}, {"--zk 127.0.0.1"}},
      {{"--zk", "127.0.0.1:1", "--advertise", "http://127.0.0.1:1", "--zk-root", "picket"},
       {"--zk-root picket"}},
      {{"--zk", "127.0.0.1:1", "--advertise", "http://127.0.0.1:1", "--collector-id", "a/b"},
       {"--collector-id a/b"}},
      {{"--zk", "127.0.0.1:1", "--advertise", "http://127.0.0.1:1"},
       {"without credentials", "--zk-user", "--zk-open-acl"}},
      {{"--zk-open-acl"}, {"--zk-open-acl needs --zk"}},
  };
  int n = 0;
  for (const Case& k : cases) {
    CAPTURE(k.flags.back());
    std::vector<std::string> argv = {PicketBinary(),      "collector", "--listen",
                                     "127.0.0.1:0",       "--data",    dir.path() + "/data",
                                     "--insecure-no-auth"};
    argv.insert(argv.end(), k.flags.begin(), k.flags.end());
    const std::string log = dir.path() + "/log" + std::to_string(n++);
    auto child = ChildProcess::Spawn(argv, log);
    REQUIRE(child.ok());
    auto code = child->WaitForExit(After(10s));
    REQUIRE(code.ok());
    CHECK(*code == 2);
    const std::string text = ReadWholeFile(log).value();
    for (const std::string& e : k.expected) CHECK_MESSAGE(text.find(e) != std::string::npos, text);
  }
}

TEST_CASE("ListCollectorUrls: missing directory, junk nodes, duplicates") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts());

  auto none = zk::ListCollectorUrls(*s, "/nothing");
  REQUIRE(none.ok());
  CHECK(none->empty());

  REQUIRE(s->EnsurePath("/dir/collectors").ok());
  CHECK(zk::ListCollectorUrls(*s, "/dir").value().empty());
  const std::vector<std::pair<std::string, std::string>> nodes = {
      {"b", R"({"url":"http://b.example:8750","id":"b"})"},
      {"a", R"({"url":"http://a.example:8750"})"},
      {"a-again", R"({"url":"http://a.example:8750/"})"},  // same after normalising
      {"text", "not json"},
      {"empty", ""},
      {"array", R"(["http://x.example"])"},
      {"no-url", R"({"id":"no-url"})"},
      {"number", R"({"url":8750})"},
      {"ftp", R"({"url":"ftp://f.example"})"},
  };
  for (const auto& [name, data] : nodes) REQUIRE(s->Create("/dir/collectors/" + name, data).ok());

  struct Counter {
    std::atomic<int> ignored{0};
  } counter;
  log::SetLineObserver(
      [](std::string_view line, void* ctx) {
        if (line.find("ignoring a collector node") != std::string_view::npos) {
          static_cast<Counter*>(ctx)->ignored++;
        }
      },
      &counter);
  auto first = zk::ListCollectorUrls(*s, "/dir");
  auto second = zk::ListCollectorUrls(*s, "/dir");
  log::SetLineObserver(nullptr, nullptr);

  REQUIRE(first.ok());
  CHECK(*first == Urls{"http://a.example:8750", "http://b.example:8750"});
  REQUIRE(second.ok());
  CHECK(*second == *first);
  CHECK(counter.ignored == 6);  // each junk node once, not again on the second listing
}

}  // namespace
}  // namespace picket::testing
