#!/usr/bin/env python3
"""Edge privileges end to end (issue #13, acceptance 3): picketd run as root capturing on
loopback. Its worker must run as the unprivileged security.user (picketd) with only CAP_NET_RAW,
NO_NEW_PRIVS and a seccomp filter (/proc/PID/status: non-root Uid, CapEff = CapPrm = 0x2000,
NoNewPrivs 1, Seccomp 2). Then `kill -SYS` the worker (the exit a seccomp kill gives): only the
worker dies, the supervisor logs a seccomp kill, puts it in the status document's last_error
(seen through the heartbeat at the collector) and restarts it, and the new worker, confined the
same way, captures again. The spool stays the worker user's, 0700/0600.

usage: privileges_test.py PICKETD PICKET   (PICKETD may be a static build: the collector is PICKET)
Needs root and the user picketd (third_party/setup-debian.sh); skips without them unless CI=true."""
import argparse, json, os, pwd, signal, socket, stat, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import alive, children, http_get, pcap_frames, remove_unless_kept, report, root_or_skip  # noqa: E402
from servers import Processes, start_collector, wait_for  # noqa: E402

PORT = 24731
MAGIC = b"picket-privs "
NET_RAW = 1 << 13  # CAP_NET_RAW


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def confined(pid, uid):
    """Failures of one worker's confinement, and its status lines for the figures."""
    s = proc_status(pid)
    lines = [f"{k}: {s.get(k)}" for k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
                                         "CapAmb", "NoNewPrivs", "Seccomp")]
    failures = []
    if [int(x) for x in s["Uid"].split()] != [uid] * 4:
        failures.append(f"worker {pid} Uid is {s['Uid']}, want {uid} four times")
    if int(s["Uid"].split()[0]) == 0:
        failures.append(f"worker {pid} runs as root")
    for key in ("CapPrm", "CapEff"):
        if int(s[key], 16) != NET_RAW:
            failures.append(f"worker {pid} {key} is {s[key]}, want only CAP_NET_RAW (0x2000)")
    if int(s["CapInh"], 16) or int(s["CapAmb"], 16):
        failures.append(f"worker {pid} keeps inheritable/ambient capabilities: {s['CapInh']}/{s['CapAmb']}")
    if s.get("NoNewPrivs") != "1":
        failures.append(f"worker {pid} NoNewPrivs is {s.get('NoNewPrivs')}, want 1")
    if s.get("Seccomp") != "2":
        failures.append(f"worker {pid} Seccomp is {s.get('Seccomp')}, want 2 (filter)")
    return failures, lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picketd")
    ap.add_argument("picket")
    a = ap.parse_args()
    t_start = time.monotonic()
    if (code := root_or_skip()) is not None:
        return code
    try:
        user = pwd.getpwnam("picketd")
    except KeyError:
        if os.environ.get("CI") == "true":
            print("FAIL: no user picketd (third_party/setup-debian.sh creates it) and CI=true forbids skipping")
            return 1
        print("SKIP: no user picketd (run third_party/setup-debian.sh)")
        return 77

    work = tempfile.mkdtemp(prefix="picket-privs-")
    os.chmod(work, 0o711)  # the worker, as user picketd, must reach its buffer below
    log_path = os.path.join(work, "processes.log")
    procs = Processes(log_path)
    failures, figures = [], []
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", PORT))
    try:
        base = start_collector(procs, a.picket, work)
        buffer_dir = os.path.join(work, "buffer")
        config = {
            "device": {"id": "gw-privs"},
            "capture": {"interface": "lo", "filter": f"udp and dst port {PORT}", "chunk_max_age": "1s",
                        "chunk_idle": "300ms"},
            "buffer": {"dir": buffer_dir},
            "upload": {"collectors": [base], "retry_base": "100ms", "retry_max": "1s",
                       "heartbeat_interval": "1s"},
        }
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump(config, f)
        picketd = procs.start([a.picketd, "run", "--config", cfg], name="picketd")

        def worker():
            kids = children(picketd.pid)
            return kids[0] if kids else None

        def seccomp_on(pid):
            try:
                return proc_status(pid).get("Seccomp") == "2" and pid
            except FileNotFoundError:
                return False

        first = wait_for("a confined worker", lambda: worker() and seccomp_on(worker()), 30)
        procs.watch(first, "worker", "worker")
        bad, lines = confined(first, user.pw_uid)
        failures += bad
        figures.append(f"worker {first} /proc status: " + "; ".join(lines))
        sup = proc_status(picketd.pid)
        figures.append(f"supervisor {picketd.pid}: Uid {sup['Uid']}; CapEff {sup['CapEff']}; "
                       f"CapBnd {sup['CapBnd']}")

        def chunks():
            return json.loads(http_get(f"{base}/v1/devices/gw-privs/chunks?limit=1000"))

        def captured(marker):
            """Sends a few marked packets until a chunk holding one reaches the collector."""
            seen = set()

            def found():
                for i in range(5):
                    tx.sendto(MAGIC + marker + b" %d" % i, ("127.0.0.1", PORT))
                for c in chunks():
                    if c["seq"] in seen:
                        continue
                    seen.add(c["seq"])
                    data = http_get(f"{base}/v1/devices/gw-privs/chunks/{c['seq']}")
                    if any(MAGIC + marker in fr for fr in pcap_frames(data)):
                        return c["seq"]
                return None
            return wait_for(f"a chunk with '{marker.decode()}' at the collector", found, 60, 0.2)

        seq1 = captured(b"before")
        figures.append(f"first worker captured: chunk {seq1} at the collector")

        os.kill(first, signal.SIGSYS)
        wait_for("the killed worker to go", lambda: not alive(first) or None, 10)
        second = wait_for("a new confined worker",
                          lambda: worker() not in (None, first) and seccomp_on(worker()), 30)
        procs.watch(second, "worker", "worker")
        if not alive(picketd.pid):
            failures.append("the supervisor died with its worker")
        bad, lines = confined(second, user.pw_uid)
        failures += bad
        figures.append(f"restarted worker {second}: " + "; ".join(lines[:1] + lines[4:6] + lines[8:]))

        def reported():
            log = procs.log_text()
            return "worker killed by seccomp" in log and f"pid={first}" in log
        try:
            wait_for("the supervisor's seccomp-kill log line", reported, 10)
        except AssertionError:
            failures.append("no 'worker killed by seccomp' log line naming the worker")

        def last_error():
            doc = json.loads(http_get(f"{base}/v1/devices/gw-privs/status"))
            err = ((doc.get("heartbeat") or {}).get("last_error")) or ""
            return "seccomp" in err and err
        try:
            figures.append("status document last_error: " + wait_for("last_error naming seccomp", last_error, 15))
        except AssertionError:
            failures.append("the status document's last_error does not report the seccomp kill")

        seq2 = captured(b"after")
        figures.append(f"restarted worker captured: chunk {seq2} at the collector")

        # The spool: the worker's user owns it, nobody else can read it.
        for root, dirs, files in os.walk(buffer_dir):
            for name in dirs + files:
                path = os.path.join(root, name)
                st = os.lstat(path)
                if st.st_mode & 0o077:
                    failures.append(f"{path} has mode {stat.filemode(st.st_mode)}: group/other may use it")
        st = os.stat(os.path.join(buffer_dir, "chunks"))
        if st.st_uid != user.pw_uid:
            failures.append(f"the chunk spool belongs to uid {st.st_uid}, not picketd ({user.pw_uid})")
        figures.append(f"spool {buffer_dir}/chunks: uid {st.st_uid}, mode {stat.filemode(st.st_mode)}")

        code = procs.stop(picketd)[0]
        if code != 0:
            failures.append(f"picketd run exited {code} on SIGTERM")
        return report(failures, figures, t_start)
    finally:
        tx.close()
        rx.close()
        procs.stop_all()
        remove_unless_kept(work)


if __name__ == "__main__":
    sys.exit(main())
