#include "collector/api_handler.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <nlohmann/json.hpp>

#include "collector/capture_format.h"
#include "collector/gunzip.h"
#include "collector/header_text.h"
#include "picket/common/c_handle.h"
#include "picket/common/digest.h"
#include "picket/common/json_limits.h"
#include "picket/common/log.h"
#include "picket/common/wire.h"

namespace picket::collector {

namespace {

using nlohmann::json;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Names of capture devices: 15 bytes on Linux, a few dozen for libpcap's others.
constexpr std::size_t kMaxInterfaceBytes = 256;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

Result<std::optional<std::int64_t>> HeaderNumber(const HeaderMap& h, std::string_view name) {
  auto value = h.Get(name);
  if (!value) return std::optional<std::int64_t>();
  std::string_view text = Trim(*value);
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  // At most 2^53 - 1: exact in JSON, and the database's sums cannot overflow.
  constexpr std::int64_t kMaxCounter = (std::int64_t{1} << 53) - 1;
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n < 0 ||
      n > kMaxCounter) {
    return Status::InvalidArgument(std::string(name) +
                                   ": expected an integer from 0 to 9007199254740991, got '" +
                                   std::string(*value) + "'");
  }
  return std::optional<std::int64_t>(n);
}

// Fills the numeric metadata fields; the first bad header wins.
Status ReadNumbers(
    const HeaderMap& h,
    std::initializer_list<std::pair<std::string_view, std::optional<std::int64_t>*>> fields) {
  for (auto& [name, out] : fields) {
    auto n = HeaderNumber(h, name);
    if (!n.ok()) return n.status();
    *out = *n;
  }
  return Status::Ok();
}

Reply Unauthorized(std::string_view message) {
  Reply r = JsonError(wire::kHttpUnauthorized, message);
  r.headers.emplace_back(wire::kWwwAuthenticateHeader, wire::kBearerScheme);
  return r;
}

bool IsSafeMethod(std::string_view method) { return method == "GET" || method == "HEAD"; }

// Who calls and whether they may call this route (wire::EndpointAccess):
// fills a.principal (and a.login_session for a cookie), or returns the 401/403.
// A bearer token wins over a cookie. A cookie session's non-GET requests must
// come from this collector's own origin and carry the session's CSRF token.
std::optional<Reply> Authorize(const TokenTable* tokens, LoginSessions& sessions, bool tls,
                               const RequestHead& head, Admission& a) {
  const HeaderMap& h = head.headers;
  const wire::Access access = wire::EndpointAccess(a.route.endpoint);
  if (tokens == nullptr) {  // --insecure-no-auth
    a.principal = Principal{Role::kAdmin, ""};
    return std::nullopt;
  }
  if (auto auth = h.Get(wire::kAuthorizationHeader)) {
    auto token = wire::ParseBearerToken(*auth);
    auto who = token ? tokens->Lookup(*token) : std::nullopt;
    if (!who) {
      if (access == wire::Access::kPublic) return std::nullopt;
      return Unauthorized(token ? "unknown bearer token"
                                : "the Authorization header is not 'Bearer <token>'");
    }
    a.principal = std::move(who);
  } else if (auto cookie = CookieValue(h.Get(kCookieHeader).value_or(""), kSessionCookie)) {
    auto session = sessions.Find(*cookie);
    if (session && session->token_hash && !tokens->HasTokenHash(*session->token_hash)) {
      sessions.Remove(*cookie);  // its token was removed from the tokens file (SIGHUP)
      session.reset();
    }
    if (!session) {
      if (access == wire::Access::kPublic) return std::nullopt;
      return Unauthorized("the login session is unknown or expired: log in again");
    }
    if (!IsSafeMethod(head.method)) {
      if (auto origin = h.Get(kOriginHeader)) {
        if (auto wrong = OriginMismatch(*origin, h.Get(kHostHeader).value_or(""), tls)) {
          return JsonError(wire::kHttpForbidden, *wrong);
        }
      }
      auto csrf = h.Get(kCsrfHeader);
      if (!csrf) {
        return JsonError(wire::kHttpForbidden,
                         "missing X-CSRF-Token header (needed with the session cookie)");
      }
      if (!CsrfMatches(*session, *csrf)) {
        return JsonError(wire::kHttpForbidden, "X-CSRF-Token does not match the login session");
      }
    }
    a.principal = Principal{session->role, ""};
    a.login_session = std::string(*cookie);
  } else if (!head.client_cert_device.empty()) {
    a.principal = Principal{Role::kDevice, head.client_cert_device};
  } else {
    if (access == wire::Access::kPublic) return std::nullopt;
    return Unauthorized("missing 'Authorization: Bearer <token>' (or a login session cookie)");
  }
  if (auto denied = AccessDenied(*a.principal, a.route)) {
    return JsonError(wire::kHttpForbidden, *denied);
  }
  return std::nullopt;
}

// Whether the request carries a token or login session the collector knows.
bool HasCredential(const TokenTable* tokens, LoginSessions& sessions, const RequestHead& head) {
  const HeaderMap& h = head.headers;
  if (auto auth = h.Get(wire::kAuthorizationHeader)) {
    auto token = wire::ParseBearerToken(*auth);
    return token && tokens->Lookup(*token).has_value();
  }
  auto cookie = CookieValue(h.Get(kCookieHeader).value_or(""), kSessionCookie);
  if (cookie) {
    auto session = sessions.Find(*cookie);
    return session && (!session->token_hash || tokens->HasTokenHash(*session->token_hash));
  }
  return !head.client_cert_device.empty();
}

// Operator requests that carry a JSON body, and its limit.
std::optional<std::uint64_t> ActionBodyLimit(wire::Endpoint endpoint) {
  switch (endpoint) {
    case wire::Endpoint::kLogin:
      return 4 * 1024;
    case wire::Endpoint::kSubmitScan:
    case wire::Endpoint::kCancelScan:
    case wire::Endpoint::kPutDeviceConfig:
      return 64 * 1024;
    default:
      return std::nullopt;
  }
}

std::optional<ResultKey> ExtractResultKey(const json& obj) {
  auto ip = obj.find("ip");
  auto port = obj.find("port");
  auto proto = obj.find("proto");
  if (ip == obj.end() || !ip->is_string() || port == obj.end() || !port->is_number_integer() ||
      proto == obj.end() || !proto->is_string()) {
    return std::nullopt;
  }
  ResultKey key;
  key.ip = ip->get<std::string>();
  key.port = port->get<std::int64_t>();
  key.proto = proto->get<std::string>();
  if (auto job = obj.find("job"); job != obj.end()) {
    if (job->is_string())
      key.job = job->get<std::string>();
    else if (job->is_number_integer())
      key.job = std::to_string(job->get<std::int64_t>());
  }
  return key;
}

// follow=1 on GET /v1/logs; nullopt without it. The cursor is the row id in
// Last-Event-ID (a reconnecting EventSource), else "since" (a row id, as for
// the plain listing), else "since_ms" (a wall time), else the beginning.
// tail=N: 1 … kMaxLogTail, errors name the parameter and value.
Result<std::optional<std::uint64_t>> ParseTail(const wire::Route& route) {
  auto tail = wire::QueryNumber(route, wire::kTailParam);
  if (!tail.ok()) return tail.status();
  if (*tail && (**tail == 0 || **tail > wire::kMaxLogTail)) {
    return Status::InvalidArgument("query parameter 'tail' must be 1.." +
                                   std::to_string(wire::kMaxLogTail) + ", got '" +
                                   std::to_string(**tail) + "'");
  }
  return *tail;
}

Result<std::optional<LogFollow>> ParseLogFollow(const wire::Route& route, const HeaderMap& h) {
  auto flag = wire::QueryText(route, wire::kFollowParam);
  if (!flag || *flag == "0" || *flag == "false") return std::optional<LogFollow>();
  if (*flag != "1" && *flag != "true") {
    return Status::InvalidArgument("query parameter 'follow' must be 1 or 0, got '" + *flag + "'");
  }
  LogFollow f;
  f.device = wire::QueryText(route, wire::kDeviceParam);
  auto since = wire::QueryNumber(route, wire::kSinceParam);
  if (!since.ok()) return since.status();
  auto since_ms = wire::QueryNumber(route, wire::kSinceMsParam);
  if (!since_ms.ok()) return since_ms.status();
  if (auto last = h.Get(wire::kLastEventIdHeader)) {
    std::string_view text = Trim(*last);
    std::uint64_t id = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      return Status::InvalidArgument("Last-Event-ID must be a log row id, got '" +
                                     std::string(*last) + "'");
    }
    f.cursor = id;
  } else if (*since) {
    f.cursor = **since;
  } else if (*since_ms) {
    f.since_ms = static_cast<std::int64_t>(std::min<std::uint64_t>(**since_ms, INT64_MAX));
  } else {
    auto tail = ParseTail(route);
    if (!tail.ok()) return tail.status();
    f.tail = *tail;
  }
  return std::optional<LogFollow>(std::move(f));
}

}  // namespace

