#!/usr/bin/env python3
"""`picket sessions --read` against independent oracles, on every capture in
../shared/pcaps (acceptance 1 and 2 of issue 12):

  a. conversations: our sessions summed per protocol and endpoint pair equal
     `tshark -q -z conv,tcp -z conv,udp` (same conversations, frames exact per
     direction, bytes exact). tshark 4.0 rounds large byte counts in that table
     ("23 kB"), so the exact bytes come from tshark's own per-frame fields
     (frame.len per 5-tuple); those are first checked against the table (frames
     exact, bytes exact or rounding to the same text) so the two tshark views
     agree before ours is compared.
  b. Community ID: packets per community_id equal tshark's
     (`--enable-protocol communityid -T fields -e communityid`).
  c. the spec captures (communityid-*.pcap) give the IDs of the spec's
     communityid-baseline_deflt.json.
  d. labels: each session's `app` equals ndpiReader's (Debian libndpi-bin 4.2,
     `ndpiReader -i F -v 2`) for the same flow, matched by protocol and endpoint
     pair, except the differences in LABEL_ALLOWLIST (each with its reason).
  e. `--json --features 8`: every session carries well-formed feature arrays.
  f. the command line on one capture: stdin ("-") reads like the file; a torn
     file prints the sessions before the damage, then the error with its offset
     (exit 1); a missing file and a bad flag are named (exit 1, exit 2).

usage: sessions_oracle_test.py PICKETD PICKET [--pcaps DIR] [--only NAME[,NAME...]]
DIR defaults to $PICKET_SHARED_PCAPS, else ../shared/pcaps beside the source tree.
Prints per capture: sessions, tshark conversations, matches; then a label
summary (file, flows, equal, differences) and "N passed, M failed".
Exit 0 all equal, 1 a difference, 77 (skip) without the captures, tshark or
ndpiReader, unless CI=true (then 1)."""
import argparse, collections, gzip, ipaddress, json, os, re, shutil, struct, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from servers import skip_code  # noqa: E402
from e2e_support import report  # noqa: E402

TCP, UDP = 6, 17
TOOL_TIMEOUT = 300  # seconds per tool run; the largest shared capture takes a few

# Label differences that are not the analyser's to fix. Key: (file, proto,
# endpoint A, endpoint B) as printed in the label table ("ip:port", any
# order); value: (our app, ndpiReader's app, why).
LABEL_ALLOWLIST = {
}


def skip_or_fail(reason):
    return skip_code(reason)


def run(cmd, what, ok_codes=(0,), stdin=None):
    p = subprocess.run(cmd, stdin=stdin, capture_output=True, timeout=TOOL_TIMEOUT)
    if p.returncode not in ok_codes:
        raise AssertionError(f"{what}: exit {p.returncode}: {p.stderr.decode(errors='replace')[-600:]}")
    return p


def ip(text):
    return ipaddress.ip_address(text.strip("[]"))


def endpoint(text):
    """ "1.2.3.4:80", "[2001:db8::1]:80" or tshark's "2001:db8::1:80" -> (ip, port)."""
    host, _, port = text.rpartition(":")
    return (ip(host), int(port))


def pair_key(proto, a, b):
    return (proto,) + tuple(sorted([a, b], key=lambda e: (e[0].version, e[0], e[1])))


def show(ep):
    return f"[{ep[0]}]:{ep[1]}" if ep[0].version == 6 else f"{ep[0]}:{ep[1]}"


# ---------------------------------------------------------------- captures

def capture_list(folder):
    """Every capture the manifest lists plus any other capture file in the folder.
    A listed file that is missing is an error (an incomplete copy)."""
    names, missing = [], []
    manifest = os.path.join(folder, "MANIFEST.tsv")
    if os.path.exists(manifest):
        with open(manifest) as f:
            for line in f.read().splitlines()[1:]:
                if line.strip():
                    name = line.split("\t")[0]
                    (names if os.path.exists(os.path.join(folder, name)) else missing).append(name)
    for name in sorted(os.listdir(folder)):
        if re.search(r"\.(pcap|pcapng|cap)(\.gz)?$", name) and name not in names:
            names.append(name)
    return names, missing


