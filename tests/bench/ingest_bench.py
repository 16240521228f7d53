#!/usr/bin/env python3
"""ingest_bench: the collector ingesting pcap chunks from many simulated devices, beside nginx
1.22 storing the same PUTs on the same disk, in the same run (issue 18).

A benchmark program, not a test (never registered with ctest). All traffic goes to 127.0.0.1;
every loop is bounded in count and in seconds; every process is stopped by its PID; the work dir
is removed at the end, also on Ctrl-C.

For each cell (--devices x --sizes):
  1. a fresh `picket collector` (per-device tokens: every device has its own, as in a fleet;
     everything else at its defaults, plus --collector-args) gets --seconds of load;
  2. a fresh nginx (its own temp config: daemon off, master_process on, worker_processes auto,
     dav_methods PUT, create_full_put_path on, client_max_body_size 100m, keepalive_requests
     1000000, its root, body temp dir, pid file and logs in the work dir) gets the same load.
The load is picket_bench_ingest_load (tests/bench/ingest_load.c, libcurl multi): every device
keeps one PUT /v1/devices/<id>/chunks/<seq> in flight with the headers picketd sends (Digest,
Content-Type, Bearer token, Expect: 100-continue from 1 MiB up), honours Retry-After on 429/503
and backs off 100 ms after a connection error. The body is a valid classic pcap of exactly
--sizes KiB (UDP frames of random bytes), the same file for every PUT.
--rounds R repeats each cell R times, alternating which server goes first (collector, nginx;
then nginx, collector; ...), because this disk's pace drifts between consecutive runs (the same
collector cell measured 2,051 then 1,013 chunks/s): the table shows each server's median round
and the median of the per-round ratios, and every round is printed below it.
Measured per server: chunks/s and MB/s of 2xx answers, p50/p99 latency of one successful attempt,
429s, CPU seconds during the load (utime+stime from /proc/PID/stat; nginx: master + workers) and
peak RSS (VmHWM; nginx: the sum over master + workers). The ratio is collector chunks/s over
nginx chunks/s.

Session analysis runs beside storing and may fall behind in a burst: after the collector's
load the details print what analysis had pending and how long it took to finish it (polling
/metrics, at most 180 s), a cost the chunks/s column would not show. (Running analysis at nice
10 was measured: fewer chunks/s and twice the RSS, 228 vs 106 MiB; not kept.)

During the collector's load an operator reads GET /v1/devices every 0.5 s (its own token): the
details print its p50/max latency split into connect, first byte and total, and any answer that is
not 200 (the acceptance: within 1 s, never 429). With 1,000 devices the connections that 429s
close are re-opened ~900 times a second; the collector drains its listen queue in batches so that
the operator's new connection does not wait behind them (before: first byte up to 1.2 s at 1 MiB
for a ~20 ms answer). --spread-sources keeps the operator's address apart from the devices'.

Memory: nginx never syncs, so free memory takes its writes at first and the disk sees them later;
the collector writes chunks with direct I/O and syncs each batch, so after its run the page cache
is nearly empty. nginx was measured at 4,093-8,701 chunks/s (64 KiB) right after a collector run
and 1,958-3,466 right after its own (1,000 devices). Each run prints the free memory it started
with; --drop-caches (root) syncs and frees the clean page cache before every server's run, so both
start alike. The sync(2) after each run is timed: the "on disk" ratio counts each server's chunks
over its load plus that sync, i.e. until what it acknowledged is on the disk.

What differs by design: the collector checks the digest and the pcap, makes every chunk
durable before it answers (one syncfs per group commit) and records it in SQLite (and, unless --collector-args=--no-sessions, cuts sessions off the request
path); nginx only writes the file. The collector's --max-inflight (default 64) answers excess
uploads with 429 + Retry-After, nginx has no such cap. (Keeping them in line for a slot instead,
up to 2 s or 0.5 s, was measured: fewer chunks/s at 1 MiB, 349-466 vs 428-562, and more RSS;
not kept.) The generator runs on the same machine
and its CPU is printed too: on a small machine it takes a real share.
With more devices than the collector's per-address connection cap (default 256) the driver
raises it by flag (--max-connections-per-address) and says so; --spread-sources instead makes
device i connect from 127.0.0.(2 + i % 249).

Disk: each server writes about MB/s x --seconds per cell; the cells' data is kept (synced after
each run) until less than max(8 GiB, 30% of the free space at the start) is free, then deleted;
on an ext4 without a journal the next run then waits 62 s (see DeferredDeletion: a run right
after a deletion paid for the freed inodes, the collector more than nginx). The work dir
(--workdir, default /var/tmp) must not be a tmpfs.

--cluster N (issue 18 item 2) adds a third run per cell: N collectors sharing one store, a
private MariaDB (started once, in the work dir, 127.0.0.1; a database of its own per run, where
the collectors create their collector_* tables) and one chunk directory (--store, --chunks), the same flags otherwise;
the generator ranks the N URLs per device as picketd does (rendezvous) and fails over. Printed:
their total chunks/s against the one collector's (the scaling), each collector's share, and the
CPU of the collectors and of mariadbd apart. On one small machine the N collectors, MariaDB and
the generator share the same cores and disk, which caps the scaling; the line says so.

usage: ingest_bench.py PICKET [--seconds S] [--devices 50,200,1000] [--sizes 64,1024]
                              [--cluster N]
                              [--no-nginx] [--collector-args "--no-sessions ..."]
                              [--spread-sources] [--drop-caches] [--load PATH] [--nginx PATH]
                              [--workdir DIR]"""
