#!/usr/bin/env python3
"""Heartbeats end to end on loopback (config/README.md "Heartbeats").

Part 1, the wire: picketd's collector is a recorder on 127.0.0.1 that takes chunks and logs
like the collector and keeps every request. Device gw-hb (heartbeat_interval 1s) must POST its
status document to /v1/devices/gw-hb/status about once a second, with its bearer token, as
application/json and without an Idempotency-Key, and the counters in it must move with the
traffic we send (packets, bytes_captured, uploads_ok), and a killed worker must not reset them.
Device gw-quiet (heartbeat_interval 0s) uploads its chunks to the same recorder and never sends
one.

Part 2, the real collector (`picket collector --tokens`): the heartbeats of device gw-live reach
it past the device-token check (its request log), and GET /v1/devices/gw-live/status (operator
token) shows the newest one, whose counters move.

usage: heartbeat_test.py PICKETD PICKET
Needs root (live capture on lo); skips without it unless CI=true."""
import argparse, gzip, http.server, json, os, signal, socket, statistics, sys, tempfile, threading, time
import urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import http_get, remove_unless_kept, report, request_body, root_or_skip  # noqa: E402
from servers import Processes, WaitTimeout, wait_for, write_private, write_tokens_file  # noqa: E402

PORTS = {"gw-hb": 39141, "gw-quiet": 39142, "gw-live": 39143}  # UDP, 127.0.0.1, ours only
PAYLOAD = b"picket-heartbeat-e2e " + b"x" * 79                   # 100 bytes
COUNTERS = ("packets", "lost_packets", "kernel_drops", "if_drops", "bytes_captured",
            "chunks_pending", "batches_pending", "bytes_pending", "oldest_pending_age_s",
            "chunks_evicted", "bytes_evicted", "chunks_dead", "batches_dead",
            "uploads_ok", "uploads_failed", "uploads_dead", "bytes_uploaded")
MAX_REQUESTS = 20_000  # the recorder keeps at most this many (bounded memory)


class Recorder(http.server.ThreadingHTTPServer):
    """A stand-in collector: 201 for chunk PUTs, 200 for everything POSTed; keeps each request."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RecorderHandler)
        self.lock = threading.Lock()
        self.requests = []  # (monotonic s, method, path, headers dict, body bytes)
        self.zstd_refused = 0  # zstd bodies answered 415

    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def statuses(self, device):
        with self.lock:
            return [r for r in self.requests
                    if r[1] == "POST" and r[2] == f"/v1/devices/{device}/status"]

    def chunk_puts(self, device):
        with self.lock:
            return [r for r in self.requests if r[1] == "PUT" and r[2].startswith(f"/v1/devices/{device}/chunks/")]


class RecorderHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as libcurl expects

    def log_message(self, *args):
        pass

    def _body(self):
        body = request_body(self)
        if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
            body = gzip.decompress(body)
        return body

    def _answer(self, code, doc):
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self):
        body = self._body()
        with self.server.lock:
            if len(self.server.requests) < MAX_REQUESTS:
                self.server.requests.append((time.monotonic(), self.command, self.path,
                                             {k.lower(): v for k, v in self.headers.items()}, body))

    def _refused_zstd(self):
        """picketd sends zstd first; like a collector from before zstd, answer 415 (unrecorded):
        its uploaders fall back to gzip, so every body recorded here is readable."""
        if (self.headers.get("Content-Encoding") or "").lower() != "zstd":
            return False
        request_body(self)  # read, so the connection stays usable
        with self.server.lock:
            self.server.zstd_refused += 1
        self._answer(415, {"error": "Content-Encoding 'zstd' is not supported (use gzip)"})
        return True

    def do_PUT(self):
        if self._refused_zstd():
            return
        self._record()
        self._answer(201, {"stored": True})

    def do_POST(self):
        if self._refused_zstd():
            return
        self._record()
        self._answer(200, {"ok": True})


def write_config(work, name, collector, token, heartbeat):
    write_private(os.path.join(work, f"{name}.token"), token + "\n")
    config = {
        "device": {"id": name, "group": "lab"},
        "capture": {"interface": "lo", "filter": f"udp and dst port {PORTS[name]}",
                    "chunk_max_bytes": "1MiB", "chunk_max_age": "2s", "chunk_idle": "1s"},
        "buffer": {"dir": os.path.join(work, f"{name}-buffer")},
        "upload": {"collectors": [collector], "token_file": os.path.join(work, f"{name}.token"),
                   "retry_base": "200ms", "retry_max": "2s", "heartbeat_interval": heartbeat},
        "log": {"ship": False},
    }
    path = os.path.join(work, f"{name}.json")
    with open(path, "w") as f:
        json.dump(config, f)
    return path


def send(name, count):
    """`count` UDP datagrams of PAYLOAD to the device's port (a receiver keeps ICMP away)."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", PORTS[name]))
    rx.setblocking(False)
    with rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in range(count):
            tx.sendto(PAYLOAD, ("127.0.0.1", PORTS[name]))
            if i % 500 == 499:
                try:
                    while True:
                        rx.recv(256)
                except BlockingIOError:
                    pass


