// The ZooKeeper C client's connect string, HOST:PORT[,HOST:PORT...][/chroot],
// checked up front so a typo is a startup error rather than a session the
// client retries forever.
#pragma once

#include <string>

#include "picket/common/status.h"

namespace picket::zk {

// InvalidArgument "--zk <text>: <why> (expected HOST:PORT[,HOST:PORT...][/chroot])".
Status CheckZkHosts(const std::string& text);

}  // namespace picket::zk
