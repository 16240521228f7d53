#!/usr/bin/env python3
"""make_seed_corpus: the analysis fuzzer's seed inputs, synthetic and small.

Writes tests/fuzz/corpus/analysis/<name> (replacing what is there): for every link type
the analyser reads (Ethernet with 802.1Q/QinQ, Linux cooked v1/v2, raw IPv4/IPv6,
BSD NULL/loopback) a few packets of TCP (handshake, data, FIN both ways), UDP
(a DNS query and answer, a TLS-less HTTP-ish payload), ICMP and ICMPv6 echo,
IPv6 with a hop-by-hop header, IPv4 and IPv6 fragments, SCTP and GRE; as classic
pcap (µs, ns, big-endian) and pcapng files (fuzzer mode: first byte even) and in
the fuzzer's framed form (first byte odd: link type by index, frames as
[length][flags][bytes]). Every byte is made here; nothing is copied from real
captures. Deterministic.

usage: tests/fuzz/make_seed_corpus.py [OUT_DIR]
"""
import os
import shutil
import struct
import sys

# Index in analysis_fuzzer.cc's kLinkTypes -> LINKTYPE value.
LINK_INDEX = {"ether": (0, 1), "sll": (1, 113), "sll2": (2, 276), "raw": (3, 101), "ipv4": (4, 228),
              "ipv6": (5, 229), "null": (6, 0), "loop": (7, 108)}
A4, B4 = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7])
A6 = bytes.fromhex("20010db8000000000000000000000001")
B6 = bytes.fromhex("20010db8000000000000000000000002")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload, ident=1, frag=0x4000):
    h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0, src, dst))
    struct.pack_into("!H", h, 10, csum(bytes(h)))
    return bytes(h) + payload


def ipv6(src, dst, nxt, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nxt, 64, src, dst) + payload


