// The operator CLI's addresses: ~/.config/picket/cli.json (or the file named
// by $PICKET_CLI_CONFIG), e.g.
//   {"collector": "http://127.0.0.1:8750", "token_file": "/etc/picket/operator.token",
//    "zookeeper": "127.0.0.1:2181", "zk_root": "/picket",
//    "zk_user": "picket", "zk_password_file": "/etc/picket/zk.password",
//    "db": "mysql://user:pass@127.0.0.1:3306/picket"}
// "zk_open_acl": true (the one boolean) lets the CLI use a ZooKeeper without
// credentials (an unsafe, world-writable fleet). Every key is optional; command-line flags override it. Unknown keys and
// values that are not non-empty strings are refused, naming the file and key,
// so a typo never silently falls back to a default.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::cli {

struct CliConfig {
  std::optional<std::string> collector;   // collector base URL
  std::optional<std::string> token_file;  // operator token file
  std::optional<std::string> zookeeper;   // HOST:PORT[,HOST:PORT...]
  std::optional<std::string> zk_root;
  std::optional<std::string> zk_user;           // ZooKeeper digest user (with zk_password_file)
  std::optional<std::string> zk_password_file;
  std::optional<std::string> db;  // mysql://user:pass@host:port/database
  bool zk_open_acl = false;       // "zk_open_acl": true: ZooKeeper without credentials, on purpose
  std::string source;             // the file read; "" when none was
};

inline constexpr std::string_view kCliConfigEnv = "PICKET_CLI_CONFIG";

// Parses the file's text; `origin` (the path) starts every error message.
Result<CliConfig> ParseCliConfig(std::string_view text, const std::string& origin);

// Reads `path`. A missing file is an empty config unless must_exist.
Result<CliConfig> LoadCliConfigFile(const std::string& path, bool must_exist);

// $PICKET_CLI_CONFIG (which must exist), else $HOME/.config/picket/cli.json
// (which may be missing).
Result<CliConfig> LoadCliConfig();

// The file LoadCliConfig reads, for messages ("set collector in ...").
std::string CliConfigPath();

// A flag's value, else the config's, else nullopt; never an empty string.
std::optional<std::string> FlagOrConfig(const std::optional<std::string>& flag,
                                        const std::optional<std::string>& config);



}  // namespace picket::cli
