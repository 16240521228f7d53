#include "picket/common/daemon_config.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <random>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "picket/common/config_check.h"

namespace picket {

namespace {

// True when some error's path is exactly `path` and its message contains `needle`.
bool HasError(const ConfigCheck& check, const std::string& path, const std::string& needle = "") {
  for (const auto& e : check.errors) {
    if (e.path == path && e.message.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::string Dump(const ConfigCheck& check) {
  std::string out;
  for (const auto& e : check.errors) out += e.ToString() + "\n";
  return out;
}

struct BadCase {
  const char* name;
  std::string json;
  const char* path;    // the JSON path the error must name
  const char* needle;  // a fragment the message must contain (usually the bad value)
};

}  // namespace

TEST_SUITE("common.config") {
  TEST_CASE("an empty object yields the embedded defaults") {
    ConfigCheck c = ParseDaemonConfig("{}");
    REQUIRE_MESSAGE(c.ok(), Dump(c));
    CHECK(c.config.capture.interface == "lo");
    CHECK(c.config.capture.buffer_mib >= 32);
    CHECK(c.config.capture.timeout_ms >= 100);
    CHECK(c.config.capture.timeout_ms <= 200);
    CHECK(c.config.upload.collectors.size() == 1);
    CHECK_FALSE(c.config.zookeeper.enabled());
  }

  TEST_CASE("a full valid config is read field by field") {
    ConfigCheck c = ParseDaemonConfig(R"({
      "version": 7,
      "device": {"id": "gw-1", "group": "lab"},
      "capture": {"interface": "eth0", "filter": "tcp", "snaplen": 1514, "buffer_mib": 64,
                  "timeout_ms": 200, "chunk_max_bytes": "16MiB", "chunk_max_age": "2m",
                  "chunk_idle": "5s"},
      "buffer": {"dir": "/data/picket", "max_bytes": 536870912},
      "upload": {"collectors": ["https://c1.example:8443/base/", "http://[::1]:8750"],
                 "threads": 4, "retry_base": "500ms", "retry_max": "1h", "gzip": false,
                 "spread_collectors": false},
      "scans": [{"id": "s1", "targets": "127.0.0.0/24,127.1.0.1-127.1.0.9", "ports": "1-1024",
                 "rate_pps": 50000, "mode": "syn", "retries": 2, "wait": "3s"}],
      "zookeeper": {"hosts": "127.0.0.1:2181,zk2:2181", "root": "/picket/prod",
                    "session_timeout_ms": 20000, "auth_user": "gw-1",
                    "auth_password_file": "/etc/picketd/zk.password",
                    "fleet_password_file": "/etc/picketd/zk-fleet.password"},
      "log": {"level": "debug", "file": "/var/log/picketd.log", "file_keep": 5}
    })");
    REQUIRE_MESSAGE(c.ok(), Dump(c));
    const DaemonConfig& d = c.config;
    CHECK(d.version == 7);
    CHECK(d.device.group == "lab");
    CHECK(d.capture.snaplen == 1514);
    CHECK(d.capture.chunk_max_bytes == 16ull << 20);
    CHECK(d.capture.chunk_max_age == std::chrono::minutes(2));
    CHECK(d.buffer.max_bytes == 536870912ull);
    CHECK(d.upload.collectors.size() == 2);
    CHECK(d.upload.retry_base == std::chrono::milliseconds(500));
    CHECK_FALSE(d.upload.gzip);
    CHECK_FALSE(d.upload.spread_collectors);
    REQUIRE(d.scans.size() == 1);
    CHECK(d.scans[0].rate_pps == 50000);
    CHECK(d.scans[0].mode == ScanMode::kSyn);
    CHECK(d.zookeeper.enabled());
    CHECK(d.log.level == log::Level::kDebug);
  }

  TEST_CASE("upload.heartbeat_interval: 5s by default, 0s turns it off, 1s and 5m are the bounds") {
    CHECK(ParseDaemonConfig("{}").config.upload.heartbeat_interval == std::chrono::seconds(5));
    for (const auto& [text, ms] : {std::pair{"0s", 0}, {"1s", 1000}, {"5m", 300000}, {"30s", 30000}}) {
      ConfigCheck c = ParseDaemonConfig(std::string(R"({"upload": {"heartbeat_interval": ")") +
                                        text + "\"}}");
      REQUIRE_MESSAGE(c.ok(), Dump(c));
      CHECK(c.config.upload.heartbeat_interval == std::chrono::milliseconds(ms));
    }
    ConfigCheck bad = ParseDaemonConfig(R"({"upload": {"heartbeat_interval": "999ms"}})");
    CHECK_MESSAGE(HasError(bad, "/upload/heartbeat_interval", "must be 0s (off) or in 1s..5m, got \"999ms\""),
                  Dump(bad));
  }

  TEST_CASE("bad configs are refused with the JSON path and the bad value") {
    const std::string big_array = "[" + std::string(40, '[') + std::string(40, ']') + "]";
    const BadCase cases[] = {
        {"root is an array", "[1,2]", "/", "must be an object"},
        {"root is a string", "\"hello\"", "/", "must be an object"},
        {"trailing comma", R"({"capture": {"snaplen": 100,}})", "/", "not valid JSON"},
        {"unterminated", R"({"capture": {)", "/", "not valid JSON"},
        {"snaplen string", R"({"capture": {"snaplen": "big"}})", "/capture/snaplen", "\"big\""},
        {"snaplen float", R"({"capture": {"snaplen": 1500.5}})", "/capture/snaplen", "1500.5"},
        {"snaplen too big", R"({"capture": {"snaplen": 70000000}})", "/capture/snaplen", "70000000"},
        {"snaplen negative", R"({"capture": {"snaplen": -1}})", "/capture/snaplen", "-1"},
        {"buffer_mib zero", R"({"capture": {"buffer_mib": 0}})", "/capture/buffer_mib", "got 0"},
        {"timeout bool", R"({"capture": {"timeout_ms": true}})", "/capture/timeout_ms", "true"},
        {"queue_mib zero", R"({"capture": {"queue_mib": 0}})", "/capture/queue_mib", "got 0"},
        {"queue_mib too big", R"({"capture": {"queue_mib": 1024}})", "/capture/queue_mib", "1024"},
        {"enabled string", R"({"capture": {"enabled": "yes"}})", "/capture/enabled", "\"yes\""},
        {"interface too long", R"({"capture": {"interface": "averyveryverylongname0"}})",
         "/capture/interface", "averyveryverylongname0"},
        {"interface slash", R"({"capture": {"interface": "eth/0"}})", "/capture/interface", "eth/0"},
        {"chunk size unit", R"({"capture": {"chunk_max_bytes": "8 parsecs"}})",
         "/capture/chunk_max_bytes", "8 parsecs"},
        {"chunk size tiny", R"({"capture": {"chunk_max_bytes": "1KiB"}})",
         "/capture/chunk_max_bytes", "1KiB"},
        {"duration no unit", R"({"capture": {"chunk_max_age": "60"}})", "/capture/chunk_max_age",
         "'60'"},
        {"duration number", R"({"capture": {"chunk_max_age": 60}})", "/capture/chunk_max_age",
         "60"},
        {"idle over age", R"({"capture": {"chunk_max_age": "10s", "chunk_idle": "20s"}})",
         "/capture/chunk_idle", "20s"},
        {"capture not object", R"({"capture": 5})", "/capture", "must be an object"},
        {"unknown top key", R"({"captrue": {}})", "/captrue", "did you mean 'capture'"},
        {"unknown nested key", R"({"capture": {"snaplenn": 100}})", "/capture/snaplenn",
         "did you mean 'snaplen'"},
        {"bad device id", R"({"device": {"id": "gw 1"}})", "/device/id", "gw 1"},
        {"dotdot device id", R"({"device": {"id": ".."}})", "/device/id", ".."},
        {"empty buffer dir", R"({"buffer": {"dir": ""}})", "/buffer/dir", "empty"},
        {"buffer budget tiny", R"({"buffer": {"max_bytes": 10}})", "/buffer/max_bytes", "10"},
        {"collectors not array", R"({"upload": {"collectors": "http://x"}})", "/upload/collectors",
         "http://x"},
        {"collectors empty", R"({"upload": {"collectors": []}})", "/upload/collectors",
         "at least one"},
        {"heartbeat under 1s", R"({"upload": {"heartbeat_interval": "500ms"}})",
         "/upload/heartbeat_interval", "500ms"},
        {"heartbeat over 5m", R"({"upload": {"heartbeat_interval": "6m"}})",
         "/upload/heartbeat_interval", "6m"},
        {"heartbeat number", R"({"upload": {"heartbeat_interval": 5}})",
         "/upload/heartbeat_interval", "5"},
        {"heartbeat no unit", R"({"upload": {"heartbeat_interval": "5"}})",
         "/upload/heartbeat_interval", "'5'"},
        {"collector ftp", R"({"upload": {"collectors": ["ftp://x"]}})", "/upload/collectors/0",
         "ftp://x"},
        {"collector bad port", R"({"upload": {"collectors": ["http://h", "http://h:70000"]}})",
         "/upload/collectors/1", "http://h:70000"},
        {"collector number", R"({"upload": {"collectors": [8750]}})", "/upload/collectors/0",
         "8750"},
        {"plain http to a remote host", R"({"upload": {"collectors": ["http://10.0.0.5:8750"]}})",
         "/upload/collectors/0", "upload.allow_plain_http"},
        {"discover not array", R"({"upload": {"discover": "https://*"}})", "/upload/discover",
         "https://*"},
        {"discover empty pattern", R"({"upload": {"discover": ["https://*", ""]}})",
         "/upload/discover/1", "1..256"},
        {"threads zero", R"({"upload": {"threads": 0}})", "/upload/threads", "got 0"},
        {"client cert without key", R"({"upload": {"client_cert": "/etc/picketd/gw.pem"}})",
         "/upload/client_key", "together"},
        {"client key without cert", R"({"upload": {"client_key": "/etc/picketd/gw.key"}})",
         "/upload/client_cert", "together"},
        {"retry inverted", R"({"upload": {"retry_base": "10m", "retry_max": "1m"}})",
         "/upload/retry_base", "10m"},
        {"scans object", R"({"scans": {"id": "x"}})", "/scans", "must be an array"},
        {"scan missing targets", R"({"scans": [{"id": "a", "ports": "80"}]})", "/scans/0/targets",
         "required"},
        {"bad CIDR prefix", R"({"scans": [{"id": "a", "targets": "10.0.0.0/33", "ports": "80"}]})",
         "/scans/0/targets", "10.0.0.0/33"},
        {"CIDR host bits", R"({"scans": [{"id": "a", "targets": "10.0.0.1/24", "ports": "80"}]})",
         "/scans/0/targets", "10.0.0.1/24"},
        {"bad address", R"({"scans": [{"id": "a", "targets": "300.1.1.1", "ports": "80"}]})",
         "/scans/0/targets", "300.1.1.1"},
        {"inverted range", R"({"scans": [{"id": "a", "targets": "10.0.0.9-10.0.0.1", "ports": "80"}]})",
         "/scans/0/targets", "10.0.0.9-10.0.0.1"},
        {"port zero", R"({"scans": [{"id": "a", "targets": "127.0.0.1", "ports": "0"}]})",
         "/scans/0/ports", "'0'"},
        {"port 65536", R"({"scans": [{"id": "a", "targets": "127.0.0.1", "ports": "80,65536"}]})",
         "/scans/0/ports", "65536"},
        {"inverted port range", R"({"scans": [{"id": "a", "targets": "127.0.0.1", "ports": "90-80"}]})",
         "/scans/0/ports", "90-80"},
        {"rate zero", R"({"scans": [{"id": "a", "targets": "127.0.0.1", "ports": "80", "rate_pps": 0}]})",
         "/scans/0/rate_pps", "got 0"},
        {"rate negative", R"({"scans": [{"id": "a", "targets": "127.0.0.1", "ports": "80", "rate_pps": -5}]})",
         "/scans/0/rate_pps", "-5"},
        {"rate over the one schema's cap",
         R"({"scans": [{"id": "a", "targets": "127.0.0.1", "ports": "80", "rate_pps": 10000001}]})",
         "/scans/0/rate_pps", "10000001"},
        {"wait over 60s", R"({"scans": [{"id": "a", "targets": "127.0.0.1", "ports": "80", "wait": "61s"}]})",
         "/scans/0/wait", "61s"},
        {"wait and wait_ms",
         R"({"scans": [{"id": "a", "targets": "127.0.0.1", "ports": "80", "wait": "1s", "wait_ms": 5}]})",
         "/scans/0/wait_ms", "not both"},
        {"bad mode", R"({"scans": [{"id": "a", "targets": "127.0.0.1", "ports": "80", "mode": "udp"}]})",
         "/scans/0/mode", "udp"},
        {"space over cap",
         R"({"scan_max_probes": 1000, "scans": [{"id": "a", "targets": "10.0.0.0/16", "ports": "80"}]})",
         "/scans/0/targets", "65536 addresses"},
        {"duplicate scan id",
         R"({"scans": [{"id": "a", "targets": "127.0.0.1", "ports": "80"},
                       {"id": "a", "targets": "127.0.0.2", "ports": "81"}]})",
         "/scans/1/id", "duplicate"},
        {"zk host without port", R"({"zookeeper": {"hosts": "zk1"}})", "/zookeeper/hosts", "zk1"},
        {"zk root relative", R"({"zookeeper": {"root": "picket"}})", "/zookeeper/root", "picket"},
        {"zk session too short", R"({"zookeeper": {"session_timeout_ms": 100}})",
         "/zookeeper/session_timeout_ms", "100"},
        {"zk auth without password", R"({"zookeeper": {"auth_user": "picket"}})",
         "/zookeeper/auth_password_file", "required"},
        {"zk without credentials", R"({"zookeeper": {"hosts": "zk1:2181"}})",
         "/zookeeper/auth_user", "allow_open_acl"},
        {"zk fleet password alone", R"({"zookeeper": {"fleet_password_file": "/f"}})",
         "/zookeeper/fleet_password_file", "auth_user"},
        {"zk open acl not a bool", R"({"zookeeper": {"allow_open_acl": "yes"}})",
         "/zookeeper/allow_open_acl", "yes"},
        {"log level", R"({"log": {"level": "verbose"}})", "/log/level", "verbose"},
        {"version negative", R"({"version": -3})", "/version", "-3"},
        {"null section", R"({"upload": null})", "/upload", "null"},
        {"too deep", big_array, "/", "nesting"},
        {"empty document", "", "/", "empty"},
        {"whitespace only", " \n\t ", "/", "empty"},
    };
    for (const BadCase& bad : cases) {
      CAPTURE(bad.name);
      ConfigCheck c = ParseDaemonConfig(bad.json);
      CHECK_FALSE(c.ok());
      CHECK_MESSAGE(HasError(c, bad.path, bad.needle), "errors were:\n" << Dump(c));
    }
    CHECK(std::size(cases) >= 30);
  }

