#include "scan/packet_sender.h"

#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "picket/common/file_io.h"

namespace picket::scan {

std::optional<MacAddress> ParseMac(std::string_view text) {
  MacAddress mac{};
  unsigned v[6];
  char tail = 0;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const std::string s(text.substr(0, 32));
  if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                  &tail) != 6) {
    return std::nullopt;
  }
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<std::uint8_t>(v[i]);
  return mac;
}

// SIOCGIFHWADDR rather than /sys/class/net: sysfs shows the namespace it was
// mounted in, which is not ours after setns(2) without a remount.
Result<MacAddress> InterfaceMac(const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return Status::InvalidArgument("interface name \"" + ifname + "\": not 1-15 bytes");
  }
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return FromErrno("socket for SIOCGIFHWADDR", errno);
  ifreq req{};
  std::memcpy(req.ifr_name, ifname.data(), ifname.size());
  if (::ioctl(fd.get(), SIOCGIFHWADDR, &req) != 0) {
    return FromErrno("the MAC address of " + ifname, errno);
  }
  if (req.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    return Status::InvalidArgument(ifname + ": not an Ethernet interface");
  }
  MacAddress mac{};
  std::memcpy(mac.data(), req.ifr_hwaddr.sa_data, mac.size());
  return mac;
}

std::optional<MacAddress> FindNeighbour(std::string_view table, const IpAddress& ip,
                                        const std::string& ifname) {
  // IP address  HW type  Flags  HW address  Mask  Device; flags 0x2 = complete.
  std::istringstream lines{std::string(table)};
  std::string line;
  std::getline(lines, line);  // header
  const std::string want = ip.ToString();
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string addr, type, flags, hw, mask, dev;
    if (!(f >> addr >> type >> flags >> hw >> mask >> dev)) continue;
    if (addr != want || dev != ifname) continue;
    if ((std::strtoul(flags.c_str(), nullptr, 16) & 0x2) == 0) return std::nullopt;
    return ParseMac(hw);
  }
  return std::nullopt;
}

std::optional<MacAddress> NeighbourMac(const IpAddress& ip, const std::string& ifname) {
  auto table = ReadWholeFile("/proc/net/arp", 1 << 20);
  if (!table.ok()) return std::nullopt;
  return FindNeighbour(*table, ip, ifname);
}

Result<UniqueFd> OpenPacketSocket(int ifindex, const std::string& ifname) {
  // Protocol 0: this socket receives nothing (replies come through libpcap).
  UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    const int e = errno;
    if (e == EPERM || e == EACCES) {
      return Status::PermissionDenied("--send-path packet needs root or CAP_NET_RAW");
    }
    return FromErrno("AF_PACKET socket", e);
  }
  sockaddr_ll at{};
  at.sll_family = AF_PACKET;
  at.sll_protocol = 0;
  at.sll_ifindex = ifindex;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&at), sizeof at) != 0) {
    return FromErrno("bind AF_PACKET socket to " + ifname, errno);
  }
  const int one = 1;
  if (::setsockopt(fd.get(), SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) {
    return FromErrno("PACKET_QDISC_BYPASS on " + ifname, errno);
  }
  int sndbuf = 4 << 20;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  return fd;
}

std::array<std::uint8_t, kEthernetHeaderSize> EthernetHeader(const MacAddress& to,
                                                            const MacAddress& from) {
  std::array<std::uint8_t, kEthernetHeaderSize> h{};
  std::copy(to.begin(), to.end(), h.begin());
  std::copy(from.begin(), from.end(), h.begin() + 6);
  h[12] = ETH_P_IP >> 8;
  h[13] = ETH_P_IP & 0xff;
  return h;
}

}  // namespace picket::scan
