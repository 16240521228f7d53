#include "picket/common/daemon_config.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>

#include "json_reader.h"
#include "picket/common/c_handle.h"
#include "picket/common/net_address.h"
#include "picket/common/units.h"
#include "picket/common/url.h"

namespace picket {

using config_internal::Describe;
using config_internal::JoinPath;
using config_internal::Json;
using config_internal::JsonObjectReader;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kHour{3'600'000};
constexpr milliseconds kDay{86'400'000};

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Device, group and job ids become znode names and URL path segments.
void CheckName(JsonObjectReader& r, std::string_view key, const std::string& value) {
  bool ok = !value.empty() && value.size() <= 64 && value != "." && value != "..";
  for (char c : value) ok = ok && IsNameChar(c);
  if (!ok) {
    r.Error(key, "must be 1-64 characters of A-Z a-z 0-9 . _ - (not '.' or '..'), got \"" +
                     value + "\"");
  }
}

void ReadDevice(JsonObjectReader& r, DeviceSection& d) {
  if (r.String("id", &d.id, 64)) CheckName(r, "id", d.id);
  if (r.String("group", &d.group, 64)) CheckName(r, "group", d.group);
}

void ReadCapture(JsonObjectReader& r, CaptureSection& c) {
  r.Bool("enabled", &c.enabled);
  if (r.String("interface", &c.interface, 64)) {
    bool ok = !c.interface.empty() && c.interface.size() < 16;  // IFNAMSIZ
    for (char ch : c.interface) ok = ok && ch != '/' && ch > ' ' && ch != 0x7f;
    if (!ok) {
      r.Error("interface", "must be an interface name of 1-15 characters without '/' or spaces, "
                           "got \"" + c.interface + "\"");
    }
  }
  r.String("filter", &c.filter, 8192);
  r.Int("snaplen", 64, 262144, &c.snaplen);
  r.Int("buffer_mib", 1, 1024, &c.buffer_mib);
  r.Int("timeout_ms", 10, 1000, &c.timeout_ms);
  r.Int("queue_mib", 1, 256, &c.queue_mib);
  r.Size("chunk_max_bytes", 64ull << 10, 1ull << 30, &c.chunk_max_bytes);
  r.Duration("chunk_max_age", milliseconds(1000), kHour, &c.chunk_max_age);
  r.Duration("chunk_idle", milliseconds(100), kHour, &c.chunk_idle);
  if (c.chunk_idle > c.chunk_max_age) {
    r.Error("chunk_idle", "(" + FormatDuration(c.chunk_idle) + ") must not exceed chunk_max_age (" +
                              FormatDuration(c.chunk_max_age) + ")");
  }
}

void ReadBuffer(JsonObjectReader& r, BufferSection& b) {
  if (r.String("dir", &b.dir, 1024) && b.dir.empty()) r.Error("dir", "must not be empty");
  r.Size("max_bytes", 1ull << 20, 1ull << 50, &b.max_bytes);
}

void ReadUpload(JsonObjectReader& r, UploadSection& u) {
  if (const Json* list = r.Child("collectors")) {
    if (!list->is_array()) {
      r.Error("collectors", "must be an array of URLs, got " + Describe(*list));
    } else if (list->empty()) {
      r.Error("collectors", "must name at least one collector URL");
    } else {
      u.collectors.clear();
      for (std::size_t i = 0; i < list->size(); ++i) {
        const Json& item = (*list)[i];
        if (!item.is_string()) {
          r.ErrorBelow("collectors/" + std::to_string(i), "must be a URL string, got " + Describe(item));
          continue;
        }
        auto url = ParseUrl(item.get_ref<const std::string&>());
        if (!url.ok()) {
          r.ErrorBelow("collectors/" + std::to_string(i), url.status().message());
          continue;
        }
        u.collectors.push_back(item.get<std::string>());
      }
    }
  }
  r.Bool("allow_plain_http", &u.allow_plain_http);
  r.Bool("spread_collectors", &u.spread_collectors);
  for (std::size_t i = 0; i < u.collectors.size(); ++i) {
    if (auto why = RefuseCollectorUrl(u, u.collectors[i], /*discovered=*/false)) {
      r.ErrorBelow("collectors/" + std::to_string(i), *why);
    }
  }
  if (const Json* list = r.Child("discover")) {
    if (!list->is_array() || list->size() > 64) {
      r.Error("discover", "must be an array of at most 64 URL patterns, got " + Describe(*list));
    } else {
      for (std::size_t i = 0; i < list->size(); ++i) {
        const Json& item = (*list)[i];
        if (!item.is_string() || item.get_ref<const std::string&>().empty() ||
            item.get_ref<const std::string&>().size() > 256) {
          r.ErrorBelow("discover/" + std::to_string(i),
                       "must be a URL pattern of 1..256 characters, got " + Describe(item));
          continue;
        }
        u.discover.push_back(item.get<std::string>());
      }
    }
  }
  r.String("token_file", &u.token_file, 1024);
  r.String("ca_file", &u.ca_file, 1024);
  r.String("client_cert", &u.client_cert, 1024);
  r.String("client_key", &u.client_key, 1024);
  if (u.client_cert.empty() != u.client_key.empty()) {
    r.Error(u.client_cert.empty() ? "client_cert" : "client_key",
            "client_cert and client_key must be given together (a PEM certificate and its key)");
  }
  r.Int("threads", 1, 16, &u.threads);
  r.Duration("connect_timeout", milliseconds(100), milliseconds(120'000), &u.connect_timeout);
  r.Duration("low_speed_time", milliseconds(1000), milliseconds(600'000), &u.low_speed_time);
  r.Uint("low_speed_bytes", 1, 1ull << 30, &u.low_speed_bytes);
  r.Duration("retry_base", milliseconds(10), kHour, &u.retry_base);
  r.Duration("retry_max", milliseconds(10), kDay, &u.retry_max);
  r.Bool("gzip", &u.gzip);
  std::string encoding = u.zstd ? "zstd" : "gzip";
  if (r.Choice("encoding", {"zstd", "gzip"}, &encoding)) u.zstd = encoding == "zstd";
  // 0 turns heartbeats off; below 1 s they would cost the collector more than they tell.
  milliseconds heartbeat{0};
  if (r.Duration("heartbeat_interval", milliseconds(0), kDay, &heartbeat)) {
    if (heartbeat.count() == 0 ||
        (heartbeat >= milliseconds(1'000) && heartbeat <= milliseconds(300'000))) {
      u.heartbeat_interval = heartbeat;
    } else {
      r.Error("heartbeat_interval",
              "must be 0s (off) or in 1s..5m, got \"" + FormatDuration(heartbeat) + "\"");
    }
  }
  if (u.retry_base > u.retry_max) {
    r.Error("retry_base", "(" + FormatDuration(u.retry_base) + ") must not exceed retry_max (" +
                              FormatDuration(u.retry_max) + ")");
  }
}

void ReadScan(JsonObjectReader& r, ScanJobConfig& s, std::uint64_t max_probes) {
  if (!r.String("id", &s.id, 64)) {
    if (!r.Child("id")) r.Error("id", "is required");
  } else {
    CheckName(r, "id", s.id);
  }
  const config_internal::ScanProbeSize size = config_internal::ReadScanProbe(r, s);
  if (size.addresses && size.ports &&
      (size.addresses > max_probes / size.ports || size.addresses * size.ports > max_probes)) {
    r.Error("targets", std::to_string(size.addresses) + " addresses × " +
                           std::to_string(size.ports) + " ports is over scan_max_probes (" +
                           std::to_string(max_probes) + ")");
  }
  if (r.Duration("interval", milliseconds(0), 30 * kDay, &s.interval) &&
      s.interval.count() != 0 && s.interval < milliseconds(60'000)) {
    r.Error("interval", "must be 0 (run once) or at least 1m, got \"" +
                            FormatDuration(s.interval) + "\"");
  }
}

void ReadZooKeeper(JsonObjectReader& r, ZooKeeperSection& z) {
  if (r.String("hosts", &z.hosts, 4096) && !z.hosts.empty()) {
    std::size_t start = 0;
    while (start <= z.hosts.size()) {
      std::size_t comma = z.hosts.find(',', start);
      if (comma == std::string::npos) comma = z.hosts.size();
      std::string item = z.hosts.substr(start, comma - start);
      auto parsed = ParseUrl("http://" + item);
      if (item.empty() || !parsed.ok() || !parsed->path.empty() ||
          item.find(':') == std::string::npos) {
        r.Error("hosts", "must be a comma list of host:port, bad item \"" + item + "\"");
        break;
      }
      start = comma + 1;
    }
  }
  if (r.String("root", &z.root, 256)) {
    bool ok = z.root.size() >= 2 && z.root.front() == '/' && z.root.back() != '/' &&
              z.root.find("//") == std::string::npos;
    for (char c : z.root) ok = ok && c > ' ' && c != 0x7f;
    if (!ok) r.Error("root", "must be an absolute znode path like /picket, got \"" + z.root + "\"");
  }
  // ZooKeeper negotiates 2..20 × tickTime; 4 s..40 s fits the default tickTime of 2 s.
  r.Int("session_timeout_ms", 4000, 40000, &z.session_timeout_ms);
  r.String("auth_user", &z.auth_user, 256);
  r.String("auth_password_file", &z.auth_password_file, 1024);
  r.String("fleet_password_file", &z.fleet_password_file, 1024);
  r.Bool("allow_open_acl", &z.allow_open_acl);
  if (!z.auth_user.empty() && z.auth_password_file.empty()) {
    r.Error("auth_password_file", "is required when auth_user is set");
  }
  if (z.auth_user.empty() && !z.fleet_password_file.empty()) {
    r.Error("fleet_password_file", "needs auth_user (the device's own identity) too");
  }
  if (!z.hosts.empty() && z.auth_user.empty() && !z.allow_open_acl) {
    r.Error("auth_user",
            "is required with hosts: a ZooKeeper without credentials lets anyone read and change "
            "every config and register a fake collector (set allow_open_acl to true to run "
            "open on purpose)");
  }
}

void ReadLog(JsonObjectReader& r, LogSection& l) {
  std::string level;
  if (r.Choice("level", {"error", "warn", "info", "debug", "trace"}, &level)) {
    l.level = *log::ParseLevel(level);
  }
  r.String("file", &l.file, 1024);
  r.Size("file_max_bytes", 64ull << 10, 1ull << 30, &l.file_max_bytes);
  r.Int("file_keep", 0, 20, &l.file_keep);
  r.Bool("ship", &l.ship);
}

void ReadSecurity(JsonObjectReader& r, SecuritySection& s) {
  if (r.String("user", &s.user, 32)) {
    // useradd's portable name: the lookup happens at startup, where the user must exist.
    bool ok = !s.user.empty() && (std::islower(static_cast<unsigned char>(s.user[0])) ||
                                  s.user[0] == '_');
    for (char ch : s.user) {
      ok = ok && (std::islower(static_cast<unsigned char>(ch)) ||
                  std::isdigit(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' ||
                  ch == '.');
    }
    if (!ok) {
      r.Error("user", "must be a user name like picketd ([a-z_][a-z0-9_.-]*, at most 32), got \"" +
                          s.user + "\"");
    }
  }
  r.Bool("seccomp", &s.seccomp);
}

}  // namespace

Status ConfigCheck::ToStatus() const {
  if (errors.empty()) return Status::Ok();
  std::string m = std::to_string(errors.size()) + " config error(s):";
  for (const auto& e : errors) m += "\n  " + e.ToString();
  return Status::InvalidArgument(std::move(m));
}

ConfigCheck ParseDaemonConfig(std::string_view text) {
  ConfigCheck check;
  auto fail = [&](std::string message) {
    check.errors.push_back({"/", std::move(message)});
    return check;
  };
  if (text.size() > kMaxConfigBytes) {
    return fail("document is " + std::to_string(text.size()) + " bytes, the limit is " +
                std::to_string(kMaxConfigBytes));
  }
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return fail("document is empty (expected a JSON object)");
  }
  if (!config_internal::JsonNestingWithin(text, kMaxConfigDepth)) {
    return fail("JSON nesting deeper than " + std::to_string(kMaxConfigDepth) + " levels");
  }
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    return fail("not valid JSON: " + JsonParseErrorText(e));  // names the byte offset
  }
  return ParseDaemonConfigValue(root);
}

namespace {

int JsonDepth(const Json& value, int limit) {
  if (!value.is_structured()) return 0;
  int deepest = 0;
  for (const auto& child : value) {
    deepest = std::max(deepest, JsonDepth(child, limit));
    if (deepest >= limit) break;  // deep enough to refuse: stop walking
  }
  return deepest + 1;
}

}  // namespace

ConfigCheck ParseDaemonConfigValue(const Json& root) {
  ConfigCheck check;
  if (JsonDepth(root, kMaxConfigDepth + 1) > kMaxConfigDepth) {
    check.errors.push_back(
        {"/", "JSON nesting deeper than " + std::to_string(kMaxConfigDepth) + " levels"});
    return check;
  }
  DaemonConfig& c = check.config;
  {
    JsonObjectReader top(root, "/", &check.errors);
    if (!top.valid()) return check;
    top.Int("version", std::int64_t{0}, std::int64_t{1} << 53, &c.version);
    top.Uint("scan_max_probes", 1, ~std::uint64_t{0}, &c.scan_max_probes);
    top.Uint("scan_max_pps", 0, 10'000'000, &c.scan_max_pps);
    auto section = [&](std::string_view key, auto read) {
      if (const Json* v = top.Child(key)) {
        JsonObjectReader r(*v, JoinPath("/", key), &check.errors);
        if (r.valid()) read(r);
      }
    };
    section("device", [&](JsonObjectReader& r) { ReadDevice(r, c.device); });
    section("capture", [&](JsonObjectReader& r) { ReadCapture(r, c.capture); });
    section("buffer", [&](JsonObjectReader& r) { ReadBuffer(r, c.buffer); });
    section("upload", [&](JsonObjectReader& r) { ReadUpload(r, c.upload); });
    section("zookeeper", [&](JsonObjectReader& r) { ReadZooKeeper(r, c.zookeeper); });
    section("log", [&](JsonObjectReader& r) { ReadLog(r, c.log); });
    section("security", [&](JsonObjectReader& r) { ReadSecurity(r, c.security); });
    if (const Json* scans = top.Child("scans")) {
      if (!scans->is_array()) {
        top.Error("scans", "must be an array of scan jobs, got " + Describe(*scans));
      } else {
        std::set<std::string> ids;
        for (std::size_t i = 0; i < scans->size(); ++i) {
          const std::string path = "/scans/" + std::to_string(i);
          JsonObjectReader r((*scans)[i], path, &check.errors);
          if (!r.valid()) continue;
          ScanJobConfig job;
          ReadScan(r, job, c.scan_max_probes);
          if (!job.id.empty() && !ids.insert(job.id).second) {
            r.Error("id", "duplicate scan id \"" + job.id + "\"");
          }
          c.scans.push_back(std::move(job));
        }
      }
    }
  }  // readers report unknown keys as they close
  return check;
}

ConfigCheck LoadDaemonConfigFile(const std::string& path) {
  ConfigCheck check;
  auto fail = [&](std::string message) {
    check.errors.push_back({"/", path + ": " + std::move(message)});
    return check;
  };
  // Not "invalid": nothing was read (FormatConfigErrors prints it alone).
  auto unreadable = [&](int error) {
    check.errors.push_back({"/", "cannot read " + path + ": " + std::strerror(error)});
    return check;
  };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return unreadable(errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return unreadable(errno);
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxConfigBytes) {
    return fail("file is " + std::to_string(st.st_size) + " bytes, the limit is " +
                std::to_string(kMaxConfigBytes));
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(FromErrno("read", errno).message());
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return ParseDaemonConfig(text);
}

std::string DaemonConfigToJson(const DaemonConfig& c) { return DaemonConfigToJsonValue(c).dump(2); }

Json DaemonConfigToJsonValue(const DaemonConfig& c) {
  auto ms = [](milliseconds d) { return FormatDuration(d); };
  Json scans = Json::array();
  for (const auto& s : c.scans) {
    scans.push_back({{"id", s.id},
                     {"targets", s.targets},
                     {"exclude", s.exclude},
                     {"ports", s.ports},
                     {"rate_pps", s.rate_pps},
                     {"mode", s.mode == ScanMode::kSyn ? "syn" : "connect"},
                     {"retries", s.retries},
                     {"wait", ms(s.wait)},
                     {"interval", ms(s.interval)},
                     {"banners", s.banners}});
  }
  std::string level(log::LevelName(c.log.level));
  for (char& ch : level) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  Json j = {
      {"version", c.version},
      {"device", {{"id", c.device.id}, {"group", c.device.group}}},
      {"capture",
       {{"enabled", c.capture.enabled},
        {"interface", c.capture.interface},
        {"filter", c.capture.filter},
        {"snaplen", c.capture.snaplen},
        {"buffer_mib", c.capture.buffer_mib},
        {"timeout_ms", c.capture.timeout_ms},
        {"queue_mib", c.capture.queue_mib},
        {"chunk_max_bytes", FormatSize(c.capture.chunk_max_bytes)},
        {"chunk_max_age", ms(c.capture.chunk_max_age)},
        {"chunk_idle", ms(c.capture.chunk_idle)}}},
      {"buffer", {{"dir", c.buffer.dir}, {"max_bytes", FormatSize(c.buffer.max_bytes)}}},
      {"upload",
       {{"collectors", c.upload.collectors},
        {"token_file", c.upload.token_file},
        {"ca_file", c.upload.ca_file},
        {"client_cert", c.upload.client_cert},
        {"client_key", c.upload.client_key},
        {"threads", c.upload.threads},
        {"connect_timeout", ms(c.upload.connect_timeout)},
        {"low_speed_time", ms(c.upload.low_speed_time)},
        {"low_speed_bytes", c.upload.low_speed_bytes},
        {"retry_base", ms(c.upload.retry_base)},
        {"retry_max", ms(c.upload.retry_max)},
        {"gzip", c.upload.gzip},
        {"encoding", c.upload.zstd ? "zstd" : "gzip"},
        {"heartbeat_interval", ms(c.upload.heartbeat_interval)},
        {"discover", c.upload.discover},
        {"allow_plain_http", c.upload.allow_plain_http},
        {"spread_collectors", c.upload.spread_collectors}}},
      {"scans", scans},
      {"scan_max_probes", c.scan_max_probes},
      {"scan_max_pps", c.scan_max_pps},
      {"zookeeper",
       {{"hosts", c.zookeeper.hosts},
        {"root", c.zookeeper.root},
        {"session_timeout_ms", c.zookeeper.session_timeout_ms},
        {"auth_user", c.zookeeper.auth_user},
        {"auth_password_file", c.zookeeper.auth_password_file},
        {"fleet_password_file", c.zookeeper.fleet_password_file},
        {"allow_open_acl", c.zookeeper.allow_open_acl}}},
      {"log",
       {{"level", level},
        {"file", c.log.file},
        {"file_max_bytes", FormatSize(c.log.file_max_bytes)},
        {"file_keep", c.log.file_keep},
        {"ship", c.log.ship}}},
      {"security", {{"user", c.security.user}, {"seccomp", c.security.seccomp}}},
  };
  return j;
}

std::optional<std::string> RefuseCollectorUrl(const UploadSection& upload, std::string_view url,
                                              bool discovered) {
  auto parsed = ParseUrl(url);
  if (!parsed.ok()) return parsed.status().message();
  if (discovered) {
    const std::string text(url);
    bool listed = false;
    for (const std::string& pattern : upload.discover) {
      listed = listed || ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
    }
    if (!listed) return "not matched by upload.discover (discovery is off when it is empty)";
  }
  if (parsed->scheme == "http" && !upload.allow_plain_http) {
    auto ip = IpAddress::Parse(parsed->host);
    const bool loopback = parsed->host == "localhost" || (ip.ok() && ip->IsLoopback());
    if (!loopback) {
      return "http:// to " + parsed->host +
             " would send the device token in clear text: use https://, or set "
             "upload.allow_plain_http to true";
    }
  }
  return std::nullopt;
}

namespace config_internal {

ScanProbeSize ReadScanProbe(JsonObjectReader& r, ScanProbe& p) {
  constexpr std::size_t kMaxListBytes = 65536;
  constexpr std::uint64_t kMaxRatePps = 10'000'000;
  constexpr milliseconds kMaxWait{60'000};
  ScanProbeSize size;
  if (!r.String("targets", &p.targets, kMaxListBytes)) {
    if (!r.Child("targets")) r.Error("targets", "is required");
  } else if (auto t = ParseTargetList(p.targets); !t.ok()) {
    r.Error("targets", t.status().message());
  } else {
    size.addresses = CountAddresses(*t);
  }
  if (r.String("exclude", &p.exclude, kMaxListBytes) && !p.exclude.empty()) {
    if (auto e = ParseTargetList(p.exclude); !e.ok()) r.Error("exclude", e.status().message());
  }
  if (!r.String("ports", &p.ports, kMaxListBytes)) {
    if (!r.Child("ports")) r.Error("ports", "is required");
  } else if (auto list = ParsePortList(p.ports); !list.ok()) {
    r.Error("ports", list.status().message());
  } else {
    size.ports = CountPorts(*list);
  }
  r.Uint("rate_pps", 1, kMaxRatePps, &p.rate_pps);
  std::string mode;
  if (r.Choice("mode", {"syn", "connect"}, &mode)) {
    p.mode = mode == "syn" ? ScanMode::kSyn : ScanMode::kConnect;
  }
  r.Int("retries", 0, 10, &p.retries);
  if (r.Child("wait") && r.Child("wait_ms")) {
    r.Error("wait_ms", "give either wait or wait_ms, not both");
  }
  r.Duration("wait", milliseconds(0), kMaxWait, &p.wait);
  int wait_ms = 0;
  if (r.Int("wait_ms", 0, static_cast<int>(kMaxWait.count()), &wait_ms)) {
    p.wait = milliseconds(wait_ms);
  }
  r.Bool("banners", &p.banners);
  return size;
}

}  // namespace config_internal

}  // namespace picket
