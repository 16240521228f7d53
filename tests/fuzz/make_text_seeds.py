#!/usr/bin/env python3
"""make_text_seeds: seed inputs for the text fuzz targets, synthetic and small.

Writes tests/fuzz/corpus/<target>/seed-* (replacing earlier seed-* files; other
files there, e.g. crash reproducers, stay) for config, sse, gunzip, ndjson, http
and zk_documents. The config seeds start from config/picketd.example.json; every
other byte is made here. Deterministic. The input layouts (first-byte knobs) are
described at the top of each <target>_fuzzer.cc.

usage: tests/fuzz/make_text_seeds.py [CORPUS_DIR]
"""
import glob
import gzip
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def config_seeds():
    with open(os.path.join(ROOT, "config", "picketd.example.json")) as f:
        example = json.load(f)
    seeds = {"example": json.dumps(example, indent=1), "empty-object": "{}", "not-object": "[1,2]"}
    minimal = {"device": {"id": "gw-2"}, "capture": {"enabled": False}}
    seeds["minimal"] = json.dumps(minimal)
    bad = json.loads(json.dumps(example))
    bad["capture"]["filter"] = "tcp port ((("
    bad["capture"]["snaplen"] = -1
    bad["upload"]["collectors"] = ["ftp://x", "http://[::1]:99999"]
    bad["scans"][0]["ports"] = "0-70000"
    bad["scans"][0]["targets"] = "10.0.0.0/33"
    seeds["refused"] = json.dumps(bad)
    seeds["units"] = json.dumps({"buffer": {"max_bytes": "18446744073709551616GiB"},
                                 "capture": {"chunk_max_age": "99999999999999h"}})
    seeds["unknown-key"] = json.dumps({"capture": {"interfaces": "lo"}, "extra": 1})
    seeds["deep"] = "[" * 40 + "]" * 40
    return seeds


def sse_seeds():
    k = b"\x05"  # split pattern knob
    return {
        "events": k + b"id: 1\ndata: {\"line\":1}\n\n: ping\n\nid: 2\nevent: log\ndata: a\ndata: b\n\n",
        "crlf": k + b"data:x\r\n\r\nid:7\r\ndata: y\r\n\r\n",
        "cr": b"\x11" + b"data: one\rdata: two\r\r",
        "retry-unknown": b"\x02" + b"retry: 1000\nfoo: bar\nid\ndata\n\n",
        "half": b"\x03" + b"data: never finished",
        "bom": b"\x07" + "\ufeffdata: bom\n\n".encode(),
    }


def gunzip_seeds():
    text = b'{"ts":1,"msg":"hello"}\n' * 20
    members = gzip.compress(b"abc", mtime=0) + gzip.compress(b"def", mtime=0)
    return {
        "small": b"\x10" + gzip.compress(text, mtime=0),
        "capped": b"\x03" + gzip.compress(text, mtime=0),
        "two-members": b"\x10" + members,
        "trailing": b"\x10" + gzip.compress(b"x", mtime=0) + b"junk",
        "truncated": b"\x10" + gzip.compress(text, mtime=0)[:20],
        "bomb": b"\x0c" + gzip.compress(b"\0" * 200000, mtime=0),
        "round-trip": b"\x8a" + text,
    }


RESULT = {"job": "lab-web", "ip": "192.0.2.1", "port": 443, "proto": "tcp", "state": "open"}
LOG = {"ts": 1700000000000, "level": "info", "tag": "capture", "msg": "chunk sealed"}


def ndjson_lines(objs):
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def ndjson_seeds():
    results = ndjson_lines([RESULT, dict(RESULT, port=80, state="closed"), {"ip": "::1"}])
    logs = ndjson_lines([LOG, dict(LOG, level="error", msg="caf\u00e9")])
    return {
        "results": b"\x00" + results,
        "results-replay": b"\x02" + results,
        "logs": b"\x01" + logs,
        "logs-replay": b"\x03" + logs + b"\n\n",
        "not-object": b"\x00" + b"[1]\n",
        "bad-utf8": b"\x01" + b'{"msg":"\xff\xfe"}\n',
        "deep": b"\x00" + b'{"a":' * 40 + b"1" + b"}" * 40 + b"\n",
        "crlf": b"\x00" + b'{"ip":"192.0.2.9","port":"22","proto":"tcp"}\r\n',
    }


def http(method, target, headers=(), body=b""):
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    for k, v in headers:
        head += f"{k}: {v}\r\n".encode()
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n".encode()
    return head + b"\r\n" + body


DEV = [("Authorization", "Bearer device-token-1")]
OPS = [("Authorization", "Bearer operator-token-1")]


