#!/usr/bin/env python3
"""Fault test on loopback, ROUNDS rounds in one run, while traffic flows:
kill -9 the worker, then kill -9 the supervisor (and start it again), then
stop and restart the collector. Afterwards every chunk the worker committed is
at the collector exactly once with the same SHA-256, chunk seqs are
continuous, no packet is duplicated, and the restarts are recorded as gaps.

usage: fault_test.py PICKETD PICKET [--rounds N]
Needs root (live capture); skips without it unless CI=true."""
import argparse, json, os, signal, socket, sqlite3, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import (report, alive, children, http_get, pcap_frames, remove_unless_kept,
                         root_or_skip)  # noqa: E402
from servers import Processes, wait_for, write_private, write_tokens_file  # noqa: E402

PORT = 39124
MAGIC = b"picket-fault "


class Buffer:
    def __init__(self, path):
        self.path = path

    def query(self, sql):
        for _ in range(50):
            try:
                con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
                try:
                    return con.execute(sql).fetchall()
                finally:
                    con.close()
            except sqlite3.OperationalError:
                time.sleep(0.05)  # the database is being created or checkpointed
        raise AssertionError(f"cannot read {self.path}")

    def max_seq(self):
        if not os.path.exists(self.path):
            return 0
        return self.query("SELECT COALESCE(MAX(seq), 0) FROM chunks")[0][0]


