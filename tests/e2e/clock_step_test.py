#!/usr/bin/env python3
"""The wall clock stepped +1 h and -1 h under a capturing device (issue 14, acceptance 3),
with the real clock (clock_settime as root), restored in a finally block from
CLOCK_MONOTONIC elapsed time:
  1. during capture: a worker killed while the clock is 1 h ahead and again after it went
     back records its real restart gap (boot-clock time), never a phantom hour; chunks
     whose packets go back in time carry ts_backwards > 0 at the collector (/v1 listing
     and `picket chunks list`), and no chunk that went back is unflagged;
  2. during a collector outage: the clock goes +1 h then -2 h (1 h behind) while chunks wait;
     once the collector is back, every waiting chunk is delivered within retry_max (+ the
     upload itself), not an hour later.
Runs alone (RUN_SERIAL): a stepped clock would disturb any other test.

usage: clock_step_test.py PICKETD PICKET [--no-step]
Root; skips without root or when clock_settime is refused, unless CI=true.
--no-step (by hand, on a machine others share: a stepped clock corrupts their builds' mtimes)
runs every phase without touching the clock and skips the assertions that need a step."""
import json, os, signal, socket, sqlite3, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import report, children, http_get, remove_unless_kept, root_or_skip  # noqa: E402
from servers import Processes, free_port, skip_code, start_collector, wait_for  # noqa: E402

DEVICE = "gw-clock"
HOUR = 3600
RETRY_MAX_S = 2.0
UPLOAD_SLACK_S = 3.0   # the PUTs themselves on a loaded CI machine
PHANTOM_MS = 60_000    # a real restart gap here is a few seconds; a phantom one an hour
TRAFFIC_MAX_S = 240    # the sender's own bound


class SteppedClock:
    """Sets CLOCK_REALTIME to the true time plus an offset; the true time is the wall time at
    the start plus CLOCK_MONOTONIC elapsed since, so restore() is right whatever was set."""

    def __init__(self, dry=False):
        self.dry = dry
        self.wall0 = time.clock_gettime(time.CLOCK_REALTIME)
        self.mono0 = time.clock_gettime(time.CLOCK_MONOTONIC)
        self.offset = 0

    def true_now(self):
        return self.wall0 + (time.clock_gettime(time.CLOCK_MONOTONIC) - self.mono0)

    def set_offset(self, seconds):
        if self.dry:
            return
        time.clock_settime(time.CLOCK_REALTIME, self.true_now() + seconds)
        self.offset = seconds

    def restore(self):
        self.set_offset(0)


def settime_refused():
    """Why this machine will not let the test step the clock, or None (a no-op step)."""
    try:
        SteppedClock().set_offset(0)
    except OSError as e:
        return f"clock_settime refused: {e}"
    return None


class Traffic(threading.Thread):
    """UDP packets to 127.0.0.1:port at ~rate/s until stop() or TRAFFIC_MAX_S."""

    def __init__(self, port, rate=50):
        super().__init__(daemon=True)
        self.port, self.rate, self.sent = port, rate, 0
        self.done = threading.Event()

    def run(self):
        deadline = time.monotonic() + TRAFFIC_MAX_S
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not self.done.is_set() and time.monotonic() < deadline:
                s.sendto(b"clock-step-%d" % self.sent, ("127.0.0.1", self.port))
                self.sent += 1
                self.done.wait(1.0 / self.rate)  # pacing the sender, not synchronisation

    def stop(self):
        self.done.set()
        self.join(5)


def chunks(base):
    return json.loads(http_get(f"{base}/v1/devices/{DEVICE}/chunks?limit=10000"))


def worker_pid(daemon):
    kids = children(daemon.pid)
    return kids[0] if kids else None


def kill_worker(daemon, procs, what):
    """SIGKILLs the worker; returns once a new one captures (its log line)."""
    pid = worker_pid(daemon)
    assert pid, "no worker to kill"
    captures = procs.log_text().count("INFO worker capturing")
    os.kill(pid, signal.SIGKILL)
    wait_for(f"a new worker capturing after the kill ({what})",
             lambda: procs.log_text().count("INFO worker capturing") > captures, 20)


