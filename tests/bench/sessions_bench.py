#!/usr/bin/env python3
"""sessions_bench: picket's session analysis against ndpiReader and tshark, and the collector's lag.

A benchmark program, not a test (never registered with ctest). No root needed.
All traffic goes to 127.0.0.1; every loop is bounded in count and in seconds;
every process is stopped by its PID.

One run:
  1. The capture: at least --min-bytes (1 GiB) and about --min-flows (1.1 M)
     flows, built by make_flows_pcap.py from the real captures in --pcaps
     (../shared/pcaps): copies with addresses of their own, so every copy's
     flows are distinct. Cached at --cache (default under /tmp) with a .json
     beside it, rebuilt when the inputs or the flags change (or --rebuild).
     The file is read once before the runs, so every tool reads it from the
     page cache.
  2. On that same file, one after the other:
       picket sessions --read FILE          (labels on: nDPI; table to /dev/null)
       ndpiReader -i FILE                   (Debian libndpi-bin 4.2; without -v it
                                             prints only its summary, which gives
                                             its flow count)
       tshark -r FILE -q -z conv,tcp -z conv,udp   (bounded by --tshark-timeout)
     For each: wall time, CPU time, packets/s, flows/s (the tool's own flow
     count), peak RSS (ru_maxrss from wait4), and the ratios picket/peer.
     picket's RSS per open flow: (peak RSS - RSS of the same binary on a small
     capture) / the peak of open flows (from picket's stats line on stderr when
     it prints one; else estimated from a second, untimed --json run: each
     session open from first_ts until last_ts + 5 s of linger for fin/rst,
     last_ts + the idle timeout for idle, the end for end_of_data).
  3. The collector's analysis lag: a `picket collector` (tests/pylib/servers.py
     start_collector) receives one device's chunks (8 MiB, picketd's default
     chunk size, of 1500 B frames: TCP flows of --lag-flow-packets data frames
     that open and close inside the chunk) PUT at --lag-mbps (1 Gbps) for
     --lag-seconds. Analysis lag of chunk k: from its PUT's answer until the
     collector's analysis_state (sessions.db, read-only) says next_seq > k,
     i.e. its sessions and the open flows after it are committed. Prints
     p50/p99/max; goal < 10 s. Also when each chunk's sessions become visible:
     the last flow of chunk k has a source address of its own, polled with
     GET /v1/sessions?ip=...; this includes the analyser's 5 s TCP linger on
     packet time (packet time runs with the wall clock here).

usage: sessions_bench.py [--picket PATH] [--cache FILE] [--rebuild] [--tshark-timeout S]
                         [--lag-seconds S] [--skip-tools] [--skip-lag] [--quick]
The last line printed is `sessions_bench: done` when every phase ran.
"""
import argparse
import base64
import datetime
import hashlib
import http.client
import json
import os
import queue
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from servers import Processes, WaitTimeout, machine_line, start_collector  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LOOPBACK = "127.0.0.1"   # the only address this program ever sends to
DEVICE_ID = "bench-1"
CHUNK_BYTES = 8 << 20    # picketd's default capture.chunk_max_bytes
FRAME = 1500             # wire and captured length of the data frames in the lag phase


class BenchError(Exception):
    pass


def log(msg):
    print(f"# {msg}", flush=True)


def fmt_int(v):
    return "-" if v is None else f"{v:,.0f}"


def fmt_mib(kib):
    return "-" if kib is None else f"{kib / 1024:,.1f} MiB"


def ratio(x, y):
    return "-" if not x or not y else f"{x / y:.2f}x"


# ---------------------------------------------------------------------------
# 1. The capture

