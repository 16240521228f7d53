"""A real ZooKeeper 3.8 for picket's end-to-end tests (the Debian `zookeeper`
package, started as a plain JVM on a free loopback port in the test's own
directory, stopped by PID), and a kazoo client for the test's own reads and
writes. Same commands as ../shared/research/sync-anchors.md §6.1."""
import json, os, shutil, signal, socket, subprocess, sys

from e2e_support import wait_for

try:
    import kazoo  # noqa: F401
except ImportError:  # a python3 other than Debian's (pyenv): use the Debian package's copy
    sys.path.append("/usr/lib/python3/dist-packages")

JAR = "/usr/share/java/zookeeper.jar"


def missing():
    """Why ZooKeeper tests cannot run here, or None."""
    if shutil.which("java") is None:
        return "java not found (apt-get install default-jre-headless)"
    if not os.path.exists(JAR):
        return f"{JAR} not found (apt-get install zookeeper)"
    try:
        import kazoo  # noqa: F401
    except ImportError:
        return "kazoo not found (apt-get install python3-kazoo)"
    return None


def skip_code(reason):
    """77 (skip) locally; 1 under CI=true, where skipping is not allowed."""
    if os.environ.get("CI") == "true":
        print(f"FAIL: {reason} and CI=true forbids skipping")
        return 1
    print(f"SKIP: {reason}")
    return 77


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class ZooKeeper:
    def __init__(self, work):
        self.dir = os.path.join(work, "zookeeper")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "conf"), exist_ok=True)
        self.port = free_port()
        with open(os.path.join(self.dir, "conf", "zoo.cfg"), "w") as f:
            f.write(f"tickTime=1000\ninitLimit=10\nsyncLimit=5\ndataDir={self.dir}/data\n"
                    f"clientPort={self.port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                    "4lw.commands.whitelist=ruok,srvr,stat,mntr,cons,wchs\nmaxClientCnxns=0\n"
                    "minSessionTimeout=2000\nmaxSessionTimeout=40000\n")
        self.proc = None
        self.starts = 0

    @property
    def hosts(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        cp = ":".join([os.path.join(self.dir, "conf"), JAR] +
                      [j for j in ("/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar")
                       if os.path.exists(j)])
        self.starts += 1
        out = open(os.path.join(self.dir, f"zk-{self.starts}.out"), "w")
        self.proc = subprocess.Popen(
            ["java", "-Xmx256m", "-cp", cp, f"-Dzookeeper.log.dir={self.dir}",
             "-Dzookeeper.root.logger=WARN,CONSOLE", "-Dzookeeper.jmx.log4j.disable=true",
             "org.apache.zookeeper.server.quorum.QuorumPeerMain", os.path.join(self.dir, "conf", "zoo.cfg")],
            stdout=out, stderr=subprocess.STDOUT)
        wait_for("zookeeper to answer ruok",
                 lambda: self.proc.poll() is not None or four_letter(self.port, "ruok") == "imok", 60)
        assert self.proc.poll() is None, f"zookeeper exited, see {out.name}"
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

    def client(self):
        from kazoo.client import KazooClient
        c = KazooClient(hosts=self.hosts, timeout=10)
        c.start(timeout=30)
        return c


def read_json(zk, path):
    """The node's JSON, or None when it is missing or not JSON."""
    try:
        data, _ = zk.get(path)
        return json.loads(data.decode())
    except Exception:  # NoNodeError, connection trouble, not JSON
        return None
