"""The processes picket's end-to-end tests and benchmarks start, one launcher
each: `Processes` (owns every process a script starts: picketd, picket, peers;
stopped by PID, reaped with its rusage), `start_collector` (a `picket
collector` on a free loopback port), `ZooKeeper` (Debian's zookeeper package as
a plain JVM) and `MariaDB` (Debian's mariadb-server with a private datadir).
Everything listens on 127.0.0.1 only, in the caller's own work directory.
Same server commands as ../shared/research/sync-anchors.md §6.1 and §6.2.

Scripts in tests/e2e and tests/bench import it after
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
"""
import hashlib, json, os, re, shutil, signal, socket, subprocess, sys, time

try:
    import kazoo  # noqa: F401
except ImportError:  # a python3 other than Debian's (pyenv): use the Debian package's copy
    sys.path.append("/usr/lib/python3/dist-packages")


class WaitTimeout(AssertionError):
    """A condition did not hold in time (a test failure, or a benchmark that cannot go on)."""


def wait_for(what, predicate, timeout=30, interval=0.02):
    """Polls `predicate` until it returns something truthy and returns that; raises
    WaitTimeout after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)  # polling a condition with a deadline, not synchronisation
    raise WaitTimeout(f"timed out after {timeout}s waiting for {what}")


def write_private(path, text):
    """Writes a secret (token, tokens table, password) with mode 0600: picket refuses secret
    files that group or others can access."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
    return path


def hash_tokens(text):
    """A tokens file as tests write it ('<owner> <token>' lines) in the form the collector
    takes: '<owner> sha256:<hex>' (comments, blank and already hashed lines kept)."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and not words[0].startswith("#") and not words[1].startswith("sha256:"):
            line = f"{words[0]} sha256:{hashlib.sha256(words[1].encode()).hexdigest()}"
        out.append(line)
    return "\n".join(out) + "\n"


def write_tokens_file(path, text):
    """Writes a collector --tokens file (mode 0600) from '<owner> <token>' lines: only the
    hashes land on disk, as `picket token add` leaves them."""
    return write_private(path, hash_tokens(text))


def machine_line():
    """'N CPUs (model), M GiB, Linux release': the head line every benchmark prints."""
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 2**20
    return f"{os.cpu_count()} CPUs ({model}), {mem:.1f} GiB, Linux {os.uname().release}"


def free_port(kind=socket.SOCK_STREAM):
    """A port on 127.0.0.1 that nothing used a moment ago (bound to 0, then released)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def skip_code(reason):
    """77 (skip) locally; 1 under CI=true, where skipping is not allowed."""
    if os.environ.get("CI") == "true":
        print(f"FAIL: {reason} and CI=true forbids skipping")
        return 1
    print(f"SKIP: {reason}")
    return 77


