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

std::uint16_t SynCookie::SourcePort(std::uint32_t dst_ip, std::uint16_t dst_port) const {
  const auto t = Tuple('p', 0, dst_ip, 0, dst_port);
  return static_cast<std::uint16_t>(kSourcePortBase + SipHash24(key_, t) % kSourcePortCount);
}

std::uint32_t SynCookie::Sequence(std::uint32_t src_ip, std::uint32_t dst_ip,
                                  std::uint16_t src_port, std::uint16_t dst_port) const {
  const auto t = Tuple('s', src_ip, dst_ip, src_port, dst_port);
  return static_cast<std::uint32_t>(SipHash24(key_, t));
}

bool SynCookie::Validate(std::uint32_t our_ip, std::uint32_t their_ip, std::uint16_t our_port,
                         std::uint16_t their_port, std::uint32_t ack) const {
  if (our_port < kSourcePortBase) return false;
  return ack - 1 == Sequence(our_ip, their_ip, our_port, their_port);
}

}  // namespace picket::scan
