#!/usr/bin/env python3
"""`picket chunks list|get` against the real collector (issue 16, item 2), on loopback.

A device PUTs three chunks (classic pcaps this test writes, of UDP packets with sequence
numbers) the way picketd's uploader does; the operator lists them (table and --json,
--since, --limit) and downloads them (-o FILE and -o -): the bytes must be the uploaded
ones, `tshark -r` must read them (when tshark is installed), a missing chunk and a device
token must fail with exit 1 and a message naming the cause.

usage: chunks_cli_test.py PICKETD PICKET   (PICKETD is unused; the e2e runner passes it)"""
import base64, hashlib, http.client, json, os, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from e2e_support import udp_pcap  # noqa: E402
from servers import Processes, start_collector, write_private, write_tokens_file  # noqa: E402


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def put_chunk(base_url, token, device, seq, body, packets):
    host, port = base_url.split("//")[1].split(":")
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("PUT", f"/v1/devices/{device}/chunks/{seq}", body=body,
                 headers={"Authorization": f"Bearer {token}", "Digest": f"sha-256={digest}",
                          "Content-Type": "application/vnd.tcpdump.pcap",
                          "X-Picket-Packets": str(packets)})
    r = conn.getresponse()
    answer = r.read()
    conn.close()
    check(r.status == 201, f"PUT chunk {seq}: {r.status} {answer[:200]!r}")


def main():
    picket = os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp(prefix="picket-chunks-cli-")
    procs = Processes(os.path.join(work, "processes.log"))
    passed = failed = 0
    try:
        write_tokens_file(os.path.join(work, "tokens"), "gw-1 device-token-1\n@operator operator-token\n")
        write_private(os.path.join(work, "op.token"), "operator-token\n")
        write_private(os.path.join(work, "dev.token"), "device-token-1\n")
        url = start_collector(procs, picket, work, "--tokens", os.path.join(work, "tokens"))
        chunks = [udp_pcap(0, 10), udp_pcap(10, 25), udp_pcap(35, 5)]
        for seq, body in enumerate(chunks):
            put_chunk(url, "device-token-1", "gw-1", seq, body, [10, 25, 5][seq])
        access = ["--collector", url, "--token-file", os.path.join(work, "op.token")]

        def run(*args, ok=True):
            p = subprocess.run([picket, "chunks", *args], capture_output=True, timeout=60)
            if ok:
                check(p.returncode == 0, f"chunks {args}: exit {p.returncode}: {p.stderr.decode()}")
            return p

        def case(name, fn):
            nonlocal passed, failed
            try:
                fn()
                passed += 1
                print(f"ok   {name}")
            except AssertionError as e:
                failed += 1
                print(f"FAIL {name}: {e}")

        def list_table():
            out = run("list", "gw-1", *access).stdout.decode().splitlines()
            check(out[0].split()[:3] == ["SEQ", "PACKETS", "BYTES"], f"header: {out[0]}")
            rows = [line.split() for line in out[1:]]
            check([r[0] for r in rows] == ["0", "1", "2"], f"seqs: {rows}")
            check([r[1] for r in rows] == ["10", "25", "5"], f"packets: {rows}")
            check([r[2] for r in rows] == [str(len(c)) for c in chunks], f"bytes: {rows}")
            check(rows[0][-1] == hashlib.sha256(chunks[0]).hexdigest()[:16], f"sha: {rows[0]}")

        def list_json_paged():
            out = run("list", "gw-1", "--json", "--since", "0", "--limit", "1", *access).stdout
            rows = [json.loads(line) for line in out.decode().splitlines()]
            check([r["seq"] for r in rows] == [1], f"--since 0 --limit 1: {rows}")
            check(rows[0]["sha256"] == hashlib.sha256(chunks[1]).hexdigest(), "sha256 field")

        def get_file():
            target = os.path.join(work, "one.pcap")
            p = run("get", "gw-1", "1", "-o", target, *access)
            check(open(target, "rb").read() == chunks[1], "downloaded bytes differ from the upload")
            check(not os.path.exists(target + ".part"), "the .part file was left behind")
            check(b"25 packets" in p.stderr, f"summary line: {p.stderr.decode()}")
            if shutil.which("tshark"):
                t = subprocess.run(["tshark", "-r", target, "-T", "fields", "-e", "udp.dstport"],
                                   capture_output=True, timeout=120)
                check(t.returncode == 0, f"tshark -r: {t.stderr.decode()}")
                check(t.stdout.decode().split() == ["9"] * 25, f"tshark saw {t.stdout[:200]!r}")

        def get_stdout():
            p = run("get", "gw-1", "0", "-o", "-", *access)
            check(p.stdout == chunks[0], "stdout bytes differ from the upload")

        def get_default_name():
            p = subprocess.run([picket, "chunks", "get", "gw-1", "2", *access], cwd=work,
                               capture_output=True, timeout=60)
            check(p.returncode == 0, p.stderr.decode())
            check(open(os.path.join(work, "gw-1-2.pcap"), "rb").read() == chunks[2], "gw-1-2.pcap")

        def missing_chunk():
            target = os.path.join(work, "missing.pcap")
            p = run("get", "gw-1", "7", "-o", target, *access, ok=False)
            check(p.returncode == 1, f"exit {p.returncode}")
            check(b"has no chunk 7" in p.stderr, p.stderr.decode())
            check(not os.path.exists(target), "a file was created for a missing chunk")

        def device_token_refused():
            p = run("list", "gw-1", "--collector", url, "--token-file",
                    os.path.join(work, "dev.token"), ok=False)
            check(p.returncode == 1 and b"HTTP 403" in p.stderr, p.stderr.decode())

        def bad_arguments():
            for args in (["get", "gw-1"], ["get", "../x", "1"], ["get", "gw-1", "01x"], ["frob"],
                         ["list", "gw-1", "--limit", "0"]):
                p = run(*args, *access, ok=False)
                check(p.returncode == 2, f"{args}: exit {p.returncode}")

        for name, fn in [("list table", list_table), ("list --json --since --limit", list_json_paged),
                         ("get -o FILE, tshark reads it", get_file), ("get -o -", get_stdout),
                         ("get default file name", get_default_name), ("missing chunk", missing_chunk),
                         ("device token refused", device_token_refused),
                         ("bad arguments exit 2", bad_arguments)]:
            case(name, fn)
    finally:
        procs.stop_all()
        if os.environ.get("PICKET_KEEP_TEST_DIR") != "1":
            shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
