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

// The mode of a job that names none: connect needs no raw socket on the
// devices and is what the docs' examples use; SYN is asked for by name.
inline constexpr std::string_view kDefaultScanMode = "connect";

// A job as the operator typed it, every field as text ("rate": "5000").
// devices: comma-separated device ids. id: empty or absent draws one.
// wait: a duration ("2s", "500ms"); banners: "true"/"false"/"1"/"0".
// force is no row field: "true" lets a job over kMaxProbesUnforced through.
struct ScanJobFields {
  std::optional<std::string> targets, ports, rate, shards, mode, group, devices, id, max_parallel,
      exclude, retries, wait, banners, seed, force;
};

// How a field is named in messages: the CLI says "--max-parallel", the API "max_parallel".
// Fields: targets, ports, rate, shards, mode, group, devices, id, max_parallel,
// exclude, retries, wait, banners, seed.
using FieldNamer = std::function<std::string(std::string_view field)>;

struct ScanJobRow {
  std::string id, targets, ports;
  std::uint64_t rate_pps = 0, shards = 0;
  std::optional<std::uint64_t> max_parallel;
  std::optional<std::string> mode, group;  // ParseScanJobFields sets mode (kDefaultScanMode)
  std::vector<std::string> devices;
  std::optional<std::string> exclude;
  std::optional<std::uint64_t> retries, wait_ms, seed;
  std::optional<bool> banners;
};

// How big a job is: addresses x ports (overlaps and excludes not subtracted,
// so an upper bound) and the probes that sends, x (1 + retries). Saturates.
struct ScanJobSize {
  std::uint64_t addresses = 0, ports = 0, space = 0, probes = 0;
};
ScanJobSize EstimateScanJobSize(const ScanJobRow& row);
// Above kWarnProbes submit warns; above kMaxProbesUnforced it refuses unless
// forced; a space over kMaxScanSpace no device scans (scan::ScanSpec::max_probes).
inline constexpr std::uint64_t kWarnProbes = 1'000'000'000;
inline constexpr std::uint64_t kMaxProbesUnforced = 10'000'000'000;
inline constexpr std::uint64_t kMaxScanSpace = 1ull << 32;
// Empty when the size is fine; else one line why ("warning: ..." or the refusal).
struct SizeVerdict {
  bool refuse = false;
  std::string message;
};
SizeVerdict JudgeScanJobSize(const ScanJobSize& size, bool force);

// "scan-<yyyymmdd-hhmmss>-<4 hex>" for the given UTC wall time and random bits.
std::string MakeScanJobId(std::int64_t wall_ms, std::uint16_t random);

// Required fields, numbers, ids: InvalidArgument naming the field and value.
// `drawn_id` is used when fields.id is absent.
Result<ScanJobRow> ParseScanJobFields(const ScanJobFields& fields, const FieldNamer& name,
                                      const std::string& drawn_id);
// The job document the devices parse (common/shared_job.h), and its check by
// their own parser: InvalidArgument with one "/field: message" line per problem
// (without the parser's header, which names the id: it may be a drawn one).
std::string ScanJobSpecJson(const ScanJobRow& row);
Status CheckScanJob(const ScanJobRow& row);

// AlreadyExists "job '<id>' exists already in scan_jobs"; database errors pass through.
Status InsertScanJob(MariaDbConnection& db, const ScanJobRow& row);

// Warnings for a job no device can take: listed devices without a row in
// `devices` (or disabled), a group without an enabled device row. Empty: fine.
Result<std::vector<std::string>> EligibilityWarnings(MariaDbConnection& db, const ScanJobRow& row);

// One scan_jobs row as `picket scan list` shows it.
struct ScanJobListing {
  std::string id, targets, exclude, ports, mode, group, devices, state;
  std::optional<std::uint64_t> shards, rate_pps, retries;
  std::optional<std::int64_t> created_ms, finished_ms;  // Unix ms; nullopt when NULL
  std::int64_t version = 0;
};
// Newest first, at most `limit`; `state` "" for every state.
Result<std::vector<ScanJobListing>> ListScanJobs(MariaDbConnection& db, std::uint64_t limit,
                                                 const std::string& state);

struct CancelOutcome {
  std::string was;         // the row's state before: "active", "cancelled", "finished", ...
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
