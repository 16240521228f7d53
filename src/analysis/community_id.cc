#include "analysis/community_id.h"

#include <cstring>
#include <memory>
#include <string_view>

#include "picket/common/digest.h"

namespace picket::analysis {

bool CommunityIdKeepsOrder(const FlowTuple& tuple) {
  if (tuple.one_way) return true;
  const std::size_t size = tuple.is_v6 ? 16 : 4;
  const int order = std::memcmp(tuple.src, tuple.dst, size);
  return order < 0 || (order == 0 && tuple.src_port <= tuple.dst_port);
}

std::string CommunityId(const FlowTuple& tuple, std::uint16_t seed) {
  const std::size_t size = tuple.is_v6 ? 16 : 4;
  const bool keep = CommunityIdKeepsOrder(tuple);
  const std::uint8_t* first = keep ? tuple.src : tuple.dst;
  const std::uint8_t* second = keep ? tuple.dst : tuple.src;
  const std::uint16_t first_port = keep ? tuple.src_port : tuple.dst_port;
  const std::uint16_t second_port = keep ? tuple.dst_port : tuple.src_port;

  std::uint8_t input[2 + 16 + 16 + 2 + 4];
  std::size_t n = 0;
  input[n++] = static_cast<std::uint8_t>(seed >> 8);
  input[n++] = static_cast<std::uint8_t>(seed);
  std::memcpy(input + n, first, size);
  n += size;
  std::memcpy(input + n, second, size);
  n += size;
  input[n++] = tuple.proto;
  input[n++] = 0;
  if (tuple.has_ports) {
    input[n++] = static_cast<std::uint8_t>(first_port >> 8);
    input[n++] = static_cast<std::uint8_t>(first_port);
    input[n++] = static_cast<std::uint8_t>(second_port >> 8);
    input[n++] = static_cast<std::uint8_t>(second_port);
  }
  const auto digest = Sha1Of(std::string_view(reinterpret_cast<const char*>(input), n));
  return "1:" + Base64Encode(digest.data(), digest.size());
}

}  // namespace picket::analysis
