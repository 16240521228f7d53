#include "picket/zk/znode_layout.h"

#include <cstdio>

namespace picket::zk {

ZnodeLayout::ZnodeLayout(std::string root) : root_(std::move(root)) {}

std::string ZnodeLayout::Child(std::string_view parent, std::string_view name) {
  std::string path;
  path.reserve(parent.size() + 1 + name.size());
  path.append(parent).append("/").append(name);
  return path;
}

std::string ZnodeLayout::Groups() const { return Child(root_, "groups"); }
std::string ZnodeLayout::Group(std::string_view group) const { return Child(Groups(), group); }
std::string ZnodeLayout::GroupConfig(std::string_view group) const {
  return Child(Group(group), "config");
}
std::string ZnodeLayout::GroupSyncError(std::string_view group) const {
  return Child(Group(group), "sync");
}

std::string ZnodeLayout::Devices() const { return Child(root_, "devices"); }
std::string ZnodeLayout::Device(std::string_view id) const { return Child(Devices(), id); }
std::string ZnodeLayout::DeviceConfig(std::string_view id) const {
  return Child(Device(id), "config");
}
std::string ZnodeLayout::DeviceStatus(std::string_view id) const {
  return Child(Device(id), "status");
}
std::string ZnodeLayout::DeviceSyncError(std::string_view id) const {
  return Child(Device(id), "sync");
}

std::string ZnodeLayout::Jobs() const { return Child(root_, "jobs"); }
std::string ZnodeLayout::Job(std::string_view job) const { return Child(Jobs(), job); }
std::string ZnodeLayout::JobMembers(std::string_view job) const {
  return Child(Job(job), "members");
}
std::string ZnodeLayout::JobMember(std::string_view job, std::string_view device) const {
  return Child(JobMembers(job), device);
}
std::string ZnodeLayout::JobClaims(std::string_view job) const { return Child(Job(job), "claims"); }
std::string ZnodeLayout::ShardClaim(std::string_view job, std::uint32_t shard) const {
  return Child(JobClaims(job), std::to_string(shard));
}
std::string ZnodeLayout::JobProgress(std::string_view job) const {
  return Child(Job(job), "progress");
}
std::string ZnodeLayout::ShardProgress(std::string_view job, std::uint32_t shard) const {
  return Child(JobProgress(job), std::to_string(shard));
}
std::string ZnodeLayout::JobDone(std::string_view job) const { return Child(Job(job), "done"); }
std::string ZnodeLayout::ShardDone(std::string_view job, std::uint32_t shard) const {
  return Child(JobDone(job), std::to_string(shard));
}

std::string ZnodeLayout::Collectors() const { return Child(root_, "collectors"); }
std::string ZnodeLayout::Collector(std::string_view id) const { return Child(Collectors(), id); }

std::string ZnodeLayout::Sync() const { return Child(root_, "sync"); }
std::string ZnodeLayout::LeaderSequence() const {
  return Child(Sync(), std::string(kLeaderPrefix) + "seq");
}
std::string ZnodeLayout::LeaderCandidate(std::string_view name) const {
  return Child(Sync(), name);
}
std::string ZnodeLayout::LeaderCandidateName(std::uint64_t sequence) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%010llu", static_cast<unsigned long long>(sequence));
  return std::string(kLeaderPrefix) + digits;
}
std::string ZnodeLayout::SyncJobVersions() const { return Child(Sync(), "jobs"); }
std::string ZnodeLayout::SyncJobVersion(std::string_view job) const {
  return Child(SyncJobVersions(), job);
}
std::string ZnodeLayout::SyncJobErrors() const { return Child(Sync(), "job-errors"); }
std::string ZnodeLayout::SyncStatus() const { return Child(Sync(), "status"); }
std::string ZnodeLayout::SyncJobError(std::string_view job) const {
  return Child(SyncJobErrors(), job);
}

std::string ZnodeLayout::Identities() const { return Child(root_, "identities"); }
std::string ZnodeLayout::DeviceIdentities() const { return Child(Identities(), "devices"); }
std::string ZnodeLayout::DeviceIdentity(std::string_view id) const {
  return Child(DeviceIdentities(), id);
}

}  // namespace picket::zk
