#include "scan/packet.h"

namespace picket::scan {
namespace {

inline void Put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void Put32(std::uint8_t* p, std::uint32_t v) {
  Put16(p, static_cast<std::uint16_t>(v >> 16));
  Put16(p + 2, static_cast<std::uint16_t>(v));
}
inline std::uint16_t Get16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline std::uint32_t Get32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(Get16(p)) << 16 | Get16(p + 2);
}

std::uint32_t Sum16(std::span<const std::uint8_t> data, std::uint32_t sum) {
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
  if (i < data.size()) sum += static_cast<std::uint32_t>(data[i] << 8);
  return sum;
}

}  // namespace

std::uint16_t InternetChecksum(std::span<const std::uint8_t> data, std::uint32_t initial) {
  std::uint64_t sum = Sum16(data, 0);
  sum += initial;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::uint16_t TcpChecksumV4(std::uint32_t src, std::uint32_t dst,
                            std::span<const std::uint8_t> segment) {
  std::uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6u +
                         static_cast<std::uint32_t>(segment.size());
  return InternetChecksum(segment, pseudo);
}

void BuildSynPacket(const SynProbe& probe, std::span<std::uint8_t, kSynPacketSize> out) {
  std::uint8_t* ip = out.data();
  ip[0] = 0x45;  // IPv4, 5-word header
  ip[1] = 0;
  Put16(ip + 2, kSynPacketSize);
  Put16(ip + 4, probe.ip_id);
  Put16(ip + 6, 0);  // no flags, offset 0
  ip[8] = probe.ttl;
  ip[9] = 6;  // TCP
  Put16(ip + 10, 0);
  Put32(ip + 12, probe.src_ip);
  Put32(ip + 16, probe.dst_ip);
  Put16(ip + 10, InternetChecksum({ip, 20}));

  std::uint8_t* tcp = ip + 20;
  Put16(tcp + 0, probe.src_port);
  Put16(tcp + 2, probe.dst_port);
  Put32(tcp + 4, probe.seq);
  Put32(tcp + 8, 0);
  tcp[12] = 6 << 4;  // data offset: 6 words (MSS option)
  tcp[13] = kTcpSyn;
  Put16(tcp + 14, probe.window);
  Put16(tcp + 16, 0);
  Put16(tcp + 18, 0);
  tcp[20] = 2;  // MSS
  tcp[21] = 4;
  Put16(tcp + 22, probe.mss);
  Put16(tcp + 16, TcpChecksumV4(probe.src_ip, probe.dst_ip, {tcp, 24}));
}

std::optional<TcpReply> ParseIpv4Tcp(std::span<const std::uint8_t> p) {
  if (p.size() < 20 || (p[0] >> 4) != 4) return std::nullopt;
  const std::size_t ihl = static_cast<std::size_t>(p[0] & 0x0f) * 4;
  if (ihl < 20 || p[9] != 6) return std::nullopt;
  if ((Get16(&p[6]) & 0x1fff) != 0) return std::nullopt;  // not the first fragment
  if (p.size() < ihl + 20) return std::nullopt;
  const std::uint8_t* t = p.data() + ihl;
  TcpReply r;
  r.ttl = p[8];
  r.src_ip = Get32(&p[12]);
  r.dst_ip = Get32(&p[16]);
  r.src_port = Get16(t);
  r.dst_port = Get16(t + 2);
  r.seq = Get32(t + 4);
  r.ack = Get32(t + 8);
  r.flags = t[13];
  r.window = Get16(t + 14);
  return r;
}

std::optional<std::span<const std::uint8_t>> IpPayloadOf(int dlt, std::span<const std::uint8_t> f) {
  constexpr int kDltNull = 0, kDltEn10mb = 1, kDltRaw = 12, kDltRawAlt = 14, kDltLoop = 108,
                kDltLinuxSll = 113, kDltIpv4 = 228, kDltLinuxSll2 = 276;
  std::size_t offset = 0;
  std::uint16_t ethertype = 0x0800;
  switch (dlt) {
    case kDltEn10mb:
      if (f.size() < 14) return std::nullopt;
      ethertype = Get16(&f[12]);
      offset = 14;
      if (ethertype == 0x8100 && f.size() >= 18) {
        ethertype = Get16(&f[16]);
        offset = 18;
      }
      break;
    case kDltRaw:
    case kDltRawAlt:
    case kDltIpv4:
      break;
    case kDltLinuxSll:
      if (f.size() < 16) return std::nullopt;
      ethertype = Get16(&f[14]);
      offset = 16;
      break;
    case kDltLinuxSll2:
      if (f.size() < 20) return std::nullopt;
      ethertype = Get16(&f[0]);
      offset = 20;
      break;
    case kDltNull:
    case kDltLoop: {
      if (f.size() < 4) return std::nullopt;
      // AF_INET is 2 everywhere; the 4-byte family is host- or network-ordered.
      const bool v4 = (f[0] == 2 && f[3] == 0) || (f[3] == 2 && f[0] == 0);
      if (!v4) return std::nullopt;
      offset = 4;
      break;
    }
    default:
      return std::nullopt;
  }
  if (ethertype != 0x0800 || f.size() <= offset) return std::nullopt;
  return f.subspan(offset);
}

}  // namespace picket::scan