def doc_of(request):
    return json.loads(request[4])


def check_document(doc, device, failures):
    """The fields the contract lists; `failures` gets one line per missing or wrong one."""
    for key in ("device", "group", "picketd", "pid", "started_at_ms", "uptime_s", "sent_at_ms",
                "interval_ms", "config", "worker", "last_error", "zookeeper", "counters", "disk"):
        if key not in doc:
            failures.append(f"{device}: heartbeat lacks {key!r}: {sorted(doc)}")
    if doc.get("device") != device or doc.get("group") != "lab":
        failures.append(f"{device}: device/group are {doc.get('device')!r}/{doc.get('group')!r}")
    missing = [k for k in COUNTERS if not isinstance(doc.get("counters", {}).get(k), int)]
    if missing:
        failures.append(f"{device}: counters without an integer {missing}: {doc.get('counters')}")
    if doc.get("zookeeper") != {"configured": False, "connected": False}:
        failures.append(f"{device}: zookeeper is {doc.get('zookeeper')!r}")
    disk = doc.get("disk") or {}
    if not (isinstance(disk.get("total_bytes"), int) and disk["total_bytes"] > 0
            and isinstance(disk.get("free_bytes"), int) and disk["free_bytes"] <= disk["total_bytes"]):
        failures.append(f"{device}: disk is {disk!r}")
    if not disk.get("path", "").endswith(f"{device}-buffer"):
        failures.append(f"{device}: disk.path is {disk.get('path')!r}")


def part_wire(a, work, procs, failures):
    recorder = Recorder()
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    try:
        hb = procs.start([a.picketd, "run", "--config",
                          write_config(work, "gw-hb", recorder.url(), "hb-token", "1s")], "picketd gw-hb")
        quiet = procs.start([a.picketd, "run", "--config",
                             write_config(work, "gw-quiet", recorder.url(), "quiet-token", "0s")],
                            "picketd gw-quiet")
        wait_for("both workers capturing", lambda: procs.log_text().count("capturing") >= 2, 30)
        first = wait_for("a first heartbeat from gw-hb", lambda: recorder.statuses("gw-hb"), 20)[0]
        # The status document compresses: it came as gzip after a zstd attempt the recorder refused.
        if first[3].get("content-encoding") == "gzip" and recorder.zstd_refused == 0:
            failures.append("gw-hb: a gzip heartbeat without a zstd attempt first (default encoding zstd)")
        for name, value in (("authorization", "Bearer hb-token"), ("content-type", "application/json")):
            if first[3].get(name) != value:
                failures.append(f"gw-hb: heartbeat header {name} is {first[3].get(name)!r}, not {value!r}")
        if "idempotency-key" in first[3]:
            failures.append("gw-hb: a heartbeat carries an Idempotency-Key")
        check_document(doc_of(first), "gw-hb", failures)

        # Counters move: traffic for both devices, then a heartbeat that has seen all of gw-hb's.
        before = doc_of(recorder.statuses("gw-hb")[-1])["counters"]
        packets = 3000
        send("gw-hb", packets)
        send("gw-quiet", 500)

        def moved():
            for r in recorder.statuses("gw-hb"):
                c = doc_of(r)["counters"]
                if (c["packets"] >= before["packets"] + packets and c["uploads_ok"] > before["uploads_ok"]):
                    return c
            return None
        try:
            after = wait_for("gw-hb heartbeat counting the traffic and its upload", moved, 30)
            if after["bytes_captured"] < before["bytes_captured"] + packets * (len(PAYLOAD) + 28):
                failures.append(f"gw-hb: bytes_captured {after['bytes_captured']} for {packets} packets")
            if after["bytes_uploaded"] <= before["bytes_uploaded"]:
                failures.append(f"gw-hb: bytes_uploaded did not grow: {after}")
        except WaitTimeout as e:
            last = recorder.statuses("gw-hb")
            failures.append(f"{e}; last counters {doc_of(last[-1])['counters'] if last else None}")
        wait_for("gw-quiet's chunks at the recorder", lambda: recorder.chunk_puts("gw-quiet"), 30)

        # Cumulative since the daemon started: a worker killed and restarted counts on from there.
        worker = doc_of(recorder.statuses("gw-hb")[-1])["worker"]
        os.kill(worker["pid"], signal.SIGKILL)

        def restarted():
            for r in reversed(recorder.statuses("gw-hb")):
                d = doc_of(r)
                if d["worker"].get("starts", 0) > worker["starts"] and d["worker"].get("state") == "running":
                    return d
            return None
        try:
            total = wait_for("gw-hb's worker running again", restarted, 30)["counters"]["packets"]
            if total < before["packets"] + packets:
                failures.append(f"gw-hb: packets went back to {total} after a worker restart")
            send("gw-hb", 1000)
            wait_for("gw-hb counting on after the restart",
                     lambda: any(doc_of(r)["counters"]["packets"] >= before["packets"] + packets + 1000
                                 for r in recorder.statuses("gw-hb")), 30)
        except WaitTimeout as e:
            failures.append(str(e))

        # About one a second, fresh each time.
        wait_for("8 heartbeats from gw-hb", lambda: len(recorder.statuses("gw-hb")) >= 8, 30)
        beats = recorder.statuses("gw-hb")
        gaps = [b[0] - a_[0] for a_, b in zip(beats, beats[1:])]
        sent = [doc_of(b)["sent_at_ms"] for b in beats]
        print(f"gw-hb: {len(beats)} heartbeats, gap median {statistics.median(gaps):.3f}s "
              f"min {min(gaps):.3f}s max {max(gaps):.3f}s, body {len(beats[-1][4])} B")
        if not 0.8 <= statistics.median(gaps) <= 1.3:
            failures.append(f"gw-hb: median gap between heartbeats {statistics.median(gaps):.3f}s, not ~1s")
        if sent != sorted(sent) or len(set(sent)) != len(sent):
            failures.append(f"gw-hb: sent_at_ms not strictly increasing: {sent}")
        if any(doc_of(b)["interval_ms"] != 1000 for b in beats):
            failures.append("gw-hb: interval_ms is not 1000")
        if doc_of(beats[-1])["worker"].get("state") != "running":
            failures.append(f"gw-hb: worker is {doc_of(beats[-1])['worker']}")
        if recorder.statuses("gw-quiet"):
            failures.append(f"gw-quiet (heartbeat_interval 0s) sent {len(recorder.statuses('gw-quiet'))} heartbeats")
        for p in (hb, quiet):
            code, _ = procs.stop(p)
            if code != 0:
                failures.append(f"{procs.names[p.pid]} exited {code}")
    finally:
        recorder.shutdown()
        recorder.server_close()


