// Checksums against real captured packets, SipHash against the reference
// vectors, SYN-cookie validation.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <vector>

#include "scan/packet.h"
#include "scan/siphash.h"
#include "scan/syn_cookie.h"

namespace picket::scan {
namespace {

std::vector<std::uint8_t> Hex(const char* text) {
  std::vector<std::uint8_t> out;
  int nibble = -1;
  for (const char* p = text; *p; ++p) {
    int v;
    if (*p >= '0' && *p <= '9')
      v = *p - '0';
    else if (*p >= 'a' && *p <= 'f')
      v = *p - 'a' + 10;
    else
      continue;
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(nibble << 4 | v));
      nibble = -1;
    }
  }
  return out;
}

// Real SYNs with correct checksums (tcpdump -vv says "correct"), from
// communityid-tcp.pcap and arkime-imap.pcap in ../shared/pcaps.
const char* kSynA =
    "4500 003c 698b 4000 4006 a4e0 80e8 6e78 4223 facc 8827 0050 becb f685 0000 0000"
    "a002 16d0 22dc 0000 0204 05b4 0402 080a 0533 9f0e 0000 0000 0103 0300";
const char* kSynB =
    "4500 003c ea43 4000 4006 03bb 8397 2015 8397 257a 1047 008f f151 2c32 0000 0000"
    "a002 7d78 f68b 0000 0204 05b4 0402 080a 04c4 5427 0000 0000 0103 0300";

TEST_CASE("IPv4 header checksum matches known vectors") {
  // RFC 1071 style example (Wikipedia "IPv4 header checksum"): 0xb861.
  auto wiki = Hex("4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7");
  CHECK(InternetChecksum(wiki) == 0xb861);
  for (const char* pkt : {kSynA, kSynB}) {
    auto p = Hex(pkt);
    const std::uint16_t stored = static_cast<std::uint16_t>(p[10] << 8 | p[11]);
    p[10] = p[11] = 0;
    CHECK(InternetChecksum({p.data(), 20}) == stored);
  }
}

TEST_CASE("TCP checksum matches captured SYNs") {
  const std::uint16_t expected[] = {0x22dc, 0xf68b};
  int i = 0;
  for (const char* pkt : {kSynA, kSynB}) {
    auto p = Hex(pkt);
    const std::uint32_t src =
        static_cast<std::uint32_t>(p[12] << 24 | p[13] << 16 | p[14] << 8 | p[15]);
    const std::uint32_t dst =
        static_cast<std::uint32_t>(p[16] << 24 | p[17] << 16 | p[18] << 8 | p[19]);
    p[36] = p[37] = 0;
    CHECK(TcpChecksumV4(src, dst, {p.data() + 20, p.size() - 20}) == expected[i++]);
  }
}

TEST_CASE("BuildSynPacket writes a SYN whose checksums verify and that parses back") {
  SynProbe probe;
  probe.src_ip = 0x7f000001;
  probe.dst_ip = 0x7f000a0b;
  probe.src_port = 61500;
  probe.dst_port = 8080;
  probe.seq = 0xdeadbeef;
  probe.ip_id = 0x1234;
  std::array<std::uint8_t, kSynPacketSize> buf{};
  BuildSynPacket(probe, buf);
  CHECK(buf[0] == 0x45);
  CHECK(InternetChecksum({buf.data(), 20}) == 0);  // a correct header sums to 0xffff
  CHECK(TcpChecksumV4(probe.src_ip, probe.dst_ip, {buf.data() + 20, 24}) == 0);
  auto parsed = ParseIpv4Tcp(buf);
  REQUIRE(parsed);
  CHECK(parsed->src_ip == probe.src_ip);
  CHECK(parsed->dst_ip == probe.dst_ip);
  CHECK(parsed->src_port == 61500);
  CHECK(parsed->dst_port == 8080);
  CHECK(parsed->seq == 0xdeadbeef);
  CHECK(parsed->flags == kTcpSyn);
  CHECK(parsed->ttl == 64);
  // Same layout as the kernel's: MSS option 02 04 05 b4.
  CHECK(buf[40] == 2);
  CHECK(buf[41] == 4);
  CHECK(buf[42] == 0x05);
  CHECK(buf[43] == 0xb4);
}

