#!/usr/bin/env python3
"""Config changes while traffic flows, against a real ZooKeeper and the real
collector: numbered UDP datagrams (1,000/s, one port) cross 8 capture changes
(snaplen: the worker is restarted) and 8 filter-only changes (applied live),
alternately, about 0.3 s apart, then 8 more the moment the last is applied (a
restart then replaces a new worker whose predecessor still seals, and a filter
change reaches a new worker before it holds the buffer), every filter keeping
the stream's port. Every datagram must be in the chunks at the collector
exactly once: no gap while a worker restarts, no packet in two chunks. The
snaplen changes must restart the worker (pid and starts in the status node),
each a hand-over (worker.handovers) whose first chunk records the switch and no
gap, and the filter changes must not. Last, 4 pairs of a restart change and a
filter change (or, every other pair, a log level change) written back to back
the second once the daemon logged the restart (a filter) or the new worker's
capture armed (a log level), so it reaches the supervisor during the hand-over,
before the new worker's Ready on the older config: one restart per pair.

usage: config_switch_test.py PICKETD PICKET
Root (live capture); skips without root or ZooKeeper unless CI=true."""
import json, os, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import (CollectorChunks, MarkerStream, change_near, config_applied, describe_runs,
                         device_status, http_get, remove_unless_kept, report, root_or_skip,
                         stream_delivered)  # noqa: E402
from servers import (Processes, WaitTimeout, ZooKeeper, skip_code, start_collector, wait_for,
                     zookeeper_missing)  # noqa: E402

ROOT = "/picket-e2e"
DEVICE = "gw-1"
STATUS = f"{ROOT}/devices/{DEVICE}/status"
CONFIG = f"{ROOT}/devices/{DEVICE}/config"
STREAM_PORT = 47700  # the filter changes name 47701.. besides it
PPS = 1000
CHANGES = 16         # odd: snaplen (restart), even: filter only
SPACING = 0.3        # s from one change applied to the next written
BURST = 8            # then this many more, each written the moment the last is applied:
                     # restarts replace a new worker whose predecessor still seals
