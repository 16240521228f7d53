// Ports of fragmented datagrams: the first fragment (offset 0) carries the
// transport header; later fragments of the same (src, dst, proto, id) take
// its ports from here. A small ring: the oldest entry is overwritten. A later
// fragment whose first fragment is unknown (lost, reordered, overwritten)
// goes to the flow of the same addresses and protocol with ports 0.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "analysis/packet_decoder.h"

namespace picket::analysis {

struct FragmentEntry {
  bool used = false;
  bool is_v6 = false;
  bool has_ports = false;
  bool one_way = false;
  std::uint8_t proto = 0;
  std::uint8_t src[16] = {};
  std::uint8_t dst[16] = {};
  std::uint32_t id = 0;
  std::uint16_t src_port = 0, dst_port = 0;
};

class FragmentTable {
 public:
  static constexpr std::size_t kSlots = 256;

  void Remember(const DecodedPacket& first) {
    FragmentEntry* slot = FindEntry(first);
    if (slot == nullptr) {
      slot = &entries_[next_];
      next_ = (next_ + 1) % kSlots;
    }
    slot->used = true;
    slot->is_v6 = first.is_v6;
    slot->proto = first.proto;
    std::memcpy(slot->src, first.src, 16);
    std::memcpy(slot->dst, first.dst, 16);
    slot->id = first.fragment_id;
    slot->src_port = first.src_port;
    slot->dst_port = first.dst_port;
    slot->has_ports = first.has_ports;
    slot->one_way = first.icmp_one_way;
  }

  // Fills the ports of a later fragment; false (ports 0) when unknown.
  bool Attribute(DecodedPacket& later) {
    const FragmentEntry* entry = FindEntry(later);
    if (entry == nullptr) {
      later.src_port = later.dst_port = 0;
      later.has_ports = later.proto == kProtoTcp || later.proto == kProtoUdp ||
                        later.proto == kProtoSctp || later.proto == kProtoIcmp ||
                        later.proto == kProtoIcmpV6;
      later.icmp_one_way = false;
      return false;
    }
    later.src_port = entry->src_port;
    later.dst_port = entry->dst_port;
    later.has_ports = entry->has_ports;
    later.icmp_one_way = entry->one_way;
    return true;
  }

  std::array<FragmentEntry, kSlots>& entries() { return entries_; }
  const std::array<FragmentEntry, kSlots>& entries() const { return entries_; }
  std::size_t next() const { return next_; }
  void set_next(std::size_t next) { next_ = next % kSlots; }
  void Clear() {
    entries_ = {};
    next_ = 0;
  }

 private:
  FragmentEntry* FindEntry(const DecodedPacket& p) {
    for (auto& e : entries_) {
      if (e.used && e.id == p.fragment_id && e.proto == p.proto && e.is_v6 == p.is_v6 &&
          std::memcmp(e.src, p.src, 16) == 0 && std::memcmp(e.dst, p.dst, 16) == 0) {
        return &e;
      }
    }
    return nullptr;
  }

  std::array<FragmentEntry, kSlots> entries_{};
  std::size_t next_ = 0;
};

}  // namespace picket::analysis