def readable_copy(path, tmp):
    """picket reads pcap/pcapng, not gzip (tshark does): gunzip to a temp file."""
    if not path.endswith(".gz"):
        return path
    out = os.path.join(tmp, os.path.basename(path)[:-3])
    with gzip.open(path, "rb") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return out


# ---------------------------------------------------------------- picket

def picket_sessions(picket, path, *extra):
    p = run([picket, "sessions", "--read", path, "--json", *extra], f"picket sessions --read {path}")
    sessions = []
    for n, line in enumerate(p.stdout.decode().splitlines(), 1):
        try:
            sessions.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise AssertionError(f"picket sessions line {n} is not JSON: {e}: {line[:200]}")
    summary = p.stderr.decode().strip().splitlines()
    return sessions, (summary[-1] if summary else "")


def our_conversations(sessions):
    """(proto, A, B) -> {(from, to): [frames, bytes]} summed over TCP/UDP sessions."""
    convs = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
    for s in sessions:
        if s["proto"] not in (TCP, UDP):
            continue
        src, dst = (ip(s["src_ip"]), s["src_port"]), (ip(s["dst_ip"]), s["dst_port"])
        key = pair_key(s["proto"], src, dst)
        for frm, to, pk, by in ((src, dst, "orig_pkts", "orig_bytes"), (dst, src, "resp_pkts", "resp_bytes")):
            if s[pk]:
                cell = convs[key][(frm, to)]
                cell[0] += s[pk]
                cell[1] += s[by]
    return convs


# ---------------------------------------------------------------- tshark

