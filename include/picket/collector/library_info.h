// Versions of the libraries the central binary links (Beast, SQLite, ZooKeeper, ...).
#pragma once

#include <vector>

#include "picket/common/version.h"

namespace picket::collector {

std::vector<LibraryVersion> CentralLibraryVersions();

}  // namespace picket::collector
