#include "collector/collector_db.h"

namespace picket::collector {

Result<std::unique_ptr<CollectorDb>> CollectorDb::OpenMariaDb(const std::string&, std::size_t) {
  return Status::FailedPrecondition("MariaDB storage is not built yet");
}

}  // namespace picket::collector
