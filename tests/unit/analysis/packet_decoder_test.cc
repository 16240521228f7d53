#include "analysis/packet_decoder.h"

#include <doctest/doctest.h>

#include "frames.h"

namespace picket::analysis {
using namespace testing;

namespace {

DecodedPacket MustDecode(const Bytes& frame, int link_type, std::uint32_t wire_len = 0) {
  DecodedPacket d;
  REQUIRE(DecodePacket(Raw(frame, 1, link_type, wire_len), d) == DecodeResult::kOk);
  return d;
}

Ip UdpIp() {
  Ip ip;
  ip.proto = kProtoUdp;
  return ip;
}

Bytes Prefix(std::initializer_list<std::uint8_t> head, const Bytes& rest) {
  Bytes b(head);
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

}  // namespace

TEST_SUITE("analysis.decoder") {
  TEST_CASE("Ethernet IPv4 TCP: addresses, ports, flags, payload") {
    const Bytes frame = Ethernet(Ipv4({}, Tcp(1234, 80, kTcpSyn | kTcpAck, 7, 9, 100)));
    const DecodedPacket d = MustDecode(frame, 1);
    CHECK_FALSE(d.is_v6);
    CHECK(d.src[0] == 10);
    CHECK(d.src[3] == 1);
    CHECK(d.dst[3] == 2);
    CHECK(d.proto == kProtoTcp);
    CHECK(d.src_port == 1234);
    CHECK(d.dst_port == 80);
    CHECK(d.tcp_flags == (kTcpSyn | kTcpAck));
    CHECK(d.tcp_seq == 7);
    CHECK(d.payload_len == 100);
    CHECK(d.ndpi_ok);
  }

  TEST_CASE("VLAN, QinQ (0x88a8 and 0x9100) and a bound on the number of tags") {
    const Bytes l3 = Ipv4(UdpIp(), Udp(53, 5353, 10));
    CHECK(MustDecode(Ethernet(l3, {0x8100}), 1).dst_port == 5353);
    CHECK(MustDecode(Ethernet(l3, {0x88a8, 0x8100}), 1).payload_len == 10);
    CHECK(MustDecode(Ethernet(l3, {0x9100, 0x8100, 0x8100}), 1).proto == kProtoUdp);
    DecodedPacket d;
    const Bytes too_many = Ethernet(l3, std::vector<std::uint16_t>(9, 0x8100));
    CHECK(DecodePacket(Raw(too_many), d) == DecodeResult::kUndecodable);
  }

  TEST_CASE("Linux cooked v1 and v2") {
    const Bytes l3 = Ipv4(UdpIp(), Udp(1, 2, 3));
    Bytes sll{0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0};
    Put16(sll, 0x0800);
    sll.insert(sll.end(), l3.begin(), l3.end());
    CHECK(MustDecode(sll, 113).payload_len == 3);
    Bytes sll2;
    Put16(sll2, 0x0800);
    Bytes rest{0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0};
    sll2.insert(sll2.end(), rest.begin(), rest.end());
    sll2.insert(sll2.end(), l3.begin(), l3.end());
    CHECK(MustDecode(sll2, 276).dst_port == 2);
  }

  TEST_CASE("raw IP under every raw link type") {
    const Bytes v4 = Ipv4(UdpIp(), Udp(1, 2));
    Ip ip6;
    ip6.src = "2001:db8::1";
    ip6.dst = "2001:db8::2";
    ip6.proto = kProtoUdp;
    const Bytes v6 = Ipv6(ip6, Udp(3, 4));
    for (int link : {12, 14, 101}) {
      CHECK_FALSE(MustDecode(v4, link).is_v6);
      CHECK(MustDecode(v6, link).is_v6);
    }
    CHECK(MustDecode(v4, 228).src_port == 1);
    CHECK(MustDecode(v6, 229).src_port == 3);
    DecodedPacket d;
    CHECK(DecodePacket(Raw(v6, 1, 228), d) == DecodeResult::kUndecodable);
  }

  TEST_CASE("BSD NULL and LOOP: AF in either byte order, AF_INET6 as 24, 28 or 30") {
    const Bytes v4 = Ipv4({}, Tcp(1, 2, kTcpAck, 0, 0));
    Ip ip6;
    ip6.src = "::1";
    ip6.dst = "::2";
    ip6.proto = kProtoTcp;
    const Bytes v6 = Ipv6(ip6, Tcp(1, 2, kTcpAck, 0, 0));
    for (int link : {0, 108}) {
      CHECK_FALSE(MustDecode(Prefix({2, 0, 0, 0}, v4), link).is_v6);
      CHECK_FALSE(MustDecode(Prefix({0, 0, 0, 2}, v4), link).is_v6);
      for (std::uint8_t af : {24, 28, 30}) {
        CHECK(MustDecode(Prefix({af, 0, 0, 0}, v6), link).is_v6);
        CHECK(MustDecode(Prefix({0, 0, 0, af}, v6), link).is_v6);
      }
      DecodedPacket d;
      CHECK(DecodePacket(Raw(Prefix({7, 0, 0, 0}, v4), 1, link), d) == DecodeResult::kNotIp);
    }
  }

  TEST_CASE("not IP, unknown link types and cut frames never read out of bounds") {
    DecodedPacket d;
    Bytes arp{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1};
    CHECK(DecodePacket(Raw(arp), d) == DecodeResult::kNotIp);
    CHECK(DecodePacket(Raw(arp, 1, 147), d) == DecodeResult::kNotIp);
    const Bytes frame = Ethernet(Ipv4({}, Tcp(1, 2, kTcpAck, 0, 0, 5)));
    for (std::size_t cut = 0; cut < 14 + 20 + 20; ++cut) {
      Bytes shorter(frame.begin(), frame.begin() + static_cast<long>(cut));
      CHECK(DecodePacket(Raw(shorter, 1, 1, static_cast<std::uint32_t>(frame.size())), d) ==
            DecodeResult::kUndecodable);
    }
  }

  TEST_CASE("payload length follows the IP length: Ethernet padding clipped, snaplen cuts counted") {
    Bytes frame = Ethernet(Ipv4({}, Tcp(1, 2, kTcpAck, 0, 0, 0)));
    frame.resize(60, 0);  // minimum Ethernet frame: 6 bytes of padding
    CHECK(MustDecode(frame, 1).payload_len == 0);
    const Bytes big = Ethernet(Ipv4({}, Tcp(1, 2, kTcpAck, 0, 0, 1000)));
    Bytes cut(big.begin(), big.begin() + 80);
    const DecodedPacket d = MustDecode(cut, 1, static_cast<std::uint32_t>(big.size()));
    CHECK(d.payload_len == 1000);
    CHECK_FALSE(d.ndpi_ok);  // ndpiReader skips packets cut by the snaplen
  }

  TEST_CASE("IPv4 options are skipped") {
    Bytes l3 = Ipv4(UdpIp(), Udp(7, 8, 4));
    l3[0] = 0x46;  // IHL 6: one option word
    l3.insert(l3.begin() + 20, {1, 1, 1, 0});
    l3[3] = static_cast<std::uint8_t>(l3[3] + 4);
    const DecodedPacket d = MustDecode(Ethernet(l3), 1);
    CHECK(d.src_port == 7);
    CHECK(d.payload_len == 4);
  }

  TEST_CASE("IPv6 extension headers: hop-by-hop, routing, destination options, AH") {
    Ip ip;
    ip.src = "2001:db8::1";
    ip.dst = "2001:db8::2";
    ip.proto = kProtoTcp;
    const Bytes eight{0, 0, 0, 0, 0, 0, 0, 0};
    const Bytes ah{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // (1 + 2) * 4 = 12 bytes
    const Bytes l3 = Ipv6(ip, Tcp(443, 5000, kTcpAck, 1, 1, 9), {{0, eight}, {43, eight}, {51, ah}, {60, eight}});
    const DecodedPacket d = MustDecode(Ethernet(l3, {}, true), 1);
    CHECK(d.proto == kProtoTcp);
    CHECK(d.src_port == 443);
    CHECK(d.payload_len == 9);
    // A chain longer than the bound is refused.
    std::vector<std::pair<std::uint8_t, Bytes>> chain(9, {60, eight});
    DecodedPacket bad;
    CHECK(DecodePacket(Raw(Ethernet(Ipv6(ip, Tcp(1, 2, 0, 0, 0), chain), {}, true)), bad) ==
          DecodeResult::kUndecodable);
  }

  TEST_CASE("fragments: the first carries ports, later ones are marked") {
    Ip ip;
    ip.proto = kProtoUdp;
    ip.id = 77;
    ip.more_fragments = true;
    const DecodedPacket first = MustDecode(Ethernet(Ipv4(ip, Udp(1000, 2000, 100))), 1);
    CHECK(first.fragment);
    CHECK_FALSE(first.later_fragment);
    CHECK(first.dst_port == 2000);
    CHECK(first.fragment_id == 77);
    ip.more_fragments = false;
    ip.fragment_offset = 14;
    const DecodedPacket later = MustDecode(Ethernet(Ipv4(ip, Bytes(40, 'z'))), 1);
    CHECK(later.later_fragment);
    CHECK(later.payload_len == 40);
    CHECK_FALSE(later.ndpi_ok);

    Ip ip6;
    ip6.src = "2001:db8::1";
    ip6.dst = "2001:db8::2";
    ip6.proto = kProtoUdp;
    Bytes fragment_header{0, 0, 0, 1, 0, 0, 0, 9};  // offset 0, M=1, id 9
    const DecodedPacket first6 = MustDecode(Ethernet(Ipv6(ip6, Udp(5, 6, 20), {{44, fragment_header}}), {}, true), 1);
    CHECK(first6.fragment);
    CHECK_FALSE(first6.later_fragment);
    CHECK(first6.src_port == 5);
    CHECK(first6.fragment_id == 9);
    fragment_header = {0, 0, 0, 0x10, 0, 0, 0, 9};  // offset 2 (x8 bytes)
    const DecodedPacket later6 = MustDecode(Ethernet(Ipv6(ip6, Bytes(30, 'q'), {{44, fragment_header}}), {}, true), 1);
    CHECK(later6.later_fragment);
    CHECK(later6.proto == kProtoUdp);
    CHECK(later6.payload_len == 30);
  }

  TEST_CASE("ICMP types become Community ID ports, SCTP has ports, other protocols none") {
    Ip ip;
    ip.proto = kProtoIcmp;
    const DecodedPacket echo = MustDecode(Ethernet(Ipv4(ip, Icmp(8, 0, 32))), 1);
    CHECK(echo.src_port == 8);
    CHECK(echo.dst_port == 0);
    CHECK_FALSE(echo.icmp_one_way);
    CHECK(echo.payload_len == 32);
    const DecodedPacket unreachable = MustDecode(Ethernet(Ipv4(ip, Icmp(3, 3, 28))), 1);
    CHECK(unreachable.dst_port == 3);
    CHECK(unreachable.icmp_one_way);
    ip.proto = kProtoSctp;
    Bytes sctp{0, 7, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    const DecodedPacket s = MustDecode(Ethernet(Ipv4(ip, sctp)), 1);
    CHECK(s.has_ports);
    CHECK(s.src_port == 7);
    CHECK(s.payload_len == 4);
    ip.proto = 47;  // GRE
    const DecodedPacket gre = MustDecode(Ethernet(Ipv4(ip, Bytes(24, 'g'))), 1);
    CHECK_FALSE(gre.has_ports);
    CHECK(gre.payload_len == 24);
  }
}

}  // namespace picket::analysis
