// Least privilege for the capture worker and `picketd scan`: once their capture
// handles and raw sockets are open they need nothing but CAP_NET_RAW (kept to
// reopen an interface that went away and for later scans). Started as root they
// become an unprivileged user (security.user); everything else —
// CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, ... — is dropped, so a parser bug in the
// worker cannot be turned into root.
#pragma once

#include <sys/types.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::capture {

struct RunAsUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;  // the user's primary group, its only group after the switch
};

// Looks `name` up in the passwd database. NotFound naming `setting` (the config
// key or flag that chose it) and the name when there is no such user.
Result<RunAsUser> LookUpUser(const std::string& name, std::string_view setting);

// Keeps only CAP_NET_RAW in the permitted and effective sets, clears the
// inheritable and ambient sets and, when CAP_SETPCAP allows it, removes every
// other capability from the bounding set (an exec cannot bring them back).
// The uid does not change. PermissionDenied when CAP_NET_RAW is not permitted
// in the first place. Affects the calling thread only: call it before starting
// other threads.
Status RetainOnlyCapNetRaw();

// Root (euid 0) becomes `user` (uid, gid, no other groups) and keeps only
// CAP_NET_RAW, as RetainOnlyCapNetRaw does. Not root (systemd User= with
// AmbientCapabilities=CAP_NET_RAW): there is nothing to switch, the
// capabilities are trimmed the same way. The kernel clears the parent-death
// signal on a uid change: callers that rely on it set it again. Call it before
// starting other threads.
Status SwitchToUser(const RunAsUser& user);

// For the root supervisor: the bounding and permitted sets become `bounding`
// (what a worker it starts as root can have; permitted too, because under
// NO_NEW_PRIVS an exec keeps only what the parent permits) and the effective
// set `effective` (a subset of it: what the supervisor itself uses).
// Capability numbers as in <linux/capability.h>. Calling thread only: call it
// before starting threads.
Status LimitCapabilities(std::initializer_list<int> effective,
                         std::initializer_list<int> bounding);

}  // namespace picket::capture
