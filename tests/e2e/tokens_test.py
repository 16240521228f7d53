#!/usr/bin/env python3
"""Collector credentials end to end, on loopback over TLS (certificates made here by openssl):

- `picket token add` prints a token once and leaves only its hash in a 0600 file; the
  collector refuses a plaintext tokens file at start, naming file, line and fix;
- SIGHUP reloads the tokens file: a new token works, a removed one gets 401, a broken file
  keeps the old tokens and logs file and line;
- mTLS (--client-ca): a certificate with CN gw-cert authenticates as that device without a
  token, for its own routes only; one from another CA fails the handshake; picketd with
  upload.client_cert/client_key and no token uploads its chunks (root: live capture), then the
  static picketd (curl on mbedTLS) on the same buffer, every datagram stored once;
- --device-disk-quota (a second collector): the device past it gets 429 + Retry-After,
  another device does not, /metrics counts the refusals;
- a restart removes a chunk file without a row (the rename-before-commit crash window) and
  temp files, and keeps the committed chunks.

usage: tokens_test.py PICKETD PICKET [--static-picketd PATH]"""
import argparse, base64, hashlib, http.client, json, os, shutil, signal, socket, ssl, subprocess, sys
import tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import remove_unless_kept, report  # noqa: E402
from servers import Processes, skip_code, wait_for, write_private, write_tokens_file  # noqa: E402

