"""A real MariaDB for picket's end-to-end tests and benchmarks (Debian's
mariadb-server, a private datadir on a free loopback port, stopped by PID)
and a persistent `mariadb` client session. Same commands as
../shared/research/sync-anchors.md §6.2."""
import os, shutil, signal, socket, subprocess

from e2e_support import wait_for
from zk_support import free_port

SERVER = "/usr/sbin/mariadbd"
INSTALL = "/usr/bin/mariadb-install-db"


def missing():
    for tool in (SERVER, INSTALL):
        if not os.path.exists(tool):
            return f"{tool} not found (apt-get install mariadb-server)"
    if shutil.which("mariadb") is None:
        return "mariadb client not found (apt-get install mariadb-client)"
    return None


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class MariaDB:
    def __init__(self, work):
        self.dir = os.path.join(work, "mariadb")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return f"mysql://root@127.0.0.1:{self.port}/picket"

    def start(self, schema):
        with open(os.path.join(self.dir, "install.log"), "w") as log:
            subprocess.run([INSTALL, "--no-defaults", "--user=root", f"--datadir={self.dir}/data",
                            "--auth-root-authentication-method=normal", "--skip-test-db"],
                           stdout=log, stderr=subprocess.STDOUT, check=True, timeout=120)
        out = open(os.path.join(self.dir, "mariadbd.out"), "w")
        self.proc = subprocess.Popen(
            [SERVER, "--no-defaults", "--user=root", f"--datadir={self.dir}/data",
             f"--socket={self.dir}/mysql.sock", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--pid-file={self.dir}/mariadbd.pid", f"--log-error={self.dir}/error.log",
             "--skip-name-resolve", "--innodb-buffer-pool-size=32M"], stdout=out, stderr=subprocess.STDOUT)
        wait_for("mariadbd to listen", lambda: self.proc.poll() is not None or accepts(self.port), 60)
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
