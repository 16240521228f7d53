#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "picket/common/shared_job.h"
#include "picket/sync/change_cursor.h"
#include "picket/sync/db_url.h"
#include "picket/sync/sync_documents.h"

namespace picket::sync {
namespace {

using Json = nlohmann::json;

TEST_CASE("ParseDbUrl: the parts of mysql://USER:PASS@HOST:PORT/DB") {
  auto url = ParseDbUrl("mysql://picket:s3cr%40t@127.0.0.1:23306/picket");
  REQUIRE(url.ok());
  CHECK(url->user == "picket");
  CHECK(url->password == "s3cr@t");
  CHECK(url->host == "127.0.0.1");
  CHECK(url->port == 23306);
  CHECK(url->database == "picket");
  CHECK(url->Redacted() == "mysql://picket:***@127.0.0.1:23306/picket");

  auto plain = ParseDbUrl("mysql://root@db.lan/cfg");
  REQUIRE(plain.ok());
  CHECK(plain->password.empty());
  CHECK(plain->port == 3306);
  CHECK(plain->Redacted() == "mysql://root@db.lan:3306/cfg");

  auto v6 = ParseDbUrl("mysql://u:p@[::1]:3307/d");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 3307);
}

TEST_CASE("ParseDbUrl: errors name the problem, never the password") {
  for (const char* bad : {"postgres://u:hunter2@h/d", "mysql://u:hunter2@h", "mysql://u:hunter2@h:0/d",
                          "mysql://u:hunter2@h:70000/d", "mysql://u:hunter2@/d", "mysql://:hunter2@h/d",
                          "mysql://u:hunter2@h/d;drop", "mysql://u:hunter2@h:/d", "mysql://u:hunt%zz@h/d",
                          "mysql://u:hunter2@h/d?ssl=1"}) {
    auto url = ParseDbUrl(bad);
    CHECK_MESSAGE(!url.ok(), bad);
    CHECK(url.status().code() == StatusCode::kInvalidArgument);
    CHECK(url.status().message().find("--db") != std::string::npos);
    CHECK(url.status().message().find("hunter2") == std::string::npos);
  }
}

TEST_CASE("BuildDeviceDocument: config + version, validated like picketd") {
  DeviceRow row{"gw-1", "lab", true, R"({"capture":{"filter":"tcp port 80"}})", 7};
  auto doc = BuildDeviceDocument(row);
  REQUIRE(doc.ok());
  CHECK(Json::parse(*doc) == Json::parse(R"({"capture":{"filter":"tcp port 80"},"version":7})"));

  row.config = R"({"capture":{"filter":"tcp port eighty"}})";
  auto bad = BuildDeviceDocument(row);
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("/capture/filter") != std::string::npos);

  row.config = R"({"scans":[{"id":"s","targets":"10.0.0.0/33","ports":"80"}]})";
  CHECK(!BuildDeviceDocument(row).ok());
  row.config = "[1,2]";
  CHECK(BuildDeviceDocument(row).status().message().find("not a JSON object") != std::string::npos);
  row.config = "{nope";
  CHECK(BuildDeviceDocument(row).status().message().find("not valid JSON") != std::string::npos);
  row.config = "";
  CHECK(Json::parse(*BuildDeviceDocument(row)) == Json::parse(R"({"version":7})"));
}

TEST_CASE("BuildDeviceDocument: a disabled device stops capture and scans") {
  DeviceRow row{"gw-1", "", false, R"({"capture":{"filter":"tcp port eighty"}})", 3};
  auto doc = BuildDeviceDocument(row);
  REQUIRE(doc.ok());  // the stored (bad) config does not matter while disabled
  CHECK(Json::parse(*doc) ==
        Json::parse(R"({"capture":{"enabled":false},"scans":[],"version":3})"));
}

TEST_CASE("BuildGroupDocument: validated too") {
  CHECK(BuildGroupDocument({"lab", R"({"log":{"level":"debug"}})", 2}).ok());
  CHECK(!BuildGroupDocument({"lab", R"({"log":{"level":"loud"}})", 2}).ok());
}

