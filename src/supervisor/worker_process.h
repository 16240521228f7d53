// Runs `picketd worker` as a child process on the supervisor's libuv loop and
// keeps it running: a worker that exits on its own is restarted after a
// jittered exponential backoff (reset once it has run for a while), and a
// crash loop is logged as such, never silently. Stop() sends SIGTERM (the
// worker seals its open chunk), then SIGKILL after a grace period.
//
// Restart() with a control channel is make-before-break: the successor starts
// while the running worker captures on; once the successor says Armed (its
// capture is open) the predecessor is told to hand over (HandOver: stop, and
// leave the successor its cut), and the successor takes the buffer after it.
// A successor that fails before arming leaves the predecessor running. To the
// owner it looks like a restart: the successor's Armed is passed on at once
// (from then on the new capture owns every packet), the predecessor's exit
// (expected, handed_over) follows, and the successor's other events are held
// back until then.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/backoff.h"
#include "picket/common/status.h"
#include "picket/common/worker_protocol.h"

namespace picket::supervisor {

// One exit of a worker, as on_exit sees it.
struct WorkerExit {
  std::uint64_t run = 0;       // WorkerStats::starts when it was spawned
  int exit_status = 0;
  int term_signal = 0;
  std::chrono::milliseconds ran{0};  // monotonic: spawn to exit
  bool expected = false;       // asked for: Stop() or Restart()
  // A predecessor that handed over to an armed successor: capture went on.
  bool handed_over = false;
};

struct WorkerProcessOptions {
  std::vector<std::string> argv;                 // argv[0] is the executable path
  std::chrono::milliseconds restart_base{500};
  std::chrono::milliseconds restart_max{30000};
  std::chrono::milliseconds healthy_after{30000};  // a run this long resets the backoff
  std::chrono::milliseconds stop_grace{10000};     // SIGTERM → SIGKILL
  std::chrono::milliseconds arm_timeout{10000};    // a successor not armed by then is killed
  int crash_loop_restarts = 5;                     // this many quick exits in a row = crash loop
  // When set, the worker's stderr is a pipe and every chunk read from it is
  // handed here (on the loop thread); otherwise the worker inherits stderr.
  std::function<void(std::string_view)> on_stderr;
  // When set, the worker's stdin and stdout are the control channel
  // (picket/common/worker_protocol.h). Events from the worker arrive here
  // (loop thread) with the run that sent them (WorkerStats::starts when it was
  // spawned: a late line from an exited worker is told from its successor's);
  // lines that do not parse are logged and dropped.
  std::function<void(worker_protocol::Event event, std::uint64_t run)> on_event;
  // Called on the loop after every exit of a worker (also for restarts).
  std::function<void(const WorkerExit&)> on_exit;
  // Called on the loop when the worker was killed by its seccomp filter
  // (SIGSYS: a system call outside the allowlist), before the usual restart.
  std::function<void(int pid)> on_seccomp_kill;
};

struct WorkerStats {
  std::uint64_t starts = 0;
  std::uint64_t unexpected_exits = 0;
  int last_exit_status = 0;
  int last_term_signal = 0;
  int pid = 0;
  std::uint64_t seccomp_kills = 0;  // exits by SIGSYS
  std::uint64_t handovers = 0;      // restarts made without a gap (make-before-break)
  bool crash_loop = false;
};

class WorkerProcess {
 public:
  WorkerProcess(uv_loop_t* loop, WorkerProcessOptions options);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  Status Start();
  // Stops the worker for good; `done` runs on the loop once it has exited.
  void Stop(std::function<void()> done);
  // Restarts now with new argv (config change): make-before-break with a
  // control channel (no gap); otherwise stop, then start (the gap is the
  // worker's seal + start). A restart asked for during a hand-over follows it.
  void Restart(std::vector<std::string> argv);
  // The running worker has proven itself (the owner's judgement: it ran its
  // config for a while): the backoff starts over and a crash loop is over now,
  // not at the next exit.
  void MarkHealthy();

  // Sends one command to the running worker's control channel and returns the
  // run it went to; 0 when no worker runs (a restarted worker is sent its
  // state again when it is ready). During a hand-over that is the predecessor
  // until its exit is reported, except for a filter change: that goes to the
  // successor (whose FilterAck is passed on at once), and to the predecessor
  // too until the successor is armed; the successor's run is returned.
  std::uint64_t SendControl(const worker_protocol::Command& command);

  const WorkerStats& stats() const { return stats_; }
  bool running() const { return process_ != nullptr; }

 private:
  // The worker being replaced, while its successor takes over.
  struct Predecessor {
    uv_process_t* process = nullptr;
    uv_pipe_t* control_in = nullptr;
    std::uint64_t run = 0;
    int pid = 0;
    std::chrono::steady_clock::time_point started_at;
    bool handed_over = false;  // told to stop
  };

  static void OnExit(uv_process_t* process, int64_t exit_status, int term_signal);
  static void OnRestartTimer(uv_timer_t* timer);
  static void OnKillTimer(uv_timer_t* timer);
  static void OnRetireKillTimer(uv_timer_t* timer);
  static void OnArmTimer(uv_timer_t* timer);
  static void OnStderrRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnControlRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

  Status Spawn();
  void StartSuccessor();
  bool HandOver(std::int64_t successor_since_us);
  void HandleExit(int64_t exit_status, int term_signal);
  void HandlePredecessorExit(int64_t exit_status, int term_signal);
  void RetirePredecessor();
  void PredecessorGone(int64_t exit_status, int term_signal);
  void RestorePredecessor();
  void ReleaseHeldEvents();
  void FinishStopWhenDone();
  void ScheduleRestart();
  bool WriteControl(uv_pipe_t* pipe, const worker_protocol::Command& command);

  uv_loop_t* loop_;
  WorkerProcessOptions options_;
  uv_process_t* process_ = nullptr;   // heap; freed in its close callback
  uv_timer_t* restart_timer_ = nullptr;
  uv_timer_t* kill_timer_ = nullptr;
  uv_timer_t* retire_kill_timer_ = nullptr;  // the predecessor's SIGKILL
  uv_timer_t* arm_timer_ = nullptr;          // the successor's arm_timeout
  std::optional<Predecessor> predecessor_;
  std::map<uv_process_t*, int> retired_;  // handed over, channel closed, not yet reaped → pid
  // The successor's events until the predecessor's exit has been reported.
  std::vector<std::pair<worker_protocol::Event, std::uint64_t>> held_events_;
  bool restart_after_handover_ = false;
  std::set<uv_pipe_t*> stderr_pipes_;  // open until their worker closes its end
  uv_pipe_t* control_in_ = nullptr;    // the running worker's stdin
  struct ControlOut {
    std::string partial;  // a line not complete yet
    std::uint64_t run = 0;
  };
  std::map<uv_pipe_t*, ControlOut> control_out_;  // worker stdout → its reader state
  JitteredBackoff backoff_;
  std::chrono::steady_clock::time_point started_at_;
  int quick_exits_ = 0;
  bool stopping_ = false;
  bool restart_requested_ = false;
  std::function<void()> on_stopped_;
  WorkerStats stats_;
};

}  // namespace picket::supervisor
