#include "picket/zk/fleet_acl.h"

#include <algorithm>
#include <tuple>
#include <vector>

#include "picket/common/log.h"

namespace picket::zk {

namespace {

Result<std::optional<NodeData>> ReadOptional(ZkSession& session, const std::string& path) {
  auto node = session.Get(path);
  if (node.ok()) return std::optional<NodeData>(std::move(node).value());
  if (node.status().code() == StatusCode::kNotFound) return std::optional<NodeData>();
  return node.status();
}

}  // namespace

bool SameAcl(std::vector<AclEntry> a, std::vector<AclEntry> b) {
  auto key = [](const AclEntry& x, const AclEntry& y) {
    return std::tie(x.scheme, x.id, x.perms) < std::tie(y.scheme, y.id, y.perms);
  };
  std::sort(a.begin(), a.end(), key);
  std::sort(b.begin(), b.end(), key);
  return a == b;
}

Result<FleetIdentities> PrepareAdminAcls(ZkSession& session, const ZnodeLayout& layout,
                                         const std::string& admin_user,
                                         const std::string& admin_password) {
  FleetIdentities ids;
  ids.admin = DigestId(admin_user, admin_password);
  session.SetAclProvider([layout, ids](const std::string& path) { return AclFor(layout, ids, path); });
  PICKET_RETURN_IF_ERROR(session.EnsurePath(layout.DeviceIdentities()));
  const std::string path = layout.Identities();
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto node = session.Get(path);
    if (!node.ok()) return node.status();
    FleetIdentities stored;
    if (!node->data.empty()) {
      Status st = ParseIdentitiesDocument(node->data, &stored);
      if (!st.ok()) return st.WithContext(path);
    }
    if (!stored.admin.empty() && stored.admin != ids.admin) {
      return Status::PermissionDenied(
          path + " names the admin '" + std::string(DigestUser(stored.admin)) +
          "', this tool authenticates as '" + admin_user +
          "': every admin tool (sync, collector, CLI) uses the fleet's admin credentials");
    }
    ids.fleet = stored.fleet;
    if (stored.admin.empty()) {
      Status st = session.Set(path, IdentitiesDocument(ids), node->version);
      if (st.code() == StatusCode::kConflict) continue;
      PICKET_RETURN_IF_ERROR(st);
    }
    break;
  }
  auto devices = session.GetChildren(layout.DeviceIdentities());
  if (!devices.ok()) return devices.status();
  if (devices->size() > kMaxDeviceIdentities) {
    return Status::ResourceExhausted(layout.DeviceIdentities() + ": " +
                                     std::to_string(devices->size()) + " identities, more than " +
                                     std::to_string(kMaxDeviceIdentities));
  }
  for (const std::string& id : *devices) {
    auto node = ReadOptional(session, layout.DeviceIdentity(id));
    if (!node.ok()) return node.status();
    if (!*node) continue;
    auto identity = ParseDeviceIdentityDocument((*node)->data, id);
    if (!identity.ok()) {
      PICKET_LOG(kWarn, "zk", "device identity ignored", {"path", layout.DeviceIdentity(id)},
                 {"error", identity.status()});
      continue;
    }
    ids.devices[id] = identity->digest;
    ids.groups[id] = identity->group;
  }
  session.SetAclProvider([layout, ids](const std::string& p) { return AclFor(layout, ids, p); });
  return ids;
}

Result<std::size_t> UpdateIdentityGroups(ZkSession& session, const ZnodeLayout& layout,
                                         const std::map<std::string, std::string>& groups) {
  auto devices = session.GetChildren(layout.DeviceIdentities());
  if (devices.status().code() == StatusCode::kNotFound) return std::size_t{0};
  if (!devices.ok()) return devices.status();
  std::size_t changed = 0;
  for (const std::string& id : *devices) {
    auto row = groups.find(id);
    if (row == groups.end()) continue;
    auto node = ReadOptional(session, layout.DeviceIdentity(id));
    if (!node.ok()) return node.status();
    if (!*node) continue;
    auto identity = ParseDeviceIdentityDocument((*node)->data, id);
    if (!identity.ok() || identity->group == row->second) continue;  // bad ones: logged on load
    identity->group = row->second;
    Status st = session.Set(layout.DeviceIdentity(id), DeviceIdentityDocument(*identity),
                            (*node)->version);
    if (st.code() == StatusCode::kConflict || st.code() == StatusCode::kNotFound) continue;
    PICKET_RETURN_IF_ERROR(st);
    ++changed;
  }
  return changed;
}

Result<SecureReport> SecureTree(ZkSession& session, const ZnodeLayout& layout,
                                const FleetIdentities& ids) {
  SecureReport report;
  std::vector<std::string> todo{layout.root()};
  while (!todo.empty()) {
    std::string path = std::move(todo.back());
    todo.pop_back();
    if (++report.nodes > kMaxSecuredNodes) {
      return Status::ResourceExhausted("secure " + layout.root() + ": more than " +
                                       std::to_string(kMaxSecuredNodes) + " nodes");
    }
    auto acl = session.GetAcl(path);
    if (acl.status().code() == StatusCode::kNotFound) {
      ++report.vanished;
      continue;
    }
    if (!acl.ok()) return acl.status();
    const auto want = AclFor(layout, ids, path);
    if (!SameAcl(*acl, want)) {
      Status st = session.SetAcl(path, want);
      if (st.code() == StatusCode::kNotFound) {
        ++report.vanished;
        continue;
      }
      PICKET_RETURN_IF_ERROR(st);
      ++report.changed;
    }
    auto children = session.GetChildren(path);
    if (children.status().code() == StatusCode::kNotFound) continue;
    if (!children.ok()) return children.status();
    for (const std::string& child : *children) todo.push_back(ZnodeLayout::Child(path, child));
  }
  return report;
}

Result<FleetIdentities> DeviceAcls(ZkSession& session, const ZnodeLayout& layout,
                                   const std::string& device_id, const std::string& group,
                                   const std::string& user, const std::string& password) {
  auto node = session.Get(layout.Identities());
  if (!node.ok()) return node.status();
  FleetIdentities ids;
  Status st = ParseIdentitiesDocument(node->data, &ids);
  if (!st.ok()) return st.WithContext(layout.Identities());
  if (ids.admin.empty()) {
    return Status::NotFound(layout.Identities() + " names no admin yet (picket sync or "
                            "`picket zk secure` writes it)");
  }
  if (!user.empty()) ids.devices[device_id] = DigestId(user, password);
  ids.groups[device_id] = group;
  return ids;
}

}  // namespace picket::zk
