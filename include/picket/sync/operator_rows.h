// The operator's writes to MariaDB, written once for `picket scan submit|cancel`,
// `picket config set` and the collector's admin actions (POST /v1/scans,
// POST /v1/scans/{job}/cancel, PUT /v1/devices/{id}/config): the same
// validation, the same rows. picket sync mirrors the rows into ZooKeeper.
// Pure functions plus calls on a connection the caller owns (one thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/status.h"
#include "picket/sync/mariadb_connection.h"

namespace picket::sync {

// ---- Scan jobs (table scan_jobs) ------------------------------------------------

inline constexpr std::uint64_t kMaxScanRatePps = 100'000'000;
inline constexpr std::uint64_t kMaxScanShards = 1'000'000;

// A job as the operator typed it, every field as text ("rate": "5000").
// devices: comma-separated device ids. id: empty or absent draws one.
struct ScanJobFields {
  std::optional<std::string> targets, ports, rate, shards, mode, group, devices, id, max_parallel;
};

// How a field is named in messages: the CLI says "--max-parallel", the API "max_parallel".
// Fields: targets, ports, rate, shards, mode, group, devices, id, max_parallel.
using FieldNamer = std::function<std::string(std::string_view field)>;

struct ScanJobRow {
  std::string id, targets, ports;
  std::uint64_t rate_pps = 0, shards = 0;
  std::optional<std::uint64_t> max_parallel;
  std::optional<std::string> mode, group;
  std::vector<std::string> devices;
};

// "scan-<yyyymmdd-hhmmss>-<4 hex>" for the given UTC wall time and random bits.
std::string MakeScanJobId(std::int64_t wall_ms, std::uint16_t random);

// Required fields, numbers, ids: InvalidArgument naming the field and value.
// `drawn_id` is used when fields.id is absent.
Result<ScanJobRow> ParseScanJobFields(const ScanJobFields& fields, const FieldNamer& name,
                                      const std::string& drawn_id);
// The job document the devices parse (common/shared_job.h), and its check by
// their own parser: InvalidArgument with one "/field: message" line per problem.
std::string ScanJobSpecJson(const ScanJobRow& row);
Status CheckScanJob(const ScanJobRow& row);

// AlreadyExists "job '<id>' exists already in scan_jobs"; database errors pass through.
Status InsertScanJob(MariaDbConnection& db, const ScanJobRow& row);

struct CancelOutcome {
  std::string was;         // the row's state before: "active", "cancelled", "done", ...
  bool cancelled = false;  // this call cancelled it (it was active)
};
// NotFound "no job '<id>' in scan_jobs". Only an active row changes.
Result<CancelOutcome> CancelScanJob(MariaDbConnection& db, std::string_view job);

// ---- Config rows (tables devices, device_groups) --------------------------------

struct ConfigRowTarget {
  bool group = false;
  std::string key;  // a device id or a group name ([A-Za-z0-9._-]{1,64})
  std::string Table() const { return group ? "device_groups" : "devices"; }
  std::string KeyColumn() const { return group ? "name" : "id"; }
  std::string Describe() const { return (group ? "group " : "device ") + key; }
};

struct ConfigRow {
  std::string config;
  std::int64_t version = 0;
};

// picketd's own validator (common/config_check.h) plus the row's rule that the
// database owns "version". InvalidArgument with the validator's message block
// ("<origin> is invalid, N error(s):\n  /path: message\n..."); else the compact
// document to store.
Result<std::string> CheckConfigDocument(std::string_view text, std::string_view origin);

Result<std::optional<ConfigRow>> ReadConfigRow(MariaDbConnection& db, const ConfigRowTarget& t);

struct ConfigWrite {
  std::optional<std::int64_t> before;  // nullopt: the row was created
  std::int64_t after = 0;              // the version now (the triggers bump it)
};
// Updates (or inserts) the row with a document from CheckConfigDocument.
Result<ConfigWrite> WriteConfigRow(MariaDbConnection& db, const ConfigRowTarget& t,
                                   const std::string& compact_document);

}  // namespace picket::sync
