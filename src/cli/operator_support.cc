#include "cli/operator_support.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "picket/common/file_io.h"
#include "picket/common/url.h"
#include "picket/common/log.h"
#include "picket/zk/zk_session.h"
#include "picket/sync/mariadb_connection.h"
#include "picket/zk/znode_layout.h"

namespace picket::cli {

SplitArgs SplitPositionals(std::span<char* const> args,
                           const std::vector<std::string_view>& value_flags) {
  SplitArgs out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a.size() > 2 && a.substr(0, 2) == "--") {
      out.flags.push_back(args[i]);
      std::string_view name = a.substr(2);
      if (name.find('=') != std::string_view::npos) continue;
      if (std::find(value_flags.begin(), value_flags.end(), name) != value_flags.end() &&
          i + 1 < args.size()) {
        out.flags.push_back(args[++i]);
      }
    } else {
      out.positionals.emplace_back(a);
    }
  }
  return out;
}

namespace {

// One table row stays one line (grep-able): a multi-line cell, such as a sync
// refusal listing several errors, joins its lines with "; ".
std::string OneLine(const std::string& cell) {
  std::string out;
  bool line_break = false;
  for (char ch : cell) {
    if (ch == '\n' || ch == '\r') {
      line_break = true;
      continue;
    }
    if (line_break) {
      if (ch == ' ' || ch == '\t') continue;  // the next line's indent
      if (!out.empty()) out += (out.back() == ':' ? " " : "; ");
      line_break = false;
    }
    out += static_cast<unsigned char>(ch) < 0x20 ? ' ' : ch;
  }
  return out;
}

}  // namespace

std::string OneLineText(const std::string& text) { return OneLine(text); }