def tcp(sport, dport, seq, ack, flags, data=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + data


def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def icmp(type_, code, data=b"\0\x01\0\x01ping"):
    h = struct.pack("!BBH", type_, code, 0) + data
    return h[:2] + struct.pack("!H", csum(h)) + h[4:]


DNS_Q = bytes.fromhex("123401000001000000000000076578616d706c6503636f6d0000010001")
DNS_A = bytes.fromhex("123481800001000100000000076578616d706c6503636f6d0000010001c00c000100010000003c0004c0000201")
HTTP = b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: seed\r\n\r\n"


def ip_packets():
    """(is_v6, ip_packet) list covering the protocols and header shapes."""
    out = []
    # TCP: handshake, data both ways, FIN both ways.
    for v6, (a, b) in ((False, (A4, B4)), (True, (A6, B6))):
        def ip(src, dst, proto, pl):
            return ipv6(src, dst, proto, pl) if v6 else ipv4(src, dst, proto, pl)
        out += [(v6, ip(a, b, 6, tcp(40000, 80, 1, 0, 0x02))),
                (v6, ip(b, a, 6, tcp(80, 40000, 9, 2, 0x12))),
                (v6, ip(a, b, 6, tcp(40000, 80, 2, 10, 0x10))),
                (v6, ip(a, b, 6, tcp(40000, 80, 2, 10, 0x18, HTTP))),
                (v6, ip(b, a, 6, tcp(80, 40000, 10, 2 + len(HTTP), 0x18, b"HTTP/1.1 200 OK\r\n\r\n"))),
                (v6, ip(a, b, 6, tcp(40000, 80, 2 + len(HTTP), 29, 0x11))),
                (v6, ip(b, a, 6, tcp(80, 40000, 29, 3 + len(HTTP), 0x11))),
                (v6, ip(a, b, 6, tcp(40001, 443, 5, 0, 0x04))),
                (v6, ip(a, b, 17, udp(5353, 53, DNS_Q))),
                (v6, ip(b, a, 17, udp(53, 5353, DNS_A)))]
    out += [(False, ipv4(A4, B4, 1, icmp(8, 0))), (False, ipv4(B4, A4, 1, icmp(0, 0))),
            (False, ipv4(B4, A4, 1, icmp(3, 3, b"\0\0\0\0" + ipv4(A4, B4, 17, udp(1, 2, b"x")))))]
    out += [(True, ipv6(A6, B6, 58, icmp(128, 0))), (True, ipv6(B6, A6, 58, icmp(129, 0))),
            (True, ipv6(A6, B6, 58, icmp(135, 0, b"\0" * 4 + B6)))]
    # IPv6 hop-by-hop (+ padding) in front of UDP; an IPv6 fragment pair.
    out.append((True, ipv6(A6, B6, 0, bytes([17, 0, 1, 4, 0, 0, 0, 0]) + udp(1000, 2000, b"hop"))))
    frag_payload = udp(3000, 4000, b"F" * 40)
    out.append((True, ipv6(A6, B6, 44, bytes([17, 0, 0, 1]) + b"\0\0\0\x2a" + frag_payload[:24])))
    out.append((True, ipv6(A6, B6, 44, bytes([17, 0, 0, 24]) + b"\0\0\0\x2a" + frag_payload[24:])))
    # IPv4 fragments of one UDP datagram (more-fragments, then offset 3*8).
    out.append((False, ipv4(A4, B4, 17, frag_payload[:24], ident=77, frag=0x2000)))
    out.append((False, ipv4(A4, B4, 17, frag_payload[24:], ident=77, frag=3)))
    # SCTP INIT and GRE (another IP protocol: ports 0).
    out.append((False, ipv4(A4, B4, 132, struct.pack("!HHII", 5000, 6000, 0, 0) + b"\x01\0\0\x14" + b"\0" * 16)))
    out.append((False, ipv4(A4, B4, 47, b"\0\0\x08\0" + ipv4(A4, B4, 17, udp(7, 7, b"in")))))
    # Cut short: an IPv4 header claiming more than there is.
    out.append((False, ipv4(A4, B4, 6, tcp(1, 2, 0, 0, 0x02))[:30]))
    return out


def frame(link, v6, pkt):
    etype = b"\x86\xdd" if v6 else b"\x08\x00"
    macs = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01"
    if link == "ether":
        return macs + etype + pkt
    if link == "ether-vlan":
        return macs + b"\x81\x00\x00\x64" + etype + pkt
    if link == "ether-qinq":
        return macs + b"\x88\xa8\x00\x0a\x81\x00\x00\x64" + etype + pkt
    if link == "sll":
        return struct.pack("!HHH", 0, 1, 6) + b"\x02\0\0\0\0\x01\0\0" + etype + pkt
    if link == "sll2":
        return etype + b"\0\0" + struct.pack("!IHBB", 2, 1, 0, 6) + b"\x02\0\0\0\0\x01\0\0" + pkt
    if link in ("raw", "ipv4", "ipv6"):
        return pkt
    if link == "null":
        return struct.pack("<I", 24 if v6 else 2) + pkt
    if link == "loop":
        return struct.pack("!I", 24 if v6 else 2) + pkt
    raise ValueError(link)


def pcap(linktype, frames, endian="<", nano=False):
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    for i, f in enumerate(frames):
        frac = i * 1000 * (1000 if nano else 1)
        out.append(struct.pack(endian + "IIII", 1_700_000_000 + i // 4, frac, len(f), len(f)) + f)
    return b"".join(out)


def pcapng(linktype, frames, ts_high=None):
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", linktype, 0, 65535))]
    for i, f in enumerate(frames):
        ts = (1_700_000_000 + i) * 1_000_000 if ts_high is None else (ts_high << 32) + i
        out.append(block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f))
    return b"".join(out)


def framed(link_index, frames, options=0):
    out = [bytes([link_index * 2 + 1, options])]
    for i, f in enumerate(frames):
        f = f[:255]
        out.append(bytes([len(f), 0x80 if i % 5 == 4 else 0x01]) + f)
    return b"".join(out)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "analysis")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    pkts = ip_packets()
    seeds = {}
    for link in ("ether", "ether-vlan", "ether-qinq", "sll", "sll2", "raw", "ipv4", "ipv6", "null", "loop"):
        chosen = [(v6, p) for v6, p in pkts if not ((link == "ipv4" and v6) or (link == "ipv6" and not v6))]
        frames = [frame(link, v6, p) for v6, p in chosen]
        base = link.split("-")[0]
        linktype = LINK_INDEX[base][1]
        # File mode (first byte even), options byte 0 and "short timers + features".
        seeds[f"pcap-{link}"] = b"\0\0" + pcap(linktype, frames)
        seeds[f"framed-{link}"] = framed(LINK_INDEX[base][0], frames, options=0x05 if len(frames) % 2 else 0x08)
    ether = [frame("ether", v6, p) for v6, p in pkts]
    seeds["pcap-ether-nano-bigendian"] = b"\0\x01" + pcap(1, ether, ">", True)
    seeds["pcapng-ether"] = b"\0\x0c" + pcapng(1, ether)
    # 64-bit pcapng times far beyond int64 microseconds (the fuzzer's first find: an overflow).
    seeds["pcapng-ether-far-future"] = b"\0\0" + pcapng(1, ether[:4], ts_high=0xFFFFFFFF)
    seeds["pcap-ether-tiny-table"] = b"\0\x43" + pcap(1, ether)
    seeds["pcap-ether-truncated"] = b"\0\0" + pcap(1, ether)[:300]
    seeds["framed-arp"] = framed(0, [b"\xff" * 6 + b"\x02\0\0\0\0\x01\x08\x06" + b"\0" * 28])
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
    print(f"make_seed_corpus: {len(seeds)} seeds in {out_dir} ({sum(map(len, seeds.values())):,} B)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