def ensure_capture(a):
    """The cached capture and what it holds; rebuilt when the inputs or flags changed."""
    meta_path = a.cache + ".json"
    gen = os.path.join(HERE, "make_flows_pcap.py")
    want = {"min_bytes": a.min_bytes, "min_flows": a.min_flows, "span": a.span,
            "sources": {n: os.path.getsize(os.path.join(a.pcaps, n))
                        for n in sorted(os.listdir(a.pcaps)) if n.endswith(".pcap")},
            "generator_sha256": hashlib.sha256(open(gen, "rb").read()).hexdigest()}
    try:
        meta = json.load(open(meta_path))
        fresh = (not a.rebuild and os.path.getsize(a.cache) == meta["bytes"]
                 and all(meta.get(k) == v for k, v in want.items()))
    except (OSError, ValueError, KeyError):
        fresh = False
    if fresh:
        log(f"capture: reusing {a.cache} ({meta['bytes']:,} B, {meta['packets']:,} packets)")
        return meta
    os.makedirs(os.path.dirname(os.path.abspath(a.cache)), exist_ok=True)
    log(f"capture: building {a.cache} from {a.pcaps} (make_flows_pcap.py) ...")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, gen, a.cache, "--pcaps", a.pcaps, "--min-bytes", str(a.min_bytes),
                        "--min-flows", str(a.min_flows), "--span", str(a.span), "--meta", meta_path],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise BenchError(f"make_flows_pcap.py failed:\n{r.stderr[-2000:]}")
    log(r.stdout.strip())
    meta = json.load(open(meta_path))
    meta.update(want)
    meta["build_s"] = time.monotonic() - t0
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def warm_page_cache(path):
    t0 = time.monotonic()
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass
    return time.monotonic() - t0


# ---------------------------------------------------------------------------
# 2. The tools on the same file

def run_tool(procs, name, argv, out_path, err_path, timeout):
    """Runs argv to completion (or SIGKILL after `timeout` s); returns wall, CPU, peak RSS, exit."""
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        p = procs.start(argv, name, stdout=out, stderr=err)
        got = procs.wait(p, timeout, 0.01)
        wall = time.monotonic() - t0
        cut = got is None
        if cut:
            got = procs.stop(p, signal.SIGKILL, 10)
    code, ru = got
    return {"wall": wall, "cut": cut, "exit": code,
            "cpu": (ru.ru_utime + ru.ru_stime) if ru else None,
            "rss_kib": ru.ru_maxrss if ru else None}


def tail(path, n=2000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


# Stats picket may print on stderr after a read: "... 1234 sessions ...", "peak_open_flows=N" or
# "peak open flows: N" (whichever spelling; absent -> "-").
SESSIONS_RE = re.compile(r"(\d[\d,]*)\s+sessions\b|\bsessions[\"=: ]+(\d[\d,]*)")
PEAK_RE = re.compile(r"peak[_ ]open[_ ]flows[\"=: ]+(\d[\d,]*)")
PACKETS_RE = re.compile(r"\bpackets[\"=: ]+(\d[\d,]*)|(\d[\d,]*)\s+packets\b")


def last_number(regex, text):
    found = None
    for m in regex.finditer(text):
        found = int(next(g for g in m.groups() if g).replace(",", ""))
    return found


def run_picket(procs, a, work, path, label):
    r = run_tool(procs, "picket", [a.picket, "sessions", "--read", path], os.devnull,
                 os.path.join(work, f"picket-{label}.err"), a.tool_timeout)
    err = tail(os.path.join(work, f"picket-{label}.err"), 20000)
    if r["exit"] != 0:
        raise BenchError(f"picket sessions --read {path} exited {r['exit']}:\n{err[-1500:]}")
    r["flows"] = last_number(SESSIONS_RE, err)
    r["peak_open"] = last_number(PEAK_RE, err)
    return r


IDLE_S = {6: 300, 17: 60, 1: 30, 58: 30}   # the analyser's default idle timeouts; others 60 s
TCP_LINGER_US = 5_000_000                    # a closed TCP session stays this long (packet time)


def rfc3339_us(text):
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1e6)


def sweep_open_flows(procs, a, work, path):
    """Peak of open flows on packet time, from `picket sessions --read --json` (a second, untimed
    run): a session is open from first_ts until last_ts + the 5 s linger (fin, rst), last_ts
    (reused), last_ts + the idle timeout (idle, resources), or the end of the file (end_of_data).
    Returns (sessions, peak)."""
    err = open(os.path.join(work, "picket-json.err"), "wb")
    p = procs.start([a.picket, "sessions", "--read", path, "--json"], "picket", stdout=subprocess.PIPE,
                    stderr=err)
    events, n = [], 0
    deadline = time.monotonic() + a.tool_timeout
    for line in p.stdout:
        if time.monotonic() > deadline:
            break
        s = json.loads(line)
        n += 1
        first, last = rfc3339_us(s["first_ts"]), rfc3339_us(s["last_ts"])
        reason = s.get("end_reason")
        if reason in ("fin", "rst"):
            end = last + TCP_LINGER_US
        elif reason == "reused":
            end = last
        elif reason == "end_of_data":
            end = float("inf")
        else:
            end = last + IDLE_S.get(s.get("proto"), 60) * 1_000_000
        events.append((first, 1))
        events.append((end, -1))
    procs.stop(p, signal.SIGTERM, 30)
    err.close()
    events.sort(key=lambda e: (e[0], e[1]))   # a close at the same instant counts first
    peak = cur = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    return n, peak


