#include "worker_process.h"

#include <unistd.h>  // environ

#include <csignal>
#include <string_view>

#include "picket/common/log.h"

namespace picket::supervisor {

namespace {

void CloseAndDelete(uv_handle_t* handle) {
  if (!handle) return;
  handle->data = nullptr;
  uv_close(handle, [](uv_handle_t* h) {
    if (h->type == UV_PROCESS) delete reinterpret_cast<uv_process_t*>(h);
    else if (h->type == UV_NAMED_PIPE) delete reinterpret_cast<uv_pipe_t*>(h);
    else delete reinterpret_cast<uv_timer_t*>(h);
  });
}

uv_timer_t* NewTimer(uv_loop_t* loop, void* owner) {
  auto* timer = new uv_timer_t;
  uv_timer_init(loop, timer);
  timer->data = owner;
  return timer;
}

}  // namespace

WorkerProcess::WorkerProcess(uv_loop_t* loop, WorkerProcessOptions options)
    : loop_(loop),
      options_(std::move(options)),
      restart_timer_(NewTimer(loop_, this)),
      kill_timer_(NewTimer(loop_, this)),
      retire_kill_timer_(NewTimer(loop_, this)),
      arm_timer_(NewTimer(loop_, this)),
      backoff_(options_.restart_base, options_.restart_max) {}

WorkerProcess::~WorkerProcess() {
  if (process_) {
    // Never leave an orphan: the owner should have called Stop(), but a child
    // outliving its supervisor would keep capturing with nobody uploading.
    uv_process_kill(process_, SIGKILL);
    CloseAndDelete(reinterpret_cast<uv_handle_t*>(process_));
  }
  if (predecessor_) {
    uv_process_kill(predecessor_->process, SIGKILL);
    CloseAndDelete(reinterpret_cast<uv_handle_t*>(predecessor_->process));
    if (predecessor_->control_in) CloseAndDelete(reinterpret_cast<uv_handle_t*>(predecessor_->control_in));
  }
  for (auto& [process, pid] : retired_) {
    uv_process_kill(process, SIGKILL);
    CloseAndDelete(reinterpret_cast<uv_handle_t*>(process));
  }
  for (uv_pipe_t* pipe : stderr_pipes_) CloseAndDelete(reinterpret_cast<uv_handle_t*>(pipe));
  for (auto& [pipe, partial] : control_out_) CloseAndDelete(reinterpret_cast<uv_handle_t*>(pipe));
  if (control_in_) CloseAndDelete(reinterpret_cast<uv_handle_t*>(control_in_));
  CloseAndDelete(reinterpret_cast<uv_handle_t*>(restart_timer_));
  CloseAndDelete(reinterpret_cast<uv_handle_t*>(kill_timer_));
  CloseAndDelete(reinterpret_cast<uv_handle_t*>(retire_kill_timer_));
  CloseAndDelete(reinterpret_cast<uv_handle_t*>(arm_timer_));
}

Status WorkerProcess::Start() { return Spawn(); }

Status WorkerProcess::Spawn() {
  std::vector<char*> args;
  for (auto& a : options_.argv) args.push_back(a.data());
  args.push_back(nullptr);
  uv_process_options_t opts{};
  opts.file = args[0];
  opts.args = args.data();
  // A successor learns whom it replaces: it takes the buffer after that one.
  std::vector<std::string> env_text;
  std::vector<char*> env;
  if (predecessor_) {
    const std::string key = std::string(worker_protocol::kPredecessorEnv) + "=";
    for (char** e = environ; *e; ++e) {
      if (std::string_view(*e).substr(0, key.size()) != key) env_text.emplace_back(*e);
    }
    env_text.push_back(key + std::to_string(predecessor_->pid));
    for (auto& e : env_text) env.push_back(e.data());
    env.push_back(nullptr);
    opts.env = env.data();
  }
  opts.exit_cb = &OnExit;
  uv_stdio_container_t stdio[3];
  for (int i = 0; i < 3; ++i) {
    stdio[i].flags = UV_INHERIT_FD;  // the worker logs to the same stderr
    stdio[i].data.fd = i;
  }
  uv_pipe_t* err_pipe = nullptr;
  if (options_.on_stderr) {
    err_pipe = new uv_pipe_t;
    uv_pipe_init(loop_, err_pipe, 0);
    err_pipe->data = this;
    stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(err_pipe);
  }
  uv_pipe_t* in_pipe = nullptr;
  uv_pipe_t* out_pipe = nullptr;
  if (options_.on_event) {
    in_pipe = new uv_pipe_t;
    out_pipe = new uv_pipe_t;
    uv_pipe_init(loop_, in_pipe, 0);
    uv_pipe_init(loop_, out_pipe, 0);
    in_pipe->data = out_pipe->data = this;
    stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
    stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(in_pipe);
    stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(out_pipe);
  }
  opts.stdio = stdio;
  opts.stdio_count = 3;
  auto* process = new uv_process_t;
  process->data = this;
  int rc = uv_spawn(loop_, process, &opts);
  if (rc != 0) {
    CloseAndDelete(reinterpret_cast<uv_handle_t*>(process));
    for (uv_pipe_t* p : {err_pipe, in_pipe, out_pipe}) {
      if (p) CloseAndDelete(reinterpret_cast<uv_handle_t*>(p));
    }
    return Status::Unavailable("spawn " + options_.argv[0] + ": " + uv_strerror(rc));
  }
  if (in_pipe) {
    if (control_in_) CloseAndDelete(reinterpret_cast<uv_handle_t*>(control_in_));
    control_in_ = in_pipe;
    control_out_[out_pipe] = ControlOut{std::string(), stats_.starts + 1};  // this run's number
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(out_pipe),
        [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
          buf->base = new char[suggested];
          buf->len = suggested;
        },
        &OnControlRead);
  }
  if (err_pipe) {
    stderr_pipes_.insert(err_pipe);
    // The pipe lives until the worker closes its end (EOF), then closes itself.
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(err_pipe),
        [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
          buf->base = new char[suggested];
          buf->len = suggested;
        },
        &OnStderrRead);
  }
  process_ = process;
  started_at_ = std::chrono::steady_clock::now();
  ++stats_.starts;
  stats_.pid = process->pid;
  PICKET_LOG(kInfo, "supervisor", "worker started", {"pid", process->pid},
             {"start", stats_.starts});
  return Status::Ok();
}

