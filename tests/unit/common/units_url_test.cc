#include <doctest/doctest.h>

#include "picket/common/units.h"
#include "picket/common/url.h"

namespace picket {

TEST_SUITE("common.units") {
  TEST_CASE("durations need a unit") {
    CHECK(ParseDuration("150ms")->count() == 150);
    CHECK(ParseDuration("10s")->count() == 10'000);
    CHECK(ParseDuration("5m")->count() == 300'000);
    CHECK(ParseDuration("1h")->count() == 3'600'000);
    CHECK(ParseDuration("2d")->count() == 172'800'000);
    for (const char* bad : {"", "60", "s", "-1s", "1.5s", "10 parsecs", "99999999999999999999h"}) {
      CAPTURE(bad);
      CHECK_FALSE(ParseDuration(bad).ok());
    }
    CHECK(FormatDuration(std::chrono::milliseconds(90'000)) == "90s");
    CHECK(FormatDuration(std::chrono::milliseconds(120'000)) == "2m");
    CHECK(FormatDuration(std::chrono::milliseconds(150)) == "150ms");
  }

  TEST_CASE("sizes in binary and decimal units") {
    CHECK(*ParseSize("512") == 512);
    CHECK(*ParseSize("512B") == 512);
    CHECK(*ParseSize("64KiB") == 65536);
    CHECK(*ParseSize("32MiB") == 32ull << 20);
    CHECK(*ParseSize("1GiB") == 1ull << 30);
    CHECK(*ParseSize("2GB") == 2'000'000'000ull);
    for (const char* bad : {"", "MiB", "1.5GiB", "1 gallon", "-1", "99999999999TiB"}) {
      CAPTURE(bad);
      CHECK_FALSE(ParseSize(bad).ok());
    }
    CHECK(FormatSize(8ull << 20) == "8MiB");
    CHECK(FormatSize(1000) == "1000B");
  }
}

TEST_SUITE("common.url") {
  TEST_CASE("collector URLs") {
    auto u = ParseUrl("https://collector.example:8443/picket/");
    REQUIRE(u.ok());
    CHECK(u->scheme == "https");
    CHECK(u->host == "collector.example");
    CHECK(u->port == 8443);
    CHECK(u->path == "/picket");
    CHECK(ParseUrl("http://127.0.0.1")->port == 80);
    CHECK(ParseUrl("https://h")->port == 443);
    auto v6 = ParseUrl("http://[::1]:8750");
    REQUIRE(v6.ok());
    CHECK(v6->host == "::1");
    CHECK(v6->ToString() == "http://[::1]:8750");
    for (const char* bad : {"", "127.0.0.1:8750", "ftp://h", "http://", "http://:80",
                            "http://h:0", "http://h:65536", "http://h:", "http://u:p@h",
                            "http://h/x?y=1", "http://h x", "http://[::1"}) {
      CAPTURE(bad);
      auto r = ParseUrl(bad);
      CHECK_FALSE(r.ok());
    }
  }
}

}  // namespace picket
