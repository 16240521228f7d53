#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>

#include "picket/buffer/buffer_store.h"
#include "picket/capture/chunk_writer.h"
#include "picket/capture/pcap_source.h"
#include "picket/capture/privileges.h"
#include "picket/capture/sniffer.h"
#include "picket/capture/syscall_filter.h"
#include "picket/common/clock.h"
#include "picket/common/log.h"
#include "picket/common/shared_job.h"
#include "picket/common/url.h"
#include "picket/common/worker_protocol.h"
#include "picket/worker/worker.h"
#include "worker/buffer_lock.h"
#include "worker/capture_health.h"
#include "worker/control_channel.h"
#include "worker/parent_watch.h"
#include "worker/restart_gap.h"
#include "worker/scan_job_runner.h"
#include "worker/shard_runner.h"

namespace picket::worker {

namespace {

std::atomic<capture::Sniffer*> g_sniffer{nullptr};
std::mutex g_sniffer_mu;  // held by control-thread users and while g_sniffer is set or cleared
// A live filter change that came while the capture was open but its loop not
// yet made (a successor between its predecessor's seal and its start): the
// loop takes it as it starts, and answers then. Guarded by g_sniffer_mu.
bool g_capture_opening = false;
std::optional<worker_protocol::FilterCommand> g_early_filter;
std::atomic<ScanJobRunner*> g_scans{nullptr};
std::atomic<ShardRunner*> g_shards{nullptr};
volatile std::sig_atomic_t g_stop = 0;
// Set by a HandOver command before the stop: the armed successor's pid.
std::atomic<std::int64_t> g_successor_pid{0};
// Its capture's start, for a hand-over that came before our capture loop ran.
std::atomic<std::int64_t> g_successor_since_us{0};

// Replaced by an armed successor: who, and from when its capture has the packets.
void NoteSuccessor(const worker_protocol::HandOver& cmd) {
  g_successor_since_us.store(cmd.successor_since_us);
  g_successor_pid.store(cmd.successor_pid);
}

void OnStopSignal(int) {
  g_stop = 1;
  if (capture::Sniffer* s = g_sniffer.load()) s->RequestStop();
  if (ScanJobRunner* r = g_scans.load()) r->RequestStop();
  if (ShardRunner* r = g_shards.load()) r->RequestStopAll();
}

namespace wp = worker_protocol;

// Read by the control thread for Stats, set by the writer thread.
CaptureHealth g_capture_health;

// Carries out the supervisor's commands: a live filter change and the shards
// of shared scan jobs it has claimed in ZooKeeper.
class CommandHandler {
 public:
  CommandHandler(WorkerControl& control, ShardRunner& shards) : control_(control), shards_(shards) {}

  void operator()(const wp::FilterCommand& cmd) const {
    std::lock_guard lock(g_sniffer_mu);
    capture::Sniffer* sniffer = g_sniffer.load();
    if (sniffer == nullptr) {
      if (g_capture_opening) {
        // The newest replaces: only it is answered (the supervisor waits for that one).
        g_early_filter = cmd;
      } else {
        control_.Send(wp::FilterAck{cmd.version, false, "capture is not running"});
      }
      return;
    }
    RequestFilter(*sniffer, cmd, control_);
  }

