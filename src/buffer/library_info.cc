#include "picket/buffer/library_info.h"

#include <sqlite3.h>

namespace picket::buffer {

LibraryVersion SqliteLibraryVersion() { return {"sqlite3", sqlite3_libversion()}; }

}  // namespace picket::buffer