TEST_CASE("link headers are stripped per DLT and junk is refused") {
  auto syn = Hex(kSynA);
  // Ethernet header (IPv4 ethertype) then the packet; built in one step because
  // g++ 12 warns (-Warray-bounds, a false positive) on insert() into a 14-byte vector.
  std::vector<std::uint8_t> eth = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0};
  eth.reserve(14 + syn.size());
  std::copy(syn.begin(), syn.end(), std::back_inserter(eth));
  auto ip = IpPayloadOf(1, eth);
  REQUIRE(ip);
  CHECK(ip->size() == syn.size());
  CHECK(IpPayloadOf(12, syn)->size() == syn.size());
  eth[12] = 0x86;  // IPv6 ethertype
  eth[13] = 0xdd;
  CHECK_FALSE(IpPayloadOf(1, eth));
  CHECK_FALSE(IpPayloadOf(1, std::vector<std::uint8_t>(10, 0)));
  CHECK_FALSE(IpPayloadOf(9999, syn));
  CHECK_FALSE(ParseIpv4Tcp(std::vector<std::uint8_t>(19, 0x45)));
  auto udp = syn;
  udp[9] = 17;
  CHECK_FALSE(ParseIpv4Tcp(udp));
}

TEST_CASE("SipHash-2-4 reference vectors") {
  SipKey key;
  std::array<std::uint8_t, 16> k{};
  std::iota(k.begin(), k.end(), 0);
  for (int i = 7; i >= 0; --i) key.k0 = key.k0 << 8 | k[i];
  for (int i = 15; i >= 8; --i) key.k1 = key.k1 << 8 | k[i];
  std::array<std::uint8_t, 64> msg{};
  std::iota(msg.begin(), msg.end(), 0);
  CHECK(SipHash24(key, {msg.data(), 0}) == 0x726fdb47dd0e0e31ull);
  CHECK(SipHash24(key, {msg.data(), 1}) == 0x74f839c593dc67fdull);
  CHECK(SipHash24(key, {msg.data(), 8}) == 0x93f5f5799a932462ull);
  CHECK(SipHash24(key, {msg.data(), 15}) == 0xa129ca6149be45e5ull);
  CHECK(SipHash24(key, {msg.data(), 63}) == 0x958a324ceb064572ull);
}

TEST_CASE("SYN cookie accepts the right ack and rejects everything else") {
  SynCookie cookie({0x0123456789abcdefull, 0xfedcba9876543210ull});
  const std::uint32_t us = 0x7f000001, them = 0x7f000203;
  const std::uint16_t dport = 8080;
  const SynCookie::Probe probe = cookie.For(us, them, dport);
  const std::uint16_t sport = probe.src_port;
  CHECK(sport >= kSourcePortBase);
  const std::uint32_t seq = probe.seq;
  CHECK(cookie.Validate(us, them, sport, dport, seq + 1));
  CHECK_FALSE(cookie.Validate(us, them, sport, dport, seq));
  CHECK_FALSE(cookie.Validate(us, them, sport, dport, seq + 2));
  CHECK_FALSE(cookie.Validate(us, them + 1, sport, dport, seq + 1));
  CHECK_FALSE(cookie.Validate(us, them, sport, dport + 1, seq + 1));
  CHECK_FALSE(cookie.Validate(us + 1, them, sport, dport, seq + 1));
  CHECK_FALSE(cookie.Validate(us, them, static_cast<std::uint16_t>(sport ^ 1), dport, seq + 1));
  // A port below our range is never ours, whatever the ack.
  CHECK_FALSE(cookie.Validate(us, them, 40000, dport, seq + 1));
  // Nor is another port of the range with the right sequence.
  const auto other_port = static_cast<std::uint16_t>(
      kSourcePortBase + (sport - kSourcePortBase + 1) % kSourcePortCount);
  CHECK_FALSE(cookie.Validate(us, them, other_port, dport, seq + 1));
  // Another key produces other cookies.
  SynCookie other({1, 2});
  CHECK_FALSE(other.Validate(us, them, sport, dport, seq + 1));
  // Wrap-around: ack - 1 is computed mod 2^32.
  int accepted = 0;
  for (std::uint32_t ack = 0; ack < 100000; ++ack)
    accepted += cookie.Validate(us, them, sport, dport, ack);
  CHECK(accepted <= 1);
}

TEST_CASE("source ports spread over the whole range") {
  SynCookie cookie({5, 6});
  std::array<int, kSourcePortCount> hits{};
  for (std::uint32_t ip = 0; ip < 4096; ++ip) {
    for (std::uint16_t port = 1; port <= 16; ++port) {
      const std::uint16_t sp = cookie.For(0x7f000001, 0x7f000000 | ip, port).src_port;
      REQUIRE(sp >= kSourcePortBase);
      ++hits[sp - kSourcePortBase];
    }
  }
  const int used =
      static_cast<int>(std::count_if(hits.begin(), hits.end(), [](int h) { return h > 0; }));
  CHECK(used > 4000);
}

}  // namespace
}  // namespace picket::scan
