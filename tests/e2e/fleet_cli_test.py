#!/usr/bin/env python3
"""The fleet as an operator runs it: a real MariaDB (config/schema.sql), a real
ZooKeeper, `picket sync`, `picket collector` and two `picketd run` (gw-1,
gw-2, group lab), every operator step through the CLI (`picket config set`,
`picket devices`, `picket scan submit|status|results`, `picket logs -f`)
configured only by the cli.json named by $PICKET_CLI_CONFIG.
  1. a config edit in MariaDB (UPDATE of gw-1's row) and one by `picket
     config set` reach the device: its status node shows the row's version
     applied with the worker running (commit -> applied ms printed);
  2. an invalid row for gw-2 (bad BPF filter, then port 70000) is not applied
     and `picket devices` (table and --json) names the bad field; a good row
     afterwards is applied and clears the reason;
  3. (and 3b: `picket scan cancel` stops a running job on both devices)
     two shared scan jobs submitted with `picket scan submit` on two 127.x
     ranges, two shards each: `picket scan status` shows both done and each
     device did 2 of the 4 shards; `picket scan results` lists exactly the
     open ports (the union of both devices' results, no duplicates);
  4. `picket logs --device gw-1 -f` prints a line gw-1 logs (config applied,
     new version) less than 2 s after it appears in gw-1's own log, 5 times;
  5. two `picket sync` run; the leader is killed (-9) and an edit made
     meanwhile reaches gw-1 within the ZooKeeper session timeout;
  6. deleting gw-2's row deletes its config znode.
Also (2b): two transactions committed out of change-hint order both reach
their devices.

Connect scans of 127.0.x.y and live capture on lo: no packet leaves the host.
usage: fleet_cli_test.py PICKETD PICKET
Root (live capture); skips without root, ZooKeeper or MariaDB unless CI=true."""
import datetime, json, os, random, re, subprocess, sys, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import Fleet, report, open_listeners, root_or_skip  # noqa: E402
from servers import mariadb_missing, skip_code, wait_for, zookeeper_missing  # noqa: E402

ROOT = "/picket-fleet"
DEVICES = ("gw-1", "gw-2")
SESSION_MS = 4000
# Addresses and ports no other e2e test uses: ctest -j2 runs them side by side, and another
# test's listeners would join this one's ground truth.
PORTS = (23100, 23149)          # 15 hosts x 50 ports = 750 probes a job, 375 a shard
LOG_ROUNDS = 5
LOG_GAP_LIMIT_S = 2.0


def version_text(v):
    """A row version as the CLI's tables print it (UTC time of the microsecond stamp)."""
    t = datetime.datetime.fromtimestamp(v // 1_000_000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{v % 1_000_000:06d}Z"


def filter_doc(port):
    return {"capture": {"filter": f"udp port {port}"}}


class StatusWatch:
    """A kazoo data watch on a device's status node: remembers when each config version was first
    seen applied with the worker running, so no short-lived state is missed between polls."""

    def __init__(self, zk, device):
        self.lock = threading.Lock()
        self.status = {}
        self.applied_at = {}
        zk.DataWatch(f"{ROOT}/devices/{device}/status", self._on)

    def _on(self, data, stat):
        now = time.monotonic()
        try:
            s = json.loads(data.decode()) if data else {}
        except ValueError:
            s = {}
        with self.lock:
            self.status = s
            v = s.get("config", {}).get("applied_version")
            if v is not None and s.get("worker", {}).get("state") == "running":
                self.applied_at.setdefault(v, now)

    def current(self):
        with self.lock:
            return self.status

    def wait_applied(self, version, timeout=15):
        """The monotonic time `version` was first seen applied with a running worker."""
        def seen():
            with self.lock:
                return self.applied_at.get(version)
        try:
            return wait_for(f"version {version} applied", seen, timeout)
        except AssertionError:
            raise AssertionError(f"version {version} not applied within {timeout}s: "
                                 f"{self.current().get('config')}")


class FileTail:
    """Follows a log file a process writes (its own stderr): the first time each line matching
    `pattern` appears, by polling the file every 10 ms."""

    def __init__(self, path, pattern):
        self.path, self.pattern = path, pattern
        self.seen = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        partial = b""
        with open(self.path, "rb") as f:
            while not self.stop.is_set():
                data = f.read()
                now = time.monotonic()
                if data:
                    partial += data
                    *lines, partial = partial.split(b"\n")
                    with self.lock:
                        for line in lines:
                            text = line.decode(errors="replace")
                            for m in re.finditer(self.pattern, text):
                                self.seen.setdefault(m.group(0), now)
                else:
                    self.stop.wait(0.01)  # poll interval of a tail, not synchronisation

    def time_of(self, key):
        with self.lock:
            return self.seen.get(key)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)


