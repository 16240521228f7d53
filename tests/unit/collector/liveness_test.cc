#include "collector/liveness.h"

#include <doctest/doctest.h>

#include <algorithm>

namespace picket::collector {

namespace {

constexpr std::int64_t kNow = 1'800'000'000'000;

LivenessInput Heard(std::int64_t age_ms = 1000) {
  LivenessInput in;
  in.now_ms = kNow;
  in.last_heartbeat_ms = kNow - age_ms;
  in.worker_state = "running";
  return in;
}

bool HasIssue(const Assessment& a, std::string_view kind, std::string_view severity = "") {
  return std::any_of(a.issues.begin(), a.issues.end(), [&](const Issue& i) {
    return i.kind == kind && (severity.empty() || i.severity == severity);
  });
}

bool HasReason(const Assessment& a, std::string_view part) {
  return std::any_of(a.reasons.begin(), a.reasons.end(),
                     [&](const std::string& r) { return r.find(part) != std::string::npos; });
}

}  // namespace

TEST_SUITE("collector.liveness") {
  TEST_CASE("offline_after is three intervals and never under 15 s") {
    CHECK(OfflineAfterMs(std::nullopt) == 15000);
    CHECK(OfflineAfterMs(5000) == 15000);
    CHECK(OfflineAfterMs(1000) == 15000);
    CHECK(OfflineAfterMs(10000) == 30000);
    CHECK(OfflineAfterMs(0) == 15000);
    CHECK(OfflineAfterMs(-7) == 15000);
  }

  TEST_CASE("a fresh heartbeat from a running worker is online with no reasons") {
    Assessment a = AssessDevice(Heard());
    CHECK(a.status == DeviceStatus::kOnline);
    CHECK(a.heard_hb);
    CHECK(a.reasons.empty());
    CHECK(a.issues.empty());
    CHECK(DeviceStatusName(a.status) == "online");
  }

  TEST_CASE("the boundary: age equal to offline_after is heard, one ms more is offline") {
    CHECK(AssessDevice(Heard(15000)).status == DeviceStatus::kOnline);
    Assessment late = AssessDevice(Heard(15001));
    CHECK(late.status == DeviceStatus::kOffline);
    CHECK_FALSE(late.heard_hb);
    CHECK(HasReason(late, "no heartbeat for 15 s"));
    CHECK(HasIssue(late, "offline", "critical"));
    LivenessInput slow = Heard(29000);
    slow.interval_ms = 10000;  // offline_after 30 s
    CHECK(AssessDevice(slow).status == DeviceStatus::kOnline);
    slow.last_heartbeat_ms = kNow - 30001;
    CHECK(AssessDevice(slow).status == DeviceStatus::kOffline);
  }

  TEST_CASE("never seen: no heartbeat, no upload, no status node") {
    LivenessInput in;
    in.now_ms = kNow;
    Assessment a = AssessDevice(in);
    CHECK(a.status == DeviceStatus::kNeverSeen);
    CHECK(DeviceStatusName(a.status) == "never_seen");
    CHECK(a.reasons.size() == 1);
    CHECK(a.issues.empty());
    in.zk_alive = false;  // a config node in ZooKeeper, no status node
    CHECK(AssessDevice(in).status == DeviceStatus::kNeverSeen);
  }

  TEST_CASE("an uploader that never sent a heartbeat is offline") {
    LivenessInput in;
    in.now_ms = kNow;
    in.ever_uploaded = true;
    Assessment a = AssessDevice(in);
    CHECK(a.status == DeviceStatus::kOffline);
    CHECK(HasReason(a, "no heartbeat ever"));
  }

  TEST_CASE("the two sources disagreeing is degraded, naming the silent one") {
    LivenessInput lost = Heard();
    lost.zk_alive = false;
    Assessment a = AssessDevice(lost);
    CHECK(a.status == DeviceStatus::kDegraded);
    CHECK(HasReason(a, "ZooKeeper session lost"));
    CHECK(HasIssue(a, "zookeeper_lost"));

    LivenessInput quiet = Heard(60000);
    quiet.zk_alive = true;
    Assessment b = AssessDevice(quiet);
    CHECK(b.status == DeviceStatus::kDegraded);
    CHECK(HasReason(b, "heartbeats not arriving"));
    CHECK(HasIssue(b, "heartbeat_missing"));

    LivenessInput both = Heard(60000);
    both.zk_alive = false;
    Assessment c = AssessDevice(both);
    CHECK(c.status == DeviceStatus::kOffline);
    CHECK(HasReason(c, "no ZooKeeper status node"));

    LivenessInput agree = Heard();
    agree.zk_alive = true;
    CHECK(AssessDevice(agree).status == DeviceStatus::kOnline);

    LivenessInput says = Heard();
    says.zk_configured = true;
    says.zk_connected = false;
    CHECK(HasIssue(AssessDevice(says), "zookeeper_lost"));
  }

  TEST_CASE("worker, crash loop, refusal, drift, drops, disk and last error each degrade") {
    LivenessInput stopped = Heard();
    stopped.worker_state = "backoff";
    CHECK(AssessDevice(stopped).status == DeviceStatus::kDegraded);
    CHECK(HasReason(AssessDevice(stopped), "worker backoff"));

    LivenessInput crash = Heard();
    crash.crash_loop = true;
    CHECK(HasIssue(AssessDevice(crash), "crash_loop", "critical"));
    CHECK(AssessDevice(crash).status == DeviceStatus::kDegraded);

    for (const char* source : {"device", "group", "sync"}) {
      LivenessInput refused = Heard();
      refused.refusals.push_back({source, 7, "bad filter"});
      Assessment a = AssessDevice(refused);
      CHECK(a.status == DeviceStatus::kDegraded);
      CHECK(HasReason(a, std::string(source) + " config version 7 refused: bad filter"));
      CHECK(HasIssue(a, "config_refused"));
    }

    LivenessInput drift = Heard();
    drift.desired_version = 5;
    drift.applied_version = 4;
    drift.drift_since_ms = kNow - 30000;  // not more than 30 s yet
    CHECK(AssessDevice(drift).status == DeviceStatus::kOnline);
    drift.drift_since_ms = kNow - 30001;
    CHECK(HasIssue(AssessDevice(drift), "config_drift"));
    CHECK(HasReason(AssessDevice(drift), "desired 5, applied 4"));

    LivenessInput drops = Heard();
    drops.drop_pct_last_minute = 1.0;
    CHECK(AssessDevice(drops).status == DeviceStatus::kOnline);
    drops.drop_pct_last_minute = 1.5;
    CHECK(HasIssue(AssessDevice(drops), "drops"));
    CHECK(HasReason(AssessDevice(drops), "drops 1.5%"));

    LivenessInput disk = Heard();
    disk.disk_free_pct = 10.0;
    CHECK(AssessDevice(disk).status == DeviceStatus::kOnline);
    disk.disk_free_pct = 9.9;
    CHECK(HasIssue(AssessDevice(disk), "low_disk", "warning"));
    disk.disk_free_pct = 1.0;
    CHECK(HasIssue(AssessDevice(disk), "low_disk", "critical"));

    LivenessInput err = Heard();
    err.last_error = "upload: connection refused";
    CHECK(AssessDevice(err).status == DeviceStatus::kDegraded);
    CHECK(HasReason(AssessDevice(err), "last error: upload: connection refused"));
  }

  TEST_CASE("no packets and a growing backlog are issues, not degradations") {
    LivenessInput idle = Heard();
    idle.last_packet_change_ms = kNow - 59999;
    CHECK_FALSE(HasIssue(AssessDevice(idle), "no_packets"));
    idle.last_packet_change_ms = kNow - 60000;
    Assessment a = AssessDevice(idle);
    CHECK(HasIssue(a, "no_packets"));
    CHECK(a.status == DeviceStatus::kOnline);
    idle.worker_state = "stopped";  // a stopped worker captures nothing by design
    CHECK_FALSE(HasIssue(AssessDevice(idle), "no_packets"));

    LivenessInput backlog = Heard();
    backlog.backlog_growing = true;
    CHECK(HasIssue(AssessDevice(backlog), "backlog_growing"));
  }

  TEST_CASE("an offline device carries only the offline issue") {
    LivenessInput in = Heard(100000);
    in.crash_loop = true;
    in.disk_free_pct = 1;
    Assessment a = AssessDevice(in);
    CHECK(a.status == DeviceStatus::kOffline);
    REQUIRE(a.issues.size() == 1);
    CHECK(a.issues[0].kind == "offline");
  }
}

}  // namespace picket::collector
