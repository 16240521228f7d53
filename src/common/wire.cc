#include "picket/common/wire.h"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <vector>

namespace picket::wire {

namespace {

constexpr std::string_view kPrefix = "/v1";
constexpr std::string_view kDevicesSegment = "devices";
constexpr std::string_view kChunksSegment = "chunks";
constexpr std::string_view kResultsSegment = "results";
constexpr std::string_view kLogsSegment = "logs";
constexpr std::string_view kSessionsSegment = "sessions";
constexpr std::string_view kPcapSegment = "pcap";
constexpr std::string_view kStatusSegment = "status";
constexpr std::string_view kSeriesSegment = "series";
constexpr std::string_view kConfigSegment = "config";
constexpr std::string_view kFleetSegment = "fleet";
constexpr std::string_view kIssuesSegment = "issues";
constexpr std::string_view kScansSegment = "scans";
constexpr std::string_view kCancelSegment = "cancel";
constexpr std::string_view kLoginSegment = "login";
constexpr std::string_view kLogoutSegment = "logout";
constexpr std::string_view kWhoamiSegment = "whoami";
constexpr std::string_view kUiPrefix = "/ui/";

// Page asset names: one path segment of [A-Za-z0-9._-], not starting with '.'.
bool IsValidAssetName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  // path starts with '/'; "/v1/devices" → {"v1", "devices"}; "/a//b" keeps the empty segment.
  std::size_t pos = 1;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) {
        return Status::InvalidArgument("bad percent-escape in query");
      }
      int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return Status::InvalidArgument("bad percent-escape in query");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

bool IsUnreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void AppendEncoded(std::string& out, std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : in) {
    if (IsUnreserved(c)) {
      out += c;
    } else {
      const auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    }
  }
}

// Builds "?a=1&b=2" from the parameters given, in the order added.
class QueryBuilder {
 public:
  explicit QueryBuilder(std::string path) : out_(std::move(path)) {}
  QueryBuilder& Add(std::string_view name, const std::optional<std::string>& value) {
    if (value) Append(name, *value);
    return *this;
  }
  QueryBuilder& Add(std::string_view name, std::optional<std::uint64_t> value) {
    if (value) Append(name, std::to_string(*value));
    return *this;
  }
  QueryBuilder& Add(std::string_view name, std::optional<std::int64_t> value) {
    if (value) Append(name, std::to_string(*value));
    return *this;
  }
  std::string Take() { return std::move(out_); }

 private:
  void Append(std::string_view name, std::string_view value) {
    out_ += first_ ? '?' : '&';
    first_ = false;
    AppendEncoded(out_, name);
    out_ += '=';
    AppendEncoded(out_, value);
  }
  std::string out_;
  bool first_ = true;
};

std::string DevicePath(std::string_view device, std::string_view kind) {
  std::string out(kPrefix);
  out += '/';
  out += kDevicesSegment;
  out += '/';
  AppendEncoded(out, device);
  out += '/';
  out += kind;
  return out;
}

std::string CollectionPath(std::string_view segment) {
  std::string out(kPrefix);
  out += '/';
  out += segment;
  return out;
}

Status ParseQuery(std::string_view query, Route& route) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    auto key = PercentDecode(item.substr(0, eq));
    if (!key.ok()) return key.status();
    auto value =
        PercentDecode(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1));
    if (!value.ok()) return value.status();
    if (route.query.count(*key)) {
      return Status::InvalidArgument("query parameter '" + *key + "' given twice");
    }
    route.query.emplace(std::move(*key), std::move(*value));
  }
  return Status::Ok();
}

RouteMatch Fail(int status, std::string error, std::string allow = {}) {
  RouteMatch m;
  m.http_status = status;
  m.error = std::move(error);
  m.allow = std::move(allow);
  return m;
}