  static void RequestFilter(capture::Sniffer& sniffer, const wp::FilterCommand& cmd,
                            WorkerControl& control) {
    sniffer.RequestFilter(cmd.filter, [&control, version = cmd.version](const Status& st) {
      control.Send(wp::FilterAck{version, st.ok(), st.ok() ? std::string() : st.ToString()});
    });
  }
  void operator()(const wp::AssignShard& cmd) const {
    auto spec = ParseSharedJobSpec(cmd.job, cmd.spec);
    if (!spec.ok()) {
      wp::ShardEvent failed;
      failed.kind = wp::ShardEvent::kFailed;
      failed.job = cmd.job;
      failed.shard = cmd.shard;
      failed.error = spec.status().ToString();
      control_.Send(failed);
      return;
    }
    shards_.Assign({*spec, cmd.shard, cmd.start_index});
  }
  void operator()(const wp::ReleaseShard& cmd) const { shards_.Release(cmd.job, cmd.shard); }
  void operator()(const wp::ReleaseAll&) const { shards_.ReleaseAll(); }
  void operator()(const wp::HandOver& cmd) const {
    // What arrived before the successor's capture opened is in this ring only:
    // it is drained up to the successor's start, not beyond.
    NoteSuccessor(cmd);
    {
      std::lock_guard lock(g_sniffer_mu);
      if (capture::Sniffer* sniffer = g_sniffer.load()) sniffer->RequestHandOver(cmd.successor_since_us);
    }
    OnStopSignal(SIGTERM);
  }

 private:
  WorkerControl& control_;
  ShardRunner& shards_;
};

// The daemon's own uploads must never be captured: every address of every
// collector, with its port, is excluded from the filter.
std::vector<capture::ExcludedEndpoint> CollectorEndpoints(const UploadSection& upload) {
  std::vector<capture::ExcludedEndpoint> out;
  for (const auto& text : upload.collectors) {
    auto url = ParseUrl(text);
    if (!url.ok()) continue;  // validated already
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(url->host.c_str(), nullptr, &hints, &found) != 0) {
      PICKET_LOG(kWarn, "worker", "cannot resolve collector to exclude it from capture",
                 {"host", url->host});
      continue;
    }
    for (addrinfo* a = found; a; a = a->ai_next) {
      char host[NI_MAXHOST];
      if (getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof host, nullptr, 0, NI_NUMERICHOST) == 0) {
        out.push_back({host, url->port});
      }
    }
    freeaddrinfo(found);
  }
  return out;
}

buffer::ChunkMeta ToChunkMeta(const capture::SealedChunk& c) {
  buffer::ChunkMeta m;
  m.seq = c.seq;
  m.file = c.path;
  m.bytes = c.bytes;
  m.packets = c.packets;
  m.first_ts_us = c.first_packet_us;
  m.last_ts_us = c.last_packet_us;
  m.ts_backwards = c.ts_backwards;
  m.kernel_drops = c.kernel_drops;
  m.interface_drops = c.interface_drops;
  m.lost_packets = c.lost_packets;
  m.gap_before_ms = c.gap_before_ms;
  m.switched_at_us = c.switched_at_us;
  m.sha256_hex = c.sha256_hex;
  m.interface = c.interface;
  m.sealed_at_ms = c.sealed_at_ms;
  return m;
}

// Everything that needs root is done (buffer, lock, capture handle): become
// security.user with CAP_NET_RAW only, then NO_NEW_PRIVS and the seccomp
// allowlist. No thread runs yet, so the capability change covers them all.
Status DropPrivileges(const SecuritySection& security, const std::string& chunk_dir) {
  auto user = capture::LookUpUser(security.user, "security.user");
  if (!user.ok()) return user.status();
  PICKET_RETURN_IF_ERROR(capture::SwitchToUser(*user));
  // `picketd run` hands the buffer over first; a worker started some other way may find it root's.
  if (::access(chunk_dir.c_str(), W_OK | X_OK) != 0) {
    return Status::PermissionDenied("buffer.dir: '" + chunk_dir + "' is not writable by user " +
                                    user->name + " (security.user): " + std::strerror(errno));
  }
  // A uid change clears the parent-death signal: the worker must still die with its supervisor.
  PICKET_RETURN_IF_ERROR(StopWithParent(SIGTERM));
  return capture::ConfineSyscalls(security.seccomp, "security.seccomp false");
}

// Captures from `source` until SIGTERM; starts the scan jobs once the capture runs.
// How capture went on from the previous worker, for the first chunk.
struct Continuity {
  std::int64_t gap_ms = 0;          // down this long
  std::int64_t switched_at_us = 0;  // or taken over without a gap at this packet time
};

