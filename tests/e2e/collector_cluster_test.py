#!/usr/bin/env python3
"""Three collectors on one MariaDB (--store) and one shared chunk directory (--chunks), issue 18
item 2, with 1,000 simulated devices (tests/bench/ingest_load.c: one PUT in flight per device,
picketd's rendezvous ranking of the collector URLs and its fail-over), 64 KiB chunks:

1. Spread: the devices' first choices (the load generator's, checked here against SHA-256 of
   "<device>\\0<url>" computed in Python) are within +-20% of even. The chunks each collector
   stored before the kill are printed and each must be at least half the mean (no collector left
   out); how close to even they come also depends on how the three processes share this
   machine's CPUs and its analysis leases (seen: +22% for one collector in one run).
2. kill -9 of one collector mid-run: every device whose first choice it was stores chunks on the
   others after the kill; how long after the kill each stored again elsewhere (its retry window:
   100 ms back-off, then the next URL, and a surviving collector's latency under the added load)
   must stay under 5 s. The gap of its stored chunks around the kill (that plus the time since
   its last chunk before the kill, one round of the load) is printed too.
3. Exactly once: for every device, the seqs acknowledged (0 .. next-1) each have one row in
   collector_chunks, seqs are contiguous from 0 with at most the one in flight at the end beyond
   them, and every row's file in the shared directory has the row's size and SHA-256.
4. Either survivor serves the same chunk list of a device that moved (GET /v1/devices/ID/chunks).
5. Sessions, analysed by whichever collector holds a device's lease in the database (the killed
   one's leases run out and the others take its devices over from their committed state): once
   analysis has caught up, every device's chunks are analysed exactly once (chunks_analysed =
   its rows, next_seq = the seq after its last), its session counter equals its session rows,
   and since every device sends the same chunk, devices with the same number of chunks have
   the same sessions whoever analysed them (those of the killed collector included) - the
   single-collector answer.

usage: collector_cluster_test.py PICKETD PICKET LOADGEN. Skips without MariaDB unless CI=true."""
import base64, hashlib, http.client, json, os, signal, struct, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from e2e_support import remove_unless_kept, report  # noqa: E402
from servers import MariaDB, Processes, mariadb_missing, skip_code, wait_for  # noqa: E402

SCHEMA = os.path.join(HERE, "..", "..", "config", "schema.sql")
DEVICES = 1000
SECONDS = 14
KILL_AT = 5.0


