#include "picket/supervisor/daemon.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <variant>

#include "config_trial.h"
#include "fleet_agent.h"
#include "incoming_config.h"
#include "live_filter.h"
#include "log_shipper.h"
#include "loop_inbox.h"
#include "picket/buffer/buffer_store.h"
#include "picket/capture/privileges.h"
#include "picket/common/c_handle.h"
#include "picket/common/clock.h"
#include "picket/common/digest.h"
#include "picket/common/file_io.h"
#include "picket/common/json_limits.h"
#include "picket/common/log.h"
#include "picket/common/rendezvous.h"
#include "picket/common/version.h"
#include "picket/common/worker_protocol.h"
#include "picket/upload/upload_scheduler.h"
#include "picket/zk/connect_string.h"
#include "spool_owner.h"
#include "status_document.h"
#include "worker_process.h"

namespace picket::supervisor {

namespace {

using nlohmann::json;

constexpr const char* kLastGoodKey = "config:last_good";
// {"digest": sha256 of the effective document, "refusal": the status entry}:
// a config rolled back after its worker failed is never booted again.
constexpr const char* kRefusedKey = "config:refused";

// The setting is optional: no file, no token.
Result<std::string> ReadToken(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string();
  return ReadSecretFile(path, key);
}

// The supervisor process: owns the loop, the buffer handle, the worker, the
// uploads, the log shipper, the status document (heartbeats) and, with
// ZooKeeper, the fleet agent. Everything runs on the loop thread; other
// threads reach it only through `inbox`.
class Daemon {
 public:
  explicit Daemon(const RunOptions& options)
      : local(options.config),
        running(options.config),
        self_executable(options.self_executable),
        config_source(options.config_source) {}
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts every part, runs the loop until SIGTERM/SIGINT has stopped them
  // all, and returns the process exit code (1: a part could not start).
  int Run();

 private:
  Status StartFleet();
  Status HandOverAndLimit(const capture::RunAsUser& user);

  uv_loop_t loop{};
  uv_signal_t sigterm{}, sigint{};
  uv_timer_t counters_timer{};
  uv_timer_t heartbeat_timer{};
  uv_timer_t proven_timer{};  // a ready worker's config becomes last good when it fires
  uv_timer_t filter_ack_timer{};  // a ready worker sent a live filter must answer by then
  std::chrono::milliseconds heartbeat_every{0};  // the interval the timer runs at; 0: off
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  DaemonConfig local;    // from the file: the base ZooKeeper's document is laid over
  DaemonConfig running;  // applied now
  std::string self_executable;
  std::string config_source;  // for the start line
  std::unique_ptr<buffer::BufferStore> store;
  std::unique_ptr<WorkerProcess> worker;
  std::unique_ptr<upload::UploadScheduler> uploads, retiring_uploads;
  bool rebuild_uploads_again = false;
  std::unique_ptr<LogShipper> logs;
  std::unique_ptr<LoopInbox> inbox;
  std::unique_ptr<FleetAgent> fleet;
  std::vector<std::string> discovered_collectors;
  mutable std::set<std::string> refused_collectors_logged;  // each refused URL logged once
  std::int64_t applied_version = -1;
  json config_status = {{"source", "file"},           {"applied_version", nullptr},
                        {"desired_version", nullptr}, {"applied_group_version", nullptr},
                        {"desired_group_version", nullptr}, {"last_good_version", nullptr},
                        {"refused", nullptr}};
  // --- last good means ran (config_trial.h) ---
  ConfigTrial trial;
  struct LastGood {
    DaemonConfig config;
    std::string document;  // effective JSON; "" for the local file (never stored)
    json group_version;    // the group row it came from (null: none)
  };
  std::optional<LastGood> last_good;
  std::string running_document;     // effective JSON of `running` when ZooKeeper sent it
  json running_group_version = nullptr;  // the group row `running` came from (null: none)
  std::string refused_digest;       // of the config rolled back ("" none)
  json refused_entry;               // its status entry, shown again when it is sent again
  std::string worker_error;         // what the worker said before it exited (Failed event)
  std::uint64_t worker_error_run = 0, ready_run = 0;
  std::uint64_t trial_after_run = 0;  // runs after this one ran the config on trial
  LiveFilter in_flight_filter;        // the live filter change in flight (live_filter.h)
  std::uint64_t ready_awaits_ack = 0;  // a ready run whose filter answer decides (0: none)
  std::string worker_state = "stopped";
  std::string worker_degraded;  // the running worker's "degraded: ..." (Stats), "" when fine
  bool shutting_down = false;

  // --- status --------------------------------------------------------------

  // One document, kept with or without ZooKeeper: the fleet agent writes it
  // to the status node, the heartbeat sends it to the collector.
  json status_doc = json::object();

