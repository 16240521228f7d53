#include "collector/collector_options.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace picket::collector {

namespace {

Result<CollectorOptions> Parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseCollectorOptions(argv);
}

}  // namespace

TEST_SUITE("collector.options") {
  TEST_CASE("defaults") {
    auto o = Parse({"--listen", "127.0.0.1:0", "--data", "/var/lib/picket/", "--tokens", "t"});
    REQUIRE(o.ok());
    CHECK(o->listen_host == "127.0.0.1");
    CHECK(o->listen_port == 0);
    CHECK(o->data_dir == "/var/lib/picket");
    CHECK(o->max_body == 64ull << 20);
    CHECK(o->max_inflight == 64);
    CHECK(o->threads == 2);
    CHECK_FALSE(o->ready_file);
    CHECK(o->device_disk_quota == 0);  // off: the collector deletes no chunks (see the header)
    CHECK_FALSE(o->client_ca);
  }

  TEST_CASE("every flag") {
    auto o = Parse({"--listen=[::1]:8443", "--data", "d", "--insecure-no-auth", "--tls-cert", "c",
                    "--tls-key", "k", "--max-body", "1MiB", "--max-inflight", "1", "--threads", "4",
                    "--ready-file", "r", "--device-disk-quota", "10GiB", "--client-ca", "ca.pem"});
    REQUIRE(o.ok());
    CHECK(o->listen_host == "::1");
    CHECK(o->listen_port == 8443);
    CHECK(o->insecure_no_auth);
    CHECK(o->max_body == 1u << 20);
    CHECK(o->max_inflight == 1);
    CHECK(o->threads == 4);
    CHECK(o->ready_file == "r");
    CHECK(o->device_disk_quota == 10ull << 30);
    CHECK(o->client_ca == "ca.pem");
  }

  TEST_CASE("retention: defaults, values and 0 for off") {
    auto o = Parse({"--listen", "127.0.0.1:0", "--data", "d", "--tokens", "t"});
    REQUIRE(o.ok());
    CHECK(o->retain_age == std::chrono::hours(24 * 30));
    CHECK(o->retain_bytes_percent == 80.0);
    CHECK(o->retain_device_bytes == 0);
    CHECK(o->retain_interval == std::chrono::minutes(1));
    o = Parse({"--listen", "127.0.0.1:0", "--data", "d", "--tokens", "t", "--retain-age", "7d",
               "--retain-bytes", "500GiB", "--retain-device-bytes", "10GiB", "--retain-interval",
               "200ms"});
    REQUIRE(o.ok());
    CHECK(o->retain_age == std::chrono::hours(24 * 7));
    CHECK_FALSE(o->retain_bytes_percent);
    CHECK(o->retain_bytes == 500ull << 30);
    CHECK(o->retain_device_bytes == 10ull << 30);
    CHECK(o->retain_interval == std::chrono::milliseconds(200));
    o = Parse({"--listen", "127.0.0.1:0", "--data", "d", "--tokens", "t", "--retain-age", "0",
               "--retain-bytes", "0", "--retain-device-bytes", "0"});
    REQUIRE(o.ok());
    CHECK(o->retain_age.count() == 0);
    CHECK_FALSE(o->retain_bytes_percent);
    CHECK(o->retain_bytes == 0);
    o = Parse({"--listen", "127.0.0.1:0", "--data", "d", "--tokens", "t", "--retain-bytes",
               "50%"});
    REQUIRE(o.ok());
    CHECK(o->retain_bytes_percent == 50.0);
  }

  TEST_CASE("shared store: --store, --chunks, --store-connections") {
    auto o = Parse({"--listen", "127.0.0.1:0", "--data", "d", "--tokens", "t", "--store",
                    "mysql://picket@db.example:3307/store", "--chunks", "/srv/chunks/",
                    "--store-connections", "12"});
    REQUIRE_MESSAGE(o.ok(), o.status().ToString());
    REQUIRE(o->store.has_value());
    CHECK(o->store->host == "db.example");
    CHECK(o->store->port == 3307);
    CHECK(o->store->database == "store");
    CHECK(o->store_connections == 12);
    CHECK(o->chunks_dir == "/srv/chunks");
    CHECK(o->sessions);  // analysis runs on the shared store too
    auto plain = Parse({"--listen", "127.0.0.1:0", "--data", "d", "--tokens", "t"});
    REQUIRE(plain.ok());
    CHECK_FALSE(plain->store.has_value());
    CHECK(plain->chunks_dir.empty());
  }

  TEST_CASE("errors name the flag") {
    struct Case {
      std::vector<std::string> args;
      std::string mentions;
    };
    const Case cases[] = {
        {{"--data", "d", "--tokens", "t"}, "--listen"},
        {{"--listen", "127.0.0.1:0", "--tokens", "t"}, "--data"},
        {{"--listen", "127.0.0.1:0", "--data", "d"}, "--insecure-no-auth"},
        {{"--listen", "127.0.0.1:0", "--data", "d", "--tokens", "t", "--insecure-no-auth"},
         "--tokens"},
        {{"--listen", "localhost:80", "--data", "d", "--tokens", "t"}, "localhost"},
        {{"--listen", "::1:80", "--data", "d", "--tokens", "t"}, "brackets"},
        {{"--listen", "127.0.0.1:65536", "--data", "d", "--tokens", "t"}, "65536"},
        {{"--listen", "127.0.0.1", "--data", "d", "--tokens", "t"}, "ADDR:PORT"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--max-body", "lots"},
         "--max-body"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--max-inflight", "0"},
         "--max-inflight"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--threads", "x"},
         "--threads"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--tls-cert", "c"},
         "--tls-key"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--bogus"}, "--bogus"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--device-disk-quota", "x"},
         "--device-disk-quota"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--client-ca", "ca.pem"},
         "--client-ca needs --tls-cert"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--retain-age", "soon"},
         "--retain-age: bad duration 'soon'"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--retain-age", "30s"},
         "--retain-age 30s: must be at least 1m"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--retain-bytes", "120%"},
         "--retain-bytes 120%"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--retain-bytes", "0%"},
         "--retain-bytes 0%"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--retain-bytes", "big"},
         "--retain-bytes: bad size 'big'"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--retain-device-bytes",
          "-1"},
         "--retain-device-bytes: bad size '-1'"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--retain-device-bytes",
          "2GiB", "--device-disk-quota", "1GiB"},
         "--retain-device-bytes 2GiB: must be below --device-disk-quota 1GiB"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--retain-interval", "1ms"},
         "--retain-interval 1ms"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--store", "postgres://x/y",
          "--chunks", "c"},
         "--store: "},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--store", "mysql://u@h/db"},
         "--store needs --chunks DIR"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--store", "mysql://u@h/db",
          "--chunks", "c", "--store-connections", "1"},
         "--store-connections 1: at least 2"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--store", "mysql://u@h/db",
          "--chunks", "c", "--store-connections", "100000"},
         "--store-connections"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--store-connections", "4"},
         "--store-connections needs --store URL"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--store-password-file", "p"},
         "--store-password-file needs --store URL"},
        {{"--listen", "127.0.0.1:1", "--data", "d", "--tokens", "t", "--chunks", ""},
         "--chunks: empty directory name"},
    };
    for (const Case& c : cases) {
      auto o = Parse(c.args);
      REQUIRE_FALSE(o.ok());
      CAPTURE(o.status().message());
      CHECK(o.status().message().find(c.mentions) != std::string::npos);
    }
  }
}

}  // namespace picket::collector
