// PacketAt: one record of a capture held in memory, found by the offset that
// ReadCapture reported for it. Classic pcap is read directly (file header for
// byte order, time unit and link type); pcapng is walked from its start for the
// section byte order and the interfaces, then from `offset` to the next packet
// block. Every length is checked against the buffer.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "picket/analysis/analyzer.h"

namespace picket::analysis {
namespace {

constexpr std::uint32_t kPcapMagicMicro = 0xa1b2c3d4;
constexpr std::uint32_t kPcapMagicNano = 0xa1b23c4d;
constexpr std::uint32_t kPcapngSectionHeader = 0x0a0d0d0a;
constexpr std::uint32_t kPcapngByteOrderMagic = 0x1a2b3c4d;
constexpr std::uint32_t kPcapngInterface = 1;
constexpr std::uint32_t kPcapngObsoletePacket = 2;
constexpr std::uint32_t kPcapngSimplePacket = 3;
constexpr std::uint32_t kPcapngEnhancedPacket = 6;
constexpr int kDltRaw = 12;  // libpcap's DLT for LINKTYPE_RAW (101), as ReadCapture reports it

std::uint32_t Load32(const char* p, bool swap) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return swap ? __builtin_bswap32(v) : v;
}
std::uint16_t Load16(const char* p, bool swap) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return swap ? __builtin_bswap16(v) : v;
}

int LinkTypeToDlt(std::uint32_t link_type) {
  link_type &= 0x03ffffff;  // the low bits; FCS flags above
  return link_type == 101 ? kDltRaw : static_cast<int>(link_type);
}

Status Damaged(std::uint64_t offset, const std::string& what) {
  return Status::Corruption("capture damaged at byte " + std::to_string(offset) + ": " + what);
}

Status ClassicPacketAt(std::string_view capture, std::uint64_t offset, bool swap, bool nano,
                       RawPacket& packet) {
  if (offset < 24 || offset > capture.size() || capture.size() - offset < 16) {
    return Status::NotFound("no pcap record at byte " + std::to_string(offset));
  }
  const char* record = capture.data() + offset;
  const std::uint32_t seconds = Load32(record, swap);
  const std::uint32_t fraction = Load32(record + 4, swap);
  const std::uint32_t caplen = Load32(record + 8, swap);
  const std::uint32_t wire_len = Load32(record + 12, swap);
  if (caplen > capture.size() - offset - 16) return Damaged(offset, "record longer than the capture");
  packet.ts_us = static_cast<std::int64_t>(seconds) * 1'000'000 + (nano ? fraction / 1000 : fraction);
  packet.wire_len = wire_len < caplen ? caplen : wire_len;
  packet.link_type = LinkTypeToDlt(Load32(capture.data() + 20, swap));
  packet.data = std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(record + 16), caplen);
  return Status::Ok();
}

struct Interface {
  int link_type = 0;
  std::uint64_t units_per_second = 1'000'000;
  std::int64_t offset_seconds = 0;
};

// if_tsresol and if_tsoffset from an IDB's options.
bool ReadInterfaceOptions(const char* options, std::size_t size, bool swap, Interface& iface) {
  std::size_t pos = 0;
  while (pos + 4 <= size) {
    const std::uint16_t code = Load16(options + pos, swap);
    const std::uint16_t length = Load16(options + pos + 2, swap);
    pos += 4;
    if (code == 0) break;
    if (length > size - pos) return false;
    if (code == 9 && length >= 1) {
      const std::uint8_t resolution = static_cast<std::uint8_t>(options[pos]);
      const unsigned exponent = resolution & 0x7f;
      if (resolution & 0x80) {
        if (exponent > 63) return false;
        iface.units_per_second = std::uint64_t{1} << exponent;
      } else {
        if (exponent > 19) return false;
        iface.units_per_second = 1;
        for (unsigned i = 0; i < exponent; ++i) iface.units_per_second *= 10;
      }
    } else if (code == 14 && length >= 8) {
      std::uint64_t v;
      std::memcpy(&v, options + pos, 8);
      if (swap) v = __builtin_bswap64(v);
      iface.offset_seconds = static_cast<std::int64_t>(v);
    }
    pos += (length + 3u) & ~3u;
  }
  return true;
}

std::int64_t ToMicros(const Interface& iface, std::uint64_t units) {
  const std::uint64_t seconds = units / iface.units_per_second;
  const std::uint64_t fraction = units % iface.units_per_second;
  // fraction * 10^6 / units without overflow: split the multiplication.
  const std::uint64_t micros =
      fraction < (std::uint64_t{1} << 44)
          ? fraction * 1'000'000 / iface.units_per_second
          : static_cast<std::uint64_t>(static_cast<long double>(fraction) * 1e6 /
                                       static_cast<long double>(iface.units_per_second));
  // Hostile 64-bit times (or offsets) would overflow µs: clamp the seconds.
  constexpr std::int64_t kMaxSeconds = INT64_MAX / 1'000'000 - 1;
  const std::int64_t whole = std::clamp<std::int64_t>(
      static_cast<std::int64_t>(std::min<std::uint64_t>(seconds, kMaxSeconds)) +
          std::clamp<std::int64_t>(iface.offset_seconds, -kMaxSeconds, kMaxSeconds),
      -kMaxSeconds, kMaxSeconds);
  return whole * 1'000'000 + static_cast<std::int64_t>(micros);
}

