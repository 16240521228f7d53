#include "picket/capture/capture_filter.h"

#include <arpa/inet.h>

#include <string>

namespace picket::capture {

namespace {

bool IsIpLiteral(const std::string& ip) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

// Depth never negative and back to zero at the end.
bool ParenthesesBalance(std::string_view text) {
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) return false;
  }
  return depth == 0;
}

bool IsBlank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

Result<std::string> ComposeCaptureFilter(std::string_view user_filter,
                                         const std::vector<ExcludedEndpoint>& excluded) {
  if (!ParenthesesBalance(user_filter)) {
    return Status::InvalidArgument("bad BPF filter \"" + std::string(user_filter) +
                                   "\": unbalanced parentheses");
  }
  std::string exclusion;
  for (const ExcludedEndpoint& e : excluded) {
    if (!IsIpLiteral(e.ip)) {
      return Status::InvalidArgument("capture exclusion: \"" + e.ip +
                                     "\" is not an IPv4 or IPv6 address");
    }
    if (e.port == 0) {
      return Status::InvalidArgument("capture exclusion: port 0 for " + e.ip);
    }
    if (!exclusion.empty()) exclusion += " and ";
    exclusion += "not (host " + e.ip + " and tcp port " + std::to_string(e.port) + ")";
  }
  if (IsBlank(user_filter)) return exclusion;
  if (exclusion.empty()) return std::string(user_filter);
  return "(" + std::string(user_filter) + ") and " + exclusion;
}

}  // namespace picket::capture
