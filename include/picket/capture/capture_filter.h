// The capture filter the sniffer really installs: the operator's BPF plus a
// clause that keeps the daemon's own uploads out of its captures (otherwise
// every chunk shipped would be captured again into the next one).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/status.h"

namespace picket::capture {

// TCP traffic to or from this address and port is never captured.
struct ExcludedEndpoint {
  std::string ip;  // IPv4 or IPv6 literal; host names are refused (no DNS in the capture path)
  std::uint16_t port = 0;
};

// "(user) and not (host A and tcp port P) and not (host B and tcp port Q)".
// An empty user filter captures everything but the excluded endpoints; no
// exclusions leave the user's filter as it is. BPF gives `and` and `or` the
// same precedence, left to right, so the trailing clauses always apply to the
// whole user expression; unbalanced parentheses are refused anyway.
Result<std::string> ComposeCaptureFilter(std::string_view user_filter,
                                         const std::vector<ExcludedEndpoint>& excluded);

}  // namespace picket::capture
