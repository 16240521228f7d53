// Version of SQLite, the store of the edge buffer and of the collector.
#pragma once

#include "picket/common/version.h"

namespace picket::sqlite {

LibraryVersion SqliteLibraryVersion();

}  // namespace picket::sqlite