void WorkerProcess::OnExit(uv_process_t* process, int64_t exit_status, int term_signal) {
  auto* self = static_cast<WorkerProcess*>(process->data);
  CloseAndDelete(reinterpret_cast<uv_handle_t*>(process));
  if (!self) return;
  if (auto it = self->retired_.find(process); it != self->retired_.end()) {
    if (exit_status != 0 || term_signal != 0) {  // after handing over: its seal was done
      PICKET_LOG(kWarn, "supervisor", "previous worker exited badly after handing over",
                 {"pid", it->second}, {"status", exit_status}, {"signal", term_signal});
    }
    self->retired_.erase(it);
    if (self->retired_.empty() && !(self->predecessor_ && self->predecessor_->handed_over)) {
      uv_timer_stop(self->retire_kill_timer_);
    }
    if (self->restart_after_handover_ && !self->stopping_ && self->retired_.empty() &&
        self->predecessor_ && self->predecessor_->handed_over && self->process_) {
      self->Restart(self->options_.argv);  // a restart that waited for the worker two back
      return;
    }
    self->FinishStopWhenDone();
    return;
  }
  if (self->predecessor_ && self->predecessor_->process == process) {
    self->HandlePredecessorExit(exit_status, term_signal);
  } else {
    self->HandleExit(exit_status, term_signal);
  }
}

