// ZooKeeper C client return codes → Status, converted once at the boundary
// with the operation and the znode path named in the message.
#pragma once

#include <string_view>

#include "picket/common/status.h"

namespace picket::zk {

// rc is a ZOO_ERRORS value (ZOK → OK). ZCONNECTIONLOSS, ZOPERATIONTIMEOUT,
// ZSESSIONEXPIRED, ZINVALIDSTATE, ZCLOSING → Unavailable (retry);
// ZNONODE → NotFound; ZBADVERSION → Conflict; ZNODEEXISTS → AlreadyExists;
// ZNOAUTH, ZAUTHFAILED → PermissionDenied; ZNOTEMPTY, ZNOCHILDRENFOREPHEMERALS
// → FailedPrecondition; ZBADARGUMENTS → InvalidArgument; others → Internal.
// Message: "<op> <path>: <zerror text> (<rc>)".
Status ZkStatus(int rc, std::string_view op, std::string_view path);

}  // namespace picket::zk
