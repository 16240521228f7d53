// The packet send path's helpers: MAC text and the neighbour table.
#include "scan/packet_sender.h"

#include <doctest/doctest.h>

namespace picket::scan {

TEST_SUITE("scan.packet_sender") {
  TEST_CASE("MAC addresses parse from sysfs text, nothing else does") {
    CHECK(ParseMac("02:00:5e:10:a0:ff\n") == MacAddress{0x02, 0x00, 0x5e, 0x10, 0xa0, 0xff});
    CHECK_FALSE(ParseMac("02:00:5e:10:a0"));
    CHECK_FALSE(ParseMac("02:00:5e:10:a0:ff:01"));
    CHECK_FALSE(ParseMac("zz:00:5e:10:a0:ff"));
    CHECK_FALSE(ParseMac(""));
  }

  TEST_CASE("the gateway's MAC comes from a complete neighbour entry on its interface") {
    const std::string table =
        "IP address       HW type     Flags       HW address            Mask     Device\n"
        "10.254.0.2       0x1         0x2         aa:bb:cc:dd:ee:01     *        vtx\n"
        "10.254.0.3       0x1         0x0         00:00:00:00:00:00     *        vtx\n"
        "10.254.0.4       0x1         0x2         aa:bb:cc:dd:ee:04     *        eth1\n";
    const auto at = [](const char* ip) { return *IpAddress::Parse(ip); };
    CHECK(FindNeighbour(table, at("10.254.0.2"), "vtx") == MacAddress{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01});
    CHECK_FALSE(FindNeighbour(table, at("10.254.0.3"), "vtx"));  // incomplete: still resolving
    CHECK_FALSE(FindNeighbour(table, at("10.254.0.4"), "vtx"));  // another interface's
    CHECK_FALSE(FindNeighbour(table, at("10.254.0.9"), "vtx"));
    CHECK_FALSE(FindNeighbour("", at("10.254.0.2"), "vtx"));
  }

  TEST_CASE("every frame starts with the gateway's MAC, ours and IPv4") {
    const auto h = EthernetHeader({1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 12});
    CHECK(h == std::array<std::uint8_t, kEthernetHeaderSize>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                             0x08, 0x00});
  }
}

}  // namespace picket::scan