import argparse, base64, hashlib, http.client, json, os, resource, shlex, shutil, signal, socket, struct
import statistics, subprocess, sys, tempfile, threading, time, urllib.request, urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from servers import (MariaDB, Processes, WaitTimeout, free_port, machine_line, mariadb_missing,  # noqa: E402
                     start_collector, wait_for)
from disk import FREED_INODE_WINDOW_S, ext4_without_journal, free_bytes, wait_out_freed_inodes  # noqa: E402
from heartbeats import device_ids, write_tokens  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
STRAGGLER_S = 30          # the generator aborts requests still running at --seconds + this
DEFAULT_PER_ADDRESS = 256  # the collector's --max-connections-per-address default
DEFAULT_TOTAL = 4096       # its --max-connections ceiling (and file limit - 128)
NGINX_INSTALL = "apt-get install -y nginx   (Debian 12: nginx 1.22 with the DAV module)"


class BenchError(Exception):
    pass


def pcap_of(size):
    """A classic pcap of exactly `size` bytes (>= 24 + 58): UDP frames 127.0.0.1 -> 127.0.0.1
    with up to 1400 random payload bytes each, the last one cut to fit."""
    header, per_frame = 24, 16 + 14 + 20 + 8
    if size < header + per_frame:
        raise BenchError(f"chunk size {size} B: too small for a pcap with one frame")
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    left, i = size - header, 0
    while left > 0:  # bounded: every pass takes at least per_frame bytes
        payload = min(1400, left - per_frame)
        if 0 < left - per_frame - payload < per_frame:  # the rest would not hold a frame
            payload -= per_frame
        data = os.urandom(payload)
        udp = struct.pack(">HHHH", 40000, 9, 8 + payload, 0) + data
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\0" * 12 + b"\x08\x00" + ip
        out.append(struct.pack("<IIII", 1_780_000_000 + i, 0, len(frame), len(frame)) + frame)
        left -= 16 + len(frame)
        i += 1
    body = b"".join(out)
    assert len(body) == size, (len(body), size)
    return body


def fs_type(path):
    """The file system type of the mount holding `path` (longest mount point prefix)."""
    path, best, kind = os.path.realpath(path), "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            _, mnt, fstype = line.split()[:3]
            mnt = mnt.replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, kind = mnt, fstype
    return kind


def cpu_ticks(pid):
    """(utime, stime) of `pid` in clock ticks ((0, 0) when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]), int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0, 0


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_of(pid):
    """The PIDs whose parent is `pid` (nginx's workers)."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(name))
        except (OSError, IndexError, ValueError):
            pass
    return kids


def meminfo_mib(*fields):
    """The named /proc/meminfo fields, in MiB."""
    found = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in fields:
                found[name] = int(rest.split()[0]) // 1024
    return [found.get(name, -1) for name in fields]


def drop_clean_caches():
    """Writes back dirty pages, then frees the clean page cache (root): every server starts with
    the same free memory, not with what the previous run left."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    except OSError as e:
        raise BenchError(f"--drop-caches: cannot write /proc/sys/vm/drop_caches ({e}); run as root")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


ANALYSIS_CATCH_UP_S = 180


class DeferredDeletion:
    """Runs' files are deleted only when the disk needs the room, then the next run waits out
    ext4's no-journal inode window (disk.wait_out_freed_inodes): a run right after deleting the
    previous run's files paid for them, more for the collector (1,000 device directories spread
    over many groups) than for nginx (one directory), so the order of the runs decided the
    ratio."""

    def __init__(self, work):
        self.work, self.dirs = work, []
        self.keep_free = max(8 << 30, free_bytes(work) * 3 // 10)
        self.no_journal = ext4_without_journal(work)

    def later(self, path):
        self.dirs.append(path)

    def make_room(self):
        if free_bytes(self.work) >= self.keep_free or not self.dirs:
            return
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.dirs = []
        wait_out_freed_inodes(self.work, "deleted earlier runs' files to make room")


def raise_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the children inherit it
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def nginx_conf(d, port, devices):
    as_root = "user root root;  # the driver runs as root; so do the collector and nginx's workers\n"
    conns = devices + 256
    return f"""{as_root if os.geteuid() == 0 else ''}daemon off;
