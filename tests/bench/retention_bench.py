#!/usr/bin/env python3
"""retention_bench: the collector's ingest with retention deleting all the time, beside the same
ingest with retention off (issue 18, acceptance 4: throughput may drop at most 10%).

A benchmark program, not a test (never registered with ctest). No root needed. All traffic goes
to 127.0.0.1; every loop is bounded in count and in seconds; every process is stopped by its PID.

Two runs, each on a fresh collector (--no-sessions, so analysis does not compete for the disk);
between them the off run's files are deleted and, on an ext4 without a journal, its freed inodes
waited out (tests/pylib/disk.py: the on run paid for them, 0.83-0.86 of off instead of ~1):
  off: --retain-age 0 --retain-bytes 0, for --seconds or until it has stored 40% of the disk's
       free space, whichever comes first (nothing is deleted: a 10-minute soak at ~120 MB/s
       would fill the disk; the rate is steady after seconds, the run says how long it lasted)
  on:  --retain-bytes (--devices x --keep-chunks x --chunk-kib), --retain-device-bytes a
       device's share of it, --retain-interval --interval, for --seconds (the issue's soak is
       --seconds 600): once full, every chunk stored makes one deleted. Its throughput is also
       printed per tenth of the run, so a slowdown late in the soak shows.
--devices threads each PUT --chunk-kib chunks one at a time (seq 0, 1, ...), as picketd does.
Prints chunks/s, MB/s and p50/p99 PUT latency for both runs, the ratio, the chunks retention
deleted (its /metrics counters) and the chunk bytes left on disk (which must stay near the cap).
The load generator is Python: at small chunks it is the bottleneck, so compare the two runs only.

usage: retention_bench.py PICKET [--seconds S] [--devices N] [--chunk-kib K] [--keep-chunks C]
                                 [--interval D]"""
import argparse, base64, hashlib, http.client, os, shutil, struct, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from disk import free_bytes, wait_out_freed_inodes  # noqa: E402
from servers import Processes, start_collector  # noqa: E402


def pcap_of(kib):
    """A classic pcap of ~kib KiB: UDP frames 127.0.0.1 -> 127.0.0.1 of 1400 random bytes."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    size, i = 24, 0
    while size < kib * 1024:
        payload = os.urandom(1400)
        udp = struct.pack(">HHHH", 40000, 9, 8 + len(payload), 0) + payload
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\0" * 12 + b"\x08\x00" + ip
        out.append(struct.pack("<IIII", 1_780_000_000 + i, 0, len(frame), len(frame)) + frame)
        size += 16 + len(frame)
        i += 1
    return b"".join(out)


def load(base, devices, chunk, seconds, max_bytes):
    """PUTs from `devices` threads until `seconds` pass or max_bytes are stored; returns
    (chunks, sorted latencies, seconds it ran, completion times from its start)."""
    host, port = base.split("//")[1].split(":")
    digest = "sha-256=" + base64.b64encode(hashlib.sha256(chunk).digest()).decode()
    start_all = time.monotonic()
    deadline = start_all + seconds
    latencies, done_at, lock, errors = [], [], threading.Lock(), []
    stored = [0]  # chunks, all threads (under lock)
    max_chunks = max(1, max_bytes // len(chunk))

    def device(i):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine, ends = [], []
        for seq in range(10_000_000):  # bounded; the deadline ends it first
            if time.monotonic() >= deadline:
                break
            with lock:
                if stored[0] >= max_chunks:
                    break
                stored[0] += 1
            start = time.monotonic()
            conn.request("PUT", f"/v1/devices/bench-{i}/chunks/{seq}", body=chunk,
                         headers={"Digest": digest, "Content-Type": "application/vnd.tcpdump.pcap"})
            r = conn.getresponse()
            r.read()
            if r.status != 201:
                errors.append(f"bench-{i} seq {seq}: {r.status}")
                break
            now = time.monotonic()
            mine.append(now - start)
            ends.append(now - start_all)
        conn.close()
        with lock:
            latencies.extend(mine)
            done_at.extend(ends)

    threads = [threading.Thread(target=device, args=(i,)) for i in range(devices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.monotonic() - start_all
    if errors:
        raise SystemExit(f"retention_bench: {errors[0]}")
    return len(latencies), sorted(latencies), elapsed, sorted(done_at)


def metric(base, prefix):
    host, port = base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picket")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--chunk-kib", type=int, default=256)
    ap.add_argument("--keep-chunks", type=int, default=20, help="chunks per device under the cap")
    ap.add_argument("--interval", default="1s")
    a = ap.parse_args()
    chunk = pcap_of(a.chunk_kib)
    cap = a.devices * a.keep_chunks * len(chunk)
    off_bytes = int(free_bytes(tempfile.gettempdir()) * 0.4)
    rows, windows = [], []
    for name, flags in (("off", ["--retain-age", "0", "--retain-bytes", "0"]),
                        ("on", ["--retain-bytes", str(cap), "--retain-device-bytes",
                                str(cap // a.devices), "--retain-interval", a.interval])):
        work = tempfile.mkdtemp(prefix=f"picket-retention-bench-{name}-")
        procs = Processes(os.path.join(work, "processes.log"))
        try:
            base = start_collector(procs, os.path.abspath(a.picket), work, "--no-sessions",
                                   "--device-bytes-per-minute", "0", *flags)
            n, lat, ran, ends = load(base, a.devices, chunk, a.seconds,
                                     off_bytes if name == "off" else 1 << 62)
            deleted = metric(base, "picket_retention_deleted_chunks_total")
            left = du(os.path.join(work, "collector", "chunks"))
        finally:
            procs.stop_all()
            shutil.rmtree(work, ignore_errors=True)
        if name == "off":  # the on run must not pay for the off run's deleted files
            wait_out_freed_inodes(tempfile.gettempdir(), "deleted the off run's files")
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
        rows.append((name, ran, n / ran, n * len(chunk) / ran / 1e6, p(0.5), p(0.99),
                     deleted, left))
        if name == "on":
            tenth = ran / 10
            windows = [sum(1 for t in ends if k * tenth <= t < (k + 1) * tenth) / tenth
                       for k in range(10)]
    print(f"{a.devices} devices x {a.chunk_kib} KiB chunks, {a.seconds:g} s per run "
          f"(off: at most {off_bytes / 1e9:.1f} GB), cap {cap / 2**20:.0f} MiB")
    print(f"{'retention':<10}{'seconds':>8}{'chunks/s':>10}{'MB/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'deleted':>9}{'left MiB':>10}")
    for name, ran, cps, mbs, p50, p99, deleted, left in rows:
        print(f"{name:<10}{ran:>8.0f}{cps:>10.0f}{mbs:>9.1f}{p50:>9.1f}{p99:>9.1f}{deleted:>9.0f}"
              f"{left / 2**20:>10.1f}")
    print("on, chunks/s per tenth of the run: " + " ".join(f"{w:.0f}" for w in windows))
    print(f"ratio on/off: {rows[1][2] / rows[0][2]:.2f}, slowest tenth of on / off: "
          f"{min(windows) / rows[0][2]:.2f} (goal >= 0.90)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
