#include "picket/sqlite/library_info.h"

#include <sqlite3.h>

namespace picket::sqlite {

LibraryVersion SqliteLibraryVersion() { return {"sqlite3", sqlite3_libversion()}; }

}  // namespace picket::sqlite
