// SYN mode: stateless raw-packet scanning (masscan/zmap style).
//
// Send path: one AF_INET raw socket (IPPROTO_RAW, so IP_HDRINCL) and sendmmsg
// batches of complete IPv4+TCP SYNs we build and checksum ourselves. Chosen over
// AF_PACKET because the kernel then routes and resolves neighbours per packet:
// no router MAC, no per-interface L2 header, and loopback works as-is —
// AF_PACKET frames injected on lo carry no route and are dropped as martians
// unless route_localnet/accept_local are relaxed (research note §4.1). The cost
// is ~0.5 Mpps/core instead of ~0.9 (note §5.2), far above what lo or an edge
// uplink absorbs (~180 kpps kernel-bound on lo). --send-path packet writes
// frames to the gateway's MAC into a PACKET_TX_RING instead (tx_ring.h): one
// send() per batch, ~1.3-1.5 Mpps per core into a veth (send_path_bench).
//
// Receive path: libpcap on every outgoing interface the routes name, with a
// kernel BPF that passes only TCP to our source-port range with SYN+ACK or RST,
// snaplen 128, non-immediate mode (TPACKET_V3, so no 32-frame ring — note §1.4)
// with a 32 MiB buffer. Replies are validated statelessly with the SYN cookie
// and open ports are deduplicated in a set, so each is reported once.
//
// Kernel RSTs: when our SYN-ACK arrives the local stack has no socket for it and
// answers RST. That does not matter here: the capture already saw the SYN-ACK
// (libpcap taps before the stack), and the RST only tears down the target's
// half-open connection, which is what a SYN scan wants anyway. Our source ports
// (61440-65535) sit above ip_local_port_range so they never hit a real socket;
// banner grabs (--banners) use ordinary connect() afterwards, so no firewall
// rule is needed.
//
// Retries: attempt a of local index j goes out at stream step j + a·D, with D =
// rate/4 probes (~250 ms). Exactly retries+1 SYNs per probe.
//
// The end: after the last probe the scan listens until every probe has been
// answered (SYN-ACK or RST; answers are counted in a set of (ip, port) when the
// shard has at most kMaxTrackedAnswers probes) or until srtt + 4·rttvar of the
// measured reply times has passed, at least kReplyTimeoutFloor and at most
// --wait (reply_timing.h). Checkpoints still wait the full --wait: they must
// hold on any network, not only the one measured so far.
//
// Threads: Run's thread coordinates (callbacks, progress, wait); one sender and
// one receiver thread. RequestStop stores an atomic flag and nothing else.
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_set>

#include "picket/common/c_handle.h"
#include "picket/common/clock.h"
#include "picket/common/log.h"
#include "scan/checkpoint.h"
#include "scan/packet.h"
#include "scan/packet_sender.h"
#include "scan/reply_timing.h"
#include "scan/scanner_internal.h"
#include "scan/syn_cookie.h"
#include "scan/token_bucket.h"
#include "scan/tx_ring.h"

