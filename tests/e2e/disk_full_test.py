#!/usr/bin/env python3
"""The edge on a full disk (issue 14, acceptance 1 and 4), with the real picketd and collector on
loopback and sequence-numbered UDP packets. The buffer lives on a small tmpfs this test mounts
(and unmounts in finally). A counting proxy in front of the collector sees every request.

  A. collector down, 8 MiB tmpfs with max_bytes 64 MiB: the disk fills, the oldest chunks are
     evicted (counted); once the collector starts, every committed chunk is delivered within
     10 s, and no item is requested more than MAX_REQUESTS times (nothing sent in a loop).
  B. collector up, the disk filled by another file: capture goes on with evictions or pauses
     with loss counted, the worker reports "degraded: disk full"; after the file is removed,
     new chunks are delivered again by themselves.
  C. the buffer database locked for 10 s (another process holding BEGIN EXCLUSIVE): capture
     resumes right after the lock (packets sent 2 s after it are delivered), no seq is reused
     (no 409, no duplicate packet), no chunk file is left without its row.
  Sum over A-C: every packet sent is delivered exactly once or counted as lost, dropped or
  evicted: delivered + evicted + lost + drops == sent.
  D. max_bytes at 90% of a 16 MiB tmpfs, collector down, traffic over budget for SECONDS
     (30 s; --seconds 60 by hand): no ENOSPC (no write error, no disk-full eviction).

usage: disk_full_test.py PICKETD PICKET [--seconds N]
Root (mounts a tmpfs, live capture); skips without it unless CI=true."""
import http.client, http.server, json, os, socket, sqlite3, struct, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import (report, http_get, remove_unless_kept, root_or_skip, pcap_frames,  # noqa: E402
                         request_body)
from servers import Processes, wait_for, free_port, start_collector  # noqa: E402

DEVICE = "gw-full"
CHUNK = 256 << 10
PAYLOAD = 1400
MAGIC = b"PKTFULL!"
MAX_REQUESTS = 3   # per item, once the collector is up