void WorkerProcess::HandleExit(int64_t exit_status, int term_signal) {
  process_ = nullptr;
  if (control_in_) {
    CloseAndDelete(reinterpret_cast<uv_handle_t*>(control_in_));
    control_in_ = nullptr;
  }
  uv_timer_stop(kill_timer_);
  stats_.last_exit_status = static_cast<int>(exit_status);
  stats_.last_term_signal = term_signal;
  const int pid = stats_.pid;
  stats_.pid = 0;
  const auto ran = std::chrono::steady_clock::now() - started_at_;
  const auto ran_ms = std::chrono::duration_cast<std::chrono::milliseconds>(ran).count();
  // A successor that died before arming: its events first, then its exit.
  const bool before_arming = predecessor_ && !predecessor_->handed_over;
  if (before_arming) ReleaseHeldEvents();
  if (options_.on_exit) {
    options_.on_exit(WorkerExit{stats_.starts, static_cast<int>(exit_status), term_signal,
                                std::chrono::milliseconds(ran_ms), stopping_ || restart_requested_});
  }
  if (stopping_) {
    PICKET_LOG(kInfo, "supervisor", "worker stopped", {"status", exit_status},
               {"signal", term_signal}, {"ran_ms", ran_ms});
    FinishStopWhenDone();
    return;
  }
  if (before_arming) RestorePredecessor();
  if (restart_requested_) {
    restart_requested_ = false;
    PICKET_LOG(kInfo, "supervisor", "worker exited for restart", {"status", exit_status});
    if (Status st = Spawn(); !st.ok()) {
      PICKET_LOG(kError, "supervisor", "worker restart failed", {"error", st});
      ScheduleRestart();
    }
    return;
  }
  ++stats_.unexpected_exits;
  if (term_signal == SIGSYS) {
    ++stats_.seccomp_kills;
    PICKET_LOG(kError, "supervisor",
               "worker killed by seccomp: a system call outside the allowlist (SIGSYS)",
               {"pid", pid}, {"seccomp_kills", stats_.seccomp_kills});
    if (options_.on_seccomp_kill) options_.on_seccomp_kill(pid);
  }
  if (ran < options_.healthy_after) {
    ++quick_exits_;
  } else {
    quick_exits_ = 0;
    backoff_.Reset();
  }
  if (quick_exits_ >= options_.crash_loop_restarts && !stats_.crash_loop) {
    stats_.crash_loop = true;
    PICKET_LOG(kError, "supervisor", "worker is crash-looping", {"quick_exits", quick_exits_},
               {"status", exit_status}, {"signal", term_signal});
  }
  if (quick_exits_ == 0) stats_.crash_loop = false;
  PICKET_LOG(kWarn, "supervisor", "worker exited unexpectedly", {"status", exit_status},
             {"signal", term_signal}, {"ran_ms", ran_ms});
  ScheduleRestart();
}

void WorkerProcess::ScheduleRestart() {
  auto delay = backoff_.Next();
  PICKET_LOG(kInfo, "supervisor", "restarting worker", {"in_ms", delay.count()});
  uv_timer_start(restart_timer_, &OnRestartTimer, static_cast<std::uint64_t>(delay.count()), 0);
}

void WorkerProcess::OnRestartTimer(uv_timer_t* timer) {
  auto* self = static_cast<WorkerProcess*>(timer->data);
  if (!self || self->stopping_) return;
  if (self->process_) {  // the predecessor kept running after a failed successor: try again
    self->Restart(self->options_.argv);
    return;
  }
  if (Status st = self->Spawn(); !st.ok()) {
    PICKET_LOG(kError, "supervisor", "worker restart failed", {"error", st});
    self->ScheduleRestart();
  }
}

void WorkerProcess::OnStderrRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<WorkerProcess*>(stream->data);
  if (nread > 0 && self && self->options_.on_stderr) {
    self->options_.on_stderr(std::string_view(buf->base, static_cast<std::size_t>(nread)));
  }
  delete[] buf->base;
  if (nread < 0) {
    if (self) self->stderr_pipes_.erase(reinterpret_cast<uv_pipe_t*>(stream));
    CloseAndDelete(reinterpret_cast<uv_handle_t*>(stream));
  }
}

