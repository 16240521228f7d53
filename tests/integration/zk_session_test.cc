// ZkSession against a real ZooKeeper: node operations, the truncation pitfall,
// one-shot watches re-armed by reading, a server restart inside the session
// timeout, and a forced session expiry.
#include <doctest/doctest.h>
#include <zookeeper/zookeeper.h>

#include <atomic>
#include <thread>

#include "integration/zk_test_support.h"
#include "support/zookeeper_server.h"

namespace picket::testing {
namespace {

using namespace std::chrono_literals;

TEST_CASE("ZkSession: node operations and error mapping on a real server") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts());
  CHECK(s->state() == zk::SessionState::kConnected);

  REQUIRE(s->Create("/t", "hello").ok());
  auto got = s->Get("/t");
  REQUIRE(got.ok());
  CHECK(got->data == "hello");
  CHECK(got->version == 0);
  CHECK(s->Create("/t", "x").code() == StatusCode::kAlreadyExists);
  CHECK(s->Set("/t", "v1", 0).ok());
  Status stale = s->Set("/t", "v2", 0);
  CHECK(stale.code() == StatusCode::kConflict);
  CHECK(stale.message().find("/t") != std::string::npos);
  CHECK(s->Get("/t")->version == 1);

  auto missing = s->Get("/nope");
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message().find("/nope") != std::string::npos);
  CHECK(s->Exists("/t").value());
  CHECK_FALSE(s->Exists("/nope").value());

  REQUIRE(s->Create("/t/a", "").ok());
  REQUIRE(s->CreateEphemeral("/t/b", "e").ok());
  auto children = s->GetChildren("/t");
  REQUIRE(children.ok());
  CHECK(children->size() == 2);
  CHECK(s->Create("/t/b/c", "").code() == StatusCode::kFailedPrecondition);  // child of ephemeral
  CHECK(s->Delete("/t").code() == StatusCode::kFailedPrecondition);          // not empty
  CHECK(s->Delete("/t/a", 5).code() == StatusCode::kConflict);
  CHECK(s->Delete("/t/a").ok());
  CHECK(s->Delete("/t/a").code() == StatusCode::kNotFound);

  // Bigger than the first read buffer: zoo_get would truncate silently.
  std::string big(900 * 1024, 'x');
  big[big.size() - 1] = 'y';
  REQUIRE(s->Create("/big", big).ok());
  auto big_read = s->Get("/big");
  REQUIRE(big_read.ok());
  CHECK(big_read->data.size() == big.size());
  CHECK(big_read->data == big);

  // Empty and null data.
  REQUIRE(s->Create("/empty", "").ok());
  CHECK(s->Get("/empty")->data.empty());
}

TEST_CASE("ZkSession: EnsurePath and atomic multi-operations") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts());
  REQUIRE(s->EnsurePath("/a/b/c").ok());
  REQUIRE(s->EnsurePath("/a/b/c").ok());  // exists already: fine
  CHECK(s->Exists("/a/b/c").value());
  CHECK(s->EnsurePath("relative").code() == StatusCode::kInvalidArgument);

  // A shard is finished with one transaction: done created, claim deleted.
  REQUIRE(s->CreateEphemeral("/a/claim", "me", zk::ZkSession::Lifetime::kThisSession).ok());
  using Op = zk::ZkSession::Op;
  REQUIRE(s->Multi({{Op::kCreate, "/a/done", "42"}, {Op::kDelete, "/a/claim"}}).ok());
  CHECK(s->Get("/a/done")->data == "42");
  CHECK_FALSE(s->Exists("/a/claim").value());

  // All or nothing: the second op fails, so the first is not applied either.
  Status failed = s->Multi({{Op::kCreate, "/a/other", "x"}, {Op::kDelete, "/a/claim"}});
  CHECK(failed.code() == StatusCode::kNotFound);
  CHECK(failed.message().find("/a/claim") != std::string::npos);
  CHECK_FALSE(s->Exists("/a/other").value());
  Status stale = s->Multi({{Op::kSet, "/a/done", "43", 7}});
  CHECK(stale.code() == StatusCode::kConflict);
  REQUIRE(s->Multi({{Op::kCheck, "/a/done", "", 0}, {Op::kSet, "/a/done", "43", 0}}).ok());
  CHECK(s->Get("/a/done")->data == "43");
}