  void SetStatus(const char* key, json value, bool urgent) {
    status_doc[key] = value;
    if (fleet) fleet->SetStatus(key, std::move(value), urgent);
  }
  // Written to ZooKeeper at once, without the urgent writes' spacing.
  void SetStatusNow(const char* key, json value) {
    status_doc[key] = value;
    if (fleet) fleet->SetStatusNow(key, std::move(value));
  }
  void SetWorkerState(std::string state, bool urgent = true) {
    worker_state = std::move(state);
    json w = {{"state", worker_state}};
    if (!worker_degraded.empty() && worker_state == "running") w["degraded"] = worker_degraded;
    const json* before = status_doc.contains("worker") ? &status_doc["worker"] : nullptr;
    const bool news = !before || before->value("state", "") != worker_state ||
                      before->value("degraded", "") != w.value("degraded", "");
    if (worker) {
      const WorkerStats& s = worker->stats();
      w["pid"] = s.pid;
      w["starts"] = s.starts;
      w["unexpected_exits"] = s.unexpected_exits;
      w["crash_loop"] = s.crash_loop;
      w["seccomp_kills"] = s.seccomp_kills;
      w["handovers"] = s.handovers;
    }
    // Published at once only when it changed: the counters timer refreshes it
    // every 2 s, and an unchanged one rides the 5 s periodic write.
    const bool changed = !status_doc.contains("worker") || status_doc["worker"] != w;
    SetStatus("worker", w, urgent && changed);
    // The collector's liveness reads the worker's state: a change goes now, not a heartbeat
    // interval later (a restarted worker would show "starting" for up to 5 s).
    if (news) SendHeartbeatNow();
  }
  void SetApplied(std::int64_t version) {
    // Re-applying the running version (ZooKeeper holding no config yet) is not news.
    if (applied_version != version) {
      PICKET_LOG(kInfo, "supervisor", "config applied", {"version", version});
    }
    applied_version = version;
    config_status["applied_version"] = version;
    config_status["applied_group_version"] = running_group_version;
    SetStatusNow("config", config_status);
  }
  void SetLastError(const std::string& error) { SetStatus("last_error", error, true); }

  WorkerCounterTotals worker_totals;  // across worker restarts
  // `urgent`: a worker state that changed (pid, starts, crash loop) is written
  // to the status node at once; counters always wait for the periodic write.
  void PublishCounters(bool urgent = true) {
    json c = json::object();
    worker_totals.WriteTo(c);
    if (auto bc = store->Counters(); bc.ok()) {
      c["chunks_pending"] = bc->chunks_pending;
      c["bytes_pending"] = bc->chunk_bytes_pending + bc->batch_bytes_pending;
      c["batches_pending"] = bc->batches_pending;
      c["chunks_evicted"] = bc->chunks_evicted;
      c["bytes_evicted"] = bc->bytes_evicted;
      c["chunks_evicted_disk_full"] = bc->chunks_evicted_disk_full;
      c["packets_evicted"] = bc->packets_evicted;
      c["chunks_dead"] = bc->chunks_dead;
      c["batches_dead"] = bc->batches_dead;
      if (fleet) fleet->SetResultsPending(bc->result_batches_pending);
    }
    if (auto age = store->OldestPendingAgeS(SystemClock::Instance().WallMillis()); age.ok()) {
      c["oldest_pending_age_s"] = *age;
    }
    if (uploads) {
      const upload::UploadStats& u = uploads->stats();
      c["uploads_ok"] = u.chunks_ok + u.batches_ok;
      c["uploads_failed"] = u.failures;
      c["uploads_dead"] = u.dead;
      c["bytes_uploaded"] = u.bytes_sent;
    }
    SetStatus("counters", c, false);
    if (worker) SetWorkerState(worker_state, urgent);  // pid, starts, crash loop
  }
  static void OnCountersTimer(uv_timer_t* t) { static_cast<Daemon*>(t->data)->PublishCounters(); }

  // --- heartbeats ----------------------------------------------------------

  // (Re)starts the timer at upload.heartbeat_interval; the first one goes at once.
  void StartHeartbeats() {
    heartbeat_every = running.upload.heartbeat_interval;
    uv_timer_stop(&heartbeat_timer);
    if (heartbeat_every.count() <= 0) return;
    const auto every = static_cast<std::uint64_t>(heartbeat_every.count());
    uv_timer_start(&heartbeat_timer, &OnHeartbeatTimer, 0, every);
  }

  // A copy of the document goes to the scheduler, which sends only the newest
  // and never stores it: a heartbeat costs the buffer nothing.
  void SendHeartbeat() {
    if (!uploads || shutting_down) return;  // rebuilding: the next tick
    PublishCounters(/*urgent=*/false);
    HeartbeatFields f;
    f.sent_at_ms = SystemClock::Instance().WallMillis();
    f.interval_ms = heartbeat_every.count();
    f.uptime_s = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::steady_clock::now() - started)
                     .count();
    f.device = local.device.id;
    f.group = local.device.group;
    f.zk_configured = local.zookeeper.enabled();
    f.zk_connected = fleet && fleet->connected();
    f.disk_path = local.buffer.dir;
    if (auto disk = StatDisk(local.buffer.dir); disk.ok()) f.disk = *disk;
    if (fleet) f.scan = fleet->ScanStatus();
    uploads->SetHeartbeat(HeartbeatBody(status_doc, f));
  }
  static void OnHeartbeatTimer(uv_timer_t* t) { static_cast<Daemon*>(t->data)->SendHeartbeat(); }
  // Out of turn, for news the liveness rule reads; the next periodic one an interval later.
  void SendHeartbeatNow() {
    if (heartbeat_every.count() <= 0 || shutting_down) return;  // off: none at all
    SendHeartbeat();
    const auto every = static_cast<std::uint64_t>(heartbeat_every.count());
    uv_timer_start(&heartbeat_timer, &OnHeartbeatTimer, every, every);
  }