def flows_pcap(flows=20, per_flow=10, spacing_s=10):
    """A classic pcap of `flows` UDP flows 127.0.0.1:(40000+f) -> :9, one after the other, each
    `per_flow` packets `spacing_s` apart: every flow but the last goes idle (60 s) within the
    chunk, so each chunk closes sessions."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    t = 1_780_000_000
    for f in range(flows):
        for i in range(per_flow):
            payload = struct.pack(">HH", f, i)
            udp = struct.pack(">HHHH", 40000 + f, 9, 8 + len(payload), 0) + payload
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                             bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
            frame = b"\0" * 12 + b"\x08\x00" + ip
            out.append(struct.pack("<IIII", t, 0, len(frame), len(frame)) + frame)
            t += spacing_s
    return b"".join(out)


def rendezvous_first(device, urls):
    def weight(url):
        return int.from_bytes(hashlib.sha256(device.encode() + b"\0" + url.encode()).digest()[:8], "big")
    return sorted(urls, key=lambda u: (-weight(u), u))[0]


def get_json(base, path):
    host, port = base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    if r.status != 200:
        raise AssertionError(f"GET {base}{path}: {r.status} {body[:200]!r}")
    return json.loads(body)


def start_cluster_collector(procs, picket, work, name, db_url, chunks):
    ready = os.path.join(work, f"{name}.url")
    p = procs.start([picket, "collector", "--listen", "127.0.0.1:0", "--data", os.path.join(work, name),
                     "--insecure-no-auth", "--ready-file", ready, "--store", db_url,
                     "--chunks", chunks, "--max-inflight", "512",
                     "--max-inflight-per-device", "4",
                     "--max-connections-per-address", "2000", "--device-bytes-per-minute", "0",
                     "--device-rows-per-minute", "0"],
                    name, log_path=os.path.join(work, f"{name}.log"))
    url = wait_for(name, lambda: p.poll() is None and os.path.exists(ready) and open(ready).read().strip()
                   or (p.poll() is not None and "exited"), 60)
    if url == "exited":
        raise AssertionError(f"{name} exited: " + open(os.path.join(work, f"{name}.log")).read()[-2000:])
    return p, url


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    picket, loadgen = os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    missing = mariadb_missing()
    if missing:
        return skip_code(missing)
    failures, figures = [], []
    t_start = time.monotonic()

    def check(cond, what):
        if not cond:
            failures.append(what)
        return cond

    work = tempfile.mkdtemp(prefix="picket-cluster-")
    procs = Processes(os.path.join(work, "processes.log"))
    db = MariaDB(work)
    try:
        db.start(SCHEMA)
        chunks = os.path.join(work, "shared-chunks")
        collectors = [start_cluster_collector(procs, picket, work, f"c{i}", db.url, chunks) for i in range(3)]
        urls = [url for _, url in collectors]
        victim_proc, victim_url = collectors[1]

        body = flows_pcap()  # 200 packets in 20 flows that close within the chunk
        body_path = os.path.join(work, "body")
        with open(body_path, "wb") as f:
            f.write(body)
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        seqs_path = os.path.join(work, "seqs")
        argv = [loadgen, "--body", body_path, "--digest", digest, "--devices", str(DEVICES),
                "--seconds", str(SECONDS), "--device-prefix", "gw", "--seqs-file", seqs_path]
        for url in urls:
            argv += ["--url", url]
        out_path = os.path.join(work, "load.json")
        with open(out_path, "w") as out:
            load = procs.start(argv, "ingest_load", stdout=out, stderr=None)
            load_started = time.monotonic()
            # Kill -9 of c1 at KILL_AT s into the run (a deadline, not a sleep for an event).
            wait_for("the kill time", lambda: time.monotonic() - load_started >= KILL_AT, KILL_AT + 5, 0.01)
            kill_ms = int(time.time() * 1000)
            os.kill(victim_proc.pid, signal.SIGKILL)
            procs.wait(victim_proc, 10)
            got = procs.wait(load, SECONDS + 60)
            check(got is not None and got[0] == 0, f"ingest_load exit {got}")
        result = json.load(open(out_path))
        figures.append(f"load: {result['ok']} chunks in {result['seconds']:.1f} s = {result['chunks_per_s']:.0f} "
                       f"chunks/s, {result['mb_per_s']:.1f} MB/s, p99 {result['p99_ms']:.0f} ms, per collector "
                       f"{result['per_url_ok']}, errors {result['errors']}, 429 {result['status_429']}, "
                       f"503 {result['status_503']}, other {result['other_status']}; first error: {result['first_error']}")
        check(result["other_status"] == 0, f"refused PUTs: {result['other_notes']}")

        # 1. Spread.
        lines = [line.split() for line in open(seqs_path).read().splitlines()]
        next_seq = {d: int(n) for d, n, _ in lines}
        first = {d: urls[int(i)] for d, _, i in lines}
        mismatched = [d for d in first if first[d] != rendezvous_first(d, urls)]
        check(not mismatched, f"{len(mismatched)} devices' first choice differs from SHA-256 rendezvous, "
                              f"e.g. {mismatched[:3]}")
        even = DEVICES / 3
        per_first = {u: sum(1 for d in first if first[d] == u) for u in urls}
        figures.append(f"devices by first choice: {list(per_first.values())} (even {even:.0f})")
        for u, n in per_first.items():
            check(abs(n - even) <= 0.2 * even, f"{n} devices chose {u} first, more than 20% off {even:.0f}")
        rows = db.run("SELECT device, seq, sha256, bytes, path, received_at_ms FROM collector_chunks").splitlines()
        stored = {}
        for row in rows:
            device, seq, sha, size, path, received = row.split("\t")
            stored.setdefault(device, {})[int(seq)] = (sha, int(size), path, int(received))
        before = {u: 0 for u in urls}
        for d, chunks_of in stored.items():
            before[first[d]] += sum(1 for c in chunks_of.values() if c[3] < kill_ms)
        figures.append(f"chunks stored before the kill, by the devices' first choice: {list(before.values())}")
        mean = sum(before.values()) / 3
        for u, n in before.items():
            check(n >= 0.5 * mean, f"{n} chunks of devices of {u} before the kill, under half the mean {mean:.0f}")

        # 2. The victim's devices moved, within their retry window.
        moved = [d for d in first if first[d] == victim_url]
        gaps, moved_after, stuck = [], [], []
        for d in moved:
            times = sorted(c[3] for c in stored.get(d, {}).values())
            after = [t for t in times if t >= kill_ms]
            if not after:
                stuck.append(d)
                continue
            last_before = max([t for t in times if t < kill_ms], default=kill_ms)
            gaps.append(after[0] - last_before)
            moved_after.append(after[0] - kill_ms)
        check(not stuck, f"{len(stuck)} of c1's {len(moved)} devices stored nothing after the kill: {stuck[:3]}")
        if gaps:
            gaps.sort()
            moved_after.sort()
            figures.append(f"c1's {len(moved)} devices: stored elsewhere after the kill p50 "
                           f"{moved_after[len(moved_after) // 2]} ms, max {moved_after[-1]} ms; gap around "
                           f"the kill p50 {gaps[len(gaps) // 2]} ms, max {gaps[-1]} ms")
            check(moved_after[-1] < 5000,
                  f"a device of c1 stored again elsewhere only {moved_after[-1]} ms after the kill")

        # 3. Exactly once: rows = acknowledged seqs (+ at most the one in flight), files match.
        body_sha = hashlib.sha256(body).hexdigest()
        bad = []
        total_rows = 0
        for d in first:
            seqs = sorted(stored.get(d, {}))
            total_rows += len(seqs)
            n = next_seq[d]
            if seqs != list(range(len(seqs))) or not (n <= len(seqs) <= n + 1):
                bad.append(f"{d}: acknowledged 0..{n - 1}, rows {seqs[:3]}..{seqs[-3:]} ({len(seqs)})")
                continue
            for seq in seqs:
                sha, size, path, _ = stored[d][seq]
                if sha != body_sha or size != len(body) or not path.startswith(chunks + "/"):
                    bad.append(f"{d}/{seq}: row {sha[:12]} {size} {path}")
                    break
                with open(path, "rb") as f:
                    if hashlib.sha256(f.read()).hexdigest() != body_sha:
                        bad.append(f"{d}/{seq}: file {path} differs from the chunk sent")
                        break
        check(not bad, f"{len(bad)} devices not stored exactly once: {bad[:3]}")
        acked = sum(next_seq.values())
        figures.append(f"exactly once: {acked} acknowledged, {total_rows} rows, every file checked")
        check(acked == result["ok"], f"acknowledged seqs {acked} != 2xx answers {result['ok']}")

        # 4. Both survivors serve a moved device's chunks alike.
        if moved:
            lists = [get_json(u, f"/v1/devices/{moved[0]}/chunks?limit=10000") for u in (urls[0], urls[2])]
            check(lists[0] == lists[1] and len(lists[0]) == len(stored.get(moved[0], {})),
                  f"survivors list {moved[0]} differently ({len(lists[0])} vs {len(lists[1])} chunks)")

        # 5. Sessions: once analysis caught up, each device's chunks analysed exactly once.
        def analysed():
            out = db.run("SELECT COALESCE(SUM(chunks_analysed), 0) FROM collector_analysis_state").strip()
            return int(out or 0)
        t_wait = time.monotonic()
        try:
            wait_for("analysis to catch up", lambda: analysed() >= total_rows, 240, 0.5)
        except AssertionError:
            pass
        figures.append(f"sessions: {analysed()} of {total_rows} chunks analysed "
                       f"{time.monotonic() - t_wait:.1f} s after the load")
        state = {}
        for row in db.run("SELECT device, next_seq, chunks_analysed, sessions FROM collector_analysis_state").splitlines():
            device, nxt, done, count = row.split("\t")
            state[device] = (int(nxt), int(done), int(count))
        rows_of = {}
        for row in db.run("SELECT device, src_port, dst_port, orig_pkts, resp_pkts, end_reason "
                          "FROM collector_sessions").splitlines():
            device, rest = row.split("\t", 1)
            rows_of.setdefault(device, []).append(rest)
        wrong = []
        by_count = {}
        for d in first:
            n = len(stored.get(d, {}))
            nxt, done, count = state.get(d, (0, 0, 0))
            sessions = sorted(rows_of.get(d, []))
            if done != n or (n and nxt != n) or count != len(sessions):
                wrong.append(f"{d}: {n} chunks, analysed {done}, next_seq {nxt}, counter {count}, "
                             f"rows {len(sessions)}")
            by_count.setdefault(n, {}).setdefault(tuple(sessions), []).append(d)
        check(not wrong, f"{len(wrong)} devices not analysed exactly once: {wrong[:3]}")
        differ = {n: groups for n, groups in by_count.items() if len(groups) > 1}
        check(not differ, "devices with the same chunks have different sessions: " +
              "; ".join(f"{n} chunks: {[g[:2] for g in groups.values()]}" for n, groups in list(differ.items())[:2]))
        moved_counts = {len(stored.get(d, {})) for d in moved}
        shared = sum(1 for n in moved_counts if any(first[d] != victim_url for g in by_count[n].values() for d in g))
        figures.append(f"sessions: {sum(len(v) for v in rows_of.values())} rows; {len(by_count)} distinct chunk "
                       f"counts, {shared} of them shared by a moved device and a device analysed where it "
                       f"always was")
    finally:
        procs.stop_all()
        db.stop()
        remove_unless_kept(work)
    return report(failures, figures, t_start)


if __name__ == "__main__":
    sys.exit(main())
