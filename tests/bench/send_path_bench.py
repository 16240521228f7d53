#!/usr/bin/env python3
"""send_path_bench: how fast one core pushes SYN probes out: picketd's two send paths beside masscan
at the same rate, into a sink namespace. scan_bench.py runs it as its last phase; it also runs alone.

A benchmark program, not a test. Needs root, ip(8), nft(8) and taskset(1); masscan is the peer (its
row says "not installed" without it). Installs nothing.

SAFETY. Two network namespaces created here, `picket-send-<pid>-tx` and `picket-send-<pid>-sink`,
joined by one veth pair and nothing else: 10.254.0.1/30 (tx) and 10.254.0.2/30 (sink). The targets,
10.253.0.0/16, are routed from tx via 10.254.0.2 into the sink, where an nft netdev ingress rule
counts and drops every frame: nothing reaches any stack, nothing can leave the host. Both
namespaces (and with them the veth pair) are deleted at the end, also on error; every process is
started with a timeout and waited for by PID.

The sink receives on another CPU (--sink-cpu), as a receiver on another machine would: a veth
normally delivers on the sending CPU, which would charge the sink's receive work (~30% of the core,
measured with perf) to the sender. So the sink's veth runs NAPI in a thread (`threaded` NAPI)
pinned to --sink-cpu, with interrupt coalescing (gro_flush_timeout 20 us, napi_defer_hard_irqs:
without it every send wakes the sink with an IPI, 12% of the sender's core in this VM), and drops the targets' frames in XDP (tests/bench/sink_xdp.c, built here
with clang -target bpf), before any skb work, so that the sink keeps up. Without clang it falls
back to the nft rule with GRO (slower; the summary says which). Every row gets the same sink.
Needs ethtool(8) and clang for that.

Each row sends --probes probes (10.253.0.0/16 x ports, no retries) at --rate with the sender pinned
to --cpu, and reports the frames the sink counted, over the sender's own send time where it prints
one (picketd's summary: first to last probe; masscan: its "rate" status line is not a measure of the
wire, so masscan's row is the sink's count over masscan's wall time from its first to its last frame
as the sink's counter saw them, sampled every 50 ms). Rows: picketd --send-path raw (the default:
an IPv4 raw socket, kernel routing), picketd --send-path packet (AF_PACKET frames to the gateway's
MAC, qdisc bypassed), masscan --adapter with --router-mac (its default libpcap send path).

usage: send_path_bench.py [--picketd PATH] [--rate 2000000] [--ports 30] [--cpu 1] [--sink-cpu 0]
                         [--runs 3]"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TARGETS = "10.253.0.0/16"


def sh(argv, check=True, timeout=30, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


class Sink:
    """The two namespaces and the veth pair; the sink's received-frame counter."""

    def __init__(self, sink_cpu):
        self.tx = f"picket-send-{os.getpid()}-tx"
        self.sink = f"picket-send-{os.getpid()}-sink"
        self.sink_cpu = sink_cpu
        self.workdir = tempfile.mkdtemp(prefix="picket-send-")

    def __enter__(self):
        sh(["ip", "netns", "add", self.tx])
        sh(["ip", "netns", "add", self.sink])
        sh(["ip", "link", "add", "vtx", "netns", self.tx, "type", "veth", "peer", "name", "vsink",
            "netns", self.sink])
        sh(["ip", "-n", self.tx, "addr", "add", "10.254.0.1/30", "dev", "vtx"])
        sh(["ip", "-n", self.sink, "addr", "add", "10.254.0.2/30", "dev", "vsink"])
        for ns, dev in ((self.tx, "vtx"), (self.sink, "vsink")):
            sh(["ip", "-n", ns, "link", "set", dev, "up"])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        sh(["ip", "-n", self.tx, "route", "add", TARGETS, "via", "10.254.0.2"])
        rules = ("table netdev sink {\n chain in {\n  type filter hook ingress device vsink priority 0;"
                 " policy accept;\n  ip daddr " + TARGETS + " counter drop\n }\n}\n")
        sh(["ip", "netns", "exec", self.sink, "nft", "-f", "-"], input=rules)
        self.receive_on_sink_cpu()
        self.sink_mac = sh(["ip", "netns", "exec", self.sink, "cat",
                            "/sys/class/net/vsink/address"]).stdout.strip()
        return self

    def receive_on_sink_cpu(self):
        """veth delivers through NAPI (not on the sender's CPU) when the receiver has an XDP program
        or GRO on (and the sender TSO off); threaded NAPI runs that in a kthread, pinned here to the
        sink's CPU."""
        self.kind = "nft + GRO"
        clang = shutil.which("clang")
        if clang:
            obj = os.path.join(self.workdir, "sink_xdp.o")
            sh([clang, "-O2", "-target", "bpf", "-c", os.path.join(REPO, "tests", "bench", "sink_xdp.c"),
                "-o", obj])
            sh(["ip", "-n", self.sink, "link", "set", "dev", "vsink", "xdp", "obj", obj, "sec", "xdp"])
            self.kind = "XDP drop"
        else:
            sh(["ip", "netns", "exec", self.tx, "ethtool", "-K", "vtx", "tso", "off"])
            sh(["ip", "netns", "exec", self.sink, "ethtool", "-K", "vsink", "gro", "on"])
        # Interrupt coalescing, as a NIC does it: the sink polls again after 20 us instead of
        # having every send wake it (an IPI per wake-up in a VM: 12% of the sender's core).
        sh(["ip", "netns", "exec", self.sink, "sh", "-c",
            "cd /sys/class/net/vsink && echo 1 > threaded && echo 20000 > gro_flush_timeout && "
            "echo 1000 > napi_defer_hard_irqs"])
        threads = []
        for comm in os.listdir("/proc"):
            try:
                with open(f"/proc/{comm}/comm") as f:
                    if f.read().startswith("napi/vsink"):
                        threads.append(comm)
            except (OSError, ValueError):
                continue
        if not threads:
            raise RuntimeError("threaded NAPI on the sink's veth: no napi/vsink kthread appeared")
        for pid in threads:
            sh(["taskset", "-pc", str(self.sink_cpu), pid])

    def __exit__(self, *exc):
        for ns in (self.tx, self.sink):
            sh(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def received(self):
        out = sh(["ip", "netns", "exec", self.sink, "cat", "/sys/class/net/vsink/statistics/rx_packets"])
        return int(out.stdout.strip())


SAMPLER = """
import os, sys, time
fd = os.open("/sys/class/net/vsink/statistics/rx_packets", os.O_RDONLY)
while sys.stdin.readline():
    print(time.monotonic(), os.pread(fd, 64, 0).decode().strip(), flush=True)
"""


def sample_counter(sink, stop, samples):
    """(time, frames) every 50 ms until `stop` is set: when frames started and stopped arriving.
    One reader process inside the sink namespace answers each request (spawning a process per
    sample would cost the sink's CPU, which receives the frames)."""
    reader = subprocess.Popen(["ip", "netns", "exec", sink.sink, sys.executable, "-c", SAMPLER],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        while not stop.is_set():
            try:
                reader.stdin.write("\n")
                reader.stdin.flush()
            except OSError:
                break  # the reader is gone
            line = reader.stdout.readline().split()
            if len(line) != 2:
                break  # the reader failed: the row's window then comes from the sender alone
            samples.append((float(line[0]), int(line[1])))
            stop.wait(0.05)
    finally:
        try:
            reader.stdin.close()
        except OSError:
            pass
        reader.wait(timeout=10)


def run_row(sink, argv, timeout):
    """Runs argv in the tx namespace; frames the sink counted, the first-to-last-frame window from the
    sampled counter, the process's own output and rusage CPU seconds."""
    samples, stop = [], threading.Event()
    before = sink.received()
    t = threading.Thread(target=sample_counter, args=(sink, stop, samples), daemon=True)
    t.start()
    r0 = os.times()
    proc = subprocess.Popen(["ip", "netns", "exec", sink.tx] + argv, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{argv[2]} did not finish within {timeout} s")
    r1 = os.times()
    stop.set()
    t.join()
    frames = sink.received() - before
    window = None
    if any(n > before for _, n in samples):
        first = next(ts for ts, n in samples if n > before)
        last = next(ts for ts, n in samples if n >= before + frames)
        window = max(last - first, 0.05)
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return frames, window, err, proc.returncode, cpu


def picketd_pps(err):
    for line in err.splitlines():
        if "picketd scan: done" in line:
            for part in line.split():
                if part.startswith("pps="):
                    return float(part[4:])
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--picketd", default=os.path.join(REPO, "build", "dev", "bin", "picketd"))
    ap.add_argument("--rate", type=int, default=2_000_000,
                    help="probes per second asked of every row: above the goal, to show the ceiling")
    ap.add_argument("--ports", type=int, default=30, help="ports 1..N on each of the 65,536 targets")
    ap.add_argument("--cpu", type=int, default=1, help="the one CPU each sender is pinned to")
    ap.add_argument("--sink-cpu", type=int, default=0, help="the CPU the sink receives on")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("send_path_bench: needs root (namespaces, raw sockets)")
        return 2
    probes = 65536 * a.ports
    # masscan's rate varies 30-700 kpps here run to run: 1.97 M probes can take a minute.
    timeout = max(180, 10 * probes / a.rate)
    rows = {"picketd --send-path raw": [], "picketd --send-path packet": [], "masscan": []}
    masscan = shutil.which("masscan")
    if a.sink_cpu == a.cpu:
        print("send_path_bench: --sink-cpu must differ from --cpu")
        return 2
    # This script and its samplers stay off the sender's CPU.
    os.sched_setaffinity(0, {a.sink_cpu})
    with Sink(a.sink_cpu) as sink:
        for run in range(a.runs):
            for name in rows:
                base = ["taskset", "-c", str(a.cpu)]
                if name.startswith("picketd"):
                    path = name.split()[-1]
                    argv = base + [a.picketd, "scan", "--targets", TARGETS, "--ports", f"1-{a.ports}",
                                   "--rate", str(a.rate), "--retries", "0", "--wait", "100ms",
                                   "--send-path", path, "--quiet"]
                elif masscan:
                    argv = base + [masscan, TARGETS, "-p", f"1-{a.ports}", "--rate", str(a.rate),
                                   "--adapter", "vtx", "--adapter-ip", "10.254.0.1",
                                   "--router-mac", sink.sink_mac.replace(":", "-"), "--wait", "0"]
                else:
                    continue
                frames, window, err, rc, cpu = run_row(sink, argv, timeout)
                own = picketd_pps(err) if name.startswith("picketd") else None
                pps = own if own else (frames / window if window else None)
                rows[name].append({"frames": frames, "pps": pps, "cpu": cpu, "rc": rc})
                print(f"# run {run + 1}/{a.runs} {name}: {frames:,} frames at the sink of {probes:,}, "
                      f"{pps or 0:,.0f} pps, CPU {cpu:.2f} s, exit {rc}", flush=True)
    print(f"\nsend path: {probes:,} SYN probes ({TARGETS} x {a.ports} ports, no retries) asked at "
          f"{a.rate:,} pps, sender pinned to CPU {a.cpu}, into a sink namespace over veth receiving on "
          f"CPU {a.sink_cpu} ({sink.kind}; medians of {a.runs} runs)")
    print(f"{'sender':30} {'pps':>12} {'at the sink':>12} {'CPU s':>7}")
    med = {}
    for name, runs in rows.items():
        if not runs:
            print(f"{name:30} {'not installed':>12}")
            continue
        med[name] = statistics.median(r["pps"] or 0 for r in runs)
        print(f"{name:30} {med[name]:>12,.0f} {statistics.median(r['frames'] for r in runs) / probes:>11.1%} "
              f"{statistics.median(r['cpu'] for r in runs):>7.2f}")
    if "masscan" in med and med["masscan"]:
        for name in ("picketd --send-path raw", "picketd --send-path packet"):
            print(f"ratio {name} / masscan: {med[name] / med['masscan']:.2f}x")
    goal = med.get("picketd --send-path packet", 0)
    print(f"goal (#17): packet send path >= 1,500,000 pps on one core: {'met' if goal >= 1.5e6 else 'NOT met'}")
    print("send_path_bench: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