  // --- uploads -------------------------------------------------------------

  std::vector<std::string> Collectors() const {
    std::vector<std::string> all = running.upload.collectors;
    for (const auto& url : discovered_collectors) {
      // Anyone who can write <root>/collectors could otherwise collect this
      // device's traffic and token: only URLs the local config allows are used.
      if (auto why = RefuseCollectorUrl(running.upload, url, /*discovered=*/true)) {
        if (refused_collectors_logged.insert(url).second) {
          PICKET_LOG(kWarn, "supervisor", "discovered collector ignored", {"url", url},
                     {"reason", *why});
        }
        continue;
      }
      if (std::find(all.begin(), all.end(), url) == all.end()) all.push_back(url);
    }
    // Each device its own order: the fleet spreads evenly over the collectors
    // and a failed one's devices fail over to the rest (upload_scheduler).
    if (!running.upload.spread_collectors) return all;
    return RendezvousOrder(running.device.id, std::move(all));
  }

  Status StartUploads() {
    auto token = ReadToken(running.upload.token_file, "upload.token_file");
    if (!token.ok()) return token.status();
    upload::UploadSchedulerOptions up;
    up.collectors = Collectors();
    up.settings.device_id = running.device.id;
    up.settings.token = *token;
    up.settings.ca_file = running.upload.ca_file;
    if (!running.upload.client_key.empty()) {
      // libcurl reads the key itself; refuse it first when others can read it.
      auto key = ReadPrivateFile(running.upload.client_key, "upload.client_key");
      if (!key.ok()) return key.status();
      ::explicit_bzero(key->data(), key->size());
    }
    up.settings.client_cert = running.upload.client_cert;
    up.settings.client_key = running.upload.client_key;
    up.settings.gzip = running.upload.gzip;
    up.settings.zstd = running.upload.zstd;
    up.settings.connect_timeout = running.upload.connect_timeout;
    up.settings.low_speed_time = running.upload.low_speed_time;
    up.settings.low_speed_bytes = running.upload.low_speed_bytes;
    up.max_in_flight = running.upload.threads;
    up.retry_base = running.upload.retry_base;
    up.retry_max = running.upload.retry_max;
    uploads = std::make_unique<upload::UploadScheduler>(&loop, store.get(), std::move(up));
    return uploads->Start();
  }

  // New settings or collectors: let in-flight uploads finish, then start over.
  void RebuildUploads() {
    if (retiring_uploads || !uploads) {
      rebuild_uploads_again = true;
      return;
    }
    retiring_uploads = std::move(uploads);
    retiring_uploads->Stop([this] {
      inbox->Post([this] {  // not from inside the scheduler's own callback
        retiring_uploads.reset();
        if (shutting_down) return;
        if (Status st = StartUploads(); !st.ok()) {
          PICKET_LOG(kError, "supervisor", "uploads not restarted", {"error", st});
          SetLastError(st.ToString());
        }
        if (rebuild_uploads_again) {
          rebuild_uploads_again = false;
          RebuildUploads();
        }
      });
    });
  }

  // --- worker --------------------------------------------------------------

  bool WorkerNeeded() const {
    return running.capture.enabled || !running.scans.empty() || fleet != nullptr;
  }

  Status WriteWorkerConfig() {
    DaemonConfig for_worker = running;
    for_worker.upload.collectors = Collectors();  // all of them stay out of the capture
    return WriteFileAtomically(WorkerConfigPath(running), DaemonConfigToJson(for_worker));
  }

  // The control channel always: its stats feed the status document.
  std::vector<std::string> WorkerArgv() const {
    return {self_executable, "worker", "--config", WorkerConfigPath(running), "--control"};
  }

  Status StartWorker() {
    WorkerProcessOptions wo;
    wo.argv = WorkerArgv();
    if (logs) {
      LogShipper* shipper = logs.get();
      wo.on_stderr = [shipper](std::string_view bytes) { shipper->FeedWorkerOutput(bytes); };
    }
    wo.on_event = [this](worker_protocol::Event event, std::uint64_t run) {
      std::visit(WorkerEventHandler{*this, run}, std::move(event));
    };
    wo.on_seccomp_kill = [this](int pid) {
      SetLastError("worker " + std::to_string(pid) +
                   " killed by seccomp (SIGSYS): a system call outside the allowlist");
    };
    wo.on_exit = [this](const WorkerExit& exit) {
      if (fleet) fleet->OnWorkerExit();
      uv_timer_stop(&proven_timer);
      trial.OnExit();
      if (shutting_down) return;
      if (!exit.handed_over) SetWorkerState("restarting");  // else its successor captures already
      if (!exit.expected) OnWorkerFailed(exit);
    };
    worker = std::make_unique<WorkerProcess>(&loop, std::move(wo));
    PICKET_RETURN_IF_ERROR(worker->Start());
    in_flight_filter.Restarted(running.version);  // it reads the config file of this version
    SetWorkerState("starting");
    return Status::Ok();
  }