def last_committed_seq(buffer_dir):
    db = sqlite3.connect(f"file:{buffer_dir}/buffer.db?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT MAX(seq) FROM chunks").fetchone()[0] or 0
    finally:
        db.close()


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    dry = "--no-step" in sys.argv[3:]
    if (code := root_or_skip()) is not None:
        return code
    if not dry and (reason := settime_refused()):
        if os.environ.get("CI") == "true":
            print(f"FAIL: {reason} and CI=true forbids skipping")
            return 1
        return skip_code(reason)
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="picket-clock-")
    os.chmod(work, 0o711)  # the worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    clock = SteppedClock(dry)
    traffic = None
    failures, figures = [], []
    try:
        listen = f"127.0.0.1:{free_port()}"
        collector = lambda: start_collector(procs, picket, work, listen=listen)  # noqa: E731
        base = collector()
        collector_proc = procs.procs[-1]
        port = free_port(socket.SOCK_DGRAM)
        buffer_dir = os.path.join(work, "buffer")
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump({"device": {"id": DEVICE},
                       "capture": {"interface": "lo", "filter": f"udp port {port}",
                                   "chunk_idle": "300ms", "chunk_max_age": "1s"},
                       "buffer": {"dir": buffer_dir},
                       "upload": {"collectors": [base], "retry_base": "200ms",
                                  "retry_max": f"{int(RETRY_MAX_S)}s"}}, f)
        daemon = procs.start([picketd, "run", "--config", cfg])
        traffic = Traffic(port)
        traffic.start()
        wait_for("the first chunks at the collector", lambda: len(chunks(base)) >= 2, 30)

        # 1. During capture: +1 h, a worker restart, -1 h, another restart.
        clock.set_offset(HOUR)
        ahead_us = int((clock.true_now() + HOUR - 60) * 1e6)
        if not dry:
            wait_for("a chunk stamped an hour ahead",
                     lambda: any((c.get("first_ts_us") or 0) > ahead_us for c in chunks(base)), 20)
        kill_worker(daemon, procs, "clock 1 h ahead")
        wait_for("a chunk from the worker restarted 1 h ahead",
                 lambda: sum(1 for c in chunks(base) if (c.get("gap_before_ms") or 0) > 0) >= 1, 20)
        clock.set_offset(0)  # a step back of 1 h
        if not dry:
            wait_for("a chunk flagged ts_backwards after the step back",
                     lambda: any((c.get("ts_backwards") or 0) > 0 for c in chunks(base)), 20)
        kill_worker(daemon, procs, "after the step back")
        wait_for("a chunk from the worker restarted after the step back",
                 lambda: sum(1 for c in chunks(base) if (c.get("gap_before_ms") or 0) > 0) >= 2, 20)
        gaps = [c["gap_before_ms"] for c in chunks(base) if (c.get("gap_before_ms") or 0) > 0]
        figures.append(f"restart gaps across the steps: {gaps} ms (a wall-clock gap would be ~3,600,000)")
        if any(g > PHANTOM_MS for g in gaps):
            failures.append(f"a phantom restart gap was recorded: {gaps} ms")

        # 2. During a collector outage: +1 h, then back to 1 h behind; the collector returns.
        procs.stop(collector_proc)
        seq_down = last_committed_seq(buffer_dir)
        wait_for("chunks waiting while the collector is down",
                 lambda: last_committed_seq(buffer_dir) >= seq_down + 3, 20)
        clock.set_offset(HOUR)
        wait_for("more chunks sealed 1 h ahead", lambda: last_committed_seq(buffer_dir) >= seq_down + 5, 20)
        clock.set_offset(-HOUR)  # 2 h back: wall-clock retry times would lie 2 h ahead
        wait_for("chunks sealed 1 h behind", lambda: last_committed_seq(buffer_dir) >= seq_down + 7, 20)
        waiting_up_to = last_committed_seq(buffer_dir)
        t_back = time.monotonic()
        base = collector()
        collector_proc = procs.procs[-1]
        t_ready = time.monotonic()

        def all_delivered():
            have = {c["seq"] for c in chunks(base)}
            return all(s in have for s in range(1, waiting_up_to + 1))
        try:
            wait_for("every waiting chunk delivered", all_delivered,
                     RETRY_MAX_S + UPLOAD_SLACK_S + 60)
            delivered_s = time.monotonic() - t_ready
        except AssertionError:
            delivered_s = None
        limit = RETRY_MAX_S + UPLOAD_SLACK_S
        figures.append(f"collector outage: {waiting_up_to - seq_down} chunks waited across " +
                       ("no steps (--no-step)" if dry else "+1 h / -2 h steps") + "; all delivered " +
                       (f"{delivered_s:.2f} s after the collector served again (restart took "
                        f"{t_ready - t_back:.2f} s; limit retry_max {RETRY_MAX_S:.0f} s + {UPLOAD_SLACK_S:.0f} s)"
                        if delivered_s is not None else "NOT within 60 s"))
        if delivered_s is None or delivered_s > limit:
            failures.append(f"waiting chunks were not delivered within {limit:.0f} s of the collector's "
                            f"return ({delivered_s}): wall-clock retry times?")
        clock.restore()

        # Flags at the collector: every chunk that went back is flagged, none in order is.
        traffic.stop()
        wait_for("every chunk delivered after the restore",
                 lambda: (lambda cs: cs and max(c["seq"] for c in cs) >= last_committed_seq(buffer_dir))(chunks(base)), 30)
        listed = sorted(chunks(base), key=lambda c: c["seq"])
        flagged = [c["seq"] for c in listed if (c.get("ts_backwards") or 0) > 0]
        unflagged_back = []
        prev_last = None
        for c in listed:
            first, last = c.get("first_ts_us"), c.get("last_ts_us")
            back = last < first or (prev_last is not None and first < prev_last and
                                    (c.get("gap_before_ms") or 0) == 0)
            if back and not c.get("ts_backwards"):
                unflagged_back.append(c["seq"])
            prev_last = last
        figures.append(f"{len(listed)} chunks, ts_backwards flagged on seqs {flagged}")
        if len(flagged) < (0 if dry else 2):
            failures.append(f"expected a flagged chunk for each step back (2), got {flagged}")
        if dry and flagged:
            failures.append(f"chunks flagged ts_backwards without a clock step: {flagged}")
        unreported = [c["seq"] for c in listed if c.get("ts_backwards") is None]
        if unreported:  # every chunk of this picketd says 0 or more (X-Picket-Ts-Backwards)
            failures.append(f"chunks without ts_backwards at the collector: {unreported}")
        if unflagged_back:
            failures.append(f"chunks whose timestamps went back without the flag: {unflagged_back}")
        table = subprocess.run([picket, "chunks", "list", DEVICE, "--collector", base],
                               capture_output=True, text=True, timeout=30)
        if table.returncode != 0 or "TS_BACK" not in table.stdout:
            failures.append(f"`picket chunks list` shows no TS_BACK column: {table.stdout[:300]} {table.stderr[:300]}")
    except AssertionError as e:
        failures.append(str(e))
    finally:
        try:
            clock.restore()
        finally:
            if traffic:
                traffic.stop()
            if failures:
                print(procs.log_text()[-6000:])
            procs.stop_all()
            remove_unless_kept(work)
    return report(failures, figures, t_start)


if __name__ == "__main__":
    sys.exit(main())
