// Target and port grammar shared by the config validator, `picketd scan` and
// the central CLI, so all three accept and refuse exactly the same input.
//   targets: "127.0.0.1", "10.0.0.0/24", "10.0.0.5-10.0.0.9", "::1", "fd00::/120",
//            comma-separated lists of those
//   ports:   "22", "8000-8100", "22,80,443,8000-8100"
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/status.h"

namespace picket {

// An IPv4 or IPv6 address in network byte order (IPv4 uses the first 4 bytes).
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};

  static Result<IpAddress> Parse(std::string_view text);
  static IpAddress V4(std::uint32_t host_order);
  std::uint32_t V4HostOrder() const;
  std::string ToString() const;
  bool IsLoopback() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// An inclusive address range [first, last]; CIDRs and single addresses become ranges.
struct AddressRange {
  IpAddress first;
  IpAddress last;

  // Number of addresses; saturates at UINT64_MAX for huge IPv6 ranges.
  std::uint64_t Size() const;
  std::string ToString() const;
};

// Parses one item ("a", "a/len", "a-b"). Errors name the item.
Result<AddressRange> ParseAddressRange(std::string_view text);
// Parses a comma-separated list; an empty list is an error.
Result<std::vector<AddressRange>> ParseTargetList(std::string_view text);

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  std::uint32_t Size() const { return static_cast<std::uint32_t>(last - first) + 1; }
};

// Ports are 1..65535; "0", "65536", "90-80" and "" are refused with the bad item named.
Result<std::vector<PortRange>> ParsePortList(std::string_view text);
std::uint64_t CountPorts(const std::vector<PortRange>& ports);
std::uint64_t CountAddresses(const std::vector<AddressRange>& ranges);

}  // namespace picket
