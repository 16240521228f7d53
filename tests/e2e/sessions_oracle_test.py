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
     pair (with ndpiReader's own IPv6 flow key, see ndpi_address_key). The one
     difference allowed: a 5-tuple our idle timers split (ndpiReader has no timers
     on files), and only if the labels are all equal once the timers exceed the
     capture's span (check_labels).
  e. `--json --features 8`: every session carries the five feature arrays, and for
     each TCP/UDP session alone on its 5-tuple they equal tshark's packets.
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


def run(cmd, what):
    p = subprocess.run(cmd, capture_output=True, timeout=TOOL_TIMEOUT)
    if p.returncode != 0:
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
          "udp.srcport", "udp.dstport", "icmp.type", "icmpv6.type", "communityid",
          "frame.time_epoch", "tcp.flags", "tcp.len", "udp.length", "frame.number", "ip.proto",
          "ip.flags.mf", "ip.frag_offset", "ip.reassembled_in", "ipv6.fraghdr.nxt",
          "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.reassembled.in"]


class Frame:
    """One frame as tshark dissects it. conv: (len, proto, src, dst, fields) for a plain
    TCP/UDP frame, ("tunnel", line) for nested layers, else None. of: the frame number
    that reassembles this fragment (tshark dissects the transport header there only).
    orphan: (proto, ip pair) of a fragment tshark never reassembled."""

    def __init__(self, v, line):
        self.number = int(v["frame.number"])
        self.length = int(v["frame.len"])
        self.ids = [c for c in v.get("communityid", "").split(",") if c]
        self.conv, self.of, self.orphan = None, None, None
        s_ip = v.get("ip.src") or v.get("ipv6.src")
        d_ip = v.get("ip.dst") or v.get("ipv6.dst")
        if not v.get("icmp.type") and not v.get("icmpv6.type"):
            for proto, sp, dp in ((TCP, "tcp.srcport", "tcp.dstport"), (UDP, "udp.srcport", "udp.dstport")):
                if v.get(sp):
                    if "," in s_ip + d_ip + v[sp]:
                        self.conv = ("tunnel", line)  # more than one IP or transport layer
                    else:
                        self.conv = (int(v["frame.len"]), proto, (ip(s_ip), int(v[sp])),
                                     (ip(d_ip), int(v[dp])), v)
        fragment = v.get("ip.flags.mf") in ("1", "True") or v.get("ip.frag_offset") not in ("", "0", None) \
            or v.get("ipv6.fraghdr.more") in ("1", "True") or v.get("ipv6.fraghdr.offset") not in ("", "0", None)
        into = v.get("ip.reassembled_in") or v.get("ipv6.reassembled.in")
        if fragment and into and "," not in into and int(into) != self.number:
            self.of = int(into)
        elif fragment and not into and self.conv is None and s_ip and "," not in s_ip + d_ip:
            proto = v.get("ip.proto") or v.get("ipv6.fraghdr.nxt") or "0"
            self.orphan = (int(proto.split(",")[0]), frozenset([ip(s_ip), ip(d_ip)]))


def tshark_frames(path):
    """Every frame (Frame). A TCP/UDP header quoted inside an ICMP error is not a
    conversation frame for tshark's conv tap, so it is left out here too."""
    # Two passes: only then does tshark name the reassembling frame on earlier fragments.
    out = run(["tshark", "-2", "-r", path, "--enable-protocol", "communityid", "-T", "fields",
               "-E", "separator=/t", "-E", "occurrence=a", *sum((["-e", f] for f in FIELDS), [])],
              f"tshark fields {path}")
    return [Frame(dict(zip(FIELDS, line.split("\t"))), line) for line in out.stdout.decode().splitlines()]


def tshark_rounded(n):
    """tshark 4.0's format_size for the conv table (SI, integer, no rounding up)."""
    for unit, div in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= div * 10:
            return f"{n // div} {unit}"
    return f"{n} bytes"