def part_collector(a, work, procs, failures):
    tokens = os.path.join(work, "tokens")
    write_tokens_file(tokens, "gw-live live-token\n@operator op-token\n")
    ready = os.path.join(work, "collector.url")
    procs.start([a.picket, "collector", "--listen", "127.0.0.1:0", "--data",
                 os.path.join(work, "collector"), "--tokens", tokens, "--ready-file", ready], "collector")
    base = wait_for("collector ready file", lambda: os.path.exists(ready) and open(ready).read().strip(), 20)
    captures = procs.log_text().count("capturing")
    live = procs.start([a.picketd, "run", "--config",
                        write_config(work, "gw-live", base, "live-token", "1s")], "picketd gw-live")
    wait_for("gw-live's worker capturing", lambda: procs.log_text().count("capturing") > captures, 30)

    # The collector logs every request: the POSTs arrive and pass the device-token check.
    def posted():
        return [line for line in procs.log_text().splitlines()
                if "collector request method=POST path=/v1/devices/gw-live/status " in line]
    try:
        line = wait_for("a heartbeat POST in the collector's request log", posted, 20)[0]
        if " status=401" in line or " status=403" in line:
            failures.append(f"the collector refused gw-live's device token: {line}")
    except WaitTimeout as e:
        failures.append(str(e))

    def latest():
        try:
            answer = json.loads(http_get(f"{base}/v1/devices/gw-live/status", "op-token"))
        except urllib.error.HTTPError as e:
            if e.code == 501:
                raise AssertionError("the collector answers 501 on GET /v1/devices/{id}/status: "
                                     "its fleet state (helper B) is not in this build") from None
            return None
        return answer.get("heartbeat")
    try:
        first = wait_for("gw-live's heartbeat at the collector", latest, 20)
        check_document(first, "gw-live", failures)
        send("gw-live", 2000)
        moved = wait_for("the collector's newest gw-live heartbeat counting the traffic",
                         lambda: (h := latest()) and h["counters"]["packets"] >= first["counters"]["packets"] + 2000
                         and h["sent_at_ms"] > first["sent_at_ms"] and h, 30)
        print(f"gw-live: collector shows packets {first['counters']['packets']} -> "
              f"{moved['counters']['packets']}, uptime_s {moved['uptime_s']}")
    except (WaitTimeout, AssertionError) as e:
        failures.append(str(e))
    code, _ = procs.stop(live)
    if code != 0:
        failures.append(f"picketd gw-live exited {code}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picketd")
    ap.add_argument("picket")
    a = ap.parse_args()
    if (code := root_or_skip()) is not None:
        return code
    work = tempfile.mkdtemp(prefix="picket-heartbeat-")
    os.chmod(work, 0o711)  # picketd's worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    failures = []
    started = time.monotonic()
    try:
        part_wire(a, work, procs, failures)
        part_collector(a, work, procs, failures)
    except WaitTimeout as e:
        failures.append(str(e))
    finally:
        procs.stop_all()
    print(f"heartbeat e2e: {time.monotonic() - started:.1f}s")
    if failures:
        print("processes log:", os.path.join(work, "processes.log"))
    else:
        remove_unless_kept(work)
    return report(failures)


if __name__ == "__main__":
    sys.exit(main())
