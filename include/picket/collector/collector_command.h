// `picket collector`: the central ingest server (DESIGN.md §5). The CLI's
// command table calls RunCollectorCommand; everything else stays inside the
// collector module.
#pragma once

#include <span>
#include <string_view>

namespace picket::collector {

inline constexpr std::string_view kCollectorSummary =
    "receive pcap chunks, scan results and logs from picketd devices";

inline constexpr std::string_view kCollectorUsage =
    "collector --listen ADDR:PORT --data DIR (--tokens FILE | --insecure-no-auth)\n"
    "                 [--tls-cert FILE --tls-key FILE [--client-ca FILE]] [--max-body SIZE]\n"
    "                 [--max-inflight N] [--device-disk-quota SIZE]\n"
    "                 [--max-followers N] [--threads N] [--ready-file PATH]\n"
    "                 [--max-connections N] [--max-connections-per-address N]\n"
    "                 [--max-inflight-per-device N] [--device-bytes-per-minute SIZE]\n"
    "                 [--device-rows-per-minute N]\n"
    "                 [--zk HOSTS --advertise URL [--zk-root PATH] [--collector-id ID]\n"
    "                  (--zk-user USER --zk-password-file FILE | --zk-open-acl)]\n"
    "                 [--no-sessions] [--session-retention DURATION] [--session-gap-wait DURATION]\n"
    "                 [--session-tcp-idle D] [--session-udp-idle D] [--session-icmp-idle D]\n"
    "                 [--heartbeat-retention DURATION] [--min-free-disk SIZE|PCT%]\n"
    "                 [--db URL [--db-password-file FILE]]\n\n"
    "  --listen ADDR:PORT   address to serve on; port 0 picks a free port (logged)\n"
    "  --data DIR           collector.db (SQLite) and chunks/<device>/<seq>.pcap\n"
    "  --tokens FILE        lines '<device-id> sha256:<hex>' (the SHA-256 of the token; plaintext\n"
    "                       tokens are refused); '@operator sha256:<hex>' is a read token,\n"
    "                       '@admin sha256:<hex>' an admin token (read + the actions of --db);\n"
    "                       'picket token add' issues one; SIGHUP reloads the file\n"
    "  --insecure-no-auth   accept every request without a token (tests, labs)\n"
    "  --tls-cert, --tls-key  PEM certificate chain and key: serve HTTPS\n"
    "  --client-ca FILE     PEM CA bundle: ask clients for a certificate (optional; one that\n"
    "                       does not verify fails the handshake); a verified one whose CN (or\n"
    "                       DNS SAN) is a device id authenticates as that device (mTLS)\n"
    "  --max-body SIZE      largest request body after decompression (default 64MiB)\n"
    "  --max-inflight N     uploads served at once, and as many other requests (reads,\n"
    "                       heartbeats) apart; more get 429 (default 64)\n"
    "  --max-followers N    open log streams (GET /v1/logs?follow=1); more get 503 (default 64)\n"
    "  --max-connections N  open connections in all; at the cap the oldest idle one is closed\n"
    "                       for a new one (default: 4096, or the file limit - 128 if lower)\n"
    "  --max-connections-per-address N  open connections from one client address; more are\n"
    "                       closed at once (default 256)\n"
    "  --max-inflight-per-device N  one device's requests at once; more get 429 with\n"
    "                       Retry-After, so no device holds every --max-inflight slot (default 8)\n"
    "  --device-bytes-per-minute SIZE  what one device may store a minute (decompressed chunks,\n"
    "                       results and logs); more gets 429 with Retry-After (default 8GiB; 0: off)\n"
    "  --device-rows-per-minute N  result and log lines one device may store a minute\n"
    "                       (default 1000000; 0: off)\n"
    "  --device-disk-quota SIZE  chunk bytes one device may keep stored (counted in\n"
    "                       collector.db); past it its PUTs get 429 with Retry-After, others go\n"
    "                       on (default 0: off, as the collector deletes no chunks)\n"
    "  --threads N          I/O threads (default 2)\n"
    "  --ready-file PATH    once listening, write the base URL there (atomically)\n"
    "  --zk HOSTS           register in ZooKeeper (HOST:PORT[,HOST:PORT...][/chroot]) as the\n"
    "                       ephemeral node <root>/collectors/<id>; retried in the background\n"
    "  --advertise URL      base URL devices should use (required with --zk)\n"
    "  --zk-root PATH       ZooKeeper root of the picket tree (default /picket)\n"
    "  --collector-id ID    [A-Za-z0-9._-]{1,64} (default <hostname>-<port>)\n"
    "  --zk-user USER, --zk-password-file FILE\n"
    "                       the fleet's admin ZooKeeper identity (as picket sync's): the\n"
    "                       registration is readable by devices, writable only by it\n"
    "  --zk-open-acl        UNSAFE: ZooKeeper without credentials (world:anyone nodes,\n"
    "                       anyone can register a fake collector); refused unless given\n"
    "  --no-sessions        do not analyse chunks into sessions (GET /v1/sessions still\n"
    "                       serves <data>/sessions.db)\n"
    "  --session-retention DURATION  delete sessions whose last packet is older (default\n"
    "                       30d; 0 keeps them)\n"
    "  --session-gap-wait DURATION  how long a later chunk waits for a missing seq before\n"
    "                       the missing seqs are skipped and open sessions end with 'gap'\n"
    "                       (default 30s)\n"
    "  --session-tcp-idle, --session-udp-idle, --session-icmp-idle DURATION\n"
    "                       idle timeouts on packet time (default 5m, 1m, 30s)\n"
    "  --heartbeat-retention DURATION  keep device heartbeat rollups (<data>/fleet.db) this\n"
    "                       long (default 7d, at least 1h)\n"
    "  --min-free-disk SIZE|PCT%  GET /readyz answers 503 when the --data file system has\n"
    "                       less free (default 1%)\n"
    "  --db URL             the operator database (mysql://USER[:PASS]@HOST[:PORT]/DB, as\n"
    "                       picket sync takes it): enables the admin actions (submit and\n"
    "                       cancel scans, set a device's config) for admin tokens;\n"
    "                       PICKET_DB_PASSWORD overrides the URL's password\n"
    "  --db-password-file FILE  the database password, one line in a private file\n"
    "                       (overrides the URL's and PICKET_DB_PASSWORD)\n\n"
    "Fleet state: devices POST /v1/devices/ID/status heartbeats; GET /v1/fleet, /v1/issues,\n"
    "/v1/devices/ID/status, /v1/devices/ID/series, /v1/scans, /metrics (Prometheus),\n"
    "/healthz and /readyz (config/API.md). With --zk the devices', groups' and jobs' nodes\n"
    "are read every 2 s on a thread of their own.\n\n"
    "The web page is served at / (assets at /ui/NAME): operators log in with their\n"
    "token for an HttpOnly session cookie; see config/API.md.\n\n"
    "GET /v1/logs?device=ID&follow=1 streams log lines as server-sent events: the stored\n"
    "lines after 'since' (row id; or 'since_ms', or the Last-Event-ID header), then each new\n"
    "line as it is posted, with a ': ping' comment every 15 s.\n\n"
    "SIGHUP rereads the --tokens file (a file that does not load keeps the old tokens and\n"
    "logs why). At start, chunk files without a database row (a crash before their commit)\n"
    "are removed.\n\n"
    "SIGTERM or SIGINT stops accepting, finishes requests in flight, ends log streams,\n"
    "deletes the ZooKeeper node and exits 0.\n";

// Runs until SIGTERM/SIGINT. Exit codes: 0 after a clean shutdown, 2 for a
// bad flag, 1 for any other startup error (one line on stderr naming it).
int RunCollectorCommand(std::span<char* const> args);

}  // namespace picket::collector
