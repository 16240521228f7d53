// The worker's last line of defence: a seccomp allowlist of the system calls
// that capture, chunk files, SQLite, the scanners and the C/C++ runtime make.
// Anything else (execve, ptrace, mount, setuid, bpf, namespaces, ...) kills
// the whole process with SIGSYS, which the supervisor reports as a seccomp kill.
#pragma once

#include <string_view>

#include "picket/common/status.h"

namespace picket::capture {

// Sets PR_SET_NO_NEW_PRIVS (an exec can never gain privileges).
Status SetNoNewPrivileges();

// Sets NO_NEW_PRIVS and installs the allowlist on every thread of the process
// (SCMP_ACT_KILL_PROCESS for anything not on it). Unavailable when the kernel or
// an emulator (qemu-user answers EINVAL) refuses seccomp: callers fail closed
// unless the operator turned the filter off by name (security.seccomp false).
Status InstallSyscallFilter();

// True for the status InstallSyscallFilter returns when seccomp itself is
// missing (as opposed to a bad filter).
bool SyscallFilterUnsupported(const Status& status);

// The rule the worker and `picketd scan` share: with `enabled` the allowlist is
// installed or the caller must refuse to run (fail closed; the error names
// `unsafe_setting`, the only way to run unfiltered); without it only
// NO_NEW_PRIVS is set and a warning is logged.
Status ConfineSyscalls(bool enabled, std::string_view unsafe_setting);

}  // namespace picket::capture
