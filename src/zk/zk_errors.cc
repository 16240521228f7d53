#include "picket/zk/zk_errors.h"

#include <zookeeper/zookeeper.h>

#include <string>

namespace picket::zk {

Status ZkStatus(int rc, std::string_view op, std::string_view path) {
  if (rc == ZOK) return Status::Ok();
  const char* text = zerror(rc);
  std::string message = std::string(op) + " " + std::string(path) + ": " +
                        (text != nullptr ? text : "unknown error") + " (" + std::to_string(rc) + ")";
  switch (rc) {
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
    case ZSESSIONEXPIRED:
    case ZSESSIONMOVED:
    case ZINVALIDSTATE:
    case ZCLOSING:
      return Status::Unavailable(std::move(message));
    case ZNONODE:
      return Status::NotFound(std::move(message));
    case ZBADVERSION:
      return Status::Conflict(std::move(message));
    case ZNODEEXISTS:
      return Status::AlreadyExists(std::move(message));
    case ZNOAUTH:
    case ZAUTHFAILED:
      return Status::PermissionDenied(std::move(message));
    case ZNOTEMPTY:
    case ZNOCHILDRENFOREPHEMERALS:
      return Status::FailedPrecondition(std::move(message));
    case ZBADARGUMENTS:
    case ZINVALIDACL:
      return Status::InvalidArgument(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

}  // namespace picket::zk