// Resolves the method against the endpoints a path pattern has.
template <std::size_t N>
RouteMatch PickMethod(std::string_view method, const Endpoint (&endpoints)[N], Route route) {
  std::string allow;
  for (Endpoint e : endpoints) {
    if (EndpointMethod(e) == method) {
      route.endpoint = e;
      RouteMatch m;
      m.route = std::move(route);
      return m;
    }
    if (!allow.empty()) allow += ", ";
    allow += EndpointMethod(e);
  }
  return Fail(kHttpMethodNotAllowed,
              "method " + std::string(method) + " not allowed here (allowed: " + allow + ")",
              allow);
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

bool IsDeviceWrite(Endpoint endpoint) {
  return EndpointAccess(endpoint) == Access::kDevice;
}

Access EndpointAccess(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kPutChunk:
    case Endpoint::kPostResults:
    case Endpoint::kPostLogs:
    case Endpoint::kPostStatus:
      return Access::kDevice;
    case Endpoint::kSubmitScan:
    case Endpoint::kCancelScan:
    case Endpoint::kPutDeviceConfig:
      return Access::kAdmin;
    case Endpoint::kLogin:
    case Endpoint::kHealthz:
    case Endpoint::kReadyz:
    case Endpoint::kPageAsset:
      return Access::kPublic;
    default:
      return Access::kRead;
  }
}

std::string_view EndpointName(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kPutChunk:
      return "put_chunk";
    case Endpoint::kGetChunk:
      return "get_chunk";
    case Endpoint::kListChunks:
      return "list_chunks";
    case Endpoint::kPostResults:
      return "post_results";
    case Endpoint::kPostLogs:
      return "post_logs";
    case Endpoint::kListDevices:
      return "list_devices";
    case Endpoint::kListResults:
      return "list_results";
    case Endpoint::kListLogs:
      return "list_logs";
    case Endpoint::kListSessions:
      return "list_sessions";
    case Endpoint::kGetSession:
      return "get_session";
    case Endpoint::kGetSessionPcap:
      return "get_session_pcap";
    case Endpoint::kPostStatus:
      return "post_status";
    case Endpoint::kGetFleet:
      return "get_fleet";
    case Endpoint::kGetDeviceStatus:
      return "get_device_status";
    case Endpoint::kGetDeviceSeries:
      return "get_device_series";
    case Endpoint::kListIssues:
      return "list_issues";
    case Endpoint::kListScans:
      return "list_scans";
    case Endpoint::kSubmitScan:
      return "submit_scan";
    case Endpoint::kCancelScan:
      return "cancel_scan";
    case Endpoint::kPutDeviceConfig:
      return "put_device_config";
    case Endpoint::kLogin:
      return "login";
    case Endpoint::kLogout:
      return "logout";
    case Endpoint::kWhoami:
      return "whoami";
    case Endpoint::kMetrics:
      return "metrics";
    case Endpoint::kHealthz:
      return "healthz";
    case Endpoint::kReadyz:
      return "readyz";
    case Endpoint::kPageAsset:
      return "page";
  }
  return "unknown";
}

std::string_view EndpointMethod(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kPutChunk:
    case Endpoint::kPutDeviceConfig:
      return "PUT";
    case Endpoint::kPostResults:
    case Endpoint::kPostLogs:
    case Endpoint::kPostStatus:
    case Endpoint::kSubmitScan:
    case Endpoint::kCancelScan:
    case Endpoint::kLogin:
    case Endpoint::kLogout:
      return "POST";
    case Endpoint::kGetChunk:
    case Endpoint::kListChunks:
    case Endpoint::kListDevices:
    case Endpoint::kListResults:
    case Endpoint::kListLogs:
    case Endpoint::kListSessions:
    case Endpoint::kGetSession:
    case Endpoint::kGetSessionPcap:
    case Endpoint::kGetFleet:
    case Endpoint::kGetDeviceStatus:
    case Endpoint::kGetDeviceSeries:
    case Endpoint::kListIssues:
    case Endpoint::kListScans:
    case Endpoint::kWhoami:
    case Endpoint::kMetrics:
    case Endpoint::kHealthz:
    case Endpoint::kReadyz:
    case Endpoint::kPageAsset:
      return "GET";
  }
  return "GET";
}

