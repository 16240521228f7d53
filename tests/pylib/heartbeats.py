#!/usr/bin/env python3
"""Synthetic device heartbeats for tests and benchmarks (POST /v1/devices/{id}/status).

    tokens = write_tokens(path, device_ids(1000), operator_token="op")   # before the collector starts
    fleet = HeartbeatFleet(base_url, tokens)
    fleet.beat_all()            # one heartbeat per device, counters moving
    fleet.run(duration_s=60, interval_s=5)   # every device every interval, bounded

As a program it seeds a running collector:
    heartbeats.py --url http://127.0.0.1:8750 --tokens FILE --devices 1000 --rounds 3
(--write-tokens FILE writes the tokens file for --devices N and exits; start the collector
with it). Loopback only: the URL must name 127.0.0.0/8 or ::1.

Counters move as a device capturing `pps` packets/s would: packets, bytes_captured,
kernel_drops (a small share), uploads; bytes_pending wobbles. Device i of N is deterministic
(seeded by its id), so two runs post the same documents."""
import argparse, http.client, ipaddress, json, os, random, secrets, sys, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import write_private, write_tokens_file  # noqa: E402

MAX_DEVICES = 100_000


def device_ids(n, prefix="hb"):
    if not 0 < n <= MAX_DEVICES:
        raise ValueError(f"devices: 1..{MAX_DEVICES}, got {n}")
    width = len(str(n))
    return [f"{prefix}-{i:0{width}d}" for i in range(n)]


def write_tokens(path, ids, operator_token=None, admin_token=None):
    """Writes a tokens file (hashes, mode 0600) for the devices (+ '@operator', '@admin') and
    the plaintext '<id> <token>' lines to PATH.plain (0600, for the load generator); returns
    {id: token}."""
    tokens = {d: secrets.token_hex(16) for d in ids}
    lines = [f"{d} {t}" for d, t in tokens.items()]
    if operator_token:
        lines.append(f"@operator {operator_token}")
    if admin_token:
        lines.append(f"@admin {admin_token}")
    write_tokens_file(path, "\n".join(lines) + "\n")
    write_private(path + ".plain", "\n".join(lines) + "\n")
    return tokens


def read_tokens(path):
    """{id: token} from the PATH.plain that write_tokens left beside the tokens file."""
    tokens = {}
    with open(path + ".plain") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and not parts[0].startswith("@"):
                tokens[parts[0]] = parts[1]
    return tokens


