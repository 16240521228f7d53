#include "picket/capture/pcap_source.h"

#include <linux/filter.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <exception>
#include <optional>

#include "picket/common/c_handle.h"
#include "picket/common/log.h"

namespace picket::capture {

namespace {

using PcapHandle = CHandle<pcap_t, pcap_close>;

// Packets stamped up to `until` may have reached the ring before the
// capture's first kernel filter was attached: they are judged again by it.
struct StartupRefilter {
  StartupRefilter() = default;
  StartupRefilter(const StartupRefilter&) = delete;
  StartupRefilter& operator=(const StartupRefilter&) = delete;
  ~StartupRefilter() { pcap_freecode(&program); }
  bpf_program program{};
  timeval until{};
  std::uint64_t rejected = 0;
};

struct DispatchContext {
  const PacketHandler* handler;
  pcap_t* pcap;
  std::exception_ptr error;
  StartupRefilter* startup = nullptr;
  int skipped = 0;
};

// libpcap is C: nothing may unwind through it. An exception is parked, the
// batch stopped, and the exception rethrown once pcap_dispatch has returned.
void OnPcapPacket(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
  auto* ctx = reinterpret_cast<DispatchContext*>(user);
  if (ctx->error) return;
  if (StartupRefilter* r = ctx->startup; r != nullptr && !timercmp(&header->ts, &r->until, >) &&
                                         pcap_offline_filter(&r->program, header, bytes) == 0) {
    ++r->rejected;
    ++ctx->skipped;
    return;
  }
  Packet packet;
  packet.ts = header->ts;
  packet.caplen = header->caplen;
  packet.len = header->len;
  packet.data = bytes;
  try {
    (*ctx->handler)(packet);
  } catch (...) {
    ctx->error = std::current_exception();
    pcap_breakloop(ctx->pcap);
  }
}

// pcap_dispatch's count, or PCAP_ERROR with the text in pcap_geterr.
// `skipped`: how many of those the startup refilter kept from the handler.
int DispatchOnce(pcap_t* pcap, int max_packets, const PacketHandler& handler,
                 StartupRefilter* startup = nullptr, int* skipped = nullptr) {
  DispatchContext ctx{&handler, pcap, nullptr, startup};
  int n = pcap_dispatch(pcap, max_packets, &OnPcapPacket, reinterpret_cast<u_char*>(&ctx));
  if (ctx.error) std::rethrow_exception(ctx.error);
  if (n == PCAP_ERROR_BREAK) {
    // Only OnPcapPacket calls pcap_breakloop. libpcap may return before it sees
    // the flag and report it on the next call instead: that one is stale.
    ctx.skipped = 0;
    n = pcap_dispatch(pcap, max_packets, &OnPcapPacket, reinterpret_cast<u_char*>(&ctx));
    if (ctx.error) std::rethrow_exception(ctx.error);
    if (n == PCAP_ERROR_BREAK) n = 0;
  }
  if (skipped != nullptr) *skipped = n > 0 ? ctx.skipped : 0;
  return n;
}

// A program in the kernel's own filter slot, swapped in one setsockopt (the
// kernel replaces the socket's filter pointer under RCU): each packet is judged
// by exactly one program, the one attached when it arrives. pcap_setfilter is
// not used on a running capture because it first attaches a reject-all filter
// (whatever arrives meanwhile is lost, uncounted) and makes libpcap filter the
// ring's queued blocks again with the new program (dropping what matched only
// the old one). Only for handles that are not cooked: libpcap rewrites packet
// offsets for DLT_LINUX_SLL(2) before attaching.
Status AttachKernelFilter(int fd, const bpf_program& program, std::string_view shown_expr,
                          const std::string& context) {
  static_assert(sizeof(bpf_insn) == sizeof(sock_filter), "same classic BPF layout");
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(program.bf_len);
  fprog.filter = reinterpret_cast<sock_filter*>(program.bf_insns);
  if (program.bf_len > 0xffff ||
      setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0) {
    const int err = program.bf_len > 0xffff ? E2BIG : errno;
    return FromErrno(
        context + ": kernel refused filter \"" + std::string(shown_expr) + "\" (SO_ATTACH_FILTER)",
        err);
  }
  return Status::Ok();
}

// The wall clock rounded up to the next microsecond, as packet stamps are.
timeval WallNowCeilUs() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  timeval tv{now.tv_sec, static_cast<suseconds_t>((now.tv_nsec + 999) / 1000)};
  if (tv.tv_usec >= 1'000'000) {
    ++tv.tv_sec;
    tv.tv_usec -= 1'000'000;
  }
  return tv;
}

Status InstallFilter(pcap_t* pcap, const std::string& compiled_expr, std::string_view shown_expr,
                     bpf_u_int32 netmask, const std::string& context) {
  bpf_program program{};
  if (pcap_compile(pcap, &program, compiled_expr.c_str(), 1, netmask) != 0) {
    return Status::InvalidArgument(context + ": bad BPF filter \"" + std::string(shown_expr) +
                                   "\": " + pcap_geterr(pcap));
  }
  const int rc = pcap_setfilter(pcap, &program);
  pcap_freecode(&program);
  if (rc != 0) return Status::IoError(context + ": pcap_setfilter: " + pcap_geterr(pcap));
  return Status::Ok();
}

// libpcap's counters are 32-bit and wrap; unsigned subtraction gives the step.
void Accumulate(std::uint64_t& total, unsigned& last, unsigned now) {
  total += static_cast<std::uint32_t>(now - last);
  last = now;
}

Status ActivationError(int rc, pcap_t* pcap, const std::string& context) {
  std::string text = pcap_geterr(pcap);
  if (text.empty()) text = pcap_statustostr(rc);
  std::string message = context + ": " + text;
  switch (rc) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
      return Status::NotFound(std::move(message));
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED:
      return Status::PermissionDenied(std::move(message));
    case PCAP_ERROR_IFACE_NOT_UP:
      return Status::Unavailable(std::move(message));
    default:
      return Status::IoError(std::move(message));
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// PcapLiveSource

LiveCaptureOptions LiveCaptureOptions::FromConfig(const CaptureSection& capture,
                                                  std::vector<ExcludedEndpoint> excluded) {
  LiveCaptureOptions o;
  o.interface = capture.interface;
  o.snaplen = capture.snaplen;
  o.buffer_mib = capture.buffer_mib;
  o.timeout_ms = capture.timeout_ms;
  o.filter = capture.filter;
  o.excluded = std::move(excluded);
  return o;
}

struct PcapLiveSource::Impl {
  LiveCaptureOptions options;
  std::string context;  // "capture on eth0"
  PcapHandle pcap;
  int pcap_fd = -1;
  UniqueFd wake_fd;
  bpf_u_int32 netmask = PCAP_NETMASK_UNKNOWN;
  std::string installed_filter;
  // Not cooked: filters go straight into the kernel's slot (AttachKernelFilter).
  bool kernel_slot = false;
  bool installed_filter_set = false;
  std::optional<StartupRefilter> startup;
  int link_type = 0;
  int snaplen = 0;
  unsigned last_recv = 0, last_drop = 0, last_ifdrop = 0;
  CaptureStats totals;
};

PcapLiveSource::PcapLiveSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PcapLiveSource::~PcapLiveSource() = default;

Result<std::unique_ptr<PcapLiveSource>> PcapLiveSource::Open(const LiveCaptureOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->context = "capture on " + options.interface;
  const std::string& ctx = impl->context;
  if (options.timeout_ms <= 0) {
    // 0 would mean "block forever" to TPACKET_V3 on a quiet link.
    return Status::InvalidArgument(ctx + ": timeout_ms must be positive");
  }
  if (options.snaplen <= 0 || options.buffer_mib <= 0) {
    return Status::InvalidArgument(ctx + ": snaplen and buffer_mib must be positive");
  }

  char errbuf[PCAP_ERRBUF_SIZE] = "";
  impl->pcap.reset(pcap_create(options.interface.c_str(), errbuf));
  if (!impl->pcap) return Status::IoError(ctx + ": " + errbuf);
  pcap_t* p = impl->pcap.get();
  // These only fail on an activated handle, which this is not.
  if (pcap_set_snaplen(p, options.snaplen) != 0 ||
      pcap_set_promisc(p, options.promiscuous ? 1 : 0) != 0 ||
      pcap_set_timeout(p, options.timeout_ms) != 0 ||
      pcap_set_buffer_size(p, options.buffer_mib << 20) != 0 ||
      pcap_set_immediate_mode(p, 0) != 0) {
    return Status::Internal(ctx + ": setting capture options: " + pcap_geterr(p));
  }
  const int rc = pcap_activate(p);
  if (rc < 0) return ActivationError(rc, p, ctx);
  if (rc > 0) {
    PICKET_LOG(kWarn, "capture", "capture activated with a warning", {"iface", options.interface},
               {"warning", pcap_statustostr(rc)}, {"detail", pcap_geterr(p)});
  }
  if (pcap_setnonblock(p, 1, errbuf) != 0) {
    return Status::IoError(ctx + ": pcap_setnonblock: " + errbuf);
  }
  impl->pcap_fd = pcap_get_selectable_fd(p);
  if (impl->pcap_fd < 0) return Status::IoError(ctx + ": no selectable descriptor");
  impl->wake_fd = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!impl->wake_fd.valid()) return FromErrno(ctx + ": eventfd", errno);
  impl->link_type = pcap_datalink(p);
  impl->snaplen = pcap_snapshot(p);

  bpf_u_int32 net = 0, mask = 0;
  if (pcap_lookupnet(options.interface.c_str(), &net, &mask, errbuf) == 0) impl->netmask = mask;

  impl->kernel_slot = impl->link_type != DLT_LINUX_SLL && impl->link_type != DLT_LINUX_SLL2;

  std::unique_ptr<PcapLiveSource> source(new PcapLiveSource(std::move(impl)));
  PICKET_RETURN_IF_ERROR(source->SetFilter(options.filter));
  PICKET_LOG(kInfo, "capture", "capture opened", {"iface", options.interface},
             {"snaplen", source->impl_->snaplen}, {"buffer_mib", options.buffer_mib},
             {"timeout_ms", options.timeout_ms}, {"linktype", source->impl_->link_type},
             {"filter", source->impl_->installed_filter});
  return source;
}

Result<DispatchResult> PcapLiveSource::Dispatch(int max_packets, const PacketHandler& handler) {
  pcap_t* p = impl_->pcap.get();
  // Non-blocking read first: on a busy link there is always a retired block.
  StartupRefilter* startup = impl_->startup ? &*impl_->startup : nullptr;
  int skipped = 0;
  int n = DispatchOnce(p, max_packets, handler, startup, &skipped);
  if (n == 0) {
    pollfd fds[2] = {{impl_->pcap_fd, POLLIN, 0}, {impl_->wake_fd.get(), POLLIN, 0}};
    const int ready = poll(fds, 2, impl_->options.timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) return DispatchResult{};  // a signal: let the caller look at its flags
      return FromErrno(impl_->context + ": poll", errno);
    }
    if (fds[1].revents & POLLIN) {
      std::uint64_t count;
      while (read(impl_->wake_fd.get(), &count, sizeof count) > 0) {
      }
      return DispatchResult{};
    }
    if (ready == 0) return DispatchResult{};
    n = DispatchOnce(p, max_packets, handler, startup, &skipped);
  }
  if (n < 0) return Status::Unavailable(impl_->context + ": " + pcap_geterr(p));
  return DispatchResult{n - skipped, false};
}

