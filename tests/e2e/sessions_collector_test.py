#!/usr/bin/env python3
"""Session analysis at the collector (issue 12, acceptance 3 and 4), on loopback:

split  every classic pcap of ../shared/pcaps is cut into chunks at random packet
       boundaries (each a valid pcap with the file's header), PUT as a device the way
       picketd's uploader does (Digest, X-Picket-* headers), in shuffled order, then a
       last empty chunk with X-Picket-Gap-Before-Ms that ends the open sessions. The
       device's sessions (GET /v1/sessions via `picket sessions --json`) must equal
       `picket sessions --read FILE --json` on the whole file, field for field except
       device/id/packets, with the file's end_of_data showing as gap. For every TCP/UDP
       5-tuple that is one session, GET /v1/sessions/{id}/pcap must hold exactly the
       packets (bytes and timestamps) `tcpdump -r FILE -w -` with that 5-tuple's filter
       gives.
kill   a long upload (the shared captures repeated with shifted times, cut into a few
       thousand chunks) is stored with analysis off; then the collector analyses it and
       is killed with SIGKILL --rounds times while it does (restarted on the same data
       dir each time). Its final sessions must equal those of an uninterrupted run on a
       copy of the same data (all fields but id): no loss, no double count.

usage: sessions_collector_test.py PICKETD PICKET [--pcaps DIR] [--rounds 10] [--chunks N]
Skips (77) when the captures are missing, unless CI=true. Prints figures and a final
"N passed, M failed" line. PICKET_KEEP_TEST_DIR=1 keeps the work directory."""
import argparse, base64, hashlib, http.client, json, os, random, shutil, signal, sqlite3
import struct, subprocess, sys, tempfile, threading, time, traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from servers import Processes, WaitTimeout, skip_code, start_collector, wait_for  # noqa: E402
from e2e_support import pcap_packets  # noqa: E402

IGNORED = {"device", "id", "packets"}
KEEP = ("--session-retention", "0")  # the captures are years old: retention would delete them
TOOL_TIMEOUT = 120


def check(cond, message):
    if not cond:
        raise AssertionError(message)


# --- classic pcap ---------------------------------------------------------------------------

