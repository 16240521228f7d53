#include "analysis/community_id.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "analysis/packet_decoder.h"
#include "picket/analysis/analyzer.h"

namespace picket::analysis {
namespace {

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Text(const std::uint8_t* address, bool v6) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(v6 ? AF_INET6 : AF_INET, address, text, sizeof(text));
  return text;
}

}  // namespace

TEST_SUITE("analysis.community_id") {
  TEST_CASE("the spec's example: TCP 128.232.110.120:34855 -> 66.35.250.204:80") {
    std::uint8_t src[4] = {128, 232, 110, 120}, dst[4] = {66, 35, 250, 204};
    FlowTuple t{false, src, dst, 6, 34855, 80, true, false};
    CHECK(CommunityId(t) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    FlowTuple back{false, dst, src, 6, 80, 34855, true, false};
    CHECK(CommunityId(back) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
  }

  TEST_CASE("ICMP echo request and reply share one ID, one-way types keep their order") {
    bool one_way = true;
    CHECK(IcmpPortEquivalent(false, 8, 0, one_way) == 0);
    CHECK_FALSE(one_way);
    CHECK(IcmpPortEquivalent(false, 0, 0, one_way) == 8);
    CHECK(IcmpPortEquivalent(false, 3, 1, one_way) == 1);
    CHECK(one_way);
    CHECK(IcmpPortEquivalent(true, 128, 0, one_way) == 129);
    CHECK(IcmpPortEquivalent(true, 136, 0, one_way) == 135);
    CHECK(IcmpPortEquivalent(true, 1, 4, one_way) == 4);
    CHECK(one_way);
  }

  TEST_CASE("every packet of the spec's captures gets the baseline ID") {
    const std::filesystem::path dir = PICKET_TEST_PCAPS_DIR;
    const auto baseline_path = dir / "communityid-baseline_deflt.json";
    if (!std::filesystem::exists(baseline_path)) {
      MESSAGE("skipped: " << baseline_path << " is absent");
      return;
    }
    using Key = std::tuple<int, std::string, std::string, int, int>;
    std::map<Key, std::string> baseline;
    for (const auto& e : nlohmann::json::parse(ReadAll(baseline_path))) {
      baseline[{e["proto"].get<int>(), e["saddr"].get<std::string>(), e["daddr"].get<std::string>(),
                e["sport"].is_number() ? e["sport"].get<int>() : 0,
                e["dport"].is_number() ? e["dport"].get<int>() : 0}] = e["communityid"].get<std::string>();
    }
    std::set<std::string> matched;
    int packets = 0;
    for (const char* name : {"communityid-tcp.pcap", "communityid-udp.pcap", "communityid-icmp.pcap",
                             "communityid-icmp6.pcap", "communityid-ipv6.pcap", "communityid-sctp.pcap"}) {
      const std::string capture = ReadAll(dir / name);
      REQUIRE_MESSAGE(!capture.empty(), name);
      Status status = ReadCaptureBytes(capture, 0, [&](const RawPacket& packet) {
        DecodedPacket d;
        if (DecodePacket(packet, d) != DecodeResult::kOk) return;
        ++packets;
        FlowTuple t{d.is_v6, d.src, d.dst, d.proto, d.src_port, d.dst_port, d.has_ports, d.icmp_one_way};
        const std::string id = CommunityId(t);
        Key key{d.proto, Text(d.src, d.is_v6), Text(d.dst, d.is_v6), d.has_ports ? d.src_port : 0,
                d.has_ports ? d.dst_port : 0};
        auto it = baseline.find(key);
        INFO(name << " proto " << int(d.proto) << " " << std::get<1>(key) << ":" << std::get<3>(key)
                  << " -> " << std::get<2>(key) << ":" << std::get<4>(key));
        REQUIRE(it != baseline.end());
        CHECK(id == it->second);
        matched.insert(it->second);
      });
      CHECK_MESSAGE(status.ok(), name << ": " << status.ToString());
    }
    CHECK(packets > 20);
    // Baseline rows without a packet here (the spec's RSVP capture is not among
    // them): computed from the row's own tuple.
    int computed = 0;
    for (const auto& [key, id] : baseline) {
      if (matched.count(id) != 0) continue;
      const auto& [proto, saddr, daddr, sport, dport] = key;
      const bool v6 = saddr.find(':') != std::string::npos;
      std::uint8_t src[16] = {}, dst[16] = {};
      REQUIRE(inet_pton(v6 ? AF_INET6 : AF_INET, saddr.c_str(), src) == 1);
      REQUIRE(inet_pton(v6 ? AF_INET6 : AF_INET, daddr.c_str(), dst) == 1);
      const bool ports = proto == 6 || proto == 17 || proto == 132 || proto == 1 || proto == 58;
      FlowTuple t{v6, src, dst, static_cast<std::uint8_t>(proto), static_cast<std::uint16_t>(sport),
                  static_cast<std::uint16_t>(dport), ports, false};
      CHECK_MESSAGE(CommunityId(t) == id, saddr << " -> " << daddr << " proto " << proto);
      ++computed;
    }
    CHECK(computed <= 2);
  }
}

}  // namespace picket::analysis