Status PcapngPacketAt(std::string_view capture, std::uint64_t offset, RawPacket& packet) {
  bool swap = false;
  std::vector<Interface> interfaces;
  std::uint64_t pos = 0;
  while (pos < capture.size()) {
    if (capture.size() - pos < 12) return Damaged(pos, "pcapng block cut short");
    const char* block = capture.data() + pos;
    std::uint32_t type = Load32(block, false);
    if (type == kPcapngSectionHeader) {
      const std::uint32_t magic = Load32(block + 8, false);
      if (magic == kPcapngByteOrderMagic) {
        swap = false;
      } else if (magic == __builtin_bswap32(kPcapngByteOrderMagic)) {
        swap = true;
      } else {
        return Damaged(pos, "pcapng section header without byte-order magic");
      }
      interfaces.clear();
    }
    type = Load32(block, swap);
    const std::uint32_t length = Load32(block + 4, swap);
    if (length < 12 || length % 4 != 0 || length > capture.size() - pos) {
      return Damaged(pos, "pcapng block length " + std::to_string(length));
    }
    if (type == kPcapngInterface) {
      if (length < 20) return Damaged(pos, "pcapng interface block too short");
      Interface iface;
      iface.link_type = LinkTypeToDlt(Load16(block + 8, swap));
      if (!ReadInterfaceOptions(block + 16, length - 20, swap, iface)) {
        return Damaged(pos, "pcapng interface options");
      }
      if (interfaces.size() >= 65536) return Damaged(pos, "too many pcapng interfaces");
      interfaces.push_back(iface);
    } else if (pos >= offset && (type == kPcapngEnhancedPacket || type == kPcapngObsoletePacket)) {
      if (length < 32) return Damaged(pos, "pcapng packet block too short");
      const std::uint32_t interface_id =
          type == kPcapngEnhancedPacket ? Load32(block + 8, swap) : Load16(block + 8, swap);
      if (interface_id >= interfaces.size()) return Damaged(pos, "pcapng packet of an unknown interface");
      const std::uint64_t units =
          std::uint64_t{Load32(block + 12, swap)} << 32 | Load32(block + 16, swap);
      const std::uint32_t caplen = Load32(block + 20, swap);
      const std::uint32_t wire_len = Load32(block + 24, swap);
      if (caplen > length - 32) return Damaged(pos, "pcapng packet longer than its block");
      const Interface& iface = interfaces[interface_id];
      packet.ts_us = ToMicros(iface, units);
      packet.wire_len = wire_len < caplen ? caplen : wire_len;
      packet.link_type = iface.link_type;
      packet.data = std::span<const std::uint8_t>(
          reinterpret_cast<const std::uint8_t*>(block + 28), caplen);
      return Status::Ok();
    } else if (pos >= offset && type == kPcapngSimplePacket) {
      if (length < 16 || interfaces.empty()) return Damaged(pos, "pcapng simple packet block");
      const std::uint32_t wire_len = Load32(block + 8, swap);
      const std::uint32_t caplen = std::min<std::uint32_t>(wire_len, length - 16);
      packet.ts_us = 0;
      packet.wire_len = wire_len;
      packet.link_type = interfaces[0].link_type;
      packet.data = std::span<const std::uint8_t>(
          reinterpret_cast<const std::uint8_t*>(block + 12), caplen);
      return Status::Ok();
    }
    if (pos < offset && pos + length > offset) {
      return Status::NotFound("byte " + std::to_string(offset) + " is inside a pcapng block");
    }
    pos += length;
  }
  return Status::NotFound("no pcapng packet block at or after byte " + std::to_string(offset));
}

}  // namespace

Status PacketAt(std::string_view capture, std::uint64_t offset, RawPacket& packet) {
  if (capture.size() < 24) return Status::InvalidArgument("capture too short for a file header");
  const std::uint32_t magic = Load32(capture.data(), false);
  if (magic == kPcapMagicMicro || magic == kPcapMagicNano) {
    return ClassicPacketAt(capture, offset, false, magic == kPcapMagicNano, packet);
  }
  if (magic == __builtin_bswap32(kPcapMagicMicro) || magic == __builtin_bswap32(kPcapMagicNano)) {
    return ClassicPacketAt(capture, offset, true, magic == __builtin_bswap32(kPcapMagicNano), packet);
  }
  if (magic == kPcapngSectionHeader) return PcapngPacketAt(capture, offset, packet);
  return Status::InvalidArgument("not a pcap or pcapng capture");
}

}  // namespace picket::analysis
