#include "scan/scan_space.h"

#include <algorithm>
#include <limits>

namespace picket::scan {

U128 AddressKey(const IpAddress& ip) {
  U128 k;
  if (!ip.v6) {
    k.lo = ip.V4HostOrder();
    return k;
  }
  for (int i = 0; i < 8; ++i) k.hi = (k.hi << 8) | ip.bytes[i];
  for (int i = 8; i < 16; ++i) k.lo = (k.lo << 8) | ip.bytes[i];
  return k;
}

IpAddress AddressFromKey(bool v6, U128 key) {
  if (!v6) return IpAddress::V4(static_cast<std::uint32_t>(key.lo));
  IpAddress ip;
  ip.v6 = true;
  for (int i = 0; i < 8; ++i) {
    ip.bytes[7 - i] = static_cast<std::uint8_t>(key.hi >> (8 * i));
    ip.bytes[15 - i] = static_cast<std::uint8_t>(key.lo >> (8 * i));
  }
  return ip;
}

namespace {

struct KeyRange {
  bool v6;
  U128 first, last;
};

bool Before(const KeyRange& a, const KeyRange& b) {
  if (a.v6 != b.v6) return !a.v6;  // IPv4 first
  return a.first < b.first;
}

std::vector<KeyRange> Normalize(const std::vector<AddressRange>& ranges) {
  std::vector<KeyRange> in;
  in.reserve(ranges.size());
  for (const auto& r : ranges) in.push_back({r.first.v6, AddressKey(r.first), AddressKey(r.last)});
  std::sort(in.begin(), in.end(), Before);
  std::vector<KeyRange> out;
  for (const auto& r : in) {
    if (!out.empty() && out.back().v6 == r.v6 &&
        (r.first <= out.back().last || r.first == out.back().last + 1)) {
      out.back().last = std::max(out.back().last, r.last);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

// targets minus exclude; both normalized (sorted, disjoint, non-adjacent).
std::vector<KeyRange> Subtract(const std::vector<KeyRange>& targets,
                               const std::vector<KeyRange>& exclude) {
  std::vector<KeyRange> out;
  for (const auto& t : targets) {
    U128 cursor = t.first;
    bool open = true;  // [cursor, t.last] still to emit
    for (const auto& e : exclude) {
      if (e.v6 != t.v6 || e.last < cursor || e.first > t.last) continue;
      if (e.first > cursor) out.push_back({t.v6, cursor, e.first - 1});
      if (e.last >= t.last) {
        open = false;
        break;
      }
      cursor = e.last + 1;
    }
    if (open) out.push_back({t.v6, cursor, t.last});
  }
  return out;
}

// Saturating a×b.
std::uint64_t MulSat(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  return a * b;
}

}  // namespace

Result<TargetSpace> TargetSpace::Build(const std::vector<AddressRange>& targets,
                                       const std::vector<AddressRange>& exclude,
                                       const std::vector<PortRange>& ports,
                                       std::uint64_t max_probes) {
  if (targets.empty()) return Status::InvalidArgument("targets: the target list is empty");
  if (ports.empty()) return Status::InvalidArgument("ports: the port list is empty");
  TargetSpace space;
  const std::vector<KeyRange> kept = Subtract(Normalize(targets), Normalize(exclude));
  std::uint64_t addresses = 0;
  bool saturated = false;
  for (const auto& k : kept) {
    AddressSpan s{k.v6, k.first, k.last, addresses};
    const U128 width = k.last - k.first;
    if (width.hi != 0 || width.lo == std::numeric_limits<std::uint64_t>::max() ||
        addresses > std::numeric_limits<std::uint64_t>::max() - width.lo - 1) {
      saturated = true;
      break;
    }
    addresses += s.count();
    space.spans_.push_back(s);
  }

  std::vector<PortRange> sorted = ports;
  std::sort(sorted.begin(), sorted.end(),
            [](const PortRange& a, const PortRange& b) { return a.first < b.first; });
  for (const auto& p : sorted) {
    if (!space.ports_.empty() &&
        p.first <= static_cast<std::uint32_t>(space.ports_.back().last) + 1) {
      space.ports_.back().last = std::max(space.ports_.back().last, p.last);
    } else {
      space.ports_.push_back(p);
    }
  }
  std::uint32_t port_total = 0;
  for (const auto& p : space.ports_) {
    space.port_offsets_.push_back(port_total);
    port_total += p.Size();
  }

  std::string target_text;
  for (std::size_t i = 0; i < targets.size() && i < 4; ++i) {
    target_text += (i ? "," : "") + targets[i].ToString();
  }
  if (targets.size() > 4) target_text += ",...";
  if (!saturated && addresses == 0) {
    return Status::InvalidArgument("targets: nothing left to scan in '" + target_text +
                                   "' after the exclusions");
  }
  const std::uint64_t probes =
      saturated ? std::numeric_limits<std::uint64_t>::max() : MulSat(addresses, port_total);
  if (saturated || probes > max_probes) {
    return Status::InvalidArgument("targets '" + target_text + "': " +
                                   (saturated ? std::string("more than 2^64 addresses")
                                              : std::to_string(addresses) + " addresses") +
                                   " x " + std::to_string(port_total) + " ports = " +
                                   (saturated || probes == std::numeric_limits<std::uint64_t>::max()
                                        ? std::string("over 2^64")
                                        : std::to_string(probes)) +
                                   " probes is over max_probes (" + std::to_string(max_probes) +
                                   ")");
  }
  space.address_count_ = addresses;
  space.port_count_ = port_total;
  return space;
}

TargetSpace::Probe TargetSpace::At(std::uint64_t x) const {
  const std::uint64_t a = x / port_count_;
  const std::uint32_t p = static_cast<std::uint32_t>(x % port_count_);
  auto it = std::upper_bound(spans_.begin(), spans_.end(), a,
                             [](std::uint64_t v, const AddressSpan& s) { return v < s.offset; });
  const std::size_t si = static_cast<std::size_t>(it - spans_.begin()) - 1;
  const AddressSpan& s = spans_[si];
  auto pit = std::upper_bound(port_offsets_.begin(), port_offsets_.end(), p);
  const std::size_t pi = static_cast<std::size_t>(pit - port_offsets_.begin()) - 1;
  Probe probe;
  probe.ip = AddressFromKey(s.v6, s.first + (a - s.offset));
  probe.port = static_cast<std::uint16_t>(ports_[pi].first + (p - port_offsets_[pi]));
  probe.span = si;
  return probe;
}

std::string TargetSpace::Canonical() const {
  std::string out = "targets=";
  for (const auto& s : spans_) {
    out += AddressFromKey(s.v6, s.first).ToString() + "-" +
           AddressFromKey(s.v6, s.last).ToString() + ",";
  }
  out += ";ports=";
  for (const auto& p : ports_) out += std::to_string(p.first) + "-" + std::to_string(p.last) + ",";
  return out;
}

namespace {

std::uint64_t SplitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Round function: a strong 64-bit mixer of (half, round key). Any function keeps
// the Feistel network a bijection; mixing quality only affects how random the
// order looks.
inline std::uint64_t Mix(std::uint64_t x, std::uint64_t key) {
  x ^= key;
  x = (x ^ (x >> 33)) * 0xff51afd7ed558ccdull;
  x = (x ^ (x >> 33)) * 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

}  // namespace

Permutation::Permutation(std::uint64_t n, std::uint64_t seed) : n_(n) {
  int bits = 2;
  while (bits < 64 && (std::uint64_t{1} << bits) < n) ++bits;
  if (bits % 2) ++bits;
  half_bits_ = bits / 2;
  half_mask_ = half_bits_ >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << half_bits_) - 1;
  std::uint64_t state = seed;
  for (auto& k : keys_) k = SplitMix64(state);
}

std::uint64_t Permutation::Encrypt(std::uint64_t x) const {
  std::uint64_t left = (x >> half_bits_) & half_mask_;
  std::uint64_t right = x & half_mask_;
  for (int r = 0; r < kRounds; ++r) {
    const std::uint64_t next = left ^ (Mix(right, keys_[r]) & half_mask_);
    left = right;
    right = next;
  }
  return (left << half_bits_) | right;
}

std::uint64_t Permutation::At(std::uint64_t i) const {
  // Cycle walking: the Feistel domain is at most 4n, so the expected number of
  // steps is below 4; the walk ends because i's own cycle returns below n.
  std::uint64_t y = Encrypt(i);
  while (y >= n_) y = Encrypt(y);
  return y;
}

}  // namespace picket::scan