  // What the worker reports on its control channel (loop thread).
  struct WorkerEventHandler {
    Daemon& d;
    std::uint64_t run;  // which worker sent it
    void operator()(const worker_protocol::Ready& e) const { d.OnWorkerReady(e, run); }
    // Only a successor's, once WorkerProcess told its predecessor to hand over.
    void operator()(const worker_protocol::Armed& e) const { d.OnSuccessorArmed(e, run); }
    void operator()(const worker_protocol::Failed& e) const {
      // May come before or after the exit is seen: either way last_error gets its words.
      d.worker_error = e.what + ": " + e.error;
      d.worker_error_run = run;
      if (d.worker && d.worker->stats().starts == run) {  // not a worker rolled back since
        d.SetLastError("worker on config version " + std::to_string(d.running.version) + ": " +
                       d.worker_error);
      }
    }
    void operator()(const worker_protocol::FilterAck& e) const { d.OnFilterAck(e, run); }
    void operator()(worker_protocol::ShardEvent e) const {
      if (!d.fleet) return;  // shards come only from the fleet agent's commands
      std::optional<std::uint64_t> results_pending;
      if (auto n = d.store->ResultBatchesPending(); n.ok()) results_pending = *n;
      d.fleet->OnWorkerEvent(std::move(e), results_pending);
    }
    void operator()(const worker_protocol::Stats& e) const {
      d.worker_totals.Update(run, e);
      d.worker_degraded = e.degraded;
    }
  };

  // A restart's new capture owns every packet from now on (the switch time
  // has passed, see Sniffer::RequestHandOver): the config is applied, though
  // the new worker still waits for its predecessor to seal before it writes
  // (and before its scans start); it stays on trial until it ran.
  void OnSuccessorArmed(const worker_protocol::Armed& armed, std::uint64_t run) {
    if (armed.capturing_since_us == 0 ||
        !in_flight_filter.Current(armed.version, running.version) || !worker ||
        worker->stats().starts != run) {
      return;  // no capture to switch to, or an older config: Ready decides
    }
    SetWorkerState("running");
    SetApplied(running.version);  // what it runs may be older only by changes it need not know
  }

  void OnWorkerReady(const worker_protocol::Ready& ready, std::uint64_t run) {
    // A successor replaced before it got the buffer (a second change during a
    // hand-over) is ready as it hands over: the newest worker decides.
    if (!worker || worker->stats().starts != run) return;
    SetWorkerState("running");
    const auto readiness = in_flight_filter.OnReady(run, ready.version, running.version);
    if (readiness == LiveFilter::Readiness::kStale) {
      // It read its config before the latest change was written: run that one.
      RestartForNewest("worker ready on an older config", ready.version);
      return;
    }
    if (fleet) fleet->OnWorkerReady();
    switch (readiness) {
      case LiveFilter::Readiness::kAwaitAck:
        // The newest filter is on its way to it (a change during its hand-over):
        // its answer decides, not a restart.
        PICKET_LOG(kInfo, "supervisor", "worker ready; its answer to a live filter change decides",
                   {"worker_version", ready.version}, {"newest", running.version});
        ready_awaits_ack = run;
        uv_timer_start(&filter_ack_timer, &OnFilterAckTimer,
                       static_cast<std::uint64_t>(LiveFilter::kAckDeadline.count()), 0);
        return;
      default:
        break;
    }
    // A group-only change keeps the device version: the group's must be reported too.
    if (applied_version != running.version ||
        config_status["applied_group_version"] != running_group_version) {
      SetApplied(running.version);
    }
    StartProving(run);
  }

  // The worker of `run` runs the newest config: after proven_after it is last good.
  void StartProving(std::uint64_t run) {
    ready_run = run;
    trial.OnReady(running.version, SystemClock::Instance().MonotonicNow());
    const auto proof = static_cast<std::uint64_t>(trial.policy().proven_after.count());
    uv_timer_start(&proven_timer, &OnProvenTimer, proof, 0);
  }

  void RestartForNewest(const char* why, std::int64_t worker_version) {
    PICKET_LOG(kInfo, "supervisor", "restarting the worker to run the newest config", {"why", why},
               {"worker_version", worker_version}, {"newest", running.version});
    RestartWorker();
  }

  // The restarted worker reads the newest config from its file: no live filter is in flight.
  void RestartWorker() {
    ForgetLiveFilter();
    SetWorkerState("restarting");
    worker->Restart(WorkerArgv());
  }

  // Before a restart: the new worker reads the newest config from its file.
  void ForgetLiveFilter() {
    ready_awaits_ack = 0;
    uv_timer_stop(&filter_ack_timer);
    in_flight_filter.Restarted(running.version);
  }

  static void OnFilterAckTimer(uv_timer_t* t) {
    auto& d = *static_cast<Daemon*>(t->data);
    if (d.shutting_down || !d.worker || d.ready_awaits_ack == 0 ||
        d.worker->stats().starts != d.ready_awaits_ack) {
      return;
    }
    PICKET_LOG(kWarn, "supervisor", "the worker did not answer a live filter change in time",
               {"version", d.running.version}, {"waited_ms", LiveFilter::kAckDeadline.count()});
    d.RestartForNewest("live filter change not answered", d.running.version);
  }