master_process on;
worker_processes auto;
worker_rlimit_nofile {2 * conns};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {conns}; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_temp;
    proxy_temp_path {d}/proxy_temp;
    fastcgi_temp_path {d}/fastcgi_temp;
    uwsgi_temp_path {d}/uwsgi_temp;
    scgi_temp_path {d}/scgi_temp;
    client_max_body_size 100m;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {d}/root;
        location /v1/devices/ {{
            dav_methods PUT;
            create_full_put_path on;
        }}
    }}
}}
"""


PROBE_EVERY_S = 0.5
PROBE_TIMEOUT_S = 10


def operator_probe(url, token, out, stop):
    """An operator reading the device list during the load, a new connection each time:
    (seconds to connect, to the response's first byte, to its last; HTTP status) per GET,
    status 0 for a connection error or a timeout. Bounded by `stop` and PROBE_TIMEOUT_S."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    while not stop.is_set():
        start = time.monotonic()
        connected = first = None
        conn = http.client.HTTPConnection(host, int(port), timeout=PROBE_TIMEOUT_S)
        try:
            conn.connect()
            connected = time.monotonic()
            conn.request("GET", "/v1/devices", headers={"Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            first = time.monotonic()
            r.read()
            status = r.status
        except OSError:
            status = 0
        finally:
            conn.close()
        end = time.monotonic()
        out.append(((connected or end) - start, (first or end) - start, end - start, status))
        stop.wait(PROBE_EVERY_S)


def probe_line(probes):
    if not probes:
        return "no operator reads"

    def p50_max(i):
        times = sorted(p[i] for p in probes)
        return f"{times[len(times) // 2] * 1000:.0f}/{times[-1] * 1000:.0f}"
    bad = [p[3] for p in probes if p[3] != 200]
    return (f"operator GET /v1/devices x{len(probes)}, p50/max ms: connect {p50_max(0)}, first byte "
            f"{p50_max(1)}, total {p50_max(2)}; not 200: {len(bad)}" + (f" ({sorted(set(bad))})" if bad else ""))


class Bench:
    def __init__(self, a, work):
        self.a, self.work = a, work
        self.procs = Processes(os.path.join(work, "processes.log"), detach=True)
        self.collector_args = shlex.split(a.collector_args)

    def run_load(self, url, devices, body, cell):
        """Runs the generator against `url` (or a list of them); returns its JSON result."""
        out_path = os.path.join(cell, f"load-{len(os.listdir(cell))}.json")
        urls = url if isinstance(url, list) else [url]
        argv = [self.a.load, "--devices", str(devices), "--seconds", str(self.a.seconds),
                "--body", body["path"], "--digest", body["digest"], "--tokens", self.tokens_plain]
        for u in urls:
            argv += ["--url", u]
        if self.a.spread_sources:
            argv.append("--spread-sources")
        with open(out_path, "wb") as out:
            p = self.procs.start(argv, "ingest_load", stdout=out, stderr=None)
        got = self.procs.wait(p, self.a.seconds + STRAGGLER_S + 30)
        if got is None:
            print(f"ingest_load (pid {p.pid}) overran its own bound: stopping it", flush=True)
            got = self.procs.stop(p, signal.SIGTERM, 10)
        with open(out_path) as f:
            text = f.read().strip()
        if got[0] != 0 or not text:
            raise BenchError(f"ingest_load exited with {got[0]} (see {self.procs.log.name})")
        return json.loads(text.splitlines()[-1])

    def measure(self, pids_fn, url, devices, body, cell, probe=False):
        """CPU of pids_fn()'s processes during the load and their peak RSS just after; with
        probe, an operator's GET /v1/devices every PROBE_EVERY_S during the load."""
        if self.a.drop_caches:
            drop_clean_caches()
        mem_start = meminfo_mib("MemFree", "Cached", "Dirty")
        before = {pid: cpu_ticks(pid) for pid in pids_fn()}
        probes, stop = [], threading.Event()
        first_url = url[0] if isinstance(url, list) else url
        prober = threading.Thread(target=operator_probe, args=(first_url, self.operator_token, probes, stop))
        if probe:
            prober.start()
        try:
            result = self.run_load(url, devices, body, cell)
        finally:
            stop.set()
            if probe:
                prober.join(PROBE_TIMEOUT_S + 5)
        result["probes"] = probes
        result["mem_start"] = mem_start
        result["mem_end"] = meminfo_mib("MemFree", "Cached", "Dirty")
        pids = pids_fn()
        for i, key in ((0, "cpu_user_s"), (1, "cpu_sys_s")):
            result[key] = sum(cpu_ticks(p)[i] - before.get(p, (0, 0))[i] for p in pids) / CLK_TCK
        result["cpu_server_s"] = result["cpu_user_s"] + result["cpu_sys_s"]
        result["rss_mib"] = sum(peak_rss_kib(p) for p in pids) / 1024
        result["processes"] = len(pids)
        return result

    def collector_flags(self, devices):
        """Cap flags the load needs, unless --collector-args set them; and the note to print."""
        flags, notes = [], []
        given = set(a.split("=", 1)[0] for a in self.collector_args)
        if (not self.a.spread_sources and devices > DEFAULT_PER_ADDRESS - 16
                and "--max-connections-per-address" not in given):
            flags += ["--max-connections-per-address", str(devices + 64)]
            notes.append(f"--max-connections-per-address {devices + 64} (default "
                         f"{DEFAULT_PER_ADDRESS}; all {devices} devices connect from 127.0.0.1)")
        if devices + 64 > DEFAULT_TOTAL and "--max-connections" not in given:
            flags += ["--max-connections", str(devices + 64)]
            notes.append(f"--max-connections {devices + 64} (default at most {DEFAULT_TOTAL})")
        return flags, notes

    def collector_cell(self, devices, body, cell):
        d = os.path.join(cell, "c")
        os.makedirs(d)
        flags, notes = self.collector_flags(devices)
        url = start_collector(self.procs, self.a.picket, d, "--tokens", self.tokens_file,
                              *flags, *self.collector_args)
        p = self.procs.procs[-1]
        try:
            r = self.measure(lambda: [p.pid] if p.poll() is None else [], url, devices, body, cell,
                             probe=True)
            notes.append(self.commit_note(url, r["seconds"]))
            if "--no-sessions" not in self.collector_args:
                notes.append(self.analysis_catch_up(url))
        finally:
            code, _ = self.procs.stop(p, signal.SIGTERM, 30)
        if code not in (0, None):
            print(f"note: the collector exited with {code} when stopped (see {self.procs.log.name})")
        r["notes"] = notes
        return r

    def cluster_cell(self, devices, body, cell):
        """N collectors on the bench's MariaDB and one shared chunk directory."""
        n = self.a.cluster
        shared = os.path.join(cell, "shared-chunks")
        database = f"bench_{len(os.listdir(os.path.dirname(cell)))}_{os.getpid()}"
        self.mariadb.run(f"CREATE DATABASE {database}", db=None)
        store = f"mysql://root@127.0.0.1:{self.mariadb.port}/{database}"
        flags, notes = self.collector_flags(devices)
        urls, procs = [], []
        try:
            for i in range(n):
                d = os.path.join(cell, f"k{i}")
                os.makedirs(d)
                urls.append(start_collector(self.procs, self.a.picket, d, "--tokens", self.tokens_file,
                                            "--store", store, "--chunks", shared, *flags,
                                            *self.collector_args))
                procs.append(self.procs.procs[-1])
            db_pid = self.mariadb.proc.pid
            db_ticks = sum(cpu_ticks(db_pid))
            db_status = self.mariadb_status()
            r = self.measure(lambda: [p.pid for p in procs if p.poll() is None] + [db_pid], urls,
                             devices, body, cell)
            r["cpu_db_s"] = (sum(cpu_ticks(db_pid)) - db_ticks) / CLK_TCK
            if "--no-sessions" not in self.collector_args:
                notes.append(self.analysis_catch_up(urls[0]))
            # What each stored chunk cost the database, ingest and analysis together.
            after = self.mariadb_status()
            if r["ok"]:
                r["db_per_chunk"] = {k: (after[k] - db_status[k]) / r["ok"] for k in after}
        finally:
            for p in procs:
                code, _ = self.procs.stop(p, signal.SIGTERM, 30)
                if code not in (0, None):
                    print(f"note: a cluster collector exited with {code} when stopped")
        r["notes"] = notes + [f"{n} collectors, chunks each: {r.get('per_url_ok')}"]
        return r

    def mariadb_status(self):
        """MariaDB's statements (Questions) and InnoDB's fsyncs so far."""
        out = self.mariadb.run("SHOW GLOBAL STATUS WHERE Variable_name IN "
                               "('Questions', 'Innodb_data_fsyncs')", db=None)
        got = dict(line.split("\t") for line in out.strip().splitlines())
        return {"statements": int(got["Questions"]), "fsyncs": int(got["Innodb_data_fsyncs"])}

    def metrics(self, url):
        """The collector's /metrics samples without labels, by name."""
        req = urllib.request.Request(url + "/metrics",
                                     headers={"Authorization": f"Bearer {self.operator_token}"})
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT_S) as r:
            text = r.read().decode()
        got = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if not name.startswith("#") and "{" not in name and value:
                got[name] = float(value)
        return got

    def analysis_metrics(self, url):
        m = self.metrics(url)
        return {short: m[name] for short, name in (("pending", "picket_session_analysis_pending_chunks"),
                                                   ("lag", "picket_session_analysis_lag_seconds"))
                if name in m}

    def commit_note(self, url, seconds):
        """Where chunk commits stood after the load: how much of it they ran (one at a time)."""
        m = self.metrics(url)
        commits = m.get("picket_chunk_commits_total", 0)
        if not commits:
            return "group commit: no commits"
        return (f"group commit: {commits:.0f} commits of {m.get('picket_chunks_committed_total', 0) / commits:.1f} "
                f"chunks on average, {m.get('picket_chunk_commit_seconds_total', 0):.1f} s in commits over "
                f"the {seconds:.1f} s load ({m.get('picket_chunk_file_sync_seconds_total', 0):.1f} s of it "
                f"in syncfs)")

    def analysis_catch_up(self, url):
        """What session analysis had left when the load ended, and how long it took to finish
        that (bounded: ANALYSIS_CATCH_UP_S)."""
        at_end = self.analysis_metrics(url)
        start = time.monotonic()
        pending = at_end.get("pending", 0)
        while pending > 0 and time.monotonic() - start < ANALYSIS_CATCH_UP_S:
            time.sleep(0.5)  # polling the collector's own gauge, with a deadline
            pending = self.analysis_metrics(url).get("pending", 0)
        took = time.monotonic() - start
        return (f"session analysis at the end of the load: {at_end.get('pending', 0):.0f} chunks pending, "
                f"lag {at_end.get('lag', 0):.1f} s; " +
                (f"caught up {took:.1f} s later" if pending == 0 else
                 f"{pending:.0f} still pending after {ANALYSIS_CATCH_UP_S} s"))

    def nginx_cell(self, devices, body, cell):
        d = os.path.join(cell, "n")
        for sub in ("root/v1/devices", "client_temp"):
            os.makedirs(os.path.join(d, sub))
        port = free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(d, port, devices))
        p = self.procs.start([self.a.nginx, "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                             "nginx", log_path=os.path.join(d, "nginx.out"))
        try:
            wait_for("nginx to accept", lambda: p.poll() is not None or accepts(port), 30)
            if p.poll() is not None:
                raise BenchError(f"nginx exited with {p.returncode}: {tail(os.path.join(d, 'error.log'))}")
            for pid in children_of(p.pid):  # killed in stop_all should they outlive a killed master
                self.procs.watch(pid, "nginx worker", "nginx: worker")
            r = self.measure(lambda: [p.pid] + children_of(p.pid) if p.poll() is None else [],
                             f"http://127.0.0.1:{port}", devices, body, cell)
        finally:
            self.procs.stop(p, signal.SIGTERM, 30)
        errors = tail(os.path.join(d, "error.log"), 3)
        if errors:
            r["notes"] = [f"nginx error.log: {errors}"]
        return r


def tail(path, n=5):
    try:
        with open(path) as f:
            return " | ".join(line.strip() for line in f.readlines()[-n:])
    except OSError:
        return ""


def fmt(r):
    if r is None:
        return f"{'-':>8}{'-':>8}{'-':>17}{'-':>7}{'-':>7}{'-':>8}"
    lat = f"{r['p50_ms']:.1f}/{r['p99_ms']:.1f}" if r["ok"] else "-"
    return (f"{r['chunks_per_s']:>8.0f}{r['mb_per_s']:>8.1f}{lat:>17}{r['status_429']:>7}"
            f"{r['cpu_server_s']:>7.1f}{r['rss_mib']:>8.1f}")


def on_disk_rate(r):
    """Chunks per second until they are on disk: the load's seconds plus the sync after it."""
    seconds = r["seconds"] + r.get("sync_s", 0)
    return r["chunks_per_s"] * r["seconds"] / seconds if seconds > 0 else 0


def print_table(rows, a):
    print()
    print(f"{a.seconds:g} s of load per server per cell; latency of one successful PUT attempt")
    head = f"{'chunks/s':>8}{'MB/s':>8}{'p50/p99 ms':>17}{'429s':>7}{'CPU s':>7}{'RSS MiB':>8}"
    print(f"{'':>7}{'':>8} |{'collector':^{len(head)}}|{'nginx':^{len(head)}}|")
    print(f"{'chunk':>7}{'devices':>8} |{head}|{head}| ratio")
    for kib, devices, c, n, rounds in rows:
        ratios = [rc["chunks_per_s"] / rn["chunks_per_s"] for rc, rn in rounds if rn and rn["chunks_per_s"]]
        ratio = f"{statistics.median(ratios):.2f}" if ratios else "-"
        on_disk = [on_disk_rate(rc) / on_disk_rate(rn) for rc, rn in rounds if rn and on_disk_rate(rn)]
        durable = f" (on disk {statistics.median(on_disk):.2f})" if on_disk else ""
        size = f"{kib // 1024} MiB" if kib % 1024 == 0 else f"{kib} KiB"
        print(f"{size:>7}{devices:>8} |{fmt(c)}|{fmt(n)}| {ratio}{durable}")
    print("ratio: collector chunks/s / nginx chunks/s (with --rounds: the median of the rounds' "
          "ratios). RSS: VmHWM (nginx: master + workers summed).")
    print("on disk: the same ratio with each server's chunks counted over its load plus the sync(2) "
          "after it, which writes what it left in the page cache (the collector's chunks are "
          "durable when answered; nginx's reach the disk only then).")
    if any(len(rounds) > 1 for *_, rounds in rows):
        print()
        print("rounds (chunks/s collector / nginx = ratio, in the order run; nginx never syncs, so "
              "free memory takes its writes at first):")
        for kib, devices, _, _, rounds in rows:
            parts = []
            for i, (rc, rn) in enumerate(rounds):
                first = "collector first" if i % 2 == 0 else "nginx first"
                parts.append(f"{rc['chunks_per_s']:.0f}" + (f" / {rn['chunks_per_s']:.0f} = "
                             f"{rc['chunks_per_s'] / rn['chunks_per_s']:.2f}" if rn and rn["chunks_per_s"] else "")
                             + f" ({first}"
                             + "".join(f", {name} started with {r['mem_start'][0] / 1024:.1f} GiB free"
                                       for name, r in (("collector", rc), ("nginx", rn)) if r)
                             + ")")
            print(f"  {kib:>5} KiB {devices:>5} dev: " + "; ".join(parts))
    print()
    print("details (per run): seconds to the last answer, 503s, other statuses, connection errors, "
          "aborted at the bound, server CPU, generator CPU")
    for kib, devices, c, n, _ in rows:
        for name, r in (("collector", c), ("nginx", n)):
            if r is None:
                continue
            print(f"  {kib:>5} KiB {devices:>5} dev {name:<9} {r['seconds']:.1f} s, 503 {r['status_503']}, "
                  f"other {r['other_status']}, errors {r['errors']}, aborted {r['aborted']}, "
                  f"server CPU {r['cpu_user_s']:.1f} user + {r['cpu_sys_s']:.1f} sys s in "
                  f"{r['processes']} process(es), generator {r['cpu_s']:.1f} CPU s")
            (free0, cached0, dirty0), (free1, cached1, dirty1) = r["mem_start"], r["mem_end"]
            print(f"      memory free/page cache/dirty MiB: {free0}/{cached0}/{dirty0} at the start, "
                  f"{free1}/{cached1}/{dirty1} at the end; sync(2) after it took "
                  f"{r.get('sync_s', 0):.1f} s")
            if name == "collector":
                print(f"      {probe_line(r.get('probes', []))}")
            for note in r.get("notes", []):
                print(f"      caps raised: {note}" if note.startswith("--") else f"      {note}")
            if r["first_error"]:
                print(f"      first error: {r['first_error'][:200]}")
            for note in r["other_notes"]:
                print(f"      other status: {note[:200]}")


def print_cluster(rows, a):
    print()
    print(f"{a.cluster} collectors on one MariaDB and one chunk directory, against one collector "
          "(SQLite) in the same round:")
    print(f"{'chunk':>7}{'devices':>8} | {'one chunks/s':>12} | {'N chunks/s':>10} {'x one':>6} | "
          f"{'p99 ms':>7} {'collectors CPU s':>16} {'mariadbd CPU s':>14} | per collector")
    for kib, devices, one, many in rows:
        scale = many["chunks_per_s"] / one["chunks_per_s"] if one and one["chunks_per_s"] else 0
        size = f"{kib // 1024} MiB" if kib % 1024 == 0 else f"{kib} KiB"
        db_cpu = many.get("cpu_db_s", 0)
        print(f"{size:>7}{devices:>8} | {one['chunks_per_s']:>12.0f} | {many['chunks_per_s']:>10.0f} "
              f"{scale:>6.2f} | {many['p99_ms']:>7.0f} {many['cpu_server_s'] - db_cpu:>16.1f} "
              f"{db_cpu:>14.1f} | {many.get('per_url_ok')}")
        if many.get("db_per_chunk"):
            per = many["db_per_chunk"]
            print(f"{'':>15} | MariaDB per stored chunk (ingest and analysis): "
                  f"{per['statements']:.1f} statements, {per['fsyncs']:.2f} InnoDB fsyncs, "
                  f"{db_cpu * 1000 / many['ok']:.2f} ms of mariadbd CPU")
    print(f"machine: {os.cpu_count()} CPUs shared by the {a.cluster} collectors, mariadbd and the "
          "generator; one disk: on this machine that, not the design, caps the scaling")


def median_round(results):
    """The result whose chunks/s is the median (the lower one of an even count)."""
    ordered = sorted(results, key=lambda r: r["chunks_per_s"])
    return ordered[(len(ordered) - 1) // 2]


def find_nginx():
    """nginx on PATH, or Debian's /usr/sbin/nginx (not on a user's PATH), or None."""
    found = shutil.which("nginx")
    return found or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def int_list(text):
    return [int(x) for x in text.split(",") if x.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("picket", help="the picket binary (build/dev/bin/picket)")
    ap.add_argument("--seconds", type=float, default=20, help="load per server per cell (default 20)")
    ap.add_argument("--devices", type=int_list, default=[50, 200, 1000], help="comma list (default 50,200,1000)")
    ap.add_argument("--sizes", type=int_list, default=[64, 1024], help="chunk KiB, comma list (default 64,1024)")
    ap.add_argument("--no-nginx", action="store_true", help="collector rows only")
    ap.add_argument("--cluster", type=int, default=0,
                    help="also N collectors on one MariaDB and one chunk directory (2..8)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="runs per cell, alternating which server goes first (default 1)")
    ap.add_argument("--collector-args", default="", help='extra collector flags, one string: "--no-sessions ..."')
    ap.add_argument("--spread-sources", action="store_true",
                    help="device i connects from 127.0.0.(2 + i %% 249) instead of raising the per-address cap")
    ap.add_argument("--load", help="picket_bench_ingest_load (default: next to PICKET)")
    ap.add_argument("--nginx", help="nginx binary (default: nginx on PATH, or /usr/sbin/nginx)")
    ap.add_argument("--drop-caches", action="store_true",
                    help="sync and free the clean page cache before every server's run (root)")
    ap.add_argument("--workdir", default="/var/tmp", help="parent of the work dir; not a tmpfs (default /var/tmp)")
    a = ap.parse_args()

    a.picket = os.path.abspath(a.picket)
    if not os.access(a.picket, os.X_OK):
        print(f"ingest_bench: {a.picket} is not executable (cmake --build --preset dev --target picket)")
        return 2
    a.load = os.path.abspath(a.load or os.path.join(os.path.dirname(a.picket), "picket_bench_ingest_load"))
    if not os.access(a.load, os.X_OK):
        print(f"ingest_bench: no generator at {a.load} (cmake --build --preset dev --target "
              "picket_bench_ingest_load; it needs libcurl4-openssl-dev)")
        return 2
    if not 0 < a.seconds <= 3600 or not a.devices or not a.sizes or not 1 <= a.rounds <= 20:
        print("ingest_bench: --seconds 0..3600, --rounds 1..20, and at least one --devices and --sizes")
        return 2
    if max(a.devices) > 100_000 or min(a.devices) < 1 or min(a.sizes) < 1 or max(a.sizes) > 65536:
        print("ingest_bench: --devices 1..100000, --sizes 1..65536 KiB")
        return 2
    if not a.no_nginx:
        a.nginx = a.nginx or find_nginx()
        if not a.nginx:
            print(f"ingest_bench: nginx not found; install it with: {NGINX_INSTALL}")
            print("ingest_bench: running the collector rows alone")
            a.no_nginx = True
    if a.cluster and not 2 <= a.cluster <= 8:
        print("ingest_bench: --cluster 2..8")
        return 2
    if a.cluster and mariadb_missing():
        print(f"ingest_bench: --cluster needs MariaDB: {mariadb_missing()}")
        return 2
    kind = fs_type(a.workdir)
    if kind in ("tmpfs", "ramfs"):
        print(f"ingest_bench: {a.workdir} is a {kind}: pick a disk with --workdir (e.g. the working directory)")
        return 2
    file_limit = raise_file_limit()
    if file_limit < max(a.devices) + 256:
        print(f"ingest_bench: the file limit is {file_limit}, too low for {max(a.devices)} devices (ulimit -n)")
        return 2

    # SIGINT/SIGTERM/SIGHUP unwind like Ctrl-C, so every child is stopped by PID.
    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)

    work = tempfile.mkdtemp(prefix="picket-ingest-bench-", dir=a.workdir)
    bench, ok, rows, cluster_rows = None, False, [], []
    try:
        bench = Bench(a, work)
        print("ingest_bench: picket collector vs nginx, PUTs of pcap chunks from simulated devices "
              "(127.0.0.1 only)")
        print(f"machine: {machine_line()}")
        print(f"work dir: {work} ({kind}, {free_bytes(work) / 2**30:.0f} GiB free); file limit {file_limit}")
        version = subprocess.run([a.picket, "version"], capture_output=True, text=True, timeout=30).stdout
        print(f"collector: {a.picket} ({version.splitlines()[0] if version else '?'}), per-device tokens"
              f"{', extra flags: ' + a.collector_args if a.collector_args else ', default flags'}")
        if a.no_nginx:
            print("nginx: not run")
        else:
            v = subprocess.run([a.nginx, "-v"], capture_output=True, text=True, timeout=30).stderr.strip()
            print(f"nginx: {a.nginx} ({v.split(':', 1)[-1].strip()}), worker_processes auto")
        print(f"load: {a.load}{' (--spread-sources)' if a.spread_sources else ''}")
        print(f"loadavg at the start: {loadavg()}", flush=True)

        tokens = os.path.join(work, "tokens")
        bench.operator_token = "op-" + os.urandom(8).hex()
        write_tokens(tokens, device_ids(max(a.devices), "ingest"), operator_token=bench.operator_token)
        bench.tokens_file, bench.tokens_plain = tokens, tokens + ".plain"
        bodies = {}
        for kib in a.sizes:
            data = pcap_of(kib * 1024)
            path = os.path.join(work, f"chunk-{kib}k.pcap")
            with open(path, "wb") as f:
                f.write(data)
            bodies[kib] = {"path": path, "digest": base64.b64encode(hashlib.sha256(data).digest()).decode()}

        if a.cluster:
            bench.mariadb = MariaDB(work)
            bench.mariadb.start(os.path.join(HERE, "..", "..", "config", "schema.sql"))
            print(f"cluster: {a.cluster} collectors on MariaDB 127.0.0.1:{bench.mariadb.port} "
                  f"(innodb_buffer_pool_size 32M, the test server's settings)", flush=True)
        trash = DeferredDeletion(work)
        print(f"deletion: deferred until less than {trash.keep_free / 2**30:.0f} GiB is free"
              f"{f'; ext4 without a journal, so each deletion is followed by a {FREED_INODE_WINDOW_S} s wait' if trash.no_journal else ''}",
              flush=True)
        for kib in a.sizes:
            for devices in a.devices:
                trash.make_room()
                if free_bytes(work) < 4 << 30:
                    raise BenchError(f"less than 4 GiB free in {work}: stopping before the next cell")
                rounds = []
                for r in range(a.rounds):
                    cell = os.path.join(work, f"cell-{devices}x{kib}k-{r}")
                    os.makedirs(cell)
                    order = ["collector", "nginx"] if r % 2 == 0 else ["nginx", "collector"]
                    if a.cluster:
                        order.append("cluster")
                    got = {"nginx": None, "cluster": None}
                    for server in order:
                        if server == "nginx" and a.no_nginx:
                            continue
                        trash.make_room()
                        print(f"cell {kib} KiB x {devices} devices, round {r + 1}/{a.rounds}: {server} ...",
                              flush=True)
                        run = {"collector": bench.collector_cell, "nginx": bench.nginx_cell,
                               "cluster": bench.cluster_cell}[server]
                        got[server] = run(devices, bodies[kib], cell)
                        t_sync = time.monotonic()
                        os.sync()  # its dirty pages go to disk now, not during the next run
                        got[server]["sync_s"] = time.monotonic() - t_sync
                    trash.later(cell)
                    rounds.append((got["collector"], got["nginx"]))
                    if got["cluster"]:
                        cluster_rows.append((kib, devices, got["collector"], got["cluster"]))
                c = median_round([rc for rc, _ in rounds])
                n = median_round([rn for _, rn in rounds if rn]) if not a.no_nginx else None
                rows.append((kib, devices, c, n, rounds))
        print(f"loadavg at the end: {loadavg()}")
        ok = True
    except (BenchError, WaitTimeout) as e:
        print(f"ingest_bench: FAILED: {e}", flush=True)
    except KeyboardInterrupt as e:
        print(f"ingest_bench: interrupted ({e or 'Ctrl-C'}); stopping every process", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        if bench:
            bench.procs.stop_all(15)
            if getattr(bench, "mariadb", None):
                bench.mariadb.stop()
        shutil.rmtree(work, ignore_errors=True)
    if rows:
        print_table(rows, a)
    if cluster_rows:
        print_cluster(cluster_rows, a)
    if a.no_nginx and not find_nginx():
        print(f"\nnginx rows missing: {NGINX_INSTALL}")
    if ok:
        print("ingest_bench: done")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
