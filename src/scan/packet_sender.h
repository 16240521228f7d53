// The AF_PACKET send path of SYN mode (--send-path packet): probes go out as
// whole Ethernet frames addressed to the gateway's MAC on one interface, written
// into a TX ring (tx_ring.h) with PACKET_QDISC_BYPASS, so the kernel neither
// routes nor queues them. That is what masscan and zmap do for speed; the
// raw-socket path stays the default because it works for any target
// (loopback, on-link, several routes).
//
// The gateway's MAC comes from the kernel's neighbour table (/proc/net/arp);
// when it is not there yet the caller sends one probe the routed way (which
// makes the kernel resolve it) and looks again.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "picket/common/c_handle.h"
#include "picket/common/net_address.h"
#include "picket/common/status.h"

namespace picket::scan {

using MacAddress = std::array<std::uint8_t, 6>;
inline constexpr std::size_t kEthernetHeaderSize = 14;

// "aa:bb:cc:dd:ee:ff" → bytes; nullopt for anything else.
std::optional<MacAddress> ParseMac(std::string_view text);

// The interface's own MAC (SIOCGIFHWADDR, in the caller's network namespace).
Result<MacAddress> InterfaceMac(const std::string& ifname);

// The complete neighbour entry for `ip` on `ifname` in /proc/net/arp-format
// `table` text; nullopt when absent or incomplete.
std::optional<MacAddress> FindNeighbour(std::string_view table, const IpAddress& ip,
                                        const std::string& ifname);
std::optional<MacAddress> NeighbourMac(const IpAddress& ip, const std::string& ifname);

// An AF_PACKET socket bound to `ifindex` that sends whole frames and receives
// nothing, with the qdisc bypassed.
Result<UniqueFd> OpenPacketSocket(int ifindex, const std::string& ifname);

// dst, src, EtherType IPv4: the 14 bytes before every probe.
std::array<std::uint8_t, kEthernetHeaderSize> EthernetHeader(const MacAddress& to,
                                                            const MacAddress& from);

}  // namespace picket::scan
