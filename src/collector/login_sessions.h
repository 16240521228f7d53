// The page's login sessions (config/API.md "Login sessions"): an operator
// token exchanged for a random session id carried in the HttpOnly cookie
// `picket_session`, plus a CSRF token the page sends back on every non-GET
// request. In memory only (a restart logs everyone out), bounded (the oldest
// session is evicted), each living a fixed time. Thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "collector/token_table.h"
#include "picket/common/clock.h"
#include "picket/common/status.h"

namespace picket::collector {

inline constexpr std::string_view kSessionCookie = "picket_session";
inline constexpr std::string_view kCsrfHeader = "X-CSRF-Token";
inline constexpr std::string_view kCookieHeader = "Cookie";
inline constexpr std::string_view kSetCookieHeader = "Set-Cookie";
inline constexpr std::string_view kOriginHeader = "Origin";
inline constexpr std::string_view kHostHeader = "Host";
inline constexpr std::chrono::seconds kSessionLifetime{12 * 3600};
inline constexpr std::size_t kMaxLoginSessions = 10'000;

struct LoginSession {
  Role role = Role::kRead;
  // SHA-256 of the token the session was made from: when a tokens-file reload
  // (SIGHUP) removes that token, the session stops working too. nullopt: made
  // without a token (--insecure-no-auth).
  std::optional<std::array<std::uint8_t, 32>> token_hash;
  std::string csrf;  // 32 random bytes, base64url
  std::int64_t expires_ms = 0;
};

class LoginSessions {
 public:
  LoginSessions(const Clock* clock, std::size_t max_sessions = kMaxLoginSessions,
                std::chrono::milliseconds lifetime = kSessionLifetime);

  struct Created {
    std::string id;  // the cookie value: 32 random bytes, base64url
    LoginSession session;
  };
  // Internal when the random generator fails (never answers with a weak id).
  Result<Created> Create(Role role,
                         std::optional<std::array<std::uint8_t, 32>> token_hash = std::nullopt);
  // nullopt for an unknown or expired id (expired ones are dropped).
  std::optional<LoginSession> Find(std::string_view id);
  void Remove(std::string_view id);
  std::size_t size() const;
  std::chrono::milliseconds lifetime() const { return lifetime_; }

 private:
  using Key = std::array<std::uint8_t, 32>;  // SHA-256 of the id: lookups leak nothing usable
  struct KeyHash {
    std::size_t operator()(const Key& k) const;
  };
  struct Entry {
    LoginSession session;
    std::uint64_t order = 0;
  };
  void DropExpiredLocked(std::int64_t now_ms);

  const Clock* clock_;
  const std::size_t max_sessions_;
  const std::chrono::milliseconds lifetime_;
  mutable std::mutex mu_;
  std::unordered_map<Key, Entry, KeyHash> by_key_;
  std::map<std::uint64_t, Key> by_age_;  // creation order: the front is the oldest
  std::uint64_t next_order_ = 1;
};

// `count` bytes from OpenSSL's RAND_bytes as base64url without padding.
Result<std::string> RandomToken(std::size_t count = 32);

// The value of cookie `name` in a Cookie header ("a=1; b=2"); the first one
// wins. Tolerates junk around it; nullopt when absent or empty.
std::optional<std::string_view> CookieValue(std::string_view header, std::string_view name);

// "picket_session=<id>; HttpOnly; SameSite=Strict; Path=/; Max-Age=<s>[; Secure]";
// Max-Age=0 with an empty id clears it.
std::string SessionCookie(std::string_view id, std::chrono::seconds max_age, bool secure);

// Constant-time comparison of the session's CSRF token with the presented one.
bool CsrfMatches(const LoginSession& session, std::string_view presented);

// Why an Origin header does not name this collector ("<scheme>://<Host>"),
// nullopt when it does. Scheme and host compare case-insensitively.
std::optional<std::string> OriginMismatch(std::string_view origin, std::string_view host,
                                          bool tls);

}  // namespace picket::collector
