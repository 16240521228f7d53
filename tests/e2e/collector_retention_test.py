#!/usr/bin/env python3
"""Retention at the real collector (issue 18), on loopback, in a few seconds.

1. Size caps (--no-sessions, so every chunk counts as analysed; --retain-interval 200ms):
   gw-1 PUTs 5 chunks and gw-2 3, all of one size S, with --retain-device-bytes 2.5 S and
   --retain-bytes 3.5 S. Each device keeps its newest two (4 deletions by the device cap), then
   the oldest of the four left goes by the total cap: gw-1 keeps seq 4, gw-2 seqs 1 and 2. The
   API lists exactly those, their files are the only ones on disk, the others answer 404, and
   /metrics counts 5 deletions. Logs and results (younger than --retain-age) all stay.
2. Age: the collector stopped, gw-1's rows in collector.db are made 40 days old (chunks, logs,
   results, idempotency keys); restarted with the default --retain-age 30d and session analysis
   on, gw-1's chunk (once analysed), logs and results go, gw-2's stay.

Every wait is a condition with a deadline. usage: collector_retention_test.py PICKETD PICKET"""
import base64, hashlib, http.client, json, os, shutil, sqlite3, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from e2e_support import udp_pcap  # noqa: E402
from servers import Processes, start_collector, wait_for  # noqa: E402

DAY_MS = 86_400_000


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def request(base, method, path, body=None, headers=None):
    host, port = base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    answer = r.read()
    conn.close()
    return r.status, answer


def put_chunk(base, device, seq, body):
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    status, answer = request(base, "PUT", f"/v1/devices/{device}/chunks/{seq}", body,
                             {"Digest": f"sha-256={digest}",
                              "Content-Type": "application/vnd.tcpdump.pcap",
                              "X-Picket-Packets": "15"})
    check(status == 201, f"PUT {device} chunk {seq}: {status} {answer[:200]!r}")


def post_lines(base, device, kind, key, lines):
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    status, answer = request(base, "POST", f"/v1/devices/{device}/{kind}", body,
                             {"Content-Type": "application/x-ndjson", "Idempotency-Key": key})
    check(status == 200, f"POST {device} {kind}: {status} {answer[:200]!r}")


def get_json(base, path):
    status, answer = request(base, "GET", path)
    check(status == 200, f"GET {path}: {status} {answer[:200]!r}")
    return json.loads(answer)


def seqs(base, device):
    return [c["seq"] for c in get_json(base, f"/v1/devices/{device}/chunks")]


def metric(base, name):
    status, answer = request(base, "GET", "/metrics")
    check(status == 200, f"GET /metrics: {status}")
    total = 0.0
    for line in answer.decode().splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def devices_of(rows):
    return sorted(r["device"] for r in rows)


