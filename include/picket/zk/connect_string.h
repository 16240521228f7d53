// The ZooKeeper C client's connect string, HOST:PORT[,HOST:PORT...][/chroot],
// checked up front so a typo is a startup error rather than a session the
// client retries forever.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::zk {

// InvalidArgument "--zk <text>: <why> (expected HOST:PORT[,HOST:PORT...][/chroot])".
Status CheckZkHosts(const std::string& text);

// ZooKeeper digest credentials of the fleet's admin identity, shared by the
// central tools (sync, collector, CLI): every node gets its ACL from
// zk/acl_policy.h, which gives this identity everything and devices only
// their own nodes. Both or neither must be given; `user_origin`/`file_origin`
// name where each came from, for messages.
struct ZkCredentials {
  std::string user, password;  // empty: no auth (open ACLs)
};
Result<ZkCredentials> LoadZkCredentials(const std::optional<std::string>& user,
                                        std::string_view user_origin,
                                        const std::optional<std::string>& password_file,
                                        std::string_view file_origin);

// A fleet without credentials is world-writable: refused (InvalidArgument
// naming `credentials_name` and `allow_name`) unless `allow_open`, and then a
// loud warning is logged, once per process.
Status RequireZkCredentials(bool has_credentials, bool allow_open, std::string_view allow_name,
                            std::string_view credentials_name);

}  // namespace picket::zk