int RunCapture(const DaemonConfig& config, std::int64_t version, buffer::BufferStore& store,
               capture::PcapLiveSource* source, Continuity continuity,
               std::optional<capture::CaptureCut> skip_through, ScanJobRunner* scans,
               WorkerControl* control) {
  auto fail = [control](const char* what, const Status& st) {
    PICKET_LOG(kError, "worker", "cannot start", {"what", what}, {"error", st});
    if (control) control->Send(wp::Failed{what, st.ToString()});
    return 1;
  };
  const Clock& clock = SystemClock::Instance();
  auto options = capture::ChunkWriterOptions::FromConfig(config.capture, store.ChunkDir(), *source);
  options.gap_before_ms = continuity.gap_ms;
  options.switched_at_us = continuity.switched_at_us;
  std::uint64_t committed = 0;
  // Seqs come from memory, not MAX(seq)+1 of committed rows: a chunk whose
  // commit failed keeps its number, so it is never handed out twice. Both
  // lambdas run on the writer's thread, one after the other.
  auto first_seq = store.NextChunkSeq();
  if (!first_seq.ok()) return fail("chunk seq", first_seq.status());
  std::int64_t next_seq = *first_seq;       // the next one handed out
  std::int64_t next_committed = *first_seq;  // what the buffer expects next
  auto writer = capture::ChunkWriter::OpenCommitting(
      options, clock,
      [&](std::uint64_t max_bytes) -> Result<std::int64_t> {
        // Room for a whole chunk before it is opened: evict, or pause capture (packets counted
        // lost). A loss record needs only its header: it never evicts a chunk's worth.
        if (auto free = store.MakeRoom(max_bytes + buffer::kMinFreeBytes); !free.ok()) {
          g_capture_health.Failed(free.status());
          return free.status();
        }
        return next_seq++;
      },
      [&]() { return source->Stats(); },
      [&](const capture::SealedChunk& chunk) -> Status {
        buffer::ChunkMeta meta = ToChunkMeta(chunk);
        meta.uncommitted_before = chunk.seq - next_committed;
        if (Status st = store.CommitChunk(meta); !st.ok()) {
          g_capture_health.Failed(st);
          PICKET_LOG(kError, "worker", "cannot commit sealed chunk; capture goes on",
                     {"seq", chunk.seq}, {"state", g_capture_health.Text()}, {"error", st});
          return st;
        }
        next_committed = chunk.seq + 1;
        ++committed;
        g_capture_health.Committed(chunk.reason);
        // Where the clocks stood: the next worker's gap is measured from here.
        if (Status mark = store.PutState(std::string(kSealMarkKey), EncodeSealMark(SealMarkNow()));
            !mark.ok()) {
          PICKET_LOG(kDebug, "worker", "seal mark not stored", {"error", mark});
        }
        PICKET_LOG(kDebug, "worker", "chunk committed", {"seq", chunk.seq},
                   {"packets", chunk.packets}, {"bytes", chunk.bytes});
        return Status::Ok();
      });
  if (!writer.ok()) return fail("chunk writer", writer.status());

  capture::SnifferOptions sniffer_options;
  sniffer_options.ring_drain = std::chrono::milliseconds(config.capture.timeout_ms + 30);
  sniffer_options.skip_through = skip_through;
  capture::Sniffer sniffer(*source, **writer, clock, sniffer_options);
  {
    std::lock_guard lock(g_sniffer_mu);
    g_sniffer.store(&sniffer);
    g_capture_opening = false;
    if (g_early_filter && control) {  // installed by the loop as it starts, answered then
      PICKET_LOG(kInfo, "worker", "filter change taken as the capture loop starts",
                 {"version", g_early_filter->version});
      CommandHandler::RequestFilter(sniffer, *g_early_filter, *control);
    }
    g_early_filter.reset();
  }
  if (g_stop) {  // SIGTERM or a hand-over arrived while the capture was opening
    if (const std::int64_t since = g_successor_since_us.load(); since > 0) {
      sniffer.RequestHandOver(since);  // replaced before it ran: a successor is armed already
    } else {
      sniffer.RequestStop();
    }
  }
  if (scans) {
    g_scans.store(scans);
    scans->Start();
    if (g_stop) scans->RequestStop();
  }
  PICKET_LOG(kInfo, "worker", "capturing", {"interface", config.capture.interface},
             {"filter", source->InstalledFilter()}, {"gap_before_ms", continuity.gap_ms},
             {"switched_at_us", continuity.switched_at_us});
  if (control) {
    control->Send(wp::Ready{version, true});
  }
  Status st = sniffer.Run();
  {
    std::lock_guard lock(g_sniffer_mu);
    g_sniffer.store(nullptr);
  }
  // For the successor whose capture is already open: where this one ended
  // (nothing taken: {0, 0}, it skips nothing but still records no gap).
  if (const std::int64_t successor = g_successor_pid.load(); successor != 0) {
    const CaptureHandOver handover{sniffer.Cut().value_or(capture::CaptureCut{}), SealMarkNow(),
                                   successor};
    const std::int64_t since = g_successor_since_us.load();
    const std::int64_t past_switch_us = handover.cut.ts_us - (since + capture::kHandOverMarginUs);
    if (since > 0 && past_switch_us > 0) {  // taken before the hand-over reached us (see RequestHandOver)
      PICKET_LOG(kWarn, "worker",
                 "capture cut lies past the switch: packets only the new filter takes are missing there",
                 {"past_switch_us", past_switch_us});
    }
    if (Status put = store.PutState(std::string(kHandOverKey), EncodeHandOver(handover));
        !put.ok()) {
      PICKET_LOG(kWarn, "worker", "capture cut not stored: the next worker repeats the overlap",
                 {"error", put});
    }
  }
  if (scans) scans->RequestStop();  // capture ended (signal or fatal error): so does the worker
  auto stats = sniffer.Stats();
  PICKET_LOG(kInfo, "worker", "capture stopped", {"packets", stats.packets},
             {"chunks", committed}, {"lost", stats.lost_packets},
             {"overlap_skipped", stats.overlap_skipped}, {"status", st});
  if (!st.ok() && control) control->Send(wp::Failed{"capture", st.ToString()});
  return st.ok() ? 0 : 1;
}

}  // namespace