def tshark_table(path):
    """The conv table: [(proto, A, B, frames B->A, bytes text, frames A->B, bytes text)].
    tshark 4.0 prints "<-" (B to A) before "->" (A to B)."""
    out = run(["tshark", "-r", path, "-q", "-z", "conv,tcp", "-z", "conv,udp"], f"tshark conv {path}")
    rows, proto = [], None
    unit = r"(\d+ (?:bytes|[kMGT]B))"
    row = re.compile(r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+" + unit + r"\s+(\d+)\s+" + unit + r"\s+")
    for line in out.stdout.decode().splitlines():
        if line.startswith("TCP Conversations"):
            proto = TCP
        elif line.startswith("UDP Conversations"):
            proto = UDP
        m = row.match(line)
        if m and proto:
            a, b = endpoint(m.group(1)), endpoint(m.group(2))
            rows.append((proto, a, b, int(m.group(3)), m.group(4), int(m.group(5)), m.group(6)))
    return rows


FIELDS = ["frame.len", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
          "udp.srcport", "udp.dstport", "icmp.type", "icmpv6.type", "communityid"]


def tshark_frames(path):
    """Per frame: (len, proto, src, dst) for plain TCP/UDP frames (None otherwise), and the
    frame's Community IDs. A TCP/UDP header quoted inside an ICMP error is not a
    conversation frame for tshark's conv tap, so it is left out here too."""
    out = run(["tshark", "-r", path, "--enable-protocol", "communityid", "-T", "fields",
               "-E", "separator=/t", "-E", "occurrence=a", *sum((["-e", f] for f in FIELDS), [])],
              f"tshark fields {path}")
    frames = []
    for line in out.stdout.decode().splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        ids = [c for c in v.get("communityid", "").split(",") if c]
        conv = None
        if not v.get("icmp.type") and not v.get("icmpv6.type"):
            for proto, sp, dp in ((TCP, "tcp.srcport", "tcp.dstport"), (UDP, "udp.srcport", "udp.dstport")):
                if v.get(sp):
                    s_ip = v.get("ip.src") or v.get("ipv6.src")
                    d_ip = v.get("ip.dst") or v.get("ipv6.dst")
                    if "," in s_ip + d_ip + v[sp]:
                        conv = ("tunnel", line)  # more than one IP or transport layer
                    else:
                        conv = (int(v["frame.len"]), proto, (ip(s_ip), int(v[sp])), (ip(d_ip), int(v[dp])))
        frames.append((conv, ids))
    return frames


def tshark_rounded(n):
    """tshark 4.0's format_size for the conv table (SI, integer, no rounding up)."""
    for unit, div in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= div * 10:
            return f"{n // div} {unit}"
    return f"{n} bytes"


def tshark_conversations(path, failures, name):
    """The oracle: table rows (conversations, frames) with exact bytes from the fields."""
    table = tshark_table(path)
    frames = tshark_frames(path)
    exact = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
    for conv, _ in frames:
        if conv is None:
            continue
        if conv[0] == "tunnel":
            failures.append(f"{name}: oracle: a frame with nested IP/transport layers: {conv[1][:160]}")
            continue
        length, proto, src, dst = conv
        cell = exact[pair_key(proto, src, dst)][(src, dst)]
        cell[0] += 1
        cell[1] += length
    # The table and the fields must agree, else the oracle itself is misread.
    table_sum = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, ""]))
    for proto, a, b, f_ba, by_ba, f_ab, by_ab in table:
        key = pair_key(proto, a, b)
        for frm, to, fr, by in ((b, a, f_ba, by_ba), (a, b, f_ab, by_ab)):
            cell = table_sum[key][(frm, to)]
            cell[0] += fr
            cell[1] = by if cell[1] == "" else "summed"
    if set(table_sum) != set(exact):
        failures.append(f"{name}: oracle: tshark's table and its fields list different conversations: "
                        f"{sorted(map(str, set(table_sum) ^ set(exact)))[:4]}")
    for key, dirs in table_sum.items():
        for d, (fr, by) in dirs.items():
            got = exact.get(key, {}).get(d, [0, 0])
            if fr != got[0] or (by not in ("summed", "") and fr and by != tshark_rounded(got[1])):
                failures.append(f"{name}: oracle: {show(d[0])} -> {show(d[1])}: table {fr} frames {by}, "
                                f"fields {got[0]} frames {got[1]} bytes")
    ids = collections.Counter(i for _, ids in frames for i in ids)
    return exact, len(table), ids


# ---------------------------------------------------------------- nDPI

NDPI_FLOW = re.compile(r"^\t\d+\t(\S+) (\S+) <?-> (\S+) \[proto: [\d.]+/([^\]]+)\]")
NDPI_PROTO = {"TCP": TCP, "UDP": UDP, "ICMP": 1, "ICMPV6": 58}


def ndpi_flows(path):
    """(proto, A, B) -> set of ndpiReader's app names (ports 0 for portless protocols)."""
    out = run(["ndpiReader", "-i", path, "-v", "2"], f"ndpiReader {path}")
    flows = collections.defaultdict(set)
    for line in out.stdout.decode(errors="replace").splitlines():
        m = NDPI_FLOW.match(line)
        if not m:
            continue
        proto = NDPI_PROTO.get(m.group(1)) or int(m.group(1))
        flows[pair_key(proto, endpoint(m.group(2)), endpoint(m.group(3)))].add(m.group(4))
    return flows


def label_key(s):
    ports = s["proto"] in (TCP, UDP)
    return pair_key(s["proto"], (ip(s["src_ip"]), s["src_port"] if ports else 0),
                    (ip(s["dst_ip"]), s["dst_port"] if ports else 0))


