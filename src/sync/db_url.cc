#include "picket/sync/db_url.h"

#include <charconv>

namespace picket::sync {

namespace {

constexpr std::string_view kForm = " (expected mysql://USER[:PASS]@HOST[:PORT]/DB)";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(std::string_view text, std::string_view what) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    int hi = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
    int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) return Status::InvalidArgument(std::string(what) + ": bad %-escape");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool IsDbNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || c == '-';
}

}  // namespace

std::string DbUrl::Redacted() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "mysql://" + user + (password.empty() ? "" : ":***") + "@" + h + ":" +
         std::to_string(port) + "/" + database;
}

Result<DbUrl> ParseDbUrl(std::string_view text) {
  // The password must never reach an error message: name the part, not the text.
  auto bad = [](std::string_view why) {
    return Status::InvalidArgument("--db: " + std::string(why) + std::string(kForm));
  };
  constexpr std::string_view kScheme = "mysql://";
  constexpr std::string_view kMariaScheme = "mariadb://";
  std::string_view rest;
  if (text.starts_with(kScheme)) {
    rest = text.substr(kScheme.size());
  } else if (text.starts_with(kMariaScheme)) {
    rest = text.substr(kMariaScheme.size());
  } else {
    return bad("the URL must start with mysql://");
  }
  const std::size_t at = rest.rfind('@');
  if (at == std::string_view::npos) return bad("no USER@ part");
  std::string_view userinfo = rest.substr(0, at);
  std::string_view hostpart = rest.substr(at + 1);

  DbUrl url;
  const std::size_t colon = userinfo.find(':');
  auto user = PercentDecode(userinfo.substr(0, colon), "--db user");
  if (!user.ok()) return user.status();
  url.user = *user;
  if (url.user.empty()) return bad("empty user");
  if (colon != std::string_view::npos) {
    auto password = PercentDecode(userinfo.substr(colon + 1), "--db password");
    if (!password.ok()) return password.status();
    url.password = *password;
  }

  const std::size_t slash = hostpart.find('/');
  if (slash == std::string_view::npos) return bad("no /DB part");
  std::string_view authority = hostpart.substr(0, slash);
  std::string_view db = hostpart.substr(slash + 1);
  if (const std::size_t q = db.find('?'); q != std::string_view::npos) {
    return bad("query parameters are not supported");
  }
  if (db.empty()) return bad("empty database name");
  if (db.size() > 64) return bad("database name longer than 64 characters");
  for (char c : db) {
    if (!IsDbNameChar(c)) return bad("database name '" + std::string(db) + "' has a bad character");
  }
  url.database = std::string(db);

  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated [IPv6] host");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return bad("junk after ]");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    const std::size_t pc = authority.rfind(':');
    url.host = std::string(authority.substr(0, pc));
    if (pc != std::string_view::npos) {
      port_text = authority.substr(pc + 1);
      if (port_text.empty()) return bad("empty port");
    }
  }
  if (url.host.empty()) return bad("empty host");
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return bad("bad port '" + std::string(port_text) + "'");
    }
    url.port = static_cast<std::uint16_t>(port);
  }
  return url;
}

}  // namespace picket::sync
