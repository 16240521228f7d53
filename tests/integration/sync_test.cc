// `picket sync` end to end: the built binary between a real MariaDB and a real
// ZooKeeper. Waits use deadlines (WaitFor), never fixed sleeps.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "integration/zk_test_support.h"
#include "picket/common/shared_job.h"
#include "picket/sync/db_url.h"
#include "picket/sync/mariadb_connection.h"
#include "support/mariadb_server.h"
#include "support/process_harness.h"
#include "support/zookeeper_server.h"

namespace picket::testing {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using Ms = std::chrono::milliseconds;

Ms Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - t);
}

class SyncFixture {
 public:
  // Starts both servers; false (with MESSAGE) when a prerequisite is missing.
  bool Start() {
    if (!ZooKeeperServer::MissingPrerequisite().empty() ||
        !MariaDbServer::MissingPrerequisite().empty()) {
      return false;
    }
    Status zk = zk_server.Start();
    REQUIRE_MESSAGE(zk.ok(), zk.ToString());
    Status db = db_server.Start(PICKET_SCHEMA_SQL);
    REQUIRE_MESSAGE(db.ok(), db.ToString());
    zk_client = OpenConnected(zk_server.hosts());
    sql = Connect();
    return true;
  }

  std::unique_ptr<sync::MariaDbConnection> Connect() {
    auto url = sync::ParseDbUrl(db_server.Url());
    REQUIRE(url.ok());
    auto c = sync::MariaDbConnection::Connect(*url);
    REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    return std::move(c).value();
  }

  void Exec(const std::string& statement, sync::MariaDbConnection* on = nullptr) {
    Status st = (on != nullptr ? on : sql.get())->Execute(statement);
    REQUIRE_MESSAGE(st.ok(), statement << ": " << st.ToString());
  }

  ChildProcess StartSync(const std::string& name, const std::string& session_timeout = "4s",
                         const std::string& poll = "250ms", const std::string& db_url = "") {
    auto child = ChildProcess::Spawn(
        {PICKET_BINARY_PATH, "sync", "--db", db_url.empty() ? db_server.Url() : db_url, "--zk",
         zk_server.hosts(), "--root", "/picket", "--poll-interval", poll, "--reconcile-interval", "60s",
         "--session-timeout", session_timeout, "--log-level", "debug",
         "--zk-open-acl"},  // this test is about sync, e2e.zk_acl about ACLs
        dir.path() + "/" + name + ".log");
    REQUIRE(child.ok());
    return std::move(child).value();
  }

  // gw-1's row pushed by "first", the leader; "second" stands by.
  struct LeaderAndStandby {
    ChildProcess first, second;
    std::int64_t v1;  // gw-1's row version
  };
  LeaderAndStandby StartLeaderAndStandby(const std::string& session_timeout = "4s") {
    Exec("INSERT INTO devices (id, config) VALUES ('gw-1', '{}')");
    ChildProcess first = StartSync("first", session_timeout);
    const std::int64_t v1 = RowVersion("devices", "gw-1");
    REQUIRE(WaitVersion("/picket/devices/gw-1/config", v1, 15s).count() >= 0);
    ChildProcess second = StartSync("second", session_timeout);
    REQUIRE(WaitFor([&] { return Log("second").find("standing for leader") != std::string::npos; },
                    After(15s)));
    return {std::move(first), std::move(second), v1};
  }

  std::optional<Json> Node(const std::string& path) {
    auto node = zk_client->Get(path);
    if (!node.ok()) return std::nullopt;
    Json doc = Json::parse(node->data, nullptr, false);
    if (doc.is_discarded()) return Json(node->data);
    return doc;
  }

  std::int64_t NodeVersion(const std::string& path) {
    auto doc = Node(path);
    if (!doc || !doc->is_object() || !doc->contains("version")) return -1;
    return (*doc)["version"].get<std::int64_t>();
  }

  std::int64_t RowVersion(const std::string& table, const std::string& key) {
    auto rows = sql->Query("SELECT version FROM " + table + " WHERE id = " + sql->Quote(key));
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    return std::stoll(*(*rows)[0][0]);
  }

  // Waits until the znode carries `version`; returns how long it took (or -1 ms).
  Ms WaitVersion(const std::string& path, std::int64_t version, Ms limit) {
    const auto start = std::chrono::steady_clock::now();
    if (!WaitFor([&] { return NodeVersion(path) >= version; }, After(limit))) return Ms(-1);
    return Since(start);
  }