def tshark_conversations(path, failures, name):
    """The oracle: table rows (conversations, frames) with exact bytes from the fields.
    tshark counts a fragmented datagram once, in the frame that reassembles it; the
    analyser puts every fragment in its flow (the issue's rule), so each fragment is
    added to the conversation and Community ID of its reassembling frame. Fragments
    tshark never reassembled have no transport header there: their protocol and
    address pair come back as not comparable. Returns (exact, table rows, ids,
    packets per 5-tuple, not comparable)."""
    table = tshark_table(path)
    frames = tshark_frames(path)
    by_number = {f.number: f for f in frames}
    exact = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
    tshark_view = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
    ids = collections.Counter()
    packets = collections.defaultdict(list)  # 5-tuple -> [(conv, is_fragment)]
    not_comparable = {f.orphan for f in frames if f.orphan}
    for f in frames:
        owner = by_number.get(f.of, f) if f.of else f
        ids.update(owner.ids)
        conv = owner.conv
        if conv is None:
            continue
        if conv[0] == "tunnel":
            failures.append(f"{name}: oracle: a frame with nested IP/transport layers: {conv[1][:160]}")
            continue
        _, proto, src, dst, _ = conv
        key = pair_key(proto, src, dst)
        packets[key].append((conv, f is not owner))
        for view in (exact,) if f is not owner else (exact, tshark_view):
            cell = view[key][(src, dst)]
            cell[0] += 1
            cell[1] += f.length  # a fragment's own wire length
    # The table and the fields must agree, else the oracle itself is misread.
    table_sum = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, ""]))
    for proto, a, b, f_ba, by_ba, f_ab, by_ab in table:
        key = pair_key(proto, a, b)
        for frm, to, fr, by in ((b, a, f_ba, by_ba), (a, b, f_ab, by_ab)):
            cell = table_sum[key][(frm, to)]
            cell[0] += fr
            cell[1] = by if cell[1] == "" else "summed"
    if set(table_sum) != set(tshark_view):
        failures.append(f"{name}: oracle: tshark's table and its fields list different conversations: "
                        f"{sorted(map(str, set(table_sum) ^ set(tshark_view)))[:4]}")
    for key, dirs in table_sum.items():
        for d, (fr, by) in dirs.items():
            got = tshark_view.get(key, {}).get(d, [0, 0])
            if fr != got[0] or (by not in ("summed", "") and fr and by != tshark_rounded(got[1])):
                failures.append(f"{name}: oracle: {show(d[0])} -> {show(d[1])}: table {fr} frames {by}, "
                                f"fields {got[0]} frames {got[1]} bytes")
    return exact, len(table), ids, packets, not_comparable


# ---------------------------------------------------------------- nDPI

NDPI_FLOW = re.compile(r"^\t\d+\t(\S+) (\S+) <?-> (\S+) (?:\[[^\]]*\])*?\[proto: [\d.]+/([^\]]+)\]")
NDPI_PROTO = {"TCP": TCP, "UDP": UDP, "ICMP": 1, "ICMPV6": 58}


def ndpi_address_key(addr):
    """ndpiReader 4.2 keys an IPv6 flow by the 32-bit sum of each address's last two
    32-bit words (example/reader_util.c:981-982), so IPv6 flows whose addresses share
    those 64 bits are one ndpiReader flow (named by its first packet's addresses).
    Matching by the same key compares each of our sessions with the flow nDPI labelled."""
    if addr.version == 4:
        return (4, int(addr))
    b = addr.packed
    return (6, (int.from_bytes(b[8:12], "little") + int.from_bytes(b[12:16], "little")) & 0xFFFFFFFF)


def ndpi_key(proto, a, b):
    return (proto,) + tuple(sorted([(ndpi_address_key(a[0]), a[1]), (ndpi_address_key(b[0]), b[1])]))


NDPI_TMP_FILES = ("/tmp/ses_result.csv", "/tmp/des_result.csv", "/tmp/result.csv")


