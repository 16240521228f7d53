#!/usr/bin/env python3
"""The ZooKeeper control plane on one device, against a real ZooKeeper and the
real collector:
  1. a filter change and a capture change written to the device's znode are
     applied (worker state and applied version in the status node) and the
     traffic only the new filter matches reaches the collector;
  2. 20 invalid configs are refused, each one shown in the status node, while
     the worker (same PID) keeps running the last good config;
  3. a device restarted while ZooKeeper is down runs its last good config;
  4. a forced session expiry (supervisor SIGSTOPped past the session timeout)
     is recovered without a restart: same PID, a new session, status back.

usage: zk_config_test.py PICKETD PICKET
Root (live capture); skips without root or ZooKeeper unless CI=true."""
import json, os, random, signal, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import (children, config_applied, device_status, http_get,
                         remove_unless_kept, report, root_or_skip, send_marked)  # noqa: E402
from servers import (Processes, ZooKeeper, skip_code, start_collector, wait_for,
                     zookeeper_missing)  # noqa: E402

ROOT = "/picket-e2e"
DEVICE = "gw-1"
STATUS = f"{ROOT}/devices/{DEVICE}/status"
CONFIG = f"{ROOT}/devices/{DEVICE}/config"
SESSION_MS = 4000


def invalid_configs():
    """20 documents the daemon must refuse: (name, bytes)."""
    rng = random.Random(20)
    junk = bytes(rng.getrandbits(8) for _ in range(900 * 1024))
    docs = [
        ("bad JSON", b'{"capture": {"filter": "udp"'),
        ("JSON array", b"[1, 2, 3]"),
        ("JSON string", b'"capture everything"'),
        ("900 KB of junk", junk),
        ("1000 nested arrays", b"[" * 1000),
    ]
    objects = [
        ("bad BPF", {"capture": {"filter": "tcp port eighty"}}),
        ("BPF syntax", {"capture": {"filter": "udp and and"}}),
        ("CIDR prefix 33", {"scans": [{"id": "s", "targets": "10.0.0.0/33", "ports": "80"}]}),
        ("CIDR bad octet", {"scans": [{"id": "s", "targets": "300.1.1.1", "ports": "80"}]}),
        ("port 70000", {"scans": [{"id": "s", "targets": "127.0.0.1", "ports": "70000"}]}),
        ("rate 0", {"scans": [{"id": "s", "targets": "127.0.0.1", "ports": "80", "rate_pps": 0}]}),
        ("scans not an array", {"scans": {"id": "s"}}),
        ("snaplen string", {"capture": {"snaplen": "big"}}),
        ("enabled string", {"capture": {"enabled": "yes"}}),
        ("interface number", {"capture": {"interface": 5}}),
        ("buffer_mib 0", {"capture": {"buffer_mib": 0}}),
        ("unknown key", {"captur": {"filter": "udp"}}),
        ("collector scheme", {"upload": {"collectors": ["ftp://127.0.0.1"]}}),
        ("threads string", {"upload": {"threads": "two"}}),
        ("log level", {"log": {"level": "loud"}}),
    ]
    for i, (name, doc) in enumerate(objects):
        docs.append((name, json.dumps(dict(doc, version=100 + i)).encode()))
    assert len(docs) == 20
    return docs


def status(zk):
    return device_status(zk, STATUS)


def applied(zk, version):
    return config_applied(zk, STATUS, version)


def all_marked(data, marker, count=20):
    return all(marker + b"-%d" % i in data for i in range(count))


