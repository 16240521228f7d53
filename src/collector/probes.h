// GET /readyz: can this collector take data now? Three checks, each named in
// the answer: the database takes a write (a one-row update in fleet.db), the
// data disk has at least --min-free-disk free, ZooKeeper was read lately
// (only with --zk).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "picket/common/status.h"

namespace picket::collector {

// --min-free-disk: bytes, or a percentage of the file system.
struct DiskThreshold {
  std::uint64_t bytes = 0;
  std::optional<double> percent;  // set: the threshold is this share of the total
};
Result<DiskThreshold> ParseDiskThreshold(std::string_view text);  // "512MiB", "2%"
std::string FormatDiskThreshold(const DiskThreshold& t);

struct DiskSpace {
  std::uint64_t free_bytes = 0;   // available to this (unprivileged) process
  std::uint64_t total_bytes = 0;
};
Result<DiskSpace> DiskSpaceOf(const std::string& path);  // statvfs
bool DiskFreeEnough(const DiskSpace& space, const DiskThreshold& threshold);

struct ReadinessInput {
  Status database;                       // the write probe's result
  std::optional<DiskSpace> disk;         // nullopt: statvfs failed (disk_error says why)
  std::string disk_error;
  DiskThreshold threshold;
  std::optional<bool> zookeeper;         // nullopt: no --zk
  std::string zookeeper_error;
};

struct Readiness {
  bool ready = false;
  nlohmann::json body;  // {"ready", "checks": {"database","disk","zookeeper"}}
};

Readiness EvaluateReadiness(const ReadinessInput& in);

}  // namespace picket::collector
