#!/usr/bin/env python3
"""End-to-end data path on loopback: picketd captures UDP packets on lo, the
supervisor uploads the chunks, the real collector stores them. Every packet
sent must be in the chunks the collector serves, exactly once, and tshark must
read every chunk.

usage: data_path_test.py PICKETD PICKET [--packets N]
Needs root (live capture); skips without it unless CI=true."""
import argparse, json, os, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import http_get, pcap_frames, remove_unless_kept, root_or_skip  # noqa: E402
from servers import Processes, wait_for, write_private, write_tokens_file  # noqa: E402

PORT = 39123          # UDP destination on 127.0.0.1; only our own packets match the filter
MAGIC = b"picket-e2e "


def payloads(data):
    for frame in pcap_frames(data):
        i = frame.find(MAGIC)
        if i >= 0:
            yield frame[i:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picketd")
    ap.add_argument("picket")
    ap.add_argument("--packets", type=int, default=100_000)
    a = ap.parse_args()
    if (code := root_or_skip()) is not None:
        return code

    work = tempfile.mkdtemp(prefix="picket-e2e-")
    os.chmod(work, 0o711)  # picketd's worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    try:
        device_token, operator_token = "dev-secret-1", "op-secret-1"
        tokens = os.path.join(work, "tokens")
        write_tokens_file(tokens, f"gw-1 {device_token}\n@operator {operator_token}\n")
        ready = os.path.join(work, "collector.url")
        procs.start([a.picket, "collector", "--listen", "127.0.0.1:0", "--data",
                     os.path.join(work, "collector"), "--tokens", tokens, "--ready-file", ready])
        base = wait_for("collector ready file", lambda: os.path.exists(ready) and open(ready).read().strip(), 20)

        write_private(os.path.join(work, "token"), device_token + "\n")
        config = {
            "device": {"id": "gw-1"},
            "capture": {"interface": "lo", "filter": f"udp and dst port {PORT}", "chunk_max_bytes": "1MiB",
                        "chunk_max_age": "5s", "chunk_idle": "1s"},
            "buffer": {"dir": os.path.join(work, "buffer")},
            "upload": {"collectors": [base], "token_file": os.path.join(work, "token"), "retry_base": "200ms",
                       "retry_max": "2s"},
        }
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump(config, f)
        procs.start([a.picketd, "run", "--config", cfg])
        wait_for("worker capturing", lambda: "capturing" in procs.log_text(), 20)

        # A receiver keeps the kernel from answering every datagram with ICMP.
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", PORT))
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        started = time.monotonic()
        for seq in range(a.packets):
            tx.sendto(MAGIC + b"%08d" % seq, ("127.0.0.1", PORT))
            if seq % 2000 == 1999:
                rx.setblocking(False)
                try:
                    while True:
                        rx.recv(64)
                except BlockingIOError:
                    pass
        send_s = time.monotonic() - started

        def collector_packets():
            chunks = json.loads(http_get(f"{base}/v1/devices/gw-1/chunks", operator_token))
            return sum(c["packets"] for c in chunks) >= a.packets and chunks
        chunks = wait_for("all packets at the collector", collector_packets, 120)

        seen = {}
        torn = 0
        for c in chunks:
            data = http_get(f"{base}/v1/devices/gw-1/chunks/{c['seq']}", operator_token)
            path = os.path.join(work, f"chunk-{c['seq']}.pcap")
            with open(path, "wb") as f:
                f.write(data)
            r = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                torn += 1
                print(f"tshark failed on chunk {c['seq']}: {r.stderr.strip()}")
            for payload in payloads(data):
                n = int(payload[len(MAGIC):len(MAGIC) + 8])
                seen[n] = seen.get(n, 0) + 1
        # The daemon ships its own log lines (supervisor and worker) to the collector too.
        def shipped_logs():
            rows = json.loads(http_get(f"{base}/v1/logs?device=gw-1&limit=10000", operator_token))
            return any(" INFO worker capturing " in json.dumps(r) for r in rows) and rows
        logs = wait_for("the worker's log line at the collector", shipped_logs, 30)
        print(f"collector holds {len(logs)} log lines shipped by the daemon")
        seqs = sorted(c["seq"] for c in chunks)
        missing = [n for n in range(a.packets) if n not in seen]
        dups = [n for n, k in seen.items() if k > 1]
        print(f"sent {a.packets} packets in {send_s:.2f}s; collector holds {len(chunks)} chunks "
              f"(seq {seqs[0]}..{seqs[-1]}), {sum(seen.values())} of our packets")
        print(f"missing {len(missing)}, duplicated {len(dups)}, chunks tshark could not read {torn}")
        lost = sum(c.get("lost_packets") or 0 for c in chunks)
        drops = sum((c.get("kernel_drops") or 0) + (c.get("interface_drops") or 0) for c in chunks)
        print(f"drops reported with the chunks: kernel+interface {drops}, lost in the worker {lost}")
        ok = (not missing and not dups and torn == 0 and seqs == list(range(seqs[0], seqs[-1] + 1))
              and all("lost_packets" in c for c in chunks))
        print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
        return 0 if ok else 1
    finally:
        procs.stop_all()
        remove_unless_kept(work)


if __name__ == "__main__":
    sys.exit(main())
