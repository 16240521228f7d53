#!/usr/bin/env python3
"""The fleet page with 1,000 devices: a real `picket collector --tokens` with a
token per device, 1,000 synthetic heartbeats per round (POST
/v1/devices/{id}/status, the contract's document, counters growing between
rounds), then headless Chromium logs in with the operator token and loads the
fleet page afresh three times. Measured and printed:
  - render time: performance.now() from navigation start to the first frame
    after the table holds 1,000 rows (the page records it in
    window.picketTiming.fleetPaintMs); the median of 3 loads must be < 1 s;
  - the collector's CPU time (user + system, /proc) per round of 1,000
    heartbeats, and the wall time of a round sent over 8 connections;
  - GET /v1/fleet answer time for 1,000 devices (median of 10).
The seeding is this test's own (a few lines of http.client): tests/pylib has no
heartbeat generator yet.
usage: web_scale_test.py PICKETD PICKET [--devices N] [--rounds R] [--screenshots DIR]
Skips without Chromium unless CI=true; needs no root."""
import argparse, http.client, json, os, random, statistics, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import remove_unless_kept, report  # noqa: E402
from servers import Processes, free_port, skip_code, wait_for, write_private  # noqa: E402
from web_support import Browser, browser_missing  # noqa: E402

RENDER_LIMIT_MS = 1000
CONNECTIONS = 8


def heartbeat(device, round_no, rng, now_ms):
    """The contract's heartbeat document with counters that grow each round."""
    packets = round_no * 5000 + rng.randint(0, 4000)
    return {
        "device": device, "group": f"site-{rng.randint(1, 20)}", "picketd": "0.15.0", "pid": 1000 + rng.randint(0, 9000),
        "started_at_ms": now_ms - 3_600_000, "uptime_s": 3600 + round_no * 5, "sent_at_ms": now_ms, "interval_ms": 5000,
        "config": {"source": "zookeeper", "applied_version": 7, "desired_version": 7 if rng.random() > 0.05 else 8,
                   "refused": None},
        "worker": {"state": "running", "pid": 2000 + rng.randint(0, 9000), "starts": 1, "unexpected_exits": 0,
                   "crash_loop": False},
        "last_error": None,
        "zookeeper": {"configured": False, "connected": False},
        "counters": {"packets": packets, "lost_packets": 0, "kernel_drops": rng.randint(0, 50), "if_drops": 0,
                     "bytes_captured": packets * 400, "chunks_pending": rng.randint(0, 5),
                     "batches_pending": 0, "bytes_pending": rng.randint(0, 1 << 24), "oldest_pending_age_s": rng.randint(0, 30),
                     "chunks_evicted": 0, "bytes_evicted": 0, "chunks_dead": 0, "batches_dead": 0,
                     "uploads_ok": round_no * 3, "uploads_failed": rng.randint(0, 2), "uploads_dead": 0,
                     "bytes_uploaded": packets * 380},
        "disk": {"path": "/var/lib/picketd", "free_bytes": rng.randint(1 << 30, 1 << 34), "total_bytes": 1 << 35},
        "scan": [],
    }


