// The edge daemon's configuration: value types, the embedded defaults, and the
// validator. The same validator runs in picketd (file or ZooKeeper), in
// `picketd check-config` and in the central CLI before it writes a row, so a
// config is accepted or refused identically everywhere. Validation reports
// every error at once, each with its JSON Pointer path ("/capture/snaplen").
//
// Checks that need a C library (compiling the BPF filter with libpcap) are not
// done here: the capture module adds them (capture/filter_check.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "picket/common/log.h"
#include "picket/common/status.h"

namespace picket {

struct DeviceSection {
  std::string id = "local";      // znode name and URL path segment: [A-Za-z0-9._-]{1,64}
  std::string group = "default";
};

struct CaptureSection {
  bool enabled = true;
  std::string interface = "lo";
  std::string filter;            // BPF; the daemon adds its own upload exclusion
  int snaplen = 262144;
  int buffer_mib = 32;           // kernel ring; ≥ 32 MiB avoids the 2 MiB-default drops
  int timeout_ms = 150;          // TPACKET_V3 block retire timeout; never immediate mode
  int queue_mib = 16;            // the chunk writer's pool between capture and disk
  std::uint64_t chunk_max_bytes = 8ull << 20;
  std::chrono::milliseconds chunk_max_age{60'000};
  std::chrono::milliseconds chunk_idle{10'000};
};

struct BufferSection {
  std::string dir = "/var/lib/picketd";
  std::uint64_t max_bytes = 1ull << 30;  // disk budget: oldest pcap evicted first, never results
};

struct UploadSection {
  std::vector<std::string> collectors = {"http://127.0.0.1:8750"};
  std::string token_file;        // bearer token for this device; empty: none
  std::string ca_file;           // empty: system CA bundle
  // mTLS: a PEM client certificate and its key (a private file, 0600), given
  // together, presented to https collectors; empty: none.
  std::string client_cert, client_key;
  int threads = 2;               // libuv pool size
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds low_speed_time{20'000};  // abort when below low_speed_bytes/s this long
  std::uint64_t low_speed_bytes = 1024;
  std::chrono::milliseconds retry_base{1'000};
  std::chrono::milliseconds retry_max{300'000};
  bool gzip = true;  // compress bodies that shrink
  bool zstd = true;  // "encoding": zstd (default) or gzip
  // How often the status document is POSTed to the collector (the fleet page's
  // liveness and counters); 0: no heartbeats.
  std::chrono::milliseconds heartbeat_interval{5'000};
  // Collectors found in ZooKeeper are used only when their URL matches one of
  // these shell patterns (fnmatch, e.g. "https://*.collect.example.net"); none:
  // discovery is off, so a node anyone wrote never receives this device's token.
  std::vector<std::string> discover;
  // http:// to a host outside loopback sends the bearer token in clear text:
  // refused unless asked for by name.
  bool allow_plain_http = false;
  // true: the collectors (configured and discovered) ranked per device by
  // rendezvous hashing, so a fleet spreads over them; false: tried in the
  // listed order, discovered ones after (a primary and its standbys).
  bool spread_collectors = true;
};

// Why a collector URL may not receive this device's chunks and token, or
// nullopt when it may: plain http to a non-loopback host without
// allow_plain_http; for a discovered URL also no match in `discover`.
std::optional<std::string> RefuseCollectorUrl(const UploadSection& upload, std::string_view url,
                                              bool discovered);

enum class ScanMode { kSyn, kConnect };

// The one scan-job schema: what a scan probes and how. A device config's
// `scans` entries and a shared job in ZooKeeper both hold one, read by one
// reader with one set of limits (kScanLimits in daemon_config.cc).
struct ScanProbe {
  std::string targets;           // validated with ParseTargetList
  std::string exclude;           // same grammar; may be empty
  std::string ports;             // validated with ParsePortList
  std::uint64_t rate_pps = 1000; // per scan (per shard for a shared job), 1..10M
  ScanMode mode = ScanMode::kSyn;
  int retries = 1;               // 0..10
  std::chrono::milliseconds wait{2'000};  // the longest wait after the last probe, 0..60 s
  bool banners = false;
};

struct ScanJobConfig : ScanProbe {
  std::string id;
  std::chrono::milliseconds interval{0};  // 0: run once
};

struct ZooKeeperSection {
  std::string hosts;             // "h1:2181,h2:2181"; empty: run from the local file only
  std::string root = "/picket";
  int session_timeout_ms = 10'000;
  std::string auth_user;             // the device's own digest identity (user = device id)
  std::string auth_password_file;
  std::string fleet_password_file;   // picket-fleet's password: shared jobs (zk/acl_policy.h)
  bool allow_open_acl = false;       // UNSAFE: no credentials, world:anyone nodes
  bool enabled() const { return !hosts.empty(); }
};

struct LogSection {
  log::Level level = log::Level::kInfo;
  std::string file;              // empty: stderr only
  std::uint64_t file_max_bytes = 10ull << 20;
  int file_keep = 3;
  bool ship = true;              // batch log lines to the collector
};

// Who the worker and `picketd scan` run as once their capture handles and raw
// sockets are open. Local-only: ZooKeeper cannot loosen it.
struct SecuritySection {
  std::string user = "picketd";  // switched to when started as root; must exist
  bool seccomp = true;           // false: run without the syscall allowlist (unsafe, by name)
};

struct DaemonConfig {
  std::int64_t version = 0;      // set by sync from the MariaDB row; 0 for local files
  DeviceSection device;
  CaptureSection capture;
  BufferSection buffer;
  UploadSection upload;
  std::vector<ScanJobConfig> scans;
  std::uint64_t scan_max_probes = 1ull << 32;  // refuse target×port spaces above this
  std::uint64_t scan_max_pps = 0;  // probes/s of all scans and shards together; 0: no device cap
  ZooKeeperSection zookeeper;
  LogSection log;
  SecuritySection security;
};

struct ConfigError {
  std::string path;     // JSON Pointer; "/" for the whole document
  std::string message;  // names the offending value
  std::string ToString() const { return path + ": " + message; }
};

struct ConfigCheck {
  DaemonConfig config;               // meaningful only when ok()
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty(); }
  // InvalidArgument listing every error, one per line; OK when there are none.
  Status ToStatus() const;
};

inline constexpr std::size_t kMaxConfigBytes = 1 << 20;  // a znode holds at most ~1 MiB
inline constexpr int kMaxConfigDepth = 32;

// Parses and validates a JSON document; unspecified fields keep their defaults.
ConfigCheck ParseDaemonConfig(std::string_view json_text);
// The same for a document already parsed inside this process (nesting is
// bounded as for text; the byte limit applies to text only).
ConfigCheck ParseDaemonConfigValue(const nlohmann::json& document);
// Reads `path` (regular file, at most kMaxConfigBytes) and parses it.
ConfigCheck LoadDaemonConfigFile(const std::string& path);
// The effective config as pretty JSON, every field present (used by check-config).
std::string DaemonConfigToJson(const DaemonConfig& config);
// The same as a JSON value, for use inside a process (no text round trip).
nlohmann::json DaemonConfigToJsonValue(const DaemonConfig& config);

}  // namespace picket
