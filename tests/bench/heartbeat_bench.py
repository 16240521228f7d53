#!/usr/bin/env python3
"""The collector's cost of heartbeats: N synthetic devices (tests/pylib/heartbeats.py) each post
one heartbeat every 5 s to a fresh `picket collector` on loopback for a bounded time; prints the
collector's CPU seconds (user + system, from /proc) per wall second and per 1,000 devices, CPU
per heartbeat, its RSS, the fleet.db size, and GET /v1/fleet and /metrics latency with N devices.

usage: heartbeat_bench.py PICKET [--devices 1000] [--seconds 60] [--interval 5]"""
import argparse, json, os, statistics, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from heartbeats import HeartbeatFleet, device_ids, write_tokens  # noqa: E402
from servers import Processes, machine_line, start_collector  # noqa: E402

OPERATOR = "bench-operator-" + "7" * 20


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick  # utime + stime


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def timed_get(url):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {OPERATOR}"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return (time.perf_counter() - t) * 1000, body


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("picket")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--interval", type=float, default=5.0)
    a = ap.parse_args()
    a.seconds = min(a.seconds, 600.0)  # bounded
    print(machine_line())
    work = tempfile.mkdtemp(prefix="picket-hb-bench-")
    os.chmod(work, 0o711)  # picketd's worker runs as security.user and must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"), detach=True)
    try:
        tokens = write_tokens(os.path.join(work, "tokens"), device_ids(a.devices), operator_token=OPERATOR)
        url = start_collector(procs, a.picket, work, "--tokens", os.path.join(work, "tokens"))
        pid = procs.procs[-1].pid
        fleet = HeartbeatFleet(url, tokens, interval_ms=int(a.interval * 1000))
        fleet.beat_all()  # every device known before the measured run
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        sent = fleet.run(duration_s=a.seconds, interval_s=a.interval)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(pid) - cpu0
        fleet.close()
        if fleet.failures:
            print(f"FAIL: {len(fleet.failures)} heartbeats refused, e.g. {fleet.failures[:3]}")
            return 1
        offered = a.devices / a.interval
        rate = sent / wall
        print(f"{a.devices} devices, 1 heartbeat / {a.interval:g} s each: offered {offered:.0f}/s, "
              f"sent {sent} in {wall:.1f} s ({rate:.0f}/s)")
        per_1000 = cpu / wall * 1000 / a.devices * (offered / rate if rate else 1)
        print(f"collector CPU: {cpu:.2f} s in {wall:.1f} s = {cpu / wall * 100:.1f}% of a core; "
              f"{per_1000:.3f} CPU-s per wall-s per 1,000 devices; "
              f"{cpu / max(sent, 1) * 1e6:.0f} µs CPU per heartbeat")
        print(f"collector RSS {rss_mib(pid):.0f} MiB; fleet.db "
              f"{sum(os.path.getsize(os.path.join(work, 'collector', f)) for f in os.listdir(os.path.join(work, 'collector')) if f.startswith('fleet.db')) / 2**20:.1f} MiB")
        for path in ("/v1/fleet", "/v1/issues", "/metrics"):
            times = []
            for _ in range(20):
                ms, body = timed_get(url + path)
                times.append(ms)
            extra = ""
            if path == "/v1/fleet":
                doc = json.loads(body)
                extra = f", {len(doc['devices'])} rows, counts {doc['counts']}"
            print(f"GET {path}: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms "
                  f"over 20{extra}")
        return 0
    finally:
        procs.stop_all()
        os.system(f"rm -rf {work}")


if __name__ == "__main__":
    sys.exit(main())