def read_pcap(path):
    """(header bytes, endian, [(record header, data)]) of a classic pcap; None for pcapng."""
    data = open(path, "rb").read()
    if len(data) < 24:
        return None
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        return None
    records, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        if off + 16 + caplen > len(data):
            break
        records.append((data[off:off + 16], data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return data[:24], endian, records


def split_points(n, parts, rng):
    cuts = sorted(rng.sample(range(1, n), min(parts - 1, n - 1))) if n > 1 else []
    return [0] + cuts + [n]


# --- the device side: PUT like picketd's uploader -------------------------------------------

class Uploader:
    def __init__(self, base_url):
        host, port = base_url.split("//", 1)[1].rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.local = threading.local()

    def put(self, device, seq, body, packets, gap_ms=0):
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        headers = {"Content-Type": "application/vnd.tcpdump.pcap", "Digest": f"sha-256={digest}",
                   "X-Picket-Packets": str(packets), "X-Picket-Gap-Before-Ms": str(gap_ms)}
        for attempt in range(5):  # bounded: a fresh connection after a reset
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                conn.request("PUT", f"/v1/devices/{device}/chunks/{seq}", body=body, headers=headers)
                r = conn.getresponse()
                answer = r.read()
                check(r.status in (200, 201), f"PUT {device}/{seq}: {r.status} {answer[:200]}")
                return
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt == 4:
                    raise


def upload_all(uploader, items, threads=4):
    """items: [(device, seq, body, packets, gap_ms)], sent by `threads` workers in list order,
    so neighbouring seqs race each other like picketd's parallel uploads."""
    errors, lock, it = [], threading.Lock(), iter(items)

    def work():
        while True:
            with lock:
                item = next(it, None)
            if item is None or errors:
                return
            try:
                uploader.put(*item)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{item[0]}/{item[1]}: {e}")
    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=600)
    check(not errors, "uploads failed: " + "; ".join(errors[:3]))


def chunk_items(device, path, parts, rng):
    header, _, records = read_pcap(path)
    cuts = split_points(len(records), parts, rng)
    items = []
    for i in range(len(cuts) - 1):
        recs = records[cuts[i]:cuts[i + 1]]
        items.append((device, i + 1, header + b"".join(h + d for h, d in recs), len(recs), 0))
    return items, header


# --- reading sessions -----------------------------------------------------------------------

def run_json_lines(argv):
    out = subprocess.run(argv, capture_output=True, timeout=TOOL_TIMEOUT)
    check(out.returncode == 0, f"{' '.join(argv)}: exit {out.returncode}: {out.stderr.decode()[:300]}")
    return [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]


def offline_sessions(picket, path):
    return run_json_lines([picket, "sessions", "--read", path, "--json"])


def collector_sessions(picket, url, device):
    return run_json_lines([picket, "sessions", "--collector", url, "--device", device,
                           "--limit", "100000000", "--json"])


def comparable(session, end_of_data_as_gap=False):
    s = {k: v for k, v in session.items() if k not in IGNORED}
    if end_of_data_as_gap and s.get("end_reason") == "end_of_data":
        s["end_reason"] = "gap"
    return json.dumps(s, sort_keys=True)


def diff_sessions(expected, got, what):
    e, g = sorted(expected), sorted(got)
    if e == g:
        return []
    only_e = [x for x in e if x not in set(g)][:2]
    only_g = [x for x in g if x not in set(e)][:2]
    return [f"{what}: {len(e)} expected vs {len(g)} sessions; expected only: {only_e}; got only: {only_g}"]


def analysis_progress(data_dir, device):
    try:
        db = sqlite3.connect(f"file:{data_dir}/sessions.db?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute("SELECT next_seq FROM analysis_state WHERE device=?", (device,)).fetchone()
        finally:
            db.close()
        return row[0] if row else 0
    except sqlite3.Error:
        return 0


# --- split ----------------------------------------------------------------------------------

def bpf_filter(s, ethernet):
    a, b = s["src_ip"], s["dst_ip"]
    proto = {6: "tcp", 17: "udp"}[s["proto"]]
    one = (f"{proto} and ((src host {a} and src port {s['src_port']} and dst host {b} and dst port "
           f"{s['dst_port']}) or (src host {b} and src port {s['dst_port']} and dst host {a} and "
           f"dst port {s['src_port']}))")
    return f"({one}) or (vlan and ({one}))" if ethernet else one


def case_split(args, procs, work, picket, rng, figures):
    url = start_collector(procs, picket, work, *KEEP, "--session-gap-wait", "60s")
    data_dir = os.path.join(work, "collector")
    uploader = Uploader(url)
    names = sorted(n for n in os.listdir(args.pcaps) if n.endswith(".pcap"))
    failures, files, items, ends = [], [], [], []
    for name in names:
        path = os.path.join(args.pcaps, name)
        parsed = read_pcap(path)
        if parsed is None or not parsed[2]:
            print(f"  {name}: not a classic pcap with packets; left out")
            continue
        device = "f-" + name[:-5].replace("_", "-")[:60]
        its, header = chunk_items(device, path, rng.randint(2, 7), rng)
        items += its
        ends.append((device, len(its) + 1, header, 0 + 0, 1000))
        files.append((name, path, device, len(its) + 1, struct.unpack(parsed[1] + "I", header[20:24])[0] == 1))
    order = list(items)
    rng.shuffle(order)
    t0 = time.monotonic()
    upload_all(uploader, order)
    upload_all(uploader, [(d, seq, header, 0, gap) for d, seq, header, _, gap in ends])
    for name, path, device, last, _ in files:
        wait_for(f"analysis of {device}", lambda: analysis_progress(data_dir, device) > last, timeout=120)
    figures.append(f"split: {len(files)} captures in {len(items)} chunks analysed in "
                   f"{time.monotonic() - t0:.1f}s")
    compared_pcaps, pcap_failures = 0, 0
    for name, path, device, _, ethernet in files:
        expected = offline_sessions(picket, path)
        got = collector_sessions(picket, url, device)
        failures += diff_sessions([comparable(s, True) for s in expected],
                                  [comparable(s) for s in got], name)
        tuples = {}
        for s in got:
            if s["proto"] in (6, 17):
                key = (s["proto"], *sorted([(s["src_ip"], s["src_port"]), (s["dst_ip"], s["dst_port"])]))
                tuples.setdefault(key, []).append(s)
        for group in tuples.values():
            if len(group) != 1:
                continue  # tcpdump's filter would also return the tuple's other sessions
            s = group[0]
            r = subprocess.run(["tcpdump", "-r", path, "-w", "-", bpf_filter(s, ethernet)], capture_output=True,
                               timeout=TOOL_TIMEOUT)
            if r.returncode != 0:
                failures.append(f"{name}: tcpdump {bpf_filter(s, ethernet)}: {r.stderr.decode()[:200]}")
                continue
            want = pcap_packets(r.stdout)
            conn = http.client.HTTPConnection(uploader.host, uploader.port, timeout=30)
            conn.request("GET", f"/v1/sessions/{s['id']}/pcap")
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            if resp.status != 200 or resp.getheader("Content-Type") != "application/vnd.tcpdump.pcap":
                failures.append(f"{name}: GET pcap of session {s['id']}: {resp.status}")
                continue
            have = pcap_packets(body)
            if have != want:
                pcap_failures += 1
                failures.append(f"{name}: session {s['id']} {s['community_id']}: {len(have)} packets "
                                f"from the collector, tcpdump's filter gives {len(want)}"
                                + ("" if len(have) != len(want) else " (bytes or times differ)"))
            compared_pcaps += 1
    figures.append(f"split: {compared_pcaps - pcap_failures} of {compared_pcaps} session pcaps equal "
                   "tcpdump's 5-tuple filter")
    failures += api_edges(picket, url, uploader, work, files)
    failures += damaged_chunk(picket, url, uploader, work, procs, files)
    return failures


def damaged_chunk(picket, url, uploader, work, procs, files):
    """A chunk torn in its third record: its first two packets count, the log names the
    device and seq, the device's damaged_chunks counter says 1, the next chunk goes on."""
    name, path = next((n, p) for n, p, *_ in files if len(read_pcap(p)[2]) >= 6)
    header, _, records = read_pcap(path)
    rh, d = records[2]
    torn = header + b"".join(h + x for h, x in records[:2]) + rh + d[:len(d) // 2]
    rest = header + b"".join(h + x for h, x in records[3:])
    upload_all(uploader, [("torn", 1, torn, 3, 0), ("torn", 2, rest, len(records) - 3, 0),
                          ("torn", 3, header, 0, 1000)])
    data_dir = os.path.join(work, "collector")
    wait_for("analysis of the torn device", lambda: analysis_progress(data_dir, "torn") > 3, timeout=60)
    failures = []
    devices = json.loads(http_get(uploader, "/v1/devices")[1])
    counters = next((d.get("analysis") for d in devices if d["id"] == "torn"), None)
    if not counters or counters["damaged_chunks"] != 1 or counters["chunks_analysed"] != 3:
        failures.append(f"torn device counters: {counters}")
    if not any("damaged chunk" in line and "device=torn" in line and "seq=1" in line
               for line in procs.log_text().splitlines()):
        failures.append("no 'damaged chunk' log line naming device torn and seq 1")
    whole = os.path.join(work, "untorn.pcap")
    with open(whole, "wb") as f:
        f.write(header + b"".join(h + x for h, x in records[:2] + records[3:]))
    failures += diff_sessions([comparable(s, True) for s in offline_sessions(picket, whole)],
                              [comparable(s) for s in collector_sessions(picket, url, "torn")],
                              f"torn chunk of {name}")
    return failures


def http_get(uploader, path):
    conn = http.client.HTTPConnection(uploader.host, uploader.port, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def api_edges(picket, url, uploader, work, files):
    """Bad filters are 400s naming parameter and value; filters and paging agree with the
    full listing; `picket sessions show` and `pcap -o` give what the API gives."""
    failures = []
    for query, name in (("port=abc", "port"), ("proto=tcpx", "proto"), ("since=yesterday", "since"),
                        ("ip=10.0.0.300", "ip"), ("limit=0", "limit"), ("after=-1", "after")):
        status, body = http_get(uploader, "/v1/sessions?" + query)
        value = query.split("=", 1)[1]
        if status != 400 or name not in body.decode() or value not in body.decode():
            failures.append(f"GET /v1/sessions?{query}: {status} {body[:200]!r} (want 400 naming {name} and {value})")
    status, body = http_get(uploader, "/v1/sessions/999999999")
    if status != 404:
        failures.append(f"GET an unknown session: {status}")
    everything = [json.loads(line) for line in http_get(uploader, "/v1/sessions?limit=100000")[1].splitlines()]
    ids = [s["id"] for s in everything]
    if ids != sorted(ids) or len(set(ids)) != len(ids):
        failures.append("GET /v1/sessions: ids not strictly ascending")
    paged, after = [], 0
    for _ in range(len(everything) + 2):  # bounded: one page per session at most
        page = [json.loads(line) for line in
                http_get(uploader, f"/v1/sessions?limit=7&after={after}")[1].splitlines()]
        paged += page
        if len(page) < 7:
            break
        after = page[-1]["id"]
    if [s["id"] for s in paged] != ids:
        failures.append(f"paging with after= gives {len(paged)} sessions, one listing {len(everything)}")
    for query, keep in (("proto=udp", lambda s: s["proto"] == 17),
                        ("port=53", lambda s: 53 in (s["src_port"], s["dst_port"])),
                        ("app=DNS", lambda s: s["app"] == "DNS"),
                        ("state=SF", lambda s: s["state"] == "SF"),
                        ("since=2000-01-01T00:00:00Z&until=2010-01-01T00:00:00%2B00:00",
                         lambda s: s["first_ts"] < "2010-01-01" and s["last_ts"] >= "2000-01-01")):
        got = [json.loads(line)["id"] for line in http_get(uploader, f"/v1/sessions?limit=100000&{query}")[1].splitlines()]
        want = [s["id"] for s in everything if keep(s)]
        if got != want:
            failures.append(f"GET /v1/sessions?{query}: {len(got)} sessions, {len(want)} expected")
    tcp = next((s for s in everything if s["proto"] == 6), None)
    if tcp:
        shown = run_json_lines([picket, "sessions", "show", str(tcp["id"]), "--collector", url, "--json"])
        status, body = http_get(uploader, f"/v1/sessions/{tcp['id']}")
        if status != 200 or shown != [json.loads(body)] or not shown[0].get("packets"):
            failures.append(f"picket sessions show {tcp['id']} differs from GET /v1/sessions/{tcp['id']}")
        out = os.path.join(work, "session.pcap")
        r = subprocess.run([picket, "sessions", "pcap", str(tcp["id"]), "-o", out, "--collector", url],
                           capture_output=True, timeout=TOOL_TIMEOUT)
        status, body = http_get(uploader, f"/v1/sessions/{tcp['id']}/pcap")
        if r.returncode != 0 or open(out, "rb").read() != body:
            failures.append(f"picket sessions pcap {tcp['id']}: exit {r.returncode} {r.stderr[:200]!r}, "
                            "or the file differs from the API's pcap")
        table = subprocess.run([picket, "sessions", "--collector", url, "--limit", "3"],
                               capture_output=True, timeout=TOOL_TIMEOUT)
        lines = table.stdout.decode().splitlines()
        if table.returncode != 0 or len(lines) != 4 or not lines[0].startswith("ID"):
            failures.append(f"picket sessions table: exit {table.returncode}, {len(lines)} lines")
    return failures


# --- kill -----------------------------------------------------------------------------------

def long_capture(pcaps_dir, repeats):
    """Records of every Ethernet capture, `repeats` times, each pass 10000 s after the last."""
    header, records = None, []
    for rep in range(repeats):
        for name in sorted(os.listdir(pcaps_dir)):
            parsed = read_pcap(os.path.join(pcaps_dir, name)) if name.endswith(".pcap") else None
            if parsed is None:
                continue
            h, endian, recs = parsed
            if endian != "<" or struct.unpack("<I", h[20:24])[0] != 1 or h[:4] != b"\xd4\xc3\xb2\xa1":
                continue  # little-endian µs Ethernet only, so records can be moved in time as is
            header = header or h
            base = struct.unpack("<I", recs[0][0][:4])[0] if recs else 0
            for rh, d in recs:
                sec = struct.unpack("<I", rh[:4])[0] - base + 1_700_000_000 + rep * 10_000
                records.append((struct.pack("<I", sec) + rh[4:], d))
    return header, records


def throttled_until(pid, done, what, timeout):
    """Lets `pid` run in 1 ms slices, stopped (SIGSTOP) in between while `done()` is read, until
    it holds; returns with the process stopped. Analysis commits many chunks at a time and runs
    through this capture in ~0.1 s: unthrottled, a kill meant for the middle often came after the
    end. Bounded by `timeout` (WaitTimeout)."""
    deadline = time.monotonic() + timeout
    while True:
        os.kill(pid, signal.SIGSTOP)
        if done():
            return
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGCONT)
            raise WaitTimeout(f"timed out after {timeout}s waiting for {what}")
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.001)  # the slice it runs (a duty cycle, not a wait for an event)


def case_kill(args, procs, work, picket, rng, figures):
    header, records = long_capture(args.pcaps, args.repeats)
    check(header is not None and records, "no Ethernet captures to build the long upload from")
    per = max(1, len(records) // args.chunks)
    items, seq = [], 0
    for i in range(0, len(records), per):
        seq += 1
        recs = records[i:i + per]
        items.append(("long", seq, header + b"".join(h + d for h, d in recs), len(recs), 0))
    total = seq
    items.append(("long", total + 1, header, 0, 1000))  # ends the open sessions with gap
    last = total + 1

    collector_dir = os.path.join(work, "collector")
    stored = procs.start([picket, "collector", "--listen", "127.0.0.1:0", "--data", collector_dir,
                          "--ready-file", os.path.join(work, "store.url"), "--insecure-no-auth",
                          "--no-sessions"])
    url = wait_for("collector", lambda: os.path.exists(os.path.join(work, "store.url")) and
                   open(os.path.join(work, "store.url")).read().strip())
    t0 = time.monotonic()
    upload_all(Uploader(url), items)
    figures.append(f"kill: {len(records)} packets in {last} chunks uploaded in {time.monotonic() - t0:.1f}s")
    procs.stop(stored)
    os.unlink(os.path.join(work, "store.url"))
    shutil.copytree(collector_dir, os.path.join(work, "reference", "collector"))

    # Uninterrupted run on the copy.
    ref_work = os.path.join(work, "reference")
    t0 = time.monotonic()
    ref_url = start_collector(procs, picket, ref_work, *KEEP)
    ref_dir = os.path.join(ref_work, "collector")
    wait_for("uninterrupted analysis", lambda: analysis_progress(ref_dir, "long") > last, timeout=600)
    elapsed = time.monotonic() - t0
    figures.append(f"kill: uninterrupted analysis {last} chunks in {elapsed:.1f}s "
                   f"({last / elapsed:.0f} chunks/s, {len(records) / elapsed:.0f} packets/s)")
    reference = [comparable(s) for s in collector_sessions(picket, ref_url, "long")]
    procs.stop(procs.procs[-1])

    # The same analysis, killed `rounds` times.
    kills, previous = 0, 0
    for round_no in range(args.rounds):
        ready = os.path.join(work, "collector.url")
        if os.path.exists(ready):
            os.unlink(ready)
        start_collector(procs, picket, work, *KEEP)
        p = procs.procs[-1]
        remaining = last + 1 - previous
        step = max(1, remaining // (args.rounds - round_no + 1))
        target = previous + step
        try:
            throttled_until(p.pid, lambda: analysis_progress(collector_dir, "long") >= target,
                            f"analysis past seq {target}", timeout=300)
        finally:
            os.kill(p.pid, signal.SIGKILL)  # stopped or not, SIGKILL ends it
            procs.wait(p, 10)
        now = analysis_progress(collector_dir, "long")
        if now <= last:
            kills += 1  # killed with work left: during the analysis
        previous = now
    os.unlink(os.path.join(work, "collector.url"))
    url = start_collector(procs, picket, work, *KEEP)
    wait_for("analysis after the kills", lambda: analysis_progress(collector_dir, "long") > last, timeout=600)
    got = [comparable(s) for s in collector_sessions(picket, url, "long")]
    figures.append(f"kill: {kills} of {args.rounds} SIGKILLs landed during analysis; "
                   f"{len(got)} sessions after them, {len(reference)} uninterrupted")
    failures = diff_sessions(reference, got, "after kill -9")
    if kills < args.rounds:
        failures.append(f"only {kills} of {args.rounds} kills landed during analysis")
    expected = offline_sessions(picket, write_capture(work, header, records))
    failures += diff_sessions([comparable(s, True) for s in expected], reference,
                              "uninterrupted collector vs --read of the long capture")
    return failures


def write_capture(work, header, records):
    path = os.path.join(work, "long.pcap")
    with open(path, "wb") as f:
        f.write(header)
        for h, d in records:
            f.write(h + d)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picketd")
    ap.add_argument("picket")
    ap.add_argument("--pcaps", default=os.environ.get("PICKET_SHARED_PCAPS") or
                    os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "pcaps")))
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--chunks", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--only", default="split,kill")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    if not os.path.isdir(args.pcaps):
        return skip_code(f"no captures at {args.pcaps}")
    if shutil.which("tcpdump") is None:
        return skip_code("tcpdump is not installed")
    print(f"seed {args.seed}")
    rng = random.Random(args.seed)
    root = tempfile.mkdtemp(prefix="picket-sessions-")
    failures, figures, passed, failed = [], [], 0, 0
    try:
        for name, case in (("split", case_split), ("kill", case_kill)):
            if name not in args.only.split(","):
                continue
            work = os.path.join(root, name)
            os.makedirs(work)
            procs = Processes(os.path.join(work, "processes.log"))
            try:
                got = case(args, procs, work, args.picket, rng, figures)
            except Exception:  # noqa: BLE001 - a failed case, reported with its trace
                got = [traceback.format_exc()]
            finally:
                procs.stop_all()
            print(f"{name}: {'ok' if not got else 'FAILED'}", flush=True)
            failures += [f"{name}: {f}" for f in got]
            passed += not got
            failed += bool(got)
    finally:
        if os.environ.get("PICKET_KEEP_TEST_DIR") is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("kept", root)
    for f in figures:
        print(f)
    for f in failures:
        print("FAIL:", f)
    print(f"{passed} passed, {failed} failed")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