PORT = 39177  # UDP destination on 127.0.0.1 for picketd's capture filter


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(d):
    """A CA, the collector's certificate for 127.0.0.1, a device certificate (CN gw-cert) from
    the CA, and one with the same CN from a CA the collector does not trust."""
    for ca in ("ca", "rogue-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=picket {ca}",
                "-keyout", f"{d}/{ca}.key", "-out", f"{d}/{ca}.pem")

    def leaf(name, ca, subj, ext):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subj, "-keyout", f"{d}/{name}.key",
                "-out", f"{d}/{name}.csr")
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext + "\n")
        openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{ca}.pem", "-CAkey", f"{d}/{ca}.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{d}/{name}.ext", "-out", f"{d}/{name}.pem")
        os.chmod(f"{d}/{name}.key", 0o600)

    leaf("server", "ca", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1")
    leaf("server-other-ip", "ca", "/CN=127.0.0.2", "subjectAltName=IP:127.0.0.2")
    leaf("device", "ca", "/CN=gw-cert", "extendedKeyUsage=clientAuth")
    leaf("rogue", "rogue-ca", "/CN=gw-cert", "extendedKeyUsage=clientAuth")


def tiny_pcap(payload):
    header = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
    return header + bytes(8) + (len(payload)).to_bytes(4, "little") * 2 + payload


class Client:
    def __init__(self, port, ca, cert=None, key=None):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=ca)
        if cert:
            self.ctx.load_cert_chain(cert, key)

    def call(self, method, path, token=None, body=None, headers=None):
        """(status, headers dict, body bytes); raises ssl.SSLError / OSError on a failed handshake."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def put_chunk(self, device, seq, token=None, payload=b"x"):
        body = tiny_pcap(payload)
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        return self.call("PUT", f"/v1/devices/{device}/chunks/{seq}", token, body,
                         {"Digest": f"sha-256={digest}", "Content-Type": "application/vnd.tcpdump.pcap"})


def token_add(picket, owner, tokens):
    r = subprocess.run([picket, "token", "add", owner, "--tokens", tokens], capture_output=True, text=True,
                       timeout=20)
    if r.returncode != 0:
        raise RuntimeError(f"picket token add {owner}: {r.stderr.strip()}")
    return r.stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picketd")
    ap.add_argument("picket")
    ap.add_argument("--static-picketd", help="the static build's picketd, also run over mTLS")
    a = ap.parse_args()
    if shutil.which("openssl") is None:
        return skip_code("openssl is not installed")
    t_start = time.monotonic()
    failures, figures = [], []

    def check(ok, what):
        if not ok:
            failures.append(what)
        return ok

    work = tempfile.mkdtemp(prefix="picket-tokens-")
    os.chmod(work, 0o711)  # the worker, as security.user, reaches its buffer below it
    procs = Processes(os.path.join(work, "processes.log"))
    try:
        make_certs(work)
        tokens = os.path.join(work, "tokens")

        # --- picket token add / hash ---------------------------------------------------
        dev1 = token_add(a.picket, "gw-1", tokens)
        dev2 = token_add(a.picket, "gw-2", tokens)
        op = token_add(a.picket, "@operator", tokens)
        text = open(tokens).read()
        check(oct(os.stat(tokens).st_mode & 0o777) == "0o600", f"tokens file mode {oct(os.stat(tokens).st_mode)}")
        check(len(dev1) == 43 and dev1 != dev2, f"token shape: {dev1!r}")
        check(all(t not in text for t in (dev1, dev2, op)), "a token in plaintext in the tokens file")
        check(f"gw-1 sha256:{hashlib.sha256(dev1.encode()).hexdigest()}" in text, "gw-1's hash line")
        hashed = subprocess.run([a.picket, "token", "hash", "gw-1"], input=dev1 + "\n", capture_output=True,
                                text=True, timeout=20)
        check(hashed.stdout.strip() == f"gw-1 sha256:{hashlib.sha256(dev1.encode()).hexdigest()}",
              f"picket token hash: {hashed.stdout!r} {hashed.stderr!r}")
        migrated = subprocess.run([a.picket, "token", "hash"], input="# old\ngw-9 plain-9\n@admin plain-a\n",
                                  capture_output=True, text=True, timeout=20)
        check(migrated.returncode == 0 and "plain-9" not in migrated.stdout
              and f"gw-9 sha256:{hashlib.sha256(b'plain-9').hexdigest()}" in migrated.stdout,
              f"picket token hash (a file): {migrated.stdout!r} {migrated.stderr!r}")

        # --- a plaintext tokens file is refused at start ---------------------------------
        plain = write_private(os.path.join(work, "plain-tokens"), "# old\ngw-1 secret-in-clear\n")
        r = subprocess.run([a.picket, "collector", "--listen", "127.0.0.1:0", "--data", os.path.join(work, "d0"),
                            "--tokens", plain], capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and f"{plain}:2:" in r.stderr and "picket token hash gw-1" in r.stderr
              and "secret-in-clear" not in r.stderr, f"plaintext tokens file: exit {r.returncode}, {r.stderr!r}")

        # --- the collector: TLS and mTLS -----------------------------------------------
        def start_collector(name, *extra, cert="server"):
            ready = os.path.join(work, f"{name}.url")
            log = os.path.join(work, f"{name}.log")
            if os.path.exists(ready):  # a restart: wait for the new URL, not the old one
                os.remove(ready)
            p = procs.start([a.picket, "collector", "--listen", "127.0.0.1:0", "--data", os.path.join(work, name),
                             "--tokens", tokens, "--ready-file", ready, "--tls-cert", f"{work}/{cert}.pem",
                             "--tls-key", f"{work}/{cert}.key", *extra], name, log_path=log)
            url = wait_for(f"{name} ready file", lambda: os.path.exists(ready) and open(ready).read().strip(), 30)
            return p, log, url, int(url.rsplit(":", 1)[1])

        collector, log, base, port = start_collector("collector", "--client-ca", f"{work}/ca.pem")
        plain_client = Client(port, f"{work}/ca.pem")
        check(plain_client.put_chunk("gw-1", 1, dev1)[0] == 201, "gw-1 with its token")
        check(plain_client.call("GET", "/v1/devices", op)[0] == 200, "operator read")

        # SIGHUP: a new token works, a removed one gets 401.
        dev3 = token_add(a.picket, "gw-3", tokens)
        check(plain_client.put_chunk("gw-3", 1, dev3)[0] == 401, "gw-3 before SIGHUP")
        lines = [ln for ln in open(tokens).read().splitlines() if not ln.startswith("gw-2 ")]
        write_private(tokens + ".new", "\n".join(lines) + "\n")
        os.replace(tokens + ".new", tokens)
        t0 = time.monotonic()
        os.kill(collector.pid, signal.SIGHUP)
        wait_for("gw-3's new token accepted after SIGHUP", lambda: plain_client.put_chunk("gw-3", 1, dev3)[0] == 201, 10)
        figures.append(f"SIGHUP to new token accepted: {(time.monotonic() - t0) * 1000:.0f} ms")
        check(plain_client.put_chunk("gw-2", 1, dev2)[0] == 401, "removed gw-2 token still accepted")
        # A broken file keeps the old table and names file and line.
        good = open(tokens).read()
        write_private(tokens, good + "gw-4 not-a-hash\n")
        os.kill(collector.pid, signal.SIGHUP)
        bad_line = len(good.splitlines()) + 1
        wait_for("the reload error in the log",
                 lambda: f"{tokens}:{bad_line}:" in open(log).read() and "not reloaded" in open(log).read(), 10)
        check("not-a-hash" not in open(log).read(), "the log echoes the rejected token field")
        check(plain_client.put_chunk("gw-3", 2, dev3)[0] == 201, "old tokens after a failed reload")
        write_private(tokens, good)

        # mTLS: the device certificate is gw-cert's credential, for its own routes only.
        cert_client = Client(port, f"{work}/ca.pem", f"{work}/device.pem", f"{work}/device.key")
        # (a seq far above picketd's, which uploads as gw-cert below)
        check(cert_client.put_chunk("gw-cert", 999999)[0] == 201, "gw-cert by certificate, no token")
        check(cert_client.put_chunk("gw-1", 2)[0] == 403, "gw-cert's certificate writing gw-1")
        check(cert_client.call("GET", "/v1/devices")[0] == 403, "a device certificate reading")
        check(plain_client.put_chunk("gw-cert", 2)[0] == 401, "gw-cert without certificate or token")
        rogue = Client(port, f"{work}/ca.pem", f"{work}/rogue.pem", f"{work}/rogue.key")
        try:
            status = rogue.put_chunk("gw-cert", 3)[0]
            check(False, f"a certificate from another CA was served ({status})")
        except (ssl.SSLError, ConnectionError, OSError):
            pass
        check(collector.poll() is None, "collector exited")

        # --- disk quota (a collector of its own: picketd's chunks below would pass it) ---
        quota = 3 * len(tiny_pcap(b"x"))
        quota_collector, _, _, quota_port = start_collector("collector-quota", "--device-disk-quota", str(quota))
        plain_client = Client(quota_port, f"{work}/ca.pem")
        check(plain_client.put_chunk("gw-1", 1, dev1)[0] == 201, "gw-1 chunk 1")
        check(plain_client.put_chunk("gw-1", 2, dev1, b"y")[0] == 201, "gw-1 chunk 2")
        check(plain_client.put_chunk("gw-1", 3, dev1, b"z")[0] == 201, "gw-1 chunk 3")
        status, headers, body = plain_client.put_chunk("gw-1", 4, dev1, b"w")
        check(status == 429 and headers.get("Retry-After") == "600" and b"--device-disk-quota" in body,
              f"gw-1 over its disk quota: {status} {headers.get('Retry-After')} {body[:200]!r}")
        check(plain_client.put_chunk("gw-1", 3, dev1, b"z")[0] == 200, "a stored chunk's retry over quota")
        check(plain_client.put_chunk("gw-3", 3, dev3)[0] == 201, "another device while gw-1 is over quota")
        metrics = plain_client.call("GET", "/metrics", op)[2].decode()
        check('picket_quota_refusals_total{quota="disk"} 1' in metrics, "disk refusals in /metrics")
        devices = json.loads(plain_client.call("GET", "/v1/devices", op)[2])
        used = {d["id"]: d["chunk_bytes"] for d in devices}
        figures.append(f"disk quota {quota} B: gw-1 holds {used.get('gw-1')} B, refused 1 chunk")
        check(used.get("gw-1") == quota, f"gw-1 chunk_bytes {used.get('gw-1')}")
        procs.stop(quota_collector)

        # --- the crash window: a chunk file renamed into place whose row never committed ---
        chunk_dir = os.path.join(work, "collector-quota", "chunks", "gw-1")
        orphan = os.path.join(chunk_dir, "000000000077.pcap")
        write_private(orphan, "never committed")
        write_private(os.path.join(chunk_dir, ".000000000078.pcap.tmp.1.0"), "half written")
        quota_collector, quota_log, _, quota_port = start_collector("collector-quota", "--device-disk-quota",
                                                                    str(quota))
        check(sorted(os.listdir(chunk_dir)) == [f"{n:012d}.pcap" for n in (1, 2, 3)],
              f"after the startup sweep: {sorted(os.listdir(chunk_dir))}")
        check("chunk files without a row removed at startup" in open(quota_log).read(), "sweep log line")
        status, _, body = Client(quota_port, f"{work}/ca.pem").call("GET", "/v1/devices/gw-1/chunks/2", op)
        check(status == 200 and body == tiny_pcap(b"y"), f"a committed chunk after the sweep: {status}")
        procs.stop(quota_collector)
        plain_client = Client(port, f"{work}/ca.pem")

        # --- picketd presents its certificate (live capture on lo needs root) -------------
        # The dev build's picketd (Debian's libcurl on OpenSSL), then the static one that ships
        # (curl on mbedTLS, TLS 1.2) on the same buffer: its chunks carry on the device's seq.
        binaries = [("picketd", a.picketd)]
        if a.static_picketd and os.access(a.static_picketd, os.X_OK):
            binaries.append(("static picketd", a.static_picketd))
        else:
            code = skip_code(f"no static picketd at {a.static_picketd} (build the static-x86_64 preset)")
            if code != 77:
                failures.append(f"no static picketd at {a.static_picketd} under CI")
        if os.geteuid() != 0:
            code = skip_code("picketd's mTLS upload needs root (live capture)")
            if code != 77:
                failures.append("not root under CI")
            binaries = []
        config = {
            "device": {"id": "gw-cert"},
            "capture": {"interface": "lo", "filter": f"udp and dst port {PORT}", "chunk_max_age": "2s",
                        "chunk_idle": "1s"},
            "buffer": {"dir": os.path.join(work, "buffer")},
            "upload": {"collectors": [base], "ca_file": f"{work}/ca.pem", "client_cert": f"{work}/device.pem",
                       "client_key": f"{work}/device.key", "retry_base": "200ms", "retry_max": "2s"},
        }
        cfg = os.path.join(work, "picketd.json")
        with open(cfg, "w") as f:
            json.dump(config, f)
        # A collector at 127.0.0.1 whose certificate (same CA) names 127.0.0.2: refused by both.
        other_ip_collector, _, other_ip_base, _ = start_collector("collector-other-ip", cert="server-other-ip")
        other_ip_cfg = os.path.join(work, "picketd-other-ip.json")
        with open(other_ip_cfg, "w") as f:
            json.dump({**config, "buffer": {"dir": os.path.join(work, "buffer-other-ip")},
                       "upload": {**config["upload"], "collectors": [other_ip_base]}}, f)

        def device_chunks():
            rows = json.loads(plain_client.call("GET", "/v1/devices/gw-cert/chunks?limit=1000", op)[2])
            return [c for c in rows if c["seq"] != 999999]

        for n, (label, binary) in enumerate(binaries):
            log = os.path.join(work, f"picketd-{n}.log")
            p = procs.start([binary, "run", "--config", cfg], label, log_path=log)
            wait_for(f"{label}: worker capturing", lambda: "capturing" in open(log).read(), 30)
            before = {c["seq"] for c in device_chunks()}
            marker = b"picket-mtls-%d " % n
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(100):
                tx.sendto(marker + b"%03d" % i, ("127.0.0.1", PORT))
            tx.close()

            def markers_stored():
                new = [c["seq"] for c in device_chunks() if c["seq"] not in before]
                found = 0
                for seq in new:
                    status, _, body = plain_client.call("GET", f"/v1/devices/gw-cert/chunks/{seq}", op)
                    if status == 200:
                        found += body.count(marker)
                return (len(new), found) if found >= 100 else None
            t0 = time.monotonic()
            chunks, found = wait_for(f"{label}'s 100 datagrams at the collector over mTLS", markers_stored, 60,
                                     interval=0.1)
            check(found == 100, f"{label}: {found} of 100 datagrams stored")
            figures.append(f"{label} (certificate, no token) stored {found} datagrams in {chunks} chunk(s) "
                           f"in {time.monotonic() - t0:.1f} s")
            procs.stop(p)

            log = os.path.join(work, f"picketd-other-ip-{n}.log")
            p = procs.start([binary, "run", "--config", other_ip_cfg], label, log_path=log)
            refused = "SSL peer certificate or SSH remote key was not OK"
            wait_for(f"{label} refusing a certificate for another address", lambda: refused in open(log).read(), 30)
            procs.stop(p)
        procs.stop(other_ip_collector)
        return report(failures, figures, t_start)
    finally:
        procs.stop_all()
        remove_unless_kept(work)


if __name__ == "__main__":
    sys.exit(main())
