// Collector URLs: http or https, a host, an optional port, an optional base path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // name, IPv4, or IPv6 without brackets
  std::uint16_t port = 0;
  std::string path;    // "" or starting with '/', without a trailing '/'
  std::string ToString() const;
};

Result<Url> ParseUrl(std::string_view text);

}  // namespace picket