Result<CaptureStats> PcapLiveSource::Stats() {
  pcap_stat ps{};
  if (pcap_stats(impl_->pcap.get(), &ps) != 0) {
    return Status::Unavailable(impl_->context + ": pcap_stats: " + pcap_geterr(impl_->pcap.get()));
  }
  Accumulate(impl_->totals.received, impl_->last_recv, ps.ps_recv);
  Accumulate(impl_->totals.kernel_drops, impl_->last_drop, ps.ps_drop);
  Accumulate(impl_->totals.interface_drops, impl_->last_ifdrop, ps.ps_ifdrop);
  return impl_->totals;
}

Status PcapLiveSource::SetFilter(std::string_view expr) {
  Result<std::string> composed = ComposeCaptureFilter(expr, impl_->options.excluded);
  if (!composed.ok()) return composed.status().WithContext(impl_->context);
  if (impl_->kernel_slot) {
    pcap_t* p = impl_->pcap.get();
    bpf_program program{};
    if (pcap_compile(p, &program, composed->c_str(), 1, impl_->netmask) != 0) {
      return Status::InvalidArgument(impl_->context + ": bad BPF filter \"" + std::string(expr) +
                                     "\": " + pcap_geterr(p));
    }
    Status attached = AttachKernelFilter(pcap_fileno(p), program, expr, impl_->context);
    if (!attached.ok() || impl_->installed_filter_set) {
      pcap_freecode(&program);
    } else {
      // The first filter: the ring took every packet since activation until
      // now, so what is stamped up to now is judged by it once more here.
      impl_->startup.emplace();
      impl_->startup->program = program;
      impl_->startup->until = WallNowCeilUs();
    }
    if (!attached.ok() && !impl_->installed_filter_set) {
      // Opening (e.g. a program over net.core.optmem_max): libpcap filters in
      // userland instead, and later changes are drained first.
      PICKET_LOG(kWarn, "capture", "kernel refused the filter; libpcap filters in userland",
                 {"iface", impl_->options.interface}, {"error", attached});
      impl_->kernel_slot = false;
    } else {
      PICKET_RETURN_IF_ERROR(attached);
    }
  }
  if (!impl_->kernel_slot) {
    PICKET_RETURN_IF_ERROR(
        InstallFilter(impl_->pcap.get(), *composed, expr, impl_->netmask, impl_->context));
  }
  impl_->installed_filter_set = true;
  impl_->installed_filter = std::move(*composed);
  impl_->options.filter = std::string(expr);
  return Status::Ok();
}

