#!/usr/bin/env python3
"""ZooKeeper stopped for 30 s while traffic flows and a shared scan job runs:
capture, the claimed scan and buffering go on; no chunk and no result is
lost; the status node and the claim (or the shard's done node) come back
once ZooKeeper does, without a restart of picketd.

usage: zk_outage_test.py PICKETD PICKET [--outage SECONDS]
Root (live capture); skips without root or ZooKeeper unless CI=true."""
import argparse, json, os, random, socket, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import (report, http_get, open_listeners, pcap_frames, remove_unless_kept, root_or_skip)  # noqa: E402
from servers import (Processes, ZooKeeper, read_json, skip_code, start_collector, wait_for,
                     zookeeper_missing)  # noqa: E402

ROOT = "/picket-outage"
DEVICE = "gw-1"
UDP_PORT = 47101
MAGIC = b"PKTOUTAGE"
HOSTS = [f"127.0.104.{i}" for i in range(1, 16)]
PORTS = (22300, 22479)          # 15 x 180 = 2700 probes at 60 pps: 45 s


def sender(stop, sent):
    """Numbered UDP packets at ~500 pps until told to stop (bounded: 100,000 at most)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        n = 0
        next_at = time.monotonic()
        while not stop.is_set() and n < 100_000:
            s.sendto(MAGIC + b"%08d" % n, ("127.0.0.1", UDP_PORT))
            n += 1
            next_at += 0.002
            delay = next_at - time.monotonic()
            if delay > 0:
                stop.wait(delay)  # pacing the load, not synchronisation
        sent.append(n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picketd")
    ap.add_argument("picket")
    ap.add_argument("--outage", type=float, default=30.0)
    a = ap.parse_args()
    if (code := root_or_skip()) is not None:
        return code
    if reason := zookeeper_missing():
        return skip_code(reason)
    work = tempfile.mkdtemp(prefix="picket-outage-")
    os.chmod(work, 0o711)  # picketd's worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    zkserver = ZooKeeper(work)
    sockets, failures = [], []
    stop_traffic = threading.Event()
    sent = []
    traffic = None
    try:
        zkserver.start()
        zk = zkserver.client()
        sockets, truth = open_listeners(HOSTS, PORTS, 8, random.Random(9))
        base = start_collector(procs, a.picket, work)
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump({"device": {"id": DEVICE, "group": "lab"},
                       "capture": {"filter": f"udp port {UDP_PORT}", "chunk_max_age": "2s", "chunk_idle": "1s"},
                       "buffer": {"dir": os.path.join(work, "buffer")},
                       "upload": {"collectors": [base], "retry_base": "100ms", "retry_max": "1s"},
                       "zookeeper": zkserver.device_section(ROOT, session_timeout_ms=4000)}, f)
        daemon = procs.start([a.picketd, "run", "--config", cfg])
        status_path = f"{ROOT}/devices/{DEVICE}/status"
        wait_for("worker running", lambda: (read_json(zk, status_path) or {}).get("worker", {}).get("state") == "running", 30)
        traffic = threading.Thread(target=sender, args=(stop_traffic, sent))
        traffic.start()
        zk.create(f"{ROOT}/jobs/outage", json.dumps({
            "targets": f"{HOSTS[0]}-{HOSTS[-1]}", "ports": f"{PORTS[0]}-{PORTS[1]}", "rate_pps": 60,
            "mode": "connect", "wait_ms": 500, "retries": 0, "shards": 1}).encode(), makepath=True)
        wait_for("a checkpoint of the job", lambda: (read_json(zk, f"{ROOT}/jobs/outage/progress/0") or {})
                 .get("checkpoint", 0) > 0, 30)
        zk.stop()
        zkserver.stop()
        outage_start = time.monotonic()
        print(f"ZooKeeper stopped for {a.outage:.0f} s")
        while time.monotonic() - outage_start < a.outage:  # the outage itself, not a synchronisation
            if daemon.poll() is not None:
                failures.append("picketd exited while ZooKeeper was down")
                break
            time.sleep(0.5)
        zkserver.start()
        zk = zkserver.client()
        back = time.monotonic()
        back_ms = time.time() * 1000
        status = wait_for("a status update after ZooKeeper returned",
                          lambda: (lambda s: s.get("updated_at_ms", 0) >= back_ms and s)(read_json(zk, status_path) or {}), 30)
        print(f"status back {time.monotonic() - back:.1f} s after ZooKeeper; pid {status['pid']} "
              f"(picketd {daemon.pid}), sessions {status.get('zk_sessions')}")
        if status["pid"] != daemon.pid:
            failures.append("the status node is not from the running picketd")
        claim = read_json(zk, f"{ROOT}/jobs/outage/claims/0")
        done = read_json(zk, f"{ROOT}/jobs/outage/done/0")
        print(f"after the outage: claim {claim}, done {done}")
        done = wait_for("the job's shard done", lambda: read_json(zk, f"{ROOT}/jobs/outage/done/0"), 90)
        stop_traffic.set()
        traffic.join()
        rows = wait_for("every open port at the collector",
                        lambda: (lambda r: {(x["ip"], x["port"]) for x in r} >= truth and r)(
                            json.loads(http_get(f"{base}/v1/results?job=outage&limit=100000"))), 30)
        found = {(x["ip"], x["port"]) for x in rows}
        if found != truth:
            failures.append(f"results differ from the truth: {sorted(found ^ truth)}")

        def all_packets():
            chunks = json.loads(http_get(f"{base}/v1/devices/{DEVICE}/chunks"))
            return sum(c["packets"] for c in chunks) >= sent[0] and chunks
        chunks = wait_for("every packet at the collector", all_packets, 60)
        seqs = sorted(c["seq"] for c in chunks)
        seen = {}
        for c in chunks:
            for frame in pcap_frames(http_get(f"{base}/v1/devices/{DEVICE}/chunks/{c['seq']}")):
                i = frame.find(MAGIC)
                if i >= 0:
                    n = int(frame[i + len(MAGIC):i + len(MAGIC) + 8])
                    seen[n] = seen.get(n, 0) + 1
        missing_n = sent[0] - len(seen)
        dups = sum(v - 1 for v in seen.values())
        print(f"{sent[0]} packets sent, {len(seen)} at the collector in {len(chunks)} chunks "
              f"(seq {seqs[0]}..{seqs[-1]}), {missing_n} missing, {dups} duplicated; "
              f"results {len(found)}/{len(truth)}; shard done by {done['device']}")
        if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
            failures.append(f"chunk seqs not continuous: {seqs}")
        if missing_n or dups:
            failures.append(f"{missing_n} packets missing, {dups} duplicated")
        zk.stop()
    except AssertionError as e:
        failures.append(str(e))
    finally:
        stop_traffic.set()
        if traffic:
            traffic.join()
        if failures:
            print(procs.log_text()[-5000:])
        procs.stop_all()
        zkserver.stop()
        for s in sockets:
            s.close()
        remove_unless_kept(work)
    return report(failures)


if __name__ == "__main__":
    sys.exit(main())
