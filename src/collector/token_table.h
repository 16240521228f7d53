// Bearer tokens from the --tokens file, which holds only their SHA-256 hashes:
//   # comment
//   <device-id> sha256:<64 hex>   a device may write only its own id
//   @operator   sha256:<64 hex>   role read: every read endpoint, the page's login
//   @admin      sha256:<64 hex>   role admin: read + the operator actions (--db)
// A device may have several tokens (rotation). A line with a plaintext token
// is refused, naming the file, the line and the command that fixes it
// (`picket token hash`, `picket token add`). A lookup hashes the presented
// token and searches the table, sorted by hash, in O(log n): timing can tell
// only where SHA-256 of a guess falls among the stored hashes, which says
// nothing about any token (finding one from its hash is a preimage attack),
// so 10,000 devices cost no more per request than 10. Thread-safe: Replace() swaps in a reloaded table (SIGHUP) while
// other threads look up; a lookup in flight finishes on the table it began on.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/status.h"
#include "picket/common/wire.h"

namespace picket::collector {

inline constexpr std::string_view kOperatorId = "@operator";
inline constexpr std::string_view kAdminId = "@admin";
inline constexpr std::string_view kTokenHashPrefix = "sha256:";

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

// A device id, @operator or @admin: what may start a tokens-file line.
bool IsValidTokenOwner(std::string_view owner);

// "<owner> sha256:<hex of SHA-256(token)>", no newline: one tokens-file line.
std::string TokenFileLine(std::string_view owner, std::string_view token);

// A new random token: 32 bytes from OpenSSL's RAND_bytes, base64url (43 characters).
Result<std::string> NewToken();

// Appends `line` to the tokens file at `path` (created 0600 when missing):
// the existing file must be private and parse; the whole new file is written
// under a temp name and renamed over the old one, so a reader (the collector
// on SIGHUP) sees the old or the new file, never half. One writer at a time.
Status AppendTokenFileLine(const std::string& path, std::string_view line);

class TokenTable {
 public:
  // `origin` names the source (file path) in error messages: "tokens.txt:3: ...".
  // allow_empty: a file with no lines yet (`picket token add` creating one).
  static Result<TokenTable> Parse(std::string_view text, std::string_view origin,
                                  bool allow_empty = false);
  static Result<TokenTable> LoadFile(const std::string& path);

  TokenTable(TokenTable&& other) noexcept;
  TokenTable& operator=(TokenTable&& other) noexcept;
  TokenTable(const TokenTable&) = delete;
  TokenTable& operator=(const TokenTable&) = delete;

  std::optional<Principal> Lookup(std::string_view token) const;
  // Whether a token with this SHA-256 is in the table (a login session's token, after a reload).
  bool HasTokenHash(const std::array<std::uint8_t, 32>& hash) const;
  std::size_t size() const;

  // Takes over `fresh`'s entries (a reload); `fresh` is left empty.
  void Replace(TokenTable&& fresh);

 private:
  struct Entry {
    std::array<std::uint8_t, 32> token_hash;
    Principal principal;
  };
  using Entries = std::vector<Entry>;  // sorted by token_hash, each hash once
  TokenTable() : entries_(std::make_shared<const Entries>()) {}
  std::shared_ptr<const Entries> Snapshot() const;
  static const Entry* Find(const Entries& entries, const std::array<std::uint8_t, 32>& hash);

  mutable std::mutex mu_;  // guards the pointer, not the (immutable) entries
  std::shared_ptr<const Entries> entries_;
};

// The one device-id rule, shared with the HTTP routes (common/wire.h).
using wire::IsValidDeviceId;

}  // namespace picket::collector