TEST_CASE("BuildJobDocument: the spec devices parse, device lists as CSV or JSON") {
  JobRow row;
  row.id = "sweep";
  row.targets = "127.0.101.1-127.0.101.15";
  row.ports = "8000-8100";
  row.rate_pps = 2000;
  row.mode = "connect";
  row.shards = 4;
  row.banners = 0;
  row.group = "lab";
  row.devices = " gw-1, gw-2 ,";
  row.version = 9;
  auto doc = BuildJobDocument(row);
  REQUIRE_MESSAGE(doc.ok(), doc.status().ToString());
  Json j = Json::parse(*doc);
  CHECK(!j.contains("version"));  // devices refuse unknown keys
  CHECK(j["devices"] == Json::parse(R"(["gw-1","gw-2"])"));
  CHECK(j["banners"] == false);
  auto spec = ParseSharedJobSpec("sweep", *doc);
  REQUIRE(spec.ok());
  CHECK(spec->shards == 4);
  CHECK(spec->group == "lab");

  row.devices = R"(["gw-3"])";
  CHECK(Json::parse(*BuildJobDocument(row))["devices"] == Json::parse(R"(["gw-3"])"));
  row.devices = "";
  CHECK(!Json::parse(*BuildJobDocument(row)).contains("devices"));

  row.targets = "10.0.0.0/33";
  auto bad = BuildJobDocument(row);
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("/targets") != std::string::npos);
  row.targets = "10.0.0.1";
  row.mode.reset();  // NULL: the connect scan `picket scan submit` defaults to as well
  CHECK(Json::parse(*BuildJobDocument(row))["mode"] == "connect");
  row.mode = "fast";
  CHECK(!BuildJobDocument(row).ok());

  row.state = "paused";
  CHECK(!JobIsActive(row));
  row.state = "active";
  CHECK(JobIsActive(row));
}

TEST_CASE("DecideWrite: compare-and-set on the embedded version") {
  CHECK(DecideWrite(std::nullopt, 1) == WriteDecision::kCreate);
  CHECK(DecideWrite(std::string(R"({"version":4})"), 5) == WriteDecision::kSet);
  CHECK(DecideWrite(std::string(R"({"version":5})"), 5) == WriteDecision::kUpToDate);
  CHECK(DecideWrite(std::string(R"({"version":9})"), 5) == WriteDecision::kUpToDate);
  // No usable version: sync's row wins.
  CHECK(DecideWrite(std::string(""), 5) == WriteDecision::kSet);
  CHECK(DecideWrite(std::string("{}"), 5) == WriteDecision::kSet);
  CHECK(DecideWrite(std::string(R"({"version":"9"})"), 5) == WriteDecision::kSet);
  CHECK(DecideWrite(std::string("[9]"), 5) == WriteDecision::kSet);
  CHECK(EmbeddedVersion(R"({"version":1795271508319394})") == 1795271508319394);
  CHECK(!EmbeddedVersion("not json").has_value());
}

TEST_CASE("SyncErrorDocument and node names") {
  Json j = Json::parse(SyncErrorDocument(4, "/capture/filter: bad", 1234));
  CHECK(j == Json::parse(R"({"version":4,"error":"/capture/filter: bad","at_ms":1234})"));
  CHECK(EmbeddedVersion(JobVersionDocument(12)) == 12);
  CHECK(IsValidNodeName("gw-1.lab_2"));
  CHECK(!IsValidNodeName(""));
  CHECK(!IsValidNodeName(".."));
  CHECK(!IsValidNodeName("a/b"));
  CHECK(!IsValidNodeName(std::string(65, 'a')));
}

TEST_CASE("ChangeCursor: a seq committed late is still delivered") {
  const MonoTime t0{};
  ChangeCursor cursor(std::chrono::seconds(60));
  cursor.Reset(0, {}, t0);
  CHECK(cursor.Accept({1, 2, 3}, t0) == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(cursor.low_water() == 3);
  // 5 commits before 4: the cursor holds at 3 and keeps asking from there.
  CHECK(cursor.Accept({5}, t0) == std::vector<std::uint64_t>{5});
  CHECK(cursor.low_water() == 3);
  CHECK(cursor.Accept({5}, t0 + std::chrono::seconds(1)).empty());  // seen already
  CHECK(cursor.Accept({4, 5}, t0 + std::chrono::seconds(2)) == std::vector<std::uint64_t>{4});
  CHECK(cursor.low_water() == 5);
  CHECK(cursor.seen_above_gap() == 0);
}

TEST_CASE("ChangeCursor: a hole left by a rollback is given up after the grace") {
  const MonoTime t0{};
  ChangeCursor cursor(std::chrono::seconds(60));
  cursor.Reset(10, {11, 13}, t0);  // 12 not visible at the reconcile snapshot
  CHECK(cursor.low_water() == 11);
  CHECK(cursor.Accept({13, 14}, t0 + std::chrono::seconds(30)) == std::vector<std::uint64_t>{14});
  CHECK(cursor.low_water() == 11);
  CHECK(cursor.Accept({13, 14}, t0 + std::chrono::seconds(61)).empty());
  CHECK(cursor.low_water() == 14);
  CHECK(cursor.skipped_gaps() == 1);
  // Old seqs below low_water are ignored.
  CHECK(cursor.Accept({3, 15}, t0 + std::chrono::seconds(62)) == std::vector<std::uint64_t>{15});
}

}  // namespace
}  // namespace picket::sync