  TEST_CASE("scan_max_pps: 0 (no cap) to 10 M, anything else named with its value") {
    CHECK(ParseDaemonConfig("{}").config.scan_max_pps == 0);
    ConfigCheck c = ParseDaemonConfig(R"({"scan_max_pps": 1000})");
    REQUIRE_MESSAGE(c.ok(), Dump(c));
    CHECK(c.config.scan_max_pps == 1000);
    for (const char* bad : {R"({"scan_max_pps": -1})", R"({"scan_max_pps": 10000001})",
                            R"({"scan_max_pps": "fast"})", R"({"scan_max_pps": 1.5})"}) {
      CAPTURE(bad);
      ConfigCheck b = ParseDaemonConfig(bad);
      REQUIRE_FALSE(b.ok());
      CHECK(b.errors.front().path == "/scan_max_pps");
    }
  }

  TEST_CASE("zookeeper without credentials only when allow_open_acl says so") {
    ConfigCheck open = ParseDaemonConfig(
        R"({"zookeeper": {"hosts": "127.0.0.1:2181", "allow_open_acl": true}})");
    CHECK_MESSAGE(open.ok(), Dump(open));
    CHECK(open.config.zookeeper.allow_open_acl);
    CHECK_FALSE(ParseDaemonConfig("{}").config.zookeeper.allow_open_acl);
    CHECK_FALSE(ParseDaemonConfig(R"({"zookeeper": {"hosts": "127.0.0.1:2181"}})").ok());
  }