std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& raw_rows) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(raw_rows.size());
  for (const auto& r : raw_rows) {
    auto& row = rows.emplace_back();
    for (const auto& cell : r) row.push_back(OneLine(cell));
  }
  std::vector<std::size_t> width(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < row.size() ? row[c] : std::string();
      line += cell;
      if (c + 1 < width.size()) line += std::string(width[c] - cell.size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  emit(header);
  for (const auto& r : rows) emit(r);
  return out;
}

Result<CollectorAccess> ResolveCollector(const FlagParser& flags, const CliConfig& config) {
  CollectorAccess c;
  auto flag_url = flags.Value("collector");
  auto url_text = FlagOrConfig(flag_url, config.collector);
  if (!url_text) {
    return Status::InvalidArgument("no collector: give --collector URL or set \"collector\" in " +
                                   CliConfigPath());
  }
  const std::string origin = flag_url ? "--collector" : "\"collector\" in " + config.source;
  auto url = ParseUrl(*url_text);
  if (!url.ok()) {
    return Status::InvalidArgument(origin + " '" + *url_text + "': " + url.status().message());
  }
  c.base_url = url->ToString();
  while (!c.base_url.empty() && c.base_url.back() == '/') c.base_url.pop_back();
  c.origin = origin;
  auto flag_token = flags.Value("token-file");
  if (auto token_file = FlagOrConfig(flag_token, config.token_file)) {
    auto token = ReadSecretFile(
        *token_file, flag_token ? "--token-file" : "\"token_file\" in " + config.source + ":");
    if (!token.ok()) return token.status();
    c.token = *token;
  }
  return c;
}

Result<ZkAddress> ResolveZk(const FlagParser& flags, const CliConfig& config) {
  ZkAddress a;
  auto flag_hosts = flags.Value("zk");
  auto hosts = FlagOrConfig(flag_hosts, config.zookeeper);
  if (!hosts) {
    return Status::InvalidArgument("no ZooKeeper: give --zk HOST:PORT or set \"zookeeper\" in " +
                                   CliConfigPath());
  }
  a.origin = flag_hosts ? "--zk" : "\"zookeeper\" in " + config.source;
  if (hosts->find(':') == std::string::npos) {
    return Status::InvalidArgument(a.origin + " '" + *hosts +
                                   "': expected HOST:PORT[,HOST:PORT...]");
  }
  a.hosts = *hosts;
  auto flag_root = flags.Value("zk-root");
  auto root = FlagOrConfig(flag_root, config.zk_root);
  a.root = root ? *root : std::string(zk::kDefaultRoot);
  const std::string root_origin = flag_root ? "--zk-root" : "\"zk_root\" in " + config.source;
  if (a.root.size() < 2 || a.root.front() != '/' || a.root.back() == '/' ||
      a.root.find("//") != std::string::npos) {
    return Status::InvalidArgument(root_origin + " '" + a.root +
                                   "': expected an absolute znode path such as /picket");
  }
  auto flag_user = flags.Value("zk-user");
  auto flag_file = flags.Value("zk-password-file");
  auto auth = zk::LoadZkCredentials(
      FlagOrConfig(flag_user, config.zk_user),
      flag_user ? "--zk-user" : "\"zk_user\" in " + config.source,
      FlagOrConfig(flag_file, config.zk_password_file),
      flag_file ? "--zk-password-file" : "\"zk_password_file\" in " + config.source);
  if (!auth.ok()) return auth.status();
  a.auth = std::move(auth).value();
  const bool open_flag = flags.Has("zk-open-acl");
  PICKET_RETURN_IF_ERROR(zk::RequireZkCredentials(
      !a.auth.user.empty(), open_flag || config.zk_open_acl,
      open_flag ? "--zk-open-acl" : "--zk-open-acl (or \"zk_open_acl\": true in " + CliConfigPath() + ")",
      "--zk-user/--zk-password-file (\"zk_user\"/\"zk_password_file\" in " + CliConfigPath() +
          ")"));
  return a;
}

Result<sync::DbUrl> ResolveDb(const FlagParser& flags, const CliConfig& config) {
  auto flag_db = flags.Value("db");
  auto text = FlagOrConfig(flag_db, config.db);
  if (!text) {
    return Status::InvalidArgument(
        "no database: give --db mysql://USER:PASS@HOST:PORT/DB or set "
        "\"db\" in " +
        CliConfigPath());
  }
  const std::string origin = flag_db ? "--db" : "\"db\" in " + config.source;
  auto url = sync::ParseDbUrl(*text);
  if (!url.ok()) {
    // The parser names "--db" itself; say where the URL came from instead, once.
    std::string_view why = url.status().message();
    if (why.starts_with("--db")) why.remove_prefix(4);
    if (why.starts_with(": ")) why.remove_prefix(2);
    if (why.starts_with(" ")) why.remove_prefix(1);
    return Status::InvalidArgument(origin + ": " + std::string(why));
  }
  if (const char* password = std::getenv("PICKET_DB_PASSWORD"); password != nullptr) {
    url->password = password;
  }
  return url;
}

Result<std::unique_ptr<zk::ZkSession>> ConnectZk(const ZkAddress& address) {
  // A one-shot read: the session's connect/close lines are noise next to a
  // table; warnings (lost connection) still show.
  if (log::CurrentLevel() > log::Level::kWarn) log::SetLevel(log::Level::kWarn);
  zk::ZkOptions options;
  options.hosts = address.hosts;
  options.session_timeout_ms = 10'000;
  options.auth_user = address.auth.user;
  options.auth_password = address.auth.password;
  auto session = zk::ZkSession::Open(options);
  if (!session.ok()) {
    return Status::InvalidArgument(address.origin + " '" + address.hosts +
                                   "': " + session.status().message());
  }
  if (!(*session)->WaitConnected(std::chrono::seconds(5))) {
    return Status::Unavailable("cannot connect to ZooKeeper at " + address.hosts + " (" +
                               address.origin + ") within 5 s");
  }
  return std::move(session).value();
}

Result<std::unique_ptr<sync::MariaDbConnection>> ConnectDb(const sync::DbUrl& url) {
  auto c = sync::MariaDbConnection::Connect(url);
  if (!c.ok()) return c.status();  // names the redacted URL already
  return std::move(c).value();
}

Result<std::optional<std::string>> GetIfExists(zk::ZkSession& session, const std::string& path) {
  auto node = session.Get(path);
  if (node.ok()) return std::optional<std::string>(node->data);
  if (node.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  return node.status().WithContext(path);
}

Result<std::vector<std::string>> ChildrenIfExists(zk::ZkSession& session, const std::string& path) {
  auto children = session.GetChildren(path);
  if (children.ok()) {
    std::sort(children->begin(), children->end());
    return children;
  }
  if (children.status().code() == StatusCode::kNotFound) return std::vector<std::string>();
  return children.status().WithContext(path);
}

std::optional<ZkConnection> OpenZkOrFail(std::string_view command, const FlagParser& flags,
                                         int* exit_code) {
  auto config = LoadCliConfig();
  if (!config.ok()) {
    *exit_code = Fail(command, config.status().message(), 2);
    return std::nullopt;
  }
  auto address = ResolveZk(flags, *config);
  if (!address.ok()) {
    *exit_code = Fail(command, address.status().message(), 2);
    return std::nullopt;
  }
  auto session = ConnectZk(*address);
  if (!session.ok()) {
    *exit_code = Fail(command, session.status().message(), 1);
    return std::nullopt;
  }
  return ZkConnection{std::move(address).value(), std::move(session).value()};
}

std::unique_ptr<sync::MariaDbConnection> OpenDbOrFail(std::string_view command,
                                                      const FlagParser& flags, int* exit_code) {
  auto config = LoadCliConfig();
  if (!config.ok()) {
    *exit_code = Fail(command, config.status().message(), 2);
    return nullptr;
  }
  auto url = ResolveDb(flags, *config);
  if (!url.ok()) {
    *exit_code = Fail(command, url.status().message(), 2);
    return nullptr;
  }
  auto db = ConnectDb(*url);
  if (!db.ok()) {
    *exit_code = Fail(command, db.status().ToString(), 1);
    return nullptr;
  }
  return std::move(db).value();
}

void SetCommonCurlOptions(CURL* handle, char* error) {
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, 10'000L);
}

std::string FormatVersion(std::optional<std::int64_t> version) {
  constexpr std::int64_t kMicrosecondStamps = 1'000'000'000'000'000;  // 2001-09-09
  constexpr std::int64_t kYear9999 = 253'402'300'799'000'000;
  if (!version) return "-";
  if (*version < kMicrosecondStamps || *version > kYear9999) return std::to_string(*version);
  const std::time_t seconds = static_cast<std::time_t>(*version / 1'000'000);
  std::tm utc{};
  if (::gmtime_r(&seconds, &utc) == nullptr) return std::to_string(*version);
  char text[40];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%06lldZ",
                static_cast<long long>(*version % 1'000'000));
  return text;
}

int Fail(std::string_view command, const std::string& message, int code) {
  std::fprintf(stderr, "picket %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               message.c_str());
  return code;
}

}  // namespace picket::cli
