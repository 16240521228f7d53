#include "collector/collector_options.h"

#include "collector/probes.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <tuple>

#include "picket/common/command_line.h"
#include "picket/common/file_io.h"
#include "picket/common/net_address.h"
#include "picket/common/units.h"
#include "picket/common/url.h"
#include "picket/zk/connect_string.h"

namespace picket::collector {

namespace {

Result<int> ParsePositiveInt(std::string_view flag, const std::string& text, int max) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 1 ||
      value > max) {
    return Status::InvalidArgument(std::string(flag) + " " + text + ": expected an integer 1.." +
                                   std::to_string(max));
  }
  return value;
}

bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// "/picket", "/a/b": absolute, no empty, "." or ".." segments, no trailing '/'.
Status CheckZkRoot(const std::string& root) {
  const Status bad = Status::InvalidArgument("--zk-root " + root +
                                             ": expected an absolute znode path such as /picket");
  if (root.size() < 2 || root.front() != '/' || root.back() == '/') return bad;
  for (std::size_t start = 1; start <= root.size();) {
    std::size_t slash = root.find('/', start);
    if (slash == std::string::npos) slash = root.size();
    std::string_view segment(root.data() + start, slash - start);
    if (segment.empty() || segment == "." || segment == "..") return bad;
    start = slash + 1;
  }
  return Status::Ok();
}

// --NAME URL [--NAME-password-file FILE]: the password from the file, else
// the environment variable, else the URL (as picket sync and the CLI take it).
Result<std::optional<sync::DbUrl>> ParseDbUrlFlags(const FlagParser& flags, const std::string& name,
                                                   const char* password_env) {
  auto text = flags.Value(name);
  if (!text) {
    if (flags.Has(name + "-password-file")) {
      return Status::InvalidArgument("--" + name + "-password-file needs --" + name + " URL");
    }
    return std::optional<sync::DbUrl>();
  }
  auto url = sync::ParseDbUrl(*text);
  if (!url.ok()) {  // ParseDbUrl names --db
    std::string why = url.status().message();
    if (why.rfind("--db: ", 0) == 0) why.erase(0, 6);
    return Status::InvalidArgument("--" + name + ": " + why);
  }
  if (const char* password = std::getenv(password_env); password != nullptr) {
    url->password = password;
  }
  if (auto file = flags.Value(name + "-password-file")) {
    auto password = ReadSecretFile(*file, "--" + name + "-password-file");
    if (!password.ok()) return password.status();
    url->password = *password;
  }
  return std::optional<sync::DbUrl>(std::move(url).value());
}

// --store URL [--store-password-file FILE] [--store-connections N] [--chunks DIR].
Status ParseStoreFlags(const FlagParser& flags, CollectorOptions* o) {
  auto store = ParseDbUrlFlags(flags, "store", "PICKET_STORE_PASSWORD");
  if (!store.ok()) return store.status();
  o->store = std::move(*store);
  if (auto v = flags.Value("store-connections")) {
    if (!o->store) return Status::InvalidArgument("--store-connections needs --store URL");
    auto n = ParsePositiveInt("--store-connections", *v, 256);
    if (!n.ok()) return n.status();
    if (*n < 2) return Status::InvalidArgument("--store-connections " + *v + ": at least 2");
    o->store_connections = static_cast<std::size_t>(*n);
  }
  if (auto v = flags.Value("chunks")) {
    if (v->empty()) return Status::InvalidArgument("--chunks: empty directory name");
    o->chunks_dir = *v;
    while (o->chunks_dir.size() > 1 && o->chunks_dir.back() == '/') o->chunks_dir.pop_back();
  }
  if (o->store) {
    if (o->chunks_dir.empty()) {
      return Status::InvalidArgument(
          "--store needs --chunks DIR: the chunk directory every collector of the database shares");
    }
  }
  return Status::Ok();
}