def run_ndpi(procs, a, work, path):
    out = os.path.join(work, "ndpiReader.out")
    r = run_tool(procs, "ndpiReader", [a.ndpireader, "-i", path], out, os.path.join(work, "ndpiReader.err"),
                 a.tool_timeout)
    text = tail(out, 200000)
    m = re.search(r"Unique flows:\s+(\d+)", text)
    r["flows"] = int(m.group(1)) if m else None
    m = re.search(r"nDPI throughput:\s+(.*)", text)
    r["note"] = f"own throughput line: {m.group(1).strip()}" if m else ""
    if r["exit"] != 0 and not r["cut"]:
        raise BenchError(f"ndpiReader exited {r['exit']}:\n{tail(os.path.join(work, 'ndpiReader.err'))}")
    return r


def run_tshark(procs, a, work, path):
    out = os.path.join(work, "tshark.out")
    r = run_tool(procs, "tshark", [a.tshark, "-r", path, "-q", "-z", "conv,tcp", "-z", "conv,udp"], out,
                 os.path.join(work, "tshark.err"), a.tshark_timeout)
    n = 0
    with open(out, "rb") as f:
        for line in f:
            if b"<->" in line:
                n += 1
    r["flows"] = n if not r["cut"] else None
    r["note"] = "TCP+UDP conversations only (no ICMP/SCTP)"
    if r["exit"] != 0 and not r["cut"]:
        raise BenchError(f"tshark exited {r['exit']}:\n{tail(os.path.join(work, 'tshark.err'))}")
    return r


def print_tools_table(a, meta, res, baseline):
    packets, nbytes = meta["packets"], meta["bytes"]
    print()
    print(f"== Offline analysis of one capture: {nbytes:,} B ({nbytes / 2**30:.2f} GiB), {packets:,} packets, "
          f"~{meta['flows_estimate']:,} flows (generator's estimate), from the page cache ==")
    tools = [t for t in ("picket", "ndpiReader", "tshark") if t in res]
    width = 24
    print(f"{'':<32}" + "".join(f"{t:>{width}}" for t in tools))

    def row(label, fn):
        print(f"{label:<32}" + "".join(f"{fn(res[t], t):>{width}}" for t in tools))

    def pps(r):
        return None if r["cut"] else packets / r["wall"]

    def fps(r):
        return None if r["cut"] or not r.get("flows") else r["flows"] / r["wall"]

    def cpps(r):
        return None if r["cut"] or not r["cpu"] else packets / r["cpu"]

    def cfps(r):
        return None if r["cut"] or not r["cpu"] or not r.get("flows") else r["flows"] / r["cpu"]

    row("wall s", lambda r, t: f"{r['wall']:.1f}" + (" (CUT)" if r["cut"] else ""))
    row("CPU s (user+sys)", lambda r, t: "-" if r["cpu"] is None else f"{r['cpu']:.1f}")
    row("packets/s", lambda r, t: fmt_int(pps(r)))
    row("packets per CPU s", lambda r, t: fmt_int(cpps(r)))
    row("flows (own count)", lambda r, t: fmt_int(r.get("flows")))
    row("flows/s", lambda r, t: fmt_int(fps(r)))
    row("flows per CPU s", lambda r, t: fmt_int(cfps(r)))
    row("peak RSS (ru_maxrss)", lambda r, t: fmt_mib(r["rss_kib"]))
    print()
    p = res["picket"]
    for peer in tools[1:]:
        q = res[peer]
        if q["cut"]:
            print(f"ratio picket/{peer}: {peer} was cut at --{peer}-timeout {q['wall']:.0f} s; "
                  f"packets/s >= {ratio(pps(p), packets / q['wall'])} (a lower bound)")
            continue
        print(f"ratio picket/{peer}: packets/s {ratio(pps(p), pps(q))} (per CPU s {ratio(cpps(p), cpps(q))}), "
              f"flows/s {ratio(fps(p), fps(q))} (per CPU s {ratio(cfps(p), cfps(q))}), "
              f"peak RSS {ratio(p['rss_kib'], q['rss_kib'])}")
    for t in tools:
        if res[t].get("note"):
            print(f"  {t}: {res[t]['note']}")
    print()
    if p.get("peak_open") and baseline:
        per = (p["rss_kib"] - baseline["rss_kib"]) * 1024 / p["peak_open"]
        how = " (estimated from the sessions' times and the idle timeouts)" if p.get("peak_open_estimated") else ""
        print(f"picket RSS per open flow: ({fmt_mib(p['rss_kib'])} peak - {fmt_mib(baseline['rss_kib'])} on a "
              f"small capture) / {p['peak_open']:,} peak open flows{how} = {per:,.0f} B per open flow")
    else:
        print(f"picket RSS per open flow: - (picket printed no peak-open-flows figure; peak RSS "
              f"{fmt_mib(p['rss_kib'])}, small-capture RSS {fmt_mib(baseline['rss_kib']) if baseline else '-'})")
    def goal(peer, factor):
        if peer not in res:
            return "not measured"
        q = res[peer]
        if q["cut"]:
            return "met (peer cut)" if pps(p) >= factor * packets / q["wall"] else "unknown (peer cut)"
        wall, cpu = pps(p) >= factor * pps(q), cpps(p) >= factor * cpps(q)
        return f"wall {'met' if wall else 'NOT met'}, per CPU s {'met' if cpu else 'NOT met'}"
    print(f"goals: packets/s >= ndpiReader's: {goal('ndpiReader', 1)}; >= 5x tshark's: {goal('tshark', 5)}")
    print(f"load: loadavg {open('/proc/loadavg').read().split()[0]} at the end (the machine is shared: "
          f"wall rates suffer from other processes, per-CPU-second rates much less)")
    if p.get("flows") is not None and p["flows"] < 1_000_000 and a.min_flows >= 1_000_000:
        print(f"note: picket counted {p['flows']:,} sessions, under the 1 million the bench asks for "
              f"(raise --min-flows)")


