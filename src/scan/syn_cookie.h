// Stateless probe validation (masscan's SYN cookies): each probe's source port
// and sequence number are keyed hashes of its 4-tuple, so a SYN-ACK or RST is
// accepted only if its ack - 1 equals the hash of (our ip, their ip, our port,
// their port). No per-probe state; spoofed or stray replies fail with
// probability 2^-32. The key is random per scan and never leaves the process.
// Immutable after construction; thread-safe.
#pragma once

#include <cstdint>

#include "scan/siphash.h"

namespace picket::scan {

// Our source ports: above Linux's default ip_local_port_range (32768-60999),
// so they never collide with the kernel's own connections (the connect scan and
// banner grabs use those) and the capture filter can match them alone.
inline constexpr std::uint16_t kSourcePortBase = 61440;
inline constexpr std::uint16_t kSourcePortCount = 4096;  // 61440-65535

class SynCookie {
 public:
  explicit SynCookie(SipKey key) : key_(key) {}

  // The source port for a probe to (dst_ip, dst_port): spread over the range so
  // that probes to one target do not reuse one 4-tuple.
  std::uint16_t SourcePort(std::uint32_t dst_ip, std::uint16_t dst_port) const;
  // The initial sequence number of a probe.
  std::uint32_t Sequence(std::uint32_t src_ip, std::uint32_t dst_ip, std::uint16_t src_port,
                         std::uint16_t dst_port) const;
  // True when a reply from (their_ip, their_port) to (our_ip, our_port)
  // acknowledges one of our probes: our_port in range and ack - 1 == cookie.
  bool Validate(std::uint32_t our_ip, std::uint32_t their_ip, std::uint16_t our_port,
                std::uint16_t their_port, std::uint32_t ack) const;

 private:
  SipKey key_;
};

}  // namespace picket::scan
