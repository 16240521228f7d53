// Bearer tokens from the --tokens file:
//   # comment
//   <device-id> <token>      a device may write only its own id
//   @operator   <token>      role read: every read endpoint, the page's login
//   @admin      <token>      role admin: read + the operator actions (--db)
// A device may have several tokens (rotation). Only SHA-256 hashes of the
// tokens are kept in memory, and lookups compare every entry in constant time,
// so response timing tells nothing about how much of a token was right.
// Immutable after loading; safe to share between threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/status.h"
#include "picket/common/wire.h"

namespace picket::collector {

inline constexpr std::string_view kOperatorId = "@operator";
inline constexpr std::string_view kAdminId = "@admin";

// What a credential may do (wire::EndpointAccess says what a route needs).
enum class Role { kDevice, kRead, kAdmin };
std::string_view RoleName(Role role);  // "device", "read", "admin"

struct Principal {
  Role role = Role::kDevice;
  std::string device_id;  // kDevice only
};

// Whether `who` may call `route` (its endpoint's wire::Access and, for device
// writes, the device id): nullopt when allowed, else why not (a 403 message).
std::optional<std::string> AccessDenied(const Principal& who, const wire::Route& route);

class TokenTable {
 public:
  // `origin` names the source (file path) in error messages: "tokens.txt:3: ...".
  static Result<TokenTable> Parse(std::string_view text, std::string_view origin);
  static Result<TokenTable> LoadFile(const std::string& path);

  std::optional<Principal> Lookup(std::string_view token) const;
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<std::uint8_t, 32> token_hash;
    Principal principal;
  };
  std::vector<Entry> entries_;
};

// The one device-id rule, shared with the HTTP routes (common/wire.h).
using wire::IsValidDeviceId;

}  // namespace picket::collector
