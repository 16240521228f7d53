#include "picket/zk/acl_policy.h"

#include <doctest/doctest.h>

#include <algorithm>

namespace picket::zk {

namespace {

FleetIdentities Fleet() {
  FleetIdentities ids;
  ids.admin = DigestId("admin", "adminpw");
  ids.fleet = DigestId("picket-fleet", "fleetpw");
  ids.devices["gw-1"] = DigestId("gw-1", "pw1");
  ids.devices["gw-2"] = DigestId("gw-2", "pw2");
  ids.groups["gw-1"] = "lab";
  ids.groups["gw-2"] = "dmz";
  return ids;
}

// The permissions `user` gets on `path` (0: none).
int PermsOf(const std::vector<AclEntry>& acl, std::string_view user) {
  int perms = 0;
  for (const auto& e : acl) {
    if (e.scheme == "digest" && DigestUser(e.id) == user) perms |= e.perms;
    if (e.scheme == "world") perms |= e.perms;
  }
  return perms;
}

}  // namespace

TEST_SUITE("zk.acl_policy") {
  TEST_CASE("digest ids are ZooKeeper's user:base64(sha1(user:password))") {
    CHECK(DigestId("gw-1", "pw1") == "gw-1:DlSmgv+M8Yvs0kxh/aWEe6iuNEQ=");
    CHECK(DigestId("picket-fleet", "fleetpw") == "picket-fleet:v5iC7ffFjhGr0oEV69cg1RktQic=");
    CHECK(DigestUser("gw-1:abc") == "gw-1");
    CHECK(DigestUser("nocolon").empty());
  }

  TEST_CASE("the admin has every permission on every node, inside the root or not") {
    const ZnodeLayout layout("/picket");
    const auto ids = Fleet();
    for (const char* path : {"/picket", "/picket/devices/gw-1/status", "/picket/sync/leader-seq",
                             "/picket/identities/devices/gw-1", "/elsewhere", "/picketx"}) {
      CAPTURE(path);
      CHECK(PermsOf(AclFor(layout, ids, path), "admin") == kPermAll);
    }
    CHECK(AclFor(layout, ids, "/picketx").size() == 1);  // a sibling of the root: admin only
  }

  TEST_CASE("a device reads its own config and its group's, writes only its own status") {
    const ZnodeLayout layout("/picket");
    const auto ids = Fleet();
    auto perms = [&](std::string path, std::string_view who) {
      return PermsOf(AclFor(layout, ids, path), who);
    };
    CHECK(perms(layout.DeviceConfig("gw-1"), "gw-1") == kPermRead);
    CHECK(perms(layout.DeviceConfig("gw-1"), "gw-2") == 0);
    CHECK(perms(layout.DeviceConfig("gw-1"), "picket-fleet") == 0);
    CHECK(perms(layout.DeviceStatus("gw-1"), "gw-1") ==
          (kPermRead | kPermWrite | kPermCreate | kPermDelete));
    CHECK(perms(layout.DeviceStatus("gw-1"), "gw-2") == 0);
    CHECK(perms(layout.Device("gw-1"), "gw-1") == (kPermRead | kPermCreate | kPermDelete));
    CHECK(perms(layout.Device("gw-1"), "gw-2") == 0);
    CHECK(perms(layout.DeviceSyncError("gw-1"), "gw-1") == 0);
    CHECK(perms(layout.GroupConfig("lab"), "gw-1") == kPermRead);
    CHECK(perms(layout.GroupConfig("lab"), "gw-2") == 0);
    CHECK(perms(layout.GroupConfig("dmz"), "gw-2") == kPermRead);
    CHECK(perms(layout.GroupSyncError("lab"), "gw-1") == 0);
    CHECK(perms(layout.Devices(), "gw-1") == 0);
    CHECK(perms(layout.Groups(), "gw-1") == 0);
    CHECK(perms(layout.DeviceIdentity("gw-1"), "gw-1") == 0);
  }

  TEST_CASE("jobs are shared through the fleet identity, collectors only read") {
    const ZnodeLayout layout("/picket");
    const auto ids = Fleet();
    auto perms = [&](std::string path) { return PermsOf(AclFor(layout, ids, path), "picket-fleet"); };
    const int shared = kPermRead | kPermWrite | kPermCreate | kPermDelete;
    CHECK(perms(layout.root()) == kPermRead);
    CHECK(perms(layout.Jobs()) == kPermRead);
    CHECK(perms(layout.Job("sweep")) == (kPermRead | kPermCreate));
    CHECK(perms(layout.JobClaims("sweep")) == shared);
    CHECK(perms(layout.ShardClaim("sweep", 3)) == shared);
    CHECK(perms(layout.ShardProgress("sweep", 3)) == shared);
    CHECK(perms(layout.ShardDone("sweep", 3)) == shared);
    CHECK(perms(layout.JobMember("sweep", "gw-1")) == shared);
    CHECK(perms(layout.Job("sweep") + "/other") == 0);
    CHECK(perms(layout.Collectors()) == kPermRead);
    CHECK(perms(layout.Collector("central-1")) == kPermRead);
    CHECK(perms(layout.Identities()) == kPermRead);
    CHECK(perms(layout.DeviceIdentities()) == 0);
    CHECK(perms(layout.LeaderSequence()) == 0);
    CHECK(perms(layout.SyncJobVersion("sweep")) == 0);
    CHECK(perms(layout.DeviceConfig("gw-1")) == 0);
  }

  TEST_CASE("nobody else is named: no world entry in a secured fleet") {
    const ZnodeLayout layout("/picket");
    const auto ids = Fleet();
    for (const char* path : {"/picket", "/picket/collectors/x", "/picket/jobs/j/claims/0"}) {
      const auto acl = AclFor(layout, ids, path);
      CHECK(std::none_of(acl.begin(), acl.end(), [](const AclEntry& e) { return e.scheme != "digest"; }));
    }
  }

  TEST_CASE("an unregistered device gets nothing, a device using the admin identity is the admin") {
    const ZnodeLayout layout("/picket");
    auto ids = Fleet();
    CHECK(AclFor(layout, ids, layout.DeviceStatus("gw-9")).size() == 1);
    ids.devices["gw-9"] = ids.admin;
    CHECK(AclFor(layout, ids, layout.DeviceStatus("gw-9")).size() == 1);
  }

  TEST_CASE("open fleets are world-writable, an unknown admin falls back to the creator") {
    const ZnodeLayout layout("/picket");
    FleetIdentities open;
    open.open = true;
    CHECK(AclFor(layout, open, "/picket/devices/gw-1/config") ==
          std::vector<AclEntry>{{kPermAll, "world", "anyone"}});
    FleetIdentities unknown;
    CHECK(AclFor(layout, unknown, "/picket/devices/gw-1/config") ==
          std::vector<AclEntry>{{kPermAll, "auth", ""}});
  }

  TEST_CASE("the identities document round-trips and refuses what is not a digest id") {
    auto ids = Fleet();
    FleetIdentities parsed;
    REQUIRE(ParseIdentitiesDocument(IdentitiesDocument(ids), &parsed).ok());
    CHECK(parsed.admin == ids.admin);
    CHECK(parsed.fleet == ids.fleet);
    for (const std::string& bad : std::vector<std::string>{"[]", "{\"admin\": 3}", "{\"other\": \"x\"}",
                            "{\"admin\": \"admin:short\"}", "{\"fleet\": \"" + ids.admin + "\"}",
                            std::string(5000, ' '), std::string(100, '[')}) {
      CAPTURE(bad);
      CHECK_FALSE(ParseIdentitiesDocument(bad, &parsed).ok());
    }
    Status st = ParseIdentitiesDocument("{\"admin\": \"admin:short\"}", &parsed);
    CHECK(st.message().find("admin:short") != std::string::npos);
  }

  TEST_CASE("a device identity document: its digest and group, nothing else") {
    const DeviceIdentity gw1{DigestId("gw-1", "pw1"), "lab"};
    auto parsed = ParseDeviceIdentityDocument(DeviceIdentityDocument(gw1), "gw-1");
    REQUIRE(parsed.ok());
    CHECK(parsed->digest == gw1.digest);
    CHECK(parsed->group == "lab");
    auto no_group = ParseDeviceIdentityDocument(DeviceIdentityDocument({gw1.digest, ""}), "gw-1");
    REQUIRE(no_group.ok());
    CHECK(no_group->group.empty());
    CHECK_FALSE(ParseDeviceIdentityDocument(DeviceIdentityDocument(gw1), "gw-2").ok());
    for (const std::string& bad : std::vector<std::string>{
             "", "[]", "{\"digest\": 1}", "{\"digest\": \"" + gw1.digest + "\", \"x\": \"\"}",
             "{\"digest\": \"" + gw1.digest + "\", \"group\": \"../x\"}", std::string(200, '{')}) {
      CAPTURE(bad);
      CHECK_FALSE(ParseDeviceIdentityDocument(bad, "gw-1").ok());
    }
    auto named = ParseDeviceIdentityDocument("{\"digest\": \"" + gw1.digest + "\", \"group\": \"a b\"}", "gw-1");
    REQUIRE_FALSE(named.ok());
    CHECK(named.status().message().find("a b") != std::string::npos);
  }

  TEST_CASE("device digest ids must name the device") {
    CHECK(CheckDigestId(DigestId("gw-1", "pw1"), "gw-1").ok());
    CHECK_FALSE(CheckDigestId(DigestId("gw-2", "pw1"), "gw-1").ok());
    CHECK_FALSE(CheckDigestId("gw-1:", "gw-1").ok());
    CHECK_FALSE(CheckDigestId("gw-1:DlSmgv+M8Yvs0kxh/aWEe6iuNEQ!", "gw-1").ok());
  }
}

}  // namespace picket::zk
