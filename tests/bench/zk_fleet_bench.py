#!/usr/bin/env python3
"""`picket devices` at fleet size (issue #18, acceptance 3): a ZooKeeper started here holds N
simulated devices (config, a ~700-byte status and, for every 50th, a sync refusal node; 10 groups
with a config each), and `picket devices` lists them. Beside it, in the same run, the same
reads by kazoo one at a time (what the CLI did before: 3 round trips per device) and kazoo
pipelined (get_async for all, ZooKeeper's floor from Python). The status nodes are written once
by this script, not by live sessions: the load of N real device sessions is not measured here.

A benchmark program, not a test (never registered with ctest). Needs java + the Debian
zookeeper package and python3-kazoo; installs nothing. Loopback only; the ZooKeeper started
here is stopped by PID at the end.

usage: zk_fleet_bench.py PICKET [--devices 2000,10000] [--runs 3]"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-kazoo
from servers import ZooKeeper, machine_line, zookeeper_missing  # noqa: E402

ROOT = "/picket-bench"


def status_doc(device, group):
    return json.dumps({
        "device": device, "group": group, "updated_at_ms": int(time.time() * 1000), "zk_sessions": 1,
        "zookeeper": "connected", "config": {"applied_version": 3, "desired_version": 3,
                                             "applied_group_version": 2},
        "worker": {"state": "running", "pid": 4242, "starts": 1, "unexpected_exits": 0,
                   "crash_loop": False, "seccomp_kills": 0},
        "counters": {"packets": 123456789, "drops": 0, "chunks_sealed": 4242, "chunks_pending": 0,
                     "bytes_pending": 0, "batches_pending": 0, "chunks_evicted": 0,
                     "bytes_evicted": 0, "uploads_ok": 4300, "uploads_failed": 2,
                     "bytes_uploaded": 987654321, "oldest_pending_age_s": 0},
        "scan": [], "last_error": ""}).encode()


def populate(zk, total):
    """Creates devices gw-00000.. up to `total` (keeps the ones already there)."""
    zk.ensure_path(f"{ROOT}/devices")
    for g in range(10):
        zk.ensure_path(f"{ROOT}/groups/g{g}")
        if not zk.exists(f"{ROOT}/groups/g{g}/config"):
            zk.create(f"{ROOT}/groups/g{g}/config", json.dumps({"version": 2}).encode())
    have = len(zk.get_children(f"{ROOT}/devices"))
    pending = []
    for i in range(have, total):
        d, g = f"gw-{i:05d}", f"g{i % 10}"
        pending.append(zk.create_async(f"{ROOT}/devices/{d}", b""))
        if len(pending) >= 2000:
            [p.get() for p in pending]
            pending = []
    [p.get() for p in pending]
    pending = []
    for i in range(have, total):
        d, g = f"gw-{i:05d}", f"g{i % 10}"
        pending.append(zk.create_async(f"{ROOT}/devices/{d}/config",
                                       json.dumps({"version": 3, "group": g}).encode()))
        pending.append(zk.create_async(f"{ROOT}/devices/{d}/status", status_doc(d, g)))
        if i % 50 == 0:
            pending.append(zk.create_async(f"{ROOT}/devices/{d}/sync", b"row refused: bench"))
        if len(pending) >= 3000:
            [p.get() for p in pending]
            pending = []
    [p.get() for p in pending]


def node_paths(zk):
    ids = sorted(zk.get_children(f"{ROOT}/devices"))
    return [f"{ROOT}/devices/{d}/{n}" for d in ids for n in ("config", "status", "sync")]


def kazoo_sequential(zk, paths):
    from kazoo.exceptions import NoNodeError
    t0 = time.monotonic()
    for p in paths:
        try:
            zk.get(p)
        except NoNodeError:
            pass
    return time.monotonic() - t0


def kazoo_pipelined(zk, paths):
    from kazoo.exceptions import NoNodeError
    t0 = time.monotonic()
    for r in [zk.get_async(p) for p in paths]:
        try:
            r.get()
        except NoNodeError:
            pass
    return time.monotonic() - t0


def picket_devices(picket, env, expected, cpu):
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run([picket, "devices", "--json"], env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if r.returncode != 0:
        raise SystemExit(f"picket devices: exit {r.returncode}: {r.stderr.strip()}")
    listed = json.loads(r.stdout)
    count = len(listed if isinstance(listed, list) else listed.get("devices", []))
    if count != expected:
        raise SystemExit(f"picket devices listed {count} devices, expected {expected}")
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picket")
    ap.add_argument("--devices", default="2000,10000")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if reason := zookeeper_missing():
        print(f"skipped: {reason}")
        return 0
    sizes = sorted(int(x) for x in args.devices.split(","))
    work = tempfile.mkdtemp(prefix="picket-zkfleet-")
    zkserver = ZooKeeper(work)
    rows = []
    try:
        zkserver.start()
        zk = zkserver.client()
        cli_cfg = os.path.join(work, "cli.json")
        with open(cli_cfg, "w") as f:
            json.dump(zkserver.cli_config(ROOT), f)
        env = dict(os.environ, PICKET_CLI_CONFIG=cli_cfg)
        for n in sizes:
            populate(zk, n)
            paths = node_paths(zk)
            cpu = []
            ours = statistics.median(picket_devices(args.picket, env, n, cpu) for _ in range(args.runs))
            seq = statistics.median(kazoo_sequential(zk, paths) for _ in range(args.runs))
            pipe = statistics.median(kazoo_pipelined(zk, paths) for _ in range(args.runs))
            rows.append((n, ours, statistics.median(cpu), seq, pipe))
        zk.stop()
    finally:
        zkserver.stop()
        subprocess.run(["rm", "-rf", work])
    print(machine_line())
    print(f"`picket devices --json` (whole command: start, session, reads, table), median of {args.runs}")
    print(f"{'devices':>8} {'picket':>9} {'its CPU':>8} {'kazoo 1-by-1':>13} {'kazoo pipelined':>16} "
          f"{'vs 1-by-1':>10} {'vs pipelined':>13}")
    for n, ours, cpu, seq, pipe in rows:
        print(f"{n:>8} {ours:>8.3f}s {cpu:>7.3f}s {seq:>12.3f}s {pipe:>15.3f}s {seq / ours:>9.1f}x {pipe / ours:>12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