def proc_cmdline(pid):
    """The command line of `pid` as one string ("" when it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Processes:
    """Every process a script starts, by PID: stopped by PID (a signal, then SIGKILL after a
    timeout) and reaped with its rusage; `stop_all` at the end, in reverse start order.

    Output goes to one shared log (`log_path`) unless a start names its own. `detach=True`
    (the benchmarks) gives every child /dev/null as stdin and its own session, so a Ctrl-C at
    the terminal reaches only the script, which then stops its children in order."""

    def __init__(self, log_path=None, detach=False):
        self.log = open(log_path, "w") if log_path else None
        self.detach = detach
        self.procs = []   # every Popen started (or appended by the caller), in start order
        self.names = {}   # pid -> name, for messages
        self.extra = {}   # pid -> (name, cmdline marker): grandchildren killed if they outlive their parent

    def start(self, argv, name=None, *, log_path=None, stdout=None, stderr=subprocess.STDOUT,
              stdin=None, cwd=None, cpu=None):
        """Starts `argv`; output to `log_path` (appended), or `stdout`, or the shared log.
        `cpu` pins the child to one CPU."""
        out = open(log_path, "ab") if log_path else (stdout if stdout is not None else self.log)
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        if stdin is None and self.detach:
            stdin = subprocess.DEVNULL
        try:
            p = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=stderr, cwd=cwd, preexec_fn=pin,
                                 start_new_session=self.detach)
        finally:
            if log_path:
                out.close()
        self.procs.append(p)
        self.names[p.pid] = name or os.path.basename(argv[0])
        return p

    def watch(self, pid, name, marker):
        """Also kill `pid` (not our child, e.g. picketd's worker) in stop_all if its command line
        still contains `marker` (so a reused PID is left alone)."""
        self.extra[pid] = (name, marker)

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def wait(self, p, timeout, interval=0.005):
        """Reaps p within `timeout` s; returns (exit code, rusage) or None if it still runs.
        rusage is None when the caller reaped p itself (Popen.wait/poll)."""
        deadline = time.monotonic() + timeout
        while True:
            if p.returncode is not None:
                return p.returncode, None
            try:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            except ChildProcessError:  # reaped behind Popen's back: let it find out
                p.poll()
                return p.returncode, None
            if pid == p.pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                return p.returncode, ru
            if time.monotonic() >= deadline:
                return None
            time.sleep(interval)  # polling a child's exit with a deadline

    def stop(self, p, sig=signal.SIGTERM, timeout=15):
        """Closes p's stdin if it is a pipe (helpers exit on EOF), signals p by PID, waits, and
        SIGKILLs it after `timeout` s. Returns (exit code, rusage)."""
        if p.returncode is not None:
            return p.returncode, None
        if p.stdin:
            try:
                p.stdin.close()
            except OSError:
                pass
            got = self.wait(p, 2)
            if got:
                return got
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        got = self.wait(p, timeout)
        if got is None:
            print(f"{self.names.get(p.pid, p.args)} (pid {p.pid}) ignored signal {sig} for {timeout}s: SIGKILL",
                  file=sys.stderr, flush=True)
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            got = self.wait(p, 10)
        return got if got else (None, None)

    def stop_all(self, timeout=15):
        for p in reversed(self.procs):
            self.stop(p, signal.SIGTERM, timeout)
        for pid, (name, marker) in list(self.extra.items()):
            if marker in proc_cmdline(pid):  # still ours (no PID reuse)
                print(f"{name} (pid {pid}) outlived its parent: SIGKILL", file=sys.stderr, flush=True)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.extra.pop(pid, None)
        if self.log:
            self.log.close()


def start_collector(procs, picket, work, *extra, listen="127.0.0.1:0"):
    """Starts `picket collector` on a free loopback port, or on `listen` (a restart on the same
    URL), with no auth unless `extra` says otherwise; returns its base URL once it serves."""
    ready = os.path.join(work, "collector.url")
    if os.path.exists(ready):  # a restart: wait for the new one's file
        os.remove(ready)
    auth = [] if "--tokens" in extra else ["--insecure-no-auth"]
    procs.start([picket, "collector", "--listen", listen, "--data", os.path.join(work, "collector"),
                 "--ready-file", ready, *auth, *extra])
    return wait_for("collector", lambda: os.path.exists(ready) and open(ready).read().strip())


# --- ZooKeeper ------------------------------------------------------------------------------------

ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"


def zookeeper_missing():
    """Why ZooKeeper cannot run here, or None."""
    if shutil.which("java") is None:
        return "java not found (apt-get install default-jre-headless)"
    if not os.path.exists(ZOOKEEPER_JAR):
        return f"{ZOOKEEPER_JAR} not found (apt-get install zookeeper)"
    try:
        import kazoo  # noqa: F401
    except ImportError:
        return "kazoo not found (apt-get install python3-kazoo)"
    return None


def four_letter(port, word):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(word.encode())
            out = b""
            while chunk := s.recv(512):
                out += chunk
            return out.decode(errors="replace")
    except OSError:
        return ""


def zk_session_xids(port):
    """{session id: its last client xid, 0 before its first request} of every connection the
    server at `port` lists (`cons`)."""
    xids = {}
    for line in four_letter(port, "cons").splitlines():
        sid, lcxid = re.search(r"sid=(0x[0-9a-f]+)", line), re.search(r"lcxid=(0x[0-9a-f]+)", line)
        if sid:
            xids[sid.group(1)] = int(lcxid.group(1), 16) if lcxid else 0
    return xids


def zk_zxid(port):
    """The last zxid of the server at `port` (`srvr`), or None when it does not answer."""
    m = re.search(r"Zxid: (0x[0-9a-f]+)", four_letter(port, "srvr"))
    return int(m.group(1), 16) if m else None


ZK_ADMIN_USER = "picket-admin"


class ZooKeeper:
    """A standalone ZooKeeper 3.8 in <work>/zookeeper; start/stop/start keeps port and data.
    picket refuses a ZooKeeper without credentials unless told by name, so the fleet's admin
    identity (sync, collector, CLI) lives here too: `admin_flags()`, `cli_config()`,
    `device_section()` (a device using the admin identity: for tests about something else;
    e2e.zk_acl gives devices their own) and `client()` (admin unless asked otherwise)."""

    def __init__(self, work, name="zookeeper"):
        self.dir = os.path.join(work, name)
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "conf"), exist_ok=True)
        self.admin_password = "admin-" + os.urandom(12).hex()
        self.admin_password_file = write_private(os.path.join(self.dir, "admin.password"),
                                                 self.admin_password + "\n")
        self.port = free_port()
        self.ensemble_hosts = None  # set by zookeeper_ensemble: clients name every node
        self.write_config()
        self.proc = None
        self.starts = 0

    def write_config(self, quorum_lines=""):
        with open(os.path.join(self.dir, "conf", "zoo.cfg"), "w") as f:
            f.write(f"tickTime=1000\ninitLimit=10\nsyncLimit=5\ndataDir={self.dir}/data\n"
                    f"clientPort={self.port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                    "4lw.commands.whitelist=ruok,srvr,stat,mntr,cons,wchs,srst\nmaxClientCnxns=0\n"
                    "minSessionTimeout=2000\nmaxSessionTimeout=40000\n" + quorum_lines)
        # Debian's example, as tests/support/zookeeper_server.cc does (found by -cp conf; the
        # launch sets its root logger to WARN on the console): without it log4j drops
        # everything, and a server that exited at start left zk-N.out without its reason.
        example = "/etc/zookeeper/conf_example/log4j.properties"
        if os.path.exists(example):
            shutil.copyfile(example, os.path.join(self.dir, "conf", "log4j.properties"))

    @property
    def hosts(self):
        return self.ensemble_hosts or f"127.0.0.1:{self.port}"

    def start(self):
        self.launch()
        self.wait_serving()

    def launch(self):
        cp = ":".join([os.path.join(self.dir, "conf"), ZOOKEEPER_JAR] +
                      [j for j in ("/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar")
                       if os.path.exists(j)])
        self.starts += 1
        out = open(os.path.join(self.dir, f"zk-{self.starts}.out"), "w")
        self.proc = subprocess.Popen(
            # -XX:-UsePerfData: no /tmp/hsperfdata_<user>/<pid> file left behind.
            ["java", "-Xmx256m", "-XX:-UsePerfData", "-cp", cp, f"-Dzookeeper.log.dir={self.dir}",
             "-Dzookeeper.root.logger=WARN,CONSOLE", "-Dzookeeper.jmx.log4j.disable=true",
             "org.apache.zookeeper.server.quorum.QuorumPeerMain", os.path.join(self.dir, "conf", "zoo.cfg")],
            stdout=out, stderr=subprocess.STDOUT)
        self.out_name = out.name

    def wait_serving(self):
        wait_for("zookeeper to answer ruok",
                 lambda: self.proc.poll() is not None or four_letter(self.port, "ruok") == "imok", 60)
        assert self.proc.poll() is None, f"zookeeper exited, see {self.out_name}"
        wait_for("zookeeper to serve", lambda: "Mode:" in four_letter(self.port, "srvr"), 30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def admin_auth(self):
        return f"{ZK_ADMIN_USER}:{self.admin_password}"

    def admin_flags(self):
        """picket sync/collector/CLI flags of the fleet's admin identity."""
        return ["--zk-user", ZK_ADMIN_USER, "--zk-password-file", self.admin_password_file]

    def cli_config(self, root=None, **extra):
        """cli.json keys for this ZooKeeper with the admin identity, plus `extra`."""
        cfg = {"zookeeper": self.hosts, "zk_user": ZK_ADMIN_USER, "zk_password_file": self.admin_password_file}
        if root:
            cfg["zk_root"] = root
        cfg.update(extra)
        return cfg

    def device_section(self, root, **extra):
        """A picketd config's "zookeeper" section authenticating with the admin identity."""
        return {"hosts": self.hosts, "root": root, "auth_user": ZK_ADMIN_USER,
                "auth_password_file": self.admin_password_file, **extra}

    def client(self, auth="admin"):
        """A kazoo client: the admin identity by default, None for an anonymous one, or
        "user:password"."""
        from kazoo.client import KazooClient
        c = KazooClient(hosts=self.hosts, timeout=10)
        c.start(timeout=30)
        if auth:
            c.add_auth("digest", self.admin_auth if auth == "admin" else auth)
        return c


def zookeeper_ensemble(work, size=3):
    """`size` ZooKeeper servers on loopback forming one ensemble, started and serving (one
    leader). Every node's hosts, client(), cli_config() and device_section() name the whole
    ensemble and the one admin identity; node.port is that server's own client port."""
    nodes = [ZooKeeper(work, f"zookeeper-{i + 1}") for i in range(size)]
    quorum = "".join(f"server.{i + 1}=127.0.0.1:{free_port()}:{free_port()}\n" for i in range(size))
    hosts = ",".join(f"127.0.0.1:{n.port}" for n in nodes)
    for i, node in enumerate(nodes):
        node.admin_password, node.admin_password_file = nodes[0].admin_password, nodes[0].admin_password_file
        node.ensemble_hosts = hosts
        node.write_config(quorum)
        with open(os.path.join(node.dir, "data", "myid"), "w") as f:
            f.write(f"{i + 1}\n")
    try:
        for node in nodes:  # all before any wait: none serves before a quorum is up
            node.launch()
        for node in nodes:
            node.wait_serving()
    except BaseException:  # the caller gets no nodes to stop: stop every one started here
        for node in nodes:
            node.stop()
        raise
    return nodes


def read_json(zk, path):
    """The node's JSON, or None when it is missing or not JSON."""
    try:
        data, _ = zk.get(path)
        return json.loads(data.decode())
    except Exception:  # NoNodeError, connection trouble, not JSON
        return None


# --- MariaDB --------------------------------------------------------------------------------------

MARIADB_SERVER = "/usr/sbin/mariadbd"
MARIADB_INSTALL = "/usr/bin/mariadb-install-db"


def mariadb_missing():
    """Why MariaDB cannot run here, or None."""
    for tool in (MARIADB_SERVER, MARIADB_INSTALL):
        if not os.path.exists(tool):
            return f"{tool} not found (apt-get install mariadb-server)"
    if shutil.which("mariadb") is None:
        return "mariadb client not found (apt-get install mariadb-client)"
    return None


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class MariaDB:
    """A private MariaDB in <work>/mariadb: --no-defaults, passwordless root over TCP;
    `binlog`: with a row-format binary log (what picket sync's doorbell follows)."""

    def __init__(self, work, binlog=False):
        self.dir = os.path.join(work, "mariadb")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.proc = None
        self.binlog = binlog

    @property
    def url(self):
        return f"mysql://root@127.0.0.1:{self.port}/picket"

    def start(self, schema):
        with open(os.path.join(self.dir, "install.log"), "w") as log:
            subprocess.run([MARIADB_INSTALL, "--no-defaults", "--user=root", f"--datadir={self.dir}/data",
                            "--auth-root-authentication-method=normal", "--skip-test-db"],
                           stdout=log, stderr=subprocess.STDOUT, check=True, timeout=120)
        out = open(os.path.join(self.dir, "mariadbd.out"), "w")
        self.proc = subprocess.Popen(
            [MARIADB_SERVER, "--no-defaults", "--user=root", f"--datadir={self.dir}/data",
             f"--socket={self.dir}/mysql.sock", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--pid-file={self.dir}/mariadbd.pid", f"--log-error={self.dir}/error.log",
             "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
             *([f"--log-bin={self.dir}/data/binlog", "--server-id=1", "--binlog-format=ROW"] if self.binlog else [])],
            stdout=out, stderr=subprocess.STDOUT)
        wait_for("mariadbd to listen", lambda: self.proc.poll() is not None or _accepts(self.port), 60)
        assert self.proc.poll() is None, f"mariadbd exited, see {self.dir}/error.log"
        self.run("CREATE DATABASE picket", db=None)
        with open(schema) as f:
            subprocess.run(self.client_args("picket"), stdin=f, check=True, capture_output=True, timeout=60)

    def client_args(self, db="picket"):
        args = ["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{self.port}", "-uroot", "--batch",
                "--skip-column-names"]
        return args + ([db] if db else [])

    def run(self, sql, db="picket"):
        r = subprocess.run(self.client_args(db) + ["-e", sql], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"mariadb: {sql[:80]}: {r.stderr.strip()}")
        return r.stdout

    def session(self):
        return Session(self.client_args() + ["--unbuffered"])  # else output waits for the client to exit

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Session:
    """One long-lived client: statements go in on stdin, each followed by a
    marker SELECT, so the caller knows when its statement has committed
    (autocommit) without paying a process start per statement."""

    def __init__(self, args):
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.n = 0

    def execute(self, sql):
        """Runs `sql` (ending without ';'); returns its output lines once it has committed."""
        self.n += 1
        marker = f"picket-marker-{self.n}"
        self.proc.stdin.write(f"{sql};\nSELECT '{marker}';\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"mariadb session ended during: {sql[:80]}")
            line = line.rstrip("\n")
            if line == marker:
                return lines
            lines.append(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
