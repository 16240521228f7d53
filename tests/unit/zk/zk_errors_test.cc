#include "picket/zk/zk_errors.h"

#include <doctest/doctest.h>
#include <zookeeper/zookeeper.h>

namespace picket::zk {
namespace {

TEST_CASE("ZkStatus maps ZooKeeper errors and names the path") {
  CHECK(ZkStatus(ZOK, "zoo_get", "/a").ok());
  struct Case {
    int rc;
    StatusCode code;
  };
  const Case cases[] = {
      {ZCONNECTIONLOSS, StatusCode::kUnavailable},
      {ZOPERATIONTIMEOUT, StatusCode::kUnavailable},
      {ZSESSIONEXPIRED, StatusCode::kUnavailable},
      {ZINVALIDSTATE, StatusCode::kUnavailable},
      {ZNONODE, StatusCode::kNotFound},
      {ZBADVERSION, StatusCode::kConflict},
      {ZNODEEXISTS, StatusCode::kAlreadyExists},
      {ZNOAUTH, StatusCode::kPermissionDenied},
      {ZAUTHFAILED, StatusCode::kPermissionDenied},
      {ZNOTEMPTY, StatusCode::kFailedPrecondition},
      {ZNOCHILDRENFOREPHEMERALS, StatusCode::kFailedPrecondition},
      {ZBADARGUMENTS, StatusCode::kInvalidArgument},
      {ZMARSHALLINGERROR, StatusCode::kInternal},
  };
  for (const auto& c : cases) {
    CAPTURE(c.rc);
    Status s = ZkStatus(c.rc, "zoo_set", "/picket/devices/d1/config");
    CHECK(s.code() == c.code);
    CHECK(s.message().find("zoo_set /picket/devices/d1/config: ") == 0);
    CHECK(s.message().find("(" + std::to_string(c.rc) + ")") != std::string::npos);
  }
}

}  // namespace
}  // namespace picket::zk
