#include "collector/token_table.h"

#include <algorithm>
#include <map>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "picket/common/digest.h"
#include "picket/common/file_io.h"

namespace picket::collector {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Splits a line into whitespace-separated fields.
std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsSpace(line[i])) ++i;
    std::size_t start = i;
    while (i < line.size() && !IsSpace(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// "sha256:<64 hex>" → the hash; nullopt for anything else.
std::optional<std::array<std::uint8_t, 32>> ParseTokenHash(std::string_view field) {
  if (field.substr(0, kTokenHashPrefix.size()) != kTokenHashPrefix) return std::nullopt;
  std::string_view hex = field.substr(kTokenHashPrefix.size());
  std::array<std::uint8_t, 32> out{};
  if (hex.size() != out.size() * 2) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

bool IsValidTokenOwner(std::string_view owner) {
  return owner == kOperatorId || owner == kAdminId || IsValidDeviceId(owner);
}

std::string TokenFileLine(std::string_view owner, std::string_view token) {
  return std::string(owner) + " " + std::string(kTokenHashPrefix) + Sha256Hex(token);
}

Result<std::string> NewToken() {
  std::array<unsigned char, 32> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    return Status::Internal("RAND_bytes failed: no random bytes for a new token");
  }
  std::string token = Base64Encode(raw.data(), raw.size());
  OPENSSL_cleanse(raw.data(), raw.size());
  // base64url without padding: no '+', '/' or '=' to quote in a header or a shell.
  for (char& c : token) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!token.empty() && token.back() == '=') token.pop_back();
  return token;
}

Status AppendTokenFileLine(const std::string& path, std::string_view line) {
  std::string text;
  if (auto existing = ReadPrivateFile(path, "tokens file"); existing.ok()) {
    text = std::move(*existing);
  } else if (existing.status().code() != StatusCode::kNotFound) {
    return existing.status();
  }
  // Never extend a file the collector would refuse: fix it first.
  if (auto parsed = TokenTable::Parse(text, path, /*allow_empty=*/true); !parsed.ok()) {
    return parsed.status();
  }
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += line;
  text += '\n';
  if (auto parsed = TokenTable::Parse(text, path); !parsed.ok()) return parsed.status();
  return WriteFileAtomically(path, text);  // 0600 temp file, fsync, rename, fsync(dir)
}

TokenTable::TokenTable(TokenTable&& other) noexcept : entries_(other.Snapshot()) {
  std::lock_guard lock(other.mu_);
  other.entries_ = std::make_shared<const Entries>();
}

TokenTable& TokenTable::operator=(TokenTable&& other) noexcept {
  if (this != &other) Replace(std::move(other));
  return *this;
}

std::shared_ptr<const TokenTable::Entries> TokenTable::Snapshot() const {
  std::lock_guard lock(mu_);
  return entries_;
}

std::size_t TokenTable::size() const { return Snapshot()->size(); }

void TokenTable::Replace(TokenTable&& fresh) {
  std::shared_ptr<const Entries> taken;
  {
    std::lock_guard lock(fresh.mu_);
    taken = std::move(fresh.entries_);
    fresh.entries_ = std::make_shared<const Entries>();
  }
  std::lock_guard lock(mu_);
  entries_ = std::move(taken);
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kDevice:
      return "device";
    case Role::kRead:
      return "read";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

std::optional<std::string> AccessDenied(const Principal& who, const wire::Route& route) {
  switch (wire::EndpointAccess(route.endpoint)) {
    case wire::Access::kPublic:
      return std::nullopt;
    case wire::Access::kDevice:
      if (who.role != Role::kDevice) {
        return "the " + std::string(RoleName(who.role)) +
               " token may not write device data; devices write with their own token";
      }
      if (who.device_id != route.device) {
        return "token of device '" + who.device_id + "' may not write device '" + route.device +
               "'";
      }
      return std::nullopt;
    case wire::Access::kRead:
      if (who.role == Role::kDevice) return std::string("reading needs an operator token (read or admin role)");
      return std::nullopt;
    case wire::Access::kAdmin:
      if (who.role != Role::kAdmin) {
        return std::string(wire::EndpointName(route.endpoint)) + " needs the admin role (this is the " +
               std::string(RoleName(who.role)) + " role)";
      }
      return std::nullopt;
  }
  return std::string("unknown access rule");
}

Result<TokenTable> TokenTable::Parse(std::string_view text, std::string_view origin,
                                     bool allow_empty) {
  Entries entries;
  std::map<std::array<std::uint8_t, 32>, std::size_t> line_of_hash;  // the duplicate check
  std::size_t line_no = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    auto fields = Fields(line);
    // A field starting with '#' starts a comment.
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (fields[i][0] == '#') {
        fields.resize(i);
        break;
      }
    }
    if (fields.empty()) continue;
    auto where = std::string(origin) + ":" + std::to_string(line_no) + ": ";
    if (fields.size() != 2) {
      return Status::InvalidArgument(where + "expected '<device-id> sha256:<hex>', got " +
                                     std::to_string(fields.size()) + " field(s)");
    }
    Entry entry;
    if (fields[0] == kOperatorId) {
      entry.principal.role = Role::kRead;
    } else if (fields[0] == kAdminId) {
      entry.principal.role = Role::kAdmin;
    } else if (IsValidDeviceId(fields[0])) {
      entry.principal.device_id = std::string(fields[0]);
    } else {
      return Status::InvalidArgument(where + "bad device id '" + std::string(fields[0]) +
                                     "' (expected [A-Za-z0-9._-]{1,64}, @operator or @admin)");
    }
    auto hash = ParseTokenHash(fields[1]);
    if (!hash) {
      // The field may be a live plaintext token: never echo it.
      const std::string owner(fields[0]);
      return Status::InvalidArgument(
          where + "the token of '" + owner +
          "' is not 'sha256:<64 hex digits>': token files hold only hashes. Replace the line "
          "with the output of 'picket token hash " + owner +
          "' (the token on its standard input), or issue a new token with 'picket token add " +
          owner + " --tokens " + std::string(origin) + "'");
    }
    entry.token_hash = *hash;
    auto [earlier, fresh] = line_of_hash.emplace(entry.token_hash, line_no);
    if (!fresh) {
      return Status::InvalidArgument(where + "token already used on line " +
                                     std::to_string(earlier->second));
    }
    entries.push_back(std::move(entry));
  }
  if (entries.empty() && !allow_empty) {
    return Status::InvalidArgument(std::string(origin) + ": no tokens");
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.token_hash < b.token_hash; });
  TokenTable table;
  table.entries_ = std::make_shared<const Entries>(std::move(entries));
  return table;
}

Result<TokenTable> TokenTable::LoadFile(const std::string& path) {
  auto text = ReadPrivateFile(path, "tokens file");
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

const TokenTable::Entry* TokenTable::Find(const Entries& entries,
                                          const std::array<std::uint8_t, 32>& hash) {
  auto it = std::lower_bound(entries.begin(), entries.end(), hash,
                             [](const Entry& e, const auto& h) { return e.token_hash < h; });
  return it != entries.end() && it->token_hash == hash ? &*it : nullptr;
}

bool TokenTable::HasTokenHash(const std::array<std::uint8_t, 32>& hash) const {
  return Find(*Snapshot(), hash) != nullptr;
}

std::optional<Principal> TokenTable::Lookup(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  const auto entries = Snapshot();  // kept alive through the search, whatever Replace() does
  const Entry* match = Find(*entries, Sha256Of(token));
  if (match == nullptr) return std::nullopt;
  return match->principal;
}

}  // namespace picket::collector
