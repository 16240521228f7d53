// The operator commands (`picket devices`, `config`, `scan`) end to end: the
// built binary against a real MariaDB and a real ZooKeeper started by the
// test. ZooKeeper trees that devices would write (status, claims, progress,
// done) are created by hand. Waits use deadlines, never fixed sleeps.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/zk_test_support.h"
#include "picket/sync/db_url.h"
#include "picket/sync/mariadb_connection.h"
#include "support/mariadb_server.h"
#include "support/process_harness.h"
#include "support/zookeeper_server.h"

namespace picket::testing {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

struct Run {
  int code = -1;
  std::string output;  // stdout and stderr together
};

bool Has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

class CliFixture {
 public:
  bool Start() {
    if (!ZooKeeperServer::MissingPrerequisite().empty() ||
        !MariaDbServer::MissingPrerequisite().empty()) {
      return false;
    }
    // An empty CLI config: every address comes from flags, never from $HOME.
    REQUIRE(WriteWholeFile(dir.path() + "/cli.json", "{}").ok());
    ::setenv("PICKET_CLI_CONFIG", (dir.path() + "/cli.json").c_str(), 1);
    ::unsetenv("PICKET_DB_PASSWORD");
    Status zk = zk_server.Start();
    REQUIRE_MESSAGE(zk.ok(), zk.ToString());
    Status db = db_server.Start(PICKET_SCHEMA_SQL);
    REQUIRE_MESSAGE(db.ok(), db.ToString());
    zk_client = OpenConnected(zk_server.hosts());
    auto url = sync::ParseDbUrl(db_server.Url());
    REQUIRE(url.ok());
    auto c = sync::MariaDbConnection::Connect(*url);
    REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    sql = std::move(c).value();
    return true;
  }

  Run Picket(std::vector<std::string> args) {
    args.insert(args.begin(), PICKET_BINARY_PATH);
    const std::string log = dir.path() + "/run-" + std::to_string(++runs_) + ".log";
    auto child = ChildProcess::Spawn(args, log);
    REQUIRE(child.ok());
    auto code = child->WaitForExit(After(30s));
    REQUIRE_MESSAGE(code.ok(), code.status().ToString());
    Run r;
    r.code = *code;
    auto text = ReadWholeFile(log);
    r.output = text.ok() ? *text : std::string();
    return r;
  }

  std::vector<sync::SqlRow> Rows(const std::string& query) {
    auto rows = sql->Query(query);
    REQUIRE_MESSAGE(rows.ok(), query << ": " << rows.status().ToString());
    return *rows;
  }

  void Exec(const std::string& statement) {
    Status st = sql->Execute(statement);
    REQUIRE_MESSAGE(st.ok(), statement << ": " << st.ToString());
  }

  void Node(const std::string& path, const std::string& data) {
    Status st = CreateWithParents(*zk_client, path, data);
    REQUIRE_MESSAGE(st.ok(), path << ": " << st.ToString());
  }

  TempDir dir;
  ZooKeeperServer zk_server;
  MariaDbServer db_server;
  std::unique_ptr<zk::ZkSession> zk_client;
  std::unique_ptr<sync::MariaDbConnection> sql;

