#!/usr/bin/env python3
"""make_flows_pcap: a large capture of many distinct flows, built from real captures.

For sessions_bench.py (and usable alone). Reads the classic pcap files of a folder
(default ../shared/pcaps), and writes one Ethernet pcap holding many copies of them:

- Every copy gets addresses of its own, so no two copies share a flow: the IPv4
  addresses of a source file are numbered 0..n-1 and address i of copy g becomes
  10.0.0.0 + g*stride + i + 1 (10/8; stride = the most IPv4 addresses of one file);
  IPv6 ones become fd00::<g>:<i>. Only the outer IP header's addresses change
  (plus the IPv4 header checksum and the TCP/UDP/ICMPv6 checksums, updated
  incrementally per RFC 1624, so checksums stay as right or wrong as they were).
  Ports, payloads, lengths, snaplen cuts, non-IP frames stay as they are.
- The one BSD loopback (DLT_NULL) capture is re-framed as Ethernet (a 14-byte
  header in place of the 4-byte one, so its frames are 10 bytes longer).
- Time: copy j (copies shuffled with a fixed seed) starts at T0 + j*span/copies;
  inside a copy the original gaps are kept but each is capped at --max-gap
  seconds (one source file has a 3-year gap). The output is in time order.
- The mix: every file once per "round" (all copies), plus extra copies of the
  files with the fewest bytes per flow (DNS, UDP, ICMP) until both --min-bytes
  and --min-flows are met (flows counted here as distinct 5-tuples per file,
  either direction; the bench counts the analyser's sessions).

Deterministic: the same inputs and flags give the same bytes. Runs at about
a few µs per packet in CPython: ~1 GiB in 1-3 minutes.

usage: make_flows_pcap.py OUT.pcap [--pcaps DIR] [--min-bytes N] [--min-flows N] [--span S] [--meta F.json]
"""
import argparse
import json
import os
import random
import struct
import sys
import time

LINK_NULL, LINK_ETHERNET = 0, 1
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TYPES = (0x8100, 0x88A8, 0x9100)
IPV6_EXT = (0, 43, 44, 50, 51, 60, 135, 139, 140)
NULL_AF_IPV4, NULL_AF_IPV6 = (2,), (10, 24, 28, 30)
V4_BASE = 10 << 24
V6_PREFIX = bytes([0xFD] + [0] * 7)