void WorkerProcess::OnControlRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<WorkerProcess*>(stream->data);
  auto* pipe = reinterpret_cast<uv_pipe_t*>(stream);
  if (nread > 0 && self) {
    ControlOut& out = self->control_out_[pipe];
    std::string& partial = out.partial;
    partial.append(buf->base, static_cast<std::size_t>(nread));
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (nl == start) continue;
      auto event = worker_protocol::ParseEvent(std::string_view(partial).substr(start, nl - start));
      if (!event.ok()) {
        PICKET_LOG(kWarn, "supervisor", "unreadable worker event ignored", {"bytes", nl - start},
                   {"error", event.status()});
        continue;
      }
      const bool from_successor = self->predecessor_ && out.run == self->stats_.starts;
      const auto* armed = std::get_if<worker_protocol::Armed>(&*event);
      if (armed) {
        // A first worker's has nothing to hand over; a successor's is passed
        // on once its predecessor was told to.
        if (!from_successor || !self->HandOver(armed->capturing_since_us)) continue;
      } else if (from_successor && !std::holds_alternative<worker_protocol::FilterAck>(*event)) {
        self->held_events_.emplace_back(std::move(*event), out.run);
        continue;
      }
      self->options_.on_event(std::move(*event), out.run);
    }
    partial.erase(0, start);
    if (partial.size() > worker_protocol::kMaxLineBytes) partial.clear();  // a runaway line: drop it, keep the channel
  }
  delete[] buf->base;
  if (nread < 0) {
    std::uint64_t run = 0;
    if (self) {
      run = self->control_out_[pipe].run;
      self->control_out_.erase(pipe);
    }
    CloseAndDelete(reinterpret_cast<uv_handle_t*>(stream));
    // A predecessor closes its channel once it has released the buffer: it is
    // done for the owner, even while the kernel still tears its capture down.
    if (self && self->predecessor_ && self->predecessor_->handed_over && self->predecessor_->run == run) {
      self->RetirePredecessor();
    }
  }
}

std::uint64_t WorkerProcess::SendControl(const worker_protocol::Command& command) {
  // Until its exit is reported the predecessor is the owner's worker, but a
  // filter change after the hand-over is for the capture that runs on.
  const bool for_capture = std::holds_alternative<worker_protocol::FilterCommand>(command);
  if (predecessor_ && for_capture && process_) {
    // Not yet armed, the successor read its config already: the predecessor
    // captures until the switch, the successor installs it as its capture starts.
    if (!predecessor_->handed_over) WriteControl(predecessor_->control_in, command);
    return WriteControl(control_in_, command) ? stats_.starts : 0;
  }
  if (predecessor_) return WriteControl(predecessor_->control_in, command) ? predecessor_->run : 0;
  if (!process_) return 0;
  return WriteControl(control_in_, command) ? stats_.starts : 0;
}

bool WorkerProcess::WriteControl(uv_pipe_t* pipe, const worker_protocol::Command& command) {
  if (!pipe) return false;
  struct WriteRequest {
    uv_write_t req;
    std::string data;
  };
  auto* w = new WriteRequest{{}, worker_protocol::EncodeCommand(command)};
  w->data.push_back('\n');
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(pipe), &buf, 1,
                    [](uv_write_t* req, int) { delete static_cast<WriteRequest*>(req->data); });
  if (rc != 0) {
    delete w;
    return false;
  }
  return true;
}

void WorkerProcess::OnKillTimer(uv_timer_t* timer) {
  auto* self = static_cast<WorkerProcess*>(timer->data);
  if (!self || !self->process_) return;
  PICKET_LOG(kWarn, "supervisor", "worker ignored SIGTERM, killing", {"pid", self->process_->pid});
  uv_process_kill(self->process_, SIGKILL);
}