 private:
  int runs_ = 0;
};

#define PICKET_CLI_FIXTURE(f) \
  PICKET_REQUIRE_ZOOKEEPER(); \
  PICKET_REQUIRE_MARIADB();   \
  CliFixture f;               \
  REQUIRE(f.Start())

TEST_CASE(
    "cli: config set refuses an invalid config and writes nothing, then applies a valid one") {
  PICKET_CLI_FIXTURE(f);
  f.Exec(
      "INSERT INTO devices (id, group_name, config) VALUES "
      "('gw-1', 'lab', '{\"capture\":{\"filter\":\"tcp\"}}')");
  const auto before = f.Rows("SELECT config, version FROM devices WHERE id = 'gw-1'");
  REQUIRE(before.size() == 1);
  const std::string url = f.db_server.Url();

  Run bad =
      f.Picket({"config", "set", "gw-1", "--json", R"({"capture":{"snaplen":3}})", "--db", url});
  CHECK(bad.code == 1);
  CHECK_MESSAGE(Has(bad.output, "/capture/snaplen"), bad.output);
  CHECK_MESSAGE(Has(bad.output, "3"), bad.output);
  CHECK_MESSAGE(Has(bad.output, "nothing written"), bad.output);
  const auto unchanged = f.Rows("SELECT config, version FROM devices WHERE id = 'gw-1'");
  CHECK(*unchanged[0][0] == *before[0][0]);
  CHECK(*unchanged[0][1] == *before[0][1]);

  const std::string file = f.dir.path() + "/good.json";
  REQUIRE(WriteWholeFile(file, R"({"capture":{"filter":"tcp port 80"}})").ok());
  Run good = f.Picket({"config", "set", "gw-1", "--file", file, "--db", url});
  CHECK_MESSAGE(good.code == 0, good.output);
  const auto after = f.Rows("SELECT config, version FROM devices WHERE id = 'gw-1'");
  const long long old_version = std::stoll(*before[0][1]);
  const long long new_version = std::stoll(*after[0][1]);
  CHECK(new_version == old_version + 1);
  CHECK_MESSAGE(Has(good.output, std::to_string(new_version)), good.output);
  CHECK(Json::parse(*after[0][0]) == Json::parse(R"({"capture":{"filter":"tcp port 80"}})"));

  Run get = f.Picket({"config", "get", "gw-1", "--db", url});
  CHECK(get.code == 0);
  CHECK_MESSAGE(Has(get.output, "tcp port 80"), get.output);

  Run group = f.Picket(
      {"config", "set", "--group", "lab", "--json", R"({"log":{"level":"info"}})", "--db", url});
  CHECK_MESSAGE(group.code == 0, group.output);
  CHECK(Has(group.output, "group lab: created"));
  CHECK(f.Rows("SELECT name FROM device_groups WHERE name = 'lab'").size() == 1);

  Run missing = f.Picket({"config", "get", "gw-404", "--db", url});
  CHECK(missing.code == 1);
  CHECK(Has(missing.output, "gw-404"));

  Run bad_db = f.Picket({"config", "get", "gw-1", "--db", "postgres://x"});
  CHECK(bad_db.code == 2);
  CHECK_MESSAGE(Has(bad_db.output, "--db"), bad_db.output);
}

TEST_CASE("cli: scan submit inserts a row that picket sync mirrors to ZooKeeper, cancel removes it") {
  PICKET_CLI_FIXTURE(f);
  const std::string url = f.db_server.Url();
  Run invalid = f.Picket({"scan", "submit", "--targets", "not-an-ip", "--ports", "80", "--rate",
                          "100", "--shards", "2", "--id", "bad-job", "--db", url});
  CHECK(invalid.code == 1);
  CHECK_MESSAGE(Has(invalid.output, "/targets"), invalid.output);
  CHECK(f.Rows("SELECT id FROM scan_jobs").empty());

  Run bad_rate = f.Picket({"scan", "submit", "--targets", "127.0.0.1", "--ports", "80", "--rate",
                           "fast", "--shards", "2", "--db", url});
  CHECK(bad_rate.code == 2);
  CHECK_MESSAGE(Has(bad_rate.output, "--rate 'fast'"), bad_rate.output);

  Run generated = f.Picket({"scan", "submit", "--targets", "127.0.0.1", "--ports", "80", "--rate",
                            "100", "--shards", "1", "--db", url});
  CHECK_MESSAGE(generated.code == 0, generated.output);
  CHECK(generated.output.rfind("scan-", 0) == 0);

  auto sync =
      // --zk-open-acl (here and below): this test is about the CLI's output, e2e.zk_acl about ACLs.
      ChildProcess::Spawn({PICKET_BINARY_PATH, "sync", "--db", url, "--zk", f.zk_server.hosts(),
                           "--root", "/picket", "--poll-interval", "250ms", "--zk-open-acl"},
                          f.dir.path() + "/sync.log");
  REQUIRE(sync.ok());
  // Device rows, or submit warns that no listed device can take the job.
  f.Rows("INSERT INTO devices (id, config) VALUES ('gw-1', '{}'), ('gw-2', '{}')");
  Run ok = f.Picket({"scan",      "submit",    "--targets",      "127.0.101.1-127.0.101.15",
                     "--ports",   "8000-8100", "--rate",         "2000",
                     "--shards",  "4",         "--mode",         "connect",
                     "--devices", "gw-1,gw-2", "--max-parallel", "2",
                     "--id",      "sweep",     "--db",           url});
  CHECK_MESSAGE(ok.code == 0, ok.output);
  CHECK(ok.output == "sweep\n");
  const auto rows = f.Rows(
      "SELECT shards, mode, devices, max_parallel_shards FROM scan_jobs "
      "WHERE id = 'sweep'");
  REQUIRE(rows.size() == 1);
  CHECK(*rows[0][0] == "4");
  CHECK(*rows[0][1] == "connect");
  CHECK(*rows[0][3] == "2");
  CHECK(WaitFor(
      [&] {
        auto exists = f.zk_client->Exists("/picket/jobs/sweep");
        return exists.ok() && *exists;
      },
      After(15s)));
  auto node = f.zk_client->Get("/picket/jobs/sweep");
  REQUIRE(node.ok());
  Json spec = Json::parse(node->data);
  CHECK(spec["shards"] == 4);
  CHECK(spec["devices"] == Json::array({"gw-1", "gw-2"}));

  Run again = f.Picket({"scan", "submit", "--targets", "127.0.0.1", "--ports", "80", "--rate",
                        "100", "--shards", "1", "--id", "sweep", "--db", url});
  CHECK(again.code == 1);
  CHECK(Has(again.output, "exists already"));

  // Cancelled: the row stays (state 'cancelled'), sync removes the job's tree.
  Run cancel = f.Picket({"scan", "cancel", "sweep", "--db", url});
  CHECK_MESSAGE(cancel.code == 0, cancel.output);
  CHECK(Has(cancel.output, "job sweep cancelled"));
  CHECK(*f.Rows("SELECT state FROM scan_jobs WHERE id = 'sweep'")[0][0] == "cancelled");
  CHECK(WaitFor(
      [&] {
        auto exists = f.zk_client->Exists("/picket/jobs/sweep");
        return exists.ok() && !*exists;
      },
      After(15s)));
  Run twice = f.Picket({"scan", "cancel", "sweep", "--db", url});
  CHECK(twice.code == 0);
  CHECK(Has(twice.output, "cancelled already"));
  Run unknown = f.Picket({"scan", "cancel", "nope", "--db", url});
  CHECK(unknown.code == 1);
  CHECK_MESSAGE(Has(unknown.output, "no job 'nope'"), unknown.output);
  CHECK(sync->Stop(After(10s)).ok());
}

TEST_CASE("cli: scan status and devices read trees written by devices") {
  PICKET_CLI_FIXTURE(f);
  const std::string zk = f.zk_server.hosts();
  // The tree is written anonymously (world:anyone): the CLI reads it with credentials (--json
  // runs: stdout must be JSON alone) or with --zk-open-acl (table runs: the warning is logged).
  const std::string password_file = f.dir.path() + "/zk.password";
  {
    std::ofstream(password_file) << "admin-password\n";
    REQUIRE(::chmod(password_file.c_str(), 0600) == 0);
  }
  f.Node("/picket/jobs/sweep",
         R"({"targets":"127.0.101.1-127.0.101.15","ports":"8000-8100","rate_pps":2000,)"
         R"("mode":"connect","shards":4})");
  f.Node("/picket/jobs/sweep/done/0",
         R"({"device":"gw-1","results":17,"checkpoint":379,"finished_at_ms":1})");
  f.Node("/picket/jobs/sweep/claims/1", R"({"device":"gw-2","session":1,"at_ms":1})");
  f.Node("/picket/jobs/sweep/progress/1", R"({"checkpoint":120,"device":"gw-2","at_ms":1})");
  f.Node("/picket/jobs/sweep/progress/3", R"({"checkpoint":40,"device":"gw-1","at_ms":1})");
  // gw-2's status reports the size of the shard it scans.
  f.Node("/picket/devices/gw-2/status",
         R"({"device":"gw-2","group":"lab","config":{"applied_version":7},)"
         R"("worker":{"state":"running"},"counters":{"bytes_pending":2048},)"
         R"("scan":[{"job":"sweep","shard":1,"done":130,"total":379,"checkpoint":120}]})");
  f.Node("/picket/devices/gw-2/config", R"({"version":8})");
  f.Node("/picket/devices/gw-2/sync", R"({"version":8,"error":"/capture/filter: bad","at_ms":1})");
  f.Node("/picket/devices/gw-3/config", R"({"version":5})");

  Run status = f.Picket({"scan", "status", "sweep", "--zk", zk, "--zk-open-acl"});
  CHECK_MESSAGE(status.code == 0, status.output);
  INFO(status.output);
  CHECK(Has(status.output, "0      done     gw-1"));
  CHECK(Has(status.output, "1      claimed  gw-2    120/379 (31%)"));
  CHECK(Has(status.output, "2      waiting  -"));
  CHECK(Has(status.output, "3      waiting  -       40"));
  CHECK(Has(status.output, "job sweep: 1/4 shards done, 1 claimed, 2 waiting; 17 results"));

  Run status_json = f.Picket({"scan", "status", "sweep", "--json", "--zk", zk, "--zk-user", "admin",
                              "--zk-password-file", password_file});
  REQUIRE(status_json.code == 0);
  Json j = Json::parse(status_json.output);
  CHECK(j["done"] == 1);
  CHECK(j["shard_states"][1]["device"] == "gw-2");
  CHECK(j["shard_states"][1]["total"] == 379);

  Run unknown = f.Picket({"scan", "status", "nope", "--zk", zk, "--zk-open-acl"});
  CHECK(unknown.code == 1);
  CHECK(Has(unknown.output, "/picket/jobs/nope"));

  Run devices = f.Picket({"devices", "--zk", zk, "--zk-open-acl"});
  CHECK_MESSAGE(devices.code == 0, devices.output);
  INFO(devices.output);
  CHECK(Has(devices.output, "gw-2    lab    yes    -       7 -> 8"));
  CHECK(Has(devices.output, "2048"));
  CHECK(Has(devices.output, "running"));
  CHECK(Has(devices.output, "sync refused device row version 8: /capture/filter: bad"));
  CHECK(Has(devices.output, "gw-3    -      no     -       - -> 5"));
  CHECK(Has(devices.output, "UNSAFE: ZooKeeper without credentials"));

  Run devices_json = f.Picket({"devices", "--json", "--zk", zk, "--zk-user", "admin",
                               "--zk-password-file", password_file});
  REQUIRE(devices_json.code == 0);
  Json d = Json::parse(devices_json.output);
  REQUIRE(d.size() == 2);
  CHECK(d[0]["id"] == "gw-2");
  CHECK(d[0]["alive"] == true);
  CHECK(d[1]["alive"] == false);

  Run no_zk = f.Picket({"devices"});
  CHECK(no_zk.code == 2);
  CHECK_MESSAGE(Has(no_zk.output, "--zk"), no_zk.output);

  Run no_credentials = f.Picket({"devices", "--zk", zk});
  CHECK(no_credentials.code == 2);
  CHECK_MESSAGE(Has(no_credentials.output, "without credentials"), no_credentials.output);
  CHECK_MESSAGE(Has(no_credentials.output, "--zk-open-acl"), no_credentials.output);
}

}  // namespace
}  // namespace picket::testing