int Run(const DaemonConfig& config, bool control_channel) {
  // Made first (its reader starts later): a worker that cannot start says why
  // on the channel, and the supervisor shows it (status node, rollbacks).
  std::unique_ptr<WorkerControl> control;
  if (control_channel) control = std::make_unique<WorkerControl>(STDIN_FILENO, STDOUT_FILENO);
  auto fail = [&control](const char* what, const Status& st) {
    PICKET_LOG(kError, "worker", "cannot start", {"what", what}, {"error", st});
    if (control) control->Send(wp::Failed{what, st.ToString()});
    return 1;
  };
  if (Status st = StopWithParent(SIGTERM); !st.ok()) return fail("parent watch", st);
  // stderr is a pipe to the supervisor: if it is gone, logging must not kill us before the seal.
  ::signal(SIGPIPE, SIG_IGN);
  // Make-before-break: the capture opens first and its ring fills while a
  // predecessor (told to stop once we are armed) still seals; the two cut over
  // at one packet (the hand-over read below).
  std::unique_ptr<capture::PcapLiveSource> source;
  if (config.capture.enabled) {
    auto opened_source = capture::PcapLiveSource::Open(
        capture::LiveCaptureOptions::FromConfig(config.capture, CollectorEndpoints(config.upload)));
    if (!opened_source.ok()) return fail("capture", opened_source.status());
    source = std::move(*opened_source);
  }
  timespec opened_at{};
  ::clock_gettime(CLOCK_REALTIME, &opened_at);  // the clock of packet timestamps
  const std::int64_t since_us = std::int64_t{opened_at.tv_sec} * 1'000'000 + opened_at.tv_nsec / 1000;
  if (control) {
    // The switch is at since + the margin (Sniffer::RequestHandOver): armed
    // means every packet from now on is ours, so the supervisor may report the
    // new config applied the moment it reads this.
    if (source) {
      const std::int64_t switch_us = since_us + capture::kHandOverMarginUs + 1;
      const timespec at{static_cast<time_t>(switch_us / 1'000'000),
                        static_cast<long>(switch_us % 1'000'000) * 1000};
      while (::clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, nullptr) == EINTR) {
      }
    }
    control->Send(wp::Armed{config.version, source ? since_us : 0});
  }
  // One worker per buffer: wait for a previous one that is still sealing.
  // Armed, this capture is the one running: a live filter change sent
  // meanwhile is installed at once where the switch is exact (kernel filter
  // slot), a hand-over is noted; any other command waits for the reader thread.
  std::int64_t version = config.version;  // what runs: a filter change may come before Ready
  auto serve_early = [&](const wp::Command& command) {
    if (const auto* handover = std::get_if<wp::HandOver>(&command)) {
      // Replaced before our capture loop ran (a second change during a
      // hand-over): it must start bounded by the switch, not learn it late.
      NoteSuccessor(*handover);
      OnStopSignal(SIGTERM);
      return true;
    }
    const auto* change = std::get_if<wp::FilterCommand>(&command);
    if (!change || !source || !source->FilterSwitchIsExact()) return false;
    const Status st = source->SetFilter(change->filter);
    if (st.ok()) version = change->version;
    PICKET_LOG(kInfo, "worker", "filter changed before the capture loop started",
               {"version", change->version}, {"ok", st.ok()});
    control->Send(wp::FilterAck{change->version, st.ok(), st.ok() ? std::string() : st.ToString()});
    return true;
  };
  const auto serve = [&](std::chrono::milliseconds pause) {
    if (control) control->ServeBeforeStart(pause, serve_early);
    else std::this_thread::sleep_for(pause);
  };
  if (const char* predecessor = std::getenv(wp::kPredecessorEnv)) {
    if (const int pid = std::atoi(predecessor); pid > 0) WaitForExit(pid, std::chrono::seconds(30), serve);
  }
  auto lock = LockExclusive(config.buffer.dir + "/worker.lock", std::chrono::seconds(30), serve);
  if (!lock.ok()) return fail("worker lock", lock.status());
  auto opened = buffer::OpenSqliteBuffer({config.buffer.dir, config.buffer.max_bytes});
  if (!opened.ok()) return fail("buffer", opened.status());
  std::unique_ptr<buffer::BufferStore> store = std::move(*opened);

  struct sigaction sa {};
  sa.sa_handler = &OnStopSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);

  ScanJobOptions scan_options;
  if (config.scan_max_pps > 0) {
    scan_options.device_budget =
        scan::RateBudget::Create(config.scan_max_pps, SystemClock::Instance().MonotonicNow());
  }
  std::unique_ptr<ScanJobRunner> scans;
  if (!config.scans.empty()) {
    // The scan thread gets its own SQLite connection; orphan cleanup was done above.
    auto scan_store = buffer::OpenSqliteBuffer({config.buffer.dir, config.buffer.max_bytes, false});
    if (!scan_store.ok()) return fail("buffer for scans", scan_store.status());
    scans = std::make_unique<ScanJobRunner>(config.scans, config.scan_max_probes,
                                            std::move(*scan_store), scan_options);
  }
  std::unique_ptr<buffer::BufferStore> shard_store;
  if (control_channel) {
    auto opened_shards =
        buffer::OpenSqliteBuffer({config.buffer.dir, config.buffer.max_bytes, false});
    if (!opened_shards.ok()) return fail("buffer for shards", opened_shards.status());
    shard_store = std::move(*opened_shards);
  }
  // Capture was down from the last sealed chunk until now: record it on the first chunk
  // (monotonic within a boot: a stepped wall clock records no phantom gap).
  std::optional<std::int64_t> last_sealed_ms;
  if (auto last = store->LastChunk(); last.ok() && last->has_value()) {
    last_sealed_ms = (*last)->sealed_at_ms;
  }
  std::optional<SealMark> last_mark;
  if (auto raw = store->GetState(std::string(kSealMarkKey)); raw.ok() && raw->has_value()) {
    last_mark = ParseSealMark(**raw);
  }
  // A predecessor that stopped while this capture ran left its cut: no gap, and
  // what it took already is skipped. Read once, then cleared.
  std::optional<capture::CaptureCut> skip_through;
  if (auto raw = store->GetState(std::string(kHandOverKey)); raw.ok() && raw->has_value()) {
    skip_through = FreshCut(ParseHandOver(**raw), SealMarkNow(), ::getpid());
    if (Status cleared = store->PutState(std::string(kHandOverKey), ""); !cleared.ok()) {
      return fail("buffer", cleared);
    }
  }
  const std::int64_t gap_ms =
      skip_through ? 0 : RestartGapMs(last_mark, last_sealed_ms, SealMarkNow());
  // Recorded on the first chunk instead of a gap: the predecessor's last packet,
  // or (it took none after we opened) the switch time itself.
  const std::int64_t switched_at_us =
      !skip_through ? 0 : skip_through->ts_us > 0 ? skip_through->ts_us
                                                  : since_us + capture::kHandOverMarginUs;
  if (Status st = DropPrivileges(config.security, store->ChunkDir()); !st.ok()) {
    return fail("drop privileges", st);
  }

  std::unique_ptr<ShardRunner> shards;
  if (control_channel) {
    WorkerControl* channel = control.get();
    shards = std::make_unique<ShardRunner>(
        config.scan_max_probes, std::move(shard_store),
        [channel](const ShardEvent& e) { channel->Send(e); }, scan_options);
    g_shards.store(shards.get());
    if (g_stop) shards->RequestStopAll();
    ShardRunner* runner = shards.get();
    {
      std::lock_guard lock(g_sniffer_mu);
      g_capture_opening = source != nullptr;
    }
    control->Start(
        [channel, runner](const wp::Command& cmd) {
          if (!g_stop) std::visit(CommandHandler(*channel, *runner), cmd);
        },
        [channel] {
          std::lock_guard lock(g_sniffer_mu);
          capture::Sniffer* sniffer = g_sniffer.load();
          if (sniffer == nullptr) return;
          const auto st = sniffer->Stats();
          channel->Send(wp::Stats{st.packets, st.lost_packets, st.filter_changes,
                                  st.kernel_drops, st.interface_drops, st.captured_bytes,
                                  g_capture_health.Text()});
        });
  }
  int rc = 0;
  if (source) {
    rc = RunCapture(config, version, *store, source.get(), {gap_ms, switched_at_us}, skip_through,
                    scans.get(), control.get());
  } else {
    if (scans) {
      g_scans.store(scans.get());
      scans->Start();
      if (g_stop) scans->RequestStop();
    }
    if (control) {
      control->Send(wp::Ready{config.version, false});
      // Nothing to capture: shards and scans run on their threads until SIGTERM.
      while (!g_stop) ::usleep(100'000);
    }
  }
  if (scans) {
    scans->Join();  // returns once SIGTERM stopped it (its checkpoint is saved)
    g_scans.store(nullptr);
  }
  if (shards) {
    shards->RequestStopAll();
    shards->JoinAll();  // each running shard reports its last checkpoint
    g_shards.store(nullptr);
  }
  if (control) control->Stop();
  // Done: the buffer is free for the next worker, and the closed channel tells
  // the supervisor so. Closing the packet socket waits out an RCU grace period
  // in the kernel (~25 ms seen), which nobody need wait for.
  lock->Reset();
  if (control) ::close(STDOUT_FILENO);
  source.reset();
  return rc;
}

}  // namespace picket::worker
