#!/usr/bin/env python3
"""retention_bench: the collector's ingest with retention deleting all the time, beside the same
ingest with retention off (issue 18, acceptance 4: throughput may drop at most 10%).

A benchmark program, not a test (never registered with ctest). No root needed. All traffic goes
to 127.0.0.1; every loop is bounded in count and in seconds; every process is stopped by its PID.

Two runs of --seconds each (default 20; the issue's soak is --seconds 600), each on a fresh
collector (--no-sessions, so analysis does not compete for the disk):
  off: --retain-age 0 --retain-bytes 0
  on:  --retain-bytes (--devices x --keep-chunks x --chunk-kib), --retain-device-bytes a
       device's share of it, --retain-interval --interval: once full, every chunk stored makes
       one deleted.
--devices threads each PUT --chunk-kib chunks one at a time (seq 0, 1, ...), as picketd does.
Prints chunks/s, MB/s and p50/p99 PUT latency for both runs, the ratio, the chunks retention
deleted (its /metrics counters) and the chunk bytes left on disk (which must stay near the cap).
The load generator is Python: at small chunks it is the bottleneck, so compare the two runs only.

usage: retention_bench.py PICKET [--seconds S] [--devices N] [--chunk-kib K] [--keep-chunks C]
                                 [--interval D]"""
import argparse, base64, hashlib, http.client, os, shutil, struct, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
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


def load(base, devices, chunk, seconds):
    """PUTs from `devices` threads until `seconds` pass; returns (chunks, latencies)."""
    host, port = base.split("//")[1].split(":")
    digest = "sha-256=" + base64.b64encode(hashlib.sha256(chunk).digest()).decode()
    deadline = time.monotonic() + seconds
    latencies, lock, errors = [], threading.Lock(), []

    def device(i):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine = []
        for seq in range(10_000_000):  # bounded; the deadline ends it first
            if time.monotonic() >= deadline:
                break
            start = time.monotonic()
            conn.request("PUT", f"/v1/devices/bench-{i}/chunks/{seq}", body=chunk,
                         headers={"Digest": digest, "Content-Type": "application/vnd.tcpdump.pcap"})
            r = conn.getresponse()
            r.read()
            if r.status != 201:
                errors.append(f"bench-{i} seq {seq}: {r.status}")
                break
            mine.append(time.monotonic() - start)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=device, args=(i,)) for i in range(devices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    if errors:
        raise SystemExit(f"retention_bench: {errors[0]}")
    return len(latencies), sorted(latencies)


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
    rows = []
    for name, flags in (("off", ["--retain-age", "0", "--retain-bytes", "0"]),
                        ("on", ["--retain-bytes", str(cap), "--retain-device-bytes",
                                str(cap // a.devices), "--retain-interval", a.interval])):
        work = tempfile.mkdtemp(prefix=f"picket-retention-bench-{name}-")
        procs = Processes(os.path.join(work, "processes.log"))
        try:
            base = start_collector(procs, os.path.abspath(a.picket), work, "--no-sessions",
                                   "--device-bytes-per-minute", "0", *flags)
            n, lat = load(base, a.devices, chunk, a.seconds)
            deleted = metric(base, "picket_retention_deleted_chunks_total")
            left = du(os.path.join(work, "collector", "chunks"))
        finally:
            procs.stop_all()
            shutil.rmtree(work, ignore_errors=True)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
        rows.append((name, n / a.seconds, n * len(chunk) / a.seconds / 1e6, p(0.5), p(0.99),
                     deleted, left))
    print(f"{a.devices} devices x {a.chunk_kib} KiB chunks, {a.seconds:g} s per run, "
          f"cap {cap / 2**20:.0f} MiB")
    print(f"{'retention':<10}{'chunks/s':>10}{'MB/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'deleted':>9}{'left MiB':>10}")
    for name, cps, mbs, p50, p99, deleted, left in rows:
        print(f"{name:<10}{cps:>10.0f}{mbs:>9.1f}{p50:>9.1f}{p99:>9.1f}{deleted:>9.0f}"
              f"{left / 2**20:>10.1f}")
    print(f"ratio on/off: {rows[1][1] / rows[0][1]:.2f} (goal >= 0.90)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
