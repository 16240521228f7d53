#include "picket/capture/syscall_filter.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "picket/common/log.h"

namespace picket::capture {

namespace {

// What capture (libpcap, TPACKET_V3), chunk files, SQLite, the SYN and connect
// scanners (raw sockets, netlink route lookups, Asio's epoll), threads and the
// C/C++ runtime call. Names of every architecture picket ships (x86_64,
// aarch64, armhf); a name the build's architecture lacks is skipped. Not
// here, so fatal: execve, ptrace, mount, setuid/setgid/capset, bpf, module
// and kexec calls, keyctl, unshare/setns, process_vm_*, chown by path, userfaultfd.
constexpr const char* kAllowed[] = {
    // files and descriptors
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "close", "close_range", "lseek", "_llseek", "stat", "fstat",
    "lstat", "newfstatat", "statx", "stat64", "fstat64", "lstat64", "fstatat64", "statfs",
    "fstatfs", "statfs64", "fstatfs64", "access", "faccessat", "faccessat2", "readlink",
    "readlinkat", "getdents", "getdents64", "mkdir", "mkdirat", "rename", "renameat", "renameat2",
    "unlink", "unlinkat", "rmdir", "link", "linkat", "fsync", "fdatasync", "sync_file_range",
    "ftruncate", "ftruncate64", "truncate", "truncate64", "fallocate", "fcntl", "fcntl64",
    "flock", "dup", "dup2", "dup3", "pipe", "pipe2", "fchmod", "umask", "getcwd", "fadvise64",
    // SQLite running as root hands a new journal to the database's owner; without
    // CAP_CHOWN (the worker has none) fchown can give nothing away.
    "fchown", "fchown32",
    "fadvise64_64", "arm_fadvise64_64", "utimensat", "memfd_create",
    // memory
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore",
    "membarrier",
    // time and waiting
    "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64", "gettimeofday",
    "time", "nanosleep", "clock_nanosleep", "clock_nanosleep_time64", "times", "poll", "ppoll",
    "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd",
    "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_settime64", "timerfd_gettime",
    "timerfd_gettime64", "getitimer", "setitimer", "alarm",
    // signals
    "rt_sigaction", "sigaction", "rt_sigprocmask", "sigprocmask", "rt_sigreturn", "sigreturn",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigpending", "rt_sigsuspend",
    "sigaltstack", "restart_syscall", "kill", "tgkill", "tkill", "pause",
    // threads and the process itself
    "futex", "futex_time64", "futex_waitv", "set_robust_list", "get_robust_list",
    "set_tid_address", "rseq", "exit", "exit_group", "sched_yield", "sched_getaffinity",
    "sched_getparam", "sched_getscheduler", "gettid", "getpid", "getppid", "getuid", "geteuid",
    "getgid", "getegid", "getuid32", "geteuid32", "getgid32", "getegid32", "getresuid",
    "getresgid", "getresuid32", "getresgid32", "getgroups", "getgroups32", "getpgrp", "getpgid",
    "getsid", "prctl", "arch_prctl", "getrlimit", "ugetrlimit", "prlimit64", "getrusage",
    "sysinfo", "uname", "getrandom", "wait4", "waitid", "getpriority", "capget", "setrlimit",
    "set_tls", "cacheflush", "get_mempolicy",
    // sockets: AF_PACKET capture, raw IPv4 SYNs, netlink routes, TCP connects
    "socket", "socketpair", "bind", "connect", "getsockname", "getpeername", "getsockopt",
    "setsockopt", "sendto", "send", "recvfrom", "recv", "sendmsg", "recvmsg", "sendmmsg",
    "recvmmsg", "recvmmsg_time64", "shutdown", "listen", "accept", "accept4",
};

// Namespaces would give the worker a fresh user namespace with every capability in it.
constexpr scmp_datum_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                         CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                         CLONE_NEWNET;

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

// What the kernel (or qemu-user, which emulates neither seccomp(2) nor
// PR_SET_SECCOMP) answers when it has no usable seccomp at all.
bool Unsupported(int rc) { return rc == -EINVAL || rc == -ENOSYS || rc == -EOPNOTSUPP; }

Status Refused(int rc) {
  return Status::Unavailable("seccomp: the kernel (or an emulator such as qemu-user) refuses "
                             "filters: " + std::string(std::strerror(-rc)));
}

Status SeccompError(const std::string& what, int rc) {
  return Status::Internal("seccomp: " + what + ": " + std::strerror(-rc));
}

Status AddRule(scmp_filter_ctx ctx, const char* name, std::uint32_t action = SCMP_ACT_ALLOW) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR || nr < 0) return Status::Ok();  // not a call of this architecture
  if (int rc = seccomp_rule_add(ctx, action, nr, 0); rc != 0) return SeccompError(name, rc);
  return Status::Ok();
}

}  // namespace

Status SetNoNewPrivileges() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return FromErrno("prctl(PR_SET_NO_NEW_PRIVS)", errno);
  }
  return Status::Ok();
}

Status InstallSyscallFilter() {
  PICKET_RETURN_IF_ERROR(SetNoNewPrivileges());
  std::unique_ptr<void, FilterDeleter> ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
  // libseccomp probes the kernel here: qemu-user (no seccomp(2)) already fails.
  if (!ctx) return Refused(-EOPNOTSUPP);
  // Every thread, also those started before (a logging or control thread).
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); rc != 0) {
    return Unsupported(rc) ? Refused(rc) : SeccompError("thread sync", rc);
  }
  for (const char* name : kAllowed) PICKET_RETURN_IF_ERROR(AddRule(ctx.get(), name));
#if defined(__SANITIZE_ADDRESS__)
  // LeakSanitizer stops the process's own threads with ptrace at exit (sanitizer builds only).
  PICKET_RETURN_IF_ERROR(AddRule(ctx.get(), "ptrace"));
#endif
  // clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes glibc
  // fall back to clone, whose flags the rule below can see.
  PICKET_RETURN_IF_ERROR(AddRule(ctx.get(), "clone3", SCMP_ACT_ERRNO(ENOSYS)));
  if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                SCMP_A0(SCMP_CMP_MASKED_EQ, kNamespaceFlags, 0));
      rc != 0) {
    return SeccompError("clone", rc);
  }
  // TIOCSTI pushes bytes into a terminal's input: a classic sandbox escape.
  if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                SCMP_A1(SCMP_CMP_NE, TIOCSTI));
      rc != 0) {
    return SeccompError("ioctl", rc);
  }
  if (int rc = seccomp_load(ctx.get()); rc != 0) {
    return Unsupported(rc) ? Refused(rc) : SeccompError("load", rc);
  }
  PICKET_LOG(kInfo, "capture", "seccomp allowlist installed", {"no_new_privs", 1});
  return Status::Ok();
}

bool SyscallFilterUnsupported(const Status& status) {
  return status.code() == StatusCode::kUnavailable;
}

Status ConfineSyscalls(bool enabled, std::string_view unsafe_setting) {
  if (!enabled) {
    PICKET_LOG(kWarn, "capture", "running WITHOUT the seccomp allowlist (unsafe, asked for by name)",
               {"setting", std::string(unsafe_setting)});
    return SetNoNewPrivileges();
  }
  Status st = InstallSyscallFilter();
  if (SyscallFilterUnsupported(st)) {
    return Status::FailedPrecondition(st.message() + "; refusing to run unfiltered (" +
                                      std::string(unsafe_setting) + " allows it, unsafely)");
  }
  return st;
}

}  // namespace picket::capture