def ndpi_flows(path):
    """ndpiReader's flows: key -> (shown as "proto A B", set of app names). Portless
    protocols have ports 0 there; each flow is one 5-tuple for the whole file (no timers
    on files, no split on FIN or a new SYN)."""
    # ndpiReader 4.2 always creates these (empty without -A); only the ones it made here go.
    made = [f for f in NDPI_TMP_FILES if not os.path.exists(f)]
    try:
        out = run(["ndpiReader", "-i", path, "-v", "2"], f"ndpiReader {path}")
    finally:
        for f in made:
            if os.path.exists(f):
                os.remove(f)
    text = out.stdout.decode(errors="replace") + out.stderr.decode(errors="replace")
    unsupported = re.search(r"Unsupported datalink \d+", text)
    if unsupported:
        return unsupported.group(0)  # ndpiReader reads no packet of this file
    flows = {}
    for line in text.splitlines():
        m = NDPI_FLOW.match(line)
        if not m:
            continue
        proto = NDPI_PROTO.get(m.group(1)) or int(m.group(1))
        a, b = endpoint(m.group(2)), endpoint(m.group(3))
        key = ndpi_key(proto, a, b)
        flows.setdefault(key, (f"proto {proto} {show(a)} {show(b)}", set()))[1].add(m.group(4))
    return flows


def label_key(s):
    ports = s["proto"] in (TCP, UDP)
    return pair_key(s["proto"], (ip(s["src_ip"]), s["src_port"] if ports else 0),
                    (ip(s["dst_ip"]), s["dst_port"] if ports else 0))


def compare_labels(name, sessions, flows):
    """(equal, differences) of our sessions' app against ndpiReader's flow of each."""
    equal, diffs = 0, []
    for s in sessions:
        key = label_key(s)
        nkey = ndpi_key(key[0], key[1], key[2])
        shown = f"{name} proto {key[0]} {show(key[1])} {show(key[2])}"
        if nkey not in flows:
            diffs.append(f"{shown}: ours {s['app']!r}, ndpiReader has no such flow")
        elif s["app"] in flows[nkey][1]:
            equal += 1
        else:
            diffs.append(f"{shown}: ours {s['app']!r}, ndpiReader {sorted(flows[nkey][1])}")
    ours = {ndpi_key(*label_key(s)) for s in sessions}
    for key, (shown, apps) in flows.items():
        if key not in ours:
            diffs.append(f"{name} {shown}: ndpiReader {sorted(apps)}, no session of ours")
    return equal, diffs


def check_labels(picket, name, readable, sessions, flows, not_comparable, failures):
    """Labels on the default run. Where a 5-tuple has several sessions (an idle timer
    split it; ndpiReader has no timers on files and labels the whole tuple from all its
    packets), the parts after the first are labelled from their own packets and may
    differ: for those files the comparison is made again with the timers beyond the
    capture's span, where sessions and ndpiReader's flows are the same packets and
    every label must be equal. Returns (flows, equal, differences, explained)."""
    if isinstance(flows, str):
        print(f"  labels not compared: ndpiReader 4.2: {flows} (it skips the whole file)")
        return len(sessions), 0, 0, 0
    equal, diffs = compare_labels(name, sessions, flows)
    for d in [d for d in diffs if any(d.startswith(f"{name} proto {proto} ") and
                                      all(str(a) in d for a in pair) for proto, pair in not_comparable)]:
        print(f"  label not comparable (fragments tshark did not reassemble): {d}")
        diffs.remove(d)
    split = [k for k, c in collections.Counter(label_key(s) for s in sessions).items() if c > 1]
    if not split or not diffs:
        failures.extend("label: " + d for d in diffs)
        return len(sessions), equal, len(diffs), 0
    long_idle = ["--tcp-idle", "7d", "--udp-idle", "7d", "--icmp-idle", "7d", "--other-idle", "7d"]
    whole, _ = picket_sessions(picket, readable, *long_idle)
    w_equal, w_diffs = compare_labels(name, whole, flows)
    failures.extend("label (idle timers 7d): " + d for d in w_diffs)
    split_shown = {f"{name} proto {k[0]} {show(k[1])} {show(k[2])}" for k in split}
    unexplained = [d for d in diffs if not any(d.startswith(t + ": ") for t in split_shown)]
    failures.extend("label: " + d for d in unexplained)
    for d in diffs:
        if d not in unexplained:
            print(f"  label difference of a split tuple (equal with idle timers of 7d: "
                  f"{not w_diffs}): {d}")
    return len(sessions), equal, len(unexplained), len(diffs) - len(unexplained)


# ---------------------------------------------------------------- checks

def incomparable(proto, a, b, not_comparable):
    return (proto, frozenset([a, b])) in not_comparable


