#include "picket/zk/library_info.h"

#include <zookeeper/zookeeper.h>
#include <zookeeper/zookeeper_version.h>


namespace picket::zk {

LibraryVersion ZooKeeperLibraryVersion() {
  return {"zookeeper_mt", ZOO_VERSION};
}

}  // namespace picket::zk
