#!/usr/bin/env python3
"""A config that validates but cannot run, against a real ZooKeeper and the real collector
(issue 14, acceptance 2):
  1. version 1 (a capture change) runs and becomes last good only after its worker ran it;
  2. version 2 names an interface that does not exist: its worker fails, the device is back
     capturing on version 1 within 10 s (measured), and the status node shows the refusal
     with the worker's own error, applied 1 / desired 2 at every moment sampled (never
     applied 2), and last_error;
  3. a reboot without ZooKeeper boots version 1, never the broken one; when ZooKeeper returns
     with version 2 still in the znode, it is refused again without a worker start;
  4. a fixed config (version 3) is applied normally and the refusal clears.

usage: config_rollback_test.py PICKETD PICKET
Root (live capture); skips without root or ZooKeeper unless CI=true."""
import json, os, re, signal, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import (config_applied, device_status, http_get,
                         remove_unless_kept, report, root_or_skip, send_marked)  # noqa: E402
from servers import (Processes, ZooKeeper, skip_code, start_collector, wait_for,
                     zookeeper_missing)  # noqa: E402

ROOT = "/picket-rollback"
DEVICE = "gw-rb"
STATUS = f"{ROOT}/devices/{DEVICE}/status"
CONFIG = f"{ROOT}/devices/{DEVICE}/config"
BROKEN = "picketnosuch0"
ROLLBACK_LIMIT_S = 10.0


def status(zk):
    return device_status(zk, STATUS)


def applied(zk, version):
    return config_applied(zk, STATUS, version)


def collector_bytes(base):
    chunks = json.loads(http_get(f"{base}/v1/devices/{DEVICE}/chunks"))
    return b"".join(http_get(f"{base}/v1/devices/{DEVICE}/chunks/{c['seq']}") for c in chunks)


