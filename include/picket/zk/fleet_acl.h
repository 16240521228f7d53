// Applying zk/acl_policy.h to a live tree: what each side learns about the
// identities, and the walk that re-secures existing nodes.
//
// Admin side (sync, collector --zk, the CLI): PrepareAdminAcls publishes the
// admin's digest id in <root>/identities (refusing a tree that names another
// admin), reads the fleet id there, every device's digest id from
// identities/devices/<id> and its group from devices/<id>/config, and makes
// the session create nodes with AclFor. SecureTree then re-applies AclFor to
// every node under the root, including nodes created before credentials were
// turned on (world:anyone).
// Device side: DeviceAcls reads <root>/identities (readable by the fleet id)
// and builds the same policy for the nodes a device creates.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "picket/common/status.h"
#include "picket/zk/acl_policy.h"
#include "picket/zk/zk_session.h"
#include "picket/zk/znode_layout.h"

namespace picket::zk {

// The most nodes SecureTree visits and device identities it loads (bounds on
// what ZooKeeper hands back).
inline constexpr std::size_t kMaxSecuredNodes = 2'000'000;
inline constexpr std::size_t kMaxDeviceIdentities = 200'000;

// For an admin session authenticated as `admin_user`/`admin_password`.
Result<FleetIdentities> PrepareAdminAcls(ZkSession& session, const ZnodeLayout& layout,
                                         const std::string& admin_user,
                                         const std::string& admin_password);

struct SecureReport {
  std::uint64_t nodes = 0;    // visited
  std::uint64_t changed = 0;  // ACL replaced
  std::uint64_t vanished = 0; // deleted meanwhile (ephemerals)
};
Result<SecureReport> SecureTree(ZkSession& session, const ZnodeLayout& layout,
                                const FleetIdentities& ids);

// A device's policy: admin and fleet from <root>/identities, itself as
// `device_id` (digest of its own user/password) in `group`.
Result<FleetIdentities> DeviceAcls(ZkSession& session, const ZnodeLayout& layout,
                                   const std::string& device_id, const std::string& group,
                                   const std::string& user, const std::string& password);

// Admin side: each registered device identity's "group" set to `groups`'s
// entry for it (picket sync: the rows' group_name); identities without an
// entry keep theirs. Returns how many changed.
Result<std::size_t> UpdateIdentityGroups(ZkSession& session, const ZnodeLayout& layout,
                                         const std::map<std::string, std::string>& groups);

// Same entries in any order.
bool SameAcl(std::vector<AclEntry> a, std::vector<AclEntry> b);

}  // namespace picket::zk
