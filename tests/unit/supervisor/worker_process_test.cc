#include "supervisor/worker_process.h"

#include <doctest/doctest.h>

#include <csignal>

#include "picket/common/log.h"
#include "support/temp_dir.h"

#include <filesystem>
#include <fstream>

namespace picket::supervisor {

namespace {

struct Loop {
  uv_loop_t loop{};
  uv_timer_t tick{};  // wakes uv_run so RunUntil can re-check conditions outside the loop
  Loop() {
    log::SetLevel(log::Level::kError);
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, [](uv_timer_t*) {}, 10, 10);
  }
  ~Loop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    log::SetLevel(log::Level::kInfo);
  }
  // Runs until `done` holds or the deadline passes.
  bool RunUntil(const std::function<bool()>& done, int seconds = 20) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
    return done();
  }
};

// A shell worker with the given TERM trap that touches `ready` once the trap is set.
std::vector<std::string> TrappingShell(const std::string& trap, const std::string& ready) {
  return {"/bin/sh", "-c", "trap " + trap + " TERM; touch '" + ready + "'; while :; do sleep 0.05; done"};
}

WorkerProcessOptions Fast(std::vector<std::string> argv) {
  WorkerProcessOptions o;
  o.argv = std::move(argv);
  o.restart_base = std::chrono::milliseconds(5);
  o.restart_max = std::chrono::milliseconds(20);
  o.stop_grace = std::chrono::milliseconds(300);
  o.crash_loop_restarts = 3;
  return o;
}

// A worker speaking the control protocol: says Armed (when `arms`) and Ready
// for `version`, appends every command to NAME.commands, runs `on_hand_over`
// on a hand-over (which must end the shell, at once or later).
std::vector<std::string> ProtocolShell(const testing::TempDir& dir, const std::string& name,
                                       int version, bool arms,
                                       const std::string& on_hand_over = "exit 0") {
  const std::string v = std::to_string(version);
  std::string script = "touch '" + dir.Join(name + ".started") + "'; ";
  if (arms) script += "echo '{\"event\":\"armed\",\"version\":" + v + ",\"capturing_since_us\":" + v + "000}'; ";
  script += "echo '{\"event\":\"ready\",\"version\":" + v + ",\"capture\":true}'; ";
  script += "while read -r line; do echo \"$line\" >> '" + dir.Join(name + ".commands") +
            "'; case \"$line\" in *hand_over*) " + on_hand_over + ";; esac; done";
  return {"/bin/sh", "-c", script};
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// What the owner saw, in order: "armed <run>", "ready <run>" and "exit <run>".
struct Seen {
  std::vector<std::string> order;
  std::vector<WorkerExit> exits;
  void Attach(WorkerProcessOptions& o) {
    o.on_event = [this](worker_protocol::Event e, std::uint64_t run) {
      if (std::holds_alternative<worker_protocol::Ready>(e)) order.push_back("ready " + std::to_string(run));
      if (std::holds_alternative<worker_protocol::Armed>(e)) order.push_back("armed " + std::to_string(run));
    };
    o.on_exit = [this](const WorkerExit& e) {
      exits.push_back(e);
      order.push_back("exit " + std::to_string(e.run));
    };
  }
};

// A protocol worker "a" (version 1) started and ready, for the hand-over cases.
struct HandOverRig {
  explicit HandOverRig(const std::function<void(WorkerProcessOptions&)>& tune = {},
                       const std::string& first_on_hand_over = "exit 0") {
    WorkerProcessOptions o = Fast(ProtocolShell(dir, "a", 1, true, first_on_hand_over));
    if (tune) tune(o);
    seen.Attach(o);
    w = std::make_unique<WorkerProcess>(&l.loop, o);
    REQUIRE(w->Start().ok());
    CHECK(l.RunUntil([&] { return seen.order.size() == 1; }));  // "ready 1"
    first = w->stats().pid;
  }
  void StopAll() {
    bool stopped = false;
    w->Stop([&] { stopped = true; });
    CHECK(l.RunUntil([&] { return stopped; }));
  }

  Loop l;
  testing::TempDir dir;
  Seen seen;
  std::unique_ptr<WorkerProcess> w;
  int first = 0;
};

}  // namespace

