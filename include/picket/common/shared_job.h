// A shared scan job: one scan split into shards that several devices claim and
// scan in parallel. The spec lives in ZooKeeper at <root>/jobs/<job-id> as JSON:
//   {"targets":"127.0.1.0/24","exclude":"","ports":"80,443,8000-8100","rate_pps":2000,
//    "mode":"connect","retries":1,"wait_ms":2000,"banners":false,"shards":4,
//    "max_parallel_shards":1,"group":"lab","devices":["gw-1","gw-2"],"seed":12345}
// Every device parses the same bytes with the same validator, so all of them
// agree on the target×port space and on the permutation seed — the shards then
// partition the space exactly.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/daemon_config.h"
#include "picket/common/status.h"

namespace picket {

struct SharedJobSpec : ScanProbe {     // rate_pps is per shard
  std::string id;                       // the znode name: [A-Za-z0-9._-]{1,64}
  std::uint32_t shards = 1;
  std::uint32_t max_parallel_shards = 1;  // shards scanned at once, over all devices
  std::string group;                      // empty: any group
  std::vector<std::string> devices;       // non-empty: only these devices (overrides group)
  std::uint64_t seed = 0;                 // never 0 after ParseSharedJobSpec
};

inline constexpr std::size_t kMaxSharedJobBytes = 1 << 20;  // a znode holds at most ~1 MiB

// Validates `json_text` as the job `job_id`. Reports every problem at once as
// InvalidArgument, one "/field: message" line each, naming the bad value.
// A missing or 0 seed becomes a deterministic non-zero seed derived from the id.
Result<SharedJobSpec> ParseSharedJobSpec(std::string_view job_id, std::string_view json_text);

// The spec as compact JSON (without the id, which is the znode name); parses back to `spec`.
std::string SharedJobSpecToJson(const SharedJobSpec& spec);

// The seed used when the spec gives none: FNV-1a 64 of the id, forced odd (non-zero).
std::uint64_t DefaultSharedJobSeed(std::string_view job_id);

// Whether `device_id` in `group` may scan the job: a non-empty device list
// decides alone; otherwise a non-empty job group must equal `group`; otherwise yes.
bool JobEligible(const SharedJobSpec& spec, std::string_view device_id, std::string_view group);

// How many of a job's done/ children name a distinct shard 0..shards-1 (other
// names are ignored), so "every shard done" is count == shards.
std::uint32_t CountDoneShards(const std::vector<std::string>& children, std::uint32_t shards);

// The per-device scan settings, for scan::SpecFromConfig (interval 0: shards run once).
ScanJobConfig ToScanJobConfig(const SharedJobSpec& spec);

}  // namespace picket
