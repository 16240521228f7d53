// Version of the ZooKeeper C client (multi-threaded flavour).
#pragma once

#include "picket/common/version.h"

namespace picket::zk {

LibraryVersion ZooKeeperLibraryVersion();

}  // namespace picket::zk