// --retain-age, --retain-bytes, --retain-device-bytes, --retain-interval.
Status ParseRetentionFlags(const FlagParser& flags, CollectorOptions* o) {
  if (auto v = flags.Value("retain-age")) {
    if (*v == "0") {
      o->retain_age = std::chrono::milliseconds(0);
    } else {
      auto d = ParseDuration(*v);
      if (!d.ok()) return d.status().WithContext("--retain-age");
      if (d->count() < 60'000) {
        return Status::InvalidArgument("--retain-age " + *v +
                                       ": must be at least 1m (or 0 to keep everything)");
      }
      o->retain_age = *d;
    }
  }
  if (auto v = flags.Value("retain-bytes")) {
    o->retain_bytes_percent.reset();
    o->retain_bytes = 0;
    if (!v->empty() && v->back() == '%') {
      double pct = 0;
      const std::string number = v->substr(0, v->size() - 1);
      auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), pct);
      if (number.empty() || ec != std::errc() || end != number.data() + number.size() ||
          !(pct > 0) || pct > 100) {
        return Status::InvalidArgument("--retain-bytes " + *v +
                                       ": expected a size (500GiB), a percentage of the --data "
                                       "file system above 0 and at most 100 (80%), or 0 (no cap)");
      }
      o->retain_bytes_percent = pct;
    } else if (*v != "0") {
      auto size = ParseSize(*v);
      if (!size.ok()) return size.status().WithContext("--retain-bytes");
      o->retain_bytes = *size;
    }
  }
  if (auto v = flags.Value("retain-device-bytes")) {
    if (*v != "0") {
      auto size = ParseSize(*v);
      if (!size.ok()) return size.status().WithContext("--retain-device-bytes");
      o->retain_device_bytes = *size;
    }
  }
  if (o->retain_device_bytes > 0 && o->device_disk_quota > 0 &&
      o->retain_device_bytes >= o->device_disk_quota) {
    return Status::InvalidArgument(
        "--retain-device-bytes " + flags.Value("retain-device-bytes").value_or("") +
        ": must be below --device-disk-quota " + flags.Value("device-disk-quota").value_or("") +
        ", or the device is refused before retention makes room");
  }
  if (auto v = flags.Value("retain-interval")) {
    auto d = ParseDuration(*v);
    if (!d.ok()) return d.status().WithContext("--retain-interval");
    if (d->count() < 100 || d->count() > 86'400'000) {
      return Status::InvalidArgument("--retain-interval " + *v + ": expected 100ms..1d");
    }
    o->retain_interval = *d;
  }
  return Status::Ok();
}

}  // namespace

bool IsValidCollectorId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!IsIdChar(c)) return false;
  }
  return true;
}

std::string DefaultCollectorId(std::uint16_t port) {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
    std::snprintf(name, sizeof name, "collector");
  }
  const std::string suffix = "-" + std::to_string(port);
  std::string id(name);
  for (char& c : id) {
    if (!IsIdChar(c)) c = '_';
  }
  id.resize(std::min(id.size(), 64 - suffix.size()));
  return id + suffix;
}

Status ParseListenAddress(std::string_view text, std::string* host, std::uint16_t* port) {
  const std::string where = "--listen " + std::string(text);
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Status::InvalidArgument(where + ": expected ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:0");
  }
  std::string_view h = text.substr(0, colon), p = text.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string_view::npos) {
    return Status::InvalidArgument(where + ": put an IPv6 address in brackets, e.g. [::1]:8080");
  }
  if (!IpAddress::Parse(h).ok()) {
    return Status::InvalidArgument(where + ": '" + std::string(h) + "' is not an IP address");
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (p.empty() || ec != std::errc() || end != p.data() + p.size() || value > 65535) {
    return Status::InvalidArgument(where + ": bad port '" + std::string(p) + "' (0..65535)");
  }
  *host = std::string(h);
  *port = static_cast<std::uint16_t>(value);
  return Status::Ok();
}