TEST_CASE("ZkSession: a watch fires once per change and re-arms itself") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts());
  auto writer = OpenConnected(zk.hosts());
  REQUIRE(writer->Create("/w", "v0").ok());

  WatchRecorder rec;
  s->Watch("/w", rec.Callback());
  REQUIRE(rec.WaitForCount(1, 5s));  // the initial read
  CHECK(rec.last().data == "v0");

  for (int i = 1; i <= 5; ++i) {
    CAPTURE(i);
    REQUIRE(writer->Set("/w", "v" + std::to_string(i)).ok());
    REQUIRE(rec.WaitForCount(static_cast<std::size_t>(i + 1), 2s));
    CHECK(rec.last().data == "v" + std::to_string(i));
    CHECK(rec.last().version == i);
    std::this_thread::sleep_for(150ms);  // nothing more arrives for one change
    CHECK(rec.count() == static_cast<std::size_t>(i + 1));
  }

  // Deleted, then created again: the exists watch covers the missing node.
  REQUIRE(writer->Delete("/w").ok());
  REQUIRE(rec.WaitForCount(7, 2s));
  CHECK_FALSE(rec.last().exists);
  REQUIRE(writer->Create("/w", "back").ok());
  REQUIRE(rec.WaitForCount(8, 2s));
  CHECK(rec.last().exists);
  CHECK(rec.last().data == "back");

  // A watch on a node that does not exist yet.
  WatchRecorder later;
  auto id = s->Watch("/later", later.Callback());
  REQUIRE(later.WaitForCount(1, 5s));
  CHECK_FALSE(later.last().exists);
  REQUIRE(writer->Create("/later", "now").ok());
  REQUIRE(later.WaitForCount(2, 2s));
  CHECK(later.last().data == "now");
  s->Unwatch(id);
  REQUIRE(writer->Set("/later", "ignored").ok());
  std::this_thread::sleep_for(200ms);
  CHECK(later.count() == 2);
}

TEST_CASE("ZkSession: a child watch lists the children once per change, data changes aside") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts());
  auto writer = OpenConnected(zk.hosts());

  WatchRecorder rec;
  s->WatchChildren("/jobs", rec.Callback());
  REQUIRE(rec.WaitForCount(1, 5s));
  CHECK_FALSE(rec.last().exists);  // missing: the exists watch (and the absent poll) covers it
  REQUIRE(writer->Create("/jobs", "").ok());
  REQUIRE(rec.WaitForCount(2, 3s));
  CHECK(rec.last().exists);
  CHECK(rec.last().children.empty());

  REQUIRE(writer->Create("/jobs/b", "").ok());
  REQUIRE(rec.WaitForCount(3, 2s));
  REQUIRE(writer->Create("/jobs/a", "").ok());
  REQUIRE(rec.WaitForCount(4, 2s));
  CHECK(rec.last().children == std::vector<std::string>{"a", "b"});  // sorted
  // A child's data and the node's own data are not its children: no event for them.
  REQUIRE(writer->Set("/jobs/a", "spec").ok());
  REQUIRE(writer->Set("/jobs", "x").ok());
  REQUIRE(writer->Delete("/jobs/b").ok());
  REQUIRE(rec.WaitForCount(5, 2s));
  CHECK(rec.last().children == std::vector<std::string>{"a"});
  CHECK(rec.count() == 5);
}

TEST_CASE("ZkSession: GetMany pipelines reads beyond its window, missing nodes as nullopt") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts());
  REQUIRE(s->Create("/m", "").ok());
  std::vector<std::string> paths;
  for (int i = 0; i < 1200; ++i) {  // more than the 512 in flight
    const std::string path = "/m/n" + std::to_string(i);
    if (i % 3 != 0) REQUIRE(s->Create(path, "v" + std::to_string(i)).ok());
    paths.push_back(path);
  }
  std::string big(900 * 1024, 'b');
  REQUIRE(s->Create("/m/big", big).ok());
  paths.push_back("/m/big");
  auto nodes = s->GetMany(paths);
  REQUIRE(nodes.ok());
  REQUIRE(nodes->size() == paths.size());
  for (int i = 0; i < 1200; ++i) {
    CAPTURE(i);
    if (i % 3 == 0) {
      CHECK_FALSE((*nodes)[i].has_value());
    } else {
      REQUIRE((*nodes)[i].has_value());
      CHECK((*nodes)[i]->data == "v" + std::to_string(i));
    }
  }
  CHECK(nodes->back()->data.size() == big.size());
  CHECK(s->GetMany({}).value().empty());
  auto bad = s->GetMany({"/m/n1", "not-a-path"});
  CHECK_FALSE(bad.ok());
  CHECK(bad.status().message().find("not-a-path") != std::string::npos);
}

TEST_CASE("ZkSession: a watch keeps working across a server restart") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts(), 20'000);
  REQUIRE(s->Create("/r", "before").ok());
  REQUIRE(s->CreateEphemeral("/eph", "me").ok());
  WatchRecorder rec;
  s->Watch("/r", rec.Callback());
  REQUIRE(rec.WaitForCount(1, 5s));

  REQUIRE(zk.Stop().ok());
  CHECK(WaitFor([&] { return s->state() == zk::SessionState::kConnecting; }, After(15s)));
  CHECK(s->Get("/r").status().code() == StatusCode::kUnavailable);
  REQUIRE(zk.Start().ok());  // same port and dataDir, within the session timeout
  REQUIRE(s->WaitConnected(20s));
  CHECK(s->session_count() == 1);  // the same session: no rebuild
  CHECK(s->Exists("/eph").value());
  CHECK(rec.count() == 1);         // nothing changed meanwhile: nothing delivered

  auto writer = OpenConnected(zk.hosts());
  REQUIRE(writer->Set("/r", "after").ok());
  REQUIRE(rec.WaitForCount(2, 2s));
  CHECK(rec.last().data == "after");
  REQUIRE(writer->Set("/r", "again").ok());
  REQUIRE(rec.WaitForCount(3, 2s));
  CHECK(rec.last().data == "again");
}

