#include "collector/token_table.h"

#include <doctest/doctest.h>

namespace picket::collector {

TEST_SUITE("collector.tokens") {
  TEST_CASE("devices, the operator, comments and blank lines") {
    auto t = TokenTable::Parse(
        "# picket tokens\n"
        "\n"
        "gw-01   s3cret-one   # trailing comment\n"
        "gw.02\ts3cret-two\r\n"
        "gw-01 rotated-one\n"
        "@operator  read-token\n",
        "tokens.txt");
    REQUIRE(t.ok());
    CHECK(t->size() == 4);
    auto one = t->Lookup("s3cret-one");
    REQUIRE(one);
    CHECK(one->role == Role::kDevice);
    CHECK(one->device_id == "gw-01");
    CHECK(t->Lookup("rotated-one")->device_id == "gw-01");
    CHECK(t->Lookup("s3cret-two")->device_id == "gw.02");
    CHECK(t->Lookup("read-token")->role == Role::kRead);
    CHECK(t->Lookup("read-token")->device_id.empty());
    CHECK_FALSE(t->Lookup("s3cret-on"));
    CHECK_FALSE(t->Lookup("s3cret-one "));
    CHECK_FALSE(t->Lookup(""));
  }

  TEST_CASE("a '#' inside a token belongs to the token") {
    auto t = TokenTable::Parse("gw a#b\n", "t");
    REQUIRE(t.ok());
    CHECK(t->Lookup("a#b"));
    CHECK_FALSE(t->Lookup("a"));
  }

  TEST_CASE("errors name the file and line") {
    auto missing_token = TokenTable::Parse("gw-01 ok\ngw-02\n", "tokens.txt");
    REQUIRE_FALSE(missing_token.ok());
    CHECK(missing_token.status().message().find("tokens.txt:2:") == 0);

    auto three_fields = TokenTable::Parse("gw-01 a b\n", "t");
    CHECK_FALSE(three_fields.ok());

    auto bad_id = TokenTable::Parse("gw/01 tok\n", "t");
    REQUIRE_FALSE(bad_id.ok());
    CHECK(bad_id.status().message().find("gw/01") != std::string::npos);

    auto reused = TokenTable::Parse("a tok\nb tok\n", "t");
    REQUIRE_FALSE(reused.ok());
    CHECK(reused.status().message().find("t:2:") == 0);

    CHECK_FALSE(TokenTable::Parse("# nothing\n\n", "t").ok());
    CHECK_FALSE(TokenTable::Parse("@root tok\n", "t").ok());
    CHECK_FALSE(TokenTable::Parse("@Admin tok\n", "t").ok());
  }

  TEST_CASE("a missing file is named") {
    auto t = TokenTable::LoadFile("/nonexistent/tokens.txt");
    REQUIRE_FALSE(t.ok());
    CHECK(t.status().message().find("/nonexistent/tokens.txt") != std::string::npos);
  }

  TEST_CASE("device id grammar") {
    CHECK(IsValidDeviceId("gw-01"));
    CHECK(IsValidDeviceId("A.b_c-9"));
    CHECK(IsValidDeviceId(std::string(64, 'x')));
    CHECK_FALSE(IsValidDeviceId(std::string(65, 'x')));
    CHECK_FALSE(IsValidDeviceId(""));
    CHECK_FALSE(IsValidDeviceId("."));
    CHECK_FALSE(IsValidDeviceId(".."));
    CHECK_FALSE(IsValidDeviceId("a/b"));
    CHECK_FALSE(IsValidDeviceId("a b"));
    CHECK_FALSE(IsValidDeviceId("@operator"));
    CHECK_FALSE(IsValidDeviceId("gw%2F01"));
  }

  TEST_CASE("@admin gets the admin role, @operator the read role") {
    auto t = TokenTable::Parse("@operator op-tok\n@admin admin-tok\n@admin admin-two\n", "t");
    REQUIRE(t.ok());
    CHECK(t->Lookup("op-tok")->role == Role::kRead);
    CHECK(t->Lookup("admin-tok")->role == Role::kAdmin);
    CHECK(t->Lookup("admin-two")->role == Role::kAdmin);
    CHECK(RoleName(Role::kAdmin) == "admin");
    CHECK(RoleName(Role::kRead) == "read");
    CHECK(RoleName(Role::kDevice) == "device");
  }

  TEST_CASE("AccessDenied follows wire::EndpointAccess for every role") {
    auto route = [](std::string method, std::string target) {
      auto m = wire::MatchRoute(method, target);
      REQUIRE(m.matched());
      return m.route;
    };
    const Principal device{Role::kDevice, "gw-1"};
    const Principal read{Role::kRead, ""};
    const Principal admin{Role::kAdmin, ""};
    const auto own_chunk = route("PUT", "/v1/devices/gw-1/chunks/1");
    const auto other_chunk = route("PUT", "/v1/devices/gw-2/chunks/1");
    const auto heartbeat = route("POST", "/v1/devices/gw-1/status");
    const auto fleet = route("GET", "/v1/fleet");
    const auto metrics = route("GET", "/metrics");
    const auto submit = route("POST", "/v1/scans");
    const auto cancel = route("POST", "/v1/scans/job-1/cancel");
    const auto config = route("PUT", "/v1/devices/gw-1/config");
    const auto page = route("GET", "/");
    const auto healthz = route("GET", "/healthz");

    CHECK_FALSE(AccessDenied(device, own_chunk));
    CHECK_FALSE(AccessDenied(device, heartbeat));
    auto other = AccessDenied(device, other_chunk);
    REQUIRE(other);
    CHECK(other->find("gw-2") != std::string::npos);
    CHECK(AccessDenied(device, fleet));
    CHECK(AccessDenied(device, submit));
    CHECK_FALSE(AccessDenied(device, page));
    CHECK_FALSE(AccessDenied(device, healthz));

    CHECK(AccessDenied(read, own_chunk));
    CHECK(AccessDenied(admin, heartbeat));
    CHECK_FALSE(AccessDenied(read, fleet));
    CHECK_FALSE(AccessDenied(read, metrics));
    for (const auto* action : {&submit, &cancel, &config}) {
      auto denied = AccessDenied(read, *action);
      REQUIRE(denied);
      CHECK(denied->find("admin role") != std::string::npos);
      CHECK_FALSE(AccessDenied(admin, *action));
    }
    CHECK_FALSE(AccessDenied(admin, fleet));
  }
}

}  // namespace picket::collector