  TEST_CASE("upload.client_cert and client_key: read together, shown in the effective config") {
    ConfigCheck c = ParseDaemonConfig(
        R"({"upload": {"client_cert": "/etc/picketd/gw.pem", "client_key": "/etc/picketd/gw.key"}})");
    REQUIRE_MESSAGE(c.ok(), Dump(c));
    CHECK(c.config.upload.client_cert == "/etc/picketd/gw.pem");
    CHECK(c.config.upload.client_key == "/etc/picketd/gw.key");
    CHECK(ParseDaemonConfig("{}").config.upload.client_cert.empty());
  }

  TEST_CASE("collector URLs: plain http only on loopback unless asked for, discovery by allowlist") {
    ConfigCheck plain = ParseDaemonConfig(
        R"({"upload": {"collectors": ["http://10.0.0.5:8750"], "allow_plain_http": true}})");
    CHECK_MESSAGE(plain.ok(), Dump(plain));
    for (const char* loopback : {"http://127.0.0.1:8750", "http://127.9.9.9", "http://[::1]:1",
                                 "http://localhost:8750", "https://10.0.0.5"}) {
      CAPTURE(loopback);
      CHECK_FALSE(RefuseCollectorUrl(UploadSection{}, loopback, /*discovered=*/false));
    }

    UploadSection none;  // discovery off by default: a node anyone wrote is never used
    auto off = RefuseCollectorUrl(none, "http://127.0.0.1:8750", /*discovered=*/true);
    REQUIRE(off);
    CHECK(off->find("upload.discover") != std::string::npos);

    ConfigCheck c = ParseDaemonConfig(
        R"({"upload": {"discover": ["https://*.collect.example.net", "http://127.0.0.1:*"]}})");
    REQUIRE_MESSAGE(c.ok(), Dump(c));
    const UploadSection& u = c.config.upload;
    CHECK_FALSE(RefuseCollectorUrl(u, "https://c1.collect.example.net", true));
    CHECK_FALSE(RefuseCollectorUrl(u, "http://127.0.0.1:9000", true));
    CHECK(RefuseCollectorUrl(u, "https://evil.example.org", true));
    CHECK(RefuseCollectorUrl(u, "http://127.0.0.2:9000", true));
    // An allowed pattern never overrides the clear-text rule.
    UploadSection wide = u;
    wide.discover = {"*"};
    auto clear = RefuseCollectorUrl(wide, "http://192.0.2.1:8750", true);
    REQUIRE(clear);
    CHECK(clear->find("clear text") != std::string::npos);
    CHECK(DaemonConfigToJsonValue(c.config)["upload"]["discover"].size() == 2);
  }

  TEST_CASE("every error is reported, not just the first") {
    ConfigCheck c = ParseDaemonConfig(R"({
      "capture": {"snaplen": "x", "buffer_mib": 0, "interfac": "lo"},
      "upload": {"threads": 99},
      "scans": [{"id": "a", "targets": "1.2.3.4/40", "ports": "0"}]
    })");
    CHECK(HasError(c, "/capture/snaplen"));
    CHECK(HasError(c, "/capture/buffer_mib"));
    CHECK(HasError(c, "/capture/interfac", "did you mean 'interface'"));
    CHECK(HasError(c, "/upload/threads"));
    CHECK(HasError(c, "/scans/0/targets"));
    CHECK(HasError(c, "/scans/0/ports"));
    CHECK(c.errors.size() == 6);
    Status st = c.ToStatus();
    CHECK(st.code() == StatusCode::kInvalidArgument);
    CHECK(st.message().find("6 config error(s)") != std::string::npos);
  }

  TEST_CASE("binary garbage is refused, not crashed on") {
    std::mt19937 rng(1234);
    for (int round = 0; round < 200; ++round) {
      std::string junk(static_cast<size_t>(1 + rng() % 2048), '\0');
      for (char& ch : junk) ch = static_cast<char>(rng());
      ConfigCheck c = ParseDaemonConfig(junk);
      CHECK_FALSE(c.ok());
      CHECK(HasError(c, "/"));
    }
    // Valid JSON with invalid UTF-8 inside a string.
    ConfigCheck c = ParseDaemonConfig("{\"device\": {\"id\": \"\xff\xfe\"}}");
    CHECK_FALSE(c.ok());
  }

  TEST_CASE("a 1 MiB run of brackets does not exhaust the stack") {
    ConfigCheck c = ParseDaemonConfig(std::string(kMaxConfigBytes, '['));
    CHECK(HasError(c, "/", "nesting"));
  }

  TEST_CASE("config files: missing, empty, oversized, and good") {
    char dir_template[] = "/tmp/picket-config-test-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    const std::string dir = dir_template;
    auto write = [&](const std::string& name, const std::string& content) {
      std::string path = dir + "/" + name;
      std::FILE* f = std::fopen(path.c_str(), "wb");
      REQUIRE(f != nullptr);
      std::fwrite(content.data(), 1, content.size(), f);
      std::fclose(f);
      return path;
    };
    {
      ConfigCheck c = LoadDaemonConfigFile(dir + "/missing.json");
      CHECK(HasError(c, "/", "cannot read " + dir + "/missing.json: No such file"));
      // Said as what it is, not as "invalid".
      CHECK(FormatConfigErrors("x", c) == "cannot read " + dir + "/missing.json: No such file or directory\n");
    }
    {
      ConfigCheck c = LoadDaemonConfigFile(write("empty.json", ""));
      CHECK(HasError(c, "/", "empty"));
    }
    {
      ConfigCheck c = LoadDaemonConfigFile(write("big.json", std::string(10 << 20, ' ')));
      CHECK(HasError(c, "/", "10485760 bytes, the limit is 1048576"));
    }
    {
      ConfigCheck c = LoadDaemonConfigFile(dir);
      CHECK(HasError(c, "/", "not a regular file"));
    }
    {
      ConfigCheck c = LoadDaemonConfigFile(write("ok.json", R"({"device": {"id": "gw-9"}})"));
      REQUIRE_MESSAGE(c.ok(), Dump(c));
      CHECK(c.config.device.id == "gw-9");
    }
    for (const char* name : {"missing.json", "empty.json", "big.json", "ok.json"}) {
      ::unlink((dir + "/" + name).c_str());
    }
    ::rmdir(dir.c_str());
  }

  TEST_CASE("the BPF filter is compiled by libpcap before a config is accepted") {
    ConfigCheck good = CheckDaemonConfigText(R"({"capture": {"filter": "tcp port 80"}})");
    CHECK_MESSAGE(good.ok(), Dump(good));
    ConfigCheck bad = CheckDaemonConfigText(R"({"capture": {"filter": "tcp prot 80"}})");
    CHECK(HasError(bad, "/capture/filter", "tcp prot 80"));
    ConfigCheck range = CheckDaemonConfigText(R"({"capture": {"filter": "port 99999"}})");
    CHECK(HasError(range, "/capture/filter", "99999"));
    // All errors at once: a bad filter is named beside the other fields' errors.
    ConfigCheck all = CheckDaemonConfigText(
        R"({"capture": {"filter": "tcp prot 80", "snaplen": 3}, "upload": {"threads": 0}})");
    CHECK_MESSAGE(HasError(all, "/capture/filter", "tcp prot 80"), Dump(all));
    CHECK(HasError(all, "/capture/snaplen"));
    CHECK(HasError(all, "/upload/threads"));
  }

  TEST_CASE("the effective config round-trips through JSON") {
    ConfigCheck first = ParseDaemonConfig(R"({"capture": {"chunk_max_age": "90s"},
        "scans": [{"id": "a", "targets": "127.0.0.1", "ports": "80", "mode": "connect"}]})");
    REQUIRE(first.ok());
    ConfigCheck second = ParseDaemonConfig(DaemonConfigToJson(first.config));
    REQUIRE_MESSAGE(second.ok(), Dump(second));
    CHECK(DaemonConfigToJson(second.config) == DaemonConfigToJson(first.config));
    CHECK(second.config.capture.chunk_max_age == std::chrono::seconds(90));
    CHECK(second.config.scans.at(0).mode == ScanMode::kConnect);
  }