def http_seeds():
    results = ndjson_lines([RESULT])
    logs = ndjson_lines([LOG])
    chunk = b"\xd4\xc3\xb2\xa1" + b"\0" * 20
    seeds = {
        "healthz": http("GET", "/healthz"),
        "results": http("POST", "/v1/results", DEV + [("Content-Type", "application/x-ndjson"),
                                                     ("Idempotency-Key", "k1")], results),
        "logs-gzip": http("POST", "/v1/logs", DEV + [("Content-Type", "application/x-ndjson"),
                                                    ("Content-Encoding", "gzip"),
                                                    ("Idempotency-Key", "k2")], gzip.compress(logs, mtime=0)),
        "chunk": http("PUT", "/v1/devices/gw-1/chunks/1", DEV + [
            ("Content-Type", "application/vnd.tcpdump.pcap"),
            ("Digest", "sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
            ("X-Picket-Chunk-Start", "1700000000000000"), ("X-Picket-Chunk-End", "1700000001000000"),
            ("X-Picket-Packets", "0")], chunk),
        "heartbeat": http("POST", "/v1/devices/gw-1/heartbeat", DEV + [("Content-Type", "application/json")],
                          json.dumps({"config": {"applied_version": 3}, "counters": {}}).encode()),
        "list": http("GET", "/v1/results?device=gw-1&since=0&limit=5", OPS),
        "logs-follow": http("GET", "/v1/logs?follow=1&tail=3", OPS),
        "devices": http("GET", "/v1/devices", OPS),
        "sessions": http("GET", "/v1/sessions?device=gw-1&limit=2", OPS),
        "login": http("POST", "/v1/login", [("Content-Type", "application/json")],
                      json.dumps({"user": "admin", "password": "x"}).encode()),
        "no-token": http("GET", "/v1/chunks"),
        "bad-target": http("GET", "/v1/devices/%zz/../status?x=%"),
        "chunked": b"POST /v1/results HTTP/1.1\r\nAuthorization: Bearer device-token-1\r\n"
                   b"Transfer-Encoding: chunked\r\nContent-Type: application/x-ndjson\r\n\r\n"
                   b"5\r\n{}\n\n\r\n0\r\n\r\n",
    }
    # Two requests on one connection.
    seeds["pipelined"] = seeds["healthz"] + seeds["list"]
    return seeds


def inflated(kind, count, prefix, suffix, middle):
    """zk_documents_fuzzer's bit-7 form: prefix x count*1024, middle, suffix x count*1024."""
    return bytes([0x80 | kind, count, len(prefix)]) + prefix + bytes([len(suffix)]) + suffix + middle


def zk_seeds():
    # First byte: which document the rest is (zk_documents_fuzzer.cc's switch).
    job = {"targets": "192.0.2.0/28", "ports": "22,80", "shards": 4, "rate_pps": 100,
           "mode": "connect", "seed": 7}
    status = {"device": "gw-1", "group": "lab", "config": {"applied_version": 3},
              "worker": {"state": "running"}, "counters": {"bytes_pending": 10},
              "last_error": "", "scan": {"shards": [{"job": "lab-job", "shard": 1, "checkpoint": 5,
                                                    "total": 16}]}}
    docs = [
        (0, "device-config", json.dumps({"capture": {"enabled": False}, "version": 3})),
        (1, "group-device", json.dumps({"upload": {"gzip": False}}) + "\0" +
         json.dumps({"capture": {"filter": "tcp"}, "version": 4})),
        (2, "job", json.dumps(job)),
        (3, "claim", "\x01" + json.dumps({"device": "gw-1", "session": 77, "at_ms": 1700000000000})),
        (4, "progress", "\x02" + json.dumps({"checkpoint": 12})),
        (5, "done", "\x03" + json.dumps({"device": "gw-1", "results": 3})),
        (6, "status", json.dumps(status)),
        (7, "collector", json.dumps({"url": "http://127.0.0.1:8750", "id": "c1"})),
        (8, "sync", json.dumps({"version": 4, "error": "capture.filter: bad"})),
        (9, "view", json.dumps({"version": 4}) + "\0" + json.dumps(status) + "\0" +
         json.dumps({"version": 5, "error": "x"})),
    ]
    seeds = {name: bytes([kind]) + text.encode() for kind, name, text in docs}
    # 1 MiB-class nodes from a few bytes: deep nesting and a long string.
    seeds["deep-device-config"] = inflated(0, 100, b'{"a":', b"}", b"1")
    seeds["deep-array-config"] = inflated(0, 100, b'{"x":[', b"]}", b"")
    seeds["deep-group"] = inflated(1, 60, b"[", b"]", b"")
    seeds["deep-claim"] = inflated(3, 100, b"[", b"]", b"")
    seeds["long-collector"] = inflated(7, 200, b"", b"a", b'{"url":"http://h/')
    return seeds


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    sets = {"config": config_seeds(), "sse": sse_seeds(), "gunzip": gunzip_seeds(),
            "ndjson": ndjson_seeds(), "http": http_seeds(), "zk_documents": zk_seeds()}
    for target, seeds in sets.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for old in glob.glob(os.path.join(d, "seed-*")):
            os.remove(old)
        for name, data in seeds.items():
            with open(os.path.join(d, "seed-" + name), "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