bool IsValidDeviceId(std::string_view id) {
  if (id.empty() || id.size() > kMaxDeviceIdLength) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  // "." and ".." are valid by the grammar but would escape the chunk directory.
  return id != "." && id != "..";
}

Result<std::uint64_t> ParseSessionId(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > static_cast<std::uint64_t>(INT64_MAX)) {
    return Status::InvalidArgument("bad session id '" + std::string(text) +
                                   "' (expected an integer 1.." + std::to_string(INT64_MAX) + ")");
  }
  return value;
}

Result<std::uint64_t> ParseChunkSeq(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value > kMaxChunkSeq) {
    return Status::InvalidArgument("bad chunk seq '" + std::string(text) +
                                   "' (expected an integer 0.." + std::to_string(kMaxChunkSeq) +
                                   ")");
  }
  return value;
}

std::string DevicesPath() { return CollectionPath(kDevicesSegment); }

std::string ChunksPath(std::string_view device, const ChunksQuery& query) {
  return QueryBuilder(DevicePath(device, kChunksSegment))
      .Add(kSinceParam, query.since)
      .Add(kLimitParam, query.limit)
      .Take();
}

std::string ChunkPath(std::string_view device, std::uint64_t seq) {
  return DevicePath(device, kChunksSegment) + '/' + std::to_string(seq);
}

std::string DeviceResultsPath(std::string_view device) {
  return DevicePath(device, kResultsSegment);
}

std::string DeviceLogsPath(std::string_view device) { return DevicePath(device, kLogsSegment); }

std::string ResultsPath(const ResultsQuery& query) {
  return QueryBuilder(CollectionPath(kResultsSegment))
      .Add(kDeviceParam, query.device)
      .Add(kJobParam, query.job)
      .Add(kLimitParam, query.limit)
      .Add(kSinceParam, query.since)
      .Take();
}

std::string SessionsPath(const SessionsQuery& query) {
  return QueryBuilder(CollectionPath(kSessionsSegment))
      .Add(kDeviceParam, query.device)
      .Add(kSinceParam, query.since)
      .Add(kUntilParam, query.until)
      .Add(kIpParam, query.ip)
      .Add(kPortParam, query.port)
      .Add(kProtoParam, query.proto)
      .Add(kAppParam, query.app)
      .Add(kRiskParam, query.risk)
      .Add(kStateParam, query.state)
      .Add(kAfterParam, query.after)
      .Add(kLimitParam, query.limit)
      .Take();
}

std::string SessionPath(std::uint64_t id) {
  return CollectionPath(kSessionsSegment) + '/' + std::to_string(id);
}

std::string SessionPcapPath(std::uint64_t id) {
  return SessionPath(id) + '/' + std::string(kPcapSegment);
}

std::string DeviceStatusPath(std::string_view device) { return DevicePath(device, kStatusSegment); }
std::string DeviceSeriesPath(std::string_view device, std::string_view window) {
  return QueryBuilder(DevicePath(device, kSeriesSegment))
      .Add(kWindowParam, std::optional<std::string>(std::string(window)))
      .Take();
}
std::string DeviceConfigPath(std::string_view device) { return DevicePath(device, kConfigSegment); }
std::string FleetPath() { return CollectionPath(kFleetSegment); }
std::string IssuesPath() { return CollectionPath(kIssuesSegment); }
std::string ScansPath() { return CollectionPath(kScansSegment); }
std::string CancelScanPath(std::string_view job) {
  std::string out = CollectionPath(kScansSegment) + '/';
  AppendEncoded(out, job);
  out += '/';
  out += kCancelSegment;
  return out;
}
std::string LoginPath() { return CollectionPath(kLoginSegment); }
std::string LogoutPath() { return CollectionPath(kLogoutSegment); }
std::string WhoamiPath() { return CollectionPath(kWhoamiSegment); }