PAIRS = 4            # then a restart change and a filter (even pairs: log level) change, the
                     # second written as the daemon starts the new worker: it comes during the
                     # hand-over, and must not cost a second restart


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    t_start = time.monotonic()
    if (code := root_or_skip()) is not None:
        return code
    if reason := zookeeper_missing():
        return skip_code(reason)
    work = tempfile.mkdtemp(prefix="picket-cfgswitch-")
    os.chmod(work, 0o711)  # picketd's worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    zkserver = ZooKeeper(work)
    zk = stream = None
    failures, figures = [], []
    try:
        zkserver.start()
        zk = zkserver.client()
        base = start_collector(procs, picket, work)
        port, snaplen = STREAM_PORT + 1, 262144
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump({"device": {"id": DEVICE, "group": "lab"},
                       "capture": {"filter": f"udp port {STREAM_PORT} or udp port {port}",
                                   "chunk_idle": "500ms", "chunk_max_age": "2s"},
                       "buffer": {"dir": os.path.join(work, "buffer")},
                       "upload": {"collectors": [base], "retry_base": "100ms", "retry_max": "1s"},
                       "zookeeper": zkserver.device_section(ROOT, session_timeout_ms=10000)}, f)
        procs.start([picketd, "run", "--config", cfg])
        wait_for("the status node with a running worker", lambda: config_applied(zk, STATUS, 0), 30)
        zk.ensure_path(f"{ROOT}/devices/{DEVICE}")

        stream = MarkerStream(STREAM_PORT, PPS, 60).start()
        lead = time.monotonic() + SPACING
        wait_for("the stream to run", lambda: stream.sent_after(lead) or stream.error, 10)
        changes = []  # {"name", "kind", "write", "applied"}
        for i in range(1, CHANGES + BURST + 1):
            kind = "restart" if i % 2 else "filter"
            if kind == "restart":
                snaplen = 2000 + i
            else:
                port = STREAM_PORT + 1 + i
            doc = {"version": i, "capture": {"filter": f"udp port {STREAM_PORT} or udp port {port}",
                                             "snaplen": snaplen}}
            before = device_status(zk, STATUS)["worker"]
            t0 = time.monotonic()
            (zk.set if i > 1 else zk.create)(CONFIG, json.dumps(doc).encode())
            after = wait_for(f"version {i} applied", lambda: config_applied(zk, STATUS, i), 10)["worker"]
            changes.append({"name": f"{i} ({kind})", "kind": kind, "write": t0, "applied": time.monotonic()})
            restarted = after["pid"] != before["pid"] or after["starts"] != before["starts"]
            if restarted != (kind == "restart"):
                failures.append(f"change {i} ({kind}): worker pid {before['pid']} -> {after['pid']}, "
                                f"starts {before['starts']} -> {after['starts']}")
            if i <= CHANGES:
                time.sleep(SPACING)  # spacing: each change gets stream time to itself, not a sync point
        version = CHANGES + BURST
        for p in range(PAIRS):
            before = device_status(zk, STATUS)["worker"]
            snaplen, port = 3000 + p, STREAM_PORT + 60 + p
            second = "filter" if p % 2 == 0 else "log"
            t0 = time.monotonic()
            for kind in ("restart", second):
                version += 1
                doc = {"version": version, "capture": {}}
                if kind == "filter":
                    port += 10
                elif kind == "log":
                    doc["log"] = {"level": "debug"}
                doc["capture"] = {"filter": f"udp port {STREAM_PORT} or udp port {port}", "snaplen": snaplen}
                zk.set(CONFIG, json.dumps(doc).encode())
                if kind == "restart":
                    logged = len(procs.log_text())
                    line = (f"restarting the worker version={version}\n" if second == "filter"
                            else "worker successor armed: handing over")
                    wait_for(f"the daemon's '{line.strip()}' for version {version}",
                             lambda: line in procs.log_text()[logged:], 10, interval=0.002)
            after = wait_for(f"version {version} applied", lambda: config_applied(zk, STATUS, version), 10)["worker"]
            applied = time.monotonic()
            # One restart for the pair; a second would show as one more hand-over and switch below.
            if after["starts"] != before["starts"] + 1:
                failures.append(f"pair {p + 1}: worker starts {before['starts']} -> {after['starts']} "
                                f"(one restart expected)")
            changes += [{"name": f"{version - 1} (restart, pair)", "kind": "restart", "write": t0,
                         "applied": applied, "pair": True},
                        {"name": f"{version} ({second}, pair)", "kind": second, "write": t0,
                         "applied": applied, "pair": True}]
            time.sleep(SPACING)  # stream time between pairs, not a sync point
        restarts = sum(1 for c in changes if c["kind"] == "restart")
        try:  # a hand-over is counted once the old worker has sealed: after the change is applied
            wait_for(f"status worker.handovers at {restarts} (one per restart)",
                     lambda: device_status(zk, STATUS)["worker"].get("handovers") == restarts, 10)
        except WaitTimeout as e:
            handovers = device_status(zk, STATUS)["worker"].get("handovers")
            failures.append(f"{e}: it is {handovers}")
        tail = time.monotonic()
        wait_for("the stream past the last change", lambda: stream.sent_after(tail) or stream.error, 10)
        stream.stop()
        if stream.error or stream.capped:
            failures.append(f"the stream ended early: {stream.error or 'over its 60 s bound'}")

        chunks = CollectorChunks(base, DEVICE)
        try:
            data = wait_for("the stream's last datagram at the collector",
                            lambda: stream_delivered(chunks, stream), 30, interval=0.2)
        except WaitTimeout as e:
            failures.append(str(e))
            data = chunks.data()
        # Each restart's first chunk records the switch, none records a gap.
        rows = json.loads(http_get(f"{base}/v1/devices/{DEVICE}/chunks?limit=1000"))
        switched = [r["seq"] for r in rows if (r.get("switched_at_us") or 0) > 0]
        gaps = [r["seq"] for r in rows if (r.get("gap_before_ms") or 0) > 0]
        if len(switched) != restarts or gaps:
            failures.append(f"chunks recording a switch: {switched} (expected {restarts}, one per "
                            f"restart); recording a gap: {gaps} (expected none)")
        counts = stream.counts(data)
        lost = [n for n, c in enumerate(counts, 1) if c == 0]
        doubled = [n for n, c in enumerate(counts, 1) if c > 1]
        for what, numbers in (("lost", lost), ("duplicated", doubled)):
            if numbers:
                failures.append(f"{len(numbers)} of {len(counts)} datagrams {what}:\n      " +
                                "\n      ".join(describe_runs(numbers, stream, changes)))

        latency = {k: sorted(c["applied"] - c["write"] for c in changes
                             if c["kind"] == k and not c.get("pair"))
                   for k in ("restart", "filter")}
        near = {"restart": 0, "filter": 0}  # lost datagrams sent within 50 ms of a change
        for n in lost:
            if (j := change_near(stream.sent_at[n - 1], changes, 0.05)) is not None:
                near[changes[j]["kind"]] += 1
        figures += [
            f"stream: {len(counts)} datagrams sent at {PPS}/s to udp {STREAM_PORT} over "
            f"{stream.sent_at[-1] - stream.sent_at[0]:.1f} s: {counts.count(1)} captured once, "
            f"{len(lost)} lost ({near['restart']} around restarts, {near['filter']} around filter changes), "
            f"{len(doubled)} duplicated",
            *(f"{k} changes: {len(v)}, applied in {v[len(v) // 2] * 1000:.0f} ms (p50), "
              f"{v[-1] * 1000:.0f} ms (max)" for k, v in latency.items())]
    except AssertionError as e:
        failures.append(str(e))
    finally:
        if stream:
            stream.stop()
        if zk is not None:
            zk.stop()
        if failures:  # the daemon's side of the switches; the collector's requests are noise here
            print("\n".join([ln for ln in procs.log_text().splitlines() if "collector request" not in ln][-40:]))
        procs.stop_all()
        zkserver.stop()
        remove_unless_kept(work)
    return report(failures, figures, t_start)


if __name__ == "__main__":
    sys.exit(main())
