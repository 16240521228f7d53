#!/usr/bin/env python3
"""capture_bench: picketd against tcpdump on loopback, and picketd's upload drain.

A benchmark program, not a test (never registered with ctest). Needs root:
live capture on lo. All traffic goes to 127.0.0.1 and nowhere else; every load
is bounded in packets and in seconds.

One run:
  1. Capture. The same offered loads (UDP to 127.0.0.1:PORT from
     picket_bench_traffic: 60-byte frames at --small-pps, 1500-byte frames at
     --large-mbps, plus any --extra-load) go first to `picketd run` (capture on
     lo, filter "udp dst port PORT", every other setting at its default: 32 MiB
     ring, 150 ms timeout, 8 MiB chunks, gzip uploads; it ships its chunks to a
     live `picket collector` meanwhile, or with --capture-upload closed to a
     closed port), then to `tcpdump -i lo -w FILE` with its defaults and the
     same filter. Generator pinned to --gen-cpu, the capturer (picketd's
     supervisor and worker, or tcpdump) to --cap-cpu, as in capture-anchors.md
     Appendix A. Printed side by side: offered, captured, kernel drops, CPU
     seconds of the capturing processes, CPU µs per captured packet, peak RSS,
     and the picketd/tcpdump ratios.
  2. Upload. With the collector down (picketd's collector URL is a closed port
     on 127.0.0.1) a --backlog-mib backlog of 1500-byte-frame chunks is
     captured into picketd's buffer; then `picket collector` is started on
     that port and the time until the buffer's pending bytes reach 0 is
     measured (the SQLite buffer is polled with a deadline). Prints drain time,
     upload MB/s, supervisor CPU and peak RSS, for each --drains variant. The
     peer: curl (one process, one connection) PUTs the same chunk files to the
     same collector under new seqs, and its CPU per GB is set beside the
     supervisor's (only where the bodies went uncompressed, as curl sends them).
  3. Peak RSS (VmHWM) of picketd's worker and supervisor in every run.
The collector stands in for a remote machine: its data goes to a tmpfs
(/dev/shm) so its fsyncs do not compete with picketd's on the local disk, and
before every run the previous runs' dirty pages are written back (sync).

usage: capture_bench.py [--quick] [--picketd PATH] [--picket PATH] [--traffic PATH] ...
       capture_bench.py --help
The last line printed is `capture_bench: done` when every phase ran.
"""
import argparse
import base64
import hashlib
import json
import math
import mmap
import os
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from servers import Processes, WaitTimeout, free_port, proc_cmdline, wait_for, write_private, write_tokens_file, machine_line  # noqa: E402

LOOPBACK = "127.0.0.1"           # the only address this program ever sends to
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEVICE_ID = "bench-1"
DEVICE_TOKEN = "bench-device-token"
OPERATOR_TOKEN = "bench-operator-token"
PCAP_RECORD_HEADER = 16
PCAP_FILE_HEADER = 24
# Upload settings of each drain run on top of the embedded defaults.
DRAIN_VARIANTS = {
    "default": {},
    "retry1s": {"retry_base": "200ms", "retry_max": "1s"},
    "nogzip": {"retry_base": "200ms", "retry_max": "1s", "gzip": False},
}


class BenchError(Exception):
    pass


def log(msg):
    print(f"# {msg}", flush=True)


# ---------------------------------------------------------------------------
# /proc readers

def proc_cpu_s(pid):
    """utime + stime of the whole process (all threads), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def child_pids(pid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                text = f.read()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(name))
    return out


def system_cpu():
    """{'cpu': (busy_s, total_s), 'cpu0': ...} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            parts = line.split()
            vals = [int(v) for v in parts[1:]]
            idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
            total = sum(vals[:8])          # guest time is already inside user
            out[parts[0]] = ((total - idle) / CLK_TCK, total / CLK_TCK)
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def free_udp_port():
    return free_port(socket.SOCK_DGRAM)


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------
# pcap and buffer readers

