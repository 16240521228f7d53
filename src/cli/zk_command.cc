#include "cli/zk_command.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/operator_support.h"
#include "picket/common/command_line.h"
#include "picket/common/digest.h"
#include "picket/sync/sync_documents.h"
#include "picket/zk/fleet_acl.h"

namespace picket::cli {

namespace {

constexpr std::string_view kName = "zk";

Result<std::string> NewPassword() {
  std::array<std::uint8_t, 24> bytes{};
  if (getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    return FromErrno("getrandom", errno);
  }
  return HexEncode(bytes.data(), bytes.size());
}

// The password goes to stdout once, or to a private file.
Status HandOver(const std::string& what, const std::string& password,
                const std::optional<std::string>& out) {
  if (!out) {
    std::printf("%s password (shown once, ZooKeeper keeps only its digest):\n%s\n", what.c_str(),
                password.c_str());
    return Status::Ok();
  }
  int fd = ::open(out->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return FromErrno("--out " + *out, errno);
  const std::string line = password + "\n";
  bool ok = ::fchmod(fd, 0600) == 0 &&
            ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  int err = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok) return FromErrno("--out " + *out, err);
  std::printf("%s password written to %s (mode 0600)\n", what.c_str(), out->c_str());
  return Status::Ok();
}

// PrepareAdminAcls + SecureTree; prints the counts.
int Secure(ZkConnection& c, bool as_json) {
  const zk::ZnodeLayout layout(c.address.root);
  auto ids = zk::PrepareAdminAcls(*c.session, layout, c.address.auth.user, c.address.auth.password);
  if (!ids.ok()) return Fail(kName, ids.status().ToString(), 1);
  const auto started = std::chrono::steady_clock::now();
  auto report = zk::SecureTree(*c.session, layout, *ids);
  if (!report.ok()) return Fail(kName, report.status().ToString(), 1);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started).count();
  if (as_json) {
    nlohmann::json j = {{"root", c.address.root},      {"nodes", report->nodes},
                        {"changed", report->changed},  {"devices", ids->devices.size()},
                        {"fleet_identity", !ids->fleet.empty()}, {"ms", ms}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("secured %s: %llu nodes, %llu ACLs changed, %zu device identities, %lld ms%s\n",
                c.address.root.c_str(), static_cast<unsigned long long>(report->nodes),
                static_cast<unsigned long long>(report->changed), ids->devices.size(),
                static_cast<long long>(ms),
                ids->fleet.empty() ? ", no picket-fleet identity yet (`picket zk fleet init`)"
                                   : "");
  }
  return 0;
}

Status PutNode(zk::ZkSession& session, const std::string& path, const std::string& data) {
  Status st = session.Set(path, data);
  if (st.code() != StatusCode::kNotFound) return st;
  st = session.Create(path, data);
  if (st.code() == StatusCode::kAlreadyExists) return session.Set(path, data);
  return st;
}

int DeviceAdd(ZkConnection& c, const std::string& device, const std::optional<std::string>& group,
              const std::optional<std::string>& out) {
  if (!sync::IsValidNodeName(device)) {
    return Fail(kName, "device id '" + device.substr(0, 100) +
                           "': expected [A-Za-z0-9._-]{1,64}, as in the devices table",
                2);
  }
  if (group && !sync::IsValidNodeName(*group)) {
    return Fail(kName, "--group '" + group->substr(0, 100) + "': expected [A-Za-z0-9._-]{1,64}", 2);
  }
  const zk::ZnodeLayout layout(c.address.root);
  auto ids = zk::PrepareAdminAcls(*c.session, layout, c.address.auth.user, c.address.auth.password);
  if (!ids.ok()) return Fail(kName, ids.status().ToString(), 1);
  auto password = NewPassword();
  if (!password.ok()) return Fail(kName, password.status().ToString(), 1);
  zk::DeviceIdentity identity{zk::DigestId(device, *password), group.value_or("")};
  if (!group) {  // a new password keeps the group picket sync recorded
    auto current = c.session->Get(layout.DeviceIdentity(device));
    if (current.ok()) {
      auto parsed = zk::ParseDeviceIdentityDocument(current->data, device);
      if (parsed.ok()) identity.group = parsed->group;
    }
  }
  Status st = PutNode(*c.session, layout.DeviceIdentity(device), zk::DeviceIdentityDocument(identity));
  if (!st.ok()) return Fail(kName, st.ToString(), 1);
  st = HandOver("device " + device, *password, out);
  if (!st.ok()) return Fail(kName, st.ToString(), 1);
  return Secure(c, false);
}

int FleetInit(ZkConnection& c, const std::optional<std::string>& out) {
  const zk::ZnodeLayout layout(c.address.root);
  auto ids = zk::PrepareAdminAcls(*c.session, layout, c.address.auth.user, c.address.auth.password);
  if (!ids.ok()) return Fail(kName, ids.status().ToString(), 1);
  auto password = NewPassword();
  if (!password.ok()) return Fail(kName, password.status().ToString(), 1);
  ids->fleet = zk::DigestId(zk::kFleetUser, *password);
  Status st = c.session->Set(layout.Identities(), zk::IdentitiesDocument(*ids));
  if (!st.ok()) return Fail(kName, st.ToString(), 1);
  st = HandOver(std::string(zk::kFleetUser), *password, out);
  if (!st.ok()) return Fail(kName, st.ToString(), 1);
  return Secure(c, false);
}

}  // namespace

int RunZkCommand(std::span<char* const> args) {
  const std::vector<std::string_view> value_flags = {"zk", "zk-root", "zk-user",
                                                     "zk-password-file", "out", "group"};
  SplitArgs split = SplitPositionals(args, value_flags);
  const auto& words = split.positionals;
  const std::string action = words.empty() ? "" : words[0];
  const bool secure = action == "secure" && words.size() == 1;
  const bool device_add = action == "device" && words.size() == 3 && words[1] == "add";
  const bool fleet_init = action == "fleet" && words.size() == 2 && words[1] == "init";
  if (!secure && !device_add && !fleet_init) {
    return Fail(kName, "expected `zk secure`, `zk device add DEVICE` or `zk fleet init` (see "
                       "picket zk --help)", 2);
  }
  std::vector<std::string_view> allowed = {"zk", "zk-root", "zk-user", "zk-password-file"};
  if (!secure) allowed.push_back("out");
  if (device_add) allowed.push_back("group");
  FlagParser flags(allowed, secure ? std::vector<std::string_view>{"json"}
                                   : std::vector<std::string_view>{});
  if (auto st = flags.Parse(split.flags); !st.ok()) return Fail(kName, st.message(), 2);
  int exit_code = 0;
  auto connection = OpenZkOrFail(kName, flags, &exit_code);
  if (!connection) return exit_code;
  if (secure) return Secure(*connection, flags.Has("json"));
  if (device_add) return DeviceAdd(*connection, words[2], flags.Value("group"), flags.Value("out"));
  return FleetInit(*connection, flags.Value("out"));
}

}  // namespace picket::cli