  TEST_CASE("a parsed document is checked like its text, without a text round trip") {
    const std::string text =
        R"({"device":{"id":"gw-1"},"capture":{"filter":"tcp port 80","snaplen":256},"version":3})";
    ConfigCheck from_text = ParseDaemonConfig(text);
    ConfigCheck from_value = ParseDaemonConfigValue(nlohmann::json::parse(text));
    REQUIRE(from_text.ok());
    REQUIRE(from_value.ok());
    CHECK(DaemonConfigToJson(from_value.config) == DaemonConfigToJson(from_text.config));
    CHECK(DaemonConfigToJsonValue(from_value.config) == nlohmann::json::parse(DaemonConfigToJson(from_text.config)));

    ConfigCheck bad = ParseDaemonConfigValue(nlohmann::json::parse(R"({"capture":{"snaplen":"x"}})"));
    REQUIRE(bad.errors.size() == 1);
    CHECK(bad.errors[0].path == "/capture/snaplen");

    nlohmann::json deep = nlohmann::json::object();
    for (int i = 0; i < kMaxConfigDepth + 1; ++i) deep = nlohmann::json{{"a", deep}};
    ConfigCheck too_deep = ParseDaemonConfigValue(deep);
    REQUIRE(too_deep.errors.size() == 1);
    CHECK(too_deep.errors[0].message.find("nesting") != std::string::npos);
  }
}

}  // namespace picket