def compare_labels(name, sessions, flows, failures):
    equal, diffs = 0, []
    for s in sessions:
        key = label_key(s)
        theirs = flows.get(key)
        shown = f"{name} proto {key[0]} {show(key[1])} {show(key[2])}"
        if theirs is None:
            diffs.append(f"{shown}: ours {s['app']!r}, ndpiReader has no such flow")
            continue
        if s["app"] in theirs:
            equal += 1
            continue
        allowed = LABEL_ALLOWLIST.get((name, key[0], show(key[1]), show(key[2])))
        if allowed and allowed[0] == s["app"] and allowed[1] in theirs:
            equal += 1
            print(f"  allowed label difference: {shown}: ours {s['app']!r}, ndpiReader "
                  f"{sorted(theirs)}: {allowed[2]}")
            continue
        diffs.append(f"{shown}: ours {s['app']!r}, ndpiReader {sorted(theirs)}")
    ours = {label_key(s) for s in sessions}
    for key in flows:
        if key not in ours:
            diffs.append(f"{name} proto {key[0]} {show(key[1])} {show(key[2])}: ndpiReader "
                         f"{sorted(flows[key])}, no session of ours")
    failures.extend("label: " + d for d in diffs)
    return equal, len(diffs)


# ---------------------------------------------------------------- checks

def compare_conversations(name, ours, theirs, failures):
    matches = 0
    for key in sorted(set(ours) | set(theirs), key=str):
        a = {d: tuple(v) for d, v in ours.get(key, {}).items()}
        b = {d: tuple(v) for d, v in theirs.get(key, {}).items()}
        if a == b:
            matches += 1
            continue
        for d in sorted(set(a) | set(b), key=str):
            if a.get(d) != b.get(d):
                failures.append(f"{name}: proto {key[0]} {show(d[0])} -> {show(d[1])}: "
                                f"tshark {b.get(d, (0, 0))} (frames, bytes), ours {a.get(d, (0, 0))}")
    return matches


def compare_community_ids(name, sessions, theirs, failures):
    ours = collections.Counter()
    for s in sessions:
        ours[s["community_id"]] += s["orig_pkts"] + s["resp_pkts"]
    for cid in sorted(set(ours) | set(theirs)):
        if ours[cid] != theirs[cid]:
            failures.append(f"{name}: community_id {cid}: tshark {theirs[cid]} packets, ours {ours[cid]}")
    return sum(1 for cid in theirs if ours[cid] == theirs[cid])


def check_features(name, sessions, n, failures):
    for s in sessions:
        where = f"{name}: session {s.get('uid')} {s['src_ip']}:{s['src_port']}"
        f = s.get("features")
        total = s["orig_pkts"] + s["resp_pkts"]
        if not isinstance(f, dict) or not f:
            failures.append(f"{where}: no features object with --features {n}: {f!r}")
            return
        lengths = {k: len(v) if isinstance(v, list) else -1 for k, v in f.items()}
        want = min(n, total)
        if set(lengths.values()) != {want}:
            failures.append(f"{where}: feature arrays {lengths}, want {len(f)} arrays of {want}")
            return
        for k, v in f.items():
            if not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                failures.append(f"{where}: feature {k} has non-integers: {v}")
                return
        direction = next((v for k, v in f.items() if k.startswith("dir")), None)
        if direction is None or set(direction) - {1, -1} or direction[0] != 1:
            failures.append(f"{where}: feature direction {direction}: want 1/-1, first 1")
            return
        wire = next((v for k, v in f.items() if "wire" in k), None)
        if wire is None or sum(wire) > s["orig_bytes"] + s["resp_bytes"] or min(wire) <= 0:
            failures.append(f"{where}: feature wire lengths {wire} do not fit the session's bytes")
            return
        iat = next((v for k, v in f.items() if "iat" in k), None)
        if iat is None or iat[0] != 0 or min(iat) < 0:
            failures.append(f"{where}: feature inter-arrival times {iat}: want 0 first, none negative")
            return