TEST_SUITE("supervisor.worker") {
  TEST_CASE("a worker that dies is restarted with backoff and a crash loop is flagged") {
    Loop l;
    WorkerProcess w(&l.loop, Fast({"/bin/sh", "-c", "exit 3"}));
    REQUIRE(w.Start().ok());
    CHECK(l.RunUntil([&] { return w.stats().starts >= 4; }));
    CHECK(w.stats().unexpected_exits >= 3);
    CHECK(w.stats().last_exit_status == 3);
    CHECK(w.stats().crash_loop);
    bool stopped = false;
    w.Stop([&] { stopped = true; });
    CHECK(l.RunUntil([&] { return stopped; }));
  }

  TEST_CASE("MarkHealthy ends a crash loop at once and on_exit says which exits were asked for") {
    Loop l;
    testing::TempDir dir;
    const std::string ready = dir.Join("ready");
    const std::string fail_flag = dir.Join("fail");
    { std::ofstream(fail_flag).put('x'); }
    // Fails while the flag exists, then runs (a config that was fixed).
    WorkerProcessOptions o = Fast({"/bin/sh", "-c", "test -e '" + fail_flag + "' && exit 4; touch '" +
                                                        ready + "'; while :; do sleep 0.05; done"});
    std::vector<WorkerExit> exits;
    o.on_exit = [&](const WorkerExit& e) { exits.push_back(e); };
    WorkerProcess w(&l.loop, std::move(o));
    REQUIRE(w.Start().ok());
    CHECK(l.RunUntil([&] { return w.stats().crash_loop; }));
    REQUIRE(!exits.empty());
    CHECK(exits.back().exit_status == 4);
    CHECK_FALSE(exits.back().expected);
    CHECK(exits.back().run >= 1);
    std::filesystem::remove(fail_flag);
    CHECK(l.RunUntil([&] { return std::filesystem::exists(ready); }));
    CHECK(w.stats().crash_loop);  // still flagged: nobody has judged the new run yet
    w.MarkHealthy();
    CHECK_FALSE(w.stats().crash_loop);
    const std::size_t before = exits.size();
    w.Restart({"/bin/sh", "-c", "while :; do sleep 0.05; done"});
    CHECK(l.RunUntil([&] { return exits.size() > before && w.running(); }));
    CHECK(exits.back().expected);
    bool stopped = false;
    w.Stop([&] { stopped = true; });
    CHECK(l.RunUntil([&] { return stopped; }));
    CHECK(exits.back().expected);
  }

  TEST_CASE("stop sends SIGTERM and the worker exits by itself") {
    Loop l;
    testing::TempDir dir;
    const std::string ready = dir.Join("ready");
    WorkerProcess w(&l.loop, Fast(TrappingShell("'exit 0'", ready)));
    REQUIRE(w.Start().ok());
    CHECK(l.RunUntil([&] { return std::filesystem::exists(ready); }));
    bool stopped = false;
    w.Stop([&] { stopped = true; });
    CHECK(l.RunUntil([&] { return stopped; }));
    CHECK(w.stats().last_exit_status == 0);
    CHECK(w.stats().last_term_signal == 0);
    CHECK(w.stats().starts == 1);
  }

  TEST_CASE("a worker that ignores SIGTERM is killed after the grace period") {
    Loop l;
    testing::TempDir dir;
    const std::string ready = dir.Join("ready");
    WorkerProcess w(&l.loop, Fast(TrappingShell("''", ready)));
    REQUIRE(w.Start().ok());
    CHECK(l.RunUntil([&] { return std::filesystem::exists(ready); }));
    bool stopped = false;
    w.Stop([&] { stopped = true; });
    CHECK(l.RunUntil([&] { return stopped; }));
    CHECK(w.stats().last_term_signal == SIGKILL);
  }

  TEST_CASE("restart replaces the worker with new arguments") {
    Loop l;
    testing::TempDir dir;
    const std::string ready = dir.Join("ready"), ready2 = dir.Join("ready2");
    WorkerProcess w(&l.loop, Fast(TrappingShell("'exit 0'", ready)));
    REQUIRE(w.Start().ok());
    CHECK(l.RunUntil([&] { return std::filesystem::exists(ready); }));
    int first_pid = w.stats().pid;
    w.Restart(TrappingShell("'exit 0'", ready2));
    CHECK(l.RunUntil([&] { return std::filesystem::exists(ready2); }));
    CHECK(w.stats().starts == 2);
    CHECK(w.stats().pid != first_pid);
    CHECK(w.stats().unexpected_exits == 0);
    bool stopped = false;
    w.Stop([&] { stopped = true; });
    CHECK(l.RunUntil([&] { return stopped; }));
  }

  TEST_CASE("restart is make-before-break: the worker hands over once its successor is armed") {
    HandOverRig r;
    r.w->Restart(ProtocolShell(r.dir, "b", 2, true));
    CHECK(r.l.RunUntil([&] { return r.seen.order.size() == 4; }));
    const int second = r.w->stats().pid;
    CHECK(second != r.first);
    // The running worker was told to stop only by its successor's arming, and which one it was.
    CHECK(ReadText(r.dir.Join("a.commands")) == "{\"op\":\"hand_over\",\"successor_pid\":" +
                                                    std::to_string(second) + ",\"successor_since_us\":2000}\n");
    // The owner sees a restart whose new capture took over at once: the
    // successor's Armed, the old worker's (expected, handed over) exit, then
    // the new one's other events. The first worker's Armed had no predecessor.
    CHECK(r.seen.order == std::vector<std::string>{"ready 1", "armed 2", "exit 1", "ready 2"});
    REQUIRE(r.seen.exits.size() == 1);
    CHECK(r.seen.exits[0].expected);
    CHECK(r.seen.exits[0].handed_over);
    CHECK(r.w->stats().unexpected_exits == 0);
    CHECK(r.w->stats().handovers == 1);
    // Commands go to the successor now.
    CHECK(r.w->SendControl(worker_protocol::ReleaseAll{}));
    CHECK(r.l.RunUntil([&] { return ReadText(r.dir.Join("b.commands")).find("release_all") != std::string::npos; }));
    r.StopAll();
  }

  TEST_CASE("once the successor is armed, a filter change goes to it, other commands to the predecessor") {
    HandOverRig r({}, "( sleep 3; kill $$ ) &");  // still sealing (and reading) for a while
    r.w->Restart(ProtocolShell(r.dir, "b", 2, true));
    CHECK(r.l.RunUntil([&] { return r.seen.order.size() == 2; }));
    REQUIRE(r.seen.order.back() == "armed 2");
    CHECK(r.w->SendControl(worker_protocol::FilterCommand{"udp port 53", 3}) ==
          2);  // the successor's run
    CHECK(r.l.RunUntil([&] { return ReadText(r.dir.Join("b.commands")).find("udp port 53") != std::string::npos; }));
    CHECK(ReadText(r.dir.Join("a.commands")).find("udp port 53") == std::string::npos);
    // Other commands stay with the predecessor until its exit is reported.
    CHECK(r.w->SendControl(worker_protocol::ReleaseAll{}) == 1);
    CHECK(r.l.RunUntil([&] { return ReadText(r.dir.Join("a.commands")).find("release_all") != std::string::npos; }));
    CHECK(r.l.RunUntil([&] { return r.seen.order.size() == 4; }));
    CHECK(r.seen.order == std::vector<std::string>{"ready 1", "armed 2", "exit 1", "ready 2"});
    r.StopAll();
  }

  TEST_CASE(
      "before the successor is armed, a filter change goes to both, other commands to the "
      "predecessor") {
    HandOverRig r([](WorkerProcessOptions& o) { o.arm_timeout = std::chrono::seconds(30); });
    // "b" arms only when told (as a capture that takes a while to open), then runs as usual.
    std::vector<std::string> b = ProtocolShell(r.dir, "b", 2, true);
    const std::size_t after_touch = b.back().find("; ") + 2;
    b.back().insert(after_touch,
                    "while [ ! -e '" + r.dir.Join("arm-b") + "' ]; do sleep 0.02; done; ");
    r.w->Restart(b);
    CHECK(r.l.RunUntil([&] { return std::filesystem::exists(r.dir.Join("b.started")); }));
    CHECK(r.w->SendControl(worker_protocol::FilterCommand{"udp port 53", 3}) ==
          2);  // the successor's run
    CHECK(r.w->SendControl(worker_protocol::ReleaseAll{}) == 1);
    CHECK(r.l.RunUntil([&] {
      return ReadText(r.dir.Join("a.commands")).find("release_all") != std::string::npos;
    }));
    CHECK(ReadText(r.dir.Join("a.commands")).find("udp port 53") != std::string::npos);
    { std::ofstream(r.dir.Join("arm-b")) << ""; }
    CHECK(r.l.RunUntil([&] { return r.seen.order.size() == 4; }));
    CHECK(r.seen.order == std::vector<std::string>{"ready 1", "armed 2", "exit 1", "ready 2"});
    // Queued in its channel while it opened, read once it runs: the filter, and nothing else.
    CHECK(r.l.RunUntil([&] {
      return ReadText(r.dir.Join("b.commands")).find("udp port 53") != std::string::npos;
    }));
    CHECK(ReadText(r.dir.Join("b.commands")).find("release_all") == std::string::npos);
    r.StopAll();
  }

  TEST_CASE("a second restart during a hand-over replaces the armed successor without waiting") {
    HandOverRig r({}, "( sleep 2; kill $$ ) &");  // "a" seals for up to 2 s after its hand-over
    r.w->Restart(ProtocolShell(r.dir, "b", 2, true, "exit 0"));
    CHECK(r.l.RunUntil([&] { return r.seen.order.size() == 2; }));  // armed 2
    const auto started = std::chrono::steady_clock::now();
    r.w->Restart(ProtocolShell(r.dir, "c", 3, true));
    // "c" started and armed while "a" still seals; "b" was told to hand over to it.
    CHECK(r.l.RunUntil([&] { return ReadText(r.dir.Join("b.commands")).find("hand_over") != std::string::npos; }));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(1500));
    CHECK(r.l.RunUntil([&] { return r.seen.order.back() == "ready 3"; }));
    // "a" leaves the owner's view (handed over) as "c" starts: b's held Ready
    // comes with it, then c's arming, b's hand-over and c's Ready.
    CHECK(r.seen.order == std::vector<std::string>{"ready 1", "armed 2", "exit 1", "ready 2",
                                                   "armed 3", "exit 2", "ready 3"});
    REQUIRE(r.seen.exits.size() == 2);
    CHECK(r.seen.exits[0].handed_over);
    CHECK(r.seen.exits[1].handed_over);
    CHECK(r.w->stats().handovers == 2);
    r.StopAll();
    CHECK(::kill(r.first, 0) != 0);  // gone with the rest
  }

  TEST_CASE("a successor that fails or never arms leaves the running worker capturing") {
    for (const bool hangs : {false, true}) {
      CAPTURE(hangs);
      HandOverRig r([](WorkerProcessOptions& o) {
        o.arm_timeout = std::chrono::milliseconds(200);
        o.restart_base = o.restart_max = std::chrono::milliseconds(50);
      });
      // Exits at once (a bad config), or opens nothing and waits forever.
      r.w->Restart(hangs ? ProtocolShell(r.dir, "bad", 2, false)
                         : std::vector<std::string>{"/bin/sh", "-c", "exit 3"});
      CHECK(r.l.RunUntil([&] { return r.seen.exits.size() >= 2; }));  // tried again after the backoff
      for (const auto& e : r.seen.exits) {
        CHECK_FALSE(e.expected);
        CHECK_FALSE(e.handed_over);
        CHECK(e.run >= 2);
        if (hangs) CHECK(e.term_signal == SIGKILL);
        else CHECK(e.exit_status == 3);
      }
      CHECK(r.w->stats().unexpected_exits >= 2);
      CHECK(ReadText(r.dir.Join("a.commands")).empty());  // never told to hand over
      CHECK(r.w->stats().handovers == 0);
      CHECK(::kill(r.first, 0) == 0);                     // still running
      // A good config then replaces it without a gap.
      r.w->Restart(ProtocolShell(r.dir, "good", 3, true));
      CHECK(r.l.RunUntil([&] { return ReadText(r.dir.Join("a.commands")).find("hand_over") != std::string::npos; }));
      CHECK(r.l.RunUntil([&] {
        return r.w->stats().pid != r.first && r.w->stats().pid != 0 &&
               r.seen.order.back().rfind("ready", 0) == 0;
      }));
      r.StopAll();
    }
  }

  TEST_CASE("a stop during a hand-over stops both workers") {
    HandOverRig r;
    r.w->Restart(ProtocolShell(r.dir, "slow", 2, false));  // never arms
    CHECK(r.l.RunUntil([&] { return std::filesystem::exists(r.dir.Join("slow.started")); }));
    const int second = r.w->stats().pid;
    r.StopAll();
    CHECK(::kill(r.first, 0) != 0);
    CHECK(::kill(second, 0) != 0);
  }

  TEST_CASE("a missing executable is an error naming it") {
    Loop l;
    WorkerProcess w(&l.loop, Fast({"/nonexistent/picketd", "worker"}));
    Status st = w.Start();
    CHECK(st.code() == StatusCode::kUnavailable);
    CHECK(st.message().find("/nonexistent/picketd") != std::string::npos);
  }
}

}  // namespace picket::supervisor