  // The ready worker ran its config for proven_after: it is last good, and
  // any crash loop is over now.
  static void OnProvenTimer(uv_timer_t* t) {
    auto& d = *static_cast<Daemon*>(t->data);
    if (d.shutting_down || !d.worker || !d.worker->running() ||
        d.worker->stats().starts != d.ready_run) {
      return;
    }
    // libuv measured the delay from its cached loop time, older than the ready
    // stamp: the timer can fire a little early. Wait out the rest, then prove.
    const auto left = d.trial.UntilProven(SystemClock::Instance().MonotonicNow());
    if (left && left->count() > 0) {
      uv_timer_start(t, &OnProvenTimer, static_cast<std::uint64_t>(left->count()) + 1, 0);
      return;
    }
    d.worker->MarkHealthy();
    if (left) d.ProveRunning();
    d.SetWorkerState(d.worker_state);  // crash_loop: false
  }

  // `running` has run: it becomes last good (stored when ZooKeeper sent it).
  void ProveRunning() {
    trial.End();
    last_good = LastGood{running, running_document, running_group_version};
    config_status["last_good_version"] = running.version;
    SetStatus("config", config_status, true);
    if (running_document.empty()) return;
    if (Status st = store->PutState(kLastGoodKey, json{{"version", running.version},
                                                       {"group_version", running_group_version},
                                                       {"document", running_document}}.dump());
        !st.ok()) {
      PICKET_LOG(kWarn, "supervisor", "last good config not stored", {"error", st});
      return;
    }
    PICKET_LOG(kInfo, "supervisor", "config ran: now the last good one", {"version", running.version});
  }

  // An exit nobody asked for: its reason is the last error; a config on trial
  // that keeps failing goes back to the last good one.
  // Why the worker of `exit` failed: its own words when they came (the control
  // line and the exit are read in either order), else how it ended, with what
  // an earlier run of the same config on trial said.
  std::string WorkerFailure(const WorkerExit& exit) const {
    if (worker_error_run == exit.run && !worker_error.empty()) return worker_error;
    std::string how = exit.term_signal != 0 ? "killed by signal " + std::to_string(exit.term_signal)
                                            : "exited with status " + std::to_string(exit.exit_status);
    if (trial.on_trial() && worker_error_run > trial_after_run && !worker_error.empty()) {
      how += " (an earlier run: " + worker_error + ")";
    }
    return how;
  }

  void OnWorkerFailed(const WorkerExit& exit) {
    const std::string why = WorkerFailure(exit);
    SetLastError("worker on config version " + std::to_string(running.version) + " failed after " +
                 std::to_string(exit.ran.count()) + " ms: " + why);
    if (!trial.OnFailure(SystemClock::Instance().MonotonicNow())) return;
    // Same device version with another document: a group-only change, which can be rolled back.
    if (!last_good || (last_good->config.version == running.version &&
                       last_good->document == running_document)) {
      PICKET_LOG(kError, "supervisor", "config keeps failing and there is no last good one to return to",
                 {"version", running.version}, {"failures", trial.failures()}, {"error", why});
      return;
    }
    // Not from inside the worker's exit callback (and its last words may still be in the pipe).
    inbox->Post([this, exit] { RollBack(WorkerFailure(exit)); });
  }

  void RollBack(const std::string& why) {
    if (shutting_down || !last_good || !trial.on_trial()) return;
    const std::int64_t bad = trial.version();
    const TrialPolicy& p = trial.policy();
    const std::string error = "worker failed " + std::to_string(trial.failures()) + " times within " +
                              std::to_string(p.failure_window.count() / 1000) + " s: " + why;
    config_status["refused"] = {{"version", bad},
                                {"group_version", running_group_version},
                                {"error", error},
                                {"errors", json::array({error})},
                                {"rolled_back_to", last_good->config.version},
                                {"at_ms", SystemClock::Instance().WallMillis()}};
    refused_entry = config_status["refused"];
    refused_digest = Sha256Hex(running_document);
    if (Status st = store->PutState(kRefusedKey,
                                    json{{"digest", refused_digest}, {"refusal", refused_entry}}.dump());
        !st.ok()) {
      PICKET_LOG(kWarn, "supervisor", "refused config not stored", {"error", st});
    }
    PICKET_LOG(kError, "supervisor", "config rolled back: its worker keeps failing", {"version", bad},
               {"to", last_good->config.version}, {"error", why});
    config_status["source"] = "last_good";
    SetStatus("config", config_status, true);
    trial.End();
    const DaemonConfig to = last_good->config;
    running_document = last_good->document;
    running_group_version = last_good->group_version;
    SwitchTo(to);
    SetLastError("config version " + std::to_string(bad) + " rolled back to version " +
                 std::to_string(to.version) + ": " + error);
    if (Status st = WriteWorkerConfig(); !st.ok()) {
      SetLastError(st.ToString());
      return;
    }
    RestartWorker();
  }

  // `running` becomes `next`, with what that takes besides the worker.
  ConfigDelta SwitchTo(const DaemonConfig& next) {
    const ConfigDelta delta = CompareConfigs(running, next);
    running = next;
    if (delta.log_level) log::SetLevel(running.log.level);
    if (delta.uploads) RebuildUploads();
    if (running.upload.heartbeat_interval != heartbeat_every) StartHeartbeats();
    return delta;
  }