# ---------------------------------------------------------------------------
# 3. The collector's lag at 1 Gbps from one device

class ChunkMaker:
    """8 MiB pcap chunks of 1500 B frames: TCP flows (handshake, N data frames, FIN both ways)
    that start and end inside the chunk. Flow f of chunk seq comes from its own client address
    in 10.64.0.0/10; the chunk's last flow comes from marker_ip(seq). One template chunk is
    built once; each chunk is a copy with the client addresses, IPv4 checksums and times patched
    (fast enough for 1 Gbps from Python)."""

    def __init__(self, flow_packets, pps):
        self.gap_us = max(1, int(1e6 / pps))
        payload = os.urandom(FRAME - 54)
        server = bytes([10, 1, 0, 1])
        zero = bytes(4)
        frames = []   # (frame bytes, client address at, ip header at)

        def add(from_client, sport, dport, seqno, ack, flags, data=b""):
            src, dst = (zero, server) if from_client else (server, zero)
            frames.append((self.frame(src, dst, sport, dport, seqno, ack, flags, data),
                           14 + (12 if from_client else 16)))
        flow_frames = 6 + flow_packets
        flow_bytes = (6 * (16 + 60)) + flow_packets * (16 + FRAME)
        self.flows = max(2, (CHUNK_BYTES - 24) // flow_bytes)
        self.records = []  # (record at, client address at in the chunk, IPv4 checksum at, base sum, flow)
        out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for f in range(self.flows):
            sport = 1024 + f
            c, srv = 1000, 5000
            frames.clear()
            add(True, sport, 443, c, 0, 0x02)
            add(False, 443, sport, srv, c + 1, 0x12)
            add(True, sport, 443, c + 1, srv + 1, 0x10)
            c += 1
            for _ in range(flow_packets):
                add(True, sport, 443, c, srv + 1, 0x18, payload)
                c += len(payload)
            add(True, sport, 443, c, srv + 1, 0x11)
            add(False, 443, sport, srv + 1, c + 1, 0x11)
            add(True, sport, 443, c + 1, srv + 2, 0x10)
            assert len(frames) == flow_frames
            for fr, addr_at in frames:
                rec_at = len(out)
                out += struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr
                ip_at = rec_at + 16 + 14
                words = struct.unpack("!10H", bytes(out[ip_at:ip_at + 20]))
                base = sum(words[:5]) + sum(words[6:])   # without the checksum; client address 0
                self.records.append((rec_at, rec_at + 16 + addr_at, ip_at + 10, base, f))
        self.template = bytes(out)

    @staticmethod
    def frame(src, dst, sport, dport, seqno, ack, flags, payload):
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seqno, ack, 5 << 4, flags, 65535, 0, 0)
        data = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp + payload
        return data + b"\0" * max(0, 60 - len(data))

    @staticmethod
    def marker_ip(seq):
        return f"10.{128 + (seq >> 16) % 64}.{(seq >> 8) & 255}.{seq & 255}"

    def client(self, seq, f):
        if f == self.flows - 1:
            return bytes(int(x) for x in self.marker_ip(seq).split("."))
        n = (seq * self.flows + f) % (1 << 22)
        return bytes([10, 64 + (n >> 16), (n >> 8) & 255, n & 255])

    def build(self, seq, start_us):
        buf = bytearray(self.template)
        clients = [self.client(seq, f) for f in range(self.flows)]
        sums = [(c[0] << 8 | c[1]) + (c[2] << 8 | c[3]) for c in clients]
        pack_ts, pack_addr, pack_ck = struct.Struct("<II").pack_into, struct.Struct("4s").pack_into, \
            struct.Struct("!H").pack_into
        ts = start_us
        for rec_at, addr_at, ck_at, base, f in self.records:
            pack_ts(buf, rec_at, ts // 1_000_000, ts % 1_000_000)
            pack_addr(buf, addr_at, clients[f])
            x = base + sums[f]
            x = (x & 0xFFFF) + (x >> 16)
            x = (x & 0xFFFF) + (x >> 16)
            pack_ck(buf, ck_at, (~x) & 0xFFFF)
            ts += self.gap_us
        return bytes(buf), len(self.records), start_us, ts - self.gap_us


def request(conn_box, base, method, path, body=None, headers=None, timeout=30):
    """One request on a kept-alive connection (reopened once on failure): (status, body)."""
    host = base.split("//", 1)[1].rstrip("/")
    for attempt in (0, 1):
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection(host, timeout=timeout)
        try:
            conn_box[0].request(method, path, body=body, headers=headers or {})
            r = conn_box[0].getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException):
            conn_box[0].close()
            conn_box[0] = None
            if attempt:
                raise
    raise AssertionError("unreachable")


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))] if s else None


