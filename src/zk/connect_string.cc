#include "picket/zk/connect_string.h"

#include <charconv>
#include <string_view>

#include "picket/common/file_io.h"
#include "picket/common/log.h"

#include <mutex>

namespace picket::zk {

Status CheckZkHosts(const std::string& text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("--zk " + text + ": " + std::string(why) +
                                   " (expected HOST:PORT[,HOST:PORT...][/chroot])");
  };
  std::string_view hosts = text;
  if (std::size_t slash = hosts.find('/'); slash != std::string_view::npos) {
    hosts = hosts.substr(0, slash);
  }
  if (hosts.empty()) return bad("no host");
  while (true) {
    std::size_t comma = hosts.find(',');
    std::string_view one = hosts.substr(0, comma);
    std::size_t colon = one.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return bad("'" + std::string(one) + "'");
    std::string_view p = one.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || port == 0 || port > 65535) {
      return bad("bad port in '" + std::string(one) + "'");
    }
    if (comma == std::string_view::npos) return Status::Ok();
    hosts.remove_prefix(comma + 1);
  }
}

Result<ZkCredentials> LoadZkCredentials(const std::optional<std::string>& user,
                                        std::string_view user_origin,
                                        const std::optional<std::string>& password_file,
                                        std::string_view file_origin) {
  if (!user && !password_file) return ZkCredentials{};
  if (!user) {
    return Status::InvalidArgument(std::string(file_origin) + " needs " +
                                   std::string(user_origin) + " (the digest user)");
  }
  if (!password_file) {
    return Status::InvalidArgument(std::string(user_origin) + " '" + *user + "' needs " +
                                   std::string(file_origin) + " (the file holding its password)");
  }
  if (user->empty() || user->find_first_of(": \t\r\n") != std::string::npos) {
    return Status::InvalidArgument(std::string(user_origin) + " '" + *user +
                                   "': expected a name without ':' or blanks");
  }
  auto password = ReadSecretFile(*password_file, file_origin);
  if (!password.ok()) return password.status();
  return ZkCredentials{*user, *password};
}

Status RequireZkCredentials(bool has_credentials, bool allow_open, std::string_view allow_name,
                            std::string_view credentials_name) {
  if (has_credentials) return Status::Ok();
  if (!allow_open) {
    return Status::InvalidArgument(
        "ZooKeeper without credentials: " + std::string(credentials_name) +
        " not set, and an open fleet lets anyone who reaches ZooKeeper read every config, "
        "change it and register a fake collector. Give the credentials (config/OPERATOR.md, "
        "\"ZooKeeper identities\"), or set " + std::string(allow_name) +
        " to run open on purpose");
  }
  static std::once_flag warned;
  std::call_once(warned, [&] {
    PICKET_LOG(kWarn, "zk",
               "UNSAFE: ZooKeeper without credentials, every node is world:anyone (readable and "
               "writable by anyone who reaches ZooKeeper, fake collectors included)",
               {"allowed_by", allow_name});
  });
  return Status::Ok();
}

}  // namespace picket::zk