def collector_bytes(base):
    chunks = json.loads(http_get(f"{base}/v1/devices/{DEVICE}/chunks"))
    return b"".join(http_get(f"{base}/v1/devices/{DEVICE}/chunks/{c['seq']}") for c in chunks)


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    if (code := root_or_skip()) is not None:
        return code
    if reason := zookeeper_missing():
        return skip_code(reason)
    work = tempfile.mkdtemp(prefix="picket-zkconfig-")
    os.chmod(work, 0o711)  # picketd's worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    zkserver = ZooKeeper(work)
    failures = []
    try:
        zkserver.start()
        zk = zkserver.client()
        base = start_collector(procs, picket, work)
        p1, p2 = 47001, 47002
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump({"device": {"id": DEVICE, "group": "lab"},
                       "capture": {"filter": f"udp port {p1}", "chunk_idle": "500ms", "chunk_max_age": "2s"},
                       "buffer": {"dir": os.path.join(work, "buffer")},
                       "upload": {"collectors": [base], "retry_base": "100ms", "retry_max": "1s"},
                       "zookeeper": zkserver.device_section(ROOT, session_timeout_ms=SESSION_MS)}, f)
        daemon = procs.start([picketd, "run", "--config", cfg])
        wait_for("the status node with a running worker", lambda: applied(zk, 0), 30)

        # 1. A filter-only change is applied live; a capture change restarts the worker.
        zk.ensure_path(f"{ROOT}/devices/{DEVICE}")
        worker_before = status(zk)["worker"]["pid"]
        zk.create(CONFIG, json.dumps({"version": 2, "capture": {"filter": f"udp port {p2}"}}).encode())
        wait_for("version 2 applied", lambda: applied(zk, 2), 10)
        if status(zk)["worker"]["pid"] != worker_before:
            failures.append("a filter-only change restarted the worker")
        send_marked(p1, b"OLDFILTER-v2")
        send_marked(p2, b"NEWFILTER-v2")
        zk.set(CONFIG, json.dumps({"version": 3, "capture": {"filter": f"udp port {p1}", "snaplen": 2000}}).encode())
        s3 = wait_for("version 3 applied", lambda: applied(zk, 3), 10)
        if s3["worker"]["pid"] == worker_before:
            failures.append("a snaplen change did not restart the worker")
        send_marked(p1, b"NEWFILTER-v3")
        send_marked(p2, b"OLDFILTER-v3")
        data = wait_for("the marked packets at the collector",
                        lambda: (lambda d: all_marked(d, b"NEWFILTER-v2") and all_marked(d, b"NEWFILTER-v3") and d)(
                            collector_bytes(base)), 30)
        for marker in (b"OLDFILTER-v2", b"OLDFILTER-v3"):
            if marker in data:
                failures.append(f"{marker.decode()} packets were captured after the filter changed")
        print("filter change live (same worker), capture change restarted the worker; every packet "
              "matching the new filters captured (20 + 20), none matching only the old ones")

        # 2. 20 invalid configs: refused, shown in the status node, the worker keeps running.
        good = status(zk)
        worker_pid = good["worker"]["pid"]
        for name, doc in invalid_configs():
            stat = zk.set(CONFIG, doc)
            expected = stat.version
            try:
                v = json.loads(doc)
                if isinstance(v, dict) and isinstance(v.get("version"), int):
                    expected = v["version"]
            except (ValueError, RecursionError):
                pass
            def refused():
                s = status(zk)
                r = s.get("config", {}).get("refused") or {}
                return r.get("version") == expected and s
            try:
                s = wait_for(f"refusal of {name}", refused, 10)
            except AssertionError as e:
                failures.append(str(e))
                continue
            errors = s["config"]["refused"]["errors"]
            if s["config"]["applied_version"] != 3 or s["worker"]["pid"] != worker_pid:
                failures.append(f"{name}: the running config or worker changed: {s['config']} {s['worker']}")
            if not children(daemon.pid) or children(daemon.pid)[0] != worker_pid:
                failures.append(f"{name}: the worker process changed")
            print(f"refused {name!r} (version {expected}): {errors[0][:110]}")
        send_marked(p1, b"STILL-CAPTURING")
        wait_for("capture still running after the refusals",
                 lambda: all_marked(collector_bytes(base), b"STILL-CAPTURING"), 30)

        # 3. Restart the device while ZooKeeper is down: it runs the last good config (3).
        zk.set(CONFIG, json.dumps({"version": 4, "capture": {"filter": f"udp port {p2}"}}).encode())
        wait_for("version 4 applied", lambda: applied(zk, 4), 10)
        zk.stop()
        zkserver.stop()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        captures_before = procs.log_text().count("INFO worker capturing")
        daemon = procs.start([picketd, "run", "--config", cfg])
        wait_for("the last good config in the log",
                 lambda: "starting on the last good config from ZooKeeper version=4" in procs.log_text(), 20)
        wait_for("the new worker capturing",
                 lambda: procs.log_text().count("INFO worker capturing") > captures_before, 20)
        send_marked(p2, b"LASTGOOD-NO-ZK")
        wait_for("the last good filter capturing without ZooKeeper",
                 lambda: all_marked(collector_bytes(base), b"LASTGOOD-NO-ZK"), 30)
        zkserver.start()
        zk = zkserver.client()
        wait_for("status of the restarted device after ZooKeeper returned",
                 lambda: (lambda s: s and s.get("pid") == daemon.pid and s)(applied(zk, 4)), 30)
        print("device restarted without ZooKeeper ran the last good config (version 4)")

        # 4. Forced session expiry: the supervisor is frozen past the session timeout.
        before = status(zk)
        os.kill(daemon.pid, signal.SIGSTOP)
        wait_for("the status node to vanish with the expired session",
                 lambda: not zk.exists(STATUS), SESSION_MS / 1000 * 4)
        os.kill(daemon.pid, signal.SIGCONT)
        after = wait_for("status from a new session",
                         lambda: (lambda s: s.get("zk_sessions", 0) > before.get("zk_sessions", 0) and s)(status(zk)), 30)
        if after["pid"] != before["pid"] or daemon.poll() is not None:
            failures.append("picketd restarted to recover from the session expiry")
        zk.set(CONFIG, json.dumps({"version": 5, "capture": {"filter": f"udp port {p1}"}}).encode())
        wait_for("version 5 applied after the expiry", lambda: applied(zk, 5), 10)
        print(f"session expiry recovered in-process: sessions {before.get('zk_sessions')} -> "
              f"{after['zk_sessions']}, pid {after['pid']} unchanged, watches re-armed")
        zk.stop()
    except AssertionError as e:
        failures.append(str(e))
    finally:
        if failures:
            print(procs.log_text()[-6000:])
        procs.stop_all()
        zkserver.stop()
        remove_unless_kept(work)
    return report(failures)


if __name__ == "__main__":
    sys.exit(main())
