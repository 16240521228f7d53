#include "collector/gunzip.h"

#include <doctest/doctest.h>

#include <string>

namespace picket::collector {

TEST_SUITE("collector.gunzip") {
  TEST_CASE("round trip, including an empty body") {
    for (std::string text : {std::string(), std::string("hello pcap"), std::string(300000, 'q')}) {
      auto gz = GzipCompress(text);
      REQUIRE(gz.ok());
      auto back = GunzipCapped(*gz, text.size() + 1);
      REQUIRE(back.ok());
      CHECK(*back == text);
    }
  }

  TEST_CASE("exactly at the cap is accepted, one byte over is refused") {
    std::string text(100000, 'a');
    auto gz = GzipCompress(text);
    REQUIRE(gz.ok());
    CHECK(GunzipCapped(*gz, text.size()).ok());
    auto over = GunzipCapped(*gz, text.size() - 1);
    REQUIRE_FALSE(over.ok());
    CHECK(over.status().code() == StatusCode::kResourceExhausted);
  }

  TEST_CASE("a zip bomb stops at the cap") {
    // 64 MiB of zeros compress to ~64 KiB; inflating stops after 1 MiB.
    std::string zeros(64u << 20, '\0');
    auto bomb = GzipCompress(zeros);
    REQUIRE(bomb.ok());
    zeros = std::string();
    CHECK(bomb->size() < (128u << 10));
    auto r = GunzipCapped(*bomb, 1u << 20);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kResourceExhausted);
    CHECK(r.status().message().find("1048576") != std::string::npos);
  }

  TEST_CASE("concatenated members are one body") {
    auto a = GzipCompress("abc");
    auto b = GzipCompress("def");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    auto r = GunzipCapped(*a + *b, 100);
    REQUIRE(r.ok());
    CHECK(*r == "abcdef");
    // The cap counts across members.
    CHECK(GunzipCapped(*a + *b, 5).status().code() == StatusCode::kResourceExhausted);
  }

  TEST_CASE("corrupt, truncated and trailing garbage are InvalidArgument") {
    auto gz = GzipCompress(std::string(5000, 'z'));
    REQUIRE(gz.ok());
    CHECK(GunzipCapped("not gzip at all", 100).status().code() == StatusCode::kInvalidArgument);
    CHECK(GunzipCapped("", 100).status().code() == StatusCode::kInvalidArgument);
    CHECK(GunzipCapped(gz->substr(0, gz->size() - 5), 10000).status().code() ==
          StatusCode::kInvalidArgument);
    CHECK(GunzipCapped(*gz + "junk", 10000).status().code() == StatusCode::kInvalidArgument);
    std::string flipped = *gz;
    flipped[flipped.size() - 6] ^= 0x55;  // CRC32 of the member
    CHECK(GunzipCapped(flipped, 10000).status().code() == StatusCode::kInvalidArgument);
  }
}

}  // namespace picket::collector
