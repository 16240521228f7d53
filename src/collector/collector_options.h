// `picket collector` flags, parsed and checked before anything is opened, so
// every startup error names the flag and value at fault.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "picket/common/status.h"
#include "picket/sync/db_url.h"

#include "picket/zk/connect_string.h"
#include "picket/zk/znode_layout.h"

namespace picket::collector {

struct CollectorOptions {
  std::string listen_host;  // IP literal, brackets stripped for IPv6
  std::uint16_t listen_port = 0;
  std::string data_dir;
  std::optional<std::string> tokens_file;
  bool insecure_no_auth = false;
  std::optional<std::string> tls_cert, tls_key;
  // PEM CA bundle: request client certificates and let a verified one whose
  // CN or DNS SAN is a device id authenticate as that device (mTLS).
  std::optional<std::string> client_ca;
  std::uint64_t max_body = 64ull << 20;  // after decompression
  int max_inflight = 64;
  // Connection caps (connection_limits.h); nullopt: min(4096, file limit - 128).
  std::optional<std::size_t> max_connections;
  std::size_t max_connections_per_address = 256;
  int max_inflight_per_device = 8;
  // Per-device ingest a minute (device_quota.h); 0 turns one off.
  std::uint64_t device_bytes_per_minute = 8ull << 30;  // above 1 Gbit/s of capture
  std::uint64_t device_rows_per_minute = 1'000'000;
  // Chunk bytes one device may keep stored; 0: no limit (the default: the
  // collector deletes no chunks, so any fixed default would one day stop every
  // healthy device for good; the per-minute byte quota bounds the rate).
  std::uint64_t device_disk_quota = 0;
  int max_followers = 64;  // open GET /v1/logs?follow=1 streams
  int threads = 2;
  std::optional<std::string> ready_file;

  // Session analysis (<data>/sessions.db); the API serves the store either way.
  bool sessions = true;                                         // --no-sessions: off
  std::chrono::milliseconds session_retention{30LL * 86400 * 1000};  // 0: keep
  std::chrono::milliseconds session_gap_wait{30'000};
  std::chrono::milliseconds session_tcp_idle{300'000}, session_udp_idle{60'000},
      session_icmp_idle{30'000};

  // Retention (retention.h); 0 turns a limit off.
  std::chrono::milliseconds retain_age{30LL * 86400 * 1000};
  // --retain-bytes: bytes, or a share of the chunk file system (--chunks, else --data) (resolved at start).
  std::uint64_t retain_bytes = 0;
  std::optional<double> retain_bytes_percent = 80.0;
  std::uint64_t retain_device_bytes = 0;
  std::chrono::milliseconds retain_interval{60'000};

  // Fleet state (<data>/fleet.db) and readiness.
  std::chrono::milliseconds heartbeat_retention{7LL * 86400 * 1000};
  std::string min_free_disk = "1%";  // --min-free-disk: SIZE or PCT%, checked by probes.h

  // ZooKeeper registration (DESIGN.md §3); off without --zk.
  std::optional<std::string> zk_hosts;  // "h1:2181,h2:2181[/chroot]"
  std::string zk_root = std::string(zk::kDefaultRoot);
  zk::ZkCredentials zk_auth;  // --zk-user / --zk-password-file
  std::string advertise_url;  // normalised by ParseUrl; required with --zk
  std::string collector_id;   // empty: DefaultCollectorId(bound port)

  // The operator database for the admin actions; nullopt without --db (501).
  std::optional<sync::DbUrl> db;

  // Shared storage for many collectors (--store): metadata in MariaDB, chunk
  // files in --chunks (a directory every collector mounts at the same path).
  // nullopt: <data>/collector.db (SQLite) and <data>/chunks.
  std::optional<sync::DbUrl> store;
  std::size_t store_connections = 8;
  std::string chunks_dir;  // "" : <data>/chunks
};

Result<CollectorOptions> ParseCollectorOptions(std::span<char* const> args);

// "127.0.0.1:8080", "[::1]:0", "0.0.0.0:443" → host and port.
Status ParseListenAddress(std::string_view text, std::string* host, std::uint16_t* port);

// [A-Za-z0-9._-]{1,64}: safe as a znode name.
bool IsValidCollectorId(std::string_view id);
// "<hostname>-<port>", the hostname cut (and odd characters replaced) so the
// result is a valid id.
std::string DefaultCollectorId(std::uint16_t port);

}  // namespace picket::collector