  void OnFilterAck(const worker_protocol::FilterAck& ack, std::uint64_t run) {
    in_flight_filter.Acked(run, ack.version, ack.ok);
    const bool ready_waits =
        ready_awaits_ack != 0 && ready_awaits_ack == run && worker && worker->stats().starts == run;
    if (ready_waits) {
      switch (in_flight_filter.Answer(run, running.version)) {
        case LiveFilter::Readiness::kAwaitAck:
          break;  // an answer for an older filter: the newest is still on its way
        case LiveFilter::Readiness::kAcked:
          ready_awaits_ack = 0;
          uv_timer_stop(&filter_ack_timer);
          SetApplied(running.version);
          StartProving(run);
          return;
        default:
          RestartForNewest("live filter change refused", ack.version);
          return;
      }
    }
    if (ack.ok) {
      if (ack.version == running.version) {
        SetApplied(ack.version);
        if (!trial.on_trial()) ProveRunning();  // the proven worker runs the new filter
      }
    } else if (worker_state == "running" && worker && worker->stats().starts == run) {
      // Not a starting worker (it reads the file instead), nor a predecessor that
      // stopped capturing before it came (its successor was sent it too).
      SetLastError("filter of config version " + std::to_string(ack.version) +
                   " not applied: " + ack.error);
    }
  }

  // --- config from ZooKeeper -----------------------------------------------

  void ApplyConfig(const std::string& document, std::int64_t version, std::int64_t group_version,
                   const char* source) {
    version = std::max<std::int64_t>(version, 0);  // -1: no device node yet
    const json group = group_version >= 0 ? json(group_version) : json();  // no group node: null
    config_status["desired_version"] = version;
    config_status["desired_group_version"] = group;
    std::string effective;
    ConfigCheck check = CheckZooKeeperConfig(local, document, version, &effective);
    if (!check.ok()) {
      json errors = json::array();
      for (const auto& e : check.errors) errors.push_back(e.ToString());
      // "error" (the first message) is what the collector's fleet view shows.
      config_status["refused"] = {{"version", version},
                                  {"group_version", group},
                                  {"error", check.errors.front().ToString()},
                                  {"errors", errors},
                                  {"at_ms", SystemClock::Instance().WallMillis()}};
      SetStatus("config", config_status, true);
      SetLastError("config version " + std::to_string(version) + " refused: " +
                   check.errors.front().ToString());
      PICKET_LOG(kError, "supervisor", "config refused; the running one stays",
                 {"version", version}, {"errors", check.errors.size()},
                 {"first", check.errors.front().ToString()}, {"running", applied_version});
      return;
    }
    if (!refused_digest.empty() && Sha256Hex(effective) == refused_digest) {
      // Its worker failed and it was rolled back: never booted again.
      config_status["refused"] = refused_entry;
      SetStatus("config", config_status, true);
      PICKET_LOG(kWarn, "supervisor", "config was rolled back before; not applied again",
                 {"version", version}, {"running", running.version});
      return;
    }
    config_status["refused"] = nullptr;
    config_status["source"] = source;
    const bool was_on_trial = trial.on_trial();
    running_document = effective;
    running_group_version = group;
    const ConfigDelta delta = SwitchTo(check.config);
    // A worker on an older config is current unless a change since concerns it (live_filter.h).
    if (delta.restart_worker || delta.filter_only) in_flight_filter.WorkerNeeds(version);
    // A restarted worker must prove this config; one still on trial goes on proving it.
    if (delta.restart_worker && worker) {
      trial.Begin(version);
      trial_after_run = worker->stats().starts;
    } else if (was_on_trial) {
      trial.Retarget(version);
    }
    const bool live_filter =
        !(delta.restart_worker && worker) && delta.filter_only && worker && worker->running();
    // The running worker gets its new filter before the file for its next start
    // is written (two fsyncs, 5-10 ms): a restart is only made on this thread,
    // after the file is written.
    if (live_filter) {
      const std::uint64_t run =
          worker->SendControl(worker_protocol::FilterCommand{running.capture.filter, version});
      if (run != 0) in_flight_filter.Sent(run, version);
    }
    if (Status st = WriteWorkerConfig(); !st.ok()) {
      SetLastError(st.ToString());
      PICKET_LOG(kError, "supervisor", "worker config not written", {"error", st});
      return;
    }
    if (delta.restart_worker && worker) {
      PICKET_LOG(kInfo, "supervisor", "config changes capture or scans: restarting the worker",
                 {"version", version});
      RestartWorker();
    } else if (live_filter) {
      // Applied when the worker acknowledges it (OnFilterAck).
    } else {
      SetApplied(version);  // nothing the worker must do (or it reads it when it starts)
      if (!trial.on_trial()) ProveRunning();  // the proven worker runs on unchanged
    }
  }

  void OnCollectors(std::vector<std::string> urls) {
    const std::vector<std::string> before = Collectors();
    discovered_collectors = std::move(urls);
    if (Collectors() == before) return;
    RebuildUploads();
    if (Status st = WriteWorkerConfig(); st.ok() && worker && running.capture.enabled) {
      ForgetLiveFilter();
      worker->Restart(WorkerArgv());  // new endpoints to keep out of the capture
    }
  }