class LineReader:
    """Reads a subprocess's stdout line by line in a thread, stamping each line on arrival."""

    def __init__(self, stream):
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        for line in iter(stream.readline, ""):
            with self.lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    def first(self, needle):
        with self.lock:
            for t, line in self.lines:
                if needle in line:
                    return t, line
        return None

    def count(self):
        with self.lock:
            return len(self.lines)


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    if (code := root_or_skip()) is not None:
        return code
    if reason := zookeeper_missing() or mariadb_missing():
        return skip_code(reason)
    t_start = time.monotonic()
    fleet = Fleet(picketd, picket, ROOT, "picket-fleet-", session_ms=SESSION_MS)
    work = fleet.work
    tail = follow_err = None
    sockets = []
    failures = []
    figures = []

    def figure(text):
        figures.append(text)
        print("FIGURE:", text)

    try:
        fleet.start_servers()
        zk, session, db, env, cli = fleet.zk, fleet.session, fleet.db, fleet.env, fleet.cli
        device_logs, sync_logs = fleet.device_logs, fleet.sync_logs

        def row_version(device):
            return fleet.row_version("devices", device)

        def update_row(device, doc):
            """UPDATE of the device's row; returns (version, monotonic time just before the commit)."""
            t0 = time.monotonic()
            lines = session.execute(f"UPDATE devices SET config = '{json.dumps(doc)}' WHERE id = '{device}';"
                                    f" SELECT version FROM devices WHERE id = '{device}'")
            return int(lines[-1]), t0

        # The rows exist before sync starts: sync's first reconcile pushes them.
        udp_port = {"gw-1": 47301, "gw-2": 47401}
        for d in DEVICES:
            session.execute(f"INSERT INTO devices (id, group_name, config) VALUES "
                            f"('{d}', 'lab', '{json.dumps(filter_doc(udp_port[d]))}')")
        versions = {d: row_version(d) for d in DEVICES}
        # Two sync instances: the first to stand leads, the second stands by (scenario 5).
        syncs = {"first": fleet.start_sync("first")}
        syncs["second"] = fleet.start_sync("second", "standing for leader")
        watches = {}
        for d in DEVICES:
            fleet.add_device(d, "lab")
            watches[d] = StatusWatch(zk, d)
        for d in DEVICES:
            watches[d].wait_applied(versions[d], 30)
        print(f"both devices run their rows: {versions}")

        # 1. A row edit in MariaDB reaches gw-1; so does `picket config set`.
        v, t0 = update_row("gw-1", filter_doc(47302))
        took = watches["gw-1"].wait_applied(v) - t0
        st = watches["gw-1"].current()
        figure(f"scenario 1: UPDATE devices (gw-1 capture.filter) commit -> applied version {v}: "
               f"{took * 1000:.0f} ms (worker {st['worker']['state']}, pid {st['worker']['pid']})")
        if took > 1.5:
            failures.append(f"UPDATE -> applied took {took * 1000:.0f} ms (goal <= 1500 ms)")
        worker_pid = st["worker"]["pid"]
        doc = {"capture": {"filter": "udp port 47303"}}
        t0 = time.monotonic()
        r = cli("config", "set", "gw-1", "--json", json.dumps(doc))
        m = re.search(r"\braw (\d+)", r.stdout)  # "device gw-1: version <UTC time> (was ...; raw N)"
        if not m:
            raise AssertionError(f"picket config set printed no version: {r.stdout!r}")
        v_set = int(m.group(1))
        took = watches["gw-1"].wait_applied(v_set) - t0
        figure(f"scenario 1: `picket config set gw-1` start -> applied version {v_set}: {took * 1000:.0f} ms")
        if v_set != v + 1 or row_version("gw-1") != v_set:
            failures.append(f"config set printed version {v_set}, expected {v + 1} (row {row_version('gw-1')})")
        got = json.loads(cli("config", "get", "gw-1").stdout)
        if got != doc:
            failures.append(f"picket config get gw-1 shows {got}, expected {doc}")
        if watches["gw-1"].current()["worker"]["pid"] != worker_pid:
            failures.append("a filter-only change restarted gw-1's worker")
        if took > 2.0:
            failures.append(f"config set -> applied took {took * 1000:.0f} ms")

        # 2. Invalid rows for gw-2 are not applied; `picket devices` says why, naming the field.
        good_v = watches["gw-2"].current()["config"]["applied_version"]
        for name, bad, field in (
                ("bad BPF filter", {"capture": {"filter": "tcp port eighty"}}, "/capture/filter"),
                ("port 70000", {"scans": [{"id": "s1", "targets": "127.0.0.1", "ports": "70000",
                                           "mode": "connect"}]}, "/scans/0/ports")):
            bad_v, t0 = update_row("gw-2", bad)

            def refusal_listed():
                rows = json.loads(cli("devices", "--json").stdout)
                row = next((x for x in rows if x["id"] == "gw-2"), None)
                return row and f"sync refused version {bad_v}" in (row.get("last_error") or "") and row
            row = wait_for(f"`picket devices --json` showing the refusal of {name}", refusal_listed, 15)
            took = time.monotonic() - t0
            table = cli("devices").stdout
            # One line per device, even when the refusal lists several errors (grep-able).
            line = next((l for l in table.splitlines() if l.startswith("gw-2 ")), "")
            if any(l and not l.startswith(("DEVICE ", *DEVICES)) for l in table.splitlines()):
                failures.append(f"{name}: the devices table has a line that is no device's row:\n{table}")
            print(f"scenario 2: picket devices after {name} (version {bad_v}):\n{table.rstrip()}")
            figure(f"scenario 2: {name}: commit -> refusal shown by `picket devices`: {took * 1000:.0f} ms; "
                   f"last_error: {row['last_error']}")
            if field not in row["last_error"]:
                failures.append(f"{name}: devices --json last_error does not name {field}: {row['last_error']}")
            if field not in line or f"sync refused device row version {version_text(bad_v)}" not in line:
                failures.append(f"{name}: the devices table row does not name {field}: {line!r}")
            s = watches["gw-2"].current()
            if s["config"]["applied_version"] != good_v or row["applied_version"] != good_v:
                failures.append(f"{name}: gw-2 applied {s['config']['applied_version']} (CLI "
                                f"{row['applied_version']}), expected it to keep {good_v}")
            if row["desired_version"] != good_v:
                failures.append(f"{name}: the refused row reached the config znode: desired "
                                f"{row['desired_version']}")
            if s["worker"]["state"] != "running":
                failures.append(f"{name}: gw-2's worker is {s['worker']['state']}")
        fixed_v, t0 = update_row("gw-2", filter_doc(47402))
        took = watches["gw-2"].wait_applied(fixed_v) - t0
        figure(f"scenario 2: good row back, commit -> applied version {fixed_v}: {took * 1000:.0f} ms")

        def cleared():
            row = next(x for x in json.loads(cli("devices", "--json").stdout) if x["id"] == "gw-2")
            return row["applied_version"] == fixed_v and row["desired_version"] == fixed_v and \
                not row["last_error"] and row
        try:
            wait_for("gw-2's refusal to clear in `picket devices`", cleared, 15)
        except AssertionError as e:
            row = next(x for x in json.loads(cli("devices", "--json").stdout) if x["id"] == "gw-2")
            failures.append(f"{e}: {row}")
        print("scenario 2: picket devices after the fix:\n" + cli("devices").stdout.rstrip())

        # 2b. Out of order: gw-1's edit takes the earlier change hint but commits after gw-2's.
        # Both devices must apply their row (a hint seen after a later one is not skipped).
        early = db.session()
        try:
            early.execute("SET autocommit = 0")
            early.execute(f"UPDATE devices SET config = '{json.dumps(filter_doc(47330))}' WHERE id = 'gw-1'")
            v1 = int(early.execute("SELECT version FROM devices WHERE id = 'gw-1'")[-1])
            v2, t0 = update_row("gw-2", filter_doc(47430))
            watches["gw-2"].wait_applied(v2)
            t_commit = time.monotonic()
            early.execute("COMMIT")
        finally:
            early.close()
        took = watches["gw-1"].wait_applied(v1) - t_commit
        hints = session.execute("SELECT table_name, row_key FROM config_changes ORDER BY seq DESC LIMIT 2")
        figure(f"scenario 2b: commits out of hint order (gw-2's later hint committed first): gw-2 applied, "
               f"then gw-1's late commit -> applied in {took * 1000:.0f} ms; newest hints {hints[::-1]}")
        if took > 1.5:
            failures.append(f"the late commit took {took * 1000:.0f} ms to reach gw-1")

        # 3. Two shared jobs from the CLI, two shards each, split across the two devices.
        rng = random.Random(7)
        hosts = {job: [f"127.0.{net}.{i}" for i in range(1, 16)] for job, net in (("job-a", 111), ("job-b", 112))}
        truth = {}
        for job, h in hosts.items():
            opened, truth[job] = open_listeners(h, PORTS, 8, rng)
            sockets.extend(opened)
        t0 = time.monotonic()
        for job, targets in (("job-a", "127.0.111.1-127.0.111.15"), ("job-b", "127.0.112.1-127.0.112.15")):
            out = cli("scan", "submit", "--id", job, "--targets", targets, "--ports", f"{PORTS[0]}-{PORTS[1]}",
                      "--rate", "150", "--shards", "2", "--mode", "connect", "--group", "lab",
                      "--max-parallel", "1").stdout.strip()
            if out != job:
                failures.append(f"scan submit printed {out!r}, expected {job}")

        first_eta = {}  # job -> (seconds since submit, the ETA status showed) the first time it had one

        def job_status(job):
            r = cli("scan", "status", job, "--json", check=False)
            s = json.loads(r.stdout) if r.returncode == 0 else None
            if s and s["claimed"] and s["eta_s"] is not None:
                first_eta.setdefault(job, (time.monotonic() - t0, s["eta_s"]))
            return s
        done_at = {}

        def both_done():  # polls both jobs, so each one's running state (and ETA) is seen
            for job in ("job-a", "job-b"):
                if job not in done_at and (lambda st: st and st["done"] == 2)(job_status(job)):
                    done_at[job] = time.monotonic() - t0
            return len(done_at) == 2
        wait_for("`picket scan status` 2/2 done for job-a and job-b", both_done, 90)
        split = {d: [] for d in DEVICES}
        done_by = {}
        for job in ("job-a", "job-b"):
            print(f"scenario 3: picket scan status {job}:\n" + cli("scan", "status", job).stdout.rstrip())
            s = job_status(job)
            for sh in s["shard_states"]:
                if sh["state"] != "done":
                    failures.append(f"{job} shard {sh['shard']} is {sh['state']}")
                split.setdefault(sh["device"], []).append(f"{job}/{sh['shard']}")
                done_by[(job, sh["shard"])] = sh["device"]
            table = cli("scan", "status", job).stdout
            if f"job {job}: 2/2 shards done" not in table:
                failures.append(f"scan status {job} table has no '2/2 shards done' summary")
            if "ETA 0 (all shards done)" not in table or "per device: " not in table:
                failures.append(f"scan status {job} table lacks the ETA or the per-device line:\n{table}")
            if job in first_eta:
                at, eta = first_eta[job]
                figure(f"scenario 3: {job}: first ETA shown {eta:.1f} s at {at:.1f} s after submit -> "
                       f"estimated done at {at + eta:.1f} s, actually done at {done_at[job]:.1f} s")
            else:
                failures.append(f"scan status {job} never showed an ETA while shards ran")
        figure(f"scenario 3: submit -> 2/2 done: job-a {done_at['job-a']:.1f} s, job-b {done_at['job-b']:.1f} s; "
               f"per-device split (scan status): {json.dumps(split)}")
        if sorted(split) != sorted(DEVICES) or any(len(v) != 2 for v in split.values()):
            failures.append(f"uneven split of the 4 shards: {split}")
        for job in ("job-a", "job-b"):
            def results_complete():
                rows = json.loads(cli("scan", "results", job, "--json").stdout)
                return {(x["ip"], x["port"]) for x in rows} >= truth[job] and rows
            try:
                rows = wait_for(f"`picket scan results {job}` to hold every open port", results_complete, 30)
            except AssertionError as e:
                failures.append(str(e))
                rows = json.loads(cli("scan", "results", job, "--json").stdout)
            found = {(x["ip"], x["port"]) for x in rows}
            per_device = {}
            for x in rows:
                per_device[x.get("device")] = per_device.get(x.get("device"), 0) + 1
            figure(f"scenario 3: {job}: {len(rows)} result rows, {len(found)} distinct open ports, truth "
                   f"{len(truth[job])}; per device {per_device}")
            if found != truth[job]:
                failures.append(f"{job}: results differ from the truth: {sorted(found ^ truth[job])}")
            if len(rows) != len(found):
                failures.append(f"{job}: {len(rows) - len(found)} duplicate result rows")
            for x in rows:  # every result comes from the device `scan status` says did its shard
                line = x.get("result")
                line = json.loads(line) if isinstance(line, str) else (line or {})
                if done_by.get((job, line.get("shard"))) != x.get("device"):
                    failures.append(f"{job}: {x['ip']}:{x['port']} reported by {x.get('device')} for shard "
                                    f"{line.get('shard')}, done by {done_by.get((job, line.get('shard')))}")
            table = cli("scan", "results", job).stdout
            print(f"scenario 3: picket scan results {job}:\n{table.rstrip()}")
            missing_rows = [f"{ip}:{port}" for ip, port in sorted(truth[job])
                            if not re.search(rf"^{re.escape(ip)}\s+{port}\s", table, re.M)]
            if missing_rows:
                failures.append(f"{job}: the results table does not list {missing_rows}")
            if len(table.strip().splitlines()) != len(truth[job]) + 1:
                failures.append(f"{job}: the results table has {len(table.strip().splitlines()) - 1} rows, "
                                f"expected {len(truth[job])}")

        # 3b. `picket scan cancel` while both devices scan: the job leaves ZooKeeper and the
        # devices stop its shards (375 probes a shard at 20 pps: ~19 s if nobody stopped them).
        cli("scan", "submit", "--id", "job-c", "--targets", "127.0.113.1-127.0.113.15",
            "--ports", f"{PORTS[0]}-{PORTS[1]}", "--rate", "20", "--shards", "2", "--mode", "connect",
            "--group", "lab", "--max-parallel", "1")
        wait_for("both shards of job-c claimed", lambda: (lambda st: st and st["claimed"] == 2)(job_status("job-c")), 30)
        t0 = time.monotonic()
        out = cli("scan", "cancel", "job-c").stdout.strip()
        if "job job-c cancelled" not in out:
            failures.append(f"scan cancel printed {out!r}")

        def stopped():
            gone = not zk.exists(f"{ROOT}/jobs/job-c")
            scanning = [d for d in DEVICES
                        if any(e.get("job") == "job-c" for e in watches[d].current().get("scan", []))]
            return gone and not scanning
        try:
            wait_for("job-c gone from ZooKeeper and from both devices' status", stopped, 10)
        except AssertionError as e:
            raise AssertionError(f"{e}: job node exists: {bool(zk.exists(f'{ROOT}/jobs/job-c'))}; "
                                 f"scan status: {[watches[d].current().get('scan') for d in DEVICES]}")
        figure(f"scenario 3b: `picket scan cancel` with 2 shards running -> job gone and both devices "
               f"stopped scanning it: {(time.monotonic() - t0) * 1000:.0f} ms")
        r = cli("scan", "status", "job-c", check=False)
        if r.returncode != 1 or "no job 'job-c'" not in r.stderr:
            failures.append(f"scan status of a cancelled job: exit {r.returncode}: {r.stderr.strip()}")

        # 4. `picket logs -f` prints gw-1's lines within 2 s of gw-1 writing them.
        follow_err = open(os.path.join(work, "logs-follow.err"), "w")
        follower = subprocess.Popen([picket, "logs", "--device", "gw-1", "-f"], env=env, stdout=subprocess.PIPE,
                                    stderr=follow_err, text=True, bufsize=1)
        fleet.procs.procs.append(follower)  # stopped by PID with the others
        reader = LineReader(follower.stdout)
        tail = FileTail(device_logs["gw-1"].log.name, r"config applied version=\d+")
        wait_for("picket logs -f following", lambda: "following device gw-1" in open(follow_err.name).read()
                 or follower.poll() is not None, 15)
        if follower.poll() is not None:
            raise AssertionError(f"picket logs -f exited {follower.returncode}: {open(follow_err.name).read()}")
        wait_for("picket logs -f replaying gw-1's earlier lines", reader.count, 15)
        gaps = []
        for i in range(LOG_ROUNDS):
            v, _ = update_row("gw-1", filter_doc(47310 + i))
            key = f"config applied version={v}"
            t_dev = wait_for(f"'{key}' in gw-1's own log", lambda: tail.time_of(key), 15)
            try:
                t_cli, line = wait_for(f"'{key}' from picket logs -f", lambda: reader.first(key), 15)
            except AssertionError as e:
                failures.append(str(e))
                continue
            gaps.append(t_cli - t_dev)
            if not re.match(r"gw-1 \d{4}-\d\d-\d\dT\S+ INFO ", line):
                failures.append(f"picket logs printed {line!r}, expected '<device> <the line gw-1 logged>'")
            print(f"scenario 4: round {i + 1}: gw-1 log -> picket logs -f: {(t_cli - t_dev) * 1000:.0f} ms: {line}")
            if t_cli - t_dev >= LOG_GAP_LIMIT_S:
                failures.append(f"round {i + 1}: picket logs -f printed '{key}' {t_cli - t_dev:.2f} s after gw-1 "
                                "logged it")
        if gaps:
            figure("scenario 4: gw-1 log -> `picket logs -f` latency per round (ms): "
                   + ", ".join(f"{g * 1000:.0f}" for g in gaps) + f"; max {max(gaps) * 1000:.0f} ms")
        if follower.poll() is not None:
            failures.append(f"picket logs -f exited {follower.returncode} while following")

        # 5. kill -9 the leading sync: the standby takes over within the session timeout and an
        # edit made meanwhile reaches gw-1.
        if "leader now" in sync_logs["second"].log_text():
            raise AssertionError("the standby sync led before the leader was killed")
        syncs["first"].kill()
        syncs["first"].wait()
        killed = time.monotonic()
        v, _ = update_row("gw-1", filter_doc(47320))
        took = watches["gw-1"].wait_applied(v, 15) - killed
        figure(f"scenario 5: kill -9 leading sync -> edit made meanwhile applied on gw-1: {took * 1000:.0f} ms "
               f"(session timeout {SESSION_MS} ms)")
        if took * 1000 >= SESSION_MS:
            failures.append(f"the standby sync took {took * 1000:.0f} ms to apply an edit after the leader "
                            f"died (session timeout {SESSION_MS} ms)")
        if "leader now" not in sync_logs["second"].log_text():
            failures.append("the standby sync never logged taking the lead")

        # 6. With the standby now leading: Deleting gw-2's row deletes its config znode and
        # `picket devices` no longer shows a desired version for it.
        t0 = time.monotonic()
        session.execute("DELETE FROM devices WHERE id = 'gw-2'")
        wait_for("gw-2's config znode deleted", lambda: not zk.exists(f"{ROOT}/devices/gw-2/config"), 5)
        figure(f"scenario 6: DELETE of gw-2's row -> config znode gone: {(time.monotonic() - t0) * 1000:.0f} ms")
        row = next((x for x in json.loads(cli("devices", "--json").stdout) if x["id"] == "gw-2"), None)
        if row and row.get("desired_version") is not None:
            failures.append(f"picket devices still shows a desired config for the deleted gw-2: {row}")

    except AssertionError as e:
        failures.append(str(e))
    finally:
        if tail:
            tail.close()
        if follow_err:
            follow_err.close()
        fleet.stop(show_logs=bool(failures))
        for s in sockets:
            s.close()
    return report(failures, figures, t_start)


if __name__ == "__main__":
    sys.exit(main())
