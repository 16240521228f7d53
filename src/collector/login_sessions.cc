#include "collector/login_sessions.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cctype>
#include <cstring>
#include <vector>

#include "picket/common/digest.h"

namespace picket::collector {

namespace {

// Sessions are kept under the SHA-256 of their id, never the id itself.
std::array<std::uint8_t, 32> Hash(std::string_view id) { return Sha256Of(id); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::size_t LoginSessions::KeyHash::operator()(const Key& k) const {
  std::size_t out = 0;
  std::memcpy(&out, k.data(), sizeof out);  // already a uniform hash
  return out;
}

LoginSessions::LoginSessions(const Clock* clock, std::size_t max_sessions,
                             std::chrono::milliseconds lifetime)
    : clock_(clock), max_sessions_(max_sessions == 0 ? 1 : max_sessions), lifetime_(lifetime) {}

Result<std::string> RandomToken(std::size_t count) {
  std::vector<std::uint8_t> bytes(count);
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return Status::Internal("RAND_bytes failed: no random session id");
  }
  std::string b64 = Base64Encode(bytes.data(), bytes.size());
  std::string out;
  out.reserve(b64.size());
  for (char c : b64) {
    if (c == '=') break;
    out += c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return out;
}

void LoginSessions::DropExpiredLocked(std::int64_t now_ms) {
  // Every session lives as long as the others: the oldest expire first.
  while (!by_age_.empty()) {
    auto oldest = by_age_.begin();
    auto it = by_key_.find(oldest->second);
    if (it != by_key_.end() && it->second.session.expires_ms > now_ms) break;
    if (it != by_key_.end()) by_key_.erase(it);
    by_age_.erase(oldest);
  }
}

Result<LoginSessions::Created> LoginSessions::Create(
    Role role, std::optional<std::array<std::uint8_t, 32>> token_hash) {
  auto id = RandomToken();
  if (!id.ok()) return id.status();
  auto csrf = RandomToken();
  if (!csrf.ok()) return csrf.status();
  Created out;
  out.id = std::move(*id);
  out.session.role = role;
  out.session.token_hash = token_hash;
  out.session.csrf = std::move(*csrf);
  const std::int64_t now = clock_->WallMillis();
  out.session.expires_ms = now + lifetime_.count();
  std::lock_guard lock(mu_);
  DropExpiredLocked(now);
  while (by_key_.size() >= max_sessions_ && !by_age_.empty()) {
    by_key_.erase(by_age_.begin()->second);
    by_age_.erase(by_age_.begin());
  }
  const Key key = Hash(out.id);
  const std::uint64_t order = next_order_++;
  by_key_[key] = Entry{out.session, order};
  by_age_.emplace(order, key);
  return out;
}

std::optional<LoginSession> LoginSessions::Find(std::string_view id) {
  if (id.empty()) return std::nullopt;
  const Key key = Hash(id);
  std::lock_guard lock(mu_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  if (it->second.session.expires_ms <= clock_->WallMillis()) {
    by_age_.erase(it->second.order);
    by_key_.erase(it);
    return std::nullopt;
  }
  return it->second.session;
}

void LoginSessions::Remove(std::string_view id) {
  const Key key = Hash(id);
  std::lock_guard lock(mu_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return;
  by_age_.erase(it->second.order);
  by_key_.erase(it);
}

std::size_t LoginSessions::size() const {
  std::lock_guard lock(mu_);
  return by_key_.size();
}

std::optional<std::string_view> CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    std::size_t semi = header.find(';');
    std::string_view pair = TrimSpaces(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (TrimSpaces(pair.substr(0, eq)) != name) continue;
    std::string_view value = TrimSpaces(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (value.empty()) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

std::string SessionCookie(std::string_view id, std::chrono::seconds max_age, bool secure) {
  std::string out = std::string(kSessionCookie) + "=" + std::string(id) +
                    "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
                    std::to_string(max_age.count());
  if (secure) out += "; Secure";
  return out;
}

bool CsrfMatches(const LoginSession& session, std::string_view presented) {
  if (session.csrf.empty() || presented.size() != session.csrf.size()) return false;
  return CRYPTO_memcmp(session.csrf.data(), presented.data(), presented.size()) == 0;
}

std::optional<std::string> OriginMismatch(std::string_view origin, std::string_view host,
                                          bool tls) {
  const std::string expected = std::string(tls ? "https://" : "http://") + Lower(TrimSpaces(host));
  const std::string given = Lower(TrimSpaces(origin));
  if (!host.empty() && given == expected) return std::nullopt;
  auto shown = [](std::string_view s) { return std::string(s.substr(0, 200)); };
  return "Origin '" + shown(origin) + "' is not this collector's origin '" + shown(expected) + "'";
}

}  // namespace picket::collector
