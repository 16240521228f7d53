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
    CHECK_MESSAGE(st.message().starts_with("/ports"), st.message());
    CHECK(st.message().find("job-1") == std::string::npos);  // the id may be a drawn one
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

  TEST_CASE("scan job fields: every probe field, connect by default") {
    auto plain = ParseScanJobFields(Minimal(), Flag, "j");
    REQUIRE(plain.ok());
    CHECK(plain->mode == std::string(kDefaultScanMode));
    CHECK(nlohmann::json::parse(ScanJobSpecJson(*plain))["mode"] == "connect");

    auto f = Minimal();
    f.exclude = "127.0.0.2";
    f.retries = "3";
    f.wait = "500ms";
    f.banners = "true";
    f.seed = "42";
    f.mode = "syn";
    auto row = ParseScanJobFields(f, Flag, "j");
    REQUIRE(row.ok());
    CHECK(row->mode == "syn");
    CHECK(row->retries == 3u);
    CHECK(row->wait_ms == 500u);
    CHECK(row->banners == true);
    CHECK(row->seed == 42u);
    CHECK_MESSAGE(CheckScanJob(*row).ok(), CheckScanJob(*row).message());
    auto spec = nlohmann::json::parse(ScanJobSpecJson(*row));
    CHECK(spec["exclude"] == "127.0.0.2");
    CHECK(spec["retries"] == 3);
    CHECK(spec["wait_ms"] == 500);
    CHECK(spec["banners"] == true);
    CHECK(spec["seed"] == 42);

    f = Minimal();
    f.retries = "11";
    CHECK(ParseScanJobFields(f, Flag, "j").status().message() ==
          "--retries '11': expected an integer 0..10");
    f = Minimal();
    f.wait = "2";  // a bare number could be seconds or milliseconds
    CHECK(ParseScanJobFields(f, Flag, "j").status().message().starts_with("--wait '2'"));
    f = Minimal();
    f.wait = "61s";
    CHECK_FALSE(ParseScanJobFields(f, Flag, "j").ok());
    f = Minimal();
    f.banners = "yes";
    CHECK(ParseScanJobFields(f, Flag, "j").status().message() ==
          "--banners 'yes': expected true or false");
    f = Minimal();
    f.seed = "0";
    CHECK_FALSE(ParseScanJobFields(f, Flag, "j").ok());
    f = Minimal();
    f.exclude = "10.0.0.0/33";
    auto bad_exclude = ParseScanJobFields(f, Flag, "j");
    REQUIRE(bad_exclude.ok());
    CHECK(CheckScanJob(*bad_exclude).message().find("/33") != std::string::npos);
  }

  TEST_CASE("job size: warn above 10^9 probes, refuse above 10^10 unless forced, never over 2^32") {
    auto f = Minimal();  // 4 addresses x 100 ports x (1 + 1)
    auto small = EstimateScanJobSize(*ParseScanJobFields(f, Flag, "j"));
    CHECK(small.space == 400);
    CHECK(small.probes == 800);
    CHECK(JudgeScanJobSize(small, false).message.empty());

    f.targets = "10.0.0.0/8";  // 16777216 x 100 x 2 = 3.4e9
    auto big = EstimateScanJobSize(*ParseScanJobFields(f, Flag, "j"));
    CHECK(big.probes == 3355443200u);
    auto warn = JudgeScanJobSize(big, false);
    CHECK_FALSE(warn.refuse);
    CHECK(warn.message.starts_with("warning: 16777216 addresses x 100 ports"));

    f.ports = "1-1000";  // 1.68e10 pairs: over what a device scans
    f.retries = "0";
    auto space = JudgeScanJobSize(EstimateScanJobSize(*ParseScanJobFields(f, Flag, "j")), true);
    CHECK(space.refuse);
    CHECK(space.message.find("4294967296") != std::string::npos);

    f.targets = "10.0.0.0/12";  // 1048576 x 1000 = 1.05e9 pairs x (1 + 10) = 1.15e10 probes
    f.retries = "10";
    auto huge = EstimateScanJobSize(*ParseScanJobFields(f, Flag, "j"));
    CHECK(huge.probes == 11534336000u);
    CHECK(JudgeScanJobSize(huge, false).refuse);
    CHECK(JudgeScanJobSize(huge, false).message.find("--force") != std::string::npos);
    CHECK(JudgeScanJobSize(huge, false).message.find("\"force\": true") != std::string::npos);
    CHECK_FALSE(JudgeScanJobSize(huge, true).refuse);

    f.targets = "::/0";  // saturates instead of wrapping
    CHECK(EstimateScanJobSize(*ParseScanJobFields(f, Flag, "j")).probes == UINT64_MAX);
  }

  TEST_CASE("POST /v1/scans takes the probe fields too") {
    using collector::OperatorActions;
    auto f = OperatorActions::ScanFieldsFromJson(
        R"({"targets":"10.0.0.0/24","ports":"22","rate":5,"shards":1,"exclude":"10.0.0.1",)"
        R"("retries":2,"wait":"1s","banners":true,"seed":"7","force":true})");
    REQUIRE(f.ok());
    CHECK(f->force == "true");
    CHECK(f->exclude == "10.0.0.1");
    CHECK(f->retries == "2");
    CHECK(f->wait == "1s");
    CHECK(f->banners == "true");
    CHECK(f->seed == "7");
    auto row = ParseScanJobFields(*f, [](std::string_view n) { return std::string(n); }, "j");
    REQUIRE(row.ok());
    CHECK(row->banners == true);
  }
}

}  // namespace picket::sync
