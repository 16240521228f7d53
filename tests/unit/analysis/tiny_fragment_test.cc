// A first IPv4 fragment that ends inside the TCP options (zeek's
// ipv4/fragmented-syn.pcap: 24 bytes of a 40-byte SYN header) still names its
// flow, so the later fragment joins it; the same cut without fragmentation
// stays malformed.
#include <doctest/doctest.h>

#include <vector>

#include "analysis/packet_decoder.h"
#include "frames.h"

namespace picket::analysis {
using namespace testing;

namespace {

// A SYN whose data offset claims 40 bytes, cut after `keep` bytes.
Bytes SynWithOptionsCutAt(std::size_t keep) {
  Bytes tcp = Tcp(12345, 80, kTcpSyn, 1000, 0);
  tcp[12] = 0xa0;  // data offset 10 words
  tcp.resize(keep, 1);
  return tcp;
}

}  // namespace

TEST_SUITE("analysis.decoder") {
  TEST_CASE("tiny first fragment: the fixed TCP header names the flow, later pieces join it") {
    Ip ip;
    ip.id = 1;
    ip.more_fragments = true;
    DecodedPacket first;
    REQUIRE(DecodePacket(Raw(Ethernet(Ipv4(ip, SynWithOptionsCutAt(24)))), first) ==
            DecodeResult::kOk);
    CHECK(first.has_ports);
    CHECK(first.src_port == 12345);
    CHECK(first.dst_port == 80);
    CHECK(first.tcp_flags == kTcpSyn);

    std::vector<Session> sessions;
    Analyzer analyzer({}, [&](Session&& s) { sessions.push_back(std::move(s)); });
    analyzer.Feed(Raw(Ethernet(Ipv4(ip, SynWithOptionsCutAt(24))), 1'000'000));
    ip.more_fragments = false;
    ip.fragment_offset = 3;
    analyzer.Feed(Raw(Ethernet(Ipv4(ip, Bytes(16, 1))), 1'000'100));
    analyzer.CloseAll(EndReason::kEndOfData);
    REQUIRE(sessions.size() == 1);
    CHECK(sessions[0].src_port == 12345);
    CHECK(sessions[0].dst_port == 80);
    CHECK(sessions[0].orig_pkts == 2);
    CHECK(sessions[0].history == "S");
    CHECK(analyzer.stats().undecodable == 0);
  }

  TEST_CASE("tiny first fragment: the same cut without fragmentation is malformed") {
    Ip ip;
    DecodedPacket d;
    CHECK(DecodePacket(Raw(Ethernet(Ipv4(ip, SynWithOptionsCutAt(24)))), d) ==
          DecodeResult::kUndecodable);
  }
}

}  // namespace picket::analysis