  // A device that boots while ZooKeeper is down runs what it ran last.
  void LoadLastGood() {
    auto raw = store->GetState(kLastGoodKey);
    if (!raw.ok() || !raw->has_value()) return;
    json saved = json::parse(**raw, nullptr, false);
    if (saved.is_discarded()) return;
    const std::int64_t version = saved.value("version", std::int64_t{0});
    ConfigCheck check = CheckZooKeeperConfig(local, saved.value("document", ""), version, nullptr);
    if (!check.ok()) {
      PICKET_LOG(kWarn, "supervisor", "stored last good config no longer valid; using the file",
                 {"error", check.ToStatus()});
      return;
    }
    running = check.config;
    running_document = saved.value("document", "");
    running_group_version = saved.value("group_version", json());
    if (!running_group_version.is_number_integer()) running_group_version = nullptr;
    last_good = LastGood{running, running_document, running_group_version};
    config_status["source"] = "last_good";
    config_status["last_good_version"] = version;
    PICKET_LOG(kInfo, "supervisor", "starting on the last good config from ZooKeeper",
               {"version", version});
  }

  // The config rolled back last: refused again (not booted) if ZooKeeper still sends it.
  void LoadRefused() {
    auto raw = store->GetState(kRefusedKey);
    if (!raw.ok() || !raw->has_value()) return;
    json saved = ParseJsonBounded(**raw);
    if (!saved.is_object() || !saved.contains("digest") || !saved["digest"].is_string()) return;
    refused_digest = saved["digest"].get<std::string>();
    refused_entry = saved.value("refusal", json());
  }

  // --- lifecycle -----------------------------------------------------------

  void Shutdown(int signum) {
    if (shutting_down) return;
    shutting_down = true;
    PICKET_LOG(kInfo, "supervisor", "shutting down", {"signal", signum});
    // Stopped while its worker runs it without a failure: it ran until told to stop.
    if (trial.RunningCleanly() && trial.version() == running.version) ProveRunning();
    uv_timer_stop(&counters_timer);
    uv_timer_stop(&heartbeat_timer);
    uv_timer_stop(&proven_timer);
    uv_timer_stop(&filter_ack_timer);
    auto stop_uploads = [this] {
      if (fleet) fleet->Stop();  // after the worker: its last checkpoints are written
      if (logs) logs->Stop();    // what is queued goes into the buffer, shipped at next start
      if (uploads) {
        uploads->Stop([this] { CloseHandles(); });
      } else {
        CloseHandles();
      }
    };
    if (worker) {
      worker->Stop(stop_uploads);  // the worker seals its open chunk first
    } else {
      stop_uploads();
    }
  }

  void CloseHandles() {
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&counters_timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&heartbeat_timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&proven_timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&filter_ack_timer), nullptr);
    if (inbox) inbox->Close();
    worker.reset();  // closes its timers
    uploads.reset();
    retiring_uploads.reset();
    logs.reset();
  }

  static void OnSignal(uv_signal_t* handle, int signum) {
    static_cast<Daemon*>(handle->data)->Shutdown(signum);
  }
};


Status Daemon::StartFleet() {
  const ZooKeeperSection& zk = local.zookeeper;
  FleetAgentOptions fo;
  fo.zk.hosts = zk.hosts;
  fo.zk.session_timeout_ms = zk.session_timeout_ms;
  PICKET_RETURN_IF_ERROR(zk::RequireZkCredentials(!zk.auth_user.empty(), zk.allow_open_acl,
                                                  "zookeeper.allow_open_acl",
                                                  "zookeeper.auth_user"));
  if (!zk.auth_user.empty()) {
    auto password = ReadToken(zk.auth_password_file, "zookeeper.auth_password_file");
    if (!password.ok()) return password.status();
    fo.zk.auth_user = zk.auth_user;
    fo.zk.auth_password = *password;
  }
  if (!zk.fleet_password_file.empty()) {  // shared jobs, as picket-fleet (zk/acl_policy.h)
    auto password = ReadToken(zk.fleet_password_file, "zookeeper.fleet_password_file");
    if (!password.ok()) return password.status();
    fo.zk.more_auth.push_back({std::string(zk::kFleetUser), *password});
  }
  fo.root = zk.root;
  fo.device_id = local.device.id;
  fo.group = local.device.group;
  FleetAgentHooks hooks;
  hooks.on_config = [this](std::string document, std::int64_t version, std::int64_t group_version) {
    inbox->Post([this, document = std::move(document), version, group_version] {
      if (!shutting_down) ApplyConfig(document, version, group_version, "zookeeper");
    });
  };
  hooks.on_collectors = [this](std::vector<std::string> urls) {
    inbox->Post([this, urls = std::move(urls)]() mutable {
      if (!shutting_down) OnCollectors(std::move(urls));
    });
  };
  hooks.to_worker = [this](worker_protocol::Command command) {
    inbox->Post([this, command = std::move(command)] {
      if (worker) worker->SendControl(command);
    });
  };
  // The first heartbeat goes before the session is up: tell the collector at once when it
  // connects or drops, not a heartbeat interval later (the page would show "ZooKeeper lost").
  hooks.on_session = [this](bool) {
    inbox->Post([this] {
      if (!shutting_down) SendHeartbeatNow();
    });
  };
  fleet = std::make_unique<FleetAgent>(std::move(fo), std::move(hooks));
  for (const auto& [key, value] : status_doc.items()) fleet->SetStatus(key, value, false);
  return fleet->Start();
}

