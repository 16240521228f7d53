// SipHash-2-4 (Aumasson & Bernstein): a keyed 64-bit PRF, used for the SYN
// cookies (sequence number and source port of each probe) and for the resume
// file's space fingerprint. Stateless and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace picket::scan {

struct SipKey {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
};

std::uint64_t SipHash24(const SipKey& key, std::span<const std::uint8_t> data);

}  // namespace picket::scan