Reply JsonReply(int status, const json& body) {
  Reply r;
  r.status = status;
  // Paths, headers and stored text may hold invalid UTF-8: replace it rather
  // than let dump() throw inside a network handler.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// Storage failures: the device keeps the data and retries on 5xx.
Reply StorageError(const Status& st, std::string_view what) {
  PICKET_LOG(kError, "collector", "storage error", {"what", what}, {"status", st});
  if (st.code() == StatusCode::kUnavailable || st.code() == StatusCode::kResourceExhausted) {
    Reply r = JsonError(wire::kHttpUnavailable, std::string(what) + ": " + st.message());
    r.headers.emplace_back(wire::kRetryAfterHeader, "5");
    return r;
  }
  return JsonError(wire::kHttpInternalError, std::string(what) + ": " + st.message());
}

void HeaderMap::Add(std::string_view name, std::string_view value) {
  fields_.emplace(Lower(name), std::string(value));
}

std::optional<std::string_view> HeaderMap::Get(std::string_view name) const {
  auto it = fields_.find(Lower(name));
  if (it == fields_.end()) return std::nullopt;
  return std::string_view(it->second);
}

Reply JsonError(int status, std::string_view message) {
  return JsonReply(status, json{{"error", std::string(message)}});
}

Result<std::string> Sha256FromDigestHeader(std::string_view value) {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view item = Trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos || Lower(Trim(item.substr(0, eq))) != "sha-256") continue;
    std::string_view b64 = Trim(item.substr(eq + 1));
    if (b64.size() >= 2 && b64.front() == ':' && b64.back() == ':')
      b64 = b64.substr(1, b64.size() - 2);
    if (b64.size() != 44) {
      return Status::InvalidArgument("Digest: sha-256 value is not 32 bytes of base64");
    }
    return std::string(b64);
  }
  return Status::InvalidArgument("missing 'Digest: sha-256=<base64>' header");
}

