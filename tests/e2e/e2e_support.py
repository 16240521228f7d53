"""Shared checks of picket's end-to-end tests: reading pcap bytes, the root
check, a process's children, the closing report line, a numbered marker stream
and the chunks it landed in. Tests import it from their own directory (the
benchmarks from ../e2e); the processes they start (picketd, the collector,
ZooKeeper, MariaDB) are owned by ../pylib/servers.py. `Fleet` puts them
together into a loopback fleet the operator CLI drives."""
import json, os, re, socket, struct, subprocess, tempfile, threading, time, urllib.request


def root_or_skip():
    """None when the test may run; otherwise the exit code to return (77 = skip)."""
    if os.geteuid() == 0:
        return None
    if os.environ.get("CI") == "true":
        print("FAIL: live capture needs root and CI=true forbids skipping")
        return 1
    print("SKIP: not root")
    return 77


def http_get(url, token=None, timeout=10):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
        return r.read()


def request_body(handler, limit=64 << 20):
    """The body of a request an http.server handler received: by Content-Length, or decoded from
    chunked transfer encoding (picketd streams gzip chunks with no length known up front)."""
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        body = bytearray()
        while True:
            size = int(handler.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            if len(body) + size > limit:
                raise ValueError(f"chunked body over {limit} bytes")
            body += handler.rfile.read(size)
            handler.rfile.readline(1024)  # the CRLF after each piece
    return handler.rfile.read(min(int(handler.headers.get("Content-Length") or 0), limit))


def pcap_frames(data):
    """Yields the frames of a classic pcap file; fails on a torn last record."""
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        yield data[off + 16:off + 16 + caplen]
        off += 16 + caplen
    assert off == len(data), "trailing bytes: torn pcap"


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] not in "ZX"
    except FileNotFoundError:
        return False


def remove_unless_kept(path):
    if os.environ.get("PICKET_KEEP_TEST_DIR") is None:
        subprocess.run(["rm", "-rf", path])
    else:
        print("kept", path)


def report(failures, figures=None, t_start=None):
    """Prints the figures and the run time (when given), each failure and the closing
    'N passed, M failed' line; returns the exit code."""
    if figures is not None:
        print("figures:")
        for f in figures:
            print("  " + f)
    if t_start is not None:
        print(f"total run time {time.monotonic() - t_start:.1f} s")
    for f in failures:
        print("FAIL:", f)
    print("1 passed, 0 failed" if not failures else "0 passed, 1 failed")
    return 0 if not failures else 1


def open_listeners(hosts, ports, count, rng):
    """Listens on `count` random (host, port) pairs of hosts x ports[0]..ports[1] (127.x only).
    Returns (sockets, truth): truth is every pair that accepts a connection, ours or not."""
    sockets = []
    for _ in range(count * 4):
        if len(sockets) >= count:
            break
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((rng.choice(hosts), rng.randint(*ports)))
        except OSError:
            s.close()
            continue
        s.listen(64)
        sockets.append(s)
    truth = set()
    for h in hosts:
        for p in range(ports[0], ports[1] + 1):
            with socket.socket() as c:
                c.settimeout(0.2)
                if c.connect_ex((h, p)) == 0:
                    truth.add((h, p))
    return sockets, truth


