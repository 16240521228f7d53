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
    CHECK(one->kind == Principal::Kind::kDevice);
    CHECK(one->device_id == "gw-01");
    CHECK(t->Lookup("rotated-one")->device_id == "gw-01");
    CHECK(t->Lookup("s3cret-two")->device_id == "gw.02");
    CHECK(t->Lookup("read-token")->kind == Principal::Kind::kOperator);
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
    CHECK_FALSE(TokenTable::Parse("@admin tok\n", "t").ok());
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
}

}  // namespace picket::collector