def compare_conversations(name, ours, theirs, not_comparable, failures):
    matches = 0
    for key in sorted(set(ours) | set(theirs), key=str):
        if incomparable(key[0], key[1][0], key[2][0], not_comparable):
            print(f"  not comparable (fragments tshark did not reassemble): proto {key[0]} "
                  f"{show(key[1])} {show(key[2])}: tshark {dict(theirs.get(key, {}))}, ours {dict(ours.get(key, {}))}")
            continue
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


def compare_community_ids(name, sessions, theirs, not_comparable, failures):
    ours = collections.Counter()
    skip = set()
    for s in sessions:
        ours[s["community_id"]] += s["orig_pkts"] + s["resp_pkts"]
        if incomparable(s["proto"], ip(s["src_ip"]), ip(s["dst_ip"]), not_comparable):
            skip.add(s["community_id"])
    for cid in sorted(set(ours) | set(theirs)):
        if cid in skip or (ours[cid] != theirs[cid] and not_comparable and ours[cid] == 0):
            if ours[cid] != theirs[cid]:
                print(f"  not comparable (fragments tshark did not reassemble): community_id {cid}: "
                      f"tshark {theirs[cid]}, ours {ours[cid]}")
            continue
        if ours[cid] != theirs[cid]:
            failures.append(f"{name}: community_id {cid}: tshark {theirs[cid]} packets, ours {ours[cid]}")
    return sum(1 for cid in theirs if ours[cid] == theirs[cid])


def epoch_us(text):
    """tshark's frame.time_epoch ("1500000120.143656000") in whole µs, as pcap stores them."""
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000 + int((frac + "000000")[:6])


def expected_features(session, frames, n):
    """The first n packets of a session as tshark sees them (direction, wire length,
    payload length, inter-arrival µs, TCP flags), for a session alone on its 5-tuple."""
    src = (ip(session["src_ip"]), session["src_port"])
    want = {"direction": [], "wire_len": [], "payload_len": [], "iat_us": [], "tcp_flags": []}
    previous = None
    for length, proto, fsrc, _, v in [conv for conv, _ in frames[:n]]:
        ts = epoch_us(v["frame.time_epoch"])
        want["direction"].append(1 if fsrc == src else -1)
        want["wire_len"].append(length)
        if proto == TCP:
            want["payload_len"].append(int(v["tcp.len"] or 0))
            want["tcp_flags"].append(int(v["tcp.flags"], 16) & 0xFF)
        else:
            want["payload_len"].append(int(v["udp.length"]) - 8)
            want["tcp_flags"].append(0)
        want["iat_us"].append(0 if previous is None else ts - previous)
        previous = ts
    return want


def check_features(name, sessions, per_tuple, not_comparable, n, failures):
    """Shape for every session; values against tshark for each TCP/UDP session that is
    alone on its 5-tuple (a split tuple's packets cannot be told apart without our
    splitter) and has no fragment (tshark dissects its transport header elsewhere).
    Returns how many sessions were checked value by value."""
    tuple_sessions = collections.Counter(label_key(s) for s in sessions)
    compared = 0
    for s in sessions:
        where = f"{name}: session {s.get('uid')} {s['src_ip']}:{s['src_port']}"
        f = s.get("features")
        total = s["orig_pkts"] + s["resp_pkts"]
        if not isinstance(f, dict) or set(f) != {"direction", "wire_len", "payload_len", "iat_us", "tcp_flags"}:
            failures.append(f"{where}: --features {n}: want the five feature arrays, got {f!r}")
            continue
        lengths = {k: len(v) if isinstance(v, list) else -1 for k, v in f.items()}
        if set(lengths.values()) != {min(n, total)}:
            failures.append(f"{where}: feature arrays {lengths}, want 5 arrays of {min(n, total)}")
            continue
        if not all(isinstance(x, int) and not isinstance(x, bool) for v in f.values() for x in v):
            failures.append(f"{where}: features hold non-integers: {f}")
            continue
        if set(f["direction"]) - {1, -1} or f["iat_us"][0] != 0 or min(f["wire_len"]) <= 0 or \
                f["direction"].count(1) > s["orig_pkts"] or f["direction"].count(-1) > s["resp_pkts"]:
            failures.append(f"{where}: features out of range: {f}")
            continue
        if s["proto"] in (TCP, UDP) and tuple_sessions[label_key(s)] == 1 and \
                not any(fragment for _, fragment in per_tuple.get(label_key(s), [])) and \
                not incomparable(s["proto"], ip(s["src_ip"]), ip(s["dst_ip"]), not_comparable):
            want = expected_features(s, per_tuple.get(label_key(s), []), n)
            compared += 1
            for k in want:
                if f[k] != want[k]:
                    failures.append(f"{where}: feature {k} {f[k]}, tshark {want[k]}")
    return compared


