// The operator's row validation shared by the CLI and the collector's admin
// actions (pure parts; the writes run in tests/integration/cli_test.cc and
// tests/e2e/web_auth_test.py against a real MariaDB).
#include "picket/sync/operator_rows.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "collector/operator_actions.h"

namespace picket::sync {

namespace {

std::string Flag(std::string_view field) {
  std::string f = "--" + std::string(field);
  for (char& c : f) c = c == '_' ? '-' : c;
  return f;
}

ScanJobFields Minimal() {
  ScanJobFields f;
  f.targets = "127.0.0.0/30";
  f.ports = "1-100";
  f.rate = "1000";
  f.shards = "4";
  return f;
}

}  // namespace

TEST_SUITE("sync.operator_rows") {
  TEST_CASE("scan job fields: required, numbers, ids, named as the caller names them") {
    auto ok = ParseScanJobFields(Minimal(), Flag, "scan-drawn");
    REQUIRE(ok.ok());
    CHECK(ok->id == "scan-drawn");
    CHECK(ok->rate_pps == 1000);
    CHECK(ok->shards == 4);
    CHECK_MESSAGE(CheckScanJob(*ok).ok(), CheckScanJob(*ok).message());
    auto spec = nlohmann::json::parse(ScanJobSpecJson(*ok));
    CHECK(spec["rate_pps"] == 1000);
    CHECK_FALSE(spec.contains("devices"));

    auto f = Minimal();
    f.rate.reset();
    auto missing = ParseScanJobFields(f, Flag, "x");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().message() == "--rate is required");

    f = Minimal();
    f.max_parallel = "0";
    auto zero = ParseScanJobFields(f, Flag, "x");
    REQUIRE_FALSE(zero.ok());
    CHECK(zero.status().message() == "--max-parallel '0': expected an integer 1..1000000");

    f = Minimal();
    f.shards = "4x";
    CHECK(ParseScanJobFields(f, [](std::string_view n) { return "field '" + std::string(n) + "'"; },
                             "x")
              .status()
              .message() == "field 'shards' '4x': expected an integer 1..1000000");

    f = Minimal();
    f.group = "lab";
    f.devices = "gw-1";
    CHECK(ParseScanJobFields(f, Flag, "x").status().message() ==
          "give --group or --devices, not both");

    f = Minimal();
    f.devices = "gw-1,gw/2";
    auto bad_device = ParseScanJobFields(f, Flag, "x");
    REQUIRE_FALSE(bad_device.ok());
    CHECK(bad_device.status().message().find("'gw/2' is not a device id") != std::string::npos);

    f = Minimal();
    f.devices = "gw-1,gw-2";
    f.id = "my-job";
    auto with_devices = ParseScanJobFields(f, Flag, "x");
    REQUIRE(with_devices.ok());
    CHECK(with_devices->id == "my-job");
    CHECK(with_devices->devices == std::vector<std::string>{"gw-1", "gw-2"});

    f = Minimal();
    f.id = "../etc";
    CHECK_FALSE(ParseScanJobFields(f, Flag, "x").ok());
  }

  TEST_CASE("the devices' own parser refuses a bad job, naming the field") {
    auto f = Minimal();
    f.ports = "70000";
    auto row = ParseScanJobFields(f, Flag, "job-1");
    REQUIRE(row.ok());
    Status st = CheckScanJob(*row);
    REQUIRE_FALSE(st.ok());
    CHECK(st.message().find("ports") != std::string::npos);
    CHECK(st.message().find("70000") != std::string::npos);
  }

  TEST_CASE("MakeScanJobId formats UTC time and four hex digits") {
    CHECK(MakeScanJobId(1795272592000, 0xab1) == "scan-20261121-144952-0ab1");
  }

  TEST_CASE("config documents: picketd's validator, no version, compact") {
    auto ok = CheckConfigDocument(R"({"capture": {"interface": "lo"}})", "config");
    REQUIRE(ok.ok());
    CHECK(ok->find(' ') == std::string::npos);
    auto bad = CheckConfigDocument(R"({"capture": {"interface": 5}})", "config");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().message().starts_with("config is invalid"));
    CHECK(bad.status().message().find("/capture/interface") != std::string::npos);
    auto version = CheckConfigDocument(R"({"version": 3})", "config");
    REQUIRE_FALSE(version.ok());
    CHECK(version.status().message().find("/version") != std::string::npos);
    CHECK_FALSE(CheckConfigDocument("[1,2]", "config").ok());
    CHECK_FALSE(CheckConfigDocument("{", "config").ok());
    CHECK_FALSE(CheckConfigDocument(std::string(100000, '['), "config").ok());
  }

  TEST_CASE("POST /v1/scans bodies become the CLI's fields") {
    using collector::OperatorActions;
    auto f = OperatorActions::ScanFieldsFromJson(
        R"({"targets":"10.0.0.0/24","ports":"22,80","rate":5000,"shards":"8",)"
        R"("devices":["gw-1","gw-2"],"max_parallel":2,"mode":"","group":null})");
    REQUIRE(f.ok());
    CHECK(f->rate == "5000");
    CHECK(f->shards == "8");
    CHECK(f->devices == "gw-1,gw-2");
    CHECK(f->max_parallel == "2");
    CHECK_FALSE(f->mode);  // blank form field: absent
    CHECK_FALSE(f->group);
    auto unknown = OperatorActions::ScanFieldsFromJson(R"({"targets":"x","rate_pps":1})");
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.status().message().find("'rate_pps'") != std::string::npos);
    auto wrong_type = OperatorActions::ScanFieldsFromJson(R"({"rate":1.5})");
    REQUIRE_FALSE(wrong_type.ok());
    CHECK(wrong_type.status().message().find("'rate'") != std::string::npos);
    CHECK_FALSE(OperatorActions::ScanFieldsFromJson(R"({"devices":[1]})").ok());
    CHECK_FALSE(OperatorActions::ScanFieldsFromJson("[]").ok());
    CHECK_FALSE(OperatorActions::ScanFieldsFromJson(std::string(100000, '[')).ok());
  }
}

}  // namespace picket::sync
