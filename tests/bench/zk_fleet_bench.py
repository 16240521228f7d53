#!/usr/bin/env python3
"""`picket devices` at fleet size (issue #18, acceptance 3): a ZooKeeper started here holds N
simulated devices (config, a ~700-byte status and, for every 50th, a sync refusal node; 10 groups
with a config each), and `picket devices` lists them. Beside it, in the same run, the same
reads by kazoo one at a time (what the CLI did before: 3 round trips per device) and kazoo
pipelined (get_async for all, ZooKeeper's floor from Python). The status nodes are written once
by this script, not by live sessions: the load of N real device sessions is not measured here.

--live N: a fleet of N live devices instead (real sessions at the device's real cadence): a
ZooKeeper ensemble of --ensemble (3) servers on loopback, the real collector registered in it
(it writes the fleet's identities, as in a fleet), and `picket_bench_zk_devices` (beside PICKET)
running N devices, each the supervisor's own FleetAgent (its session, watches and status writes;
no worker, no uploads; the admin identity). After the fleet is up and settled, a window of
--seconds (60) is measured on the servers: writes = the growth of the zxid, requests = the
growth of the largest last client xid (`cons` lcxid) of the simulator's sessions (the C client
numbers the requests of all sessions of a process with one counter; pings, auth and watch
events take none), reads = requests - writes; the servers' CPU (/proc) and
`mntr` latency (reset by `srst` at the window's start). Then `picket devices` against the live
fleet, and a fleet-wide config change (every group's config written at once) timed from the
write to each device applying it.

A benchmark program, not a test (never registered with ctest). Needs java + the Debian
zookeeper package and python3-kazoo; installs nothing. Loopback only; every process started
here is stopped by PID at the end.

usage: zk_fleet_bench.py PICKET [--devices 2000,10000] [--runs 3]
       zk_fleet_bench.py PICKET --live 2000 [--ensemble 3] [--seconds 60] [--runs 3]"""
import argparse, json, os, statistics, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-kazoo
from servers import (Processes, ZooKeeper, four_letter, free_port, machine_line,  # noqa: E402
                     start_collector, wait_for, zk_session_xids, zk_zxid, zookeeper_ensemble,
                     zookeeper_missing)

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


def populate(zk, total, status=True):
    """Creates devices gw-00000.. up to `total` (keeps the ones already there); `status=False`
    leaves the status nodes to live devices."""
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
        if status:
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