  std::string Log(const std::string& name) {
    auto text = ReadWholeFile(dir.path() + "/" + name + ".log");
    return text.ok() ? *text : std::string();
  }

  TempDir dir;
  ZooKeeperServer zk_server;
  MariaDbServer db_server;
  std::unique_ptr<zk::ZkSession> zk_client;
  std::unique_ptr<sync::MariaDbConnection> sql;
};

#define PICKET_SYNC_FIXTURE(f)   \
  PICKET_REQUIRE_ZOOKEEPER();    \
  PICKET_REQUIRE_MARIADB();      \
  SyncFixture f;                 \
  REQUIRE(f.Start())

const std::string kGw1 = "/picket/devices/gw-1/config";

std::size_t Count(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST_CASE("sync: an UPDATE reaches the device znode within 1.5 s") {
  PICKET_SYNC_FIXTURE(f);
  f.Exec("INSERT INTO devices (id, group_name, config) VALUES "
         "('gw-1', 'lab', '{\"capture\":{\"filter\":\"tcp\"}}')");
  f.Exec("INSERT INTO device_groups (name, config) VALUES ('lab', '{\"log\":{\"level\":\"info\"}}')");
  ChildProcess sync = f.StartSync("sync");
  REQUIRE(f.WaitVersion(kGw1, f.RowVersion("devices", "gw-1"), 15s).count() >= 0);
  auto group_version = f.sql->Query("SELECT version FROM device_groups WHERE name = 'lab'");
  REQUIRE(group_version.ok());
  CHECK(f.NodeVersion("/picket/groups/lab/config") == std::stoll(*(*group_version)[0][0]));
  const std::int64_t inserted = f.RowVersion("devices", "gw-1");

  std::vector<long> latencies;
  for (int i = 0; i < 10; ++i) {
    const std::string filter = "tcp port " + std::to_string(8000 + i);
    f.Exec("UPDATE devices SET config = '{\"capture\":{\"filter\":\"" + filter +
           "\"}}' WHERE id = 'gw-1'");
    const auto committed = std::chrono::steady_clock::now();  // autocommit: UPDATE returned
    const std::int64_t version = f.RowVersion("devices", "gw-1");
    CHECK(version == inserted + 1 + i);  // UPDATE adds 1
    REQUIRE(WaitFor([&] { return f.NodeVersion(kGw1) >= version; }, After(1500ms)));
    latencies.push_back(Since(committed).count());
    auto doc = f.Node(kGw1);
    REQUIRE(doc);
    CHECK((*doc)["capture"]["filter"] == filter);
    CHECK((*doc)["version"] == version);
  }
  std::sort(latencies.begin(), latencies.end());
  MESSAGE("commit -> znode latency ms: min " << latencies.front() << " p50 "
          << latencies[latencies.size() / 2] << " max " << latencies.back());

  // A disabled device gets the document that stops capture and scans.
  f.Exec("UPDATE devices SET enabled = 0 WHERE id = 'gw-1'");
  const std::int64_t v = f.RowVersion("devices", "gw-1");
  REQUIRE(f.WaitVersion(kGw1, v, 1500ms).count() >= 0);
  CHECK(*f.Node(kGw1) == Json::parse(R"({"capture":{"enabled":false},"scans":[],"version":)" +
                                     std::to_string(v) + "}"));
  CHECK(sync.running());
}

TEST_CASE("sync: with the binary log on, a change is synced at its commit, not at the next poll") {
  PICKET_REQUIRE_ZOOKEEPER();
  PICKET_REQUIRE_MARIADB();
  SyncFixture f;
  f.db_server.EnableBinlog();
  REQUIRE(f.Start());
  f.Exec("INSERT INTO devices (id, config) VALUES ('gw-1', '{}')");
  // Polling every second (the longest allowed): only the doorbell makes most changes arrive
  // within a few ms, and none later than half a poll (all 20 by chance: 2^-20).
  ChildProcess sync = f.StartSync("sync", "4s", "1s");
  REQUIRE_MESSAGE(f.WaitVersion(kGw1, f.RowVersion("devices", "gw-1"), 15s).count() >= 0, f.Log("sync"));
  REQUIRE(WaitFor([&] { return f.Log("sync").find("following the binary log") != std::string::npos; },
                  After(15s)));
  std::vector<long> latencies;
  for (int i = 0; i < 20; ++i) {
    f.Exec("UPDATE devices SET config = '{\"capture\":{\"filter\":\"tcp port " +
           std::to_string(9000 + i) + "\"}}' WHERE id = 'gw-1'");
    const auto committed = std::chrono::steady_clock::now();
    const std::int64_t version = f.RowVersion("devices", "gw-1");
    REQUIRE_MESSAGE(WaitFor([&] { return f.NodeVersion(kGw1) >= version; }, After(2s)),
                    "change " << i << " not synced within 2 s; log:\n" << f.Log("sync"));
    latencies.push_back(Since(committed).count());
  }
  std::sort(latencies.begin(), latencies.end());
  MESSAGE("doorbell: commit -> znode ms: min " << latencies.front() << " p50 "
          << latencies[latencies.size() / 2] << " max " << latencies.back());
  CHECK(latencies[latencies.size() / 2] < 100);
  CHECK(latencies.back() < 500);

  // An account without REPLICATION SLAVE: told in the log, polling goes on.
  f.Exec("CREATE USER 'plain'@'127.0.0.1'");
  f.Exec("GRANT SELECT, INSERT, UPDATE, DELETE ON picket.* TO 'plain'@'127.0.0.1'");
  const std::string plain = "mysql://plain@127.0.0.1:" + std::to_string(f.db_server.port()) + "/picket";
  ChildProcess second = f.StartSync("plain", "4s", "250ms", plain);
  CHECK(WaitFor([&] {
    const std::string log = f.Log("plain");
    return log.find("doorbell off, polling only") != std::string::npos &&
           log.find("REPLICATION SLAVE") != std::string::npos;
  }, After(15s)));
  CHECK(sync.running());
  CHECK(second.running());
}

TEST_CASE("sync: without a binary log the doorbell says so and polling carries every change") {
  PICKET_SYNC_FIXTURE(f);
  f.Exec("INSERT INTO devices (id, config) VALUES ('gw-1', '{}')");
  ChildProcess sync = f.StartSync("sync");
  REQUIRE(f.WaitVersion(kGw1, f.RowVersion("devices", "gw-1"), 15s).count() >= 0);
  CHECK(WaitFor([&] { return f.Log("sync").find("binary log is off") != std::string::npos; },
                After(15s)));
  f.Exec("UPDATE devices SET enabled = 0 WHERE id = 'gw-1'");
  CHECK(f.WaitVersion(kGw1, f.RowVersion("devices", "gw-1"), 1500ms).count() >= 0);
}

TEST_CASE("sync: a later seq committed first does not hide the earlier one") {
  PICKET_SYNC_FIXTURE(f);
  ChildProcess sync = f.StartSync("sync");
  REQUIRE(WaitFor([&] { return f.Log("sync").find("reconciled") != std::string::npos; },
                  After(15s)));
  auto a = f.Connect();
  auto b = f.Connect();
  f.Exec("START TRANSACTION", a.get());
  f.Exec("INSERT INTO devices (id, config) VALUES ('gw-a', '{}')", a.get());  // smaller seq
  f.Exec("INSERT INTO devices (id, config) VALUES ('gw-b', '{}')", b.get());  // larger, commits first
  REQUIRE(f.WaitVersion("/picket/devices/gw-b/config", f.RowVersion("devices", "gw-b"), 1500ms)
              .count() >= 0);
  auto seqs = f.sql->Query("SELECT row_key, seq FROM config_changes ORDER BY seq");
  REQUIRE(seqs.ok());
  MESSAGE("visible hints before A commits: " << seqs->size());
  CHECK(f.NodeVersion("/picket/devices/gw-a/config") == -1);
  f.Exec("COMMIT", a.get());
  const auto committed = std::chrono::steady_clock::now();
  const std::int64_t version_a = f.RowVersion("devices", "gw-a");
  REQUIRE(WaitFor([&] { return f.NodeVersion("/picket/devices/gw-a/config") == version_a; },
                  After(1500ms)));
  MESSAGE("out-of-order commit -> znode latency ms: " << Since(committed).count());
  auto order = f.sql->Query(
      "SELECT (SELECT seq FROM config_changes WHERE row_key='gw-a') < "
      "(SELECT seq FROM config_changes WHERE row_key='gw-b')");
  REQUIRE(order.ok());
  CHECK(*(*order)[0][0] == "1");  // really the trap: gw-a holds the smaller seq
}

TEST_CASE("sync: deleted rows remove their znodes, not the device status") {
  PICKET_SYNC_FIXTURE(f);
  f.Exec("INSERT INTO devices (id, config) VALUES ('gw-1', '{}')");
  f.Exec("INSERT INTO scan_jobs (id, targets, ports, rate_pps, mode, shards, group_name, devices) "
         "VALUES ('sweep', '127.0.101.1-127.0.101.15', '8000-8100', 2000, 'connect', 4, 'lab', "
         "'gw-1, gw-2')");
  ChildProcess sync = f.StartSync("sync");
  REQUIRE(f.WaitVersion(kGw1, f.RowVersion("devices", "gw-1"), 15s).count() >= 0);
  REQUIRE(WaitFor([&] { return f.Node("/picket/jobs/sweep").has_value(); }, After(5s)));
  auto job = f.zk_client->Get("/picket/jobs/sweep");
  REQUIRE(job.ok());
  auto spec = ParseSharedJobSpec("sweep", job->data);  // exactly what devices parse
  REQUIRE_MESSAGE(spec.ok(), spec.status().ToString());
  CHECK(spec->shards == 4);
  CHECK(spec->devices == std::vector<std::string>{"gw-1", "gw-2"});
  CHECK(f.NodeVersion("/picket/sync/jobs/sweep") == f.RowVersion("scan_jobs", "sweep"));
  // Device-made children of the job and the device's status ephemeral.
  REQUIRE(CreateWithParents(*f.zk_client, "/picket/jobs/sweep/progress/1", "{}").ok());
  REQUIRE(f.zk_client->CreateEphemeral("/picket/devices/gw-1/status", "{}").ok());

  f.Exec("DELETE FROM devices WHERE id = 'gw-1'");
  f.Exec("DELETE FROM scan_jobs WHERE id = 'sweep'");
  const auto committed = std::chrono::steady_clock::now();
  // The job's version node goes last (a separate delete after the job's tree).
  REQUIRE(WaitFor(
      [&] {
        return !f.Node(kGw1) && !f.Node("/picket/jobs/sweep") && !f.Node("/picket/sync/jobs/sweep");
      },
      After(1500ms)));
  MESSAGE("delete -> znodes gone ms: " << Since(committed).count());
  CHECK(f.Node("/picket/devices/gw-1/status").has_value());
}

TEST_CASE("sync: an invalid config is not pushed and the sync node says why") {
  PICKET_SYNC_FIXTURE(f);
  f.Exec("INSERT INTO devices (id, config) VALUES ('gw-1', '{\"capture\":{\"filter\":\"tcp\"}}')");
  ChildProcess sync = f.StartSync("sync");
  const std::int64_t v1 = f.RowVersion("devices", "gw-1");
  REQUIRE(f.WaitVersion(kGw1, v1, 15s).count() >= 0);

  f.Exec("UPDATE devices SET config = '{\"capture\":{\"filter\":\"tcp port eighty\"}}' "
         "WHERE id = 'gw-1'");
  REQUIRE(WaitFor([&] { return f.NodeVersion("/picket/devices/gw-1/sync") == v1 + 1; }, After(1500ms)));
  auto why = f.Node("/picket/devices/gw-1/sync");
  REQUIRE(why);
  CHECK((*why)["error"].get<std::string>().find("eighty") != std::string::npos);
  CHECK((*why)["at_ms"].get<std::int64_t>() > 0);
  CHECK(f.NodeVersion(kGw1) == v1);
  CHECK((*f.Node(kGw1))["capture"]["filter"] == "tcp");

  f.Exec("UPDATE devices SET config = '{\"scans\":[{\"id\":\"s\",\"targets\":\"10.0.0.0/33\","
         "\"ports\":\"80\"}]}' WHERE id = 'gw-1'");
  REQUIRE(WaitFor([&] { return f.NodeVersion("/picket/devices/gw-1/sync") == v1 + 2; }, After(1500ms)));
  MESSAGE("refusal: " << (*f.Node("/picket/devices/gw-1/sync"))["error"].get<std::string>());
  CHECK((*f.Node("/picket/devices/gw-1/sync"))["error"].get<std::string>().find("/33") !=
        std::string::npos);
  CHECK(f.NodeVersion(kGw1) == v1);

  // A bad job: refused too, explained under sync/job-errors.
  f.Exec("INSERT INTO scan_jobs (id, targets, ports) VALUES ('bad', '10.0.0.0/33', '80')");
  REQUIRE(WaitFor([&] { return f.Node("/picket/sync/job-errors/bad").has_value(); }, After(1500ms)));
  CHECK(!f.Node("/picket/jobs/bad"));

  // Fixed: pushed, and the explanation goes away.
  f.Exec("UPDATE devices SET config = '{\"capture\":{\"filter\":\"tcp port 80\"}}' WHERE id = 'gw-1'");
  REQUIRE(f.WaitVersion(kGw1, v1 + 3, 1500ms).count() >= 0);
  REQUIRE(WaitFor([&] { return !f.Node("/picket/devices/gw-1/sync"); }, After(1500ms)));
}

TEST_CASE("sync: an older row never overwrites a newer znode") {
  PICKET_SYNC_FIXTURE(f);
  f.Exec("INSERT INTO devices (id, config) VALUES ('gw-1', '{}'), ('gw-2', '{}')");
  REQUIRE(CreateWithParents(*f.zk_client, kGw1,
                            R"({"capture":{"filter":"udp"},"version":9000000000000000})").ok());
  ChildProcess sync = f.StartSync("sync");
  const std::int64_t v2 = f.RowVersion("devices", "gw-2");
  REQUIRE(f.WaitVersion("/picket/devices/gw-2/config", v2, 15s).count() >= 0);
  f.Exec("UPDATE devices SET config = '{\"capture\":{\"filter\":\"tcp\"}}' WHERE id = 'gw-1'");
  f.Exec("UPDATE devices SET config = '{\"capture\":{\"filter\":\"tcp\"}}' WHERE id = 'gw-2'");
  // gw-2's push (hint seq after gw-1's) proves gw-1's hint was handled.
  REQUIRE(f.WaitVersion("/picket/devices/gw-2/config", v2 + 1, 1500ms).count() >= 0);
  CHECK(f.NodeVersion(kGw1) == 9000000000000000);
  CHECK((*f.Node(kGw1))["capture"]["filter"] == "udp");
}

TEST_CASE("sync: the standby takes over when the leader is killed") {
  PICKET_SYNC_FIXTURE(f);
  auto [first, second, v1] = f.StartLeaderAndStandby();
  auto children = f.zk_client->GetChildren("/picket/sync");
  REQUIRE(children.ok());
  CHECK(std::count_if(children->begin(), children->end(),
                      [](const std::string& c) { return c.size() == 17; }) == 2);
  CHECK(f.Log("second").find("leader now") == std::string::npos);

  // An edit while the standby only stands by is applied by the leader…
  f.Exec("UPDATE devices SET config = '{\"log\":{\"level\":\"debug\"}}' WHERE id = 'gw-1'");
  REQUIRE(f.WaitVersion(kGw1, v1 + 1, 1500ms).count() >= 0);

  REQUIRE(first.Signal(SIGKILL).ok());
  const auto killed = std::chrono::steady_clock::now();
  REQUIRE(first.WaitForExit(After(5s)).ok());
  // …and one made after the leader died is applied by the standby within the
  // session timeout (4 s): the dead leader's MariaDB lock went free with its
  // connection, so the standby deposes it without waiting for the expiry.
  f.Exec("UPDATE devices SET config = '{\"log\":{\"level\":\"warn\"}}' WHERE id = 'gw-1'");
  REQUIRE(f.WaitVersion(kGw1, v1 + 2, 4000ms).count() >= 0);
  MESSAGE("kill -9 leader -> edit applied by standby ms: " << Since(killed).count()
          << " (session timeout 4000)");
  CHECK(f.Log("second").find("deposing it") != std::string::npos);
  CHECK(f.Log("second").find("leader now") != std::string::npos);
}

TEST_CASE("sync: a frozen leader is replaced when its session expires and stands by after") {
  PICKET_SYNC_FIXTURE(f);
  auto [first, second, v1] = f.StartLeaderAndStandby();
  // Frozen, its MariaDB connection (and lock) stays open: only the session
  // expiry (4 s, rounded up to the server's 2 s tick) frees the line.
  REQUIRE(first.Signal(SIGSTOP).ok());
  const auto frozen = std::chrono::steady_clock::now();
  f.Exec("UPDATE devices SET config = '{\"log\":{\"level\":\"warn\"}}' WHERE id = 'gw-1'");
  REQUIRE(f.WaitVersion(kGw1, v1 + 1, 4000ms + 2000ms + 2000ms).count() >= 0);
  MESSAGE("SIGSTOP leader -> edit applied by standby ms: " << Since(frozen).count()
          << " (session timeout 4000, tickTime 2000)");
  CHECK(f.Log("second").find("deposing it") == std::string::npos);
  // Thawed, the old leader finds its session gone, stands by, and lets go of
  // the lock; the new leader then holds it and keeps applying edits.
  REQUIRE(first.Signal(SIGCONT).ok());
  REQUIRE(WaitFor([&] { return f.Log("first").find("lost leadership") != std::string::npos; },
                  After(15s)));
  REQUIRE(WaitFor([&] { return f.Log("second").find("holding the leader lock") != std::string::npos; },
                  After(15s)));
  f.Exec("UPDATE devices SET config = '{\"log\":{\"level\":\"error\"}}' WHERE id = 'gw-1'");
  REQUIRE(f.WaitVersion(kGw1, v1 + 2, 1500ms).count() >= 0);
}

TEST_CASE("sync: MariaDB restarted, the leader catches up and the standby leaves it alone") {
  PICKET_SYNC_FIXTURE(f);
  // 20 s sessions: the leader is frozen for a while below, and must keep its session.
  auto [first, second, v1] = f.StartLeaderAndStandby("20s");
  REQUIRE(WaitFor([&] { return f.Log("second").find("connected to MariaDB") != std::string::npos; },
                  After(10s)));
  // Frozen through the restart, the leader reconnects last: the standby finds
  // every lock free on its new connection before the leader takes its again.
  REQUIRE(first.Signal(SIGSTOP).ok());
  f.sql.reset();
  REQUIRE(f.db_server.Stop().ok());
  REQUIRE(WaitFor([&] { return f.Log("second").find("retrying with backoff") != std::string::npos; },
                  After(10s)));
  REQUIRE(f.db_server.Start(PICKET_SCHEMA_SQL).ok());
  const auto restarted = std::chrono::steady_clock::now();
  f.sql = f.Connect();
  REQUIRE(WaitFor([&] { return Count(f.Log("second"), "connected to MariaDB") >= 2; }, After(10s)));
  // The standby polls the lock (a SELECT) every 250 ms: let it look a few times.
  auto selects = [&] {
    auto rows = f.sql->Query("SHOW GLOBAL STATUS LIKE 'Com_select'");
    return rows.ok() && rows->size() == 1 ? std::stoll((*rows)[0][1].value_or("0")) : 0LL;
  };
  const long long before = selects();
  REQUIRE(WaitFor([&] { return selects() >= before + 6; }, After(10s)));
  REQUIRE(first.Signal(SIGCONT).ok());
  f.Exec("UPDATE devices SET config = '{\"capture\":{\"filter\":\"udp\"}}' WHERE id = 'gw-1'");
  f.Exec("INSERT INTO devices (id, config) VALUES ('gw-2', '{}')");
  REQUIRE(f.WaitVersion(kGw1, v1 + 1, 15s).count() >= 0);
  REQUIRE(f.WaitVersion("/picket/devices/gw-2/config", f.RowVersion("devices", "gw-2"), 15s).count() >= 0);
  MESSAGE("MariaDB back -> caught up ms (the leader frozen for part of it): "
          << Since(restarted).count());
  // Every lock was free while MariaDB was away: no reason to depose the leader.
  REQUIRE(WaitFor([&] { return Count(f.Log("first"), "holding the leader lock") >= 2; }, After(15s)));
  CHECK(f.Log("second").find("deposing it") == std::string::npos);
  CHECK(f.Log("first").find("lost leadership") == std::string::npos);
  CHECK(first.running());
  CHECK(second.running());
}

TEST_CASE("sync: ZooKeeper restarted, sync catches up") {
  PICKET_SYNC_FIXTURE(f);
  f.Exec("INSERT INTO devices (id, config) VALUES ('gw-1', '{}')");
  ChildProcess sync = f.StartSync("sync", "20s");
  const std::int64_t v1 = f.RowVersion("devices", "gw-1");
  REQUIRE(f.WaitVersion(kGw1, v1, 15s).count() >= 0);
  f.zk_client.reset();
  REQUIRE(f.zk_server.Stop().ok());
  f.Exec("UPDATE devices SET config = '{\"capture\":{\"filter\":\"udp\"}}' WHERE id = 'gw-1'");
  REQUIRE(f.zk_server.Start().ok());
  const auto restarted = std::chrono::steady_clock::now();
  f.zk_client = OpenConnected(f.zk_server.hosts());
  REQUIRE(f.WaitVersion(kGw1, v1 + 1, 20s).count() >= 0);
  MESSAGE("ZooKeeper back -> caught up ms: " << Since(restarted).count());
  CHECK(sync.running());
}

}  // namespace
}  // namespace picket::testing