// Root start: the spool goes to the worker's user, then the supervisor keeps
// effective only what it uses itself — CAP_DAC_OVERRIDE (read, upload and
// delete the chunks and rows the worker's user owns), CAP_CHOWN (SQLite hands
// a journal it creates to the database's owner), CAP_KILL (signal a worker of
// another uid) — and bounds what a worker started as root gets: those plus
// CAP_NET_RAW (capture, raw sockets), CAP_SETUID/CAP_SETGID (its switch) and
// CAP_SETPCAP (it empties its own bounding set). No thread runs yet: all later
// ones inherit it.
Status Daemon::HandOverAndLimit(const capture::RunAsUser& user) {
  if (user.uid != 0) {
    PICKET_RETURN_IF_ERROR(CheckReachable(local.buffer.dir, user.uid, user.gid, user.name));
    PICKET_RETURN_IF_ERROR(GiveSpoolTo(local.buffer.dir, user.uid, user.gid));
  }
  PICKET_RETURN_IF_ERROR(capture::LimitCapabilities(
      {CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_KILL},
      {CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_KILL, CAP_NET_RAW, CAP_SETUID, CAP_SETGID, CAP_SETPCAP}));
  PICKET_LOG(kInfo, "supervisor", "privileges limited", {"spool_owner", user.name},
             {"effective", "CAP_DAC_OVERRIDE,CAP_CHOWN,CAP_KILL"},
             {"bounding", "+CAP_NET_RAW,CAP_SETUID,CAP_SETGID,CAP_SETPCAP"});
  return Status::Ok();
}

int Daemon::Run() {
  auto fail = [](const std::string& what, const Status& st) {
    PICKET_LOG(kError, "supervisor", "cannot start", {"what", what}, {"error", st});
    return 1;
  };
  // The worker, under its lock, removes orphan chunk files; the supervisor must not.
  // Root: the worker becomes security.user, which must exist before anything starts.
  std::optional<capture::RunAsUser> worker_user;
  if (::geteuid() == 0) {
    auto user = capture::LookUpUser(local.security.user, "security.user");
    if (!user.ok()) return fail("security.user", user.status());
    worker_user = *user;
  }
  auto opened = buffer::OpenSqliteBuffer({local.buffer.dir, local.buffer.max_bytes, false});
  if (!opened.ok()) return fail("buffer " + local.buffer.dir, opened.status());
  store = std::move(*opened);
  if (worker_user) {
    if (Status st = HandOverAndLimit(*worker_user); !st.ok()) return fail("privileges", st);
  }
  if (local.zookeeper.enabled()) {
    LoadLastGood();
    LoadRefused();
  }
  if (!last_good) trial.Begin(running.version);  // the file's config must prove itself too

  // libuv's pool size is process-global and read at its first use.
  const std::string pool = std::to_string(running.upload.threads);
  ::setenv("UV_THREADPOOL_SIZE", pool.c_str(), 1);
  uv_loop_init(&loop);
  inbox = std::make_unique<LoopInbox>(&loop);
  sigterm.data = sigint.data = counters_timer.data = heartbeat_timer.data = proven_timer.data =
      filter_ack_timer.data = this;
  uv_signal_init(&loop, &sigterm);
  uv_signal_init(&loop, &sigint);
  uv_signal_start(&sigterm, &OnSignal, SIGTERM);
  uv_signal_start(&sigint, &OnSignal, SIGINT);
  uv_timer_init(&loop, &counters_timer);
  uv_timer_init(&loop, &heartbeat_timer);
  uv_timer_init(&loop, &proven_timer);
  uv_timer_init(&loop, &filter_ack_timer);
  ::signal(SIGPIPE, SIG_IGN);

  SetStatus("picketd", std::string(PicketVersion()), false);
  SetStatus("pid", ::getpid(), false);
  SetStatus("started_at_ms", SystemClock::Instance().WallMillis(), false);
  SetStatus("config", config_status, false);
  SetStatus("worker", {{"state", worker_state}}, false);
  SetStatus("last_error", nullptr, false);
  if (local.zookeeper.enabled()) {
    if (Status st = StartFleet(); !st.ok()) return fail("zookeeper", st);
    // First at once: `picket devices` should not show a fresh device without counters.
    uv_timer_start(&counters_timer, &OnCountersTimer, 0, 2000);
  }
  if (Status st = WriteWorkerConfig(); !st.ok()) return fail("worker config", st);
  if (Status st = StartUploads(); !st.ok()) return fail("uploads", st);
  StartHeartbeats();
  if (running.log.ship) {
    logs = std::make_unique<LogShipper>(&loop, store.get());
    logs->Start();
  }
  if (WorkerNeeded()) {
    if (Status st = StartWorker(); !st.ok()) return fail("worker", st);
  }
  PICKET_LOG(kInfo, "supervisor", "running", {"config", config_source},
             {"device", running.device.id}, {"buffer", running.buffer.dir},
             {"collectors", running.upload.collectors.size()},
             {"capture", running.capture.enabled ? running.capture.interface : "off"},
             {"zookeeper", local.zookeeper.enabled() ? local.zookeeper.hosts : "off"});
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop);
  PICKET_LOG(kInfo, "supervisor", "stopped", {"loop_close", rc});
  return 0;
}

}  // namespace

std::string WorkerConfigPath(const DaemonConfig& config) {
  return config.buffer.dir + "/worker-config.json";
}

int RunDaemon(const RunOptions& options) {
  Daemon daemon(options);
  return daemon.Run();
}

}  // namespace picket::supervisor
