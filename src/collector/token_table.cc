#include "collector/token_table.h"

#include <openssl/crypto.h>

#include <fstream>
#include <sstream>

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

}  // namespace

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

Result<TokenTable> TokenTable::Parse(std::string_view text, std::string_view origin) {
  TokenTable table;
  std::size_t line_no = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    auto fields = Fields(line);
    // A field starting with '#' starts a comment; '#' inside a token is kept.
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (fields[i][0] == '#') {
        fields.resize(i);
        break;
      }
    }
    if (fields.empty()) continue;
    auto where = std::string(origin) + ":" + std::to_string(line_no) + ": ";
    if (fields.size() != 2) {
      return Status::InvalidArgument(where + "expected '<device-id> <token>', got " +
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
    entry.token_hash = Sha256Of(fields[1]);
    for (const Entry& e : table.entries_) {
      if (e.token_hash == entry.token_hash) {
        return Status::InvalidArgument(where + "token already used on an earlier line");
      }
    }
    table.entries_.push_back(std::move(entry));
  }
  if (table.entries_.empty()) {
    return Status::InvalidArgument(std::string(origin) + ": no tokens");
  }
  return table;
}

Result<TokenTable> TokenTable::LoadFile(const std::string& path) {
  auto text = ReadPrivateFile(path, "tokens file");
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

std::optional<Principal> TokenTable::Lookup(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  const auto presented = Sha256Of(token);
  const Entry* match = nullptr;
  for (const Entry& e : entries_) {  // no early exit: the same work for every token
    bool equal = CRYPTO_memcmp(e.token_hash.data(), presented.data(), presented.size()) == 0;
    if (equal) match = &e;
  }
  if (match == nullptr) return std::nullopt;
  return match->principal;
}

}  // namespace picket::collector