def loopback_only(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost" or ipaddress.ip_address(host).is_loopback:
        return
    raise ValueError(f"{url}: heartbeats go to loopback only")


class SyntheticDevice:
    """One device's heartbeat documents with counters that grow over (wall) time."""

    def __init__(self, device, group="lab", pps=None, interval_ms=5000):
        rng = random.Random(device)
        self.device = device
        self.group = group
        self.pps = pps if pps is not None else rng.randint(50, 5000)
        self.frame = rng.randint(60, 1400)
        self.drop_share = rng.choice([0.0, 0.0, 0.0, 0.001, 0.02])
        self.interval_ms = interval_ms
        self.started_ms = int(time.time() * 1000)
        self.pid = rng.randint(1000, 60000)
        self.rng = rng
        self.seq = 0

    def document(self, now_ms=None):
        now_ms = now_ms or int(time.time() * 1000)
        up_s = max(0.0, (now_ms - self.started_ms) / 1000)
        packets = int(self.pps * up_s)
        drops = int(packets * self.drop_share)
        uploaded = int(packets * self.frame * 0.98)
        self.seq += 1
        return {
            "device": self.device, "group": self.group, "picketd": "0.0.0-synthetic",
            "pid": self.pid, "started_at_ms": self.started_ms, "uptime_s": int(up_s),
            "sent_at_ms": now_ms, "interval_ms": self.interval_ms,
            "config": {"source": "zookeeper", "applied_version": 3, "desired_version": 3, "refused": None},
            "worker": {"state": "running", "pid": self.pid + 1, "starts": 1, "unexpected_exits": 0,
                       "crash_loop": False},
            "last_error": None,
            "zookeeper": {"configured": False, "connected": False},
            "counters": {
                "packets": packets, "lost_packets": 0, "kernel_drops": drops, "if_drops": 0,
                "bytes_captured": packets * self.frame, "chunks_pending": self.rng.randint(0, 3),
                "batches_pending": 0, "bytes_pending": self.rng.randint(0, 8 << 20),
                "oldest_pending_age_s": self.rng.randint(0, 10), "chunks_evicted": 0,
                "bytes_evicted": 0, "chunks_dead": 0, "batches_dead": 0,
                "uploads_ok": self.seq, "uploads_failed": 0, "uploads_dead": 0,
                "bytes_uploaded": uploaded},
            "disk": {"path": "/var/lib/picketd", "free_bytes": 30 << 30, "total_bytes": 64 << 30},
            "scan": [],
        }


class HeartbeatFleet:
    """N synthetic devices posting to one collector over keep-alive connections (one per
    `connections`, devices spread over them)."""

    def __init__(self, base_url, tokens, interval_ms=5000, connections=4, timeout=10):
        loopback_only(base_url)
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port, self.base = u.hostname, u.port, u.path.rstrip("/")
        self.tokens = dict(tokens)
        self.devices = [SyntheticDevice(d, interval_ms=interval_ms) for d in sorted(self.tokens)]
        self.timeout = timeout
        self.conns = [None] * max(1, connections)
        self.sent = 0
        self.failures = []

    def _conn(self, i):
        if self.conns[i] is None:
            self.conns[i] = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conns[i]

    def post(self, dev, doc=None, slot=0):
        """Posts one heartbeat; returns (status, body)."""
        body = json.dumps(doc or dev.document()).encode()
        headers = {"Authorization": f"Bearer {self.tokens[dev.device]}",
                   "Content-Type": "application/json"}
        path = f"{self.base}/v1/devices/{dev.device}/status"
        for attempt in (0, 1):  # a keep-alive connection the server closed: reconnect once
            conn = self._conn(slot)
            try:
                conn.request("POST", path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                self.sent += 1
                if r.status != 200:
                    self.failures.append((dev.device, r.status, data[:200]))
                return r.status, data
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                self.conns[slot] = None
                if attempt:
                    raise

    def beat_all(self):
        for i, dev in enumerate(self.devices):
            self.post(dev, slot=i % len(self.conns))

    def run(self, duration_s, interval_s=5.0, max_beats=None):
        """Every device once per interval_s (spread evenly) until duration_s passes or max_beats
        were sent; returns how many were sent. Bounded in time and count."""
        n = len(self.devices)
        gap = interval_s / n
        start = time.monotonic()
        limit = max_beats if max_beats is not None else int(duration_s / interval_s * n) + n
        sent = 0
        while sent < limit:
            due = start + sent * gap
            now = time.monotonic()
            if due - start >= duration_s:
                break
            if due > now:
                time.sleep(due - now)  # pacing the offered load, not synchronisation
            dev = self.devices[sent % n]
            self.post(dev, slot=sent % len(self.conns))
            sent += 1
        return sent

    def close(self):
        for c in self.conns:
            if c is not None:
                c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--tokens", help="tokens file to read (device lines)")
    ap.add_argument("--write-tokens", help="write a tokens file for --devices N and exit")
    ap.add_argument("--operator-token", help="with --write-tokens: add '@operator TOKEN'")
    ap.add_argument("--admin-token", help="with --write-tokens: add '@admin TOKEN'")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=1, help="heartbeats per device (at most 1000)")
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between a device's beats")
    a = ap.parse_args()
    ids = device_ids(a.devices)
    if a.write_tokens:
        write_tokens(a.write_tokens, ids, a.operator_token, a.admin_token)
        print(f"wrote {len(ids)} device tokens to {a.write_tokens}")
        return 0
    if not a.url or not a.tokens:
        ap.error("--url and --tokens are required (or --write-tokens)")
    tokens = read_tokens(a.tokens)
    tokens = {d: tokens[d] for d in ids if d in tokens}
    if not tokens:
        ap.error(f"{a.tokens} has none of the devices {ids[0]}..{ids[-1]}")
    fleet = HeartbeatFleet(a.url, tokens, interval_ms=int(a.interval * 1000))
    rounds = min(max(a.rounds, 1), 1000)
    sent = fleet.run(duration_s=rounds * a.interval, interval_s=a.interval, max_beats=rounds * len(tokens))
    fleet.close()
    print(f"sent {sent} heartbeats for {len(tokens)} devices; {len(fleet.failures)} failed")
    for f in fleet.failures[:5]:
        print("  ", f)
    return 1 if fleet.failures else 0


if __name__ == "__main__":
    sys.exit(main())
