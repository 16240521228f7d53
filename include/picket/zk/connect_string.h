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

// ZooKeeper digest credentials for the central tools (sync, collector, CLI),
// the same pair as picketd's zookeeper.auth_user / auth_password_file: every
// node they create gets CREATOR_ALL_ACL, so only sessions with these
// credentials read or change the picket tree. Both or neither must be given;
// `user_origin`/`file_origin` name where each came from, for messages.
struct ZkCredentials {
  std::string user, password;  // empty: no auth (open ACLs)
};
Result<ZkCredentials> LoadZkCredentials(const std::optional<std::string>& user,
                                        std::string_view user_origin,
                                        const std::optional<std::string>& password_file,
                                        std::string_view file_origin);

}  // namespace picket::zk
