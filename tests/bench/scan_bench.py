#!/usr/bin/env python3
"""scan_bench: picketd's port scanner against masscan and nmap, on loopback in a private namespace.

A benchmark program, not a test (never registered with ctest). Needs root, ip(8), nft(8) and
ethtool(8); masscan and nmap are the peers (apt-get install masscan nmap) and their rows say
"not installed" without them. Installs nothing.

SAFETY. Every scan (picketd SYN and connect, masscan, nmap -sS) runs inside a network namespace
this program creates, `picket-bench-<pid>` (and `picket-bench-<pid>-plain`), whose only interface
is its own lo; nothing can leave the host. Targets must lie in 127.0.0.0/8. The namespaces and
every process started here are removed by PID at the end, also on error or Ctrl-C/SIGTERM.
Every wait has a deadline; the helper processes in the namespace exit by themselves when this
program goes away (EOF on their stdin) or after --max-seconds.

One run:
  1. Ground truth: --pairs (default 50) (127.x.y.z, port) pairs drawn (seeded) from --target
     (default 127.0.0.0/20) x --ports (20 ports), a fixed share of them inside --nmap-target
     (default 127.0.0.0/24), plus edge cases (first and last address, ports 1 and 65535).
     A listener process inside the namespace binds them all and checks each with a connect().
  2. The namespace gets the set-up that makes masscan work on loopback
     (scanner-anchors.md §4.4): an nft netdev-ingress rule re-marking frames with a foreign
     destination MAC as PACKET_HOST, route_localnet=1 and accept_local=1, lo MTU 1500 with
     TSO/GSO/GRO off (else libpcap's immediate-mode ring holds ~32 frames and masscan misses
     ports), and a keep-alive UDP datagram to 127.0.0.1:9 every 100 ms (else masscan never exits).
     A second, plain namespace (lo up, nothing else; same listeners) checks that picketd's SYN
     mode needs none of that (row "picketd SYN, plain ns"; --no-plain skips it).
     A third, lossy namespace (`picket-bench-<pid>-loss`: plain, same listeners, then
     `tc qdisc add dev lo root netem loss --loss%`, which drops probes and replies alike) checks
     that retries recover what is lost (row "picketd SYN, netem N% loss", with --loss-retries;
     --loss 0 skips it).
  3. --runs rounds (order rotated each round) of:
       picketd scan (SYN)        --target x ports
       picketd scan --connect    --target x ports
       masscan                   --target x ports
       nmap -sS                  --nmap-target x ports  (-n -Pn, --max-rate RATE, -T4)
       picketd scan (SYN)        --nmap-target x ports  (the like-for-like row for nmap)
       picketd scan (SYN)        --target x ports in the plain namespace
       picketd scan (SYN)        --target x ports in the lossy namespace, --loss-retries
     all at --rate pps, --retries extra probes, --wait after the last probe (masscan: rounded up
     to whole seconds; picketd: the longest wait, it ends sooner when every probe is answered or
     after srtt + 4 x rttvar of its measured reply times).
  4. A table per row: wall time (spawn to exit, median), achieved pps (the tool's own figure:
     picketd's summary, masscan's status line; nmap: wire SYNs / its elapsed time), wire pps
     (SYNs on lo between the first and the last one, from a tcpdump in the namespace; off with
     --no-wire-timing), SYNs and bare RSTs on lo (nft counters), open ports found, recall vs
     ground truth (pairs inside the row's target), false opens, CPU seconds and peak RSS. Then
     picketd/masscan ratios (and picketd/nmap on the /24).
  5. The send path (send_path_bench.py, --send-rate, 0 skips): picketd --send-path raw and packet and
     masscan, each pinned to one CPU, pushing 1.97 M SYNs into a sink namespace over veth; then
     `scan_bench: done`.

usage: scan_bench.py [--rate 50000] [--runs 3] [--picketd PATH] [--quick] ...
       scan_bench.py --help
"""
import argparse
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from servers import Processes, WaitTimeout, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LOOPBACK_NET = ipaddress.ip_network("127.0.0.0/8")   # the only addresses this program ever scans
DEFAULT_PORTS = "1,21,22,25,53,80,110,143,443,445,993,3306,5432,6379,8000,8080,8443,9200,27017,65535"
FAKE_ROUTER_MAC = "66-55-44-33-22-11"   # masscan: a zero MAC counts as unset
FAKE_SOURCE_MAC = "00-11-22-33-44-55"   # lo's own MAC is all-zero
NFT_TABLE = "picket_bench"
PCAP_FILE_HEADER = 24
PCAP_RECORD_HEADER = 16


class BenchError(Exception):
    pass


def log(msg):
    print(f"# {msg}", flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run_cmd(argv, timeout=30, check=True):
    """A short set-up command with a deadline; returns CompletedProcess."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {timeout}s: {' '.join(argv)}")
    if check and r.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({r.returncode}): {(r.stderr or r.stdout).strip()}")
    return r


def first_line(text, limit=90):
    for line in text.replace("\r", "\n").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[:limit - 1] + "…"
    return ""


# ---------------------------------------------------------------------------
# Helper programs that run inside the namespace (started with `ip netns exec`).
# Both exit on EOF on stdin (this program went away) or after their deadline.

LISTENER = r"""
import json, selectors, socket, sys, time
pairs = json.loads(sys.argv[1]); deadline = time.monotonic() + float(sys.argv[2])
sel = selectors.DefaultSelector()
for ip, port in pairs:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port)); s.listen(4096); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
for ip, port in pairs:                       # ground truth really is open
    socket.create_connection((ip, port), timeout=2).close()
sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
print("ready", len(pairs), flush=True)
accepted = 0
while time.monotonic() < deadline:
    for key, _ in sel.select(timeout=1.0):
        if key.data == "stdin":
            if not sys.stdin.buffer.raw.read(64):
                print("accepted", accepted, flush=True); sys.exit(0)
            continue
        for _ in range(4096):                # connect scans complete handshakes: drain the queue
            try:
                c, _ = key.fileobj.accept()
            except BlockingIOError:
                break
            c.close(); accepted += 1
