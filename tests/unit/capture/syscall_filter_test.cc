// The worker's seccomp allowlist, in forked children (the test binary itself
// is never filtered): what the worker does keeps working, anything else kills
// the child with SIGSYS. qemu-user refuses seccomp (EINVAL): the static ARM
// builds run these tests under it, so they skip there, and never under CI on
// a native build.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "fakes/capture/capture_test_support.h"
#include "picket/buffer/buffer_store.h"
#include "picket/capture/syscall_filter.h"

namespace picket::capture {

namespace {

constexpr int kUnsupported = 77;
constexpr int kBrokenStep = 3;

struct ChildEnd {
  bool exited = false;
  int code = -1;
  int signal = 0;
};

// Runs `body` in a child after the filter is installed; its exit code says
// which step failed (0: all passed).
ChildEnd RunFiltered(const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    Status st = InstallSyscallFilter();
    if (!st.ok()) {
      std::fprintf(stderr, "InstallSyscallFilter: %s\n", st.ToString().c_str());
      ::_exit(SyscallFilterUnsupported(st) ? kUnsupported : 2);
    }
    ::_exit(body());
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  ChildEnd end;
  end.exited = WIFEXITED(status);
  if (end.exited) end.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) end.signal = WTERMSIG(status);
  return end;
}

// qemu-user (the static ARM test runs) answers EINVAL; a native CI run must filter.
bool SkipUnsupported(const ChildEnd& end) {
  if (!end.exited || end.code != kUnsupported) return false;
#ifdef PICKET_UNDER_EMULATOR
  const bool must = false;
#else
  const char* ci = std::getenv("CI");
  const bool must = ci != nullptr && std::string(ci) == "true";
#endif
  if (must) FAIL("seccomp refused on a native CI run");
  MESSAGE("seccomp is not available here (qemu-user?): skipped");
  return true;
}

int WorkerLikeCalls(const std::string& dir) {
  int step = 10;
  // SQLite: the buffer the worker writes rows into.
  {
    auto store = buffer::OpenSqliteBuffer({dir, 1 << 20});
    if (!store.ok()) return step;
    if (!(*store)->NextChunkSeq().ok()) return step + 1;
  }
  step = 20;  // a chunk file: create, write, sync, rename, remove
  {
    const std::string tmp = dir + "/chunk.tmp", done = dir + "/chunk.pcap";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, "abc", 3) != 3 || ::fdatasync(fd) != 0 || ::close(fd) != 0)
      return step;
    if (::rename(tmp.c_str(), done.c_str()) != 0 || ::unlink(done.c_str()) != 0) return step + 1;
  }
  step = 30;  // threads (the scan, shard and control threads)
  {
    int seen = 0;
    std::thread t([&] { seen = 1; });
    t.join();
    if (seen != 1) return step;
  }
  step = 40;  // sockets: UDP, netlink (route lookups), raw (EPERM without CAP_NET_RAW is fine)
  {
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (udp < 0 || ::sendto(udp, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) != 1)
      return step;
    ::close(udp);
    const int nl = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (nl < 0) return step + 1;
    ::close(nl);
    const int raw = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (raw < 0 && errno != EPERM) return step + 2;
    if (raw >= 0) ::close(raw);
  }
  step = 50;  // Asio's and libpcap's machinery: epoll, eventfd, timerfd, a BPF compile
  {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    const int ev = ::eventfd(0, EFD_CLOEXEC);
    const int tf = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (ep < 0 || ev < 0 || tf < 0) return step;
    ::close(ep), ::close(ev), ::close(tf);
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    bpf_program prog{};
    if (!dead || pcap_compile(dead, &prog, "tcp port 80", 1, PCAP_NETMASK_UNKNOWN) != 0)
      return step + 1;
    pcap_freecode(&prog);
    pcap_close(dead);
  }
  return 0;
}

}  // namespace

TEST_CASE("the seccomp allowlist lets the worker's own calls through") {
  testing::TempDir dir;
  testing::QuietLogs quiet;
  const ChildEnd end = RunFiltered([&] { return WorkerLikeCalls(dir.path()); });
  if (SkipUnsupported(end)) return;
  CHECK(end.signal == 0);
  CHECK(end.exited);
  CHECK(end.code == 0);  // otherwise: the step number that failed
}

TEST_CASE("a forbidden system call kills the filtered process with SIGSYS") {
  struct Forbidden {
    const char* name;
    std::function<int()> call;
  };
  const Forbidden forbidden[] = {
      {"execve", [] {
         char* const argv[] = {const_cast<char*>("true"), nullptr};
         ::execv("/bin/true", argv);
         return kBrokenStep;
       }},
      {"setuid", [] { return ::setuid(0) == 0 ? kBrokenStep : kBrokenStep + 1; }},
      {"unshare a user namespace", [] { return ::unshare(CLONE_NEWUSER) == 0 ? kBrokenStep : 4; }},
      {"ioctl TIOCSTI", [] {
         char c = 'x';
         ::ioctl(0, TIOCSTI, &c);
         return kBrokenStep;
       }},
      {"chown", [] { return ::chown("/", 0, 0) == 0 ? kBrokenStep : kBrokenStep + 1; }},
#if !defined(__SANITIZE_ADDRESS__)
      {"ptrace", [] {
         ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
         return kBrokenStep;
       }},
#endif
  };
  for (const auto& f : forbidden) {
    CAPTURE(f.name);
    const ChildEnd end = RunFiltered(f.call);
    if (SkipUnsupported(end)) return;
    CHECK(end.signal == SIGSYS);
    CHECK_FALSE(end.exited);
  }
}

TEST_CASE("turning the filter off must be asked for by name and still sets NO_NEW_PRIVS") {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    Status st = ConfineSyscalls(false, "security.seccomp false");
    ::_exit(st.ok() && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

}  // namespace picket::capture
