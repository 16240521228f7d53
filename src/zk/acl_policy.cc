#include "picket/zk/acl_policy.h"

#include <array>
#include <nlohmann/json.hpp>

#include "picket/common/digest.h"
#include "picket/common/json_limits.h"

namespace picket::zk {

namespace {

constexpr int kDeviceNode = kPermRead | kPermCreate | kPermDelete;
constexpr int kShared = kPermRead | kPermWrite | kPermCreate | kPermDelete;
constexpr std::size_t kMaxIdentitiesBytes = 4096;

std::vector<std::string_view> Components(std::string_view rel) {
  std::vector<std::string_view> parts;
  while (!rel.empty()) {
    if (rel.front() == '/') {
      rel.remove_prefix(1);
      continue;
    }
    std::size_t slash = rel.find('/');
    parts.push_back(rel.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rel.remove_prefix(slash);
  }
  return parts;
}

bool IsJobFolder(std::string_view name) {
  return name == "members" || name == "claims" || name == "progress" || name == "done";
}

}  // namespace

std::string DigestId(std::string_view user, std::string_view password) {
  std::string plain;
  plain.append(user).append(":").append(password);
  const auto sha1 = Sha1Of(plain);
  return std::string(user) + ":" + Base64Encode(sha1.data(), sha1.size());
}

std::string_view DigestUser(std::string_view digest_id) {
  std::size_t colon = digest_id.find(':');
  return colon == std::string_view::npos ? std::string_view() : digest_id.substr(0, colon);
}

std::vector<AclEntry> AclFor(const ZnodeLayout& layout, const FleetIdentities& ids,
                             std::string_view path) {
  if (ids.open) return {{kPermAll, "world", "anyone"}};
  if (ids.admin.empty()) return {{kPermAll, "auth", ""}};
  std::vector<AclEntry> acl{{kPermAll, "digest", ids.admin}};
  auto fleet = [&](int perms) {
    if (!ids.fleet.empty() && ids.fleet != ids.admin) acl.push_back({perms, "digest", ids.fleet});
  };
  auto device = [&](std::string_view id, int perms) {
    auto it = ids.devices.find(id);
    if (it != ids.devices.end() && it->second != ids.admin) {
      acl.push_back({perms, "digest", it->second});
    }
  };
  const std::string& root = layout.root();
  if (path.substr(0, root.size()) != root ||
      (path.size() > root.size() && path[root.size()] != '/')) {
    return acl;
  }
  const auto c = Components(path.substr(root.size()));
  if (c.empty()) {
    fleet(kPermRead);
  } else if (c[0] == "jobs") {
    if (c.size() == 1) fleet(kPermRead);
    else if (c.size() == 2) fleet(kPermRead | kPermCreate);
    else if (c.size() <= 4 && IsJobFolder(c[2])) fleet(kShared);
  } else if (c[0] == "collectors" || c[0] == "identities") {
    if (c.size() == 1 || (c[0] == "collectors" && c.size() == 2)) fleet(kPermRead);
  } else if (c[0] == "groups" && c.size() == 3 && c[2] == "config") {
    for (const auto& [id, group] : ids.groups) {
      if (group == c[1]) device(id, kPermRead);
    }
  } else if (c[0] == "devices" && c.size() == 2) {
    device(c[1], kDeviceNode);
  } else if (c[0] == "devices" && c.size() == 3 && c[2] == "config") {
    device(c[1], kPermRead);
  } else if (c[0] == "devices" && c.size() == 3 && c[2] == "status") {
    device(c[1], kShared);
  }
  return acl;
}

Status CheckDigestId(std::string_view digest_id, std::string_view expected_user) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("digest id '" + std::string(digest_id.substr(0, 200)) +
                                   "': " + std::string(why));
  };
  std::size_t colon = digest_id.find(':');
  if (colon == std::string_view::npos || colon == 0) return bad("expected USER:BASE64");
  if (!expected_user.empty() && digest_id.substr(0, colon) != expected_user) {
    return bad("expected user '" + std::string(expected_user) + "'");
  }
  std::string_view hash = digest_id.substr(colon + 1);
  if (hash.size() != 28 || hash.back() != '=') return bad("expected 28 base64 characters");
  for (char ch : hash) {
    bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/' || ch == '=';
    if (!ok) return bad("expected 28 base64 characters");
  }
  return Status::Ok();
}

std::string DeviceIdentityDocument(const DeviceIdentity& identity) {
  nlohmann::json doc = {{"digest", identity.digest}};
  if (!identity.group.empty()) doc["group"] = identity.group;
  return doc.dump();
}

Result<DeviceIdentity> ParseDeviceIdentityDocument(std::string_view text,
                                                   std::string_view device_id) {
  const std::string where = "identity of device " + std::string(device_id);
  if (text.size() > kMaxIdentitiesBytes) {
    return Status::InvalidArgument(where + ": " + std::to_string(text.size()) +
                                   " bytes, more than " + std::to_string(kMaxIdentitiesBytes));
  }
  const nlohmann::json doc = ParseJsonBounded(text);
  if (!doc.is_object()) return Status::InvalidArgument(where + ": not a JSON object");
  DeviceIdentity out;
  for (const auto& [key, value] : doc.items()) {
    if (key != "digest" && key != "group") {
      return Status::InvalidArgument(where + ": unknown key \"" + key + "\"");
    }
    if (!value.is_string() || value.get_ref<const std::string&>().size() > 256) {
      return Status::InvalidArgument(where + ": \"" + key + "\" is not a string of at most 256 bytes");
    }
    (key == "digest" ? out.digest : out.group) = value.get<std::string>();
  }
  Status st = CheckDigestId(out.digest, device_id);
  if (!st.ok()) return st.WithContext(where + ": \"digest\"");
  for (char ch : out.group) {
    bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-';
    if (!ok) return Status::InvalidArgument(where + ": \"group\" '" + out.group + "': not a group name");
  }
  return out;
}

std::string IdentitiesDocument(const FleetIdentities& ids) {
  nlohmann::json doc = nlohmann::json::object();
  if (!ids.admin.empty()) doc["admin"] = ids.admin;
  if (!ids.fleet.empty()) doc["fleet"] = ids.fleet;
  return doc.dump();
}

Status ParseIdentitiesDocument(std::string_view text, FleetIdentities* ids) {
  if (text.size() > kMaxIdentitiesBytes) {
    return Status::InvalidArgument("identities document: " + std::to_string(text.size()) +
                                   " bytes, more than " + std::to_string(kMaxIdentitiesBytes));
  }
  const nlohmann::json doc = ParseJsonBounded(text);
  if (!doc.is_object()) return Status::InvalidArgument("identities document: not a JSON object");
  FleetIdentities out;
  for (const auto& [key, value] : doc.items()) {
    if (key != "admin" && key != "fleet") {
      return Status::InvalidArgument("identities document: unknown key \"" + key + "\"");
    }
    if (!value.is_string()) {
      return Status::InvalidArgument("identities document: \"" + key + "\" is not a string");
    }
    const std::string& id = value.get_ref<const std::string&>();
    Status st = CheckDigestId(id, key == "fleet" ? kFleetUser : std::string_view());
    if (!st.ok()) return st.WithContext("identities document: \"" + key + "\"");
    (key == "admin" ? out.admin : out.fleet) = id;
  }
  ids->admin = std::move(out.admin);
  ids->fleet = std::move(out.fleet);
  return Status::Ok();
}

}  // namespace picket::zk
