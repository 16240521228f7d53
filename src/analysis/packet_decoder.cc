#include "analysis/packet_decoder.h"

#include <cstring>

namespace picket::analysis {
namespace {

// Link types as libpcap reports them (DLT_*) and as files store them
// (LINKTYPE_*); both numberings are accepted.
constexpr int kLinkNull = 0;
constexpr int kLinkEthernet = 1;
constexpr int kLinkRaw12 = 12;
constexpr int kLinkRaw14 = 14;
constexpr int kLinkRawFile = 101;
constexpr int kLinkLoop = 108;
constexpr int kLinkLinuxSll = 113;
constexpr int kLinkIpv4 = 228;
constexpr int kLinkIpv6 = 229;
constexpr int kLinkLinuxSll2 = 276;

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86dd;
constexpr int kMaxVlanTags = 8;
constexpr int kMaxIpv6ExtHeaders = 8;

std::uint16_t Be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t Be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

bool IsVlanEtherType(std::uint16_t type) {
  return type == 0x8100 || type == 0x88a8 || type == 0x9100;
}

// Skips VLAN tags after an EtherType at `type_at`; returns the offset of the
// L3 header and the final EtherType, or false when the tags are cut short.
bool SkipVlanTags(const std::uint8_t* data, std::size_t caplen, std::size_t type_at,
                  std::size_t& l3_offset, std::uint16_t& type) {
  if (type_at + 2 > caplen) return false;
  type = Be16(data + type_at);
  std::size_t offset = type_at + 2;
  for (int tags = 0; IsVlanEtherType(type); ++tags) {
    if (tags == kMaxVlanTags || offset + 4 > caplen) return false;
    type = Be16(data + offset + 2);
    offset += 4;
  }
  l3_offset = offset;
  return true;
}

// Where the IP header starts, per link type. kNotIp for other payloads.
DecodeResult FindL3(const RawPacket& packet, std::size_t& l3_offset) {
  const std::uint8_t* data = packet.data.data();
  const std::size_t caplen = packet.data.size();
  std::uint16_t type = 0;
  switch (packet.link_type) {
    case kLinkEthernet:
      if (caplen < 14) return DecodeResult::kUndecodable;
      if (!SkipVlanTags(data, caplen, 12, l3_offset, type)) return DecodeResult::kUndecodable;
      break;
    case kLinkLinuxSll:
      if (caplen < 16) return DecodeResult::kUndecodable;
      if (!SkipVlanTags(data, caplen, 14, l3_offset, type)) return DecodeResult::kUndecodable;
      break;
    case kLinkLinuxSll2:
      if (caplen < 20) return DecodeResult::kUndecodable;
      type = Be16(data);
      if (IsVlanEtherType(type)) {
        // The tags follow the 20-byte header; reuse the walk from a virtual type field.
        std::size_t offset = 20;
        int tags = 0;
        while (IsVlanEtherType(type)) {
          if (tags++ == kMaxVlanTags || offset + 4 > caplen) return DecodeResult::kUndecodable;
          type = Be16(data + offset + 2);
          offset += 4;
        }
        l3_offset = offset;
      } else {
        l3_offset = 20;
      }
      break;
    case kLinkNull:
    case kLinkLoop: {
      if (caplen < 4) return DecodeResult::kUndecodable;
      // The AF value is in the capturing host's byte order (NULL) or network
      // order (LOOP); files from either host occur, so accept both orders.
      const std::uint32_t big = Be32(data);
      const std::uint32_t little = std::uint32_t{data[3]} << 24 | std::uint32_t{data[2]} << 16 |
                                   std::uint32_t{data[1]} << 8 | data[0];
      auto is_v4 = [](std::uint32_t af) { return af == 2; };
      auto is_v6 = [](std::uint32_t af) { return af == 10 || af == 24 || af == 28 || af == 30; };
      if (is_v4(big) || is_v4(little)) {
        type = kEtherIpv4;
      } else if (is_v6(big) || is_v6(little)) {
        type = kEtherIpv6;
      } else {
        return DecodeResult::kNotIp;
      }
      l3_offset = 4;
      break;
    }
    case kLinkRaw12:
    case kLinkRaw14:
    case kLinkRawFile:
    case kLinkIpv4:
    case kLinkIpv6:
      if (caplen < 1) return DecodeResult::kUndecodable;
      l3_offset = 0;
      type = (data[0] >> 4) == 6 ? kEtherIpv6 : kEtherIpv4;
      if (packet.link_type == kLinkIpv4 && type != kEtherIpv4) return DecodeResult::kUndecodable;
      if (packet.link_type == kLinkIpv6 && type != kEtherIpv6) return DecodeResult::kUndecodable;
      break;
    default:
      return DecodeResult::kNotIp;
  }
  if (type != kEtherIpv4 && type != kEtherIpv6) return DecodeResult::kNotIp;
  if (l3_offset >= caplen) return DecodeResult::kUndecodable;
  const int version = data[l3_offset] >> 4;
  if ((type == kEtherIpv4 && version != 4) || (type == kEtherIpv6 && version != 6)) {
    return DecodeResult::kUndecodable;
  }
  return DecodeResult::kOk;
}

// Transport header at l4 (l4_captured bytes present, l4_wire on the wire).
DecodeResult DecodeTransport(const std::uint8_t* l4, std::size_t l4_captured, std::size_t l4_wire,
                             DecodedPacket& out) {
  auto payload_after = [&](std::size_t header) {
    return static_cast<std::uint32_t>(l4_wire > header ? l4_wire - header : 0);
  };
  switch (out.proto) {
    case kProtoTcp: {
      if (l4_captured < 20 || l4_wire < 20) return DecodeResult::kUndecodable;
      const std::size_t header = static_cast<std::size_t>(l4[12] >> 4) * 4;
      // A first fragment may end inside the options (a tiny-fragment SYN): the
      // fixed 20 bytes still name the flow, the rest comes in later fragments.
      if (header < 20 || (header > l4_wire && !out.fragment)) return DecodeResult::kUndecodable;
      out.src_port = Be16(l4);
      out.dst_port = Be16(l4 + 2);
      out.tcp_seq = Be32(l4 + 4);
      out.tcp_ack = Be32(l4 + 8);
      out.tcp_flags = l4[13];
      out.tcp_window = Be16(l4 + 14);
      out.payload_len = payload_after(header);
      out.has_ports = true;
      return DecodeResult::kOk;
    }
    case kProtoUdp:
    case kProtoSctp: {
      const std::size_t header = out.proto == kProtoUdp ? 8 : 12;
      if (l4_captured < header || l4_wire < header) return DecodeResult::kUndecodable;
      out.src_port = Be16(l4);
      out.dst_port = Be16(l4 + 2);
      out.payload_len = payload_after(header);
      out.has_ports = true;
      return DecodeResult::kOk;
    }
    case kProtoIcmp:
    case kProtoIcmpV6: {
      if (l4_captured < 2 || l4_wire < 4) return DecodeResult::kUndecodable;
      out.src_port = l4[0];
      out.dst_port = IcmpPortEquivalent(out.is_v6, l4[0], l4[1], out.icmp_one_way);
      out.payload_len = payload_after(8);
      out.has_ports = true;
      return DecodeResult::kOk;
    }
    default:
      out.payload_len = static_cast<std::uint32_t>(l4_wire);
      return DecodeResult::kOk;
  }
}

bool IsIpv6ExtHeader(std::uint8_t next) {
  return next == 0 || next == 43 || next == 44 || next == 51 || next == 60;
}

}  // namespace

std::uint16_t IcmpPortEquivalent(bool is_v6, std::uint8_t type, std::uint8_t code, bool& one_way) {
  // The Community ID spec's request/reply pairs; everything else is one-way.
  static constexpr std::uint8_t kV4Pairs[][2] = {{8, 0}, {13, 14}, {15, 16}, {10, 9}, {17, 18}};
  static constexpr std::uint8_t kV6Pairs[][2] = {{128, 129}, {130, 131}, {133, 134},
                                                 {135, 136}, {139, 140}, {144, 145}};
  auto find = [&](const auto& pairs) -> int {
    for (const auto& pair : pairs) {
      if (pair[0] == type) return pair[1];
      if (pair[1] == type) return pair[0];
    }
    return -1;
  };
  const int reply = is_v6 ? find(kV6Pairs) : find(kV4Pairs);
  one_way = reply < 0;
  return static_cast<std::uint16_t>(reply < 0 ? code : reply);
}

DecodeResult DecodePacket(const RawPacket& packet, DecodedPacket& out) {
  out = DecodedPacket{};
  std::size_t l3_offset = 0;
  DecodeResult found = FindL3(packet, l3_offset);
  if (found != DecodeResult::kOk) return found;

  const std::uint8_t* data = packet.data.data();
  const std::size_t caplen = packet.data.size();
  const std::size_t wire_len = packet.wire_len < caplen ? caplen : packet.wire_len;
  const std::uint8_t* l3 = data + l3_offset;
  const std::size_t l3_captured = caplen - l3_offset;
  const std::size_t l3_wire = wire_len - l3_offset;
  out.l3 = l3;
  out.l3_captured = static_cast<std::uint32_t>(l3_captured);
  // ndpiReader skips frames shorter than 28 bytes before looking at them.
  const bool ndpi_frame_ok = caplen >= 28;

  std::size_t header_len = 0;  // IP header plus extension headers
  std::size_t ip_len = 0;      // IP length on the wire (header included)
  if ((l3[0] >> 4) == 4) {
    if (l3_captured < 20) return DecodeResult::kUndecodable;
    header_len = static_cast<std::size_t>(l3[0] & 0x0f) * 4;
    if (header_len < 20 || header_len > l3_captured) return DecodeResult::kUndecodable;
    const std::size_t total = Be16(l3 + 2);
    // 0 appears in captures of TSO sends: take the frame as the packet.
    ip_len = total == 0 ? l3_wire : total;
    if (ip_len < header_len) return DecodeResult::kUndecodable;
    if (ip_len > l3_wire) ip_len = l3_wire;
    out.proto = l3[9];
    std::memcpy(out.src, l3 + 12, 4);
    std::memcpy(out.dst, l3 + 16, 4);
    const std::uint16_t flags_offset = Be16(l3 + 6);
    const bool more = (flags_offset & 0x2000) != 0;
    const std::uint16_t frag_offset = flags_offset & 0x1fff;
    out.fragment = more || frag_offset != 0;
    out.later_fragment = frag_offset != 0;
    out.fragment_id = Be16(l3 + 4);
    out.ndpi_ok = ndpi_frame_ok && total >= header_len && l3_captured >= total &&
                  !out.later_fragment;
  } else {
    if (l3_captured < 40) return DecodeResult::kUndecodable;
    out.is_v6 = true;
    const std::size_t payload = Be16(l3 + 4);
    ip_len = payload == 0 ? l3_wire : 40 + payload;
    if (ip_len > l3_wire) ip_len = l3_wire;
    std::memcpy(out.src, l3 + 8, 16);
    std::memcpy(out.dst, l3 + 24, 16);
    std::uint8_t next = l3[6];
    std::size_t offset = 40;
    bool ah_seen = false;
    for (int walked = 0; IsIpv6ExtHeader(next); ++walked) {
      if (walked == kMaxIpv6ExtHeaders) return DecodeResult::kUndecodable;
      if (next == 44) {
        if (offset + 8 > l3_captured) return DecodeResult::kUndecodable;
        const std::uint16_t fragment_field = Be16(l3 + offset + 2);
        out.fragment = true;
        out.later_fragment = (fragment_field >> 3) != 0;
        out.fragment_id = Be32(l3 + offset + 4);
        next = l3[offset];
        offset += 8;
        if (out.later_fragment) break;  // no transport header in this piece
        continue;
      }
      if (offset + 2 > l3_captured) return DecodeResult::kUndecodable;
      const std::size_t length = next == 51 ? (std::size_t{l3[offset + 1]} + 2) * 4
                                            : (std::size_t{l3[offset + 1]} + 1) * 8;
      ah_seen = ah_seen || next == 51;
      next = l3[offset];
      offset += length;
    }
    if (offset > ip_len || offset > l3_captured) return DecodeResult::kUndecodable;
    header_len = offset;
    out.proto = next;
    // ndpiReader keeps the IPv6 packet when all of it was captured, drops
    // later fragments and stops at AH (it does not walk it).
    out.ndpi_ok = ndpi_frame_ok && payload != 0 && l3_captured >= 40 + payload &&
                  !out.later_fragment && !ah_seen;
  }

  const std::size_t l4_wire = ip_len - header_len;
  if (out.later_fragment) {
    out.payload_len = static_cast<std::uint32_t>(l4_wire);
    return DecodeResult::kOk;
  }
  return DecodeTransport(l3 + header_len, l3_captured - header_len, l4_wire, out);
}

}  // namespace picket::analysis
