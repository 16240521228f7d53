// Stateless probe validation (masscan's SYN cookies): one keyed hash of (our ip,
// their ip, their port) gives each probe its source port and sequence number,
// so a SYN-ACK or RST is accepted only if it comes to that port and its ack - 1
// equals that sequence. No per-probe state; spoofed or stray replies fail with
// probability below 2^-32. One hash per probe, not one for the port and one for
// the sequence: the sender's budget at 1.5 Mpps is ~0.7 us a probe. The key is
// random per scan and never leaves the process. Immutable after construction;
// thread-safe.
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

  struct Probe {
    // Spread over the range so that probes to one target do not reuse one 4-tuple.
    std::uint16_t src_port;
    std::uint32_t seq;  // the initial sequence number
  };
  // The source port and sequence of a probe from src_ip to (dst_ip, dst_port).
  Probe For(std::uint32_t src_ip, std::uint32_t dst_ip, std::uint16_t dst_port) const;
  // True when a reply from (their_ip, their_port) to (our_ip, our_port)
  // acknowledges one of our probes: our_port and ack - 1 are that probe's.
  bool Validate(std::uint32_t our_ip, std::uint32_t their_ip, std::uint16_t our_port,
                std::uint16_t their_port, std::uint32_t ack) const;

 private:
  SipKey key_;
};

}  // namespace picket::scan