Result<CollectorOptions> ParseCollectorOptions(std::span<char* const> args) {
  FlagParser flags(
      {"listen", "data", "tokens", "tls-cert", "tls-key", "max-body", "max-inflight",
       "max-connections", "max-connections-per-address", "max-inflight-per-device",
       "device-bytes-per-minute", "device-rows-per-minute", "device-disk-quota", "client-ca",
       "max-followers", "threads", "ready-file", "zk", "zk-root", "advertise", "collector-id", "zk-user",
       "zk-password-file", "session-retention", "session-gap-wait", "session-tcp-idle",
       "session-udp-idle", "session-icmp-idle", "heartbeat-retention", "min-free-disk",
       "db", "db-password-file", "store", "store-password-file", "store-connections", "chunks",
       "retain-age", "retain-bytes", "retain-device-bytes",
       "retain-interval"},
      {"insecure-no-auth", "no-sessions", "zk-open-acl"});
  PICKET_RETURN_IF_ERROR(flags.Parse(args));
  CollectorOptions o;

  auto listen = flags.Value("listen");
  if (!listen) return Status::InvalidArgument("--listen ADDR:PORT is required");
  PICKET_RETURN_IF_ERROR(ParseListenAddress(*listen, &o.listen_host, &o.listen_port));

  auto data = flags.Value("data");
  if (!data || data->empty()) return Status::InvalidArgument("--data DIR is required");
  o.data_dir = *data;
  while (o.data_dir.size() > 1 && o.data_dir.back() == '/') o.data_dir.pop_back();

  o.tokens_file = flags.Value("tokens");
  o.insecure_no_auth = flags.Has("insecure-no-auth");
  if (!o.tokens_file && !o.insecure_no_auth) {
    return Status::InvalidArgument(
        "--tokens FILE is required (or --insecure-no-auth to accept every request "
        "unauthenticated)");
  }
  if (o.tokens_file && o.insecure_no_auth) {
    return Status::InvalidArgument("--tokens and --insecure-no-auth contradict each other");
  }

  o.tls_cert = flags.Value("tls-cert");
  o.tls_key = flags.Value("tls-key");
  if (o.tls_cert.has_value() != o.tls_key.has_value()) {
    return Status::InvalidArgument("--tls-cert and --tls-key must be given together");
  }
  o.client_ca = flags.Value("client-ca");
  if (o.client_ca && !o.tls_cert) {
    return Status::InvalidArgument(
        "--client-ca needs --tls-cert and --tls-key: client certificates come with TLS");
  }

  if (auto v = flags.Value("max-body")) {
    auto size = ParseSize(*v);
    if (!size.ok()) return size.status().WithContext("--max-body");
    if (*size < 1024)
      return Status::InvalidArgument("--max-body " + *v + ": must be at least 1KiB");
    o.max_body = *size;
  }
  if (auto v = flags.Value("max-inflight")) {
    auto n = ParsePositiveInt("--max-inflight", *v, 100000);
    if (!n.ok()) return n.status();
    o.max_inflight = *n;
  }
  if (auto v = flags.Value("max-connections")) {
    auto n = ParsePositiveInt("--max-connections", *v, 1000000);
    if (!n.ok()) return n.status();
    o.max_connections = static_cast<std::size_t>(*n);
  }
  if (auto v = flags.Value("max-connections-per-address")) {
    auto n = ParsePositiveInt("--max-connections-per-address", *v, 1000000);
    if (!n.ok()) return n.status();
    o.max_connections_per_address = static_cast<std::size_t>(*n);
  }
  if (auto v = flags.Value("max-inflight-per-device")) {
    auto n = ParsePositiveInt("--max-inflight-per-device", *v, 100000);
    if (!n.ok()) return n.status();
    o.max_inflight_per_device = *n;
  }
  if (auto v = flags.Value("device-bytes-per-minute")) {
    auto size = ParseSize(*v);
    if (!size.ok()) return size.status().WithContext("--device-bytes-per-minute");
    o.device_bytes_per_minute = *size;
  }
  if (auto v = flags.Value("device-disk-quota")) {
    auto size = ParseSize(*v);
    if (!size.ok()) return size.status().WithContext("--device-disk-quota");
    o.device_disk_quota = *size;
  }
  if (auto v = flags.Value("device-rows-per-minute")) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (v->empty() || ec != std::errc() || end != v->data() + v->size()) {
      return Status::InvalidArgument("--device-rows-per-minute '" + *v +
                                     "': expected a non-negative integer (0: no limit)");
    }
    o.device_rows_per_minute = n;
  }
  if (auto v = flags.Value("max-followers")) {
    auto n = ParsePositiveInt("--max-followers", *v, 100000);
    if (!n.ok()) return n.status();
    o.max_followers = *n;
  }
  if (auto v = flags.Value("threads")) {
    auto n = ParsePositiveInt("--threads", *v, 256);
    if (!n.ok()) return n.status();
    o.threads = *n;
  }
  o.ready_file = flags.Value("ready-file");

  o.sessions = !flags.Has("no-sessions");
  for (auto [flag, out, zero_ok] :
       {std::tuple{"session-retention", &o.session_retention, true},
        std::tuple{"session-gap-wait", &o.session_gap_wait, true},
        std::tuple{"session-tcp-idle", &o.session_tcp_idle, false},
        std::tuple{"session-udp-idle", &o.session_udp_idle, false},
        std::tuple{"session-icmp-idle", &o.session_icmp_idle, false}}) {
    auto v = flags.Value(flag);
    if (!v) continue;
    if (zero_ok && *v == "0") {
      *out = std::chrono::milliseconds(0);
      continue;
    }
    auto d = ParseDuration(*v);
    if (!d.ok()) return d.status().WithContext("--" + std::string(flag));
    if (d->count() <= 0) {
      return Status::InvalidArgument("--" + std::string(flag) + " " + *v + ": must be positive");
    }
    *out = *d;
  }

  PICKET_RETURN_IF_ERROR(ParseRetentionFlags(flags, &o));

  if (auto v = flags.Value("heartbeat-retention")) {
    auto d = ParseDuration(*v);
    if (!d.ok()) return d.status().WithContext("--heartbeat-retention");
    if (d->count() < 3'600'000) {
      return Status::InvalidArgument("--heartbeat-retention " + *v + ": must be at least 1h");
    }
    o.heartbeat_retention = *d;
  }
  if (auto v = flags.Value("min-free-disk")) {
    auto t = ParseDiskThreshold(*v);
    if (!t.ok()) return t.status();
    o.min_free_disk = *v;
  }
  auto db = ParseDbUrlFlags(flags, "db", "PICKET_DB_PASSWORD");
  if (!db.ok()) return db.status();
  o.db = std::move(*db);
  PICKET_RETURN_IF_ERROR(ParseStoreFlags(flags, &o));

  o.zk_hosts = flags.Value("zk");
  if (!o.zk_hosts) {
    for (std::string_view flag :
         {"zk-root", "advertise", "collector-id", "zk-user", "zk-password-file", "zk-open-acl"}) {
      if (flags.Has(flag)) {
        return Status::InvalidArgument("--" + std::string(flag) + " needs --zk HOSTS");
      }
    }
    return o;
  }
  PICKET_RETURN_IF_ERROR(zk::CheckZkHosts(*o.zk_hosts));
  auto auth = zk::LoadZkCredentials(flags.Value("zk-user"), "--zk-user",
                                    flags.Value("zk-password-file"), "--zk-password-file");
  if (!auth.ok()) return auth.status();
  o.zk_auth = std::move(auth).value();
  if (auto v = flags.Value("zk-root")) {
    PICKET_RETURN_IF_ERROR(CheckZkRoot(*v));
    o.zk_root = *v;
  }
  auto advertise = flags.Value("advertise");
  if (!advertise) {
    return Status::InvalidArgument(
        "--advertise URL is required with --zk: the base URL devices should use, e.g. "
        "http://collector.example:8750");
  }
  auto url = ParseUrl(*advertise);
  if (!url.ok()) return url.status().WithContext("--advertise");
  o.advertise_url = url->ToString();
  if (auto v = flags.Value("collector-id")) {
    if (!IsValidCollectorId(*v)) {
      return Status::InvalidArgument("--collector-id " + *v +
                                     ": expected 1-64 characters from [A-Za-z0-9._-]");
    }
    o.collector_id = *v;
  }
  PICKET_RETURN_IF_ERROR(zk::RequireZkCredentials(!o.zk_auth.user.empty(), flags.Has("zk-open-acl"),
                                                  "--zk-open-acl", "--zk-user/--zk-password-file"));
  return o;
}

}  // namespace picket::collector