def pcap_packets(data, torn_ok=False):
    """[(ts_us, wire_len, bytes)] of a classic pcap held in memory (µs or ns). `torn_ok`: a file
    still being written may end inside a record (that record is left out)."""
    if not data:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, wire = struct.unpack(endian + "IIII", data[off:off + 16])
        us = sec * 1_000_000 + (frac // 1000 if nano else frac)
        if off + 16 + caplen > len(data):
            break
        out.append((us, wire, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    if off != len(data) and not torn_ok:
        raise AssertionError("torn pcap")
    return out


def udp_pcap(first_seq, count):
    """A classic pcap (Ethernet) of `count` UDP packets 127.0.0.1:40000 -> :9 whose payload
    is their sequence number."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(count):
        seq = first_seq + i
        payload = struct.pack(">Q", seq)
        udp = struct.pack(">HHHH", 40000, 9, 8 + len(payload), 0) + payload
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\0" * 12 + b"\x08\x00" + ip
        ts = 1_780_000_000 + seq
        out.append(struct.pack("<IIII", ts, 0, len(frame), len(frame)) + frame)
    return b"".join(out)


def job_done_nodes(zk, root, job):
    """A shared job's done nodes by shard number ({} while there are none)."""
    from servers import read_json
    try:
        names = zk.get_children(f"{root}/jobs/{job}/done")
    except Exception:
        return {}
    return {int(n): read_json(zk, f"{root}/jobs/{job}/done/{n}") for n in names}


def device_status(zk, path):
    """A device's status node as a dict ({} while it is missing)."""
    from servers import read_json
    return read_json(zk, path) or {}


def config_applied(zk, path, version):
    """The status node when the device reports `version` applied with its worker running, else False."""
    s = device_status(zk, path)
    return s.get("config", {}).get("applied_version") == version and \
        s.get("worker", {}).get("state") == "running" and s


def send_marked(port, marker, count=20):
    """`count` UDP datagrams `marker-i` to 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(count):
            s.sendto(marker + b"-%d" % i, ("127.0.0.1", port))


class MarkerStream:
    """Numbered UDP datagrams `STREAM-%08d` (1, 2, ...) to 127.0.0.1:port at `pps` from a thread,
    with each one's send time (time.monotonic) in sent_at[n - 1]; ends at stop(), or by itself
    after `max_seconds` (then `capped`). A socket bound to the port takes them, so lo carries no
    ICMP port unreachable for each; the capture sees them all the same."""

    PATTERN = re.compile(rb"STREAM-(\d{8})")

    def __init__(self, port, pps, max_seconds):
        self.port, self.pps, self.max_seconds = port, pps, max_seconds
        self.sent_at = []
        self.capped = False
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="marker-stream", daemon=True)
        self._sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sink.bind(("127.0.0.1", port))
        except OSError:  # taken: the datagrams then draw ICMP replies, which the filter leaves out
            pass

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._sink.close()

    def _run(self):
        addr = ("127.0.0.1", self.port)
        limit = int(self.pps * self.max_seconds)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            t0 = time.monotonic()
            while not self._stop.is_set():
                elapsed = time.monotonic() - t0
                if elapsed >= self.max_seconds or len(self.sent_at) >= limit:
                    self.capped = True
                    return
                due = min(limit, int(elapsed * self.pps) + 1)  # behind schedule: catch up at once
                while len(self.sent_at) < due:
                    try:
                        s.sendto(b"STREAM-%08d" % (len(self.sent_at) + 1), addr)
                    except OSError as e:
                        self.error = f"sending datagram {len(self.sent_at) + 1}: {e}"
                        return
                    self.sent_at.append(time.monotonic())
                self._stop.wait(0.001)  # pacing, not synchronisation

    def sent_after(self, t):
        """True once a datagram went out after monotonic time t."""
        return bool(self.sent_at) and self.sent_at[-1] > t

    def counts(self, data):
        """counts[n - 1]: how many times datagram n appears in `data` (pcap bytes)."""
        counts = [0] * len(self.sent_at)
        for m in self.PATTERN.finditer(data):
            n = int(m.group(1))
            if 1 <= n <= len(counts):
                counts[n - 1] += 1
        return counts


def number_ranges(numbers):
    """Sorted numbers as [(first, last), ...] of consecutive runs."""
    runs = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return [tuple(r) for r in runs]


def ranges_text(numbers):
    """'3-7, 12' for [3, 4, 5, 6, 7, 12]; 'none' for []."""
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in number_ranges(numbers)) or "none"


def change_near(t, changes, margin=None):
    """Index of the change nearest to monotonic time t: changes are dicts with "write" and
    "applied" times, and t inside [write, applied] is at distance 0. None when none is within
    `margin` s (given) or there are no changes."""
    def distance(c):
        return max(c["write"] - t, t - c["applied"], 0)
    if not changes:
        return None
    best = min(range(len(changes)), key=lambda i: distance(changes[i]))
    return None if margin is not None and distance(changes[best]) > margin else best


def describe_runs(numbers, stream, changes):
    """One line per run of consecutive stream numbers: its length, how much of the stream it
    spans and when it was sent relative to the nearest change (write and applied)."""
    lines = []
    for first, last in number_ranges(numbers):
        t0, t1 = stream.sent_at[first - 1], stream.sent_at[last - 1]
        span = (t1 - t0) * 1000 + 1000 / stream.pps
        i = change_near(t0, changes)
        near = ""
        if i is not None:
            c = changes[i]
            near = (f", sent {(t0 - c['write']) * 1000:+.1f} ms after change {c['name']} was written, "
                    f"applied at {(c['applied'] - c['write']) * 1000:+.1f} ms")
        n = last - first + 1
        what = f"{first}-{last} ({n} datagrams" if n > 1 else f"{first} (1 datagram"
        lines.append(f"{what}, {span:.1f} ms of stream{near})")
    return lines


class CollectorChunks:
    """One device's chunks at the collector, each fetched once (a stored chunk never changes)."""

    def __init__(self, base, device):
        self.base, self.device = base, device
        self.parts = {}

    def data(self):
        """All chunks' bytes so far, in seq order."""
        while True:
            since = f"?since={max(self.parts)}" if self.parts else ""
            rows = json.loads(http_get(f"{self.base}/v1/devices/{self.device}/chunks{since}"))
            for c in rows:
                self.parts[c["seq"]] = http_get(f"{self.base}/v1/devices/{self.device}/chunks/{c['seq']}")
            if not rows:  # past the last page
                return b"".join(self.parts[s] for s in sorted(self.parts))

    def gapless(self):
        """True when the chunks held are seq 1..N with none missing in between."""
        return sorted(self.parts) == list(range(1, len(self.parts) + 1))


def stream_delivered(chunks, stream):
    """The chunks' bytes once the collector holds the stream's last datagram and every chunk
    before it (or every datagram), else None: the wait before counting the stream."""
    data = chunks.data()
    last = len(stream.sent_at)
    if b"STREAM-%08d" % last not in data:
        return None
    return data if chunks.gapless() or all(stream.counts(data)) else None


class Fleet:
    """A whole fleet on loopback for tests that drive the operator CLI: ZooKeeper with the admin
    identity, MariaDB loaded with config/schema.sql, `picket collector` (no auth), `picket sync`,
    and `picketd run` devices capturing `lo`; the CLI is configured only by a cli.json named by
    $PICKET_CLI_CONFIG.

        fleet = Fleet(picketd, picket, "/picket-x", "picket-x-")
        try:
            fleet.start({"gw-1": "udp port 47501"})      # rows {} in group lab, one sync, devices
            fleet.cli("scan", "list")
        finally:
            fleet.stop(show_logs=bool(failures))

    or step by step (rows of your own, several syncs, devices added later): start_servers(),
    session.execute(INSERT ...), start_sync(name, wait_text), add_device(id, group, filter).
    Every process is stopped by PID in stop(); the work dir goes unless PICKET_KEEP_TEST_DIR."""

    SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config", "schema.sql")

    def __init__(self, picketd, picket, root, prefix, session_ms=4000):
        from servers import MariaDB, Processes, ZooKeeper  # ../pylib, on the tests' sys.path
        self.picketd, self.picket, self.root, self.session_ms = picketd, picket, root, session_ms
        self.work = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.work, 0o711)  # picketd's worker runs as user picketd: it must reach its buffer
        self.procs = Processes(os.path.join(self.work, "processes.log"))
        self.device_logs = {}
        self.sync_logs = {}     # name -> Processes of that `picket sync`
        self.sync_log = None    # the first one's
        self.zkserver = ZooKeeper(self.work)
        self.db = MariaDB(self.work)
        self.zk = self.session = None
        self.base = self.env = None

    def start(self, devices, group="lab"):
        """`devices`: {id: capture filter}, each with a row {} in `group`. Returns once every
        device applied its row."""
        from servers import wait_for
        self.start_servers()
        for d in devices:
            self.session.execute(f"INSERT INTO devices (id, group_name, config) VALUES ('{d}', '{group}', '{{}}')")
        self.start_sync()
        for d, capture_filter in devices.items():
            self.add_device(d, group, capture_filter)
        for d in devices:
            wait_for(f"{d} to apply its row", lambda d=d: self.applied(d), 30)

    def start_servers(self):
        """ZooKeeper, MariaDB (self.session: a client), the collector (self.base) and cli.json."""
        from servers import start_collector
        self.zkserver.start()
        self.zk = self.zkserver.client()
        self.db.start(self.SCHEMA)
        self.session = self.db.session()
        self.base = start_collector(self.procs, self.picket, self.work)
        cli_cfg = os.path.join(self.work, "cli.json")
        with open(cli_cfg, "w") as f:
            json.dump(self.zkserver.cli_config(self.root, collector=self.base, db=self.db.url), f)
        self.env = dict(os.environ, PICKET_CLI_CONFIG=cli_cfg)
        self.env.pop("PICKET_DB_PASSWORD", None)

    def start_sync(self, name="sync", wait_text="leader now"):
        """Starts one `picket sync` (log <work>/<name>.log, self.sync_logs[name]) and waits until
        its log says `wait_text` ("standing for leader" for a standby). Returns its Popen."""
        from servers import Processes, wait_for
        logs = self.sync_logs[name] = Processes(os.path.join(self.work, f"{name}.log"))
        self.sync_log = self.sync_log or logs
        p = logs.start([self.picket, "sync", "--db", self.db.url, "--zk", self.zkserver.hosts,
                        "--root", self.root, "--session-timeout", f"{self.session_ms}ms",
                        *self.zkserver.admin_flags()])
        wait_for(f"{name} to log '{wait_text}'", lambda: wait_text in logs.log_text(), 30)
        return p

    def add_device(self, device, group, capture_filter="udp port 47999", zk_hosts=None):
        """Starts `picketd run` for `device` of `group` (its local file names both); `zk_hosts`
        replaces the fleet's ZooKeeper (e.g. a dead port: a device that cannot reach it)."""
        from servers import Processes
        self.device_logs[device] = Processes(os.path.join(self.work, f"{device}.log"))
        zk = self.zkserver.device_section(self.root, session_timeout_ms=self.session_ms)
        if zk_hosts:
            zk["hosts"] = zk_hosts
        cfg = os.path.join(self.work, f"{device}.json")
        with open(cfg, "w") as f:
            json.dump({"device": {"id": device, "group": group},
                       "capture": {"enabled": True, "interface": "lo", "filter": capture_filter,
                                   "buffer_mib": 4, "chunk_idle": "500ms"},
                       "buffer": {"dir": os.path.join(self.work, f"buffer-{device}")},
                       "upload": {"collectors": [self.base], "retry_base": "100ms", "retry_max": "1s"},
                       "zookeeper": zk}, f)
        self.device_logs[device].start([self.picketd, "run", "--config", cfg])

    def row_version(self, table, key):
        """The version of a devices / device_groups row."""
        column = "name" if table == "device_groups" else "id"
        return int(self.session.execute(f"SELECT version FROM {table} WHERE {column} = '{key}'")[-1])

    def status(self, device):
        """The device's status node ({} when missing or not JSON)."""
        from servers import read_json
        try:
            return read_json(self.zk, f"{self.root}/devices/{device}/status") or {}
        except Exception:
            return {}

    def applied(self, device):
        """The device's status node when its worker runs the row's version, else None."""
        version = self.row_version("devices", device)
        s = self.status(device)
        ok = s.get("config", {}).get("applied_version") == version and \
            s.get("worker", {}).get("state") == "running"
        return s if ok else None

    def cli(self, *args, check=True, timeout=30):
        r = subprocess.run([self.picket, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"picket {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    def popen(self, *args, text=True):
        """A CLI process whose stdout the caller reads (stopped by PID in stop() if still running).
        text=False keeps the bytes as written (text mode turns "\\r" into "\\n")."""
        p = subprocess.Popen([self.picket, *args], env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=text)
        self.procs.procs.append(p)
        self.procs.names[p.pid] = "picket " + args[0]
        return p

    def stop(self, show_logs=False):
        if show_logs:
            for d, p in self.device_logs.items():
                print(f"--- {d}"); print(p.log_text()[-4000:])
            for name, p in self.sync_logs.items():
                print(f"--- {name}"); print(p.log_text()[-4000:])
            print("--- processes"); print(self.procs.log_text()[-3000:])
        if self.zk is not None:
            self.zk.stop()
        if self.session:
            self.session.close()
        for p in [*self.device_logs.values(), *self.sync_logs.values()]:
            p.stop_all()
        self.procs.stop_all()
        self.db.stop()
        self.zkserver.stop()
        remove_unless_kept(self.work)
