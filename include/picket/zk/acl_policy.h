// Who may do what on each znode of the picket tree: the one place that
// decides a node's ACL, used when a node is created (every part's ZkSession)
// and when existing nodes are re-secured (`picket zk secure`, picket sync).
//
// Identities (ZooKeeper digest ids, "user:base64(sha1(user:password))"):
//   admin   picket sync, picket collector --zk and the operator CLI: every
//           permission on every node.
//   fleet   user "picket-fleet", added by every device besides its own
//           identity: reads job specs and the collector list, shares claims,
//           checkpoints, members and done markers.
//   device  user = the device id: reads its own config and its group's,
//           writes its own status node.
// Node by node (relative to the root; anything not listed: admin only):
//   (root), jobs, collectors, identities       fleet: read
//   collectors/<id>                            fleet: read
//   jobs/<job>                                 fleet: read, create (its folders)
//   jobs/<job>/{members,claims,progress,done}[/<x>]  fleet: read, write, create, delete
//   groups/<g>/config                          each device of group g: read
//   devices/<d>                                d: read, create, delete (its status)
//   devices/<d>/config                         d: read
//   devices/<d>/status                         d: read, write, create, delete
// An open fleet (allowed by name only) gives world:anyone every permission; a
// fleet whose admin id is unknown gives the creator's identities everything.
// Pure functions; any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/status.h"
#include "picket/zk/znode_layout.h"

namespace picket::zk {

// ZooKeeper's permission bits (ZOO_PERM_*).
enum AclPerm : int { kPermRead = 1, kPermWrite = 2, kPermCreate = 4, kPermDelete = 8,
                     kPermAdmin = 16, kPermAll = 31 };

struct AclEntry {
  int perms = 0;
  std::string scheme;  // "digest", "world", "auth"
  std::string id;      // "user:hash", "anyone", ""
  bool operator==(const AclEntry&) const = default;
};

inline constexpr std::string_view kFleetUser = "picket-fleet";

// "user:base64(sha1(user:password))": the id a digest session authenticates as.
std::string DigestId(std::string_view user, std::string_view password);
// The user part of a digest id ("" when there is no ':').
std::string_view DigestUser(std::string_view digest_id);

struct FleetIdentities {
  bool open = false;          // world:anyone everywhere (asked for by name)
  std::string admin;          // digest id; empty and not open: creator-only ACLs
  std::string fleet;          // digest id of kFleetUser; empty: no device shares jobs
  std::map<std::string, std::string, std::less<>> devices;  // device id -> digest id
  std::map<std::string, std::string, std::less<>> groups;   // device id -> group
  bool operator==(const FleetIdentities&) const = default;
};

// The ACL a node at `path` must have; paths outside the root: admin only.
std::vector<AclEntry> AclFor(const ZnodeLayout& layout, const FleetIdentities& ids,
                             std::string_view path);

// <root>/identities: {"admin": "<digest id>", "fleet": "<digest id>"}. Parse
// refuses anything else (bounded, both strings digest ids or absent), naming
// the field and the value.
std::string IdentitiesDocument(const FleetIdentities& ids);
Status ParseIdentitiesDocument(std::string_view text, FleetIdentities* ids);
// A digest id: "<user>:<28 base64 chars>" (expected_user "" takes any user).
Status CheckDigestId(std::string_view digest_id, std::string_view expected_user);

// identities/devices/<id>: {"digest": "<id>:<hash>", "group": "<group>"}. The
// group is the devices row's group_name (picket sync keeps it current), the one
// group config the device may read. Parse bounds the text, refuses unknown
// keys and a digest of another user, naming the field and the value.
struct DeviceIdentity {
  std::string digest;
  std::string group;  // "" until known
};
std::string DeviceIdentityDocument(const DeviceIdentity& identity);
Result<DeviceIdentity> ParseDeviceIdentityDocument(std::string_view text,
                                                   std::string_view device_id);

}  // namespace picket::zk