TEST_CASE("ZkSession: credentials given while the server is down are used once it is up") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  {
    auto owner = zk::ZkSession::Open({zk.hosts(), 10'000, "alice", "secret-pw"});
    REQUIRE(owner.ok());
    REQUIRE((*owner)->WaitConnected(15s));
    REQUIRE((*owner)->Create("/mine", "x").ok());  // creator-only ACL: alice's
  }
  REQUIRE(zk.Stop().ok());
  // Refused connects mark the handle closed between attempts, and the library
  // refuses zoo_add_auth then: the credentials must still reach the session.
  auto s = zk::ZkSession::Open({zk.hosts(), 10'000, "alice", "secret-pw"});
  REQUIRE(s.ok());
  CHECK((*s)->Get("/mine").status().code() == StatusCode::kUnavailable);
  REQUIRE(zk.Start().ok());
  REQUIRE((*s)->WaitConnected(20s));
  auto mine = (*s)->Get("/mine");
  REQUIRE_MESSAGE(mine.ok(), mine.status().ToString());
  CHECK(mine->data == "x");
  auto anonymous = OpenConnected(zk.hosts());
  CHECK_FALSE(anonymous->Get("/mine").ok());  // the ACL holds: it was alice who read it
}

void IgnoreEvents(zhandle_t*, int, int, const char*, void*) {}

TEST_CASE("ZkSession: recovers from a forced session expiry") {
  PICKET_REQUIRE_ZOOKEEPER();
  ZooKeeperServer zk;
  REQUIRE(zk.Start().ok());
  auto s = OpenConnected(zk.hosts(), 6'000);
  std::atomic<bool> saw_expired{false};
  s->SetStateListener([&](zk::SessionState st) {
    if (st == zk::SessionState::kExpired) saw_expired = true;
  });
  auto writer = OpenConnected(zk.hosts());
  REQUIRE(writer->Create("/x", "v0").ok());
  REQUIRE(s->CreateEphemeral("/alive", "status-1").ok());
  REQUIRE(s->Set("/alive", "status-2").ok());  // re-created with the latest data
  REQUIRE(s->CreateEphemeral("/claim", "mine", zk::ZkSession::Lifetime::kThisSession).ok());
  WatchRecorder rec;
  s->Watch("/x", rec.Callback());
  REQUIRE(rec.WaitForCount(1, 5s));
  const std::int64_t old_id = s->session_id();

  // A second handle with the same session id and password, closed once fully
  // CONNECTED, expires the session for the first one. The first client may
  // reconnect and displace the thief before its close goes out (then the
  // session lives on), so the theft is tried up to three times.
  clientid_t id{};
  id.client_id = old_id;
  std::string password = s->session_password();
  std::copy(password.begin(), password.end(), id.passwd);
  // The first client notices within about a session timeout (6 s) when it works.
  bool stole_once = false, expired = false;
  for (int attempt = 0; attempt < 3 && !expired; ++attempt) {
    if ((expired = s->session_count() == 2)) break;
    zhandle_t* thief = zookeeper_init(zk.hosts().c_str(), &IgnoreEvents, 6'000, &id, nullptr, 0);
    REQUIRE(thief != nullptr);
    // A thief that cannot connect finds the session already expired by the last one.
    stole_once |= WaitFor([&] { return zoo_state(thief) == ZOO_CONNECTED_STATE; }, After(10s));
    zookeeper_close(thief);
    expired = WaitFor([&] { return s->session_count() == 2; }, After(10s));
  }
  REQUIRE(stole_once);
  REQUIRE(expired);
  REQUIRE(s->WaitConnected(15s));
  CHECK(s->session_id() != old_id);
  CHECK(saw_expired);
  REQUIRE(WaitFor([&] { auto e = writer->Exists("/alive"); return e.ok() && *e; }, After(5s)));
  CHECK(writer->Get("/alive")->data == "status-2");
  CHECK_FALSE(writer->Exists("/claim").value());  // a claim must be won again

  std::size_t before = rec.count();
  REQUIRE(writer->Set("/x", "after-expiry").ok());
  REQUIRE(rec.WaitForCount(before + 1, 2s));
  CHECK(rec.last().data == "after-expiry");
}

}  // namespace
}  // namespace picket::testing