void WorkerProcess::Stop(std::function<void()> done) {
  stopping_ = true;
  uv_timer_stop(restart_timer_);
  uv_timer_stop(arm_timer_);
  on_stopped_ = std::move(done);
  const auto grace = static_cast<std::uint64_t>(options_.stop_grace.count());
  if (predecessor_ && !predecessor_->handed_over) {
    predecessor_->handed_over = true;  // no successor will take over now
    uv_process_kill(predecessor_->process, SIGTERM);
    uv_timer_start(retire_kill_timer_, &OnRetireKillTimer, grace, 0);
  }
  if (process_) {
    uv_process_kill(process_, SIGTERM);
    uv_timer_start(kill_timer_, &OnKillTimer, grace, 0);
  }
  FinishStopWhenDone();
}

void WorkerProcess::FinishStopWhenDone() {
  if (!stopping_ || process_ || predecessor_ || !retired_.empty() || !on_stopped_) return;
  auto done = std::move(on_stopped_);
  on_stopped_ = nullptr;
  done();
}

void WorkerProcess::MarkHealthy() {
  quick_exits_ = 0;
  backoff_.Reset();
  if (stats_.crash_loop) {
    stats_.crash_loop = false;
    PICKET_LOG(kInfo, "supervisor", "worker crash loop over", {"pid", stats_.pid});
  }
}

void WorkerProcess::Restart(std::vector<std::string> argv) {
  options_.argv = std::move(argv);
  uv_timer_stop(restart_timer_);
  if (predecessor_) {
    // The armed successor owns the capture and may be replaced in turn while
    // its predecessor still seals (each waits for the one it replaces, see
    // kPredecessorEnv), but never more than one worker back: each holds a
    // ring. Else this argv follows once the hand-over is done.
    if (!predecessor_->handed_over || !process_ || !retired_.empty()) {
      restart_after_handover_ = true;
      return;
    }
    restart_after_handover_ = false;
    RetirePredecessor();
    if (predecessor_ || !process_) return;  // the released events restarted it already
  }
  if (!process_) {
    if (Status st = Spawn(); !st.ok()) ScheduleRestart();
    return;
  }
  if (options_.on_event) {
    StartSuccessor();
    return;
  }
  restart_requested_ = true;
  uv_process_kill(process_, SIGTERM);
  uv_timer_start(kill_timer_, &OnKillTimer, static_cast<std::uint64_t>(options_.stop_grace.count()), 0);
}

}  // namespace picket::supervisor

