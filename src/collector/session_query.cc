#include "collector/session_query.h"

#include <arpa/inet.h>

#include <charconv>
#include <ctime>
#include <string>

#include "picket/common/units.h"

namespace picket::collector {

namespace {

Status BadParam(std::string_view name, std::string_view value, std::string_view expected) {
  return Status::InvalidArgument("query parameter '" + std::string(name) + "': bad value '" +
                                 std::string(value) + "' (expected " + std::string(expected) +
                                 ")");
}

// Reads exactly `digits` decimal digits at text[pos].
bool Digits(std::string_view text, std::size_t& pos, int digits, int& out) {
  if (pos + digits > text.size()) return false;
  out = 0;
  for (int i = 0; i < digits; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += digits;
  return true;
}

bool Expect(std::string_view text, std::size_t& pos, std::string_view chars) {
  if (pos >= text.size() || chars.find(text[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

std::optional<std::int64_t> ParseRfc3339Us(std::string_view t) {
  std::size_t p = 0;
  int year, mon, day, hour, min, sec;
  if (!Digits(t, p, 4, year) || !Expect(t, p, "-") || !Digits(t, p, 2, mon) ||
      !Expect(t, p, "-") || !Digits(t, p, 2, day) || !Expect(t, p, "Tt ") ||
      !Digits(t, p, 2, hour) || !Expect(t, p, ":") || !Digits(t, p, 2, min) ||
      !Expect(t, p, ":") || !Digits(t, p, 2, sec)) {
    return std::nullopt;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return std::nullopt;
  }
  std::int64_t frac_us = 0;
  if (p < t.size() && t[p] == '.') {
    ++p;
    int n = 0;
    std::int64_t scale = 100000;
    while (p < t.size() && t[p] >= '0' && t[p] <= '9') {
      if (n < 6) frac_us += (t[p] - '0') * scale;
      scale /= 10;
      ++n;
      ++p;
    }
    if (n == 0) return std::nullopt;
  }
  std::int64_t offset_s = 0;
  if (p < t.size() && (t[p] == 'Z' || t[p] == 'z')) {
    ++p;
  } else if (p < t.size() && (t[p] == '+' || t[p] == '-')) {
    const int sign = t[p] == '-' ? -1 : 1;
    ++p;
    int oh, om;
    if (!Digits(t, p, 2, oh) || !Expect(t, p, ":") || !Digits(t, p, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_s = sign * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  if (p != t.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const std::int64_t secs = static_cast<std::int64_t>(::timegm(&tm)) - offset_s;
  return secs * 1'000'000 + frac_us;
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
  if (auto us = ParseRfc3339Us(text)) return *us;
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
