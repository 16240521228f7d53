#include "picket/capture/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "picket/common/log.h"

namespace picket::capture {

namespace {

// Raw syscalls: libcap is one more static dependency for four calls.
int CapGet(__user_cap_header_struct* header, __user_cap_data_struct* data) {
  return static_cast<int>(syscall(SYS_capget, header, data));
}
int CapSet(__user_cap_header_struct* header, const __user_cap_data_struct* data) {
  return static_cast<int>(syscall(SYS_capset, header, data));
}

bool Has(const __u32 (&set)[2], int cap) {
  return (set[CAP_TO_INDEX(cap)] & CAP_TO_MASK(cap)) != 0;
}

struct CapSets {
  __u32 permitted[2];
  __u32 effective[2];
};

Result<CapSets> ReadCaps() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (CapGet(&header, data) != 0) return FromErrno("capget", errno);
  return CapSets{{data[0].permitted, data[1].permitted}, {data[0].effective, data[1].effective}};
}

// The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
Status TrimBoundingSet(const CapSets& caps) {
  if (!Has(caps.effective, CAP_SETPCAP)) {
    PICKET_LOG(kDebug, "capture", "no CAP_SETPCAP: the capability bounding set stays as it is");
    return Status::Ok();
  }
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap) {
    if (cap == CAP_NET_RAW) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      return FromErrno("drop capability " + std::to_string(cap) + " from the bounding set", errno);
    }
  }
  return Status::Ok();
}

Status KeepOnlyNetRaw() {
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return FromErrno("clear ambient capabilities", errno);
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct keep[_LINUX_CAPABILITY_U32S_3] = {};
  keep[CAP_TO_INDEX(CAP_NET_RAW)].permitted = CAP_TO_MASK(CAP_NET_RAW);
  keep[CAP_TO_INDEX(CAP_NET_RAW)].effective = CAP_TO_MASK(CAP_NET_RAW);
  if (CapSet(&header, keep) != 0) return FromErrno("capset", errno);
  return Status::Ok();
}

}  // namespace

Result<RunAsUser> LookUpUser(const std::string& name, std::string_view setting) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  const int rc = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0) {
    return Status::Unavailable(std::string(setting) + " '" + name +
                               "': cannot read the user database: " + std::strerror(rc));
  }
  if (found == nullptr) {
    return Status::NotFound(std::string(setting) + " '" + name +
                            "': no such user (create it, e.g. useradd --system " + name +
                            ", or name another)");
  }
  return RunAsUser{name, entry.pw_uid, entry.pw_gid};
}

Status RetainOnlyCapNetRaw() {
  auto caps = ReadCaps();
  if (!caps.ok()) return caps.status();
  if (!Has(caps->permitted, CAP_NET_RAW)) {
    return Status::PermissionDenied("capture: CAP_NET_RAW is not permitted to this process");
  }
  PICKET_RETURN_IF_ERROR(TrimBoundingSet(*caps));
  PICKET_RETURN_IF_ERROR(KeepOnlyNetRaw());
  PICKET_LOG(kInfo, "capture", "capabilities dropped", {"kept", "CAP_NET_RAW"});
  return Status::Ok();
}

Status SwitchToUser(const RunAsUser& user) {
  if (::geteuid() != 0 || user.uid == 0) {
    if (user.uid == 0) {
      PICKET_LOG(kWarn, "capture", "running as root: the user to switch to is root",
                 {"user", user.name});
    }
    Status st = RetainOnlyCapNetRaw();
    // Not root and no CAP_NET_RAW: connect scans still work, captures fail on their own.
    if (!st.ok() && ::geteuid() == 0) return st;
    return Status::Ok();
  }
  auto caps = ReadCaps();
  if (!caps.ok()) return caps.status();
  PICKET_RETURN_IF_ERROR(TrimBoundingSet(*caps));
  // Without KEEPCAPS the uid change would clear every capability, CAP_NET_RAW too.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return FromErrno("prctl(PR_SET_KEEPCAPS)", errno);
  // glibc applies these to every thread of the process.
  if (::setgroups(1, &user.gid) != 0) return FromErrno("setgroups", errno);
  if (::setresgid(user.gid, user.gid, user.gid) != 0) return FromErrno("setresgid", errno);
  if (::setresuid(user.uid, user.uid, user.uid) != 0) {
    return FromErrno("setresuid to " + user.name, errno);
  }
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return FromErrno("prctl(PR_SET_KEEPCAPS)", errno);
  PICKET_RETURN_IF_ERROR(KeepOnlyNetRaw());
  uid_t r = 0, e = 0, s = 0;
  if (::getresuid(&r, &e, &s) != 0 || r != user.uid || e != user.uid || s != user.uid ||
      ::setuid(0) == 0) {
    return Status::Internal("the switch to user " + user.name + " did not hold");
  }
  PICKET_LOG(kInfo, "capture", "privileges dropped", {"user", user.name},
             {"uid", static_cast<std::int64_t>(user.uid)}, {"kept", "CAP_NET_RAW"});
  return Status::Ok();
}

Status LimitCapabilities(std::initializer_list<int> effective,
                         std::initializer_list<int> bounding) {
  auto in = [](std::initializer_list<int> set, int cap) {
    for (int c : set) {
      if (c == cap) return true;
    }
    return false;
  };
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap) {
    if (in(bounding, cap) || prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 0) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      return FromErrno("drop capability " + std::to_string(cap) + " from the bounding set", errno);
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return FromErrno("clear ambient capabilities", errno);
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  for (int cap : bounding) data[CAP_TO_INDEX(cap)].permitted |= CAP_TO_MASK(cap);
  for (int cap : effective) data[CAP_TO_INDEX(cap)].effective |= CAP_TO_MASK(cap);
  if (CapSet(&header, data) != 0) return FromErrno("capset", errno);
  return Status::Ok();
}

}  // namespace picket::capture