namespace picket::supervisor {

void WorkerProcess::StartSuccessor() {
  predecessor_ = Predecessor{process_, control_in_, stats_.starts, stats_.pid, started_at_, false};
  process_ = nullptr;
  control_in_ = nullptr;
  if (Status st = Spawn(); !st.ok()) {
    PICKET_LOG(kError, "supervisor", "worker restart failed; the running worker goes on",
               {"error", st});
    RestorePredecessor();
    ScheduleRestart();
    return;
  }
  PICKET_LOG(kInfo, "supervisor", "worker successor started; the running one captures until it is armed",
             {"pid", stats_.pid}, {"predecessor", predecessor_->pid});
  uv_timer_start(arm_timer_, &OnArmTimer, static_cast<std::uint64_t>(options_.arm_timeout.count()), 0);
}

bool WorkerProcess::HandOver(std::int64_t successor_since_us) {
  if (!predecessor_ || predecessor_->handed_over || !process_) return false;
  uv_timer_stop(arm_timer_);
  predecessor_->handed_over = true;
  PICKET_LOG(kInfo, "supervisor", "worker successor armed: handing over", {"pid", stats_.pid},
             {"predecessor", predecessor_->pid});
  // A predecessor that cannot read its channel still seals on SIGTERM (with a gap after it).
  if (!WriteControl(predecessor_->control_in,
                    worker_protocol::HandOver{stats_.pid, successor_since_us})) {
    uv_process_kill(predecessor_->process, SIGTERM);
  }
  uv_timer_start(retire_kill_timer_, &OnRetireKillTimer,
                 static_cast<std::uint64_t>(options_.stop_grace.count()), 0);
  return true;
}

// The predecessor handed the buffer over and closed its channel: its exit, as
// the owner sees it, then the successor's held events.
void WorkerProcess::RetirePredecessor() {
  retired_[predecessor_->process] = predecessor_->pid;  // reaped in OnExit; killed if it hangs
  PICKET_LOG(kInfo, "supervisor", "worker handed over", {"pid", predecessor_->pid},
             {"successor", stats_.pid});
  PredecessorGone(0, 0);
}

void WorkerProcess::HandlePredecessorExit(int64_t exit_status, int term_signal) {
  if (predecessor_->handed_over) {
    PICKET_LOG(kInfo, "supervisor", "worker handed over and exited", {"pid", predecessor_->pid},
               {"status", exit_status}, {"signal", term_signal});
  } else {  // it died while its successor was opening: capture has a gap until that one arms
    PICKET_LOG(kWarn, "supervisor", "worker exited before handing over", {"pid", predecessor_->pid},
               {"status", exit_status}, {"signal", term_signal});
  }
  if (retired_.empty()) uv_timer_stop(retire_kill_timer_);
  PredecessorGone(exit_status, term_signal);
}

// The predecessor is done for the owner: its exit (always expected: it was
// being replaced), then the successor's held events, then a restart that waited.
void WorkerProcess::PredecessorGone(int64_t exit_status, int term_signal) {
  const Predecessor gone = *predecessor_;
  predecessor_.reset();
  // Counted here, whichever came first: its closed channel or its exit.
  if (gone.handed_over && !stopping_) ++stats_.handovers;
  if (gone.control_in) CloseAndDelete(reinterpret_cast<uv_handle_t*>(gone.control_in));
  const auto ran = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - gone.started_at);
  if (options_.on_exit) {
    options_.on_exit(
        WorkerExit{gone.run, static_cast<int>(exit_status), term_signal, ran, true, gone.handed_over});
  }
  ReleaseHeldEvents();
  if (stopping_) {
    FinishStopWhenDone();
    return;
  }
  if (restart_after_handover_ && process_) {
    restart_after_handover_ = false;
    Restart(options_.argv);
  }
}

// The successor died before arming: the predecessor, still capturing, is the worker again.
void WorkerProcess::RestorePredecessor() {
  uv_timer_stop(arm_timer_);
  if (control_in_) CloseAndDelete(reinterpret_cast<uv_handle_t*>(control_in_));
  process_ = predecessor_->process;
  control_in_ = predecessor_->control_in;
  stats_.pid = predecessor_->pid;
  started_at_ = predecessor_->started_at;
  predecessor_.reset();
  restart_after_handover_ = false;
  PICKET_LOG(kWarn, "supervisor", "worker successor failed before arming; the running worker goes on",
             {"pid", stats_.pid});
}

void WorkerProcess::ReleaseHeldEvents() {
  auto held = std::move(held_events_);
  held_events_.clear();
  for (auto& [event, run] : held) options_.on_event(std::move(event), run);
}

void WorkerProcess::OnRetireKillTimer(uv_timer_t* timer) {
  auto* self = static_cast<WorkerProcess*>(timer->data);
  if (!self) return;
  if (self->predecessor_) {
    PICKET_LOG(kWarn, "supervisor", "previous worker did not stop, killing",
               {"pid", self->predecessor_->pid});
    uv_process_kill(self->predecessor_->process, SIGKILL);
  }
  for (auto& [process, pid] : self->retired_) {
    PICKET_LOG(kWarn, "supervisor", "previous worker did not exit, killing", {"pid", pid});
    uv_process_kill(process, SIGKILL);
  }
}

void WorkerProcess::OnArmTimer(uv_timer_t* timer) {
  auto* self = static_cast<WorkerProcess*>(timer->data);
  if (!self || !self->predecessor_ || self->predecessor_->handed_over || !self->process_) return;
  PICKET_LOG(kError, "supervisor", "worker successor did not open its capture in time, killing it",
             {"pid", self->stats_.pid}, {"arm_timeout_ms", self->options_.arm_timeout.count()});
  uv_process_kill(self->process_, SIGKILL);
}

}  // namespace picket::supervisor
