#include "collector/session_query.h"

#include <arpa/inet.h>

#include <charconv>
#include <ctime>
#include <string>

#include "picket/common/clock.h"
#include "picket/common/units.h"

namespace picket::collector {

namespace {

Status BadParam(std::string_view name, std::string_view value, std::string_view expected) {
  return Status::InvalidArgument("query parameter '" + std::string(name) + "': bad value '" +
                                 std::string(value) + "' (expected " + std::string(expected) +
                                 ")");
}


// The canonical text of an address (as inet_ntop writes the stored ones).
std::optional<std::string> CanonicalIp(const std::string& text) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  for (int family : {AF_INET, AF_INET6}) {
    if (::inet_pton(family, text.c_str(), buf) == 1 &&
        ::inet_ntop(family, buf, out, sizeof out) != nullptr) {
      return std::string(out);
    }
  }
  return std::nullopt;
}

Result<std::optional<int>> IntParam(const wire::Route& route, std::string_view name, int max,
                                    std::string_view expected) {
  auto text = wire::QueryText(route, name);
  if (!text) return std::optional<int>();
  int value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size() || value < 0 ||
      value > max) {
    return BadParam(name, *text, expected);
  }
  return std::optional<int>(value);
}

}  // namespace

std::optional<int> ParseProto(std::string_view text) {
  if (text == "tcp") return 6;
  if (text == "udp") return 17;
  if (text == "icmp") return 1;
  if (text == "icmp6" || text == "ipv6-icmp" || text == "icmpv6") return 58;
  if (text == "sctp") return 132;
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0 ||
      value > 255) {
    return std::nullopt;
  }
  return value;
}

Result<std::int64_t> ParseTimeOrAgo(std::string_view text, std::int64_t now_ms) {
  if (auto us = ParseRfc3339Micros(text)) return *us;
  auto ago = ParseDuration(text);
  if (!ago.ok()) return Status::InvalidArgument("not an RFC 3339 time or a duration");
  return (now_ms - ago->count()) * 1000;
}

Result<SessionQuery> ParseSessionQuery(const wire::Route& route, std::int64_t now_ms) {
  SessionQuery q;
  SessionFilter& f = q.filter;
  f.device = wire::QueryText(route, wire::kDeviceParam);
  if (f.device && !wire::IsValidDeviceId(*f.device)) {
    return BadParam(wire::kDeviceParam, *f.device, "a device id [A-Za-z0-9._-]{1,64}");
  }
  for (auto [name, out] : {std::pair{wire::kSinceParam, &f.since_us},
                           std::pair{wire::kUntilParam, &f.until_us}}) {
    if (auto text = wire::QueryText(route, name)) {
      auto t = ParseTimeOrAgo(*text, now_ms);
      if (!t.ok()) {
        return BadParam(name, *text, "an RFC 3339 time such as 2026-12-03T09:00:00Z or a "
                                     "duration back from now such as 1h");
      }
      *out = *t;
    }
  }
  if (auto ip = wire::QueryText(route, wire::kIpParam)) {
    f.ip = CanonicalIp(*ip);
    if (!f.ip) return BadParam(wire::kIpParam, *ip, "an IPv4 or IPv6 address");
  }
  auto port = IntParam(route, wire::kPortParam, 65535, "a port 0..65535");
  if (!port.ok()) return port.status();
  f.port = *port;
  if (auto proto = wire::QueryText(route, wire::kProtoParam)) {
    f.proto = ParseProto(*proto);
    if (!f.proto) return BadParam(wire::kProtoParam, *proto, "tcp, udp, icmp, icmp6, sctp or 0..255");
  }
  for (auto [name, out] : {std::pair{wire::kAppParam, &f.app}, std::pair{wire::kRiskParam, &f.risk},
                           std::pair{wire::kStateParam, &f.state}}) {
    *out = wire::QueryText(route, name);
    if (*out && out->value().empty()) return BadParam(name, "", "a non-empty name");
  }
  auto after = wire::QueryNumber(route, wire::kAfterParam);
  if (!after.ok()) return after.status();
  f.after = after->value_or(0);
  auto limit = wire::QueryNumber(route, wire::kLimitParam);
  if (!limit.ok()) return limit.status();
  if (*limit) {
    if (**limit < 1 || **limit > wire::kMaxSessionLimit) {
      return BadParam(wire::kLimitParam, std::to_string(**limit),
                      "1.." + std::to_string(wire::kMaxSessionLimit));
    }
    q.limit = **limit;
  }
  return q;
}

}  // namespace picket::collector
