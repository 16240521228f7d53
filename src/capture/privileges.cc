#include "picket/capture/privileges.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

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

}  // namespace

Status RetainOnlyCapNetRaw() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (CapGet(&header, data) != 0) return FromErrno("capget", errno);
  const __u32 permitted[2] = {data[0].permitted, data[1].permitted};
  const __u32 effective[2] = {data[0].effective, data[1].effective};
  if (!Has(permitted, CAP_NET_RAW)) {
    return Status::PermissionDenied("capture: CAP_NET_RAW is not permitted to this process");
  }

  // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
  if (Has(effective, CAP_SETPCAP)) {
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap) {
      if (cap == CAP_NET_RAW) continue;
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
        return FromErrno("drop capability " + std::to_string(cap) + " from the bounding set",
                         errno);
      }
    }
  } else {
    PICKET_LOG(kWarn, "capture", "no CAP_SETPCAP: the capability bounding set stays as it is");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return FromErrno("clear ambient capabilities", errno);
  }

  __user_cap_data_struct keep[_LINUX_CAPABILITY_U32S_3] = {};
  keep[CAP_TO_INDEX(CAP_NET_RAW)].permitted = CAP_TO_MASK(CAP_NET_RAW);
  keep[CAP_TO_INDEX(CAP_NET_RAW)].effective = CAP_TO_MASK(CAP_NET_RAW);
  if (CapSet(&header, keep) != 0) return FromErrno("capset", errno);
  PICKET_LOG(kInfo, "capture", "capabilities dropped", {"kept", "CAP_NET_RAW"});
  return Status::Ok();
}

}  // namespace picket::capture