def picket_devices(picket, env, expected, cpu, alive=None):
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
    if alive is not None:
        alive.append(sum(1 for d in listed if d.get("alive")))
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picket")
    ap.add_argument("--devices", default="2000,10000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--live", type=int, default=0, help="N live devices (see the docstring)")
    ap.add_argument("--ensemble", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    if reason := zookeeper_missing():
        print(f"skipped: {reason}")
        return 0
    if args.live:
        return live_fleet(args)
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

# --- a live fleet ---------------------------------------------------------------------------

def session_xids(nodes):
    """{session id: its last client xid}, the largest any server reports (a session that moved
    keeps counting on its new server)."""
    xids = {}
    for node in nodes:
        for sid, xid in zk_session_xids(node.port).items():
            xids[sid] = max(xids.get(sid, 0), xid)
    return xids


def zxid(nodes):
    return max(z for n in nodes if (z := zk_zxid(n.port)) is not None)


def mntr(node):
    out = {}
    for line in four_letter(node.port, "mntr").splitlines():
        key, _, value = line.partition("\t")
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


def box_busy_seconds():
    """CPU seconds the whole machine spent not idle (/proc/stat)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SimOutput:
    """Reads picket_bench_zk_devices' JSON lines: the last progress line, config latencies."""

    def __init__(self, stream):
        self.progress, self.applied, self.lock = {}, [], threading.Lock()
        self.min_connected = None  # the fewest connected since watch_connected()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                if "latency_ms" in doc:
                    self.applied.append(doc)
                elif "devices" in doc:
                    self.progress = doc
                    if self.min_connected is not None:
                        self.min_connected = min(self.min_connected, doc["connected"])

    def watch_connected(self):
        with self.lock:
            self.min_connected = self.progress.get("connected", 0)

    def get(self):
        with self.lock:
            return dict(self.progress), list(self.applied)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def live_fleet(args):
    n = args.live
    sim_bin = os.path.join(os.path.dirname(os.path.abspath(args.picket)), "picket_bench_zk_devices")
    if not os.access(sim_bin, os.X_OK):
        raise SystemExit(f"{sim_bin} not found: build the project with its tests (tests/bench)")
    work = tempfile.mkdtemp(prefix="picket-zkfleet-live-")
    procs = Processes(os.path.join(work, "processes.log"), detach=True)
    if args.ensemble > 1:
        nodes = zookeeper_ensemble(work, args.ensemble)
    else:
        nodes = [ZooKeeper(work)]
        nodes[0].start()
    sim = None
    try:
        zk = nodes[0].client()
        zk.ensure_path(f"{ROOT}/jobs")
        populate(zk, n, status=False)
        http_port = free_port()
        start_collector(procs, args.picket, work, "--zk", nodes[0].hosts, "--zk-root", ROOT,
                        "--advertise", f"http://127.0.0.1:{http_port}", *nodes[0].admin_flags(),
                        listen=f"127.0.0.1:{http_port}")
        wait_for("the collector registered", lambda: zk.exists(f"{ROOT}/collectors") and
                 zk.get_children(f"{ROOT}/collectors"), 30)
        wait_for("the fleet's identities written", lambda: zk.exists(f"{ROOT}/identities"), 30)
        others = set(session_xids(nodes))  # this script's and the collector's sessions
        t0 = time.monotonic()
        sim = procs.start([sim_bin, "--hosts", nodes[0].hosts, "--root", ROOT, "--user", "picket-admin",
                           "--password-file", nodes[0].admin_password_file, "--devices", str(n),
                           "--seconds", str(int(args.seconds + 600))],
                          stdout=subprocess.PIPE, stderr=None)
        out = SimOutput(sim.stdout)
        try:
            wait_for(f"{n} devices connected with their config applied",
                     lambda: sim.poll() is not None or (out.get()[0].get("connected") == n and
                                                        out.get()[0].get("applied") == n), 300, 0.2)
        except AssertionError:
            raise SystemExit(f"the simulated fleet did not come up: {out.get()[0]}")
        if sim.poll() is not None:
            raise SystemExit(f"picket_bench_zk_devices exited {sim.returncode}")
        wait_for(f"{n} status nodes", lambda: sum(
            1 for d in zk.get_children(f"{ROOT}/devices")
            if zk.exists(f"{ROOT}/devices/{d}/status")) == n, 120, 1)
        ramp = time.monotonic() - t0
        settle_until = time.monotonic() + 10  # past every device's first ACL-learning rewrite
        wait_for("the fleet to settle", lambda: time.monotonic() >= settle_until, 20, 0.5)

        for node in nodes:
            four_letter(node.port, "srst")
        out.watch_connected()
        x0, z0 = session_xids(nodes), zxid(nodes)
        cpu0, w0 = [cpu_seconds(node.proc.pid) for node in nodes], time.monotonic()
        sim0, box0 = cpu_seconds(sim.pid), box_busy_seconds()
        window_end = w0 + args.seconds
        wait_for("the measured window", lambda: time.monotonic() >= window_end, args.seconds + 10, 0.5)
        x1, z1 = session_xids(nodes), zxid(nodes)
        cpu1, w1 = [cpu_seconds(node.proc.pid) for node in nodes], time.monotonic()
        sim1, box1 = cpu_seconds(sim.pid), box_busy_seconds()
        window_min_connected = out.min_connected
        stats = [mntr(node) for node in nodes]
        span = w1 - w0
        device_sids = [sid for sid in x1 if sid not in others and sid in x0]
        # The C client numbers requests with one counter per process (zookeeper.c get_xid), so
        # every session of the simulator sees the others' requests in its own xids: the
        # fleet's requests are the growth of the largest xid, not the sum over sessions.
        requests = max(x1[sid] for sid in device_sids) - max(x0[sid] for sid in device_sids)
        writes = z1 - z0
        reads = requests - writes

        cli_cfg = os.path.join(work, "cli.json")
        with open(cli_cfg, "w") as f:
            json.dump(nodes[0].cli_config(ROOT), f)
        env = dict(os.environ, PICKET_CLI_CONFIG=cli_cfg)
        cpu, alive = [], []
        listing = [picket_devices(args.picket, env, n, cpu, alive) for _ in range(args.runs)]
        paths = node_paths(zk)
        floor = [kazoo_pipelined(zk, paths) for _ in range(args.runs)]

        written_ms = int(time.time() * 1000)
        for g in range(10):
            zk.set(f"{ROOT}/groups/g{g}/config",
                   json.dumps({"version": 3, "bench_written_ms": written_ms}).encode())
        wait_for(f"{n} devices to apply the new group config",
                 lambda: len(out.get()[1]) >= n, 120, 0.2)
        latencies = [a["latency_ms"] for a in out.get()[1]]
        sim_rss = peak_rss_mib(sim.pid)
        zk.stop()
    finally:
        if sim is not None:
            procs.stop(sim, timeout=120)
        procs.stop_all()
        for node in nodes:
            node.stop()
        if os.environ.get("PICKET_KEEP_TEST_DIR") is None:
            subprocess.run(["rm", "-rf", work])
        else:
            print("kept", work)

    print(machine_line())
    print(f"{n} live devices (picket_bench_zk_devices: the supervisor's FleetAgent each), "
          f"ZooKeeper {'ensemble of ' + str(len(nodes)) if len(nodes) > 1 else 'standalone'}, "
          f"window {span:.0f} s after a ramp of {ramp:.1f} s (all connected, configs applied, "
          f"status nodes written)")
    print(f"  machine: {100 * (box1 - box0) / span / os.cpu_count():.0f}% busy over the window; the "
          f"simulator {100 * (sim1 - sim0) / span:.0f}% of a core, peak RSS {sim_rss:.0f} MiB; "
          f"fewest devices connected in the window {window_min_connected} of {n}, from then to the "
          f"end (picket devices, config change) {out.min_connected}")
    print(f"  per device: {writes / span / n:.3f} writes/s (goal <= 0.3), "
          f"{reads / span / n:.3f} reads/s (goal <= 0.5), over {len(device_sids)} sessions")
    packets = sum(m.get("zk_packets_received", 0) for m in stats)
    print(f"  ensemble: {writes / span:.0f} writes/s and {reads / span:.0f} reads/s from the devices; "
          f"{packets / span:.0f} packets/s received from all clients (pings and the collector's "
          f"fleet view included)")
    for i, (node, m) in enumerate(zip(nodes, stats)):
        print(f"  server {i + 1} ({m.get('zk_server_state', '?')}): "
              f"{int(m.get('zk_num_alive_connections', 0))} connections, "
              f"CPU {100 * (cpu1[i] - cpu0[i]) / span:.1f}% of a core, "
              f"latency avg {m.get('zk_avg_latency', 0):.2f} ms max {m.get('zk_max_latency', 0):.0f} ms, "
              f"{int(m.get('zk_watch_count', 0))} watches, {int(m.get('zk_znode_count', 0))} znodes, "
              f"outstanding {int(m.get('zk_outstanding_requests', 0))}")
    print(f"`picket devices --json` on the live fleet: median {statistics.median(listing):.3f} s, "
          f"max {max(listing):.3f} s (CPU {statistics.median(cpu):.3f} s; goal <= 1 s), "
          f"{min(alive)} of {n} alive; kazoo pipelined reads of the same nodes "
          f"{statistics.median(floor):.3f} s")
    print(f"fleet-wide config change (10 group configs written at once): {len(latencies)} devices "
          f"applied it, write -> applied p50 {pct(latencies, 50)} ms, p99 {pct(latencies, 99)} ms, "
          f"max {max(latencies)} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