def captured(base, port, marker, timeout=30):
    """Sends marked packets until all of one round reach the collector (capture is on)."""
    def round_arrived():
        tag = marker + b"-%d" % int(time.monotonic() * 1000)
        send_marked(port, tag, 5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            data = collector_bytes(base)
            if all(tag + b"-%d" % i in data for i in range(5)):
                return True
            time.sleep(0.2)  # polling the collector with a deadline
        return False
    return wait_for(f"{marker.decode()} packets at the collector", round_arrived, timeout)


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    if (code := root_or_skip()) is not None:
        return code
    if reason := zookeeper_missing():
        return skip_code(reason)
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="picket-rollback-")
    os.chmod(work, 0o711)  # picketd's worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    zkserver = ZooKeeper(work)
    failures, figures = [], []
    try:
        zkserver.start()
        zk = zkserver.client()
        base = start_collector(procs, picket, work)
        port = 47101
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump({"device": {"id": DEVICE, "group": "lab"},
                       "capture": {"filter": f"udp port {port}", "chunk_idle": "300ms", "chunk_max_age": "1s"},
                       "buffer": {"dir": os.path.join(work, "buffer")},
                       "upload": {"collectors": [base], "retry_base": "100ms", "retry_max": "1s"},
                       "zookeeper": zkserver.device_section(ROOT)}, f)
        daemon = procs.start([picketd, "run", "--config", cfg])
        wait_for("the status node with a running worker", lambda: applied(zk, 0), 30)

        # 1. Version 1 restarts the worker; it is last good only once that worker has run it.
        zk.ensure_path(f"{ROOT}/devices/{DEVICE}")
        zk.create(CONFIG, json.dumps({"version": 1, "capture": {"snaplen": 2000}}).encode())
        s1 = wait_for("version 1 applied", lambda: applied(zk, 1), 15)
        if s1["config"].get("last_good_version") == 1:
            failures.append("version 1 was last good as soon as its worker was ready")
        t_proof = time.monotonic()
        wait_for("version 1 proven (last good)",
                 lambda: status(zk).get("config", {}).get("last_good_version") == 1, 30)
        figures.append(f"version 1 became last good {time.monotonic() - t_proof:.1f} s after its worker was ready")
        captured(base, port, b"V1")

        # 2. The broken version 2: rolled back to 1 within 10 s, refusal with the worker's error.
        starts_before = status(zk)["worker"]["starts"]
        captures_before = procs.log_text().count("INFO worker capturing")
        t0 = time.monotonic()
        zk.set(CONFIG, json.dumps({"version": 2, "capture": {"interface": BROKEN}}).encode())
        samples, wrong = 0, []

        def rolled_back():
            nonlocal samples
            s = status(zk)
            samples += 1
            c = s.get("config", {})
            if c.get("applied_version") == 2:
                wrong.append(f"applied_version 2 shown while its worker fails: {c}")
            refused = c.get("refused") or {}
            back = (refused.get("version") == 2 and c.get("applied_version") == 1 and
                    s.get("worker", {}).get("state") == "running" and
                    procs.log_text().count("INFO worker capturing") > captures_before and
                    s.get("worker", {}).get("starts", 0) > starts_before + 1)
            return back and s
        s2 = wait_for("capture back on version 1 after the rollback", rolled_back, 30)
        rollback_s = time.monotonic() - t0
        failures.extend(wrong[:1])
        figures.append(f"missing interface: capturing on last good version 1 {rollback_s:.2f} s after the "
                       f"znode write (limit {ROLLBACK_LIMIT_S:.0f} s); {s2['worker']['starts'] - starts_before} "
                       f"worker starts; {samples} status samples, none with applied 2")
        if rollback_s > ROLLBACK_LIMIT_S:
            failures.append(f"rollback took {rollback_s:.2f} s, over {ROLLBACK_LIMIT_S} s")
        c2 = s2["config"]
        if c2.get("desired_version") != 2:
            failures.append(f"desired_version is not 2 after the rollback: {c2}")
        if BROKEN not in c2["refused"].get("error", ""):
            failures.append(f"the refusal does not carry the worker's error: {c2['refused']}")
        if BROKEN not in (s2.get("last_error") or ""):
            failures.append(f"last_error does not name the failure: {s2.get('last_error')}")
        figures.append(f"refusal: {c2['refused']['error'][:150]}")
        captured(base, port, b"ROLLEDBACK")
        wait_for("crash_loop false once the last good worker has run",
                 lambda: status(zk).get("worker", {}).get("crash_loop") is False, 20)

        # 3. Reboot without ZooKeeper: version 1 boots, the broken one never does.
        zk.stop()
        zkserver.stop()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        log_before = len(procs.log_text())
        daemon = procs.start([picketd, "run", "--config", cfg])
        wait_for("the last good config in the log",
                 lambda: "starting on the last good config from ZooKeeper version=1" in procs.log_text()[log_before:], 20)
        captured(base, port, b"REBOOT-NO-ZK")
        if BROKEN in procs.log_text()[log_before:]:
            failures.append("the device rebooted without ZooKeeper tried the broken interface")
        zkserver.start()
        zk = zkserver.client()
        s3 = wait_for("the rolled-back config refused again after ZooKeeper returned",
                      lambda: (lambda s: s.get("pid") == daemon.pid and
                               (s.get("config", {}).get("refused") or {}).get("version") == 2 and s)(status(zk)), 30)
        if re.search(r"worker cannot start .*" + BROKEN, procs.log_text()[log_before:]):
            failures.append("ZooKeeper's copy of the broken config was booted again")
        if s3["config"].get("applied_version") != 1:
            failures.append(f"applied is not 1 after ZooKeeper returned: {s3['config']}")
        figures.append("reboot without ZooKeeper: last good version 1 captured; with ZooKeeper back, "
                       "version 2 refused again without a worker start")

        # 4. The fix: version 3 is applied normally.
        zk.set(CONFIG, json.dumps({"version": 3, "capture": {"interface": "lo", "snaplen": 3000}}).encode())
        s4 = wait_for("version 3 applied", lambda: applied(zk, 3), 15)
        if s4["config"].get("refused") is not None:
            failures.append(f"the refusal did not clear with the fix: {s4['config']}")
        captured(base, port, b"FIXED")
        zk.stop()
    except AssertionError as e:
        failures.append(str(e))
    finally:
        if failures:
            print(procs.log_text()[-6000:])
        procs.stop_all()
        zkserver.stop()
        remove_unless_kept(work)
    return report(failures, figures, t_start)


if __name__ == "__main__":
    sys.exit(main())