def check_baseline(baseline, by_file, failures):
    """Every tuple of the spec's baseline has its ID on our session of that tuple."""
    sessions = [s for name, ss in by_file.items() if name.startswith("communityid-") for s in ss]
    ids_by_pair = collections.defaultdict(set)
    ids_by_tuple = collections.defaultdict(set)
    for s in sessions:
        a, b = ip(s["src_ip"]), ip(s["dst_ip"])
        ids_by_pair[(s["proto"],) + tuple(sorted([a, b]))].add(s["community_id"])
        ids_by_tuple[pair_key(s["proto"], (a, s["src_port"]), (b, s["dst_port"]))].add(s["community_id"])
    checked = 0
    for e in baseline:
        a, b = ip(e["saddr"]), ip(e["daddr"])
        if e["proto"] in (1, 58):  # ICMP: the spec's port pair is mapped, ours is type/code
            ids = ids_by_pair.get((e["proto"],) + tuple(sorted([a, b])), set())
        else:
            ids = ids_by_tuple.get(pair_key(e["proto"], (a, e["sport"]), (b, e["dport"])), set())
        checked += 1
        if e["communityid"] not in ids:
            failures.append(f"baseline: proto {e['proto']} {e['saddr']}:{e['sport']} -> "
                            f"{e['daddr']}:{e['dport']}: want {e['communityid']}, ours {sorted(ids)}")
    all_ids = {s["community_id"] for s in sessions}
    for cid in sorted(all_ids - {e["communityid"] for e in baseline}):
        failures.append(f"baseline: our community_id {cid} is not in the spec's baseline")
    return checked


def classic_records(data):
    """Byte offsets of the records of a classic pcap file, and its end."""
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    offsets, off = [], 24
    while off + 16 <= len(data):
        offsets.append(off)
        off += 16 + struct.unpack(endian + "I", data[off + 8:off + 12])[0]
    return offsets


