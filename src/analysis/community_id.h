// Community ID v1 (corelight/community-id-spec), seed 0: "1:" + base64(SHA-1
// of seed, ordered addresses, protocol, padding, ordered ports).
#pragma once

#include <cstdint>
#include <string>

namespace picket::analysis {

struct FlowTuple {
  bool is_v6 = false;
  const std::uint8_t* src = nullptr;  // 4 or 16 bytes
  const std::uint8_t* dst = nullptr;
  std::uint8_t proto = 0;
  std::uint16_t src_port = 0, dst_port = 0;  // ICMP: the port equivalents
  bool has_ports = false;
  bool one_way = false;  // ICMP types without a reply: never reordered
};

// True when the spec keeps (src, dst) in this order (src is the "smaller"
// endpoint, or the tuple is one-way).
bool CommunityIdKeepsOrder(const FlowTuple& tuple);

std::string CommunityId(const FlowTuple& tuple, std::uint16_t seed = 0);

}  // namespace picket::analysis
