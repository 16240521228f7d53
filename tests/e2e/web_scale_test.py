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
The synthetic devices are tests/pylib/heartbeats.py's (as tests/bench/heartbeat_bench.py's).
usage: web_scale_test.py PICKETD PICKET [--devices N] [--rounds R] [--screenshots DIR]
Skips without Chromium unless CI=true; needs no root."""
import argparse, http.client, json, os, random, statistics, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import remove_unless_kept, report  # noqa: E402
from heartbeats import HeartbeatFleet, device_ids, write_tokens  # noqa: E402
from servers import Processes, free_port, skip_code, wait_for  # noqa: E402
from web_support import Browser, browser_missing  # noqa: E402

RENDER_LIMIT_MS = 1000
CONNECTIONS = 8


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
        operator = f"operator-{random.getrandbits(64):016x}"
        tokens_file = os.path.join(work, "tokens")
        tokens = write_tokens(tokens_file, device_ids(args.devices, "dev"), operator_token=operator)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        ready = os.path.join(work, "collector.url")
        collector = procs.start([args.picket, "collector", "--listen", f"127.0.0.1:{port}",
                                 "--data", os.path.join(work, "collector"), "--ready-file", ready,
                                 "--tokens", tokens_file, "--no-sessions"], name="collector")
        wait_for("the collector", lambda: os.path.exists(ready) and open(ready).read().strip(), 30)

        cpu, walls = [], []
        fleet_of = HeartbeatFleet(base, tokens, connections=CONNECTIONS, timeout=30)
        try:
            for r in range(args.rounds):
                c0, w0 = cpu_seconds(collector.pid), time.monotonic()
                fleet_of.beat_all()
                walls.append(time.monotonic() - w0)
                cpu.append(cpu_seconds(collector.pid) - c0)
                if fleet_of.failures:
                    raise AssertionError(f"round {r}: {len(fleet_of.failures)} heartbeats not answered 200, "
                                         f"e.g. {fleet_of.failures[:3]}")
        finally:
            fleet_of.close()
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
    return report(failures, figures, t_start)


if __name__ == "__main__":
    sys.exit(main())
