// Building IPv4 TCP SYN probes and parsing replies. Pure functions over byte
// spans: no sockets, so the unit tests check them against known vectors.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace picket::scan {

// RFC 1071 one's-complement sum folded to 16 bits and inverted. `initial` is a
// running 32-bit sum (e.g. of the TCP pseudo-header).
std::uint16_t InternetChecksum(std::span<const std::uint8_t> data, std::uint32_t initial = 0);
// The TCP checksum of `segment` (header + payload, checksum field as stored)
// over the IPv4 pseudo-header. Addresses in host byte order.
std::uint16_t TcpChecksumV4(std::uint32_t src, std::uint32_t dst,
                            std::span<const std::uint8_t> segment);

struct SynProbe {
  std::uint32_t src_ip = 0;  // host byte order
  std::uint32_t dst_ip = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint16_t ip_id = 0;
  std::uint8_t ttl = 64;
  std::uint16_t window = 64240;
  std::uint16_t mss = 1460;  // sent as the only option: hosts filter option-less SYNs (zmap 3.0)
};

// IPv4 (20 bytes, no options) + TCP (24 bytes: header + MSS option).
inline constexpr std::size_t kSynPacketSize = 44;
// Writes a complete SYN with both checksums filled in.
void BuildSynPacket(const SynProbe& probe, std::span<std::uint8_t, kSynPacketSize> out);

struct TcpReply {
  std::uint32_t src_ip = 0;  // host byte order
  std::uint32_t dst_ip = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;
  std::uint8_t ttl = 0;
  std::uint16_t window = 0;
};

inline constexpr std::uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

// Parses an IPv4 packet carrying TCP (first fragment, header complete within
// the captured bytes). nullopt for anything else.
std::optional<TcpReply> ParseIpv4Tcp(std::span<const std::uint8_t> packet);

// Strips the link-layer header of a captured frame for a pcap DLT value
// (EN10MB incl. one VLAN tag, RAW/IPV4, LINUX_SLL, LINUX_SLL2, NULL/LOOP).
// nullopt for other link types or non-IPv4 frames.
std::optional<std::span<const std::uint8_t>> IpPayloadOf(int dlt,
                                                         std::span<const std::uint8_t> frame);

}  // namespace picket::scan
