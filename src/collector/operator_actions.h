// The admin actions of the page and API (config/API.md "Admin actions") on the
// operator database given with --db: submit and cancel a shared scan job,
// replace a device's config row. The same validation and rows as the CLI
// (sync/operator_rows.h). One MariaDB connection, used under a mutex (actions
// are rare), checked before each action and reopened when it was lost.
// Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "picket/common/clock.h"
#include "picket/common/status.h"
#include "picket/sync/db_url.h"
#include "picket/sync/operator_rows.h"

namespace picket::sync {
class MariaDbConnection;
}

namespace picket::collector {

class OperatorActions {
 public:
  OperatorActions(sync::DbUrl url, const Clock* clock);
  ~OperatorActions();

  // Errors: InvalidArgument (400, naming the field and value), NotFound (404),
  // AlreadyExists (409), Unavailable (503: the database cannot be reached).
  // POST /v1/scans: body fields as `picket scan submit` takes them → {"job": id}.
  Result<nlohmann::json> SubmitScan(std::string_view body);
  // POST /v1/scans/{job}/cancel → {"job", "cancelled", "state"}.
  Result<nlohmann::json> CancelScan(const std::string& job);
  // PUT /v1/devices/{id}/config: the whole config document → {"device", "version"}.
  Result<nlohmann::json> SetDeviceConfig(const std::string& device, std::string_view body);

  // Pure, for tests: the JSON body of POST /v1/scans as the CLI's fields
  // (strings or integers; devices as an array or a comma list).
  static Result<sync::ScanJobFields> ScanFieldsFromJson(std::string_view body);


 private:
  // The connection, opened or reopened as needed; Unavailable when it cannot be.
  Result<sync::MariaDbConnection*> ConnectionLocked();
  // Drops the connection after an Unavailable error, so the next action reconnects.
  void ForgetOnUnavailable(const Status& st);

  const sync::DbUrl url_;
  const Clock* clock_;
  std::mutex mu_;
  std::unique_ptr<sync::MariaDbConnection> connection_;
};

}  // namespace picket::collector
