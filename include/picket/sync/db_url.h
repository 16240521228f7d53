// The database flag of `picket sync`: mysql://USER[:PASS]@HOST[:PORT]/DB.
// User and password may be percent-encoded (a password holding '@' or '/').
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::sync {

struct DbUrl {
  std::string user;
  std::string password;
  std::string host;          // name, IPv4, or IPv6 without brackets
  std::uint16_t port = 3306;
  std::string database;
  // The URL with the password replaced by "***" (for logs and errors).
  std::string Redacted() const;
};

// InvalidArgument naming what is wrong; the message never contains the password.
Result<DbUrl> ParseDbUrl(std::string_view text);

}  // namespace picket::sync
