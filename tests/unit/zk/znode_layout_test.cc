#include "picket/zk/znode_layout.h"

#include <doctest/doctest.h>

namespace picket::zk {

TEST_SUITE("zk.znode_layout") {
  TEST_CASE("the default root is /picket") {
    const ZnodeLayout layout;
    CHECK(layout.root() == "/picket");
    CHECK(layout.DeviceConfig("gw-1") == "/picket/devices/gw-1/config");
  }

  TEST_CASE("config, status and sync nodes of groups and devices") {
    const ZnodeLayout layout("/picket");
    CHECK(layout.Groups() == "/picket/groups");
    CHECK(layout.Group("lab") == "/picket/groups/lab");
    CHECK(layout.GroupConfig("lab") == "/picket/groups/lab/config");
    CHECK(layout.GroupSyncError("lab") == "/picket/groups/lab/sync");
    CHECK(layout.Devices() == "/picket/devices");
    CHECK(layout.Device("gw-1") == "/picket/devices/gw-1");
    CHECK(layout.DeviceConfig("gw-1") == "/picket/devices/gw-1/config");
    CHECK(layout.DeviceStatus("gw-1") == "/picket/devices/gw-1/status");
    CHECK(layout.DeviceSyncError("gw-1") == "/picket/devices/gw-1/sync");
  }

  TEST_CASE("a shared job and its children") {
    const ZnodeLayout layout("/picket");
    CHECK(layout.Jobs() == "/picket/jobs");
    CHECK(layout.Job("sweep") == "/picket/jobs/sweep");
    CHECK(layout.JobMembers("sweep") == "/picket/jobs/sweep/members");
    CHECK(layout.JobMember("sweep", "gw-2") == "/picket/jobs/sweep/members/gw-2");
    CHECK(layout.JobClaims("sweep") == "/picket/jobs/sweep/claims");
    CHECK(layout.ShardClaim("sweep", 3) == "/picket/jobs/sweep/claims/3");
    CHECK(layout.JobProgress("sweep") == "/picket/jobs/sweep/progress");
    CHECK(layout.ShardProgress("sweep", 0) == "/picket/jobs/sweep/progress/0");
    CHECK(layout.JobDone("sweep") == "/picket/jobs/sweep/done");
    CHECK(layout.ShardDone("sweep", 4294967295u) == "/picket/jobs/sweep/done/4294967295");
  }

  TEST_CASE("collectors and sync's own nodes") {
    const ZnodeLayout layout("/picket");
    CHECK(layout.Collectors() == "/picket/collectors");
    CHECK(layout.Collector("c1") == "/picket/collectors/c1");
    CHECK(layout.Sync() == "/picket/sync");
    CHECK(layout.LeaderSequence() == "/picket/sync/leader-seq");
    CHECK(ZnodeLayout::LeaderCandidateName(42) == "leader-0000000042");
    CHECK(ZnodeLayout::LeaderCandidateName(9'999'999'999ull) == "leader-9999999999");
    CHECK(layout.LeaderCandidate("leader-0000000042") == "/picket/sync/leader-0000000042");
    CHECK(layout.SyncJobVersions() == "/picket/sync/jobs");
    CHECK(layout.SyncJobVersion("sweep") == "/picket/sync/jobs/sweep");
    CHECK(layout.SyncJobErrors() == "/picket/sync/job-errors");
    CHECK(layout.SyncJobError("sweep") == "/picket/sync/job-errors/sweep");
  }

  TEST_CASE("another root moves the whole tree") {
    const ZnodeLayout layout("/fleets/eu");
    CHECK(layout.DeviceStatus("gw-1") == "/fleets/eu/devices/gw-1/status");
    CHECK(layout.ShardClaim("j", 1) == "/fleets/eu/jobs/j/claims/1");
    CHECK(layout.Collector("c") == "/fleets/eu/collectors/c");
    CHECK(layout.LeaderSequence() == "/fleets/eu/sync/leader-seq");
  }

  TEST_CASE("a listed child joins its parent") {
    CHECK(ZnodeLayout::Child("/picket/jobs/j/claims", "7") == "/picket/jobs/j/claims/7");
  }
}

}  // namespace picket::zk