def main():
    picket = os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp(prefix="picket-retention-")
    procs = Processes(os.path.join(work, "processes.log"))
    data = os.path.join(work, "collector")
    ok = False
    try:
        chunk = udp_pcap(0, 15)
        size = len(chunk)
        caps = ["--no-sessions", "--retain-interval", "200ms",
                "--retain-device-bytes", str(size * 5 // 2), "--retain-bytes", str(size * 7 // 2)]
        base = start_collector(procs, picket, work, *caps)
        for device in ("gw-1", "gw-2"):
            post_lines(base, device, "logs", f"{device}-log", [{"msg": f"hello from {device}"}])
            post_lines(base, device, "results", f"{device}-res",
                       [{"ip": "127.0.0.1", "port": 22, "proto": "tcp", "job": "j"}])
        for seq in range(5):
            put_chunk(base, "gw-1", seq, udp_pcap(seq * 15, 15))
        for seq in range(3):
            put_chunk(base, "gw-2", seq, udp_pcap(seq * 15, 15))

        wait_for("retention by size", lambda: seqs(base, "gw-1") == [4] and
                 seqs(base, "gw-2") == [1, 2], timeout=15, interval=0.1)
        on_disk = sorted(f"{d}/{f}" for d in os.listdir(os.path.join(data, "chunks"))
                         for f in os.listdir(os.path.join(data, "chunks", d)))
        check(on_disk == ["gw-1/000000000004.pcap", "gw-2/000000000001.pcap",
                          "gw-2/000000000002.pcap"], f"chunk files left: {on_disk}")
        status, _ = request(base, "GET", "/v1/devices/gw-1/chunks/0")
        check(status == 404, f"a deleted chunk answers {status}, not 404")
        status, body = request(base, "GET", "/v1/devices/gw-2/chunks/2")
        check(status == 200 and body == udp_pcap(30, 15), f"a kept chunk: {status}")
        devices = {d["id"]: d for d in get_json(base, "/v1/devices")}
        check(devices["gw-1"]["chunk_bytes"] == size and devices["gw-2"]["chunk_bytes"] == 2 * size,
              f"chunk_bytes after retention: {devices}")
        deleted = metric(base, "picket_retention_deleted_chunks_total")
        check(deleted == 5, f"picket_retention_deleted_chunks_total: {deleted}, expected 5")
        by_total = metric(base, 'picket_retention_deleted_chunks_total{reason="total_bytes"}')
        check(by_total == 1, f"deleted by the total cap: {by_total}, expected 1")
        check(metric(base, "picket_retention_deleted_chunk_bytes_total") == 5 * size,
              "picket_retention_deleted_chunk_bytes_total")
        check(devices_of(get_json(base, "/v1/logs")) == ["gw-1", "gw-2"], "logs kept")
        check(devices_of(get_json(base, "/v1/results")) == ["gw-1", "gw-2"], "results kept")
        print("ok   size caps: each device's newest two, then the oldest over the total")

        procs.stop(procs.procs[-1])  # SIGTERM: a clean stop, the log stays open for the restart
        db = sqlite3.connect(os.path.join(data, "collector.db"))
        with db:
            old = 40 * DAY_MS
            db.execute("UPDATE chunks SET received_at_ms = received_at_ms - ? WHERE device='gw-1'",
                       (old,))
            db.execute("UPDATE logs SET received_at_ms = received_at_ms - ? WHERE device='gw-1'",
                       (old,))
            db.execute("UPDATE results SET first_seen_ms = first_seen_ms - ?1, "
                       "last_seen_ms = last_seen_ms - ?1 WHERE device='gw-1'", (old,))
            db.execute("UPDATE idempotency_keys SET received_at_ms = received_at_ms - ? "
                       "WHERE device='gw-1'", (old,))
        db.close()
        base = start_collector(procs, picket, work, "--retain-interval", "200ms")
        wait_for("retention by age", lambda: seqs(base, "gw-1") == [] and
                 devices_of(get_json(base, "/v1/logs")) == ["gw-2"] and
                 devices_of(get_json(base, "/v1/results")) == ["gw-2"], timeout=15, interval=0.1)
        check(seqs(base, "gw-2") == [1, 2], f"gw-2's chunks: {seqs(base, 'gw-2')}")
        check(not os.path.exists(os.path.join(data, "chunks", "gw-1", "000000000004.pcap")),
              "gw-1's old chunk file is still there")
        check(metric(base, 'picket_retention_deleted_chunks_total{reason="age"}') == 1,
              "one chunk deleted by age")
        check(metric(base, 'picket_retention_deleted_rows_total{kind="logs"}') == 1, "one log line")
        check(metric(base, 'picket_retention_deleted_rows_total{kind="results"}') == 1, "one result")
        check(metric(base, 'picket_retention_deleted_rows_total{kind="idempotency_keys"}') == 2,
              "gw-1's two idempotency keys")
        check(metric(base, "picket_retention_unanalysed_chunks_deleted_total") == 0,
              "no chunk deleted before its analysis")
        # The old chunk went only after the analysis passed it.
        gw1 = {d["id"]: d for d in get_json(base, "/v1/devices")}["gw-1"]
        check((gw1.get("analysis") or {}).get("next_seq") == 5, f"gw-1 analysis: {gw1}")
        print("ok   age: gw-1's 40-day-old chunk, log line and result gone, gw-2's kept")
        ok = True
    except AssertionError as e:
        print(f"FAIL {e}")
    finally:
        procs.stop_all()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work} ({os.path.join(work, 'processes.log')})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
