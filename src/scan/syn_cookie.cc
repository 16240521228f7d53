#include "scan/syn_cookie.h"

#include <array>

namespace picket::scan {
namespace {

std::array<std::uint8_t, 13> Tuple(std::uint8_t tag, std::uint32_t a, std::uint32_t b,
                                   std::uint16_t c, std::uint16_t d) {
  return {tag,
          static_cast<std::uint8_t>(a >> 24),
          static_cast<std::uint8_t>(a >> 16),
          static_cast<std::uint8_t>(a >> 8),
          static_cast<std::uint8_t>(a),
          static_cast<std::uint8_t>(b >> 24),
          static_cast<std::uint8_t>(b >> 16),
          static_cast<std::uint8_t>(b >> 8),
          static_cast<std::uint8_t>(b),
          static_cast<std::uint8_t>(c >> 8),
          static_cast<std::uint8_t>(c),
          static_cast<std::uint8_t>(d >> 8),
          static_cast<std::uint8_t>(d)};
}

}  // namespace

SynCookie::Probe SynCookie::For(std::uint32_t src_ip, std::uint32_t dst_ip,
                                std::uint16_t dst_port) const {
  const std::uint64_t h = SipHash24(key_, Tuple('c', src_ip, dst_ip, 0, dst_port));
  return {static_cast<std::uint16_t>(kSourcePortBase + (h >> 32) % kSourcePortCount),
          static_cast<std::uint32_t>(h)};
}

bool SynCookie::Validate(std::uint32_t our_ip, std::uint32_t their_ip, std::uint16_t our_port,
                         std::uint16_t their_port, std::uint32_t ack) const {
  if (our_port < kSourcePortBase) return false;
  const Probe probe = For(our_ip, their_ip, their_port);
  return our_port == probe.src_port && ack - 1 == probe.seq;
}

}  // namespace picket::scan