def count_pcap_records(path):
    """Whole records in a classic pcap file; torn tail reported separately."""
    size = os.path.getsize(path)
    if size < PCAP_FILE_HEADER:
        return 0, size
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        magic = struct.unpack_from("<I", m, 0)[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        caplen_at = struct.Struct(endian + "I")
        off, n = PCAP_FILE_HEADER, 0
        while off + PCAP_RECORD_HEADER <= size:
            caplen = caplen_at.unpack_from(m, off + 8)[0]
            end = off + PCAP_RECORD_HEADER + caplen
            if end > size:
                break
            off = end
            n += 1
        return n, size - off


def buffer_query(buffer_dir, sql, args=()):
    db = sqlite3.connect(f"file:{buffer_dir}/buffer.db?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchone()
    finally:
        db.close()


def pending(buffer_dir):
    n, b = buffer_query(buffer_dir, "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM chunks WHERE state = 0")
    return n, b


def http_json(url, token, timeout=20):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


# ---------------------------------------------------------------------------
# The bench

class Bench:
    def __init__(self, a, work):
        self.a = a
        self.work = work
        self.procs = Processes(detach=True)  # stopped by PID, reaped with their rusage
        self.bin = os.path.join(work, "bin")
        self.run_no = 0
        # The collector stands in for a remote machine: its chunk files go to
        # tmpfs, so its writes and fsyncs do not compete with picketd's
        # (or tcpdump's) on the one local disk.
        parent = a.collector_data or (work if not os.access("/dev/shm", os.W_OK) else "/dev/shm")
        self.collector_root = tempfile.mkdtemp(prefix="picket-bench-collector-", dir=parent)

    # -- set-up ------------------------------------------------------------

    def prepare_binaries(self):
        """Copies picketd/picket into the work dir: a concurrent rebuild of the
        build tree cannot swap a binary under a running benchmark."""
        os.makedirs(self.bin)
        for attr, name in (("picketd", "picketd"), ("picket", "picket")):
            src = getattr(self.a, attr)
            if not os.access(src, os.X_OK):
                raise BenchError(f"{name} not found at {src} (build it: cmake --build --preset dev)")
            dst = os.path.join(self.bin, name)
            shutil.copy2(src, dst)
            setattr(self, attr, dst)
        traffic = self.a.traffic or os.path.join(os.path.dirname(self.a.picketd), "picket_bench_traffic")
        if not self.a.traffic and not os.access(traffic, os.X_OK):
            traffic = os.path.join(REPO, "build", "dev", "bin", "picket_bench_traffic")
        if os.access(traffic, os.X_OK):
            self.traffic = traffic
            log(f"traffic generator: {traffic}")
        else:
            cc = shutil.which("cc") or shutil.which("gcc")
            if not cc:
                raise BenchError(f"no generator at {traffic} and no C compiler to build tests/bench/traffic.c")
            self.traffic = os.path.join(self.bin, "picket_bench_traffic")
            subprocess.run([cc, "-O2", "-std=gnu11", "-o", self.traffic, os.path.join(HERE, "traffic.c")],
                           check=True)
            log(f"traffic generator: built {self.traffic} from tests/bench/traffic.c "
                f"(not found at {traffic})")
        self.tcpdump = self.a.tcpdump or shutil.which("tcpdump")
        if not self.tcpdump:
            raise BenchError("tcpdump not found (apt-get install tcpdump)")
        write_private(os.path.join(self.work, "device.token"), DEVICE_TOKEN + "\n")
        write_tokens_file(os.path.join(self.work, "tokens"), f"{DEVICE_ID} {DEVICE_TOKEN}\n@operator {OPERATOR_TOKEN}\n")

    def run_dir(self, label):
        """A fresh directory per run; the previous runs' dirty pages are written
        back first so that no run pays for another's writeback."""
        self.run_no += 1
        d = os.path.join(self.work, f"{self.run_no:02d}-{label}")
        os.makedirs(d)
        os.sync()
        return d

    def discard(self, d, *paths):
        """Frees what a finished run wrote (pcap files, collector data) unless --keep."""
        if self.a.keep:
            return
        for path in paths:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.exists(path):
                os.unlink(path)
        shutil.rmtree(os.path.join(self.collector_root, os.path.basename(d)), ignore_errors=True)

    def remove_collector_root(self):
        shutil.rmtree(self.collector_root, ignore_errors=True)

    # -- pieces ------------------------------------------------------------

    def generator(self, d, port, frame, pps, seconds, max_packets, cpu):
        out = os.path.join(d, "traffic.out")
        argv = [self.traffic, "--port", str(port), "--frame", str(frame), "--pps", f"{pps:.0f}",
                "--seconds", f"{seconds:.3f}", "--max-packets", str(int(max_packets)),
                "--payload", self.a.payload]
        p = self.procs.start(argv, "traffic", log_path=out, cpu=cpu)
        got = self.procs.wait(p, seconds + 30)
        if got is None:
            self.procs.stop(p, signal.SIGKILL, 5)
            raise BenchError("traffic generator did not finish in time")
        code, _ = got
        lines = [l for l in open(out).read().splitlines() if l.startswith("{")]
        if code != 0 or not lines:
            raise BenchError(f"traffic generator failed (exit {code}):\n{tail(out)}")
        return json.loads(lines[-1])

    def start_collector(self, d, port, cpu=None):
        ready = os.path.join(d, "collector.url")
        p = self.procs.start([self.picket, "collector", "--listen", f"{LOOPBACK}:{port}",
                              "--data", os.path.join(self.collector_root, os.path.basename(d)),
                              "--tokens", os.path.join(self.work, "tokens"),
                              "--ready-file", ready],
                             "collector", log_path=os.path.join(d, "collector.log"), cpu=cpu)
        return p, ready

    def wait_ready(self, p, ready, logpath):
        def ok():
            if p.poll() is not None:
                raise BenchError(f"collector exited with {p.returncode}:\n{tail(logpath)}")
            return os.path.exists(ready) and open(ready).read().strip()
        return wait_for("collector ready file", ok, 20, 0.05)

    def picketd_config(self, d, udp_port, collector_url, **extra):
        cfg = {
            "device": {"id": DEVICE_ID},
            "capture": {"interface": "lo", "filter": f"udp dst port {udp_port}"},
            "buffer": {"dir": os.path.join(d, "buffer")},
            "upload": {"collectors": [collector_url], "token_file": os.path.join(self.work, "device.token")},
        }
        for section, values in extra.items():
            cfg.setdefault(section, {}).update(values)
        path = os.path.join(d, "picketd.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        return path, cfg["buffer"]["dir"]

    def start_picketd(self, d, cfg, cpu):
        logpath = os.path.join(d, "picketd.log")
        sup = self.procs.start([self.picketd, "run", "--config", cfg], "picketd", log_path=logpath, cpu=cpu)

        def capturing():
            if sup.poll() is not None:
                raise BenchError(f"picketd exited with {sup.returncode}:\n{tail(logpath)}")
            return "worker capturing" in open(logpath, errors="replace").read()
        wait_for("picketd worker capturing", capturing, 30, 0.05)
        workers = [c for c in child_pids(sup.pid) if " worker " in proc_cmdline(c)]
        if len(workers) != 1:
            raise BenchError(f"expected one picketd worker under pid {sup.pid}, found {workers}")
        self.procs.watch(workers[0], "picketd worker", "picketd worker")
        return sup, workers[0], logpath

    # -- phase 1: capture --------------------------------------------------

    def capture_picketd(self, load):
        a = self.a
        d = self.run_dir(f"picketd-{load['frame']}B")
        port = free_udp_port()
        collector = None
        if a.capture_upload == "live":   # the supervisor ships chunks while the worker captures
            collector, ready = self.start_collector(d, free_port())
            url = self.wait_ready(collector, ready, os.path.join(d, "collector.log"))
        else:
            url = f"http://{LOOPBACK}:{free_port()}"   # closed: chunks stay in the buffer
        cfg, buf = self.picketd_config(d, port, url, **a.overrides)
        sup, worker, logpath = self.start_picketd(d, cfg, a.cap_cpu)
        time.sleep(0.5)  # let start-up CPU settle before the baseline
        load_before = loadavg()
        s0, w0, sys0 = proc_cpu_s(sup.pid), proc_cpu_s(worker), system_cpu()
        c0 = proc_cpu_s(collector.pid) if collector else None
        gen = self.generator(d, port, load["frame"], load["pps"], a.seconds,
                             math.ceil(load["pps"] * a.seconds * 1.01) + 64, a.gen_cpu)
        time.sleep(a.settle)  # the last ring block retires after the 150 ms timeout
        s1, w1, sys1 = proc_cpu_s(sup.pid), proc_cpu_s(worker), system_cpu()
        c1 = proc_cpu_s(collector.pid) if collector else None
        hwm = {"worker": proc_status_kib(worker, "VmHWM"), "supervisor": proc_status_kib(sup.pid, "VmHWM")}
        code, ru = self.procs.stop(sup, signal.SIGTERM, 30)    # the worker seals its open chunk
        self.procs.extra.pop(worker, None)
        if code != 0:
            raise BenchError(f"picketd exited with {code}:\n{tail(logpath)}")
        if collector:
            self.procs.stop(collector, signal.SIGTERM, 30)
        row = buffer_query(buf, "SELECT COUNT(*), COALESCE(SUM(packets),0), COALESCE(SUM(kernel_drops),0), "
                                "COALESCE(SUM(interface_drops),0), COALESCE(SUM(bytes),0) FROM chunks")
        chunks, packets, kdrops, ifdrops, nbytes = row
        uploaded, attempts, evicted, evicted_packets, kept_packets = buffer_query(
            buf, "SELECT COALESCE(SUM(state = 1), 0), COALESCE(SUM(attempts), 0), COALESCE(SUM(state = 3), 0), "
                 "COALESCE(SUM(CASE WHEN state = 3 THEN packets END), 0), "
                 "COALESCE(SUM(CASE WHEN state IN (0, 2) THEN packets END), 0) FROM chunks")
        lost = 0
        for line in open(logpath, errors="replace"):
            if "worker capture stopped" in line and "lost=" in line:
                lost = int(line.split("lost=")[1].split()[0])
        # Cross-check the table against the files still in the buffer.
        on_disk = None
        if a.capture_upload == "closed":
            on_disk = 0
            chunk_dir = os.path.join(buf, "chunks")
            for name in os.listdir(chunk_dir):
                if name.endswith(".pcap") and not name.startswith("."):
                    n, torn = count_pcap_records(os.path.join(chunk_dir, name))
                    on_disk += n
        self.discard(d, os.path.join(buf, "chunks"))
        return {
            "tool": "picketd", "gen": gen, "captured": packets, "captured_on_disk": on_disk,
            "dropped": kdrops, "if_dropped": ifdrops, "lost": lost, "chunks": chunks, "bytes": nbytes,
            "uploaded": uploaded, "failed_attempts": attempts, "evicted": evicted,
            "evicted_packets": evicted_packets, "kept_packets": kept_packets,
            "cpu": {"worker": w1 - w0, "supervisor": s1 - s0},
            "cpu_total_rusage": (ru.ru_utime + ru.ru_stime) if ru else None,
            "collector_cpu": (c1 - c0) if collector else None,
            "hwm_kib": hwm, "sys": (sys0, sys1), "loadavg": load_before,
        }

    def capture_tcpdump(self, load):
        a = self.a
        d = self.run_dir(f"tcpdump-{load['frame']}B")
        port = free_udp_port()
        out = os.path.join(d, "tcpdump.pcap")
        logpath = os.path.join(d, "tcpdump.log")
        p = self.procs.start([self.tcpdump, "-i", "lo", "-w", out, f"udp dst port {port}"], "tcpdump",
                             log_path=logpath, cpu=a.cap_cpu)

        def listening():
            if p.poll() is not None:
                raise BenchError(f"tcpdump exited with {p.returncode}:\n{tail(logpath)}")
            return "listening on" in open(logpath, errors="replace").read()
        wait_for("tcpdump listening", listening, 20, 0.05)
        time.sleep(0.5)
        load_before = loadavg()
        t0, sys0 = proc_cpu_s(p.pid), system_cpu()
        gen = self.generator(d, port, load["frame"], load["pps"], a.seconds,
                             math.ceil(load["pps"] * a.seconds * 1.01) + 64, a.gen_cpu)
        time.sleep(max(a.settle, 1.2))  # tcpdump's block timeout is 1000 ms
        t1, sys1 = proc_cpu_s(p.pid), system_cpu()
        hwm = proc_status_kib(p.pid, "VmHWM")
        code, ru = self.procs.stop(p, signal.SIGINT, 30)          # prints its statistics
        text = open(logpath, errors="replace").read()

        def stat(what):
            for line in text.splitlines():
                if line.endswith(what):
                    return int(line.split()[0])
            return None
        records, torn = count_pcap_records(out)
        size = os.path.getsize(out)
        self.discard(d, out)
        return {
            "tool": "tcpdump", "gen": gen, "captured": records, "captured_line": stat("packets captured"),
            "received_by_filter": stat("packets received by filter"),
            "dropped": stat("packets dropped by kernel") or 0, "torn_bytes": torn,
            "bytes": size, "cpu": {"tcpdump": t1 - t0},
            "cpu_total_rusage": (ru.ru_utime + ru.ru_stime) if ru else None,
            "hwm_kib": {"tcpdump": hwm}, "sys": (sys0, sys1), "loadavg": load_before, "exit": code,
        }

    # -- phase 2: backlog and drain ---------------------------------------

    def drain(self, variant):
        a = self.a
        d = self.run_dir(f"drain-{variant}")
        upload = dict(DRAIN_VARIANTS[variant])
        port = free_udp_port()
        cport = free_port()                       # the collector comes here later; closed for now
        target = a.backlog_mib << 20
        budget = max(1 << 30, 2 * target + (256 << 20))   # eviction must not eat the backlog
        cfg, buf = self.picketd_config(d, port, f"http://{LOOPBACK}:{cport}",
                                       capture={"chunk_max_bytes": "8MiB"},
                                       buffer={"max_bytes": str(budget)},
                                       upload=upload)
        outage_start = time.monotonic()
        sup, worker, logpath = self.start_picketd(d, cfg, None)
        s_outage = proc_cpu_s(sup.pid)
        record = PCAP_RECORD_HEADER + 1500
        packets = math.ceil(target / record) + 1
        rate = self.large_pps
        log(f"backlog: capturing {packets:,} frames of 1500 B at {rate / 1000:.1f} kpps, collector down")
        gen = self.generator(d, port, 1500, rate, min(120.0, packets / rate * 1.5 + 5), packets, a.gen_cpu)

        def sealed():   # the open chunk seals after chunk_idle (10 s) without packets
            names = os.listdir(os.path.join(buf, "chunks"))
            return not any(n.endswith(".tmp") for n in names)
        wait_for("the last backlog chunk to seal", sealed, 60, 0.2)
        n0, b0 = pending(buf)
        sample = buffer_query(buf, "SELECT file FROM chunks WHERE state = 0 ORDER BY seq LIMIT 1")
        with open(sample[0], "rb") as f:
            raw = f.read()
        gzip_ratio = len(zlib.compress(raw, 1)) / max(1, len(raw))   # what upload.gzip (level 1) sends
        attempts, max_attempts, next_due = buffer_query(
            buf, "SELECT COALESCE(SUM(attempts),0), COALESCE(MAX(attempts),0), COALESCE(MAX(next_attempt_ms),0) "
                 "FROM chunks WHERE state = 0")
        evicted = buffer_query(buf, "SELECT COUNT(*) FROM chunks WHERE state = 3")[0]
        outage = time.monotonic() - outage_start
        latest_retry_in = max(0.0, next_due / 1000 - time.time())
        log(f"backlog: {n0} chunks, {b0:,} B pending after {outage:.1f} s of outage; "
            f"{attempts} failed attempts so far, latest retry due in {latest_retry_in:.1f} s")

        s0, w0, sys0 = proc_cpu_s(sup.pid), proc_cpu_s(worker), system_cpu()
        outage_cpu = s0 - s_outage
        load_before = loadavg()
        t0 = time.monotonic()
        collector, ready = self.start_collector(d, cport)
        base = self.wait_ready(collector, ready, os.path.join(d, "collector.log"))
        t_ready = time.monotonic() - t0
        series = [(0.0, b0)]
        deadline = t0 + a.drain_timeout
        while True:
            _, b = pending(buf)
            now = time.monotonic() - t0
            if b != series[-1][1]:
                series.append((now, b))
            if b == 0:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"backlog not drained after {a.drain_timeout}s: {b:,} B still pending")
            if collector.poll() is not None:
                raise BenchError(f"collector died:\n{tail(os.path.join(d, 'collector.log'))}")
            time.sleep(0.05)  # polling the buffer with a deadline
        t_drain = time.monotonic() - t0
        s1, w1, sys1 = proc_cpu_s(sup.pid), proc_cpu_s(worker), system_cpu()
        c1 = proc_cpu_s(collector.pid)
        hwm = {"worker": proc_status_kib(worker, "VmHWM"), "supervisor": proc_status_kib(sup.pid, "VmHWM")}
        chunks = http_json(f"{base}/v1/devices/{DEVICE_ID}/chunks?limit=10000", OPERATOR_TOKEN)
        collector_hwm = proc_status_kib(collector.pid, "VmHWM")
        peer = self.curl_peer(d, base, os.path.join(self.collector_root, os.path.basename(d)),
                              not upload.get("gzip", True) or gzip_ratio > 0.8)
        code, _ = self.procs.stop(sup, signal.SIGTERM, 60)
        self.procs.extra.pop(worker, None)
        self.procs.stop(collector, signal.SIGTERM, 30)
        if code != 0:
            raise BenchError(f"picketd exited with {code}:\n{tail(logpath)}")
        self.discard(d, os.path.join(buf, "chunks"))
        got_bytes = sum(c["bytes"] for c in chunks)
        received = sorted(c["received_at_ms"] for c in chunks)

        def at_fraction(frac):   # first time the drained share reached frac
            goal = b0 * (1 - frac)
            for t, b in series:
                if b <= goal:
                    return t
            return t_drain
        t10, t90 = at_fraction(0.10), at_fraction(0.90)
        stalls = [series[i + 1][0] - series[i][0] for i in range(len(series) - 1)]
        return {
            "variant": variant, "upload": upload, "gzip": upload.get("gzip", True), "gen": gen,
            "backlog_bytes": b0, "backlog_chunks": n0, "evicted": evicted, "budget": budget,
            "gzip_ratio": gzip_ratio, "payload": self.a.payload,
            "outage_s": outage, "outage_sup_cpu": outage_cpu, "failed_attempts": attempts,
            "max_attempts": max_attempts, "latest_retry_in": latest_retry_in, "ready_s": t_ready,
            "first_progress_s": series[1][0] if len(series) > 1 else None,
            "drain_s": t_drain, "mbps_all": b0 / t_drain / 1e6,
            "mbps_10_90": (0.8 * b0) / (t90 - t10) / 1e6 if t90 > t10 else None,
            "t10": t10, "t90": t90, "longest_stall_s": max(stalls) if stalls else 0.0,
            "collector_window_s": (received[-1] - received[0]) / 1000 if len(received) > 1 else None,
            "collector_chunks": len(chunks), "collector_bytes": got_bytes,
            "sup_cpu": s1 - s0, "worker_cpu": w1 - w0, "collector_cpu": c1, "hwm_kib": hwm,
            "collector_hwm_kib": collector_hwm, "sys": (sys0, sys1), "loadavg": load_before,
            "curl": peer,
        }

    def curl_peer(self, d, base, collector_data, identity):
        """The peer of the upload path: curl PUTs the same chunk files (the collector's stored
        copies, read from the page cache as picketd's are) to the same collector, under new seqs,
        one process and one connection, with the headers the collector needs. Only for a drain
        that sent the bodies as they are (the payload did not compress): curl then does what
        picketd's upload threads do. Returns {bytes, files, cpu_s, wall_s} or a reason."""
        if not identity:
            return {"skipped": "the bodies were compressed"}
        curl = shutil.which("curl")
        if not curl:
            return {"skipped": "curl not installed"}
        files = []
        for root, _, names in os.walk(collector_data):
            for n in names:
                path = os.path.join(root, n)
                if os.path.getsize(path) > 1 << 20:
                    with open(path, "rb") as f:
                        if f.read(4) == b"\xd4\xc3\xb2\xa1":
                            files.append(path)
        if not files:
            return {"skipped": "no stored chunk files found"}
        lines = []
        for i, path in enumerate(sorted(files)):
            with open(path, "rb") as f:
                digest = base64.b64encode(hashlib.sha256(f.read()).digest()).decode()
            if i:
                lines.append("next")
            lines += [f'url = "{base}/v1/devices/{DEVICE_ID}/chunks/{1_000_000 + i}"',
                      f'upload-file = "{path}"', 'output = "/dev/null"', "silent", "show-error",
                      "fail", f'header = "Authorization: Bearer {DEVICE_TOKEN}"',
                      f'header = "Digest: sha-256={digest}"',
                      'header = "Content-Type: application/vnd.tcpdump.pcap"']
        cfg = os.path.join(d, "curl.cfg")
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        t0 = time.monotonic()
        p = subprocess.Popen([curl, "-K", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        timer = threading.Timer(300, p.kill)   # bounded: a hung transfer ends the peer
        timer.start()
        try:
            err = p.stderr.read()
            _, status, usage = os.wait4(p.pid, 0)   # curl's own CPU (rusage of this child alone)
        finally:
            timer.cancel()
            p.returncode = 0   # reaped above; keeps Popen from waiting again
        wall = time.monotonic() - t0
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise BenchError(f"curl peer exited with {code}: {err.decode(errors='replace')[-500:]}")
        cpu = usage.ru_utime + usage.ru_stime
        return {"bytes": sum(os.path.getsize(f) for f in files), "files": len(files), "cpu_s": cpu,
                "wall_s": wall}


# ---------------------------------------------------------------------------
# Report

def fmt_int(v):
    return "-" if v is None else f"{v:,}"


def fmt_f(v, digits=2, suffix=""):
    return "-" if v is None else f"{v:.{digits}f}{suffix}"


def fmt_mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def other_cpu(r):
    """CPU-seconds the whole machine spent in the window minus generator + capturer."""
    (b0, _), (b1, _) = r["sys"][0]["cpu"], r["sys"][1]["cpu"]
    ours = r["gen"]["cpu_s"] + sum(r["cpu"].values()) + (r.get("collector_cpu") or 0)
    return (b1 - b0) - ours



CAPTURE_NOTES = """\
captured: picketd = SUM(packets) of its committed chunks (buffer.db), evicted ones included; the files
check counts the records in the chunk files left, which must equal the packets of the chunks neither
evicted nor uploaded. tcpdump = whole records in its file.
dropped: pcap_stats ps_drop (picketd: SUM(kernel_drops)); on lo the ring also carries the outgoing copy
of each packet (libpcap discards it in user space), so one lost packet is usually 2 drops.
CPU: utime+stime (/proc/<pid>/stat, 10 ms ticks) over the load plus a settle time. other CPU: busy
CPU-s of the whole machine (/proc/stat) in that window minus generator, capturer and collector."""


def print_capture_table(loads, results, a):
    cols = []
    for load in loads:
        for tool in ("picketd", "tcpdump"):
            cols.append((load, tool, results[(load["name"], tool)]))
    w0, w = 34, 15
    print()
    print("== Capture on lo: `picketd run` (defaults: 32 MiB ring, 150 ms timeout, 8 MiB chunks) "
          "vs `tcpdump -i lo -w FILE` (defaults) ==")
    print(f"filter 'udp dst port <gen port>' for both; {a.payload} payloads; generator on CPU{a.gen_cpu}, "
          f"capturer on CPU{a.cap_cpu}; "
          f"{a.seconds:g} s per load; picketd (supervisor + worker) pinned together; picketd uploads "
          + ("to a live collector (unpinned, its CPU not counted)" if a.capture_upload == "live"
             else "to a closed port (every attempt fails; chunks stay in the buffer)")
          + (f"; NOT default, overridden: {json.dumps(a.overrides)}" if a.overrides else ""))
    head = "".ljust(w0) + "".join(f"{load['name']:>{2 * w}}" for load in loads)
    print(head)
    print("".ljust(w0) + "".join(f"{tool:>{w}}" for _, tool, _ in cols))

    def row(label, fn):
        print(label.ljust(w0) + "".join(f"{fn(r, tool):>{w}}" for _, tool, r in cols))

    row("offered packets (generator)", lambda r, t: fmt_int(r["gen"]["sent"]))
    row("offered rate", lambda r, t: f"{r['gen']['pps'] / 1000:.1f} kpps")
    row("offered Gbps (frame bytes)", lambda r, t: f"{r['gen']['pps'] * r['gen']['frame'] * 8 / 1e9:.3f}")
    row("captured packets", lambda r, t: fmt_int(r["captured"]))
    row("captured / offered", lambda r, t: f"{100.0 * r['captured'] / max(1, r['gen']['sent']):.2f} %")
    row("dropped by kernel", lambda r, t: fmt_int(r["dropped"]))
    row("  picketd: lost in process", lambda r, t: fmt_int(r["lost"]) if t == "picketd" else "")
    def on_disk(r, t):
        if t == "tcpdump":
            return fmt_int(r["captured"])
        if r["captured_on_disk"] is None:
            return "-"
        ok = r["captured_on_disk"] == r["kept_packets"]
        return fmt_int(r["captured_on_disk"]) + ("" if ok else " (!)")
    row("  check: records in files", on_disk)
    row("  tcpdump: 'packets captured'", lambda r, t: fmt_int(r["captured_line"]) if t == "tcpdump" else "")
    row("  tcpdump: 'received by filter'", lambda r, t: fmt_int(r["received_by_filter"]) if t == "tcpdump" else "")
    row("pcap bytes written", lambda r, t: fmt_int(r["bytes"]))
    row("picketd chunks", lambda r, t: fmt_int(r["chunks"]) if t == "picketd" else "")
    row("  uploaded by shutdown", lambda r, t: fmt_int(r["uploaded"]) if t == "picketd" else "")
    row("  evicted (disk budget)", lambda r, t: f"{r['evicted']} ({r['evicted_packets']:,} p)"
        if t == "picketd" else "")
    row("  failed upload attempts", lambda r, t: fmt_int(r["failed_attempts"]) if t == "picketd" else "")
    row("CPU s: capture process", lambda r, t: fmt_f(r["cpu"].get("worker", r["cpu"].get("tcpdump")), 2))
    row("CPU s: picketd supervisor", lambda r, t: fmt_f(r["cpu"]["supervisor"], 2) if t == "picketd" else "")
    row("CPU s: total capturing", lambda r, t: fmt_f(sum(r["cpu"].values()), 2))
    row("CPU µs per captured packet", lambda r, t: fmt_f(sum(r["cpu"].values()) * 1e6 / max(1, r["captured"]), 3))
    row("CPU ns per captured byte", lambda r, t: fmt_f(sum(r["cpu"].values()) * 1e9 / max(1, r["bytes"]), 3))
    row("peak RSS (VmHWM) capture proc",
        lambda r, t: fmt_mib(r["hwm_kib"].get("worker", r["hwm_kib"].get("tcpdump"))))
    row("peak RSS (VmHWM) supervisor", lambda r, t: fmt_mib(r["hwm_kib"]["supervisor"]) if t == "picketd" else "")
    if a.capture_upload == "live":
        row("collector CPU s (not counted)", lambda r, t: fmt_f(r.get("collector_cpu"), 2) if t == "picketd" else "")
    row("generator CPU s", lambda r, t: fmt_f(r["gen"]["cpu_s"], 2))
    row("other CPU s on the machine", lambda r, t: fmt_f(other_cpu(r), 2))
    row("loadavg before the load", lambda r, t: r["loadavg"].split()[0])

    print(CAPTURE_NOTES)
    print()
    print("ratio picketd / tcpdump (same offered load):")
    for load in loads:
        p, t = results[(load["name"], "picketd")], results[(load["name"], "tcpdump")]
        pc, tc = sum(p["cpu"].values()), sum(t["cpu"].values())
        pp = pc / max(1, p["captured"])
        tp = tc / max(1, t["captured"])
        pw = p["cpu"]["worker"] / max(1, p["captured"])
        rss = p["hwm_kib"]["worker"] + p["hwm_kib"]["supervisor"]

        def ratio(x, y):
            return f"{x / y:.2f}x" if y else "n/a (tcpdump 0)"
        print(f"  {load['name']:<22} CPU/packet {ratio(pp, tp)} (worker alone {ratio(pw, tp)}); "
              f"CPU total {ratio(pc, tc)}; captured {ratio(p['captured'], t['captured'])}; "
              f"drops {fmt_int(p['dropped'])} vs {fmt_int(t['dropped'])}; "
              f"peak RSS worker+supervisor {ratio(rss, t['hwm_kib']['tcpdump'])}")


def curl_line(r):
    c = r["curl"]
    if "skipped" in c:
        return f"not measured: {c['skipped']}"
    curl_per_gb = c["cpu_s"] / (c["bytes"] / 1e9)
    ours_per_gb = r["sup_cpu"] / max(1e-9, r["backlog_bytes"] / 1e9)
    return (f"{c['cpu_s']:.2f} CPU s for {c['bytes']:,} B in {c['files']} PUTs, {c['wall_s']:.2f} s "
            f"({curl_per_gb:.2f} CPU s per GB); picketd supervisor / curl per GB "
            f"{ours_per_gb / curl_per_gb:.2f}x")


def print_drain(r):
    settings = ", ".join(f"{k} {json.dumps(v)}" for k, v in r["upload"].items()) or "embedded defaults"
    print()
    print(f"== Upload drain '{r['variant']}' into `picket collector` on 127.0.0.1: "
          f"{r['backlog_bytes'] / 2**20:,.0f} MiB backlog; upload: {settings} "
          f"(gzip {'on' if r['gzip'] else 'off'}, 2 threads), 8 MiB chunks ==")
    lines = [
        ("backlog", f"{r['backlog_bytes']:,} B in {r['backlog_chunks']} chunks of 1500 B frames "
                    f"(buffer.max_bytes {r['budget'] / 2**30:.2f} GiB, {r['evicted']} evicted)"),
        ("payload; zlib level 1 size of one chunk", f"{r['payload']}; {100 * r['gzip_ratio']:.1f} % of the raw pcap"),
        ("outage before the collector start", f"{r['outage_s']:.1f} s; {r['failed_attempts']} failed upload "
                                              f"attempts, max {r['max_attempts']} on one chunk; latest "
                                              f"scheduled retry {r['latest_retry_in']:.1f} s after the start"),
        ("supervisor CPU during the outage", f"{r['outage_sup_cpu']:.2f} s (failed attempts; nothing was sent)"),
        ("collector start -> ready", f"{r['ready_s']:.2f} s"),
        ("collector start -> first chunk acked", fmt_f(r["first_progress_s"], 2, " s")),
        ("collector start -> 10% / 90% drained", f"{r['t10']:.2f} s / {r['t90']:.2f} s"),
        ("collector start -> pending bytes 0", f"{r['drain_s']:.2f} s   <- time to drain"),
        ("upload throughput, whole drain",
         f"{r['mbps_all']:.1f} MB/s  ({r['mbps_all'] * 8 / 1000:.2f} Gbps of pcap)"),
        ("upload throughput, 10% -> 90%", fmt_f(r["mbps_10_90"], 1, " MB/s")),
        ("longest time without progress", f"{r['longest_stall_s']:.2f} s"),
        ("collector: first -> last chunk stored", fmt_f(r["collector_window_s"], 2, " s")),
        ("verified at the collector", f"{r['collector_chunks']} chunks, {r['collector_bytes']:,} B "
                                      + ("(all bytes)" if r["collector_bytes"] >= r["backlog_bytes"]
                                         else "(MISSING BYTES)")),
        ("picketd supervisor CPU during drain",
         f"{r['sup_cpu']:.2f} s  ({r['sup_cpu'] / max(1e-9, r['backlog_bytes'] / 1e9):.2f} CPU s per GB)"),
        ("curl PUTs of the same files (the peer)", curl_line(r)),
        ("picketd worker CPU during drain", f"{r['worker_cpu']:.2f} s (idle capture)"),
        ("collector CPU (whole life)", f"{r['collector_cpu']:.2f} s"),
        ("peak RSS supervisor / worker",
         f"{fmt_mib(r['hwm_kib']['supervisor'])} / {fmt_mib(r['hwm_kib']['worker'])}"),
        ("peak RSS collector", fmt_mib(r["collector_hwm_kib"])),
        ("loadavg at the collector start", r["loadavg"]),
    ]
    for k, v in lines:
        print(f"{k:<40} {v}")


def print_rss(loads, results, drains):
    print()
    print("== picketd peak RSS (VmHWM from /proc/<pid>/status) ==")
    print(f"{'':<34}{'worker':>14}{'supervisor':>14}{'tcpdump':>14}")
    for load in loads:
        p, t = results.get((load["name"], "picketd")), results.get((load["name"], "tcpdump"))
        print(f"{'capture ' + load['name']:<34}{fmt_mib(p['hwm_kib']['worker']):>14}"
              f"{fmt_mib(p['hwm_kib']['supervisor']):>14}{fmt_mib(t['hwm_kib']['tcpdump']):>14}")
    for r in drains:
        label = f"backlog + drain '{r['variant']}'"
        print(f"{label:<34}{fmt_mib(r['hwm_kib']['worker']):>14}{fmt_mib(r['hwm_kib']['supervisor']):>14}{'':>14}")


def machine_header(bench):
    tcpdump_v = subprocess.run([bench.tcpdump, "--version"], capture_output=True, text=True).stdout.splitlines()
    picketd_v = subprocess.run([bench.picketd, "version"], capture_output=True, text=True).stdout.splitlines()
    top = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu"], capture_output=True, text=True).stdout
    busy = ", ".join(" ".join(l.split()) for l in top.splitlines()[1:4])
    print(f"machine: {machine_line()}")
    print(f"tools:   {tcpdump_v[0] if tcpdump_v else '?'}; {tcpdump_v[1] if len(tcpdump_v) > 1 else ''}; "
          f"{picketd_v[0] if picketd_v else '?'}")
    built = ", ".join(f"{name} {src} ({time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(os.path.getmtime(src)))})"
                      for name, src in (("picketd", bench.a.picketd), ("picket", bench.a.picket)))
    print(f"binaries: {built}")
    print(f"load:    loadavg {loadavg()} at start; busiest processes: {busy}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    bindir = os.path.join(REPO, "build", "dev", "bin")
    # What ships is the static binary: the dev build's RSS also counts ~14 MiB of
    # shared libraries' pages per process.
    static = os.path.join(REPO, "build", "static-x86_64", "bin", "picketd")
    ap.add_argument("--picketd", default=static if os.path.exists(static) else os.path.join(bindir, "picketd"),
                    help="default: build/static-x86_64/bin/picketd if built, else build/dev/bin/picketd")
    ap.add_argument("--picket", default=os.path.join(bindir, "picket"))
    ap.add_argument("--traffic", help="picket_bench_traffic (default: next to picketd, else build/dev/bin; "
                                      "else built from traffic.c)")
    ap.add_argument("--tcpdump", help="tcpdump binary (default: from PATH)")
    ap.add_argument("--seconds", type=float, default=6.0, help="duration of each capture load (default 6)")
    ap.add_argument("--small-pps", type=float, default=300_000, help="60-byte frames per second (default 300000)")
    ap.add_argument("--large-mbps", type=float, default=1000, help="Mbit/s of 1500-byte frames (default 1000)")
    ap.add_argument("--backlog-mib", type=int, default=1024, help="upload backlog to drain (default 1024)")
    ap.add_argument("--payload", choices=("random", "text"), default="random",
                    help="UDP payload: random (incompressible, like encrypted traffic; default) or "
                         "text (log-like lines gzip shrinks several times)")
    ap.add_argument("--gen-cpu", type=int, default=0)
    ap.add_argument("--cap-cpu", type=int, default=1)
    ap.add_argument("--settle", type=float, default=1.0, help="seconds after a load before reading counters")
    ap.add_argument("--drain-timeout", type=float, default=900)
    ap.add_argument("--capture-upload", choices=("live", "closed"), default="live",
                    help="during the capture loads picketd uploads to a live collector (default) or to a "
                         "closed port (chunks stay in the buffer)")
    ap.add_argument("--extra-load", action="append", default=[], metavar="FRAME:PPS",
                    help="another capture load, e.g. 60:600000 or 1500:250000 (repeatable)")
    ap.add_argument("--drains", default="default,retry1s",
                    help="comma list of drain runs: default (embedded upload settings), retry1s "
                         "(retry_base 200ms, retry_max 1s: the upload path without backoff), "
                         "nogzip (retry1s and gzip false); default: default,retry1s")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a picketd config field in the capture runs (diagnostics), e.g. "
                         "upload.gzip=false or capture.buffer_mib=64; VALUE is JSON or a plain string")
    ap.add_argument("--skip-capture", action="store_true")
    ap.add_argument("--skip-drain", action="store_true")
    ap.add_argument("--workdir", default="/var/tmp", help="parent of the temporary work directory")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (and the collector's data)")
    ap.add_argument("--collector-data", metavar="DIR",
                    help="parent of the collector's data directory (default: /dev/shm, a tmpfs)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1.5 s loads, 64 MiB backlog")
    a = ap.parse_args()
    if a.quick:
        a.seconds = min(a.seconds, 1.5)
        a.backlog_mib = min(a.backlog_mib, 64)
    if not (0 < a.seconds <= 60) or a.backlog_mib < 8 or a.small_pps <= 0 or a.large_mbps <= 0:
        ap.error("need 0 < --seconds <= 60, --backlog-mib >= 8, positive rates")
    a.overrides = {}
    for spec in a.set:
        key, sep, value = spec.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or not section or not field:
            ap.error(f"--set {spec}: want SECTION.KEY=VALUE")
        try:
            value = json.loads(value)
        except ValueError:
            pass
        a.overrides.setdefault(section, {})[field] = value
    drains = [d.strip() for d in a.drains.split(",") if d.strip()]
    if any(d not in DRAIN_VARIANTS for d in drains):
        ap.error(f"--drains: choose from {', '.join(DRAIN_VARIANTS)}")
    extra = []
    for spec in a.extra_load:
        try:
            frame, pps = spec.split(":")
            extra.append((int(frame), float(pps)))
        except ValueError:
            ap.error(f"--extra-load {spec}: want FRAME:PPS")
        if not (60 <= extra[-1][0] <= 9000 and 0 < extra[-1][1] <= 5e6):
            ap.error(f"--extra-load {spec}: frame 60..9000, pps 1..5000000")
    if os.geteuid() != 0:
        print("capture_bench: live capture on lo needs root")
        return 2
    ncpu = os.cpu_count() or 1
    if max(a.gen_cpu, a.cap_cpu) >= ncpu:
        a.gen_cpu, a.cap_cpu = 0, min(1, ncpu - 1)

    # SIGINT/SIGTERM/SIGHUP unwind like Ctrl-C (even when started with SIGINT
    # ignored, as in a background job), so every child is stopped by PID.
    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)

    work = tempfile.mkdtemp(prefix="picket-bench-", dir=a.workdir)
    os.chmod(work, 0o711)  # picketd's worker runs as security.user and must reach its buffer
    bench = Bench(a, work)
    ok = False
    try:
        bench.prepare_binaries()
        print("capture_bench: picketd vs tcpdump on lo, and picketd's upload drain (127.0.0.1 only)")
        machine_header(bench)
        print(f"work dir: {work}{' (kept)' if a.keep else ''}; collector data: {bench.collector_root}")
        bench.large_pps = a.large_mbps * 1e6 / (1500 * 8)
        loads = [
            {"name": f"60 B @ {a.small_pps / 1000:.0f} kpps", "frame": 60, "pps": a.small_pps},
            {"name": f"1500 B @ {a.large_mbps / 1000:.2f} Gbps", "frame": 1500, "pps": bench.large_pps},
        ]
        for frame, pps in extra:
            gbps = frame * 8 * pps / 1e9
            loads.append({"name": f"{frame} B @ {pps / 1000:.0f} kpps ({gbps:.2f} Gb/s)", "frame": frame, "pps": pps})
        results = {}
        if not a.skip_capture:
            for load in loads:
                log(f"load {load['name']}: picketd ...")
                results[(load["name"], "picketd")] = bench.capture_picketd(load)
                log(f"load {load['name']}: tcpdump ...")
                results[(load["name"], "tcpdump")] = bench.capture_tcpdump(load)
        drain_results = []
        if not a.skip_drain:
            for variant in drains:
                log(f"upload drain '{variant}': {a.backlog_mib} MiB backlog ...")
                drain_results.append(bench.drain(variant))
        drains = drain_results
        if results:
            for i in range(0, len(loads), 2):
                print_capture_table(loads[i:i + 2], results, a)
        for r in drains:
            print_drain(r)
        if results:
            print_rss(loads, results, drains)
        print()
        print(f"loadavg at the end: {loadavg()}")
        ok = True
    except (BenchError, WaitTimeout) as e:
        print(f"capture_bench: FAILED: {e}", flush=True)
    except KeyboardInterrupt as e:
        print(f"capture_bench: interrupted ({e or 'Ctrl-C'}); stopping every process", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)   # a second Ctrl-C must not cut the clean-up short
        bench.procs.stop_all(15)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
            bench.remove_collector_root()
    if ok:
        print("capture_bench: done")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
