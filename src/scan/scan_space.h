// The probe space of a scan and the order it is walked in.
//
// TargetSpace: the (address, port) pairs of a spec after merging overlapping
// targets and ports and removing the excluded addresses. Index x in [0, size())
// is address x / port_count() and port x % port_count(); At() finds the address
// by binary search over the cumulative range sizes, so excludes cost nothing per
// probe and memory is O(ranges), never O(addresses).
//
// Permutation: a seeded bijection on [0, n) — a 4-round Feistel network over the
// smallest even bit width ≥ log2(n), restricted to [0, n) by cycle walking
// (Black & Rogaway), as masscan's BlackRock does. O(1) memory; same seed and n
// give the same order on every device.
//
// ShardView: shard k of N owns the permutation indices k, k+N, k+2N, ... (the
// interleaved stride of masscan/zmap), so shards partition [0, n) exactly and
// each one spreads over all targets. Local index j of a shard is global index
// k + j·N; resume offsets (start_index, checkpoints) are local.
//
// All three are immutable after construction and safe to share between threads.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "picket/common/net_address.h"
#include "picket/common/status.h"

namespace picket::scan {

// An address as a 128-bit unsigned number (IPv4 in the low 32 bits). A struct,
// not __int128, because 32-bit ARM compilers have no 128-bit integer.
struct U128 {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  constexpr U128() = default;
  constexpr U128(std::uint64_t low) : lo(low) {}  // NOLINT: implicit like an integer
  constexpr U128(std::uint64_t high, std::uint64_t low) : hi(high), lo(low) {}
  friend constexpr bool operator==(const U128&, const U128&) = default;
  friend constexpr auto operator<=>(const U128&, const U128&) = default;  // hi, then lo
  friend constexpr U128 operator+(U128 a, std::uint64_t b) {
    const std::uint64_t lo = a.lo + b;
    return {a.hi + (lo < a.lo ? 1 : 0), lo};
  }
  friend constexpr U128 operator-(U128 a, std::uint64_t b) {
    return {a.hi - (a.lo < b ? 1 : 0), a.lo - b};
  }
  friend constexpr U128 operator-(U128 a, U128 b) {
    return {a.hi - b.hi - (a.lo < b.lo ? 1 : 0), a.lo - b.lo};
  }
};

// One merged, exclusion-free run of addresses of one family.
struct AddressSpan {
  bool v6 = false;
  U128 first;
  U128 last;
  std::uint64_t offset = 0;  // address index of `first` within the space
  std::uint64_t count() const { return (last - first).lo + 1; }
};

U128 AddressKey(const IpAddress& ip);
IpAddress AddressFromKey(bool v6, U128 key);

class TargetSpace {
 public:
  struct Probe {
    IpAddress ip;
    std::uint16_t port = 0;
    std::size_t span = 0;  // index into spans()
  };

  // Errors name the value: an empty space after exclusions, a space over
  // max_probes ("4096 addresses × 20 ports = 81920 probes is over ...").
  static Result<TargetSpace> Build(const std::vector<AddressRange>& targets,
                                   const std::vector<AddressRange>& exclude,
                                   const std::vector<PortRange>& ports, std::uint64_t max_probes);

  std::uint64_t size() const { return address_count_ * port_count_; }
  std::uint64_t address_count() const { return address_count_; }
  std::uint64_t port_count() const { return port_count_; }
  const std::vector<AddressSpan>& spans() const { return spans_; }
  const std::vector<PortRange>& ports() const { return ports_; }

  Probe At(std::uint64_t x) const;
  // A stable text form of the normalized space (for the resume fingerprint).
  std::string Canonical() const;

 private:
  std::vector<AddressSpan> spans_;
  std::vector<PortRange> ports_;             // merged, sorted
  std::vector<std::uint32_t> port_offsets_;  // cumulative, parallel to ports_
  std::uint64_t address_count_ = 0;
  std::uint64_t port_count_ = 0;
};

class Permutation {
 public:
  Permutation(std::uint64_t n, std::uint64_t seed);
  std::uint64_t size() const { return n_; }
  // The i-th element of the order, i in [0, n).
  std::uint64_t At(std::uint64_t i) const;

 private:
  std::uint64_t Encrypt(std::uint64_t x) const;

  static constexpr int kRounds = 4;
  std::uint64_t n_;
  int half_bits_ = 1;
  std::uint64_t half_mask_ = 1;
  std::uint64_t keys_[kRounds] = {};
};

struct ShardView {
  std::uint64_t n = 0;  // whole space
  std::uint32_t index = 0;
  std::uint32_t count = 1;
  // Number of local indices this shard owns.
  std::uint64_t size() const { return n > index ? (n - index + count - 1) / count : 0; }
  std::uint64_t Global(std::uint64_t local) const { return index + local * count; }
};

}  // namespace picket::scan
