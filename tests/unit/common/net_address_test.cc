#include "picket/common/net_address.h"

#include <doctest/doctest.h>

namespace picket {

TEST_SUITE("common.net") {
  TEST_CASE("addresses: IPv4, IPv6, loopback") {
    auto v4 = IpAddress::Parse("127.0.0.2");
    REQUIRE(v4.ok());
    CHECK_FALSE(v4->v6);
    CHECK(v4->V4HostOrder() == 0x7f000002u);
    CHECK(v4->IsLoopback());
    CHECK(v4->ToString() == "127.0.0.2");
    auto v6 = IpAddress::Parse("::1");
    REQUIRE(v6.ok());
    CHECK(v6->v6);
    CHECK(v6->IsLoopback());
    CHECK_FALSE(IpAddress::Parse("10.0.0.1")->IsLoopback());
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4x", "::g", "localhost"}) {
      CAPTURE(bad);
      CHECK_FALSE(IpAddress::Parse(bad).ok());
    }
  }

  TEST_CASE("CIDRs, ranges and single addresses become inclusive ranges") {
    auto cidr = ParseAddressRange("127.0.0.0/20");
    REQUIRE(cidr.ok());
    CHECK(cidr->first.ToString() == "127.0.0.0");
    CHECK(cidr->last.ToString() == "127.0.15.255");
    CHECK(cidr->Size() == 4096);
    CHECK(ParseAddressRange("0.0.0.0/0")->Size() == (1ull << 32));
    CHECK(ParseAddressRange("10.0.0.5-10.0.0.9")->Size() == 5);
    CHECK(ParseAddressRange("10.0.0.5")->Size() == 1);
    CHECK(ParseAddressRange("fd00::/120")->Size() == 256);
    CHECK(ParseAddressRange("::/0")->Size() == ~0ull);  // saturates
    CHECK(ParseAddressRange(" 10.0.0.0/8 ")->Size() == (1ull << 24));
  }

  TEST_CASE("bad targets are refused with the item named") {
    struct {
      const char* text;
      const char* needle;
    } cases[] = {
        {"10.0.0.0/33", "prefix length must be 0..32"},
        {"10.0.0.0/", "prefix length"},
        {"10.0.0.0/-1", "prefix length"},
        {"10.0.0.1/24", "host bits set"},
        {"10.0.0.9-10.0.0.1", "start is after end"},
        {"10.0.0.1-::1", "mixes IPv4 and IPv6"},
        {"fd00::/129", "0..128"},
        {"example.com", "'example.com'"},
    };
    for (auto& c : cases) {
      CAPTURE(c.text);
      auto r = ParseAddressRange(c.text);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().message().find(c.needle) != std::string::npos);
      CHECK(r.status().message().find(c.text) != std::string::npos);
    }
  }

  TEST_CASE("target lists") {
    auto list = ParseTargetList("127.0.0.1, 127.0.1.0/24,127.0.2.1-127.0.2.10");
    REQUIRE(list.ok());
    CHECK(list->size() == 3);
    CHECK(CountAddresses(*list) == 1 + 256 + 10);
    CHECK_FALSE(ParseTargetList("").ok());
    CHECK_FALSE(ParseTargetList("127.0.0.1,,127.0.0.2").ok());
    CHECK_FALSE(ParseTargetList("127.0.0.1,").ok());
  }

  TEST_CASE("port lists") {
    auto ports = ParsePortList("22,80,8000-8100");
    REQUIRE(ports.ok());
    CHECK(CountPorts(*ports) == 1 + 1 + 101);
    CHECK(CountPorts(*ParsePortList("1-65535")) == 65535);
    for (const char* bad : {"", "0", "65536", "90-80", "80-", "-80", "http", "80,,81", "1.5"}) {
      CAPTURE(bad);
      auto r = ParsePortList(bad);
      CHECK_FALSE(r.ok());
    }
    CHECK(ParsePortList("65536").status().message().find("'65536'") != std::string::npos);
  }
}

}  // namespace picket