print("deadline", accepted, flush=True)
"""

KEEPALIVE = r"""
import select, socket, sys, time
deadline = time.monotonic() + float(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("ready", flush=True)
while time.monotonic() < deadline:
    try:
        s.sendto(b"k", ("127.0.0.1", 9))     # one datagram per 100 ms wakes masscan's receive thread
    except OSError:
        pass
    r, _, _ = select.select([sys.stdin], [], [], 0.1)
    if r and not sys.stdin.buffer.raw.read(64):
        break
"""


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# ---------------------------------------------------------------------------
# Network namespaces

class Namespace:
    """A private netns with only its own lo. Created here, deleted by delete()."""

    def __init__(self, name, procs, work, tweaked, max_seconds, loss=0.0):
        self.name, self.procs, self.work, self.tweaked = name, procs, work, tweaked
        self.loss = loss            # percent dropped by netem on lo, set by start_loss()
        self.max_seconds = max_seconds
        self.created = False
        self.helpers = []

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def sh(self, argv, timeout=30, check=True):
        return run_cmd(self.exec_argv(argv), timeout, check)

    def create(self):
        if self.name in run_cmd(["ip", "netns", "list"]).stdout.split():
            raise BenchError(f"network namespace {self.name} already exists; not touching it")
        run_cmd(["ip", "netns", "add", self.name])
        self.created = True
        self.sh(["ip", "link", "set", "lo", "up"])
        links = [l.split(":")[1].strip().split("@")[0] for l in self.sh(["ip", "-o", "link"]).stdout.splitlines()]
        if links != ["lo"]:
            raise BenchError(f"namespace {self.name} has interfaces {links}, expected only lo; refusing to scan")
        # Counters on lo ingress (every packet on lo passes it once): probes (SYN), SYN-ACKs, RST+ACKs
        # (the kernel's answer from a closed port) and bare RSTs (sent by the scanner: after a SYN-ACK;
        # masscan 1.3.2 also answers every RST+ACK with one).
        remark = ""
        if self.tweaked:
            # masscan sends to a fake router MAC: eth_type_trans marks the frames PACKET_OTHERHOST and
            # ip_rcv drops them; re-mark them as PACKET_HOST (scanner-anchors.md §4.1 #4).
            remark = "    meta pkttype other counter name remarked meta pkttype set host\n"
        rules = (f"table netdev {NFT_TABLE} {{\n"
                 "  counter syn {}\n  counter synack {}\n  counter rstack {}\n  counter rst {}\n"
                 "  counter remarked {}\n"
                 "  chain ingress {\n"
                 '    type filter hook ingress device "lo" priority 0; policy accept;\n'
                 "    tcp flags & (syn | ack) == syn counter name syn\n"
                 "    tcp flags & (syn | ack) == (syn | ack) counter name synack\n"
                 "    tcp flags & (rst | ack) == (rst | ack) counter name rstack\n"
                 "    tcp flags & (rst | ack) == rst counter name rst\n"
                 f"{remark}"
                 "  }\n}\n")
        path = os.path.join(self.work, f"{self.name}.nft")
        with open(path, "w") as f:
            f.write(rules)
        self.sh(["nft", "-f", path])
        if self.tweaked:
            # Injected frames carry no route: allow a 127/8 destination and a local source (§4.1 #5).
            self.sh(["sysctl", "-q", "-w", "net.ipv4.conf.lo.route_localnet=1", "net.ipv4.conf.lo.accept_local=1"])
            # libpcap's immediate-mode ring: ~1000 frames instead of ~32 (§1.4).
            self.sh(["ip", "link", "set", "lo", "mtu", "1500"])
            self.sh(["ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off"])

    def start_helper(self, name, script, args):
        out = os.path.join(self.work, f"{self.name}.{name}.log")
        with open(out, "ab") as f:
            p = self.procs.start(self.exec_argv([sys.executable, "-c", script] + args), f"{name}@{self.name}",
                                 stdout=f, stdin=subprocess.PIPE)
        self.helpers.append(p)

        def ready():
            if "ready" in read_text(out):
                return True
            if p.poll() is not None:
                raise BenchError(f"{name} in {self.name} exited: {read_text(out)[-500:]}")
            return False
        wait_for(f"{name} in {self.name} ready ({out})", ready, 30)
        return p

    def start_listeners(self, pairs):
        self.start_helper("listener", LISTENER, [json.dumps(pairs), str(self.max_seconds)])

    def start_loss(self):
        """Every packet leaving on lo (probe and reply alike) dropped with p = loss%: netem, or where the
        kernel has no netem (CONFIG_NET_SCH_NETEM off, as on this CI VM) an nft netdev egress rule with
        numgen random, which drops at the same place, before the packet taps: a dropped reply is never
        captured. After the listeners, whose start-up check connects to each of them. Returns which."""
        r = self.sh(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "loss", f"{self.loss:g}%"], check=False)
        if r.returncode == 0:
            self.loss_by = "netem"
            return self.loss_by
        per_million = int(round(self.loss * 10_000))
        rules = (f"table netdev {NFT_TABLE}_loss {{\n"
                 "  counter dropped {}\n"
                 "  chain egress {\n"
                 '    type filter hook egress device "lo" priority 0; policy accept;\n'
                 f"    numgen random mod 1000000 < {per_million} counter name dropped drop\n"
                 "  }\n}\n")
        path = os.path.join(self.work, f"{self.name}.loss.nft")
        with open(path, "w") as f:
            f.write(rules)
        self.sh(["nft", "-f", path])
        log(f"{self.name}: no netem ({first_line(r.stderr or r.stdout)}); {self.loss:g}% loss by nft egress")
        self.loss_by = "nft egress"
        return self.loss_by

    def loss_dropped(self):
        """Packets the nft loss rule dropped so far, or None (netem, or no loss)."""
        if getattr(self, "loss_by", None) != "nft egress":
            return None
        out = self.sh(["nft", "-j", "list", "counter", "netdev", f"{NFT_TABLE}_loss", "dropped"]).stdout
        for item in json.loads(out).get("nftables", []):
            c = item.get("counter")
            if c and c.get("name") == "dropped":
                return c.get("packets", 0)
        return None

    def start_keepalive(self):
        self.start_helper("keepalive", KEEPALIVE, [str(self.max_seconds)])

    def counters(self):
        out = self.sh(["nft", "-j", "list", "counters", "table", "netdev", NFT_TABLE]).stdout
        got = {}
        for item in json.loads(out).get("nftables", []):
            c = item.get("counter")
            if c and "name" in c:
                got[c["name"]] = c.get("packets", 0)
        return got

    def delete(self):
        for p in reversed(self.helpers):
            self.procs.stop(p, signal.SIGTERM, 5)
        self.helpers = []
        if self.created:
            # A process still inside would keep the netns alive after `ip netns del`; all ours are gone.
            r = run_cmd(["ip", "netns", "del", self.name], check=False)
            if r.returncode != 0:
                log(f"ip netns del {self.name}: {r.stderr.strip()}")
            else:
                self.created = False


# ---------------------------------------------------------------------------
# Ground truth

def make_ground_truth(target, inner, ports, n_pairs, seed):
    """n_pairs distinct (ip, port) in target x ports; ~1/5 inside inner; edge cases included."""
    rng = random.Random(seed)
    hosts_t, hosts_i = target.num_addresses, inner.num_addresses
    base_t, base_i = int(target.network_address), int(inner.network_address)
    pairs = set()
    # Edges: first address of the target, 127.0.0.1 (if inside), the last address; first/last port.
    edges = [(base_t, ports[0]), (base_t + hosts_t - 1, ports[-1]), (base_t + hosts_t - 1, ports[0])]
    if ipaddress.ip_address("127.0.0.1") in inner:
        edges += [(int(ipaddress.ip_address("127.0.0.1")), p) for p in (ports[0], ports[len(ports) // 2], ports[-1])]
    for e in edges:
        if len(pairs) < n_pairs:
            pairs.add(e)
    want_inner = max(len([p for p in pairs if base_i <= p[0] < base_i + hosts_i]), n_pairs // 5)
    guard = 0
    while len([p for p in pairs if base_i <= p[0] < base_i + hosts_i]) < want_inner and guard < 100000:
        pairs.add((base_i + rng.randrange(hosts_i), rng.choice(ports)))
        guard += 1
    # A few hosts with several open ports, the rest one port each, spread over the whole target.
    while len(pairs) < n_pairs and guard < 200000:
        ip = base_t + rng.randrange(hosts_t)
        for port in rng.sample(ports, rng.choice((1, 1, 1, 2, 3))):
            if len(pairs) < n_pairs:
                pairs.add((ip, port))
        guard += 1
    return sorted((str(ipaddress.ip_address(ip)), port) for ip, port in pairs)


# ---------------------------------------------------------------------------
# pcap: first/last timestamp and count of the SYNs tcpdump saw

def pcap_syn_window(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if len(data) < PCAP_FILE_HEADER:
        return None
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        return None
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    rec = struct.Struct(endian + "IIII")
    off, n, first, last = PCAP_FILE_HEADER, 0, None, None
    while off + PCAP_RECORD_HEADER <= len(data):
        sec, frac, caplen, _ = rec.unpack_from(data, off)
        off += PCAP_RECORD_HEADER + caplen
        if off > len(data):
            break
        t = sec + frac / (1e9 if nano else 1e6)
        first = t if first is None else first
        last = t
        n += 1
    if n < 2 or last <= first:
        return {"n": n, "seconds": None, "pps": None}
    return {"n": n, "seconds": last - first, "pps": (n - 1) / (last - first)}


# ---------------------------------------------------------------------------
# Tools

class Tool:
    """One row of the table: how to run it, where, and how to read its results."""

    def __init__(self, key, label, kind, ns, target, syn=True, retries=None):
        self.key, self.label, self.kind, self.ns, self.target, self.syn = key, label, kind, ns, target, syn
        self.retries = retries      # None: --retries
        self.unavailable = None     # reason, when the row cannot run


class Bench:
    def __init__(self, a, work):
        self.a = a
        self.work = work
        self.procs = Processes(detach=True)  # stopped by PID, reaped with their rusage
        self.namespaces = []
        self.run_no = 0
        self.results = {}           # tool key -> [run dict]

    # -- availability -------------------------------------------------------

    def picketd_status(self):
        """None if `picketd scan` exists (with the flags this bench uses), else the reason."""
        if not os.access(self.a.picketd, os.X_OK):
            return f"not available: no {self.a.picketd} (cmake --build --preset dev)"
        try:
            r = subprocess.run([self.a.picketd, "scan", "--help"], capture_output=True, text=True, timeout=20,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return "not available: `picketd scan --help` hung"
        text = r.stdout + r.stderr
        if r.returncode != 0 or "--targets" not in text:
            return f"not available: `picketd scan` ({first_line(text, 60) or 'exit ' + str(r.returncode)})"
        self.picketd_help = text
        return None

    # -- running one scan ---------------------------------------------------

    def argv(self, tool, out_path):
        a = self.a
        ports = ",".join(str(p) for p in a.port_list)
        target = str(tool.target)
        if tool.kind == "picketd":
            argv = [a.picketd, "scan", "--targets", target, "--ports", ports, "--rate", str(a.rate),
                    "--wait", f"{int(round(a.wait * 1000))}ms", "--format", "json"]
            if tool.syn:
                argv += ["--retries", str(a.retries if tool.retries is None else tool.retries)]
            else:
                argv += ["--connect"]
            return argv + a.picketd_arg
        if tool.kind == "masscan":
            # §4.4: --adapter lo (else it picks the default route's interface), fake MACs (lo's is zero
            # and a zero MAC counts as unset), whole seconds of --wait.
            return ["masscan", target, "-p" + ports, "--rate", str(a.rate), "--wait", str(max(0, int(-(-a.wait // 1)))),
                    "--retries", str(a.retries), "--adapter", "lo",
                    "--router-mac", FAKE_ROUTER_MAC, "--source-mac", FAKE_SOURCE_MAC,
                    "-oL", out_path] + a.masscan_arg
        if tool.kind == "nmap":
            return ["nmap", "-sS", "-n", "-Pn", "-T4", "--max-rate", str(a.rate), "-p", ports,
                    "-oX", out_path, target] + a.nmap_arg
        raise AssertionError(tool.kind)

    def timeout_for(self, tool):
        a = self.a
        retries = a.retries if tool.retries is None else tool.retries
        probes = tool.target.num_addresses * len(a.port_list) * (1 + retries) ** 2
        t = 30 + 3 * (probes / a.rate + a.wait + 2)
        if tool.kind == "nmap":
            t += 120
        return min(t, a.max_seconds / 2)

    def run_once(self, tool):
        self.run_no += 1
        tag = f"{self.run_no:03d}-{tool.key}"
        out_path = os.path.join(self.work, f"{tag}.out")
        err_path = os.path.join(self.work, f"{tag}.err")
        pcap_path = os.path.join(self.work, f"{tag}.pcap")
        argv = tool.ns.exec_argv(self.argv(tool, out_path))
        with open(os.path.join(self.work, f"{tag}.cmd"), "w") as f:
            f.write(" ".join(argv) + "\n")
        dump = None
        if self.a.wire_timing:
            dump_log = os.path.join(self.work, f"{tag}.tcpdump")
            with open(dump_log, "wb") as f:
                # Only probes (SYN without ACK), 64 bytes each, in the same namespace.
                dump = self.procs.start(tool.ns.exec_argv(
                    ["tcpdump", "-i", "lo", "-n", "-s", "64", "-B", "32768", "-U", "-w", pcap_path,
                     "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"]), "tcpdump", stdout=f)
            wait_for("tcpdump listening", lambda: "listening on" in read_text(dump_log) or dump.poll() is not None, 20)
            if dump.poll() is not None:
                raise BenchError(f"tcpdump exited: {read_text(dump_log)[-300:]}")
        c0 = tool.ns.counters()
        lost0 = tool.ns.loss_dropped()
        with open(out_path if tool.kind == "picketd" else os.devnull, "ab") as out, open(err_path, "wb") as err:
            t0 = time.monotonic()
            p = self.procs.start(argv, tool.label, stdout=out if tool.kind == "picketd" else err, stderr=err,
                                 cwd=self.work)
            got = self.procs.wait(p, self.timeout_for(tool))
            wall = time.monotonic() - t0
            timed_out = got is None
            if timed_out:
                log(f"{tool.label}: still running after {self.timeout_for(tool):.0f}s; stopping it")
                got = self.procs.stop(p, signal.SIGINT, 10)
        rc, ru = got
        c1 = tool.ns.counters()
        lost1 = tool.ns.loss_dropped()
        wire = None
        if dump is not None:
            time.sleep(0.2)   # let tcpdump flush what it has (-U: per packet) before it is stopped
            self.procs.stop(dump, signal.SIGINT, 10)
            wire = pcap_syn_window(pcap_path)
        delta = {k: c1.get(k, 0) - c0.get(k, 0) for k in c1}
        if lost0 is not None and lost1 is not None:
            delta["lost"] = lost1 - lost0     # dropped by the loss rule (probes and replies)
        r = {"wall": wall, "rc": rc, "timed_out": timed_out, "counters": delta,
             "cpu": (ru.ru_utime + ru.ru_stime) if ru else None, "rss_kib": ru.ru_maxrss if ru else None,
             "wire": wire, "found": set(), "pps": None, "note": ""}
        stderr_text = read_text(err_path)
        if tool.kind == "picketd":
            self.parse_picketd(read_text(out_path), stderr_text, r)
        elif tool.kind == "masscan":
            self.parse_masscan(out_path, stderr_text, r)
        else:
            self.parse_nmap(out_path, r)
        if rc != 0 or timed_out:
            r["note"] = ("timed out; " if timed_out else f"exit {rc}; ") + first_line(stderr_text, 70)
        elif tool.kind == "picketd" and tool.syn and r.get("tool_sent") is not None \
                and not (tool.ns.loss and "lost" not in delta) \
                and not (0 <= r["tool_sent"] - delta.get("syn", 0) <= delta.get("lost", 0)):
            # What picketd counts as sent should all reach lo (the SYN counter sees every probe once),
            # less what the loss rule dropped (the nft counter; netem's drops are not counted here).
            r["note"] = (r["note"] + "; " if r["note"] else "") + \
                f"picketd sent={r['tool_sent']:,} but {delta.get('syn', 0):,} SYNs on lo"
        self.score(tool, r)
        return r

    # -- result parsers -------------------------------------------------------

    @staticmethod
    def parse_picketd(stdout, stderr, r):
        for line in stdout.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                o = json.loads(line)
            except ValueError:
                r["note"] = "unparsable result line"
                continue
            if o.get("state", "open") == "open" and o.get("proto", "tcp") == "tcp" and "ip" in o and "port" in o:
                r["found"].add((str(o["ip"]), int(o["port"])))
        # Summary, the last stderr line: "picketd scan: done sent=N replies=N open=N pps=F seconds=F
        # seed=N capture_drops=N send_errors=N" ("stopped" instead of "done" when interrupted).
        summary = {}
        for line in stderr.splitlines()[::-1]:
            m = re.match(r"picketd scan: (done|stopped) (.*)", line.strip())
            if m:
                summary = {k: float(v) for k, v in re.findall(r"([a-z_]+)=([0-9][0-9.]*)", m.group(2))}
                summary["state"] = m.group(1)
                break
        r["summary"] = summary
        if not summary:
            r["note"] = "no summary line"
        r["pps"] = summary.get("pps")
        r["tool_sent"] = int(summary["sent"]) if "sent" in summary else None
        r["tool_seconds"] = summary.get("seconds")
        r["drops"] = int(summary["capture_drops"]) if "capture_drops" in summary else None
        r["send_errors"] = int(summary["send_errors"]) if "send_errors" in summary else None
        if r["drops"] or r["send_errors"]:
            r["note"] = f"capture_drops={r['drops']} send_errors={r['send_errors']}"

    @staticmethod
    def parse_masscan(out_path, stderr, r):
        for line in read_text(out_path).splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[0] == "open" and parts[1] == "tcp":
                r["found"].add((parts[3], int(parts[2])))
        # Status lines (\r-separated): "rate: 49.99-kpps, 61.23% done, 0:00:01 remaining, found=30".
        # The rate while probes are still going out; after 100% it decays toward 0 during --wait.
        rates = []
        for m in re.finditer(r"rate:\s*([0-9.]+)-kpps,\s*([0-9.]+)% done", stderr):
            rates.append((float(m.group(1)) * 1000, float(m.group(2))))
        sending = [x for x, done in rates if done < 100.0]
        if sending:
            r["pps"] = sending[-1]
        elif rates:
            r["pps"] = max(x for x, _ in rates)

    @staticmethod
    def parse_nmap(out_path, r):
        try:
            root = ET.parse(out_path).getroot()
        except (ET.ParseError, OSError) as e:
            r["note"] = f"no XML: {e}"
            return
        for host in root.iter("host"):
            addr = host.find("address[@addrtype='ipv4']")
            if addr is None:
                continue
            for port in host.iter("port"):
                state = port.find("state")
                if port.get("protocol") == "tcp" and state is not None and state.get("state") == "open":
                    r["found"].add((addr.get("addr"), int(port.get("portid"))))
        fin = root.find("runstats/finished")
        if fin is not None and fin.get("elapsed"):
            r["tool_seconds"] = float(fin.get("elapsed"))
            syn = r["counters"].get("syn", 0)
            if r["tool_seconds"] > 0 and syn:
                r["pps"] = syn / r["tool_seconds"]

    def score(self, tool, r):
        truth = {(ip, port) for ip, port in self.truth if ipaddress.ip_address(ip) in tool.target}
        r["truth"] = len(truth)
        r["hit"] = len(r["found"] & truth)
        r["false"] = sorted(r["found"] - truth)
        r["missed"] = sorted(truth - r["found"])

    # -- orchestration --------------------------------------------------------

    def setup(self, tools_need_plain, tools_need_loss=False):
        a = self.a
        pid = os.getpid()
        main_ns = Namespace(f"picket-bench-{pid}", self.procs, self.work, True, a.max_seconds)
        self.namespaces.append(main_ns)
        main_ns.create()
        main_ns.start_listeners(self.truth)
        main_ns.start_keepalive()
        self.ns = main_ns
        self.plain_ns = None
        if tools_need_plain:
            plain = Namespace(f"picket-bench-{pid}-plain", self.procs, self.work, False, a.max_seconds)
            self.namespaces.append(plain)
            plain.create()
            plain.start_listeners(self.truth)
            self.plain_ns = plain
        self.loss_ns = None
        if tools_need_loss:
            lossy = Namespace(f"picket-bench-{pid}-loss", self.procs, self.work, False, a.max_seconds, a.loss)
            self.namespaces.append(lossy)
            lossy.create()
            lossy.start_listeners(self.truth)
            lossy.start_loss()
            self.loss_ns = lossy

    def teardown(self):
        for ns in reversed(self.namespaces):
            ns.delete()
        self.namespaces = [ns for ns in self.namespaces if ns.created]


# ---------------------------------------------------------------------------
# Report

NOTES = """\
values: medians over the runs, (min–max) for wall and open found; each run is in a '# round' line above.
recall: ground-truth pairs found inside the row's target / (pairs x runs); false: opens outside the ground truth,
  summed over the runs. wall: spawn to exit, including start-up and --wait.
pps (tool): the scanner's own figure: picketd's summary; masscan's status line while sending, which counts every
  packet it sends (on loopback each closed port's RST+ACK gets a bare RST back from masscan 1.3.2, so about half
  are RSTs); nmap: SYNs on lo / its own elapsed time.
SYN pps (wire): (SYNs - 1) / (last SYN - first SYN) as seen by a tcpdump in the namespace, the same for every tool.
SYNs, RSTs out: nft counters on lo ingress: SYNs without ACK (probes with their retries; for connect rows the
  kernel's SYNs), bare RSTs (the scanner's). replies seen: replies the scanner counted / SYN-ACKs + RST+ACKs on lo
  (connect rows: / SYNs) (picketd: its summary's replies; masscan ~: its bare RSTs, one per reply it handled).
CPU s: user+sys of the scanner process (rusage); RSS: its peak."""

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, spec, dash="-"):
    return dash if v is None else format(v, spec)


def fmt_range(xs, spec):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    lo, hi = min(xs), max(xs)
    md = statistics.median_low(xs) if spec.endswith("d") else statistics.median(xs)
    if len(xs) == 1 or format(lo, spec) == format(hi, spec):
        return format(md, spec)
    return f"{format(md, spec)} ({format(lo, spec)}–{format(hi, spec)})"


def row_stats(runs):
    ok = [r for r in runs if not r["timed_out"]]
    return {
        "wall": median(r["wall"] for r in ok),
        "pps": median(r["pps"] for r in ok),
        "wire_pps": median((r["wire"] or {}).get("pps") for r in ok),
    }


def replies_seen(tool, runs):
    fracs = []
    for r in runs:
        wire = r["counters"].get("synack", 0) + r["counters"].get("rstack", 0)
        if not tool.syn:
            wire = r["counters"].get("syn", 0)   # its own aborts add RST+ACKs; on lo every SYN is answered
        if tool.kind == "picketd":
            seen = (r.get("summary") or {}).get("replies")
        elif tool.kind == "masscan":
            seen = r["counters"].get("rst")
        else:
            seen = None
        fracs.append(min(1.0, seen / wire) if seen is not None and wire else None)
    m = median(fracs)
    return "-" if m is None else ("~" if tool.kind == "masscan" else "") + f"{m:.1%}"


def print_table(bench, tools):
    a = bench.a
    print()
    print(f"targets: {a.target_net} x {len(a.port_list)} ports = "
          f"{a.target_net.num_addresses * len(a.port_list):,} probes; nmap row: {a.nmap_net} x "
          f"{len(a.port_list)} = {a.nmap_net.num_addresses * len(a.port_list):,}; rate {a.rate:,} pps, "
          f"retries {a.retries}, wait {a.wait:g} s; {a.runs} run(s) per row; ground truth "
          f"{len(bench.truth)} open pairs ({sum(1 for ip, _ in bench.truth if ipaddress.ip_address(ip) in a.nmap_net)}"
          f" in {a.nmap_net})")
    hdr = ["tool", "target", "wall s", "pps (tool)", "SYN pps (wire)", "SYNs", "RSTs out", "replies seen",
           "open found", "recall",
           "false", "CPU s", "RSS MiB"]
    rows = []
    for t in tools:
        runs = bench.results.get(t.key, [])
        if t.unavailable or not runs:
            rows.append([t.label, str(t.target), t.unavailable or "did not run"] + [""] * (len(hdr) - 3))
            continue
        truth = runs[0]["truth"]
        hits = [r["hit"] for r in runs]
        recall_all = sum(hits) / (truth * len(runs)) if truth else None
        rows.append([
            t.label, str(t.target),
            fmt_range([r["wall"] for r in runs], ".2f"),
            fmt(median(r["pps"] for r in runs), ",.0f"),
            fmt(median((r["wire"] or {}).get("pps") for r in runs), ",.0f"),
            fmt(median(r["counters"].get("syn") for r in runs), ",.0f"),
            fmt(median(r["counters"].get("rst") for r in runs), ",.0f"),
            replies_seen(t, runs),
            fmt_range([len(r["found"]) for r in runs], "d"),
            f"{fmt(recall_all, '.1%')} ({min(hits)}–{max(hits)}/{truth})" if min(hits) != max(hits)
            else f"{fmt(recall_all, '.1%')} ({hits[0]}/{truth})",
            str(sum(len(r["false"]) for r in runs)),
            fmt(median(r["cpu"] for r in runs), ".2f"),
            fmt(median(r["rss_kib"] / 1024 if r["rss_kib"] else None for r in runs), ".1f"),
        ])
    widths = [max(len(h), *(len(r[i]) for r in rows if len(r) > i and r[i])) if rows else len(h)
              for i, h in enumerate(hdr)]
    widths[2] = max(len(hdr[2]), *(len(r[2]) for r in rows if r[3] != ""), 6)

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            if i == 2 and len(cells) > 3 and cells[3] == "" and len(c) > widths[2]:
                out.append(c)      # an unavailable row: its reason spans the rest
                break
            out.append(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]))
        return "  ".join(out).rstrip()
    print(line(hdr))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    print(NOTES)

    def ratio(num_key, den_key, what):
        n, d = bench.results.get(num_key), bench.results.get(den_key)
        if not n or not d:
            return f"{what}: -"
        sn, sd = row_stats(n), row_stats(d)
        parts = []
        if sn["wall"] and sd["wall"]:
            parts.append(f"time {sn['wall'] / sd['wall']:.2f}x")
        if sn["wire_pps"] and sd["wire_pps"]:
            parts.append(f"SYN pps (wire) {sn['wire_pps'] / sd['wire_pps']:.2f}x")
        if sn["pps"] and sd["pps"]:
            parts.append(f"pps (tool) {sn['pps'] / sd['pps']:.2f}x")
        return f"{what}: " + (", ".join(parts) or "-")
    print()
    print("ratios (medians; time < 1 and pps > 1 favour picketd):")
    print("  " + ratio("picketd_syn", "masscan", f"picketd SYN / masscan ({a.target_net})"))
    print("  " + ratio("picketd_connect", "masscan", f"picketd connect / masscan ({a.target_net})"))
    print("  " + ratio("picketd_syn_plain", "masscan", f"picketd SYN in the plain ns / masscan ({a.target_net})"))
    print("  " + ratio("picketd_syn_loss", "masscan", f"picketd SYN with {a.loss:g}% loss / masscan without "
                                                       f"({a.target_net})"))
    print("  " + ratio("picketd_syn_small", "nmap", f"picketd SYN / nmap -sS ({a.nmap_net})"))

    gaps = []
    for t in tools:
        for i, r in enumerate(bench.results.get(t.key, []), 1):
            if r["missed"] or r["false"] or r["note"]:
                missed = ", ".join(f"{ip}:{p}" for ip, p in r["missed"][:6])
                more = f" +{len(r['missed']) - 6}" if len(r["missed"]) > 6 else ""
                false = ", ".join(f"{ip}:{p}" for ip, p in r["false"][:4])
                gaps.append(f"  {t.label} run {i}: " + "; ".join(x for x in (
                    f"missed {missed}{more}" if r["missed"] else "",
                    f"false {false}" if r["false"] else "",
                    r["note"]) if x))
    if gaps:
        print()
        print("recall gaps and errors:")
        for g in gaps:
            print(g)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--picketd", default=os.path.join(REPO, "build", "dev", "bin", "picketd"))
    ap.add_argument("--rate", type=int, default=50_000, help="probes per second for every tool (default 50000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per row (default 3)")
    ap.add_argument("--retries", type=int, default=0,
                    help="extra SYNs per probe for picketd and masscan (default 0: one probe each)")
    ap.add_argument("--wait", type=float, default=1.0, help="seconds to wait after the last probe (default 1)")
    ap.add_argument("--target", default="127.0.0.0/20", help="scan target, inside 127.0.0.0/8 (default 127.0.0.0/20)")
    ap.add_argument("--nmap-target", default="127.0.0.0/24",
                    help="nmap's smaller target, inside --target (default 127.0.0.0/24)")
    ap.add_argument("--ports", default=DEFAULT_PORTS, help=f"comma list (default {DEFAULT_PORTS})")
    ap.add_argument("--pairs", type=int, default=50, help="open (ip, port) pairs of the ground truth (default 50)")
    ap.add_argument("--seed", type=int, default=1, help="ground-truth seed (default 1)")
    ap.add_argument("--no-plain", action="store_true", help="skip the picketd row in the plain namespace")
    ap.add_argument("--loss", type=float, default=1.0,
                    help="percent of packets netem drops on lo in the lossy namespace (default 1; 0: no such row)")
    ap.add_argument("--loss-retries", type=int, default=2,
                    help="picketd's --retries in the lossy row (default 2)")
    ap.add_argument("--no-wire-timing", dest="wire_timing", action="store_false",
                    help="no tcpdump in the namespace (no 'SYN pps (wire)' column)")
    ap.add_argument("--only", default="", help="comma list of rows: picketd_syn, picketd_connect, masscan, nmap, "
                                               "picketd_syn_small, picketd_syn_plain, picketd_syn_loss (default all)")
    ap.add_argument("--picketd-arg", action="append", default=[], help="extra argument for picketd scan (repeatable)")
    ap.add_argument("--masscan-arg", action="append", default=[], help="extra argument for masscan (repeatable)")
    ap.add_argument("--nmap-arg", action="append", default=[], help="extra argument for nmap (repeatable)")
    ap.add_argument("--max-seconds", type=float, default=1800,
                    help="hard limit for the helper processes in the namespace (default 1800)")
    ap.add_argument("--workdir", default="/var/tmp", help="parent of the temporary work directory")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (commands, outputs, pcaps)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 run per row")
    ap.add_argument("--send-rate", type=int, default=2_000_000,
                    help="last phase, send_path_bench.py: both picketd send paths and masscan at this rate "
                         "on one core into a sink namespace (0 skips it)")
    a = ap.parse_args()
    if a.quick:
        a.runs = 1
    try:
        a.target_net = ipaddress.ip_network(a.target, strict=True)
        a.nmap_net = ipaddress.ip_network(a.nmap_target, strict=True)
        a.port_list = sorted({int(p) for p in a.ports.split(",") if p.strip()})
    except ValueError as e:
        ap.error(str(e))
    if a.target_net.version != 4 or not a.target_net.subnet_of(LOOPBACK_NET) or a.target_net.prefixlen < 16:
        ap.error("--target must be inside 127.0.0.0/8 and no bigger than a /16")
    if a.nmap_net.version != 4 or not a.nmap_net.subnet_of(a.target_net):
        ap.error("--nmap-target must be inside --target")
    if not a.port_list or not all(1 <= p <= 65535 for p in a.port_list) or len(a.port_list) > 1000:
        ap.error("--ports: 1..1000 ports in 1..65535")
    if not (1 <= a.rate <= 10_000_000 and 1 <= a.runs <= 50 and 0 <= a.retries <= 5 and 0 <= a.wait <= 30):
        ap.error("need 1 <= --rate <= 10000000, 1 <= --runs <= 50, 0 <= --retries <= 5, 0 <= --wait <= 30")
    space = a.target_net.num_addresses * len(a.port_list)
    if not (1 <= a.pairs <= min(space, 1000)):
        ap.error("--pairs: 1..min(1000, target x ports)")
    if not (0 <= a.loss <= 50 and 0 <= a.loss_retries <= 5):
        ap.error("need 0 <= --loss <= 50 and 0 <= --loss-retries <= 5")
    if not (60 <= a.max_seconds <= 24 * 3600):
        ap.error("--max-seconds: 60..86400")
    if os.geteuid() != 0:
        print("scan_bench: needs root (network namespaces, raw packets)")
        return 2
    missing_base = [b for b in ("ip", "nft", "ethtool") + (("tc",) if a.loss > 0 else ()) + (("tcpdump",) if a.wire_timing else ())
                    if not shutil.which(b)]
    if missing_base:
        print(f"scan_bench: missing {', '.join(missing_base)}: apt-get install iproute2 nftables ethtool tcpdump")
        return 2
    missing_peers = [b for b in ("masscan", "nmap") if not shutil.which(b)]
    if missing_peers:
        print(f"scan_bench: {' and '.join(missing_peers)} not installed; their rows are skipped. "
              f"Install with: apt-get install masscan nmap")

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)

    work = tempfile.mkdtemp(prefix="picket-scan-bench-", dir=a.workdir)
    os.chmod(work, 0o711)  # picketd's worker runs as security.user and must reach its buffer
    bench = Bench(a, work)
    bench.truth = [list(p) for p in make_ground_truth(a.target_net, a.nmap_net, a.port_list, a.pairs, a.seed)]
    for ip, _ in bench.truth:       # belt and braces: nothing outside 127/8, ever
        assert ipaddress.ip_address(ip) in LOOPBACK_NET
    ok = False
    try:
        picketd_missing = bench.picketd_status()
        if not picketd_missing:
            # A private copy: a rebuild during the bench must not swap the binary between runs.
            copy = os.path.join(work, "picketd")
            shutil.copy2(a.picketd, copy)
            a.picketd_source, a.picketd = a.picketd, copy
        print("scan_bench: picketd scan vs masscan and nmap -sS, loopback in a private network namespace")
        model = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        versions = []
        if not picketd_missing:
            v = run_cmd([a.picketd, "version"], check=False).stdout.splitlines()
            versions.append(f"{v[0] if v else 'picketd ?'} ({a.picketd_source}, "
                            f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(a.picketd_source)))})")
        else:
            versions.append(f"picketd scan {picketd_missing}")
        if shutil.which("masscan"):
            v = run_cmd(["masscan", "--version"], check=False).stdout
            m = re.search(r"Masscan version (\S+)", v)
            versions.append(f"masscan {m.group(1) if m else '?'}")
        if shutil.which("nmap"):
            v = run_cmd(["nmap", "--version"], check=False).stdout.split()
            versions.append(f"nmap {v[2] if len(v) > 2 else '?'}")
        print(f"machine: {os.cpu_count()} CPUs ({model}), Linux {os.uname().release}; loadavg {loadavg()}")
        print(f"tools:   {'; '.join(versions)}")
        print(f"work dir: {work}{' (kept)' if a.keep else ''}")

        only = {x.strip() for x in a.only.split(",") if x.strip()}
        want = lambda key: not only or key in only
        bench.setup(tools_need_plain=want("picketd_syn_plain") and not a.no_plain and not picketd_missing,
                    tools_need_loss=want("picketd_syn_loss") and a.loss > 0 and not picketd_missing)
        ns, plain, lossy = bench.ns, bench.plain_ns, bench.loss_ns
        tools = [
            Tool("picketd_syn", "picketd SYN", "picketd", ns, a.target_net),
            Tool("picketd_connect", "picketd connect", "picketd", ns, a.target_net, syn=False),
            Tool("masscan", "masscan", "masscan", ns, a.target_net),
            Tool("nmap", "nmap -sS", "nmap", ns, a.nmap_net),
            Tool("picketd_syn_small", "picketd SYN", "picketd", ns, a.nmap_net),
            Tool("picketd_syn_plain", "picketd SYN, plain ns", "picketd", plain, a.target_net),
            Tool("picketd_syn_loss", f"picketd SYN, {a.loss:g}% loss, retries {a.loss_retries}", "picketd", lossy,
                 a.target_net, retries=a.loss_retries),
        ]
        for t in tools:
            if not want(t.key):
                t.unavailable = "skipped (--only)"
            elif t.kind == "picketd" and picketd_missing:
                t.unavailable = picketd_missing
            elif t.kind in ("masscan", "nmap") and not shutil.which(t.kind):
                t.unavailable = "not installed (apt-get install masscan nmap)"
            elif t.key == "picketd_syn_plain" and (a.no_plain or plain is None):
                t.unavailable = "skipped (--no-plain)"
            elif t.key == "picketd_syn_loss" and lossy is None:
                t.unavailable = "skipped (--loss 0)"
        runnable = [t for t in tools if not t.unavailable]
        log(f"namespaces {', '.join(n.name for n in bench.namespaces)} ready; {len(bench.truth)} listeners in each; "
            f"rows: {', '.join(t.key for t in runnable) or 'none'}")
        for rnd in range(a.runs):
            order = runnable[rnd % len(runnable):] + runnable[:rnd % len(runnable)] if runnable else []
            for t in order:
                r = bench.run_once(t)
                bench.results.setdefault(t.key, []).append(r)
                wire = (r["wire"] or {}).get("pps")
                log(f"round {rnd + 1}/{a.runs} {t.label} {t.target}: {r['wall']:.2f} s, "
                    f"pps {fmt(r['pps'], ',.0f')} (wire {fmt(wire, ',.0f')}), SYNs {r['counters'].get('syn', 0):,}, "
                    f"SYN-ACKs {r['counters'].get('synack', 0):,}, RST+ACKs {r['counters'].get('rstack', 0):,}, "
                    f"bare RSTs {r['counters'].get('rst', 0):,}, "
                    + (f"dropped by the loss rule {r['counters']['lost']:,}, " if "lost" in r["counters"] else "") +
                    f"found {len(r['found'])}, recall {r['hit']}/{r['truth']}, false {len(r['false'])}"
                    + (f"; {r['note']}" if r["note"] else ""))
                time.sleep(0.3)   # let the previous scan's stragglers (RSTs, TIME_WAITs) settle
        print_table(bench, tools)
        print()
        print(f"masscan flags needed here: --adapter lo --router-mac {FAKE_ROUTER_MAC} "
              f"--source-mac {FAKE_SOURCE_MAC}, plus in the namespace: nft ingress 'meta pkttype other -> host', "
              "route_localnet=1 accept_local=1, lo mtu 1500, ethtool -K lo tso/gso/gro off, a 10/s UDP keep-alive.")
        print(f"nmap flags: -sS -n -Pn -T4 --max-rate {a.rate}. loadavg at the end: {loadavg()}")
        ok = True
    except (BenchError, WaitTimeout) as e:
        print(f"scan_bench: FAILED: {e}", flush=True)
    except KeyboardInterrupt as e:
        print(f"scan_bench: interrupted ({e or 'Ctrl-C'}); stopping every process", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)   # a second Ctrl-C must not cut the clean-up short
        bench.procs.stop_all(5)
        bench.teardown()
        left = [n.name for n in bench.namespaces if n.created]
        if left:
            print(f"scan_bench: could not delete namespace(s) {', '.join(left)}: ip netns del NAME", flush=True)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    if ok and a.send_rate > 0:
        # The send-path row: its own two namespaces (send_path_bench.py), after the above are gone.
        print(flush=True)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import send_path_bench
        # The original binary: the work dir with scan_bench's copy of it is gone by now.
        picketd = getattr(a, "picketd_source", a.picketd)
        ok = send_path_bench.main(["--picketd", picketd, "--rate", str(a.send_rate),
                                   "--runs", str(a.runs)]) == 0
    if ok:
        print("scan_bench: done")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
