#!/usr/bin/env python3
"""What one idle device costs ZooKeeper (issue #18, acceptance 3): a real ZooKeeper, the real
collector registered in ZooKeeper (it writes the fleet's identities) and one picketd capturing
`lo`, its group and device config nodes present, an empty
/jobs folder. After the device is running, a window of --seconds (30) is measured on the
server: requests = the growth of the last client xid of every connection the device opened (`cons` lcxid;
pings and watch events carry no xid), writes = the growth of the server's zxid (nobody else
writes meanwhile), reads = requests - writes. Goal: ≤ 0.3 writes/s and ≤ 0.5 reads/s, and the
status node still refreshed at its documented 5 s cadence (its updated_at_ms moves).

usage: zk_load_test.py PICKETD PICKET [--seconds N]
Root (live capture); skips without root or ZooKeeper unless CI=true."""
import argparse, json, os, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import config_applied, device_status, remove_unless_kept, report, root_or_skip  # noqa: E402
from servers import (Processes, ZooKeeper, free_port, skip_code, start_collector, wait_for,
                     zk_session_xids, zk_zxid, zookeeper_missing)  # noqa: E402

ROOT = "/picket-zkload"
DEVICE = "gw-1"
STATUS = f"{ROOT}/devices/{DEVICE}/status"
MAX_WRITES_PER_S = 0.3
MAX_READS_PER_S = 0.5


def server_counts(port, skip_sids):
    """(sum of lcxid over the connections other than skip_sids, server zxid, sids seen)."""
    xids = {sid: xid for sid, xid in zk_session_xids(port).items() if sid not in skip_sids}
    return sum(xids.values()), zk_zxid(port), set(xids)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picketd"), ap.add_argument("picket")
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    if (code := root_or_skip()) is not None:
        return code
    if reason := zookeeper_missing():
        return skip_code(reason)
    work = tempfile.mkdtemp(prefix="picket-zkload-")
    os.chmod(work, 0o711)  # the worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    zkserver = ZooKeeper(work)
    failures, figures = [], []
    t_start = time.monotonic()
    try:
        zkserver.start()
        port = int(zkserver.hosts.rsplit(":", 1)[1])
        zk = zkserver.client()
        zk.ensure_path(f"{ROOT}/jobs")
        zk.create(f"{ROOT}/groups/lab/config", json.dumps({"version": 1}).encode(), makepath=True)
        zk.create(f"{ROOT}/devices/{DEVICE}/config", json.dumps({"version": 2}).encode(), makepath=True)
        # The collector registers in ZooKeeper and writes the fleet's identities, as in a fleet.
        http_port = free_port()
        base = start_collector(procs, args.picket, work, "--zk", zkserver.hosts, "--zk-root", ROOT,
                               "--advertise", f"http://127.0.0.1:{http_port}", *zkserver.admin_flags(),
                               listen=f"127.0.0.1:{http_port}")
        wait_for("the collector registered", lambda: zk.exists(f"{ROOT}/collectors") and
                 zk.get_children(f"{ROOT}/collectors"), 30)
        _, _, others = server_counts(port, set())  # this script's and the collector's sessions
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump({"device": {"id": DEVICE, "group": "lab"},
                       "capture": {"filter": "udp port 47091", "chunk_idle": "500ms"},
                       "buffer": {"dir": os.path.join(work, "buffer")},
                       "upload": {"collectors": [base]},
                       "zookeeper": zkserver.device_section(ROOT, session_timeout_ms=10000)}, f)
        procs.start([args.picketd, "run", "--config", cfg])
        wait_for("version 2 applied with a running worker", lambda: config_applied(zk, STATUS, 2), 30)
        # Settled: the worker's first counters and the config proof are behind it.
        wait_for("the config proven (last good)",
                 lambda: "now the last good one" in procs.log_text(), 30)
        _, stat0 = zk.get(STATUS)
        r0, z0, sids0 = server_counts(port, others)
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.seconds:  # the measured window itself
            time.sleep(0.5)
        r1, z1, sids1 = server_counts(port, others)
        elapsed = time.monotonic() - t0
        _, stat1 = zk.get(STATUS)
        writes, requests = z1 - z0, r1 - r0
        reads = requests - writes
        w_s, r_s = writes / elapsed, reads / elapsed
        figures.append(f"idle device over {elapsed:.1f} s, {len(sids1)} ZooKeeper sessions: "
                       f"{writes} writes ({w_s:.2f}/s, goal ≤ {MAX_WRITES_PER_S}), "
                       f"{reads} reads ({r_s:.2f}/s, goal ≤ {MAX_READS_PER_S}); "
                       f"status node written {stat1.version - stat0.version} times")
        if sids0 != sids1:
            failures.append(f"the device's sessions changed during the window: {sids0} -> {sids1}")
        if w_s > MAX_WRITES_PER_S:
            failures.append(f"{w_s:.2f} writes/s")
        if r_s > MAX_READS_PER_S:
            failures.append(f"{r_s:.2f} reads/s")
        status = device_status(zk, STATUS)
        if stat1.version == stat0.version or time.time() * 1000 - status.get("updated_at_ms", 0) > 7000:
            failures.append(f"the status node was not refreshed every 5 s: {status.get('updated_at_ms')}")

        # The same device scanning a shard of a shared job (a connect scan of 127.0.0.1 at
        # 100 probes/s, ~40 s): claims, checkpoints and the status's scan entry cost this much.
        zk.create(f"{ROOT}/jobs/load", json.dumps({
            "targets": "127.0.0.1", "ports": "1-4000", "rate_pps": 100, "mode": "connect",
            "retries": 0, "shards": 1, "group": "lab"}).encode())
        wait_for("the shard claimed", lambda: zk.exists(f"{ROOT}/jobs/load/claims/0"), 30)
        r0, z0, _ = server_counts(port, others)
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.seconds / 2:  # the measured window itself
            time.sleep(0.5)
        r1, z1, _ = server_counts(port, others)
        elapsed = time.monotonic() - t0
        writes, reads = z1 - z0, (r1 - r0) - (z1 - z0)
        figures.append(f"scanning a shared job over {elapsed:.1f} s: {writes} writes ({writes / elapsed:.2f}/s), "
                       f"{reads} reads ({reads / elapsed:.2f}/s)")
        if writes / elapsed > 1.0 or reads / elapsed > 3.0:
            failures.append(f"in a job: {writes / elapsed:.2f} writes/s, {reads / elapsed:.2f} reads/s "
                            "(bound 1 and 3)")
        zk.stop()
    except AssertionError as e:
        failures.append(str(e))
    finally:
        if failures:
            print(procs.log_text()[-4000:])
        procs.stop_all()
        zkserver.stop()
        remove_unless_kept(work)
    return report(failures, figures, t_start)


if __name__ == "__main__":
    sys.exit(main())