namespace picket::scan {
namespace {

using PcapHandle = CHandle<pcap_t, pcap_close>;
using std::chrono::duration;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

constexpr std::size_t kBatch = 64;
// The packet path's TX ring: frames in flight at full rate, and how long a full
// ring may stall one probe.
constexpr std::size_t kTxRingFrames = 4096;
constexpr int kRingStallMs = 1000;
constexpr std::chrono::microseconds kRingBackoff{20};
constexpr int kSnaplen = 128;
constexpr int kCaptureBufferBytes = 32 << 20;
// The ring's block timeout: how long a reply can wait in a block that is not full. Short, as
// the last replies of a scan always wait it out; 100 wake-ups a second cost nothing.
constexpr int kCaptureTimeoutMs = 10;
// The receiver's poll timeout: how late it sees the stop flag (the scan's end waits for it).
constexpr int kReceivePollMs = 10;
// A reply can sit up to the capture's block timeout in the ring before we see it, so the
// measured times include it; the floor adds it once more on top of 10 ms for the last reply.
constexpr milliseconds kReplyTimeoutFloor{10 + kCaptureTimeoutMs};
// Answers are counted (for the early end) for shards of up to this many probes: each answer
// is ~40 B in a hash set, so at most ~10 MiB on a 256 MiB box; larger shards end on the timeout.
constexpr std::uint64_t kMaxTrackedAnswers = std::uint64_t{1} << 18;

struct Capture {
  PcapHandle pcap;
  std::string interface;
  int dlt = 0;
  int fd = -1;
};

SipKey RandomKey() {
  std::random_device rd;
  SipKey k;
  k.k0 = (std::uint64_t{rd()} << 32) | rd();
  k.k1 = (std::uint64_t{rd()} << 32) | rd();
  return k;
}

void WarnIfPortRangeOverlaps() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned lo = 0, hi = 0;
  if (in >> lo >> hi && hi >= kSourcePortBase) {
    PICKET_LOG(kWarn, "scan",
               "ip_local_port_range overlaps the scanner's source ports; kernel connections "
               "may receive stray SYN-ACKs",
               {"local_range", std::to_string(lo) + "-" + std::to_string(hi)},
               {"scan_range", std::to_string(kSourcePortBase) + "-65535"});
  }
}

class SynScanner final : public Scanner {
 public:
  explicit SynScanner(PreparedScan scan)
      : scan_(std::move(scan)),
        perm_(scan_.space.size(), scan_.spec.seed),
        cookie_(RandomKey()),
        window_(scan_.spec.start_index, nanoseconds(scan_.spec.wait)),
        timer_(kReplyTimeoutFloor, nanoseconds(scan_.spec.wait)),
        track_answers_(scan_.shard.size() - scan_.spec.start_index <= kMaxTrackedAnswers) {}

  Status Run(const std::function<void(const ScanResult&)>& on_result,
             const std::function<void(const ScanProgress&)>& on_progress) override;
  void RequestStop() noexcept override { stop_.store(true, std::memory_order_relaxed); }
  ScanSummary Summary() const override {
    std::lock_guard<std::mutex> lock(summary_mu_);
    return summary_;
  }

 private:
  Status OpenSocket();
  Status OpenCaptures();
  Status OpenPacketPath();
  void SendLoop();
  void ReceiveLoop();
  // time_first: locals[0] is a first attempt whose reply time is measured.
  // routed: through the raw socket even on the packet path.
  void SendBatch(const std::uint64_t* locals, std::size_t n, bool time_first, bool routed = false);
  void SendFramed(const std::uint64_t* locals, std::size_t n, bool time_first);
  SynProbe ProbeFor(std::uint64_t local) const;
  void NoteFirstSend(const SynProbe& syn);
  Status FlushRing(bool* busy = nullptr);
  std::uint8_t* WaitForRingRoom();
  void DrainRing();
  void CountSendError(std::string_view why);
  static void OnPacket(u_char* user, const pcap_pkthdr* h, const u_char* bytes);
  void HandleFrame(int dlt, const pcap_pkthdr* h, const u_char* bytes);
  ScanProgress MakeProgress(MonoTime now, bool finished);
  std::uint64_t Emissions() const {
    return (scan_.shard.size() - scan_.spec.start_index) *
           static_cast<std::uint64_t>(scan_.spec.retries + 1);
  }

  PreparedScan scan_;
  Permutation perm_;
  SynCookie cookie_;
  UniqueFd raw_;
  std::optional<TxRing> tx_ring_;  // --send-path packet: frames with ethernet_ before each probe
  Status ring_error_;              // the last failed flush, until one succeeds (sender thread)
  std::array<std::uint8_t, kEthernetHeaderSize> ethernet_{};
  std::vector<Capture> captures_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> rx_stop_{false};
  std::atomic<bool> sender_done_{false};
  ScanCounters counters_;

  std::mutex window_mu_;
  SentWindow window_;
  std::atomic<std::uint64_t> first_sent_end_{0};  // local: first attempts sent below this

  std::mutex send_time_mu_;
  MonoTime first_send_{}, last_send_{};
  std::uint64_t first_batch_ = 0;

