// What the operator commands (devices, config, scan) share: positional
// arguments beside flags, ZooKeeper and MariaDB addresses from flags or the
// CLI config (cli_config.h), and plain text tables. Every error names the
// flag or config key it came from.
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cli_config.h"
#include "picket/common/command_line.h"
#include "picket/common/status.h"
#include "picket/sync/db_url.h"
#include "picket/zk/connect_string.h"

namespace picket::zk {
class ZkSession;
}
namespace picket::sync {
class MariaDbConnection;
}

namespace picket::cli {

// FlagParser refuses positional arguments: this takes them out first.
// "--name VALUE" counts as one flag when name is in value_flags.
struct SplitArgs {
  std::vector<std::string> positionals;
  std::vector<char*> flags;
};
SplitArgs SplitPositionals(std::span<char* const> args,
                           const std::vector<std::string_view>& value_flags);

// One line of text: line breaks (and the next line's indent) become "; ",
// other control characters spaces. Table cells go through it.
std::string OneLineText(const std::string& text);

// Columns padded to the widest cell, two spaces apart, no trailing blanks.
std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

struct ZkAddress {
  std::string hosts;   // HOST:PORT[,...]
  std::string root;    // "/picket" unless given
  std::string origin;  // "--zk" or "\"zookeeper\" in FILE"
  zk::ZkCredentials auth;  // from --zk-user/--zk-password-file or the config; empty: none
};
// From --zk / --zk-root / --zk-user / --zk-password-file, else "zookeeper" /
// "zk_root" / "zk_user" / "zk_password_file" in the CLI config. Without
// credentials: refused unless --zk-open-acl or "zk_open_acl": true.
Result<ZkAddress> ResolveZk(const FlagParser& flags, const CliConfig& config);
// Where and as whom the CLI talks to the collector: --collector / --token-file,
// else "collector" / "token_file" in the CLI config. Errors name the flag or key.
struct CollectorAccess {
  std::string base_url;  // without a trailing '/'
  std::string token;     // "" when none (a collector run with --insecure-no-auth)
  std::string origin;    // "--collector" or "\"collector\" in FILE", for messages
};
Result<CollectorAccess> ResolveCollector(const FlagParser& flags, const CliConfig& config);

// From --db, else "db" in the CLI config; PICKET_DB_PASSWORD overrides the password.
Result<sync::DbUrl> ResolveDb(const FlagParser& flags, const CliConfig& config);

// The CLI config, the address flags and a connection in one step, as each
// command that reads ZooKeeper or MariaDB needs them. On failure the reason
// is printed ("picket <command>: ...") and *exit_code is 2 for a bad flag or
// config, 1 for a server that cannot be reached.
struct ZkConnection {
  ZkAddress address;
  std::unique_ptr<zk::ZkSession> session;
};
std::optional<ZkConnection> OpenZkOrFail(std::string_view command, const FlagParser& flags,
                                         int* exit_code);
std::unique_ptr<sync::MariaDbConnection> OpenDbOrFail(std::string_view command,
                                                      const FlagParser& flags, int* exit_code);

// What every request of the CLI to the collector sets: no signals, http(s)
// only, 10 s to connect, libcurl's error text into `error` (CURL_ERROR_SIZE).
void SetCommonCurlOptions(CURL* handle, char* error);

// Waits up to 5 s for the session; Unavailable naming the hosts and flag.
Result<std::unique_ptr<zk::ZkSession>> ConnectZk(const ZkAddress& address);
Result<std::unique_ptr<sync::MariaDbConnection>> ConnectDb(const sync::DbUrl& url);

// A node's data, nullopt when it does not exist; other errors pass through.
Result<std::optional<std::string>> GetIfExists(zk::ZkSession& session, const std::string& path);
// Children, empty when the node does not exist.
Result<std::vector<std::string>> ChildrenIfExists(zk::ZkSession& session, const std::string& path);

// A config row version as people read it. Rows start at the server clock in
// microseconds (config/schema.sql) and every edit adds 1, so a version from
// 10^15 on prints as that instant, ISO 8601 UTC to the microsecond
// ("2026-12-03T19:02:12.123457Z": created then, or edited n times since, n µs
// later); smaller ones (hand-made nodes) print as the counter they are.
// nullopt: "-". --json output keeps the raw integer beside it.
std::string FormatVersion(std::optional<std::int64_t> version);

// "picket <command>: <message>" on stderr; returns `code`.
int Fail(std::string_view command, const std::string& message, int code);


}  // namespace picket::cli