Result<std::vector<NdjsonLine>> ParseNdjson(std::string_view body, LineKind kind) {
  std::vector<NdjsonLine> lines;
  std::size_t line_no = 0;
  while (!body.empty()) {
    std::size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    ++line_no;
    line = Trim(line);
    if (line.empty()) continue;
    // Each line costs ~128 bytes of bookkeeping until it is stored: 64 MiB of
    // "{}" lines would take gigabytes. A device sends at most 10,000 a batch.
    if (lines.size() >= kMaxNdjsonLines) {
      return Status::ResourceExhausted("more than " + std::to_string(kMaxNdjsonLines) +
                                       " lines in one request (send smaller batches)");
    }
    if (line.size() > kMaxNdjsonLineBytes) {
      return Status::ResourceExhausted("line " + std::to_string(line_no) + ": " +
                                       std::to_string(line.size()) + " bytes, more than the " +
                                       std::to_string(kMaxNdjsonLineBytes) + " a line may have");
    }
    // Bounded before parsing: a stored line is re-encoded on every read.
    if (!JsonNestingWithin(line)) {
      return Status::InvalidArgument("line " + std::to_string(line_no) + ": JSON nesting deeper than " +
                                     std::to_string(kMaxJsonDepth) + " levels");
    }
    json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
      return Status::InvalidArgument("line " + std::to_string(line_no) + ": not valid JSON");
    }
    if (!parsed.is_object()) {
      return Status::InvalidArgument("line " + std::to_string(line_no) + ": not a JSON object");
    }
    NdjsonLine out;
    out.raw = line;
    if (kind == LineKind::kResults) out.result_key = ExtractResultKey(parsed);
    lines.push_back(out);
  }
  return lines;
}

ApiHandler::ApiHandler(const TokenTable* tokens, CollectorDb* db, const ChunkStore* store,
                       std::uint64_t max_body, const Clock* clock, int max_followers)
    : tokens_(tokens),
      db_(db),
      store_(store),
      max_body_(max_body),
      clock_(clock),
      log_feed_(max_followers),
      login_sessions_(std::make_unique<LoginSessions>(clock)) {}

void ApiHandler::EnableWeb(bool tls, OperatorActions* actions) {
  tls_ = tls;
  actions_ = actions;
}

std::string FormatSseEvent(std::uint64_t id, std::string_view data) {
  std::string out = "id: " + std::to_string(id) + "\ndata: ";
  out += data;
  out += "\n\n";
  return out;
}

Result<std::uint64_t> ApiHandler::StartCursor(const LogFollow& follow) {
  if (follow.since_ms) return db_->LogCursorAt(*follow.since_ms);
  if (follow.tail) return db_->LogCursorTail(follow.device, *follow.tail);
  return follow.cursor;
}

