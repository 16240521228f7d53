// The ZooKeeper tree picket uses, in one place. Every module that reads or
// writes a znode (picketd's supervisor, picket sync, the collector's
// registration, the operator CLI) builds its paths here from the root
// (default /picket); config/README.md describes the same table for operators.
//
//   <root>/groups/<group>/config         group config document        picket sync
//   <root>/groups/<group>/sync           why the group row was refused  picket sync
//   <root>/devices/<id>/config           device config document + "version"   picket sync
//   <root>/devices/<id>/status           ephemeral: what the device runs       picketd
//   <root>/devices/<id>/sync             why the device row was refused        picket sync
//   <root>/jobs/<job>                    shared scan job spec (common/shared_job.h)  picket sync
//   <root>/jobs/<job>/members/<device>   ephemeral: eligible devices still working  picketd
//   <root>/jobs/<job>/claims/<shard>     ephemeral: who scans the shard now        picketd
//   <root>/jobs/<job>/progress/<shard>   checkpoint                                picketd
//   <root>/jobs/<job>/done/<shard>       who finished it (one multi with the claim's deletion)
//   <root>/collectors/<id>               ephemeral: {"url", "id", "started_at"}    collector
//   <root>/sync/leader-seq               election sequence counter (compare-and-set)  sync
//   <root>/sync/leader-<10 digits>       ephemeral: election candidate                sync
//   <root>/sync/jobs/<job>               the job row's version                        sync
//   <root>/sync/job-errors/<job>         why the job row was refused                  sync
//   <root>/sync/status                   ephemeral: the leader's {"doorbell", "poll_interval_ms"}  sync
//   <root>/identities                    {"admin", "fleet"}: digest ids (zk/acl_policy.h)  sync, CLI
//   <root>/identities/devices/<id>       the device's digest id (admin only)  picket zk device add
//
// Names (ids, groups, jobs) are not checked here: callers validate them
// (sync::IsValidNodeName, the config validator) before they reach a path.
// A value type; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace picket::zk {

inline constexpr std::string_view kDefaultRoot = "/picket";

class ZnodeLayout {
 public:
  // Election candidates are "leader-" followed by a 10-digit sequence number.
  static constexpr std::string_view kLeaderPrefix = "leader-";

  explicit ZnodeLayout(std::string root = std::string(kDefaultRoot));

  const std::string& root() const { return root_; }

  // <parent>/<name>: a child found by listing `parent`.
  static std::string Child(std::string_view parent, std::string_view name);

  std::string Groups() const;
  std::string Group(std::string_view group) const;
  std::string GroupConfig(std::string_view group) const;
  std::string GroupSyncError(std::string_view group) const;

  std::string Devices() const;
  std::string Device(std::string_view id) const;
  std::string DeviceConfig(std::string_view id) const;
  std::string DeviceStatus(std::string_view id) const;
  std::string DeviceSyncError(std::string_view id) const;

  std::string Jobs() const;
  std::string Job(std::string_view job) const;
  std::string JobMembers(std::string_view job) const;
  std::string JobMember(std::string_view job, std::string_view device) const;
  std::string JobClaims(std::string_view job) const;
  std::string ShardClaim(std::string_view job, std::uint32_t shard) const;
  std::string JobProgress(std::string_view job) const;
  std::string ShardProgress(std::string_view job, std::uint32_t shard) const;
  std::string JobDone(std::string_view job) const;
  std::string ShardDone(std::string_view job, std::uint32_t shard) const;

  std::string Collectors() const;
  std::string Collector(std::string_view id) const;

  std::string Sync() const;  // the election and sync's own bookkeeping
  std::string LeaderSequence() const;
  std::string LeaderCandidate(std::string_view name) const;  // name: "leader-0000000042"
  static std::string LeaderCandidateName(std::uint64_t sequence);
  std::string SyncJobVersions() const;
  std::string SyncJobVersion(std::string_view job) const;
  std::string SyncJobErrors() const;
  std::string SyncStatus() const;
  std::string SyncJobError(std::string_view job) const;

  std::string Identities() const;  // who the ACLs name (zk/acl_policy.h)
  std::string DeviceIdentities() const;
  std::string DeviceIdentity(std::string_view id) const;

 private:
  std::string root_;
};

}  // namespace picket::zk
