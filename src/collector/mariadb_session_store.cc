#include "collector/session_store.h"
#include "picket/sync/db_url.h"

namespace picket::collector {

Result<std::unique_ptr<SessionStore>> SessionStore::OpenMariaDb(const sync::DbUrl&, std::size_t) {
  return Status::FailedPrecondition("MariaDB session storage is not built yet");
}

}  // namespace picket::collector
