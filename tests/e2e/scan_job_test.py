#!/usr/bin/env python3
"""A scan job in the daemon's config produces results at the collector, once
each, also when the worker is killed (kill -9) mid-scan and resumes from its
checkpoint. Connect mode on 127.0.0.1 (no raw packets): listeners on a known
set of ports; every one must be found, nothing else reported.

usage: scan_job_test.py PICKETD PICKET
Runs as root like the daemon; skips without root unless CI=true."""
import json, os, random, signal, socket, sqlite3, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import report, children, http_get, remove_unless_kept, root_or_skip  # noqa: E402
from servers import Processes, wait_for  # noqa: E402

FIRST, LAST = 21000, 21999   # 1000 probes at 250 pps: 4 s, long enough to kill mid-scan
# Scan ranges of the tests lie below the kernel's ephemeral ports (32768-60999): no other
# test's port-0 listener, running in parallel, can ever be found open in them.


def port_open(port):
    with socket.socket() as c:
        c.settimeout(0.2)
        return c.connect_ex(("127.0.0.1", port)) == 0


def scan_state(db):
    if not os.path.exists(db):
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = con.execute("SELECT value FROM state WHERE key = 'scan:e2e-scan'").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    return json.loads(row[0]) if row else None


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    if (code := root_or_skip()) is not None:
        return code
    work = tempfile.mkdtemp(prefix="picket-scanjob-")
    os.chmod(work, 0o711)  # picketd's worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    listeners = []
    try:
        rng = random.Random(7)
        open_ports = set()
        for port in rng.sample(range(FIRST, LAST + 1), 60):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue  # in use on this machine: not part of the ground truth
            s.listen(64)
            listeners.append(s)
            open_ports.add(port)
            if len(open_ports) == 15:
                break
        # Ports something else on this machine listens on are open too: ground truth is what connects.
        truth = set()
        for port in range(FIRST, LAST + 1):
            with socket.socket() as c:
                c.settimeout(0.2)
                if c.connect_ex(("127.0.0.1", port)) == 0:
                    truth.add(port)
        ready = os.path.join(work, "collector.url")
        procs.start([picket, "collector", "--listen", "127.0.0.1:0", "--data", os.path.join(work, "collector"),
                     "--insecure-no-auth", "--ready-file", ready])
        base = wait_for("collector", lambda: os.path.exists(ready) and open(ready).read().strip())
        buffer_dir = os.path.join(work, "buffer")
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump({"device": {"id": "gw-1"}, "capture": {"enabled": False},
                       "buffer": {"dir": buffer_dir},
                       "upload": {"collectors": [base], "retry_base": "100ms", "retry_max": "1s"},
                       "scans": [{"id": "e2e-scan", "targets": "127.0.0.1", "ports": f"{FIRST}-{LAST}",
                                  "rate_pps": 250, "mode": "connect", "wait": "500ms"}]}, f)
        daemon = procs.start([picketd, "run", "--config", cfg])
        db = os.path.join(buffer_dir, "buffer.db")
        # Kill the worker once a checkpoint well inside the scan is stored.
        wait_for("a checkpoint mid-scan", lambda: (scan_state(db) or {}).get("checkpoint", 0) >= 300, 30)
        state_before = scan_state(db)
        worker = children(daemon.pid)[0]
        os.kill(worker, signal.SIGKILL)
        wait_for("the resumed scan to finish", lambda: (scan_state(db) or {}).get("finished_ms", 0) > 0, 60)
        resumed = [l for l in procs.log_text().splitlines() if "resuming scan job" in l]

        # Our own listeners must all be found. Other ports in the range belong to other tests
        # running alongside (ephemeral ports of their collectors): they may close or open
        # during the scan, so they are allowed, not required.
        def results():
            rows = json.loads(http_get(f"{base}/v1/results?device=gw-1&job=e2e-scan&limit=10000"))
            return open_ports <= {r["port"] for r in rows} and rows
        rows = wait_for("results at the collector", results, 30)
        found = [r["port"] for r in rows]
        failures = []
        if not resumed or "from_index=0 " in resumed[0]:
            failures.append(f"the worker did not resume from a checkpoint: {resumed}")
        false_opens = {p for p in set(found) - truth if not port_open(p)}
        if not open_ports <= set(found) or false_opens:
            failures.append(f"missing {sorted(open_ports - set(found))}, false {sorted(false_opens)}")
        if len(found) != len(set(found)):
            failures.append("a result is listed twice at the collector")
        repeats = sum(r["seen"] - 1 for r in rows)
        print(f"ground truth {len(open_ports)} listeners of ours ({len(truth)} open ports) in {FIRST}-{LAST}; worker killed at checkpoint "
              f"{state_before['checkpoint']}; resumed: {resumed[0].split(' scan ')[-1] if resumed else 'no'}")
        print(f"collector: {len(found)} results, {len(set(found))} distinct, each listed once; "
              f"{repeats} re-reports merged by deduplication")
        return report(failures)
    finally:
        procs.stop_all()
        for s in listeners:
            s.close()
        remove_unless_kept(work)


if __name__ == "__main__":
    sys.exit(main())