def payloads(data):
    for frame in pcap_frames(data):
        i = frame.find(MAGIC)
        if i >= 0:
            yield int(frame[i + len(MAGIC):i + len(MAGIC) + 10])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picketd")
    ap.add_argument("picket")
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    if (code := root_or_skip()) is not None:
        return code

    work = tempfile.mkdtemp(prefix="picket-fault-")
    os.chmod(work, 0o711)  # picketd's worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    stop_traffic = threading.Event()
    sent = [0]

    start = procs.start

    try:
        token, operator = "fault-dev", "fault-op"
        tokens = os.path.join(work, "tokens")
        write_tokens_file(tokens, f"gw-1 {token}\n@operator {operator}\n")
        write_private(os.path.join(work, "token"), token + "\n")
        data_dir = os.path.join(work, "collector")
        ready = os.path.join(work, "collector.url")

        def start_collector(listen):
            if os.path.exists(ready):
                os.unlink(ready)
            p = start([a.picket, "collector", "--listen", listen, "--data", data_dir, "--tokens", tokens,
                       "--ready-file", ready])
            return p, wait_for("collector ready", lambda: os.path.exists(ready) and open(ready).read().strip())

        collector, base = start_collector("127.0.0.1:0")
        listen = base.split("//")[1]

        buffer_dir = os.path.join(work, "buffer")
        config = {
            "device": {"id": "gw-1"},
            "capture": {"interface": "lo", "filter": f"udp and dst port {PORT}", "chunk_max_bytes": "256KiB",
                        "chunk_max_age": "1s", "chunk_idle": "300ms"},
            "buffer": {"dir": buffer_dir},
            "upload": {"collectors": [base], "token_file": os.path.join(work, "token"),
                       "retry_base": "100ms", "retry_max": "1s", "connect_timeout": "1s"},
        }
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump(config, f)
        buf = Buffer(os.path.join(buffer_dir, "buffer.db"))

        def start_picketd():
            p = start([a.picketd, "run", "--config", cfg])
            wait_for("a worker", lambda: children(p.pid))
            return p

        def new_chunk_after(seq):
            return wait_for(f"a chunk after seq {seq}", lambda: buf.max_seq() > seq and buf.max_seq())

        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", PORT))
        rx.setblocking(False)

        def traffic():  # ~4000 pps, bounded in count and time
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            deadline = time.monotonic() + 600
            while not stop_traffic.is_set() and sent[0] < 5_000_000 and time.monotonic() < deadline:
                for _ in range(40):
                    tx.sendto(MAGIC + b"%010d" % sent[0], ("127.0.0.1", PORT))
                    sent[0] += 1
                try:
                    while True:
                        rx.recv(64)
                except BlockingIOError:
                    pass
                time.sleep(0.01)  # pacing the generator, not synchronisation

        sender = threading.Thread(target=traffic)
        picketd = start_picketd()
        sender.start()
        worker_kills = supervisor_kills = collector_restarts = 0
        for r in range(a.rounds):
            seq = new_chunk_after(buf.max_seq())
            worker = children(picketd.pid)[0]
            os.kill(worker, signal.SIGKILL)
            worker_kills += 1
            wait_for("a new worker", lambda: (kids := children(picketd.pid)) and kids[0] != worker)
            seq = new_chunk_after(seq)
            old_worker = children(picketd.pid)[0]
            picketd.send_signal(signal.SIGKILL)
            picketd.wait()
            supervisor_kills += 1
            # The orphaned worker gets SIGTERM from the kernel (parent death), seals and exits.
            wait_for("the orphaned worker to exit", lambda: not alive(old_worker))
            picketd = start_picketd()
            seq = new_chunk_after(seq)
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=30)
            seq = new_chunk_after(seq)  # chunks pile up in the buffer while the collector is down
            collector, _ = start_collector(listen)
            collector_restarts += 1
            print(f"round {r + 1}: chunks committed so far {seq}, packets sent {sent[0]}", flush=True)

        stop_traffic.set()
        sender.join()
        # Stop capture cleanly (the worker seals its open chunk), then let a
        # capture-less daemon upload whatever is still pending.
        picketd.send_signal(signal.SIGTERM)
        picketd.wait(timeout=30)
        config["capture"]["enabled"] = False
        with open(cfg, "w") as f:
            json.dump(config, f)
        drain = start([a.picketd, "run", "--config", cfg])
        wait_for("an empty buffer", lambda: buf.query("SELECT COUNT(*) FROM chunks WHERE state = 0")[0][0] == 0, 120)
        drain.send_signal(signal.SIGTERM)
        drain.wait(timeout=30)

        rows = buf.query("SELECT seq, sha256, packets, state, gap_before_ms FROM chunks ORDER BY seq")
        at_collector = {c["seq"]: c for c in json.loads(http_get(f"{base}/v1/devices/gw-1/chunks?limit=10000",
                                                                 operator))}
        failures = []
        seqs = [r[0] for r in rows]
        if seqs != list(range(1, len(seqs) + 1)):
            failures.append(f"buffer seqs are not continuous: {seqs[:5]}...")
        if sorted(at_collector) != seqs:
            failures.append(f"collector has seqs {sorted(at_collector)[:5]}..., buffer {seqs[:5]}...")
        not_uploaded = [r[0] for r in rows if r[3] != 1]
        if not_uploaded:
            failures.append(f"chunks not uploaded (state != 1): {not_uploaded}")
        wrong_hash = [r[0] for r in rows if r[0] in at_collector and at_collector[r[0]]["sha256"] != r[1]]
        if wrong_hash:
            failures.append(f"chunks whose hash differs at the collector: {wrong_hash}")
        counts = {}
        for seq in at_collector:
            for n in payloads(http_get(f"{base}/v1/devices/gw-1/chunks/{seq}", operator)):
                counts[n] = counts.get(n, 0) + 1
        dups = [n for n, k in counts.items() if k > 1]
        if dups:
            failures.append(f"{len(dups)} packets duplicated, e.g. {dups[:5]}")
        committed_packets = sum(r[2] for r in rows)
        if committed_packets != sum(counts.values()):
            failures.append(f"buffer rows hold {committed_packets} packets, collector chunks {sum(counts.values())}")
        gaps = [r for r in rows if r[4] > 0]
        restarts = worker_kills + supervisor_kills
        if len(gaps) < restarts:
            failures.append(f"only {len(gaps)} chunks record a gap for {restarts} worker restarts")
        lost = sent[0] - len(counts)
        print(f"{a.rounds} rounds: {worker_kills} worker kills, {supervisor_kills} supervisor kills, "
              f"{collector_restarts} collector restarts")
        print(f"sent {sent[0]} packets; {len(rows)} chunks committed (seq 1..{len(rows)}), all at the collector: "
              f"{len(at_collector)}; {sum(counts.values())} packets, {len(dups)} duplicated")
        print(f"{len(gaps)} chunks record a restart gap (total {sum(r[4] for r in gaps)} ms); "
              f"{lost} packets fell into those gaps (sent while no worker was capturing or not yet sealed)")
        return report(failures)
    finally:
        stop_traffic.set()
        procs.stop_all()
        remove_unless_kept(work)


if __name__ == "__main__":
    sys.exit(main())