def check_baseline(baseline, by_file, tshark_ids, failures):
    """Every tuple of the spec's baseline whose packets are in a shared capture (tshark
    found its ID there) has that ID on our session of that tuple. The spec's baseline
    also covers captures not copied to ../shared (its RSVP one): those are listed."""
    sessions = [s for name, ss in by_file.items() if name.startswith("communityid-") for s in ss]
    ids_by_pair = collections.defaultdict(set)
    ids_by_tuple = collections.defaultdict(set)
    for s in sessions:
        a, b = ip(s["src_ip"]), ip(s["dst_ip"])
        ids_by_pair[(s["proto"],) + tuple(sorted([a, b]))].add(s["community_id"])
        ids_by_tuple[pair_key(s["proto"], (a, s["src_port"]), (b, s["dst_port"]))].add(s["community_id"])
    checked = 0
    for e in baseline:
        if e["communityid"] not in tshark_ids:
            print(f"  baseline tuple not in the shared captures: proto {e['proto']} "
                  f"{e['saddr']} -> {e['daddr']} {e['communityid']}")
            continue
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
        return skip_code(f"no captures at {args.pcaps}")
    for tool in ("tshark", "ndpiReader"):
        if shutil.which(tool) is None:
            return skip_code(f"{tool} is not installed")

    names, missing = capture_list(args.pcaps)
    failures = [f"{m}: listed in MANIFEST.tsv but missing from {args.pcaps}" for m in missing]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    if not names:
        return skip_code(f"no capture files in {args.pcaps}")

    by_file, label_rows, spec_ids = {}, [], set()
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
                exact, table_rows, tshark_ids, per_tuple, odd = tshark_conversations(path, file_failures, name)
                conv_equal = compare_conversations(name, our_conversations(sessions), exact, odd, file_failures)
                cid_equal = compare_community_ids(name, sessions, tshark_ids, odd, file_failures)
                if name.startswith("communityid-"):
                    spec_ids |= set(tshark_ids)
                print(f"{name:38} {len(sessions):8} {table_rows:11} {conv_equal:>4}/{len(exact):<5} "
                      f"{len(tshark_ids):4} {cid_equal:9}   [{summary}]")
                label_rows.append((name,) + check_labels(args.picket, name, readable, sessions,
                                                         ndpi_flows(readable), odd, file_failures))
                featured, _ = picket_sessions(args.picket, readable, "--features", "8")
                if len(featured) != len(sessions):
                    file_failures.append(f"{name}: {len(featured)} sessions with --features, {len(sessions)} without")
                compared = check_features(name, featured, per_tuple, odd, 8, file_failures)
                print(f"  --features 8: {len(featured)} sessions checked, {compared} of them against tshark's packets")
            except (AssertionError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
                file_failures.append(f"{name}: {type(e).__name__}: {e}")
            for f in file_failures:
                print("   ", f)
            failures.extend(file_failures)

        # The classic pcap with the most packets (a torn copy keeps its first half).
        classic = [n for n in by_file if n.endswith(".pcap")]
        first_classic = max(classic, key=lambda n: os.path.getsize(os.path.join(args.pcaps, n)), default=None)
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
                    checked = check_baseline(json.load(f), by_file, spec_ids, failures)
                print(f"Community ID spec baseline: {checked} tuples checked, {len(failures) - before} differences")

        print(f"\n{'labels: file':38} {'flows':>6} {'equal':>6} {'differences':>11} {'split (explained)':>17}")
        for name, flows, equal, ndiff, split in label_rows:
            print(f"{name:38} {flows:6} {equal:6} {ndiff:11} {split:17}")
        print(f"{'total':38} " + " ".join(f"{sum(r[i] for r in label_rows):{w}}"
                                          for i, w in ((1, 6), (2, 6), (3, 11), (4, 17))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report(failures)


if __name__ == "__main__":
    sys.exit(main())
