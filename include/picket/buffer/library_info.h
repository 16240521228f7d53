// Version of SQLite, the local buffer's store.
#pragma once

#include "picket/common/version.h"

namespace picket::buffer {

LibraryVersion SqliteLibraryVersion();

}  // namespace picket::buffer
