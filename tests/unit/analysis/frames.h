// Frames and captures built in the tests: IPv4/IPv6 packets with TCP, UDP,
// ICMP or any protocol, wrapped in a link layer, written as classic pcap.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "picket/analysis/analyzer.h"

namespace picket::analysis::testing {

using Bytes = std::vector<std::uint8_t>;

inline void Put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
inline void Put32(Bytes& b, std::uint32_t v) {
  Put16(b, static_cast<std::uint16_t>(v >> 16));
  Put16(b, static_cast<std::uint16_t>(v));
}

struct Ip {
  std::string src = "10.0.0.1", dst = "10.0.0.2";
  std::uint8_t proto = 6;
  std::uint16_t id = 1;
  bool more_fragments = false;
  std::uint16_t fragment_offset = 0;  // in 8-byte units
};

inline Bytes Tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, std::uint32_t seq,
                 std::uint32_t ack, std::size_t payload = 0, std::uint16_t window = 1000) {
  Bytes b;
  Put16(b, sport);
  Put16(b, dport);
  Put32(b, seq);
  Put32(b, ack);
  b.push_back(0x50);
  b.push_back(flags);
  Put16(b, window);
  Put16(b, 0);
  Put16(b, 0);
  b.resize(b.size() + payload, 'x');
  return b;
}

inline Bytes Udp(std::uint16_t sport, std::uint16_t dport, std::size_t payload = 0) {
  Bytes b;
  Put16(b, sport);
  Put16(b, dport);
  Put16(b, static_cast<std::uint16_t>(8 + payload));
  Put16(b, 0);
  b.resize(b.size() + payload, 'u');
  return b;
}

inline Bytes Icmp(std::uint8_t type, std::uint8_t code, std::size_t payload = 0) {
  Bytes b{type, code, 0, 0, 0, 1, 0, 1};
  b.resize(b.size() + payload, 'i');
  return b;
}

inline bool IsV6(const std::string& address) { return address.find(':') != std::string::npos; }

inline Bytes Ipv4(const Ip& ip, const Bytes& l4) {
  Bytes b;
  b.push_back(0x45);
  b.push_back(0);
  Put16(b, static_cast<std::uint16_t>(20 + l4.size()));
  Put16(b, ip.id);
  Put16(b, static_cast<std::uint16_t>((ip.more_fragments ? 0x2000 : 0) | ip.fragment_offset));
  b.push_back(64);
  b.push_back(ip.proto);
  Put16(b, 0);
  std::uint8_t a[4];
  inet_pton(AF_INET, ip.src.c_str(), a);
  b.insert(b.end(), a, a + 4);
  inet_pton(AF_INET, ip.dst.c_str(), a);
  b.insert(b.end(), a, a + 4);
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

// IPv6 with optional extension headers (each given whole, its first byte is
// patched to the next header); the last next-header is ip.proto.
inline Bytes Ipv6(const Ip& ip, const Bytes& l4, std::vector<std::pair<std::uint8_t, Bytes>> ext = {}) {
  Bytes extension_bytes;
  std::uint8_t first_next = ip.proto;
  if (!ext.empty()) {
    first_next = ext[0].first;
    for (std::size_t i = 0; i < ext.size(); ++i) {
      Bytes h = ext[i].second;
      h[0] = i + 1 < ext.size() ? ext[i + 1].first : ip.proto;
      extension_bytes.insert(extension_bytes.end(), h.begin(), h.end());
    }
  }
  Bytes b{0x60, 0, 0, 0};
  Put16(b, static_cast<std::uint16_t>(extension_bytes.size() + l4.size()));
  b.push_back(first_next);
  b.push_back(64);
  std::uint8_t a[16];
  inet_pton(AF_INET6, ip.src.c_str(), a);
  b.insert(b.end(), a, a + 16);
  inet_pton(AF_INET6, ip.dst.c_str(), a);
  b.insert(b.end(), a, a + 16);
  b.insert(b.end(), extension_bytes.begin(), extension_bytes.end());
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

inline Bytes IpPacket(const Ip& ip, const Bytes& l4) { return IsV6(ip.src) ? Ipv6(ip, l4) : Ipv4(ip, l4); }

inline Bytes Ethernet(const Bytes& l3, std::vector<std::uint16_t> vlan_types = {}, bool v6 = false) {
  Bytes b{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
  for (std::uint16_t tpid : vlan_types) {
    Put16(b, tpid);
    Put16(b, 42);  // TCI
  }
  Put16(b, v6 ? 0x86dd : 0x0800);
  b.insert(b.end(), l3.begin(), l3.end());
  return b;
}

// A classic pcap (µs, little-endian) built in memory.
class PcapBuilder {
 public:
  explicit PcapBuilder(std::uint32_t link_type = 1) {
    Le32(0xa1b2c3d4);
    Le16(2);
    Le16(4);
    Le32(0);
    Le32(0);
    Le32(262144);
    Le32(link_type);
  }
  // Adds a record; wire_len 0 means the frame's size. Returns its offset.
  std::uint64_t Add(std::int64_t ts_us, const Bytes& frame, std::uint32_t wire_len = 0) {
    const std::uint64_t offset = data_.size();
    Le32(static_cast<std::uint32_t>(ts_us / 1'000'000));
    Le32(static_cast<std::uint32_t>(ts_us % 1'000'000));
    Le32(static_cast<std::uint32_t>(frame.size()));
    Le32(wire_len != 0 ? wire_len : static_cast<std::uint32_t>(frame.size()));
    data_.append(reinterpret_cast<const char*>(frame.data()), frame.size());
    return offset;
  }
  const std::string& data() const { return data_; }

 private:
  void Le16(std::uint16_t v) { data_.append(reinterpret_cast<const char*>(&v), 2); }
  void Le32(std::uint32_t v) { data_.append(reinterpret_cast<const char*>(&v), 4); }
  std::string data_;
};

// A RawPacket over `frame` (kept alive by the caller).
inline RawPacket Raw(const Bytes& frame, std::int64_t ts_us = 1'000'000, int link_type = 1,
                     std::uint32_t wire_len = 0, std::uint64_t offset = 0) {
  RawPacket p;
  p.ts_us = ts_us;
  p.link_type = link_type;
  p.data = std::span<const std::uint8_t>(frame.data(), frame.size());
  p.wire_len = wire_len != 0 ? wire_len : static_cast<std::uint32_t>(frame.size());
  p.ref = {0, offset};
  return p;
}

}  // namespace picket::analysis::testing