def send_round(port, tokens, round_no):
    """One heartbeat from every device, over CONNECTIONS keep-alive connections; returns the
    number of answers that were not 200."""
    devices = sorted(tokens)
    bad = []
    lock = threading.Lock()

    def worker(index, part):
        rng = random.Random(round_no * 1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for d in part:
                body = json.dumps(heartbeat(d, round_no, rng, int(time.time() * 1000)))
                conn.request("POST", f"/v1/devices/{d}/status", body=body,
                             headers={"Authorization": f"Bearer {tokens[d]}", "Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    with lock:
                        bad.append((d, r.status))
        finally:
            conn.close()
    threads = [threading.Thread(target=worker, args=(i, devices[i::CONNECTIONS])) for i in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return bad


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("picketd")
    parser.add_argument("picket")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--screenshots", default=None)
    args = parser.parse_args()
    screenshots = args.screenshots or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(args.picket))),
                                                   "web-screenshots")
    if reason := browser_missing():
        return skip_code(reason)
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="picket-web-scale-")
    procs = Processes(os.path.join(work, "processes.log"))
    browser = None
    failures = []
    figures = []

    def figure(text):
        figures.append(text)
        print("FIGURE:", text, flush=True)

    try:
        tokens = {f"dev-{i:04d}": f"t{i:04d}-{random.getrandbits(64):016x}" for i in range(args.devices)}
        operator = f"operator-{random.getrandbits(64):016x}"
        tokens_file = write_private(os.path.join(work, "tokens"),
                                    "".join(f"{d} {t}\n" for d, t in tokens.items()) + f"@operator {operator}\n")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        ready = os.path.join(work, "collector.url")
        collector = procs.start([args.picket, "collector", "--listen", f"127.0.0.1:{port}",
                                 "--data", os.path.join(work, "collector"), "--ready-file", ready,
                                 "--tokens", tokens_file, "--no-sessions"], name="collector")
        wait_for("the collector", lambda: os.path.exists(ready) and open(ready).read().strip(), 30)

        cpu, walls = [], []
        for r in range(args.rounds):
            c0, w0 = cpu_seconds(collector.pid), time.monotonic()
            bad = send_round(port, tokens, r)
            walls.append(time.monotonic() - w0)
            cpu.append(cpu_seconds(collector.pid) - c0)
            if bad:
                raise AssertionError(f"round {r}: {len(bad)} heartbeats not answered 200, e.g. {bad[:3]}")
        figure(f"heartbeats: {args.rounds} rounds of {args.devices} devices over {CONNECTIONS} connections: "
               f"collector CPU per round {statistics.median(cpu) * 1000:.0f} ms median "
               f"({', '.join(f'{c * 1000:.0f}' for c in cpu)} ms), wall per round {statistics.median(walls) * 1000:.0f} ms "
               f"median -> {statistics.median(cpu) / statistics.median(walls) * 100:.0f} % of a core while sending; "
               f"at 1 heartbeat / 5 s per device: {statistics.median(cpu) / 5 * 100:.1f} % of a core per {args.devices} devices")

        answers = []
        for _ in range(10):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t0 = time.monotonic()
            conn.request("GET", "/v1/fleet", headers={"Authorization": f"Bearer {operator}"})
            resp = conn.getresponse()
            body = resp.read()
            answers.append(time.monotonic() - t0)
            conn.close()
            if resp.status != 200:
                raise AssertionError(f"GET /v1/fleet: HTTP {resp.status}: {body[:300]!r}")
        fleet = json.loads(body)
        figure(f"GET /v1/fleet with {len(fleet.get('devices', []))} devices: {len(body)} bytes, median "
               f"{statistics.median(answers) * 1000:.1f} ms, max {max(answers) * 1000:.1f} ms (10 requests)")
        if len(fleet.get("devices", [])) != args.devices:
            failures.append(f"/v1/fleet lists {len(fleet.get('devices', []))} devices, expected {args.devices}")

        browser = Browser(work, screenshots)
        browser.login(base, operator)
        loads = []
        for i in range(3):
            browser.driver.get("about:blank")
            browser.driver.get(base + "/#/fleet")  # a new document: performance.now() starts at navigation
            timing = browser.wait(f"the fleet table with {args.devices} rows (load {i + 1})",
                                  lambda d: browser.js("return window.picketTiming && window.picketTiming.fleetPaintMs "
                                                       "? window.picketTiming : null"), 30)
            rows = browser.fleet_rows()
            loads.append(timing["fleetPaintMs"])
            print(f"load {i + 1}: table with {timing['fleetRows']} rows in the DOM at {timing['fleetDomMs']:.0f} ms, "
                  f"first frame after it at {timing['fleetPaintMs']:.0f} ms; rows now {rows}", flush=True)
            if timing["fleetRows"] != args.devices or rows != args.devices:
                failures.append(f"load {i + 1}: the fleet table has {timing['fleetRows']} rows "
                                f"({rows} now), expected {args.devices}")
        browser.screenshot("fleet-1000.png")
        median = statistics.median(loads)
        figure(f"fleet page with {args.devices} devices: navigation start -> table of {args.devices} rows painted: "
               f"median {median:.0f} ms of 3 loads ({', '.join(f'{x:.0f}' for x in loads)} ms); limit {RENDER_LIMIT_MS} ms")
        if median >= RENDER_LIMIT_MS:
            failures.append(f"the fleet page took {median:.0f} ms (median) to render {args.devices} rows "
                            f"(limit {RENDER_LIMIT_MS} ms)")
        counts = browser.text("#fleet-counts")
        print(f"fleet counts on the page: {counts!r}")
    except AssertionError as e:
        failures.append(str(e))
    finally:
        if browser:
            browser.close()
        if failures:
            print("--- processes"); print(procs.log_text()[-4000:])
        procs.stop_all()
        remove_unless_kept(work)
    print("figures:")
    for f in figures:
        print("  " + f)
    print(f"total run time {time.monotonic() - t_start:.1f} s")
    return report(failures)


if __name__ == "__main__":
    sys.exit(main())