bool PcapLiveSource::FilterSwitchIsExact() const { return impl_->kernel_slot; }

std::uint64_t PcapLiveSource::StartupRefiltered() const {
  return impl_->startup ? impl_->startup->rejected : 0;
}

void PcapLiveSource::Interrupt() noexcept {
  const int saved_errno = errno;  // may run in a signal handler
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t ignored = write(impl_->wake_fd.get(), &one, sizeof one);
  errno = saved_errno;
}

int PcapLiveSource::LinkType() const { return impl_->link_type; }
int PcapLiveSource::Snaplen() const { return impl_->snaplen; }
const std::string& PcapLiveSource::Name() const { return impl_->options.interface; }
int PcapLiveSource::SelectableFd() const { return impl_->pcap_fd; }
const std::string& PcapLiveSource::InstalledFilter() const { return impl_->installed_filter; }

// ---------------------------------------------------------------------------
// PcapFileSource

struct PcapFileSource::Impl {
  std::string path;
  PcapHandle pcap;
};

PcapFileSource::PcapFileSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PcapFileSource::~PcapFileSource() = default;

Result<std::unique_ptr<PcapFileSource>> PcapFileSource::Open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  // Nanosecond files are read as microseconds: chunks are always classic µs pcap.
  impl->pcap.reset(
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf));
  if (!impl->pcap) return Status::IoError("read pcap " + path + ": " + errbuf);
  return std::unique_ptr<PcapFileSource>(new PcapFileSource(std::move(impl)));
}

Result<DispatchResult> PcapFileSource::Dispatch(int max_packets, const PacketHandler& handler) {
  const int n = DispatchOnce(impl_->pcap.get(), max_packets, handler);
  if (n < 0) {
    return Status::Corruption("read pcap " + impl_->path + ": " + pcap_geterr(impl_->pcap.get()));
  }
  // A savefile dispatch reads past filtered-out packets and returns 0 only at the end.
  return DispatchResult{n, n == 0};
}

Result<CaptureStats> PcapFileSource::Stats() { return CaptureStats{}; }

Status PcapFileSource::SetFilter(std::string_view expr) {
  return InstallFilter(impl_->pcap.get(), std::string(expr), expr, PCAP_NETMASK_UNKNOWN,
                       "read pcap " + impl_->path);
}

int PcapFileSource::LinkType() const { return pcap_datalink(impl_->pcap.get()); }
int PcapFileSource::Snaplen() const { return pcap_snapshot(impl_->pcap.get()); }
const std::string& PcapFileSource::Name() const { return impl_->path; }

}  // namespace picket::capture