def check_cli_edges(picket, path, sessions, tmp, failures):
    """stdin reads like the file; a torn file prints the sessions of the records before
    the damage, then the error naming the offset (exit 1); a missing file and a bad
    flag are named (exit 1 and 2)."""
    with open(path, "rb") as f:
        data = f.read()
    p = subprocess.run([picket, "sessions", "--read", "-", "--json"], input=data,
                       capture_output=True, timeout=TOOL_TIMEOUT)
    if p.returncode != 0 or [json.loads(l) for l in p.stdout.decode().splitlines()] != sessions:
        failures.append(f"cli: --read - on {path} (exit {p.returncode}) differs from --read FILE")

    records = classic_records(data)
    keep = len(records) // 2
    torn = os.path.join(tmp, "torn.pcap")
    cut = records[keep] + 20  # inside the record header + 4 bytes of the packet
    with open(torn, "wb") as f:
        f.write(data[:cut])
    p = subprocess.run([picket, "sessions", "--read", torn, "--json"], capture_output=True,
                       timeout=TOOL_TIMEOUT)
    err = p.stderr.decode()
    got = [json.loads(l) for l in p.stdout.decode().splitlines()]
    packets = sum(s["orig_pkts"] + s["resp_pkts"] for s in got)
    if p.returncode != 1 or torn not in err or str(records[keep]) not in err:
        failures.append(f"cli: torn file: exit {p.returncode}, want 1 and an error naming "
                        f"{torn} and offset {records[keep]}: {err.strip()[-300:]}")
    # The same records, cleanly cut, are the reference: the damage only ends the read.
    clean = os.path.join(tmp, "clean.pcap")
    with open(clean, "wb") as f:
        f.write(data[:records[keep]])
    want, _ = picket_sessions(picket, clean)
    if got != want or not got:
        failures.append(f"cli: torn file: {len(got)} sessions ({packets} packets), want the "
                        f"{len(want)} of the {keep} records before the damage")

    p = subprocess.run([picket, "sessions", "--read", os.path.join(tmp, "absent.pcap")],
                       capture_output=True, timeout=TOOL_TIMEOUT)
    if p.returncode != 1 or "absent.pcap" not in p.stderr.decode():
        failures.append(f"cli: missing file: exit {p.returncode}: {p.stderr.decode().strip()}")
    p = subprocess.run([picket, "sessions", "--read", path, "--features", "0", "--json"],
                       capture_output=True, timeout=TOOL_TIMEOUT)
    if p.returncode != 2 or "--features '0'" not in p.stderr.decode():
        failures.append(f"cli: --features 0: exit {p.returncode}: {p.stderr.decode().strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("picketd")
    ap.add_argument("picket")
    ap.add_argument("--pcaps", default=os.environ.get("PICKET_SHARED_PCAPS") or
                    os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "pcaps")))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    if not os.path.isdir(args.pcaps):
        return skip_or_fail(f"no captures at {args.pcaps}")
    for tool in ("tshark", "ndpiReader"):
        if shutil.which(tool) is None:
            return skip_or_fail(f"{tool} is not installed")

    names, missing = capture_list(args.pcaps)
    failures = [f"{m}: listed in MANIFEST.tsv but missing from {args.pcaps}" for m in missing]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    if not names:
        return skip_or_fail(f"no capture files in {args.pcaps}")

    by_file, label_rows = {}, []
    tmp = tempfile.mkdtemp(prefix="picket-oracle-")
    try:
        print(f"{'file':38} {'sessions':>8} {'tshark conv':>11} {'conv equal':>10} "
              f"{'cid':>4} {'cid equal':>9}")
        for name in names:
            path = os.path.join(args.pcaps, name)
            file_failures = []
            try:
                readable = readable_copy(path, tmp)
                sessions, summary = picket_sessions(args.picket, readable)
                by_file[name] = sessions
                exact, table_rows, tshark_ids = tshark_conversations(path, file_failures, name)
                conv_equal = compare_conversations(name, our_conversations(sessions), exact, file_failures)
                cid_equal = compare_community_ids(name, sessions, tshark_ids, file_failures)
                print(f"{name:38} {len(sessions):8} {table_rows:11} {conv_equal:>4}/{len(exact):<5} "
                      f"{len(tshark_ids):4} {cid_equal:9}   [{summary}]")
                equal, ndiff = compare_labels(name, sessions, ndpi_flows(path), file_failures)
                label_rows.append((name, len(sessions), equal, ndiff))
                featured, _ = picket_sessions(args.picket, readable, "--features", "8")
                if len(featured) != len(sessions):
                    file_failures.append(f"{name}: {len(featured)} sessions with --features, {len(sessions)} without")
                check_features(name, featured, 8, file_failures)
            except (AssertionError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
                file_failures.append(f"{name}: {type(e).__name__}: {e}")
            for f in file_failures:
                print("   ", f)
            failures.extend(file_failures)

        first_classic = next((n for n in by_file if n.endswith(".pcap")), None)
        if first_classic:
            check_cli_edges(args.picket, os.path.join(args.pcaps, first_classic),
                            by_file[first_classic], tmp, failures)

        baseline_path = next((p for p in (os.path.join(args.pcaps, "communityid-baseline_deflt.json"),
                                          os.path.join(args.pcaps, "expected", "communityid-baseline_deflt.json"))
                              if os.path.exists(p)), None)
        if any(n.startswith("communityid-") for n in by_file):
            if baseline_path is None:
                failures.append("communityid-baseline_deflt.json is missing")
            else:
                with open(baseline_path) as f:
                    before = len(failures)
                    checked = check_baseline(json.load(f), by_file, failures)
                print(f"\nCommunity ID spec baseline: {checked} tuples, {len(failures) - before} differences")

        print(f"\n{'labels: file':38} {'flows':>6} {'equal':>6} {'differences':>11}")
        for name, flows, equal, ndiff in label_rows:
            print(f"{name:38} {flows:6} {equal:6} {ndiff:11}")
        print(f"{'total':38} {sum(r[1] for r in label_rows):6} {sum(r[2] for r in label_rows):6} "
              f"{sum(r[3] for r in label_rows):11}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report(failures)


if __name__ == "__main__":
    sys.exit(main())