  std::mutex results_mu_;
  std::vector<ScanResult> pending_results_;
  std::unordered_set<std::uint64_t> open_seen_;  // receiver thread only

  std::mutex timer_mu_;
  ReplyTimer timer_;
  const bool track_answers_;
  std::unordered_set<std::uint64_t> answered_;  // receiver thread only, if track_answers_
  std::atomic<std::uint64_t> answered_count_{0};

  MonoTime started_{};
  MonoTime last_progress_time_{};
  std::uint64_t last_progress_sent_ = 0;

  mutable std::mutex summary_mu_;
  ScanSummary summary_;
};

Status SynScanner::OpenSocket() {
  raw_ = UniqueFd(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  if (!raw_.valid()) {
    const int e = errno;
    if (e == EPERM || e == EACCES) {
      return Status::PermissionDenied(
          "SYN mode needs root or CAP_NET_RAW to open a raw socket (use connect mode otherwise)");
    }
    return FromErrno("raw IPv4 socket", e);
  }
  int sndbuf = 4 << 20;
  ::setsockopt(raw_.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  return Status::Ok();
}

// Every target routes via one gateway on one interface (PrepareScan checked).
Status SynScanner::OpenPacketPath() {
  const RouteInfo& route = scan_.span_routes.front();
  auto own = InterfaceMac(route.ifname);
  if (!own.ok()) return own.status().WithContext("--send-path packet");
  std::optional<MacAddress> gateway = NeighbourMac(*route.gateway, route.ifname);
  if (!gateway && scan_.shard.size() > scan_.spec.start_index) {
    // Not resolved yet: the scan's first probe goes the routed way, which makes
    // the kernel ask for it (the probe is then sent again, like a retry).
    const std::uint64_t first = scan_.spec.start_index;
    SendBatch(&first, 1, false, true);
    const Clock& clock = SystemClock::Instance();
    for (const MonoTime until = clock.MonotonicNow() + seconds(1);
         !gateway && clock.MonotonicNow() < until;) {
      std::this_thread::sleep_for(milliseconds(10));
      gateway = NeighbourMac(*route.gateway, route.ifname);
    }
  }
  if (!gateway) {
    return Status::Unavailable("--send-path packet: gateway " + route.gateway->ToString() +
                               " on " + route.ifname + " did not resolve to a MAC address within 1 s");
  }
  auto fd = OpenPacketSocket(route.ifindex, route.ifname);
  if (!fd.ok()) return fd.status();
  auto ring = TxRing::Open(std::move(*fd), kEthernetHeaderSize + kSynPacketSize, kTxRingFrames);
  if (!ring.ok()) return ring.status().WithContext("--send-path packet on " + route.ifname);
  tx_ring_.emplace(std::move(*ring));
  ethernet_ = EthernetHeader(*gateway, *own);
  PICKET_LOG(kInfo, "scan", "sending frames to the gateway", {"interface", route.ifname},
             {"gateway", route.gateway->ToString()});
  return Status::Ok();
}

Status SynScanner::OpenCaptures() {
  const std::string filter = "tcp and dst portrange " + std::to_string(kSourcePortBase) + "-65535" +
                             " and ((tcp[tcpflags] & (tcp-syn|tcp-ack)) == (tcp-syn|tcp-ack) or"
                             " (tcp[tcpflags] & tcp-rst) != 0)";
  for (const auto& iface : scan_.interfaces) {
    char err[PCAP_ERRBUF_SIZE] = {};
    Capture c;
    c.interface = iface;
    c.pcap.reset(pcap_create(iface.c_str(), err));
    if (!c.pcap) return Status::IoError("capture on " + iface + ": " + err);
    pcap_t* p = c.pcap.get();
    pcap_set_snaplen(p, kSnaplen);
    pcap_set_promisc(p, 0);
    pcap_set_timeout(p, kCaptureTimeoutMs);
    pcap_set_buffer_size(p, kCaptureBufferBytes);
    pcap_set_immediate_mode(p, 0);
    const int rc = pcap_activate(p);
    if (rc < 0) {
      const std::string why = pcap_geterr(p);
      if (rc == PCAP_ERROR_PERM_DENIED) {
        return Status::PermissionDenied("capture on " + iface + ": " + why +
                                        " (SYN mode needs root or CAP_NET_RAW)");
      }
      return Status::IoError("capture on " + iface + ": " + why);
    }
    bpf_program prog{};
    if (pcap_compile(p, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      return Status::Internal("capture filter on " + iface + ": " + pcap_geterr(p));
    }
    const int set = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (set != 0) return Status::IoError("capture filter on " + iface + ": " + pcap_geterr(p));
    if (pcap_setnonblock(p, 1, err) != 0) {
      return Status::IoError("capture on " + iface + ": nonblocking: " + err);
    }
    c.dlt = pcap_datalink(p);
    c.fd = pcap_get_selectable_fd(p);
    if (c.fd < 0) return Status::IoError("capture on " + iface + ": no selectable fd");
    captures_.push_back(std::move(c));
  }
  return Status::Ok();
}

SynProbe SynScanner::ProbeFor(std::uint64_t local) const {
  const TargetSpace::Probe probe = scan_.space.At(perm_.At(scan_.shard.Global(local)));
  SynProbe syn;
  syn.src_ip = scan_.span_routes[probe.span].source.V4HostOrder();
  syn.dst_ip = probe.ip.V4HostOrder();
  syn.dst_port = probe.port;
  const SynCookie::Probe cookie = cookie_.For(syn.src_ip, syn.dst_ip, syn.dst_port);
  syn.src_port = cookie.src_port;
  syn.seq = cookie.seq;
  syn.ip_id =
      static_cast<std::uint16_t>(syn.seq >> 16 ^ counters_.sent.load(std::memory_order_relaxed));
  return syn;
}

void SynScanner::NoteFirstSend(const SynProbe& syn) {
  // Noted before the send: on loopback the reply can be handled before the send returns.
  const MonoTime now = SystemClock::Instance().MonotonicNow();
  std::lock_guard<std::mutex> lock(timer_mu_);
  timer_.Sent(ProbeKey(syn.dst_ip, syn.dst_port), now);
}

void SynScanner::CountSendError(std::string_view why) {
  if (counters_.send_errors.fetch_add(1, std::memory_order_relaxed) == 0) {
    PICKET_LOG(kWarn, "scan", "probe send failed", {"error", std::string(why)});
  }
}

void SynScanner::SendBatch(const std::uint64_t* locals, std::size_t n, bool time_first,
                           bool routed) {
  if (tx_ring_ && !routed) return SendFramed(locals, n, time_first);
  std::uint8_t packets[kBatch][kSynPacketSize];
  iovec iov[kBatch];
  sockaddr_in to[kBatch];
  mmsghdr msgs[kBatch];
  for (std::size_t i = 0; i < n; ++i) {
    const SynProbe syn = ProbeFor(locals[i]);
    if (i == 0 && time_first) NoteFirstSend(syn);
    BuildSynPacket(syn, std::span<std::uint8_t, kSynPacketSize>(packets[i], kSynPacketSize));
    iov[i] = {packets[i], kSynPacketSize};
    to[i] = {};
    to[i].sin_family = AF_INET;
    to[i].sin_addr.s_addr = htonl(syn.dst_ip);
    msgs[i] = {};
    msgs[i].msg_hdr.msg_name = &to[i];
    msgs[i].msg_hdr.msg_namelen = sizeof to[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  std::size_t offset = 0;
  int busy_retries = 0;
  while (offset < n) {
    const int r = ::sendmmsg(raw_.get(), msgs + offset, static_cast<unsigned>(n - offset), 0);
    if (r > 0) {
      offset += static_cast<std::size_t>(r);
      counters_.sent.fetch_add(static_cast<std::uint64_t>(r), std::memory_order_relaxed);
      continue;
    }
    const int e = errno;
    if (r < 0 && e == EINTR) continue;
    if (r < 0 && (e == ENOBUFS || e == EAGAIN || e == ENOMEM) && busy_retries < 100) {
      ++busy_retries;  // queue full: back off briefly, bounded
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    CountSendError(std::strerror(e));
    ++offset;  // skip the refused probe; counted, never retried forever
  }
}

// The packet path: frames built in the TX ring, one send() per batch. A full
// ring (frames still in the driver) is flushed and waited on, bounded: a probe
// that finds no room within kRingStallMs is counted as a send error and skipped.
// A failed send (ENOBUFS) leaves its frames queued for the next one.
void SynScanner::SendFramed(const std::uint64_t* locals, std::size_t n, bool time_first) {
  constexpr std::size_t kFrame = kEthernetHeaderSize + kSynPacketSize;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint8_t* frame = tx_ring_->NextFrame();
    if (frame == nullptr) frame = WaitForRingRoom();
    if (frame == nullptr) {
      CountSendError(ring_error_.ok() ? "the TX ring stayed full for 1 s" : ring_error_.message());
      continue;
    }
    const SynProbe syn = ProbeFor(locals[i]);
    if (i == 0 && time_first) NoteFirstSend(syn);
    std::memcpy(frame, ethernet_.data(), kEthernetHeaderSize);
    BuildSynPacket(syn, std::span<std::uint8_t, kSynPacketSize>(frame + kEthernetHeaderSize,
                                                                  kSynPacketSize));
    tx_ring_->Commit(kFrame);
  }
  (void)FlushRing();  // a failure leaves the frames queued for the next batch or DrainRing
}

// Every frame is still in the driver, or a send failed because its queue is
// full (veth and NIC drivers stop the queue until the receiver catches up):
// flush and wait, a short sleep after a refusal, for at most kRingStallMs.
// Any other refusal (the interface went down) fails at once, so a scan on a
// dead link counts its probes as send errors instead of waiting a second each.
std::uint8_t* SynScanner::WaitForRingRoom() {
  const Clock& clock = SystemClock::Instance();
  const MonoTime until = clock.MonotonicNow() + milliseconds(kRingStallMs);
  while (clock.MonotonicNow() < until) {
    bool busy = false;
    if (FlushRing(&busy).ok()) {
      tx_ring_->WaitForRoom(1);
    } else if (busy) {
      std::this_thread::sleep_for(kRingBackoff);
    } else {
      return nullptr;
    }
    if (std::uint8_t* frame = tx_ring_->NextFrame()) return frame;
  }
  return nullptr;
}

Status SynScanner::FlushRing(bool* busy) {
  auto sent = tx_ring_->Flush(busy);
  if (!sent.ok()) {
    ring_error_ = sent.status();
    return sent.status();
  }
  ring_error_ = Status::Ok();
  counters_.sent.fetch_add(*sent, std::memory_order_relaxed);
  return Status::Ok();
}

// After the last batch: what a failed send left in the ring goes now, or is
// counted as not sent.
void SynScanner::DrainRing() {
  Status last;
  const Clock& clock = SystemClock::Instance();
  for (const MonoTime until = clock.MonotonicNow() + milliseconds(kRingStallMs);
       tx_ring_->pending() > 0 && clock.MonotonicNow() < until;) {
    bool busy = false;
    last = FlushRing(&busy);
    if (!last.ok() && !busy) break;
    if (!last.ok()) std::this_thread::sleep_for(kRingBackoff);
  }
  for (std::size_t i = tx_ring_->pending(); i > 0; --i) CountSendError(last.message());
}

void SynScanner::SendLoop() {
  const std::uint64_t start = scan_.spec.start_index;
  const std::uint64_t todo = scan_.shard.size() - start;
  const std::uint64_t retries = static_cast<std::uint64_t>(scan_.spec.retries);
  const std::uint64_t distance = std::max<std::uint64_t>(1, scan_.spec.rate_pps / 4);
  const std::uint64_t last_step = todo == 0 ? 0 : (todo - 1) + retries * distance;
  const double rate = static_cast<double>(scan_.spec.rate_pps);
  const Clock& clock = SystemClock::Instance();
  TokenBucket bucket(rate, DefaultBurst(rate), clock.MonotonicNow());

  std::uint64_t step = 0, attempt = 0;
  std::uint64_t locals[kBatch];
  bool finished = todo == 0;
  while (!finished && !stop_.load(std::memory_order_relaxed)) {
    const MonoTime now = clock.MonotonicNow();
    const std::uint64_t grant = TakeWithBudget(bucket, scan_.spec.device_budget.get(), now, kBatch);
    if (grant == 0) {
      std::this_thread::sleep_for(std::min<nanoseconds>(
          TimeUntilBoth(bucket, scan_.spec.device_budget.get(), now), milliseconds(2)));
      continue;
    }
    std::size_t n = 0;
    bool time_first = false;
    while (n < grant) {
      if (step > last_step) {
        finished = true;
        break;
      }
      if (attempt > retries || step < attempt * distance) {
        ++step;
        attempt = 0;
        continue;
      }
      const std::uint64_t j = step - attempt * distance;
      ++attempt;
      if (j < todo) {
        if (n == 0) time_first = attempt == 1;
        locals[n++] = start + j;
      }
    }
    if (n > 0) {
      SendBatch(locals, n, time_first);
      const MonoTime sent_at = clock.MonotonicNow();
      {
        std::lock_guard<std::mutex> lock(send_time_mu_);
        if (first_batch_ == 0) {
          first_send_ = sent_at;
          first_batch_ = n;
        }
        last_send_ = sent_at;
      }
    }
    first_sent_end_.store(start + std::min(step + 1, todo), std::memory_order_relaxed);
    const std::uint64_t complete =
        finished ? todo
                 : (step > retries * distance ? std::min(step - retries * distance, todo) : 0);
    std::lock_guard<std::mutex> lock(window_mu_);
    window_.MarkSent(start + complete, clock.MonotonicNow());
  }
  if (tx_ring_) DrainRing();
  sender_done_.store(true, std::memory_order_release);
}

void SynScanner::OnPacket(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
  auto* ctx = reinterpret_cast<std::pair<SynScanner*, int>*>(user);
  ctx->first->HandleFrame(ctx->second, h, bytes);
}

void SynScanner::HandleFrame(int dlt, const pcap_pkthdr* h, const u_char* bytes) {
  auto ip = IpPayloadOf(dlt, {bytes, h->caplen});
  if (!ip) return;
  auto reply = ParseIpv4Tcp(*ip);
  if (!reply) return;
  if (!cookie_.Validate(reply->dst_ip, reply->src_ip, reply->dst_port, reply->src_port,
                        reply->ack)) {
    return;
  }
  counters_.replies.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t probe = ProbeKey(reply->src_ip, reply->src_port);
  {
    const MonoTime now = SystemClock::Instance().MonotonicNow();
    std::lock_guard<std::mutex> lock(timer_mu_);
    timer_.Answered(probe, now);
  }
  if (track_answers_ && answered_.insert(probe).second) {
    answered_count_.fetch_add(1, std::memory_order_release);
  }
  if ((reply->flags & (kTcpSyn | kTcpAck)) != (kTcpSyn | kTcpAck) || (reply->flags & kTcpRst))
    return;
  if (!open_seen_.insert(probe).second) return;
  counters_.open.fetch_add(1, std::memory_order_relaxed);
  ScanResult r;
  r.ip = IpAddress::V4(reply->src_ip);
  r.port = reply->src_port;
  r.ttl = reply->ttl;
  r.ts_ms = static_cast<std::int64_t>(h->ts.tv_sec) * 1000 + h->ts.tv_usec / 1000;
  r.job_id = scan_.spec.job_id;
  r.shard = scan_.spec.shard_index;
  std::lock_guard<std::mutex> lock(results_mu_);
  pending_results_.push_back(std::move(r));
}

void SynScanner::ReceiveLoop() {
  std::vector<pollfd> fds;
  std::vector<std::pair<SynScanner*, int>> ctx;
  for (const auto& c : captures_) {
    fds.push_back({c.fd, POLLIN, 0});
    ctx.emplace_back(this, c.dlt);
  }
  const auto drain = [&](std::size_t i) {
    // Bounded per wake-up so a flood cannot starve the stop check.
    for (int rounds = 0; rounds < 64; ++rounds) {
      const int n = pcap_dispatch(captures_[i].pcap.get(), 4096, &SynScanner::OnPacket,
                                  reinterpret_cast<u_char*>(&ctx[i]));
      if (n <= 0) break;
    }
  };
  while (!rx_stop_.load(std::memory_order_acquire)) {
    const int r = ::poll(fds.data(), fds.size(), kReceivePollMs);
    if (r < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size(); ++i) drain(i);
  }
  for (std::size_t i = 0; i < fds.size(); ++i) drain(i);  // what the last block retire delivered
}

ScanProgress SynScanner::MakeProgress(MonoTime now, bool finished) {
  ScanProgress p;
  p.total = scan_.shard.size();
  {
    std::lock_guard<std::mutex> lock(window_mu_);
    p.checkpoint = finished ? p.total : window_.Checkpoint(now);
  }
  p.done = finished ? p.total : first_sent_end_.load(std::memory_order_relaxed);
  p.sent = counters_.sent.load(std::memory_order_relaxed);
  p.replies = counters_.replies.load(std::memory_order_relaxed);
  p.open = counters_.open.load(std::memory_order_relaxed);
  const double dt = duration<double>(now - last_progress_time_).count();
  p.pps = dt > 0 ? static_cast<double>(p.sent - last_progress_sent_) / dt : 0;
  last_progress_time_ = now;
  last_progress_sent_ = p.sent;
  p.elapsed_s = duration<double>(now - started_).count();
  const std::uint64_t remaining = Emissions() > p.sent ? Emissions() - p.sent : 0;
  nanoseconds tail;
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    tail = timer_.estimator().Timeout();
  }
  p.eta_s = finished ? 0
                     : static_cast<double>(remaining) / static_cast<double>(scan_.spec.rate_pps) +
                           duration<double>(tail).count();
  return p;
}

Status SynScanner::Run(const std::function<void(const ScanResult&)>& on_result,
                       const std::function<void(const ScanProgress&)>& on_progress) {
  const Clock& clock = SystemClock::Instance();
  started_ = last_progress_time_ = clock.MonotonicNow();
  first_sent_end_ = scan_.spec.start_index;
  PICKET_RETURN_IF_ERROR(OpenSocket());
  PICKET_RETURN_IF_ERROR(OpenCaptures());
  if (scan_.spec.send_path == SendPath::kPacket) PICKET_RETURN_IF_ERROR(OpenPacketPath());
  WarnIfPortRangeOverlaps();
  std::string ifaces;
  for (const auto& i : scan_.interfaces) ifaces += (ifaces.empty() ? "" : ",") + i;
  PICKET_LOG(kInfo, "scan", "syn scan starting",
             {"probes", scan_.shard.size() - scan_.spec.start_index}, {"space", scan_.space.size()},
             {"rate", scan_.spec.rate_pps}, {"retries", scan_.spec.retries}, {"interfaces", ifaces},
             {"seed", scan_.spec.seed});

  std::thread receiver([this] { ReceiveLoop(); });
  std::thread sender([this] { SendLoop(); });
  // If a callback throws, stop and join both threads before unwinding.
  struct JoinOnUnwind {
    SynScanner* self;
    std::thread& a;
    std::thread& b;
    ~JoinOnUnwind() {
      self->stop_.store(true);
      self->rx_stop_.store(true);
      if (a.joinable()) a.join();
      if (b.joinable()) b.join();
    }
  } join_guard{this, sender, receiver};

  std::vector<ScanResult> held;  // banners: reported after the grab
  const auto deliver = [&] {
    std::vector<ScanResult> batch;
    {
      std::lock_guard<std::mutex> lock(results_mu_);
      batch.swap(pending_results_);
    }
    for (auto& r : batch) {
      if (scan_.spec.banners) {
        held.push_back(std::move(r));
      } else if (on_result) {
        on_result(r);
      }
    }
  };

  const std::uint64_t probes = scan_.shard.size() - scan_.spec.start_index;
  MonoTime next_progress = started_ + std::chrono::seconds(1);
  bool completed = false;
  nanoseconds waited_for{0};
  std::optional<std::uint64_t> answered;
  // Ends: stop, or sender done + every probe answered or the reply timeout (at most --wait);
  // the sender is bounded by probes / rate.
  while (true) {
    const bool sending = !sender_done_.load(std::memory_order_acquire);
    std::this_thread::sleep_for(milliseconds(sending ? 5 : 2));
    const MonoTime now = clock.MonotonicNow();
    deliver();
    if (stop_.load(std::memory_order_relaxed)) break;
    if (!sending) {
      MonoTime last_send;
      {
        std::lock_guard<std::mutex> lock(send_time_mu_);
        last_send = first_batch_ == 0 ? started_ : last_send_;
      }
      {
        std::lock_guard<std::mutex> lock(timer_mu_);
        waited_for = timer_.estimator().Timeout();
      }
      if (track_answers_) answered = answered_count_.load(std::memory_order_acquire);
      if (ReplyWaitOver(now, last_send, answered, probes, waited_for)) {
        completed = true;
        break;
      }
    }
    if (now >= next_progress) {
      if (on_progress) on_progress(MakeProgress(now, false));
      next_progress += std::chrono::seconds(1);
      if (next_progress < now) next_progress = now + std::chrono::seconds(1);
    }
  }
  sender.join();
  rx_stop_.store(true, std::memory_order_release);
  receiver.join();
  deliver();
  if (completed) {
    std::lock_guard<std::mutex> lock(timer_mu_);
    const RttEstimator& rtt = timer_.estimator();
    PICKET_LOG(kInfo, "scan", "syn scan replies done",
               {"end", answered && *answered >= probes ? "every probe answered" : "reply timeout"},
               {"answered", answered ? std::to_string(*answered) : std::string("not counted")},
               {"probes", probes}, {"rtt_samples", rtt.samples()},
               {"srtt_us", static_cast<std::uint64_t>(rtt.srtt().count() / 1000)},
               {"rttvar_us", static_cast<std::uint64_t>(rtt.rttvar().count() / 1000)},
               {"timeout_ms", static_cast<std::uint64_t>(waited_for.count() / 1000000)});
  }

  std::uint64_t drops = 0;
  for (const auto& c : captures_) {
    pcap_stat ps{};
    if (pcap_stats(c.pcap.get(), &ps) == 0) drops += ps.ps_drop + ps.ps_ifdrop;
  }
  if (drops > 0) {
    PICKET_LOG(kWarn, "scan", "capture dropped packets; some replies may be missing",
               {"drops", drops});
  }
  if (scan_.spec.banners && !held.empty() && !stop_.load(std::memory_order_relaxed)) {
    GrabBanners(held, scan_.spec.connect_concurrency, scan_.spec.connect_timeout,
                scan_.spec.banner_timeout, stop_);
  }
  if (on_result) {
    for (const auto& r : held) on_result(r);
  }

  const MonoTime end = clock.MonotonicNow();
  {
    std::lock_guard<std::mutex> lock(summary_mu_);
    summary_.sent = counters_.sent.load();
    summary_.replies = counters_.replies.load();
    summary_.open = counters_.open.load();
    summary_.send_errors = counters_.send_errors.load();
    summary_.capture_drops = drops;
    summary_.seconds = duration<double>(end - started_).count();
    std::lock_guard<std::mutex> t(send_time_mu_);
    const double span = duration<double>(last_send_ - first_send_).count();
    summary_.pps = span > 0 ? static_cast<double>(summary_.sent - first_batch_) / span
                            : static_cast<double>(summary_.sent);
  }
  if (on_progress) on_progress(MakeProgress(end, completed));
  if (stop_.load(std::memory_order_relaxed) && !completed) {
    return Status(StatusCode::kCancelled, "scan stopped before the end");
  }
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Scanner> MakeSynScanner(PreparedScan scan) {
  return std::make_unique<SynScanner>(std::move(scan));
}

}  // namespace picket::scan