def read_pcap(path):
    """(link_type, [(ts_us, wire_len, data)]) of a classic pcap file (either byte order, µs or ns)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 24:
        raise ValueError(f"{path}: shorter than a pcap header")
    magic = struct.unpack_from("<I", raw)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise ValueError(f"{path}: not a classic pcap file (magic {magic:#x})")
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    link = struct.unpack_from(endian + "I", raw, 20)[0] & 0x0FFFFFFF
    rec = struct.Struct(endian + "IIII")
    out, off = [], 24
    while off + 16 <= len(raw):
        sec, frac, caplen, wire = rec.unpack_from(raw, off)
        if off + 16 + caplen > len(raw):
            break  # torn tail
        ts = sec * 1_000_000 + (frac // 1000 if nano else frac)
        out.append((ts, wire, raw[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return link, out


def fold(x):
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


def analyse_frame(link, wire, data):
    """Where the outer IP header's addresses and checksums are.
    Returns (data, wire, ip_info) with data re-framed as Ethernet; ip_info is None (not IP) or
    (version, addr_off, src, dst, ipck_off or -1, K_ip, l4ck_off or -1, K_l4, flow_key)."""
    if link == LINK_NULL:
        if len(data) < 4:
            return data, wire, None
        af = struct.unpack_from("<I", data)[0]
        if af > 0xFFFF:
            af = struct.unpack_from(">I", data)[0]
        etype = ETH_IPV4 if af in NULL_AF_IPV4 else ETH_IPV6 if af in NULL_AF_IPV6 else 0
        data = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01" + struct.pack(">H", etype) + data[4:]
        wire += 10
    off = 12
    if len(data) < 14:
        return data, wire, None
    etype = struct.unpack_from(">H", data, off)[0]
    while etype in VLAN_TYPES and off + 6 <= len(data):
        off += 4
        etype = struct.unpack_from(">H", data, off)[0]
    ip = off + 2
    if etype == ETH_IPV4 and len(data) >= ip + 20 and data[ip] >> 4 == 4:
        ihl = (data[ip] & 0xF) * 4
        proto = data[ip + 9]
        frag = struct.unpack_from(">H", data, ip + 6)[0] & 0x1FFF
        a_off, alen = ip + 12, 4
        l4 = ip + ihl if frag == 0 and ihl >= 20 else -1
        ipck = ip + 10
    elif etype == ETH_IPV6 and len(data) >= ip + 40 and data[ip] >> 4 == 6:
        proto, l4, ipck = data[ip + 6], ip + 40, -1
        a_off, alen = ip + 8, 16
        while proto in IPV6_EXT and proto not in (50,):
            if l4 + 8 > len(data):
                l4 = -1
                break
            nxt = data[l4]
            if proto == 44:
                if struct.unpack_from(">H", data, l4 + 2)[0] & 0xFFF8:
                    l4 = -1  # not the first fragment: no L4 header here
                    break
                l4 += 8
            elif proto == 51:
                l4 += (data[l4 + 1] + 2) * 4
            else:
                l4 += (data[l4 + 1] + 1) * 8
            proto = nxt
        if proto in IPV6_EXT:
            l4 = -1
    else:
        return data, wire, None
    addrs = data[a_off:a_off + 2 * alen]
    old_neg = sum((~w) & 0xFFFF for w in struct.unpack(f">{alen}H", addrs))
    k_ip = -1
    if ipck >= 0:
        k_ip = ((~struct.unpack_from(">H", data, ipck)[0]) & 0xFFFF) + old_neg
    l4ck = {6: 16, 17: 6, 58: 2}.get(proto, -1) if l4 >= 0 else -1
    if l4ck >= 0:
        l4ck += l4
        if l4ck + 2 > len(data):
            l4ck = -1
        elif proto == 17 and alen == 4 and struct.unpack_from(">H", data, l4ck)[0] == 0:
            l4ck = -1  # IPv4 UDP without checksum
    k_l4 = -1
    if l4ck >= 0:
        k_l4 = ((~struct.unpack_from(">H", data, l4ck)[0]) & 0xFFFF) + old_neg
    sport = dport = 0
    if l4 >= 0 and proto in (6, 17, 132) and l4 + 4 <= len(data):
        sport, dport = struct.unpack_from(">HH", data, l4)
    src, dst = data[a_off:a_off + alen], data[a_off + alen:a_off + 2 * alen]
    ends = sorted([(src, sport), (dst, dport)])
    return data, wire, (alen, a_off, src, dst, ipck, k_ip, l4ck, k_l4, (proto, *ends))


class Source:
    """One input file as templates: (rel_ts_us, wire, data, ip_info with address indexes)."""

    def __init__(self, path, max_gap_us):
        self.path = path
        self.name = os.path.basename(path)
        link, packets = read_pcap(path)
        if link not in (LINK_NULL, LINK_ETHERNET):
            raise ValueError(f"{path}: link type {link} not supported (Ethernet and BSD NULL only)")
        self.v4, self.v6 = {}, {}
        self.templates = []
        flows = set()
        rel, prev = 0, None
        for ts, wire, data in packets:
            if prev is not None:
                rel += max(0, min(ts - prev, max_gap_us))
            prev = ts
            data, wire, info = analyse_frame(link, wire, data)
            if info:
                alen, a_off, src, dst, ipck, k_ip, l4ck, k_l4, key = info
                table = self.v4 if alen == 4 else self.v6
                si = table.setdefault(src, len(table))
                di = table.setdefault(dst, len(table))
                flows.add(key)
                info = (alen, a_off, si, di, ipck, k_ip, l4ck, k_l4)
            self.templates.append((rel, wire, data, info))
        self.flows = len(flows)
        self.bytes = sum(16 + len(t[2]) for t in self.templates)
        self.duration_us = rel


def v4_addr(g, stride, i):
    v = V4_BASE + g * stride + i + 1
    return struct.pack(">I", v), (v >> 16) + (v & 0xFFFF)


def v6_addr(g, i):
    tail = struct.pack(">IHH", g, 0, i)
    return V6_PREFIX + tail, (g >> 16) + (g & 0xFFFF) + i + 0xFD00


def plan(sources, min_bytes, min_flows):
    """Copies per source: all once per round, plus the flow-dense ones as needed."""
    total_b = sum(s.bytes for s in sources)
    total_f = sum(s.flows for s in sources)
    ratio = min_bytes / max(1, min_flows)
    dense = [s for s in sources if s.flows and s.bytes / s.flows < ratio]
    dense_b = sum(s.bytes for s in dense)
    dense_f = sum(s.flows for s in dense)
    rounds = -(-min_bytes // total_b)
    extra = 0
    if dense and rounds * total_f < min_flows:
        # rounds*total + extra*dense meets both: solve the 2x2 system, then round up.
        det = total_b * dense_f - dense_b * total_f
        if det > 0:
            rounds = max(0, -(-(min_bytes * dense_f - dense_b * min_flows) // det))
        extra = max(0, -(-(min_flows - rounds * total_f) // dense_f))
        while rounds * total_b + extra * dense_b < min_bytes:
            rounds += 1
    copies = {s.name: rounds for s in sources}
    for s in dense:
        copies[s.name] += extra
    return copies


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("out")
    ap.add_argument("--pcaps", default=os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "pcaps")))
    ap.add_argument("--min-bytes", type=int, default=1 << 30, help="at least this many bytes (default 1 GiB)")
    ap.add_argument("--min-flows", type=int, default=1_100_000,
                    help="at least this many flows, 10 %% over 1 million by default (this count is approximate)")
    ap.add_argument("--span", type=float, default=900, help="seconds of packet time the copies start in (900)")
    ap.add_argument("--max-gap", type=float, default=10, help="cap on one gap inside a copy, seconds (10)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--meta", help="also write what was built (sizes, counts, flags) to this JSON file")
    a = ap.parse_args()
    if a.min_bytes < 0 or a.min_flows < 0 or a.span <= 0 or a.max_gap < 0:
        ap.error("need non-negative sizes, a positive span")
    t0 = time.monotonic()
    names = sorted(n for n in os.listdir(a.pcaps) if n.endswith(".pcap"))
    if not names:
        print(f"make_flows_pcap: no .pcap files in {a.pcaps}", file=sys.stderr)
        return 1
    sources = [Source(os.path.join(a.pcaps, n), int(a.max_gap * 1e6)) for n in names]
    copies = plan(sources, a.min_bytes, a.min_flows)
    stride4 = max(len(s.v4) for s in sources) or 1
    # copy list: (source, global copy number g); shuffled, then spread over the span.
    order = [(si, k) for si, s in enumerate(sources) for k in range(copies[s.name])]
    if len(order) * stride4 >= 1 << 24:
        print(f"make_flows_pcap: {len(order)} copies x {stride4} IPv4 addresses do not fit in 10/8",
              file=sys.stderr)
        return 1
    random.Random(a.seed).shuffle(order)
    n_copies = len(order)
    step = int(a.span * 1e6) // max(1, n_copies)
    p_max = max(len(s.templates) for s in sources)
    keys = []
    for j, (si, _) in enumerate(order):
        start = j * step
        base = j * p_max
        keys.extend((start + t[0]) * (n_copies * p_max) + base + pi for pi, t in enumerate(sources[si].templates))
    keys.sort()
    t_sort = time.monotonic()
    start_us = 1_700_000_000 * 1_000_000  # 2023-11-14: a fixed, recent epoch
    mult = n_copies * p_max
    rec = struct.Struct("<IIII")
    total_bytes = 24
    packets = 0
    tmp = a.out + ".part"
    with open(tmp, "wb", buffering=1 << 22) as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINK_ETHERNET))
        batch = []
        for key in keys:
            rel, rest = divmod(key, mult)
            j, pi = divmod(rest, p_max)
            si = order[j][0]
            _, wire, data, info = sources[si].templates[pi]
            if info:
                alen, a_off, s_i, d_i, ipck, k_ip, l4ck, k_l4 = info
                if alen == 4:
                    sa, ss = v4_addr(j, stride4, s_i)
                    da, ds = v4_addr(j, stride4, d_i)
                else:
                    sa, ss = v6_addr(j, s_i)
                    da, ds = v6_addr(j, d_i)
                buf = bytearray(data)
                buf[a_off:a_off + 2 * alen] = sa + da
                new = ss + ds
                if ipck >= 0:
                    struct.pack_into(">H", buf, ipck, (~fold(k_ip + new)) & 0xFFFF)
                if l4ck >= 0:
                    ck = (~fold(k_l4 + new)) & 0xFFFF
                    if ck == 0 and l4ck - a_off in (6 + 2 * alen + 20, 6 + 2 * alen) and alen == 16:
                        ck = 0xFFFF  # UDP over IPv6: 0 is not allowed on the wire
                    struct.pack_into(">H", buf, l4ck, ck)
                data = buf
            ts = start_us + rel
            batch.append(rec.pack(ts // 1_000_000, ts % 1_000_000, len(data), wire))
            batch.append(data)
            total_bytes += 16 + len(data)
            packets += 1
            if len(batch) >= 8192:
                f.writelines(batch)
                batch.clear()
        f.writelines(batch)
    os.replace(tmp, a.out)
    flows = sum(s.flows * copies[s.name] for s in sources)
    if a.meta:
        with open(a.meta, "w") as f:
            json.dump({"bytes": total_bytes, "packets": packets, "flows_estimate": flows, "copies": copies,
                       "span": a.span, "max_gap": a.max_gap, "seed": a.seed, "min_bytes": a.min_bytes,
                       "min_flows": a.min_flows, "sources": {s.name: s.bytes for s in sources}}, f, indent=1)
    print(f"make_flows_pcap: {a.out}: {total_bytes:,} B, {packets:,} packets, ~{flows:,} flows, "
          f"{n_copies:,} copies of {len(sources)} files "
          f"({', '.join(f'{s.name} x{copies[s.name]}' for s in sources if copies[s.name] != copies[sources[0].name]) or 'all equal'}"
          f"; others x{min(copies.values())}), span {a.span:.0f} s; "
          f"plan+sort {t_sort - t0:.1f} s, write {time.monotonic() - t_sort:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
