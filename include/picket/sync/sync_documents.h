// Pure pieces of `picket sync`: database rows → znode documents, and the
// compare-and-set decision that keeps an older row from overwriting a newer
// znode. No I/O here, so every rule is unit-tested.
//
// Znodes (DESIGN.md §3):
//   devices row   → <root>/devices/<id>/config  = the row's config + "version"
//   device_groups → <root>/groups/<name>/config = the row's config + "version"
//   scan_jobs row → <root>/jobs/<id>            = the shared job spec (ParseSharedJobSpec
//                   refuses unknown keys, so the row version lives beside it in
//                   <root>/sync/jobs/<id> = {"version":N}, written in the same multi)
// A row that fails validation is not pushed; <owner>/sync explains why.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::sync {

struct GroupRow {
  std::string name;
  std::string config;  // JSON text
  std::int64_t version = 0;
};

struct DeviceRow {
  std::string id;
  std::string group;
  bool enabled = true;
  std::string config;  // JSON text
  std::int64_t version = 0;
};

struct JobRow {
  std::string id;
  std::string targets, exclude, ports;
  std::optional<std::int64_t> rate_pps;
  std::optional<std::string> mode;
  std::optional<std::int64_t> retries, wait_ms, banners, shards, max_parallel_shards;
  std::string group;
  std::string devices;  // "gw-1,gw-2" or a JSON array, "" for none
  std::optional<std::uint64_t> seed;
  std::string state = "active";
  std::int64_t version = 0;
};

// The device's config document. A disabled device gets the document that stops
// capture and scans. InvalidArgument (every validator message, one per line)
// when the config is not a JSON object or the daemon's validator refuses it.
Result<std::string> BuildDeviceDocument(const DeviceRow& row);
// The group's defaults document, validated like a device config.
Result<std::string> BuildGroupDocument(const GroupRow& row);
// The shared job spec exactly as devices parse it (no "version": devices
// refuse unknown keys). InvalidArgument with ParseSharedJobSpec's messages.
Result<std::string> BuildJobDocument(const JobRow& row);
// Whether the job belongs in ZooKeeper at all (state 'active').
bool JobIsActive(const JobRow& row);

// The "version" member of a znode document; nullopt when the data is not a
// JSON object or has no integer version.
std::optional<std::int64_t> EmbeddedVersion(std::string_view znode_data);

enum class WriteDecision {
  kCreate,    // no znode: create it
  kSet,       // znode older (or without a version): Set with its stat version
  kUpToDate,  // znode's version >= the row's: leave it alone
};
// `current` is the znode's data, nullopt when it does not exist.
WriteDecision DecideWrite(const std::optional<std::string>& current, std::int64_t row_version);

// {"version":N,"error":"...","at_ms":T}: why row version N was not pushed.
std::string SyncErrorDocument(std::int64_t version, std::string_view error, std::int64_t at_ms);
// {"version":N}: the version node kept beside a job.
std::string JobVersionDocument(std::int64_t version);

// Names that are safe as one znode path component ([A-Za-z0-9._-]{1,64}).
bool IsValidNodeName(std::string_view name);

}  // namespace picket::sync
