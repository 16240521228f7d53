"""Shared checks of picket's end-to-end tests: reading pcap bytes, the root
check, a process's children, the closing report line. Tests import it from
their own directory; the processes they start (picketd, the collector,
ZooKeeper, MariaDB) are owned by ../pylib/servers.py."""
import os, socket, struct, subprocess, time, urllib.request


def root_or_skip():
    """None when the test may run; otherwise the exit code to return (77 = skip)."""
    if os.geteuid() == 0:
        return None
    if os.environ.get("CI") == "true":
        print("FAIL: live capture needs root and CI=true forbids skipping")
        return 1
    print("SKIP: not root")
    return 77


def http_get(url, token=None, timeout=10):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
        return r.read()


def pcap_frames(data):
    """Yields the frames of a classic pcap file; fails on a torn last record."""
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        yield data[off + 16:off + 16 + caplen]
        off += 16 + caplen
    assert off == len(data), "trailing bytes: torn pcap"


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] not in "ZX"
    except FileNotFoundError:
        return False


def remove_unless_kept(path):
    if os.environ.get("PICKET_KEEP_TEST_DIR") is None:
        subprocess.run(["rm", "-rf", path])
    else:
        print("kept", path)


def report(failures, figures=None, t_start=None):
    """Prints the figures and the run time (when given), each failure and the closing
    'N passed, M failed' line; returns the exit code."""
    if figures is not None:
        print("figures:")
        for f in figures:
            print("  " + f)
    if t_start is not None:
        print(f"total run time {time.monotonic() - t_start:.1f} s")
    for f in failures:
        print("FAIL:", f)
    print("1 passed, 0 failed" if not failures else "0 passed, 1 failed")
    return 0 if not failures else 1


def open_listeners(hosts, ports, count, rng):
    """Listens on `count` random (host, port) pairs of hosts x ports[0]..ports[1] (127.x only).
    Returns (sockets, truth): truth is every pair that accepts a connection, ours or not."""
    sockets = []
    for _ in range(count * 4):
        if len(sockets) >= count:
            break
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((rng.choice(hosts), rng.randint(*ports)))
        except OSError:
            s.close()
            continue
        s.listen(64)
        sockets.append(s)
    truth = set()
    for h in hosts:
        for p in range(ports[0], ports[1] + 1):
            with socket.socket() as c:
                c.settimeout(0.2)
                if c.connect_ex((h, p)) == 0:
                    truth.add((h, p))
    return sockets, truth


def pcap_packets(data, torn_ok=False):
    """[(ts_us, wire_len, bytes)] of a classic pcap held in memory (µs or ns). `torn_ok`: a file
    still being written may end inside a record (that record is left out)."""
    if not data:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, wire = struct.unpack(endian + "IIII", data[off:off + 16])
        us = sec * 1_000_000 + (frac // 1000 if nano else frac)
        if off + 16 + caplen > len(data):
            break
        out.append((us, wire, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    if off != len(data) and not torn_ok:
        raise AssertionError("torn pcap")
    return out


def job_done_nodes(zk, root, job):
    """A shared job's done nodes by shard number ({} while there are none)."""
    from servers import read_json
    try:
        names = zk.get_children(f"{root}/jobs/{job}/done")
    except Exception:
        return {}
    return {int(n): read_json(zk, f"{root}/jobs/{job}/done/{n}") for n in names}