Result<LogEvents> ApiHandler::NextLogEvents(const LogFollow& follow, std::uint64_t cursor) {
  constexpr std::uint64_t kPage = 500;
  ListQuery q;
  q.device = follow.device;
  q.since = cursor;
  q.limit = kPage;
  auto rows = db_->ListLogs(q);
  if (!rows.ok()) return rows.status();
  LogEvents events;
  events.cursor = cursor;
  events.more = rows->size() >= kPage;
  for (const json& row : *rows) {
    events.cursor = row.value("id", events.cursor);
    events.text +=
        FormatSseEvent(events.cursor, row.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  return events;
}

Admission ApiHandler::Admit(const RequestHead& head) const {
  Admission a;
  wire::RouteMatch match = wire::MatchRoute(head.method, head.target);
  if (!match.matched()) {
    // A stranger learns nothing about which paths exist: without a valid
    // credential every unknown or malformed path is a 401, like a real one.
    if (tokens_ != nullptr && !HasCredential(tokens_, *login_sessions_, head)) {
      a.reject = Unauthorized("missing 'Authorization: Bearer <token>' (or a login session cookie)");
      return a;
    }
    Reply r = JsonError(match.http_status, match.error);
    if (!match.allow.empty()) r.headers.emplace_back(wire::kAllowHeader, match.allow);
    a.reject = std::move(r);
    return a;
  }
  a.route = std::move(match.route);
  a.matched = true;
  a.content_length = head.content_length;
  if (auto denied = Authorize(tokens_, *login_sessions_, tls_, head, a)) {
    a.reject = std::move(denied);
    return a;
  }
  if (a.route.endpoint == wire::Endpoint::kListLogs) {
    auto follow = ParseLogFollow(a.route, head.headers);
    if (!follow.ok()) {
      a.reject = JsonError(wire::kHttpBadRequest, follow.status().message());
      return a;
    }
    a.follow = std::move(*follow);
  }
  if (auto limit = ActionBodyLimit(a.route.endpoint)) {  // small JSON, never compressed
    a.body_limit = *limit;
    if (auto enc = head.headers.Get(wire::kContentEncodingHeader);
        enc && !Trim(*enc).empty() && Lower(Trim(*enc)) != "identity") {
      a.reject = JsonError(wire::kHttpUnsupportedMediaType,
                           "Content-Encoding '" + std::string(*enc) + "' is not accepted here");
    } else if (head.content_length && *head.content_length > a.body_limit) {
      a.reject = JsonError(wire::kHttpPayloadTooLarge,
                           "body of " + std::to_string(*head.content_length) +
                               " bytes exceeds the limit of " + std::to_string(a.body_limit) +
                               " bytes");
    }
    return a;
  }
  if (!wire::IsDeviceWrite(a.route.endpoint)) {  // reads take no body
    // Refused here, before the transport reads it: Beast's string body
    // reserves the declared length first (2^60 bytes threw bad_alloc).
    if (head.content_length && *head.content_length > 0) {
      a.reject = JsonError(wire::kHttpPayloadTooLarge,
                           std::string(wire::EndpointName(a.route.endpoint)) +
                               " takes no body; got Content-Length " +
                               std::to_string(*head.content_length));
    }
    return a;
  }

  const HeaderMap& h = head.headers;
  if (auto enc = h.Get(wire::kContentEncodingHeader)) {
    std::string e = Lower(Trim(*enc));
    if (e == wire::kGzipEncoding || e == "x-gzip") {
      a.encoding = BodyEncoding::kGzip;
    } else if (e == wire::kZstdEncoding) {
      a.encoding = BodyEncoding::kZstd;
    } else if (!e.empty() && e != "identity") {
      a.reject = JsonError(wire::kHttpUnsupportedMediaType,
                           "Content-Encoding '" + std::string(*enc) +
                               "' is not supported (use zstd or gzip)");
      return a;
    }
  }
  // A compressed body may be slightly larger than what it inflates to (stored
  // blocks). Heartbeats are small: 64 KiB after decompression (fleet_api.h).
  const std::uint64_t limit =
      a.route.endpoint == wire::Endpoint::kPostStatus ? std::min<std::uint64_t>(max_body_, 64 * 1024)
                                                      : max_body_;
  a.body_limit = a.encoding != BodyEncoding::kIdentity ? limit + limit / 256 + 1024 : limit;
  if (head.content_length && *head.content_length > a.body_limit) {
    a.reject = JsonError(wire::kHttpPayloadTooLarge,
                         "body of " + std::to_string(*head.content_length) +
                             " bytes exceeds the limit of " + std::to_string(limit) + " bytes");
    return a;
  }
  Status st = ReadNumbers(h, {{wire::kEvictedChunksHeader, &a.report.evicted_chunks},
                              {wire::kEvictedBytesHeader, &a.report.evicted_bytes}});
  if (a.route.endpoint == wire::Endpoint::kPutChunk) {
    ChunkRecord& c = a.chunk;
    if (st.ok()) {
      st = ReadNumbers(h, {{wire::kPacketsHeader, &c.packets},
                           {wire::kFirstTsHeader, &c.first_ts_us},
                           {wire::kLastTsHeader, &c.last_ts_us},
                           {wire::kKernelDropsHeader, &c.kernel_drops},
                           {wire::kInterfaceDropsHeader, &c.interface_drops},
                           {wire::kLostPacketsHeader, &c.lost_packets},
                           {wire::kGapBeforeHeader, &c.gap_before_ms},
                           {wire::kTsBackwardsHeader, &c.ts_backwards},
                           {wire::kSwitchedAtHeader, &c.switched_at_us}});
    }
    if (auto iface = h.Get(wire::kInterfaceHeader); iface && st.ok()) {
      const std::string_view name = Trim(*iface);
      if (name.size() > kMaxInterfaceBytes) {
        st = Status::InvalidArgument(std::string(wire::kInterfaceHeader) + " of " +
                                     std::to_string(name.size()) + " bytes is longer than " +
                                     std::to_string(kMaxInterfaceBytes));
      } else {
        c.interface = PrintableHeaderText(name);  // the same on SQLite and MariaDB (header_text.h)
      }
    }
    if (st.ok()) {
      auto digest = Sha256FromDigestHeader(h.Get(wire::kDigestHeader).value_or(""));
      if (digest.ok())
        a.expected_digest = std::move(*digest);
      else
        st = digest.status();
    }
  } else if (a.route.endpoint != wire::Endpoint::kPostStatus) {  // heartbeats replace, never add
    auto key = h.Get(wire::kIdempotencyKeyHeader);
    std::string_view k = key ? Trim(*key) : std::string_view();
    if (k.size() >= 2 && k.front() == '"' && k.back() == '"') k = k.substr(1, k.size() - 2);
    if (st.ok() && k.empty()) st = Status::InvalidArgument("missing Idempotency-Key header");
    if (st.ok() && k.size() > 256)
      st = Status::InvalidArgument("Idempotency-Key longer than 256 bytes");
    a.idempotency_key = std::string(k);
  }
  if (!st.ok()) a.reject = JsonError(wire::kHttpBadRequest, st.message());
  return a;
}

Result<std::string> ApiHandler::DecodeBody(const Admission& a, std::string body) const {
  return DecodeBodyCapped(a.encoding, std::move(body), max_body_);
}

Reply ApiHandler::Handle(Admission a, std::string body) {
  if (a.reject) return std::move(*a.reject);
  if (a.follow)
    return JsonError(wire::kHttpInternalError, "follow=1 needs the streaming transport");
  switch (a.route.endpoint) {
    case wire::Endpoint::kPutChunk:
      return PutChunk(a, body);
    case wire::Endpoint::kPostResults:
      return PostLines(LineKind::kResults, a, std::move(body));
    case wire::Endpoint::kPostLogs:
      return PostLines(LineKind::kLogs, a, std::move(body));
    case wire::Endpoint::kGetChunk:
      return GetChunk(a.route);
    case wire::Endpoint::kListChunks:
    case wire::Endpoint::kListDevices:
    case wire::Endpoint::kListResults:
    case wire::Endpoint::kListLogs:
      return List(a.route);
    case wire::Endpoint::kListSessions:
      return ListSessions(a.route);
    case wire::Endpoint::kGetSession:
      return GetSession(a.route);
    case wire::Endpoint::kGetSessionPcap:
      return GetSessionPcap(a.route);
    // Heartbeats, fleet state, scans, probes and metrics: fleet_api.cc.
    case wire::Endpoint::kPostStatus:
    case wire::Endpoint::kGetFleet:
    case wire::Endpoint::kGetDeviceStatus:
    case wire::Endpoint::kGetDeviceSeries:
    case wire::Endpoint::kListIssues:
    case wire::Endpoint::kListScans:
    case wire::Endpoint::kMetrics:
    case wire::Endpoint::kHealthz:
    case wire::Endpoint::kReadyz:
      return HandleFleet(a, std::move(body));
    // The page, login sessions and operator actions: web_api.cc.
    case wire::Endpoint::kSubmitScan:
    case wire::Endpoint::kCancelScan:
    case wire::Endpoint::kPutDeviceConfig:
    case wire::Endpoint::kLogin:
    case wire::Endpoint::kLogout:
    case wire::Endpoint::kWhoami:
    case wire::Endpoint::kPageAsset:
      return HandleWeb(a, std::move(body));
  }
  return JsonError(wire::kHttpInternalError, "unhandled endpoint");
}

std::optional<Reply> ApiHandler::ChargeQuota(const std::string& device, std::uint64_t bytes,
                                             std::uint64_t rows) {
  if (quota_ == nullptr) return std::nullopt;
  auto refused = quota_->Charge(device, bytes, rows);
  if (!refused) return std::nullopt;
  metrics_.AddQuotaRefusal(refused->quota);
  Reply r = JsonError(wire::kHttpTooManyRequests, refused->message);
  r.headers.emplace_back(wire::kRetryAfterHeader, std::to_string(refused->retry_after_s));
  return r;
}

// A disk quota frees up only when the operator deletes chunks or raises it:
// the device is told to come back in minutes, not seconds.
constexpr std::int64_t kDiskQuotaRetryAfterS = 600;

Reply ApiHandler::DiskQuotaRefusal(const std::string& device, std::uint64_t stored,
                                   std::uint64_t bytes) {
  metrics_.AddQuotaRefusal("disk");
  Reply r = JsonError(wire::kHttpTooManyRequests,
                      "device '" + device + "' stores " + std::to_string(stored) +
                          " bytes of chunks; this chunk of " + std::to_string(bytes) +
                          " bytes would pass its disk quota of " + std::to_string(disk_quota_) +
                          " bytes (--device-disk-quota); retry later");
  r.headers.emplace_back(wire::kRetryAfterHeader, std::to_string(kDiskQuotaRetryAfterS));
  return r;
}

std::unique_ptr<ChunkIntake> ApiHandler::OpenChunkIntake(Admission& a) {
  const std::string& device = a.route.device;
  // Retries of stored chunks are common: hashed to answer them, never written.
  auto known = db_->ChunkHash(device, a.route.seq);
  if (!known.ok()) {
    a.reject = StorageError(known.status(), "look up chunk");
    return nullptr;
  }
  if (*known) return std::make_unique<ChunkIntake>(a.encoding, max_body_, std::nullopt);
  // Checked before the body, so a device at its quota costs no disk writes;
  // FinishChunk checks the exact size again in its transaction.
  if (disk_quota_ > 0) {
    auto stored = db_->DeviceChunkBytes(device);
    if (!stored.ok()) {
      a.reject = StorageError(stored.status(), "look up the device's disk use");
      return nullptr;
    }
    const std::uint64_t at_least =
        a.encoding == BodyEncoding::kIdentity ? a.content_length.value_or(0) : 0;
    if (*stored >= disk_quota_ || *stored + at_least > disk_quota_) {
      a.reject = DiskQuotaRefusal(device, *stored, at_least);
      return nullptr;
    }
  }
  auto file = store_->Create(device, a.route.seq);
  if (!file.ok()) {
    a.reject = StorageError(file.status(), "write chunk file");
    return nullptr;
  }
  return std::make_unique<ChunkIntake>(a.encoding, max_body_, std::move(*file));
}

Reply ApiHandler::PutChunk(Admission& a, std::string_view body) {
  auto intake = OpenChunkIntake(a);
  if (!intake) return std::move(*a.reject);
  (void)intake->Write(body);  // an error is kept and answered by FinishChunk
  return FinishChunk(a, *intake);
}

// What a chunk's commit reads until it is answered: the request points into it.
struct ApiHandler::ChunkCommit {
  ChunkRecord record;
  DeviceReport report;
  ChunkIntake::Staged staged;
  CollectorDb::ChunkPutRequest request;
};

Reply ApiHandler::FinishChunk(Admission& a, ChunkIntake& intake) {
  auto staged = StageChunk(a, intake);
  if (auto* reply = std::get_if<Reply>(&staged)) return std::move(*reply);
  const ChunkCommit& commit = *std::get<std::unique_ptr<ChunkCommit>>(staged);
  return AnswerChunk(commit, db_->PutChunk(commit.request));
}

void ApiHandler::FinishChunkAsync(Admission& a, ChunkIntake& intake,
                                  std::function<void(Reply)> answer) {
  auto staged = StageChunk(a, intake);
  if (auto* reply = std::get_if<Reply>(&staged)) return answer(std::move(*reply));
  std::shared_ptr<ChunkCommit> commit = std::move(std::get<std::unique_ptr<ChunkCommit>>(staged));
  const CollectorDb::ChunkPutRequest& request = commit->request;
  db_->PutChunkAsync(request, [this, commit = std::move(commit),
                               answer = std::move(answer)](Result<ChunkPut> put) {
    answer(AnswerChunk(*commit, put));
  });
}

std::variant<Reply, std::unique_ptr<ApiHandler::ChunkCommit>> ApiHandler::StageChunk(
    Admission& a, ChunkIntake& intake) {
  auto staged = intake.Finish();
  if (!staged.ok()) {
    // A full disk is ResourceExhausted too: 503 + Retry-After, never 413 (a
    // device drops a chunk answered 413).
    if (intake.storage_failed()) return StorageError(staged.status(), "write chunk file");
    const StatusCode code = staged.status().code();
    if (code == StatusCode::kResourceExhausted)
      return JsonError(wire::kHttpPayloadTooLarge, staged.status().message());
    if (code == StatusCode::kInvalidArgument)
      return JsonError(wire::kHttpBadRequest, staged.status().message());
    return StorageError(staged.status(), "write chunk file");
  }
  if (auto over = ChargeQuota(a.route.device, staged->bytes, 0)) return std::move(*over);

  const std::string actual = Base64Encode(staged->sha256.data(), staged->sha256.size());
  if (actual != a.expected_digest) {
    return JsonError(wire::kHttpBadRequest,
                     "Digest mismatch: header says sha-256=" + a.expected_digest +
                         ", body hashes to sha-256=" + actual);
  }

  auto commit = std::make_unique<ChunkCommit>();
  commit->report = a.report;
  ChunkRecord& c = commit->record;
  c = a.chunk;
  c.device = a.route.device;
  c.seq = a.route.seq;
  c.sha256_hex = HexEncode(staged->sha256.data(), staged->sha256.size());
  c.bytes = staged->bytes;
  if (!c.packets && staged->packets) c.packets = static_cast<std::int64_t>(*staged->packets);
  c.received_at_ms = clock_->WallMillis();
  c.path = store_->PathFor(c.device, c.seq);

  if (!staged->file) {  // stored before this body came: a retry, hashed only
    auto known = db_->ChunkHash(c.device, c.seq);
    if (!known.ok()) return StorageError(known.status(), "look up chunk");
    if (!*known) {  // removed (retention) while the retry arrived: the next one stores it
      Reply r = JsonError(wire::kHttpUnavailable, "chunk " + std::to_string(c.seq) +
                                                      " was removed while this retry arrived; "
                                                      "send it again");
      r.headers.emplace_back(wire::kRetryAfterHeader, "1");
      return r;
    }
    if (Status st = db_->TouchDevice(c.device, c.received_at_ms, a.report); !st.ok()) {
      return StorageError(st, "update device");
    }
    return AnswerChunk(*commit, ChunkPut{**known == c.sha256_hex ? ChunkOutcome::kAlreadyStored
                                                                 : ChunkOutcome::kConflict,
                                         **known});
  }

  // Group commit: the rename happens in the commit; one syncfs and one row commit for
  // every chunk that is waiting (CollectorDb::PutChunk).
  commit->staged = std::move(*staged);
  ChunkCommit* raw = commit.get();
  CollectorDb::ChunkPutRequest& request = commit->request;
  request.record = &raw->record;
  request.report = &raw->report;
  request.publish_file = [raw] { return raw->staged.file->Publish(/*sync_directory=*/false); };
  request.file_sync = store_;
  request.disk_quota = disk_quota_;
  return commit;
}

Reply ApiHandler::AnswerChunk(const ChunkCommit& commit, const Result<ChunkPut>& put) {
  if (!put.ok()) return StorageError(put.status(), "store chunk");
  const ChunkRecord& c = commit.record;
  if (put->outcome == ChunkOutcome::kStored) {
    metrics_.AddIngest("chunk", c.bytes, 1);
    if (on_chunk_stored_) on_chunk_stored_(c.device, c.bytes);
  }
  switch (put->outcome) {
    case ChunkOutcome::kStored:
    case ChunkOutcome::kAlreadyStored:
      return JsonReply(put->outcome == ChunkOutcome::kStored ? wire::kHttpCreated : wire::kHttpOk,
                       json{{"device", c.device},
                            {"seq", c.seq},
                            {"sha256", c.sha256_hex},
                            {"bytes", c.bytes},
                            {"stored", put->outcome == ChunkOutcome::kStored}});
    case ChunkOutcome::kConflict:
      return JsonError(wire::kHttpConflict, "chunk " + std::to_string(c.seq) + " of device " +
                                                c.device + " is already stored with sha256 " +
                                                put->stored_sha256 + "; this body has sha256 " +
                                                c.sha256_hex);
    case ChunkOutcome::kOverDiskQuota:
      return DiskQuotaRefusal(c.device, put->device_bytes, c.bytes);
  }
  return JsonError(wire::kHttpInternalError, "unhandled chunk outcome");
}

Reply ApiHandler::PostLines(LineKind kind, Admission& a, std::string body) {
  auto decoded = DecodeBody(a, std::move(body));
  if (!decoded.ok()) {
    return JsonError(decoded.status().code() == StatusCode::kResourceExhausted
                         ? wire::kHttpPayloadTooLarge
                         : wire::kHttpBadRequest,
                     decoded.status().message());
  }
  auto lines = ParseNdjson(*decoded, kind);
  if (!lines.ok()) {
    return JsonError(lines.status().code() == StatusCode::kResourceExhausted
                         ? wire::kHttpPayloadTooLarge
                         : wire::kHttpBadRequest,
                     lines.status().message());
  }
  if (auto over = ChargeQuota(a.route.device, decoded->size(), lines->size())) {
    return std::move(*over);
  }
  auto outcome = db_->IngestLines(kind, a.route.device, a.idempotency_key, *lines,
                                  clock_->WallMillis(), a.report, Sha256Hex(*decoded));
  if (!outcome.ok() && outcome.status().code() == StatusCode::kConflict) {
    return JsonError(wire::kHttpUnprocessable, outcome.status().message());
  }
  if (!outcome.ok())
    return StorageError(outcome.status(), std::string("store ") + std::string(LineKindName(kind)));
  if (kind == LineKind::kLogs && outcome->accepted > 0) log_feed_.Publish(a.route.device);
  metrics_.AddIngest(kind == LineKind::kLogs ? "logs" : "results", decoded->size(),
                     outcome->accepted);
  return JsonReply(wire::kHttpOk,
                   json{{"accepted", outcome->accepted}, {"duplicate", outcome->duplicate}});
}

Reply ApiHandler::GetChunk(const wire::Route& route) {
  auto path = db_->ChunkPath(route.device, route.seq);
  if (!path.ok()) return StorageError(path.status(), "look up chunk");
  if (!*path) {
    return JsonError(wire::kHttpNotFound,
                     "no chunk " + std::to_string(route.seq) + " for device " + route.device);
  }
  // Opened now, so a missing file is an error before the head goes out; then
  // sent in pieces as the client takes them, never whole in memory. The open
  // descriptor keeps the bytes readable if retention removes the file meanwhile.
  auto fd = std::make_shared<UniqueFd>(::open((**path).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd->valid()) return StorageError(FromErrno("open " + **path, errno), "read chunk file");
  Reply r;
  r.content_type = std::string(wire::kPcapContentType);
  r.stream = [fd, file = **path]() -> Result<std::string> {
    constexpr std::size_t kPiece = 256 * 1024;
    std::string piece(kPiece, '\0');
    for (;;) {
      const ssize_t n = ::read(fd->get(), piece.data(), piece.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return FromErrno("read " + file, errno);
      piece.resize(static_cast<std::size_t>(n));  // "" at the end
      return piece;
    }
  };
  return r;
}

// Results and logs (rows of up to 64 KiB each) go out as one JSON array a page
// at a time, so an answer of 10,000 rows never sits in memory whole. The first
// page is read before answering, so a storage failure is still a 503.
Reply ApiHandler::StreamRows(LineKind kind, ListQuery q) {
  static constexpr std::uint64_t kStreamPage = 200;
  struct State {
    ListQuery query;
    std::uint64_t remaining;
    bool started = false, done = false;
  };
  auto state = std::make_shared<State>(
      State{q, std::clamp<std::uint64_t>(q.limit, 1, kMaxListLimit)});
  auto next = [this, kind, state]() -> Result<std::string> {
    if (state->done) return std::string();
    ListQuery page = state->query;
    page.limit = std::min(kStreamPage, state->remaining);
    auto rows = kind == LineKind::kLogs ? db_->ListLogs(page) : db_->ListResults(page);
    if (!rows.ok()) return rows.status();
    std::string out = state->started ? "" : "[";
    for (const json& row : *rows) {
      if (state->started || out.size() > 1) out += ',';
      out += row.dump(-1, ' ', false, json::error_handler_t::replace);
      state->query.since = row.value("id", std::uint64_t{0});
      --state->remaining;
    }
    state->started = true;
    if (rows->size() < page.limit || state->remaining == 0) {
      out += ']';
      state->done = true;
    }
    return out;
  };
  auto first = next();
  if (!first.ok()) return StorageError(first.status(), "query");
  Reply r;
  r.content_type = std::string(wire::kJsonContentType);
  r.stream = [first = std::move(*first), next]() mutable -> Result<std::string> {
    if (!first.empty()) return std::exchange(first, std::string());
    return next();
  };
  return r;
}

Reply ApiHandler::List(const wire::Route& route) {
  ListQuery q;
  q.device = wire::QueryText(route, wire::kDeviceParam);
  q.job = wire::QueryText(route, wire::kJobParam);
  auto since = wire::QueryNumber(route, wire::kSinceParam);
  if (!since.ok()) return JsonError(wire::kHttpBadRequest, since.status().message());
  q.since = *since;
  auto limit = wire::QueryNumber(route, wire::kLimitParam);
  if (!limit.ok()) return JsonError(wire::kHttpBadRequest, limit.status().message());
  if (*limit) q.limit = **limit;
  if (route.endpoint == wire::Endpoint::kListLogs) {
    auto since_ms = wire::QueryNumber(route, wire::kSinceMsParam);
    if (!since_ms.ok()) return JsonError(wire::kHttpBadRequest, since_ms.status().message());
    if (*since_ms) {
      q.since_ms = static_cast<std::int64_t>(std::min<std::uint64_t>(**since_ms, INT64_MAX));
    }
    // tail=N without since/since_ms: the newest N lines, oldest of them first.
    auto tail = ParseTail(route);
    if (!tail.ok()) return JsonError(wire::kHttpBadRequest, tail.status().message());
    if (*tail && !q.since && !q.since_ms) {
      auto cursor = db_->LogCursorTail(q.device, **tail);
      if (!cursor.ok()) return StorageError(cursor.status(), "reading logs");
      q.since = *cursor;
      q.limit = std::min(q.limit, **tail);
    }
  }

  if (route.endpoint == wire::Endpoint::kListResults ||
      route.endpoint == wire::Endpoint::kListLogs) {
    return StreamRows(route.endpoint == wire::Endpoint::kListLogs ? LineKind::kLogs
                                                                  : LineKind::kResults,
                      q);
  }

  Result<json> rows = Status::Internal("unreachable");
  switch (route.endpoint) {
    case wire::Endpoint::kListDevices:
      rows = db_->ListDevices();
      break;
    case wire::Endpoint::kListChunks:
      rows = db_->ListChunks(route.device, q);
      break;
    case wire::Endpoint::kListResults:
      rows = db_->ListResults(q);
      break;
    case wire::Endpoint::kListLogs:
      rows = db_->ListLogs(q);
      break;
    default:
      return JsonError(wire::kHttpInternalError, "not a list endpoint");
  }
  if (!rows.ok()) return StorageError(rows.status(), "query");
  if (route.endpoint == wire::Endpoint::kListDevices && sessions_ != nullptr) {
    auto counters = sessions_->AllCounters();
    if (!counters.ok()) return StorageError(counters.status(), "read analysis counters");
    for (json& row : *rows) {
      const std::string id = row.value("id", std::string());
      for (const AnalysisState& c : *counters) {
        if (c.device != id) continue;
        row["analysis"] = {{"next_seq", c.next_seq},
                           {"chunks_analysed", c.chunks_analysed},
                           {"damaged_chunks", c.damaged_chunks},
                           {"skipped_seqs", c.skipped_seqs},
                           {"sessions", c.sessions}};
      }
    }
  }
  return JsonReply(wire::kHttpOk, *rows);
}

}  // namespace picket::collector
