#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "picket/common/c_handle.h"
#include "scan/route_lookup.h"

namespace picket::scan {
namespace {

class NetlinkRouteResolver final : public RouteResolver {
 public:
  Result<RouteInfo> Lookup(const IpAddress& dst) override {
    if (!fd_.valid()) {
      fd_ = UniqueFd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
      if (!fd_.valid()) return FromErrno("route lookup: netlink socket", errno);
      timeval tv{2, 0};  // the kernel answers at once; bound a wedged socket anyway
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    const std::string name = dst.ToString();
    struct {
      nlmsghdr nh;
      rtmsg rt;
      char attrs[64];
    } req{};
    const int addr_len = dst.v6 ? 16 : 4;
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
    req.nh.nlmsg_type = RTM_GETROUTE;
    req.nh.nlmsg_flags = NLM_F_REQUEST;
    req.nh.nlmsg_seq = ++seq_;
    req.rt.rtm_family = dst.v6 ? AF_INET6 : AF_INET;
    req.rt.rtm_dst_len = static_cast<unsigned char>(addr_len * 8);
    auto* rta =
        reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) + NLMSG_ALIGN(req.nh.nlmsg_len));
    rta->rta_type = RTA_DST;
    rta->rta_len = static_cast<unsigned short>(RTA_LENGTH(addr_len));
    std::memcpy(RTA_DATA(rta), dst.bytes.data(), addr_len);
    req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);

    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd_.get(), &req, req.nh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) < 0) {
      return FromErrno("route lookup for " + name + ": netlink send", errno);
    }
    alignas(nlmsghdr) char buf[8192];
    for (int reads = 0; reads < 16; ++reads) {  // bounded: skip stale answers, then give up
      const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return FromErrno("route lookup for " + name + ": netlink receive", errno);
      }
      int len = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_seq != seq_) continue;
        if (h->nlmsg_type == NLMSG_ERROR) {
          const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
          const int e = -err->error;
          return Status(StatusCode::kNotFound,
                        "no route to " + name + ": " + std::strerror(e != 0 ? e : EINVAL));
        }
        if (h->nlmsg_type == RTM_NEWROUTE) return Parse(h, name);
      }
    }
    return Status::Unavailable("route lookup for " + name + ": no answer from the kernel");
  }

 private:
  Result<RouteInfo> Parse(nlmsghdr* h, const std::string& name) {
    const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(h));
    switch (rt->rtm_type) {
      case RTN_UNICAST:
      case RTN_LOCAL:
        break;
      case RTN_UNREACHABLE:
      case RTN_BLACKHOLE:
      case RTN_PROHIBIT:
      case RTN_THROW:
        return Status(StatusCode::kNotFound, "no route to " + name + ": route type " +
                                                 std::to_string(rt->rtm_type) +
                                                 " (unreachable/blackhole/prohibit)");
      default:
        return Status(StatusCode::kNotFound, "no unicast route to " + name + ": route type " +
                                                 std::to_string(rt->rtm_type));
    }
    RouteInfo info;
    info.local = rt->rtm_type == RTN_LOCAL;
    int attr_len = static_cast<int>(RTM_PAYLOAD(h));
    for (auto* a = RTM_RTA(rt); RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
      if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int)) {
        std::memcpy(&info.ifindex, RTA_DATA(a), sizeof(int));
      } else if (a->rta_type == RTA_PREFSRC || a->rta_type == RTA_GATEWAY) {
        const std::size_t l = RTA_PAYLOAD(a);
        if (l == 4 || l == 16) {
          IpAddress& to = a->rta_type == RTA_PREFSRC ? info.source : info.gateway.emplace();
          to.v6 = l == 16;
          std::memcpy(to.bytes.data(), RTA_DATA(a), l);
        }
      }
    }
    if (info.ifindex == 0)
      return Status(StatusCode::kNotFound, "no outgoing interface for " + name);
    char ifname[IF_NAMESIZE] = {};
    if (::if_indextoname(static_cast<unsigned>(info.ifindex), ifname) == nullptr) {
      return FromErrno("route lookup for " + name + ": interface " + std::to_string(info.ifindex),
                       errno);
    }
    info.ifname = ifname;
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s.valid()) return FromErrno("route lookup: socket for interface flags", errno);
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, ifname, std::min<std::size_t>(std::strlen(ifname), IF_NAMESIZE - 1));
    if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) {
      return FromErrno("route lookup for " + name + ": flags of " + info.ifname, errno);
    }
    info.loopback_interface = (ifr.ifr_flags & IFF_LOOPBACK) != 0;
    return info;
  }

  UniqueFd fd_;
  std::uint32_t seq_ = 0;
};

}  // namespace

std::unique_ptr<RouteResolver> MakeNetlinkRouteResolver() {
  return std::make_unique<NetlinkRouteResolver>();
}

}  // namespace picket::scan
