#include "picket/common/net_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <limits>

namespace picket {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <typename Fn>
Status ForEachItem(std::string_view list, Fn fn) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view item = Trim(list.substr(start, comma - start));
    if (item.empty()) {
      return Status::InvalidArgument("empty item in list '" + std::string(list) + "'");
    }
    PICKET_RETURN_IF_ERROR(fn(item));
    start = comma + 1;
  }
  return Status::Ok();
}

bool ParseUnsigned(std::string_view s, std::uint64_t max, std::uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

Result<IpAddress> IpAddress::Parse(std::string_view text) {
  std::string s(Trim(text));
  IpAddress a;
  if (s.find(':') != std::string::npos) {
    a.v6 = true;
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) return a;
  } else if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    return a;
  }
  return Status::InvalidArgument("'" + s + "' is not an IPv4 or IPv6 address");
}

IpAddress IpAddress::V4(std::uint32_t host_order) {
  IpAddress a;
  a.bytes[0] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes[1] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes[2] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes[3] = static_cast<std::uint8_t>(host_order);
  return a;
}

std::uint32_t IpAddress::V4HostOrder() const {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

bool IpAddress::IsLoopback() const {
  if (!v6) return bytes[0] == 127;
  for (int i = 0; i < 15; ++i) {
    if (bytes[i] != 0) return false;
  }
  return bytes[15] == 1;
}

std::uint64_t AddressRange::Size() const {
  const int len = first.v6 ? 16 : 4;
  // Count = last - first + 1, computed on the low 8 bytes; any difference in
  // the high bytes means more than 2^64 addresses.
  for (int i = 0; i < len - 8; ++i) {
    if (first.bytes[i] != last.bytes[i]) return std::numeric_limits<std::uint64_t>::max();
  }
  std::uint64_t a = 0, b = 0;
  for (int i = std::max(0, len - 8); i < len; ++i) {
    a = (a << 8) | first.bytes[i];
    b = (b << 8) | last.bytes[i];
  }
  std::uint64_t diff = b - a;
  return diff == std::numeric_limits<std::uint64_t>::max() ? diff : diff + 1;
}

std::string AddressRange::ToString() const {
  if (first == last) return first.ToString();
  return first.ToString() + "-" + last.ToString();
}

Result<AddressRange> ParseAddressRange(std::string_view raw) {
  std::string_view text = Trim(raw);
  const std::string quoted = "'" + std::string(text) + "'";
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    auto base = IpAddress::Parse(text.substr(0, slash));
    if (!base.ok()) return Status::InvalidArgument("bad CIDR " + quoted + ": bad address");
    const std::uint64_t max_len = base->v6 ? 128 : 32;
    std::uint64_t prefix = 0;
    if (!ParseUnsigned(text.substr(slash + 1), max_len, &prefix)) {
      return Status::InvalidArgument("bad CIDR " + quoted + ": prefix length must be 0.." +
                                     std::to_string(max_len));
    }
    AddressRange r{*base, *base};
    const int bits = base->v6 ? 128 : 32;
    for (int bit = static_cast<int>(prefix); bit < bits; ++bit) {
      const std::uint8_t mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
      r.first.bytes[bit / 8] &= static_cast<std::uint8_t>(~mask);
      r.last.bytes[bit / 8] |= mask;
    }
    if (r.first != *base) {
      return Status::InvalidArgument("bad CIDR " + quoted + ": host bits set (network is " +
                                     r.first.ToString() + "/" + std::to_string(prefix) + ")");
    }
    return r;
  }
  if (size_t dash = text.find('-'); dash != std::string_view::npos) {
    auto first = IpAddress::Parse(text.substr(0, dash));
    auto last = IpAddress::Parse(text.substr(dash + 1));
    if (!first.ok() || !last.ok()) {
      return Status::InvalidArgument("bad address range " + quoted);
    }
    if (first->v6 != last->v6) {
      return Status::InvalidArgument("bad address range " + quoted + ": mixes IPv4 and IPv6");
    }
    if (first->bytes > last->bytes) {
      return Status::InvalidArgument("bad address range " + quoted + ": start is after end");
    }
    return AddressRange{*first, *last};
  }
  auto single = IpAddress::Parse(text);
  if (!single.ok()) return Status::InvalidArgument("bad target " + quoted + ": " +
                                                   "not an address, CIDR or range");
  return AddressRange{*single, *single};
}

Result<std::vector<AddressRange>> ParseTargetList(std::string_view text) {
  std::vector<AddressRange> out;
  if (Trim(text).empty()) return Status::InvalidArgument("target list is empty");
  Status st = ForEachItem(text, [&](std::string_view item) -> Status {
    auto r = ParseAddressRange(item);
    if (!r.ok()) return r.status();
    out.push_back(*r);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Result<std::vector<PortRange>> ParsePortList(std::string_view text) {
  std::vector<PortRange> out;
  if (Trim(text).empty()) return Status::InvalidArgument("port list is empty");
  auto parse_port = [](std::string_view s, std::uint16_t* port) {
    std::uint64_t v = 0;
    if (!ParseUnsigned(Trim(s), 65535, &v) || v == 0) return false;
    *port = static_cast<std::uint16_t>(v);
    return true;
  };
  Status st = ForEachItem(text, [&](std::string_view item) -> Status {
    PortRange r;
    const std::string quoted = "'" + std::string(item) + "'";
    if (size_t dash = item.find('-'); dash != std::string_view::npos) {
      if (!parse_port(item.substr(0, dash), &r.first) ||
          !parse_port(item.substr(dash + 1), &r.last)) {
        return Status::InvalidArgument("bad port range " + quoted + ": ports are 1..65535");
      }
      if (r.first > r.last) {
        return Status::InvalidArgument("bad port range " + quoted + ": start is after end");
      }
    } else {
      if (!parse_port(item, &r.first)) {
        return Status::InvalidArgument("bad port " + quoted + ": ports are 1..65535");
      }
      r.last = r.first;
    }
    out.push_back(r);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

std::uint64_t CountPorts(const std::vector<PortRange>& ports) {
  std::uint64_t n = 0;
  for (const auto& p : ports) n += p.Size();
  return n;
}

std::uint64_t CountAddresses(const std::vector<AddressRange>& ranges) {
  std::uint64_t n = 0;
  for (const auto& r : ranges) {
    std::uint64_t s = r.Size();
    if (n > std::numeric_limits<std::uint64_t>::max() - s) {
      return std::numeric_limits<std::uint64_t>::max();
    }
    n += s;
  }
  return n;
}

}  // namespace picket
