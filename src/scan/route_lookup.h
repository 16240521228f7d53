// Which interface and source address the kernel would use to reach a target:
// one RTM_GETROUTE over rtnetlink per address (the same answer as
// `ip route get ADDR`). Behind an interface so the spec-validation tests can
// inject unroutable and mis-routed targets without touching the route table.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "picket/common/net_address.h"
#include "picket/common/status.h"

namespace picket::scan {

struct RouteInfo {
  int ifindex = 0;
  std::string ifname;
  bool loopback_interface = false;  // IFF_LOOPBACK on the outgoing interface
  bool local = false;               // RTN_LOCAL: the address is this host's own
  IpAddress source;                 // preferred source address
  std::optional<IpAddress> gateway; // next hop (RTA_GATEWAY); none: the target is on-link
};

class RouteResolver {
 public:
  virtual ~RouteResolver() = default;
  // NotFound/Unavailable "no route to ADDR: ..." for unroutable addresses
  // (ENETUNREACH, unreachable/blackhole/prohibit routes).
  virtual Result<RouteInfo> Lookup(const IpAddress& destination) = 0;
};

// The real resolver: one NETLINK_ROUTE socket, queries in sequence. Not thread-safe.
std::unique_ptr<RouteResolver> MakeNetlinkRouteResolver();

}  // namespace picket::scan