std::string LogsPath(const LogsQuery& query) {
  return QueryBuilder(CollectionPath(kLogsSegment))
      .Add(kDeviceParam, query.device)
      .Add(kFollowParam, query.follow ? std::optional<std::string>("1") : std::nullopt)
      .Add(kLimitParam, query.limit)
      .Add(kSinceParam, query.since)
      .Add(kSinceMsParam, query.since_ms)
      .Add(kTailParam, query.tail)
      .Take();
}

RouteMatch MatchRoute(std::string_view method, std::string_view target) {
  std::string_view path = target, query;
  if (std::size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  if (path.empty() || path[0] != '/') return Fail(kHttpNotFound, "no such path");
  Route route;
  // Outside /v1: the page, its assets and the probes.
  std::optional<Endpoint> plain;
  if (path == "/" || path == "/index.html") {
    plain = Endpoint::kPageAsset;
  } else if (path.starts_with(kUiPrefix)) {
    std::string_view name = path.substr(kUiPrefix.size());
    if (!IsValidAssetName(name)) return Fail(kHttpNotFound, "no such path");
    route.asset = std::string(name);
    plain = Endpoint::kPageAsset;
  } else if (path == kMetricsPath) {
    plain = Endpoint::kMetrics;
  } else if (path == kHealthzPath) {
    plain = Endpoint::kHealthz;
  } else if (path == kReadyzPath) {
    plain = Endpoint::kReadyz;
  }
  if (plain) {
    if (auto st = ParseQuery(query, route); !st.ok()) return Fail(kHttpBadRequest, st.message());
    const Endpoint one[] = {*plain};
    return PickMethod(method, one, std::move(route));
  }
  auto seg = SplitPath(path);
  if (seg.size() < 2 || seg[0] != kPrefix.substr(1)) return Fail(kHttpNotFound, "no such path");

  if (auto st = ParseQuery(query, route); !st.ok()) return Fail(kHttpBadRequest, st.message());

  if (seg.size() == 2) {
    if (seg[1] == kDevicesSegment) {
      return PickMethod(method, {Endpoint::kListDevices}, std::move(route));
    }
    if (seg[1] == kResultsSegment) {
      return PickMethod(method, {Endpoint::kListResults}, std::move(route));
    }
    if (seg[1] == kLogsSegment) return PickMethod(method, {Endpoint::kListLogs}, std::move(route));
    if (seg[1] == kSessionsSegment) {
      return PickMethod(method, {Endpoint::kListSessions}, std::move(route));
    }
    if (seg[1] == kFleetSegment) return PickMethod(method, {Endpoint::kGetFleet}, std::move(route));
    if (seg[1] == kIssuesSegment) {
      return PickMethod(method, {Endpoint::kListIssues}, std::move(route));
    }
    if (seg[1] == kScansSegment) {
      return PickMethod(method, {Endpoint::kListScans, Endpoint::kSubmitScan}, std::move(route));
    }
    if (seg[1] == kLoginSegment) return PickMethod(method, {Endpoint::kLogin}, std::move(route));
    if (seg[1] == kLogoutSegment) return PickMethod(method, {Endpoint::kLogout}, std::move(route));
    if (seg[1] == kWhoamiSegment) return PickMethod(method, {Endpoint::kWhoami}, std::move(route));
    return Fail(kHttpNotFound, "no such path");
  }
  if (seg[1] == kScansSegment && seg.size() == 4 && seg[3] == kCancelSegment) {
    RouteMatch m = PickMethod(method, {Endpoint::kCancelScan}, std::move(route));
    if (!m.matched()) return m;
    // Job ids share the device-id alphabet (they are znode names too).
    if (!IsValidDeviceId(seg[2])) {
      return Fail(kHttpBadRequest,
                  "bad job id '" + std::string(seg[2]) + "' (expected [A-Za-z0-9._-]{1,64})");
    }
    m.route.job = std::string(seg[2]);
    return m;
  }
  if (seg[1] == kSessionsSegment && (seg.size() == 3 || (seg.size() == 4 && seg[3] == kPcapSegment))) {
    RouteMatch m = PickMethod(
        method, {seg.size() == 3 ? Endpoint::kGetSession : Endpoint::kGetSessionPcap},
        std::move(route));
    if (!m.matched()) return m;
    auto id = ParseSessionId(seg[2]);
    if (!id.ok()) return Fail(kHttpBadRequest, id.status().message());
    m.route.session_id = *id;
    return m;
  }
  if (seg[1] != kDevicesSegment || seg.size() < 4 || seg.size() > 5) {
    return Fail(kHttpNotFound, "no such path");
  }

  const std::string_view kind = seg[3];
  RouteMatch m;
  if (seg.size() == 4 && kind == kChunksSegment) {
    m = PickMethod(method, {Endpoint::kListChunks}, std::move(route));
  } else if (seg.size() == 5 && kind == kChunksSegment) {
    m = PickMethod(method, {Endpoint::kGetChunk, Endpoint::kPutChunk}, std::move(route));
  } else if (seg.size() == 4 && kind == kResultsSegment) {
    m = PickMethod(method, {Endpoint::kPostResults}, std::move(route));
  } else if (seg.size() == 4 && kind == kLogsSegment) {
    m = PickMethod(method, {Endpoint::kPostLogs}, std::move(route));
  } else if (seg.size() == 4 && kind == kStatusSegment) {
    m = PickMethod(method, {Endpoint::kGetDeviceStatus, Endpoint::kPostStatus}, std::move(route));
  } else if (seg.size() == 4 && kind == kSeriesSegment) {
    m = PickMethod(method, {Endpoint::kGetDeviceSeries}, std::move(route));
  } else if (seg.size() == 4 && kind == kConfigSegment) {
    m = PickMethod(method, {Endpoint::kPutDeviceConfig}, std::move(route));
  } else {
    return Fail(kHttpNotFound, "no such path");
  }
  if (!m.matched()) return m;

  if (!IsValidDeviceId(seg[2])) {
    return Fail(kHttpBadRequest,
                "bad device id '" + std::string(seg[2]) + "' (expected [A-Za-z0-9._-]{1,64})");
  }
  m.route.device = std::string(seg[2]);
  if (seg.size() == 5) {
    auto seq = ParseChunkSeq(seg[4]);
    if (!seq.ok()) return Fail(kHttpBadRequest, seq.status().message());
    m.route.seq = *seq;
  }
  return m;
}

Result<std::optional<std::uint64_t>> QueryNumber(const Route& route, std::string_view name) {
  auto it = route.query.find(name);
  if (it == route.query.end()) return std::optional<std::uint64_t>();
  std::uint64_t value = 0;
  const std::string& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument("query parameter '" + std::string(name) +
                                   "' must be a non-negative integer, got '" + text + "'");
  }
  return std::optional<std::uint64_t>(value);
}

std::optional<std::string> QueryText(const Route& route, std::string_view name) {
  auto it = route.query.find(name);
  if (it == route.query.end()) return std::nullopt;
  return it->second;
}

std::string HeaderLine(std::string_view name, std::string_view value) {
  std::string out(name);
  out += ": ";
  out += value;
  return out;
}

std::string BearerHeaderLine(std::string_view token) {
  std::string value(kBearerScheme);
  value += ' ';
  value += token;
  return HeaderLine(kAuthorizationHeader, value);
}

std::optional<std::string_view> ParseBearerToken(std::string_view authorization) {
  std::string_view v = TrimSpaces(authorization);
  const std::size_t n = kBearerScheme.size();
  if (v.size() < n + 1 || v[n] != ' ') return std::nullopt;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::tolower(static_cast<unsigned char>(v[i])) !=
        std::tolower(static_cast<unsigned char>(kBearerScheme[i]))) {
      return std::nullopt;
    }
  }
  return TrimSpaces(v.substr(n + 1));
}

}  // namespace picket::wire
