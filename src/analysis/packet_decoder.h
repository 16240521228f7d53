// Link layer → IPv4/IPv6 → transport: the fields the flow table, Community ID
// and nDPI need from one captured packet. Reads only inside the captured bytes.
#pragma once

#include <cstdint>

#include "picket/analysis/analyzer.h"

namespace picket::analysis {

enum class DecodeResult {
  kOk,
  kNotIp,        // a frame without IPv4/IPv6 (ARP, LLDP, unknown link type)
  kUndecodable,  // cut short or malformed headers
};

// IP protocol numbers the decoder knows.
inline constexpr std::uint8_t kProtoIcmp = 1;
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoIcmpV6 = 58;
inline constexpr std::uint8_t kProtoSctp = 132;

// TCP flag bits as on the wire.
inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpPsh = 0x08;
inline constexpr std::uint8_t kTcpAck = 0x10;

struct DecodedPacket {
  bool is_v6 = false;
  std::uint8_t src[16] = {};  // IPv4 uses the first 4 bytes
  std::uint8_t dst[16] = {};
  std::uint8_t proto = 0;
  // Ports; for ICMP/ICMPv6 the Community ID port equivalents (type, and the
  // reply type or the code), with icmp_one_way when the type has no reply.
  std::uint16_t src_port = 0, dst_port = 0;
  bool icmp_one_way = false;
  bool has_ports = false;  // TCP, UDP, SCTP, ICMP(v6): ports take part in the key

  // TCP only.
  std::uint8_t tcp_flags = 0;
  std::uint32_t tcp_seq = 0, tcp_ack = 0;
  std::uint16_t tcp_window = 0;

  // Transport payload bytes on the wire, per the IP length (not caplen).
  std::uint32_t payload_len = 0;

  // Fragments: `fragment` for any piece; `later_fragment` when it carries
  // no transport header (offset > 0), so ports come from the fragment table.
  bool fragment = false;
  bool later_fragment = false;
  std::uint32_t fragment_id = 0;

  // What nDPI is handed, as ndpiReader hands it: the IP header onwards up to
  // the end of the captured bytes; ndpi_ok is false where ndpiReader skips
  // the packet (IP length beyond the captured bytes, later fragments).
  const std::uint8_t* l3 = nullptr;
  std::uint32_t l3_captured = 0;
  bool ndpi_ok = false;
};

// Decodes `packet` (its link_type, data and wire_len) into `out`.
DecodeResult DecodePacket(const RawPacket& packet, DecodedPacket& out);

// Community ID port equivalents for ICMP (v6: is_v6). Returns the "dst port"
// (reply type, or the code for one-way types) and sets one_way.
std::uint16_t IcmpPortEquivalent(bool is_v6, std::uint8_t type, std::uint8_t code, bool& one_way);

}  // namespace picket::analysis
