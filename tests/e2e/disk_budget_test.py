#!/usr/bin/env python3
"""Disk budget on loopback: with the collector down and buffer.max_bytes far
smaller than the traffic, the buffer never holds more than the budget plus one
chunk; the oldest chunks are evicted and counted, the counters reach the
collector, and a pending scan-result batch is never evicted.

usage: disk_budget_test.py PICKETD PICKET
Needs root (live capture); skips without it unless CI=true."""
import json, os, socket, sqlite3, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import report, http_get, remove_unless_kept, root_or_skip  # noqa: E402
from servers import Processes, wait_for  # noqa: E402

PORT = 39125
BUDGET = 2 << 20          # 2 MiB
CHUNK = 256 << 10         # chunk_max_bytes
TRAFFIC = 24 << 20        # ~24 MiB of frames, 12x the budget


def query(db, sql, args=()):
    con = sqlite3.connect(db, timeout=10)
    try:
        rows = con.execute(sql, args).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def disk_bytes(chunk_dir):
    total = 0
    for name in os.listdir(chunk_dir):
        try:
            total += os.stat(os.path.join(chunk_dir, name)).st_size
        except FileNotFoundError:
            pass  # evicted or uploaded between listdir and stat
    return total


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    if (code := root_or_skip()) is not None:
        return code
    work = tempfile.mkdtemp(prefix="picket-budget-")
    os.chmod(work, 0o711)  # picketd's worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    start = procs.start

    try:
        # A port nothing listens on yet: the collector starts there later.
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        base = f"http://127.0.0.1:{port}"
        buffer_dir = os.path.join(work, "buffer")
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump({"device": {"id": "gw-1"},
                       "capture": {"interface": "lo", "filter": f"udp and dst port {PORT}",
                                   "chunk_max_bytes": CHUNK, "chunk_max_age": "2s", "chunk_idle": "300ms"},
                       "buffer": {"dir": buffer_dir, "max_bytes": BUDGET},
                       "upload": {"collectors": [base], "retry_base": "200ms", "retry_max": "500ms"}}, f)
        db = os.path.join(buffer_dir, "buffer.db")
        picketd_proc = start([picketd, "run", "--config", cfg])
        wait_for("the buffer", lambda: os.path.exists(db) and query(db, "SELECT COUNT(*) FROM sqlite_master "
                                                                        "WHERE name = 'batches'")[0][0] == 1)
        # A scan-result batch waiting for upload (what the scanner writes): 300 KiB of NDJSON.
        line = json.dumps({"job": "budget", "ip": "127.0.0.1", "port": 1, "proto": "tcp", "state": "open",
                           "pad": "x" * 300})
        body = "".join(line.replace('"port": 1', f'"port": {p}') + "\n" for p in range(1, 1000))
        query(db, "INSERT INTO batches(kind, idem_key, body, lines, bytes, created_ms) VALUES(0, ?, ?, ?, ?, ?)",
              ("budget-test-batch", body, 999, len(body), int(time.time() * 1000)))
        wait_for("capture", lambda: "capturing" in procs.log_text())

        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", PORT))
        rx.setblocking(False)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        chunk_dir = os.path.join(buffer_dir, "chunks")
        peak_disk = peak_rows = 0
        payload = b"b" * 1400
        sent = 0
        deadline = time.monotonic() + 120
        while sent * 1442 < TRAFFIC and time.monotonic() < deadline:
            for _ in range(200):
                tx.sendto(payload, ("127.0.0.1", PORT))
                sent += 1
            try:
                while True:
                    rx.recv(2048)
            except BlockingIOError:
                pass
            peak_disk = max(peak_disk, disk_bytes(chunk_dir))
            rows = query(db, "SELECT COALESCE(SUM(bytes), 0) FROM chunks WHERE state = 0")[0][0] + \
                query(db, "SELECT COALESCE(SUM(bytes), 0) FROM batches WHERE state = 0")[0][0]
            peak_rows = max(peak_rows, rows)
            time.sleep(0.005)  # pacing the generator so the capture ring keeps up
        wait_for("the last chunk to seal", lambda: query(db, "SELECT value FROM counters WHERE name = "
                                                             "'chunks_evicted'"), 30)
        evicted = query(db, "SELECT value FROM counters WHERE name = 'chunks_evicted'")[0][0]
        evicted_bytes = query(db, "SELECT value FROM counters WHERE name = 'bytes_evicted'")[0][0]
        batch_left = query(db, "SELECT COUNT(*) FROM batches WHERE idem_key = 'budget-test-batch'")[0][0]

        start([picket, "collector", "--listen", f"127.0.0.1:{port}", "--data", os.path.join(work, "collector"),
               "--insecure-no-auth"])

        def collector_counters():
            try:
                devices = json.loads(http_get(f"{base}/v1/devices", timeout=5))
            except OSError:
                return None
            d = [x for x in devices if x["id"] == "gw-1"]
            return d and d[0]["evicted_chunks"] >= evicted and d[0]
        at_collector = wait_for("eviction counters at the collector", collector_counters)
        results = wait_for("the result batch at the collector", lambda: json.loads(http_get(
            f"{base}/v1/results?device=gw-1&job=budget&limit=10000", timeout=5)))

        failures = []
        if peak_disk > BUDGET + CHUNK:
            failures.append(f"chunk files peaked at {peak_disk} B, over budget+one chunk {BUDGET + CHUNK}")
        if peak_rows > BUDGET:
            failures.append(f"pending bytes peaked at {peak_rows}, over the budget {BUDGET}")
        if evicted == 0:
            failures.append("nothing was evicted although the traffic was 12x the budget")
        if batch_left != 1:
            failures.append("the scan-result batch was evicted")
        if at_collector["evicted_chunks"] < evicted:
            failures.append(f"collector shows {at_collector['evicted_chunks']} evicted chunks, buffer {evicted}")
        if len(results) != 999:
            failures.append(f"collector has {len(results)} of 999 results")
        print(f"budget {BUDGET} B, chunk {CHUNK} B; sent {sent} frames (~{sent * 1442 >> 20} MiB) with the collector down")
        print(f"peak chunk files on disk {peak_disk} B (limit {BUDGET + CHUNK}); peak pending {peak_rows} B")
        print(f"evicted {evicted} chunks / {evicted_bytes} B; collector shows evicted_chunks="
              f"{at_collector['evicted_chunks']} evicted_bytes={at_collector['evicted_bytes']}; "
              f"results batch kept and delivered: {len(results)} rows")
        return report(failures)
    finally:
        procs.stop_all()
        remove_unless_kept(work)


if __name__ == "__main__":
    sys.exit(main())