def proc_cpu_s(pid):
    """utime + stime of a process (all threads), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def analysed_next_seq(db_path):
    """The device's next seq to analyse from the collector's sessions.db (read-only), or None."""
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=2)
        try:
            row = db.execute("SELECT next_seq FROM analysis_state WHERE device = ?", (DEVICE_ID,)).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def lag_phase(a, procs, work):
    rate = a.lag_mbps * 1e6 / 8                  # bytes/s of pcap
    maker = ChunkMaker(a.lag_flow_packets, rate / FRAME)
    url = start_collector(procs, a.picket, work, *a.collector_arg)
    collector_pid = procs.procs[-1].pid
    cpu0 = proc_cpu_s(collector_pid)
    sessions_db = os.path.join(work, "collector", "sessions.db")
    log(f"lag: collector at {url}; {a.lag_seconds:.0f} s at {a.lag_mbps:.0f} Mbit/s of {FRAME} B frames, "
        f"{CHUNK_BYTES >> 20} MiB chunks, {maker.flows} TCP flows per chunk")
    put_conn, get_conn = [None], [None]
    done_at = {}       # seq -> monotonic time its PUT was answered
    analysed_at = {}   # seq -> first time analysis_state.next_seq was past it
    seen_at = {}       # seq -> first time its marker session was returned by GET /v1/sessions
    last_ts = {}       # seq -> packet time (µs) of the chunk's last packet
    stop = threading.Event()
    errors = []

    def poll():
        nxt_seen = 1
        deadline_after_stop = None
        while True:
            uploaded = max(done_at, default=0)
            if stop.is_set():
                deadline_after_stop = deadline_after_stop or time.monotonic() + a.lag_drain
                if len(analysed_at) >= uploaded or time.monotonic() > deadline_after_stop:
                    return
            now = time.monotonic()
            nxt = analysed_next_seq(sessions_db)
            for seq in range(1, min(nxt or 1, uploaded + 1)):
                analysed_at.setdefault(seq, now)
            # Session visibility, for a chunk whose closing flows could have ended by now: the
            # analyser keeps a closed TCP session 5 s of packet time (linger) before it emits it.
            if nxt_seen in done_at and nxt_seen in analysed_at:
                try:
                    status, body = request(get_conn, url, "GET",
                                           f"/v1/sessions?device={DEVICE_ID}&ip={maker.marker_ip(nxt_seen)}&limit=1")
                except OSError as e:
                    errors.append(f"GET /v1/sessions: {e}")
                    return
                if status != 200:
                    errors.append(f"GET /v1/sessions: HTTP {status}: {body[:200]!r}")
                    return
                if maker.marker_ip(nxt_seen).encode() in body:
                    seen_at[nxt_seen] = time.monotonic()
                    nxt_seen += 1
                    continue
            time.sleep(0.02)  # polling the collector's state with a deadline

    # Two uploaders on kept-alive connections, as picketd uploads with two threads; the
    # producer paces chunks to the offered rate and blocks when both are busy.
    chunks = queue.Queue(maxsize=2)
    put_s = []
    make_s = []   # building and hashing each chunk here (the client's own limit)

    def upload():
        conn = [None]
        while True:
            item = chunks.get()
            if item is None:
                return
            seq, body, headers = item
            p0 = time.monotonic()
            try:
                status, answer = request(conn, url, "PUT", f"/v1/devices/{DEVICE_ID}/chunks/{seq}", body, headers)
            except OSError as e:
                errors.append(f"PUT chunk {seq}: {e}")
                continue
            if status not in (200, 201):
                errors.append(f"PUT chunk {seq}: HTTP {status}: {answer[:300]!r}")
                continue
            done_at[seq] = time.monotonic()
            put_s.append(done_at[seq] - p0)

    uploaders = [threading.Thread(target=upload, daemon=True) for _ in range(2)]
    for t in uploaders:
        t.start()
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    t0 = time.monotonic()
    wall0_us = int(time.time() * 1e6)
    seq = 0
    sent = 0
    behind = 0.0
    max_chunks = int(a.lag_seconds * rate / CHUNK_BYTES) + 1
    try:
        while seq < max_chunks and time.monotonic() - t0 < a.lag_seconds + 30 and not errors:
            seq += 1
            due = t0 + (seq - 1) * CHUNK_BYTES / rate
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)   # pacing to the offered rate
            else:
                behind = max(behind, now - due)
            b0 = time.monotonic()
            body, packets, first, last = maker.build(seq, wall0_us + int((due - t0) * 1e6))
            last_ts[seq] = last
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            make_s.append(time.monotonic() - b0)
            headers = {"Content-Type": "application/vnd.tcpdump.pcap", "Digest": f"sha-256={digest}",
                       "X-Picket-Packets": str(packets), "X-Picket-First-Ts-Us": str(first),
                       "X-Picket-Last-Ts-Us": str(last), "X-Picket-Interface": "bench"}
            chunks.put((seq, body, headers), timeout=60)
            sent += len(body)
    finally:
        for _ in uploaders:
            chunks.put(None, timeout=120)
        for t in uploaders:
            t.join(120)
        upload_s = time.monotonic() - t0
        stop.set()
        poller.join(a.lag_drain + 30)
    collector_cpu = (proc_cpu_s(collector_pid) or 0) - (cpu0 or 0)
    end_ts = max(last_ts.values(), default=0)
    # Chunks whose marker session can be out: at least the linger of packet time came after them.
    visible_possible = [s for s in done_at if last_ts[s] + 5_000_000 < end_ts]
    return {"url": url, "chunks": seq, "collector_cpu": collector_cpu,
            "make_mean": sum(make_s) / len(make_s) if make_s else 0, "bytes": sent, "upload_s": upload_s, "behind": behind,
            "put_p99": percentile(put_s, 99), "flows_per_chunk": maker.flows, "errors": errors,
            "analysis_lags": [analysed_at[s] - done_at[s] for s in sorted(analysed_at) if s in done_at],
            "not_analysed": [s for s in done_at if s not in analysed_at],
            "session_lags": [seen_at[s] - done_at[s] for s in sorted(seen_at)],
            "visible_possible": len(visible_possible),
            "not_seen": [s for s in visible_possible if s not in seen_at],
            "after_end": (max(analysed_at.values()) - max(done_at.values())) if analysed_at and done_at else None}


def lag_summary(lags):
    if not lags:
        return "-"
    return f"{percentile(lags, 50):.2f} s / {percentile(lags, 99):.2f} s / {max(lags):.2f} s"


def print_lag(a, r):
    print()
    print(f"== Collector analysis lag: one device PUTs {CHUNK_BYTES >> 20} MiB chunks of {FRAME} B frames "
          f"at {a.lag_mbps:.0f} Mbit/s for {a.lag_seconds:.0f} s (127.0.0.1) ==")
    achieved = r["bytes"] * 8 / r["upload_s"] / 1e6 if r["upload_s"] else 0
    rows = [
        ("chunks uploaded", f"{r['chunks']:,} ({r['bytes']:,} B, {r['flows_per_chunk']} TCP flows each)"),
        ("achieved upload rate", f"{achieved:,.0f} Mbit/s (uploader at most {r['behind']:.2f} s behind "
                                 f"schedule; PUT p99 {r['put_p99'] or 0:.3f} s; making a chunk here "
                                 f"{r['make_mean'] * 1000:.0f} ms on average)"),
        ("collector CPU s (ingest + analysis)", f"{r['collector_cpu']:.1f} s in {r['upload_s']:.1f} s "
                                                f"({r['collector_cpu'] / max(1e-9, r['upload_s']):.2f} cores)"),
        ("analysis lag p50 / p99 / max", lag_summary(r["analysis_lags"]) +
         f"  ({len(r['analysis_lags'])} chunks; PUT answered -> analysis_state.next_seq past it)"),
        ("last upload -> last chunk analysed", "-" if r["after_end"] is None else f"{r['after_end']:.2f} s"),
        ("session visible p50 / p99 / max", lag_summary(r["session_lags"]) +
         f"  ({len(r['session_lags'])} of {r['visible_possible']} chunks; PUT answered -> the chunk's last "
         f"flow in GET /v1/sessions; includes the analyser's 5 s TCP linger on packet time)"),
    ]
    for k, v in rows:
        print(f"{k:<36} {v}")
    if r["not_analysed"]:
        print(f"NOT analysed within --lag-drain {a.lag_drain:.0f} s after the upload ended: "
              f"{len(r['not_analysed'])} chunks (first {min(r['not_analysed'])}): their lag is > {a.lag_drain:.0f} s")
    if r["not_seen"]:
        print(f"sessions not seen: {len(r['not_seen'])} chunks (first {min(r['not_seen'])})")
    for e in r["errors"]:
        print(f"error: {e}")
    lags = r["analysis_lags"]
    ok = lags and not r["not_analysed"] and max(lags) < 10
    at_rate = achieved >= 0.95 * a.lag_mbps
    print(f"goal: analysis lag < 10 s at {a.lag_mbps / 1000:.2f} Gbps from one device: "
          + (("met" if ok else "NOT met") if at_rate else
             f"not shown: the uploads reached only {achieved:,.0f} Mbit/s on this machine (the PUTs were the "
             f"limit); at that rate the lag goal was {'met' if ok else 'NOT met'}"))


# ---------------------------------------------------------------------------

def machine_header(a):
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    ver = {}
    for name, argv in (("picket", [a.picket, "version"]), ("ndpiReader", [a.ndpireader, "-h"]),
                       ("tshark", [a.tshark, "--version"])):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        line = next((l for l in out.splitlines() if l.strip()), "?")
        ver[name] = line.strip()
    print(f"machine: {machine_line()}; "
          f"loadavg {load} at start")
    print(f"tools:   {ver['picket']}; {ver['ndpiReader']}; {ver['tshark']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--picket", default=os.path.join(REPO, "build", "dev", "bin", "picket"))
    ap.add_argument("--ndpireader", default=shutil.which("ndpiReader") or "/usr/bin/ndpiReader")
    ap.add_argument("--tshark", default=shutil.which("tshark") or "/usr/bin/tshark")
    ap.add_argument("--pcaps", default=os.path.normpath(os.path.join(REPO, "..", "shared", "pcaps")))
    ap.add_argument("--cache", default="/tmp/picket-sessions-bench/flows.pcap",
                    help="where the built capture is kept between runs (default %(default)s)")
    ap.add_argument("--rebuild", action="store_true", help="build the capture even if the cache is fresh")
    ap.add_argument("--min-bytes", type=int, default=1 << 30)
    ap.add_argument("--min-flows", type=int, default=1_100_000)
    ap.add_argument("--span", type=float, default=900, help="packet-time seconds the copies start in")
    ap.add_argument("--tool-timeout", type=float, default=1200, help="bound on picket's and ndpiReader's runs")
    ap.add_argument("--tshark-timeout", type=float, default=900,
                    help="bound on tshark's run (SIGKILL after it; the table says CUT)")
    ap.add_argument("--skip-tshark", action="store_true")
    ap.add_argument("--skip-tools", action="store_true", help="only the collector lag phase")
    ap.add_argument("--skip-lag", action="store_true", help="only the offline tools")
    ap.add_argument("--lag-seconds", type=float, default=40)
    ap.add_argument("--lag-mbps", type=float, default=1000)
    ap.add_argument("--lag-flow-packets", type=int, default=100, help="1500 B data frames per TCP flow")
    ap.add_argument("--lag-drain", type=float, default=60,
                    help="after the upload, wait at most this long for the last chunks' sessions")
    ap.add_argument("--collector-arg", action="append", default=[],
                    help="extra argument for `picket collector` (repeatable)")
    ap.add_argument("--workdir", default="/tmp", help="parent of the temporary work directory")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 32 MiB / 30k flows capture (own cache file), 8 s of lag")
    a = ap.parse_args()
    if a.quick:
        a.min_bytes, a.min_flows = 32 << 20, 30_000
        a.cache = a.cache.replace(".pcap", "-quick.pcap")
        a.lag_seconds = min(a.lag_seconds, 8)
        a.span = 60
    if not (0 < a.lag_seconds <= 600) or not (0 < a.lag_mbps <= 20000) or a.lag_flow_packets < 1:
        ap.error("need 0 < --lag-seconds <= 600, 0 < --lag-mbps <= 20000, --lag-flow-packets >= 1")
    if not os.access(a.picket, os.X_OK):
        print(f"sessions_bench: picket not found at {a.picket} (cmake --build --preset dev --target picket)")
        return 2
    for tool in ("ndpireader", "tshark"):
        if not a.skip_tools and not os.access(getattr(a, tool), os.X_OK):
            print(f"sessions_bench: {tool} not found (apt-get install libndpi-bin tshark)")
            return 2
    if not a.skip_tools and not os.path.isdir(a.pcaps):
        print(f"sessions_bench: no captures at {a.pcaps} (--pcaps)")
        return 2

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)

    work = tempfile.mkdtemp(prefix="picket-sessions-bench-", dir=a.workdir)
    # a private copy: a rebuild of the build tree cannot swap the binary mid-run
    shutil.copy2(a.picket, os.path.join(work, "picket"))
    a.picket = os.path.join(work, "picket")
    procs = Processes(log_path=os.path.join(work, "processes.log"), detach=True)
    ok = False
    try:
        print("sessions_bench: picket sessions --read vs ndpiReader and tshark; the collector's analysis lag")
        machine_header(a)
        print(f"work dir: {work}{' (kept)' if a.keep else ''}")
        if not a.skip_tools:
            meta = ensure_capture(a)
            log(f"page cache: read the capture in {warm_page_cache(a.cache):.1f} s")
            small = os.path.join(a.pcaps, "arkime-imap.pcap")
            log("picket on a small capture (baseline RSS) ...")
            baseline = run_picket(procs, a, work, small, "small")
            res = {}
            log("picket sessions --read ...")
            res["picket"] = run_picket(procs, a, work, a.cache, "big")
            if res["picket"]["peak_open"] is None:
                log("picket sessions --read --json (untimed) for the peak of open flows ...")
                n, res["picket"]["peak_open"] = sweep_open_flows(procs, a, work, a.cache)
                res["picket"]["peak_open_estimated"] = True
                if res["picket"]["flows"] is None:
                    res["picket"]["flows"] = n
            log("ndpiReader -i ...")
            res["ndpiReader"] = run_ndpi(procs, a, work, a.cache)
            if not a.skip_tshark:
                log(f"tshark -q -z conv,tcp -z conv,udp (at most {a.tshark_timeout:.0f} s) ...")
                res["tshark"] = run_tshark(procs, a, work, a.cache)
            print_tools_table(a, meta, res, baseline)
        if not a.skip_lag:
            # The collector stands in for a remote machine: its data on a tmpfs, so its fsyncs
            # do not wait for this machine's one shared disk (as capture_bench does).
            lag_parent = "/dev/shm" if os.access("/dev/shm", os.W_OK) else work
            lag_work = tempfile.mkdtemp(prefix="picket-sessions-lag-", dir=lag_parent)
            try:
                print_lag(a, lag_phase(a, procs, lag_work))
            finally:
                procs.stop_all(15)
                shutil.rmtree(lag_work, ignore_errors=True)
        ok = True
    except (BenchError, WaitTimeout, OSError, subprocess.SubprocessError) as e:
        print(f"sessions_bench: FAILED: {e}", flush=True)
    except KeyboardInterrupt as e:
        print(f"sessions_bench: interrupted ({e or 'Ctrl-C'}); stopping every process", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        procs.stop_all(15)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    if ok:
        print("sessions_bench: done")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