class CountingProxy:
    """Forwards every request to the collector; counts them per item and answer."""

    def __init__(self, port, target):
        self.counts, self.statuses, self.lock = {}, {}, threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                body = request_body(self)
                key = (self.command, self.path.split("?")[0], self.headers.get("Idempotency-Key", ""))
                # Forwarded with its length: the body was read whole, chunked or not.
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "transfer-encoding", "content-length")}
                conn = http.client.HTTPConnection(target[0], target[1], timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    data, status, rheaders = r.read(), r.status, r.getheaders()
                finally:
                    conn.close()
                with proxy.lock:
                    if self.command in ("PUT", "POST") and not key[1].endswith("/status"):  # items only
                        proxy.counts[key] = proxy.counts.get(key, 0) + 1
                    proxy.statuses[status] = proxy.statuses.get(status, 0) + 1
                self.send_response(status)
                for k, v in rheaders:
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_PUT = do_POST = do_GET = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def max_per_item(self):
        with self.lock:
            return max(self.counts.values(), default=0), dict(self.statuses)


def query(db, sql, args=()):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def counter(db, name):
    rows = query(db, "SELECT value FROM counters WHERE name = ?", (name,))
    return rows[0][0] if rows else 0


class Sender:
    """Sequence-numbered UDP packets to 127.0.0.1:port, paced; `sent` counts successful sends
    and `times[i]` is when packet i went."""

    def __init__(self, port):
        self.port, self.sent, self.times = port, 0, []
        self.tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.bind(("127.0.0.1", port))
        self.rx.setblocking(False)

    def send_for(self, seconds, pps, until=None):
        """Sends at about `pps` for `seconds` (or until `until()` is true); bounded in time and count."""
        end = time.monotonic() + seconds
        pad = b"p" * (PAYLOAD - len(MAGIC) - 8)
        while time.monotonic() < end and not (until and until()):
            t0 = time.monotonic()
            for _ in range(max(1, pps // 50)):
                try:
                    self.tx.sendto(MAGIC + struct.pack(">Q", self.sent) + pad, ("127.0.0.1", self.port))
                except OSError:
                    continue  # ENOBUFS: not sent, not counted
                self.times.append(time.monotonic())
                self.sent += 1
            try:
                while True:
                    self.rx.recv(2048)
            except BlockingIOError:
                pass
            time.sleep(max(0.0, 0.02 - (time.monotonic() - t0)))  # pacing the generator, not synchronisation


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0711", "tmpfs", path], check=True)


def write_config(path, buffer_dir, port, udp_port, max_bytes, retry_max="2s"):
    with open(path, "w") as f:
        json.dump({"device": {"id": DEVICE},
                   "capture": {"interface": "lo", "filter": f"udp and dst port {udp_port}",
                               "chunk_max_bytes": CHUNK, "chunk_max_age": "1s", "chunk_idle": "300ms"},
                   "buffer": {"dir": buffer_dir, "max_bytes": max_bytes},
                   "upload": {"collectors": [f"http://127.0.0.1:{port}"], "retry_base": "200ms",
                              "retry_max": retry_max, "heartbeat_interval": "1s"}}, f)


def delivered_packets(base):
    """{packet number: count} over every chunk the collector stored, and the chunk list."""
    chunks = json.loads(http_get(f"{base}/v1/devices/{DEVICE}/chunks?limit=100000", timeout=10))
    seen = {}
    for c in chunks:
        data = http_get(f"{base}/v1/devices/{DEVICE}/chunks/{c['seq']}", timeout=10)
        for frame in pcap_frames(data):
            at = frame.find(MAGIC)
            if at >= 0:
                n = struct.unpack(">Q", frame[at + len(MAGIC):at + len(MAGIC) + 8])[0]
                seen[n] = seen.get(n, 0) + 1
    return seen, chunks


def worker_degraded(base):
    """worker.degraded of the newest heartbeat the collector has (None when absent)."""
    doc = json.loads(http_get(f"{base}/v1/devices/{DEVICE}/status", timeout=5))
    return ((doc.get("heartbeat") or {}).get("worker") or {}).get("degraded")


def accounted(db):
    """Packets the buffer can account for: in any committed chunk, or counted lost or dropped."""
    return query(db, "SELECT COALESCE(SUM(packets + lost_packets + kernel_drops + interface_drops), 0) "
                     "FROM chunks")[0][0]


def accounting(db, sent):
    """The buffer's account of `sent` packets, for a failure message."""
    row = query(db, "SELECT COALESCE(SUM(packets), 0), COALESCE(SUM(lost_packets), 0), "
                    "COALESCE(SUM(kernel_drops + interface_drops), 0), COUNT(*), "
                    "COALESCE(SUM(state = 0), 0) FROM chunks")[0]
    return (f"sent {sent}, in chunks {row[0]}, lost {row[1]}, drops {row[2]} "
            f"({row[3]} chunk rows, {row[4]} pending)")


def wait_accounted(db, tx, what, timeout, check):
    """Waits for check(db, sent); the timeout names the buffer's account of the packets."""
    try:
        wait_for(what, lambda: check(db, tx.sent), timeout)
    except AssertionError as e:
        raise AssertionError(f"{e}: {accounting(db, tx.sent)}") from None


def settled(db, sent):
    """Every packet sent is in a committed chunk or counted, and nothing waits for upload."""
    return accounted(db) >= sent and query(db, "SELECT COUNT(*) FROM chunks WHERE state = 0")[0][0] == 0


def orphan_files(buffer_dir, db):
    known = {r[0] for r in query(db, "SELECT file FROM chunks WHERE state IN (0, 2)")}
    chunk_dir = os.path.join(buffer_dir, "chunks")
    return [n for n in os.listdir(chunk_dir)
            if not n.startswith(".") and os.path.join(chunk_dir, n) not in known]


def run_abc(picketd, picket, work, procs, failures, figures):
    mnt = os.path.join(work, "small")
    mount_tmpfs(mnt, "8m")
    try:
        return abc_on(picketd, picket, work, mnt, procs, failures, figures)
    finally:
        procs.stop_all()
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def abc_on(picketd, picket, work, mnt, procs, failures, figures):
    buffer_dir = os.path.join(mnt, "buffer")
    db = os.path.join(buffer_dir, "buffer.db")
    port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    cfg = os.path.join(work, "abc.json")
    write_config(cfg, buffer_dir, port, udp_port, 64 << 20)
    picketd_proc = procs.start([picketd, "run", "--config", cfg], "picketd")
    wait_for("capture", lambda: "capturing" in procs.log_text(), 30)
    tx = Sender(udp_port)

    # A: collector down, about 2.5x the filesystem in traffic.
    tx.send_for(12, 2000, until=lambda: tx.sent >= 20000)
    wait_accounted(db, tx, "every packet in a chunk or counted", 20, lambda d, n: accounted(d) >= n)
    evicted_a = counter(db, "chunks_evicted")
    committed_a = query(db, "SELECT COUNT(*) FROM chunks WHERE state = 0")[0][0]
    collector = start_collector(procs, picket, work)
    target = collector.strip().split("//")[-1].rstrip("/").rsplit(":", 1)
    t_up = time.monotonic()
    proxy = CountingProxy(port, (target[0], int(target[1])))
    try:
        wait_for("every committed chunk delivered", lambda: query(
            db, "SELECT COUNT(*) FROM chunks WHERE state = 0")[0][0] == 0, 60)
        delivery_s = time.monotonic() - t_up
        max_a, statuses_a = proxy.max_per_item()
        figures.append(f"A: {tx.sent} packets with the collector down on an 8 MiB tmpfs; {evicted_a} chunks "
                       f"evicted (disk full: {counter(db, 'chunks_evicted_disk_full')}), {committed_a} pending; "
                       f"all delivered {delivery_s:.1f} s after the collector started; max requests per item "
                       f"{max_a}; answers {statuses_a}")
        if delivery_s > 10:
            failures.append(f"A: committed chunks delivered only {delivery_s:.1f} s after the collector started")
        if max_a > MAX_REQUESTS:
            failures.append(f"A: an item was sent {max_a} times (bound {MAX_REQUESTS})")
        if evicted_a == 0:
            failures.append("A: nothing evicted although the traffic was larger than the filesystem")

        # B: the disk filled by another file while traffic flows.
        filler = os.path.join(mnt, "filler")
        sent_b0 = tx.sent
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for _ in range(4096):  # 256 MiB at most; the tmpfs is 8 MiB
                os.write(fd, b"\0" * (64 << 10))
        except OSError:
            pass  # ENOSPC: the filesystem is full
        finally:
            os.close(fd)
        tx.send_for(6, 1500)
        degraded_seen = "degraded: disk full" in procs.log_text()
        status_degraded = wait_for("worker.degraded in the heartbeat", lambda: worker_degraded(collector), 15, 0.2)
        paused_lost = query(db, "SELECT COALESCE(SUM(lost_packets), 0) FROM chunks")[0][0]
        os.unlink(filler)
        t_free = time.monotonic()
        # No packet comes after the loss to carry it: a loss record (a chunk without packets) must.
        wait_accounted(db, tx, "the full disk's losses reported with no traffic after them", 20,
                       lambda d, n: accounted(d) >= n)
        loss_record_s = time.monotonic() - t_free
        mark = tx.sent
        tx.send_for(4, 1500)
        after = tx.sent
        wait_accounted(db, tx, "chunks after the filler went", 30, settled)
        wait_for("worker.degraded gone from the heartbeat", lambda: worker_degraded(collector) is None, 15, 0.2)
        seen, _ = delivered_packets(collector)
        resumed = sum(1 for n in range(mark, after) if tx.times[n] - t_free > 2.0 and n in seen)
        figures.append(f"B: disk filled by a file during {mark - sent_b0} packets; worker said 'degraded: disk full': "
                       f"{degraded_seen} (heartbeat worker.degraded={status_degraded!r}, gone after); its losses accounted {loss_record_s:.1f} s after the "
                       f"removal with no traffic; after removal {resumed} of the packets sent >2 s later delivered")
        if resumed == 0:
            failures.append("B: capture did not resume after the filler was removed")
        if not degraded_seen:
            failures.append("B: the worker never reported 'degraded: disk full'")

        # C: the database locked for 10 s by another process.
        lock = sqlite3.connect(db, timeout=30, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        t_lock = time.monotonic()
        tx.send_for(10, 1500)
        lock.execute("ROLLBACK")
        lock.close()
        t_unlock = time.monotonic()
        mark = tx.sent
        tx.send_for(5, 1500)
        after = tx.sent
        try:
            wait_accounted(db, tx, "every packet delivered or counted", 30, settled)
        except AssertionError as e:
            failures.append(f"C: {e}")
        procs.stop(picketd_proc)
    finally:
        proxy.close()
    seen, chunks = delivered_packets(collector)
    late = [n for n in range(mark, after) if tx.times[n] - t_unlock > 2.0]
    late_missing = [n for n in late if n not in seen]
    dup = sum(1 for v in seen.values() if v > 1)
    _, statuses = proxy.max_per_item()
    orphans = orphan_files(buffer_dir, db)
    rows = query(db, "SELECT COALESCE(SUM(CASE WHEN state = 3 THEN packets ELSE 0 END), 0), "
                     "COALESCE(SUM(lost_packets), 0), COALESCE(SUM(kernel_drops + interface_drops), 0), "
                     "COALESCE(SUM(CASE WHEN state = 1 THEN packets ELSE 0 END), 0), "
                     "COALESCE(SUM(CASE WHEN state = 2 THEN packets ELSE 0 END), 0) FROM chunks")[0]
    evicted_p, lost, drops, uploaded_p, dead_p = rows
    total = len(seen) + evicted_p + lost + drops + dead_p
    # Loss records: chunks without packets that report losses no other chunk could carry.
    loss_records = [c for c in chunks if c["packets"] == 0]
    figures.append(f"C: lock held {t_unlock - t_lock:.1f} s; of {len(late)} packets sent >2 s after it, "
                   f"{len(late) - len(late_missing)} delivered; duplicates {dup}; answers {statuses}; "
                   f"orphan files {len(orphans)}; commit failures logged "
                   f"{procs.log_text().count('sealed chunk not committed')}")
    figures.append(f"sum: sent {tx.sent} = delivered {len(seen)} + evicted {evicted_p} + lost {lost} + "
                   f"drops {drops} + dead {dead_p} -> {total}; uploaded rows hold {uploaded_p} packets; "
                   f"{len(chunks)} chunks at the collector, {len(loss_records)} of them loss records")
    if late_missing:
        failures.append(f"C: {len(late_missing)} packets sent >2 s after the lock ended are missing")
    if dup:
        failures.append(f"{dup} packets delivered more than once")
    if statuses.get(409):
        failures.append(f"{statuses[409]} uploads answered 409 (a seq reused)")
    if orphans:
        failures.append(f"files without a committed row: {orphans[:5]}")
    if total != tx.sent:
        failures.append(f"sum: delivered+evicted+lost+drops+dead = {total}, sent {tx.sent}")
    empty = [c["seq"] for c in loss_records if not c["lost_packets"]]
    if empty:
        failures.append(f"chunks without packets that report no loss: seqs {empty[:5]}")
    if uploaded_p != len(seen):
        failures.append(f"uploaded rows hold {uploaded_p} packets, the collector has {len(seen)}")


def run_budget(picketd, work, procs, seconds, failures, figures):
    """D: max_bytes at 90% of a 16 MiB filesystem, traffic over budget, collector down."""
    mnt = os.path.join(work, "budget")
    size = 16 << 20
    mount_tmpfs(mnt, str(size))
    try:
        buffer_dir = os.path.join(mnt, "buffer")
        db = os.path.join(buffer_dir, "buffer.db")
        port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
        cfg = os.path.join(work, "budget.json")
        write_config(cfg, buffer_dir, port, udp_port, size * 9 // 10)
        procs.start([picketd, "run", "--config", cfg], "picketd-budget")
        wait_for("capture", lambda: "capturing" in procs.log_text(), 30)
        tx = Sender(udp_port)
        min_free = size
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            tx.send_for(1, 2500)
            st = os.statvfs(mnt)
            min_free = min(min_free, st.f_bavail * st.f_frsize)
        log = procs.log_text()
        enospc = log.count("No space left") + log.count("disk is full")
        evicted = counter(db, "chunks_evicted")
        full = counter(db, "chunks_evicted_disk_full")
        lost = query(db, "SELECT COALESCE(SUM(lost_packets), 0) FROM chunks")[0][0]
        figures.append(f"D: {seconds} s, {tx.sent} packets (~{tx.sent * PAYLOAD >> 20} MiB) into max_bytes "
                       f"{size * 9 // 10} on a {size >> 20} MiB tmpfs: ENOSPC messages {enospc}, evicted {evicted} "
                       f"(of them disk full {full}), lost {lost}, least free {min_free} B")
        if enospc:
            failures.append(f"D: {enospc} ENOSPC / disk-full messages within the budget")
        if full:
            failures.append(f"D: {full} chunks evicted for a full disk although max_bytes is 90%")
        if evicted == 0:
            failures.append("D: nothing evicted although the traffic was over budget")
    finally:
        procs.stop_all()
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    seconds = int(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else \
        int(os.environ.get("PICKET_DISK_FULL_SECONDS", "30"))
    if (code := root_or_skip()) is not None:
        return code
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="picket-full-")
    os.chmod(work, 0o711)
    failures, figures = [], []
    try:
        procs = Processes(os.path.join(work, "processes.log"))
        try:
            run_abc(picketd, picket, work, procs, failures, figures)
        except AssertionError as e:  # a wait that timed out: report it, still run D
            failures.append(f"A-C: {e}")
        procs = Processes(os.path.join(work, "processes-budget.log"))
        run_budget(picketd, work, procs, seconds, failures, figures)
        return report(failures, figures, t_start)
    finally:
        remove_unless_kept(work)


if __name__ == "__main__":
    sys.exit(main())
