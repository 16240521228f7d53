// The collector's HTTP API (DESIGN.md §5), written once. The uploader and the
// operator CLI build their request targets with the builders below; the
// collector routes with MatchRoute; all three spell headers, content types,
// query parameters and status codes with these names. The operator reference
// is config/API.md; change both together.
//
//   PUT  /v1/devices/{id}/chunks/{seq}   device  classic pcap (Content-Encoding: gzip allowed)
//        Digest: sha-256=<base64 of SHA-256 of the uncompressed pcap>, X-Picket-* metadata
//        201 stored · 200 same seq and hash already stored · 409 same seq, other hash
//   POST /v1/devices/{id}/results        device  NDJSON scan results, Idempotency-Key header
//   POST /v1/devices/{id}/logs           device  NDJSON log lines, Idempotency-Key header
//        200 {"accepted":N,"duplicate":false} · 200 {"accepted":0,"duplicate":true} on replay
//   GET  /v1/devices                     operator  devices seen, last upload, counters
//   GET  /v1/devices/{id}/chunks         operator  [{seq, sha256, bytes, packets, ...}]
//   GET  /v1/devices/{id}/chunks/{seq}   operator  the pcap bytes
//   GET  /v1/results                     operator  stored scan results
//   GET  /v1/logs                        operator  stored log lines; follow=1: server-sent events
//   GET  /v1/sessions                    operator  analysed sessions, NDJSON, streamed, filtered
//   GET  /v1/sessions/{id}               operator  one session with its packet refs
//   GET  /v1/sessions/{id}/pcap          operator  the session's packets as a classic pcap
//   POST /v1/devices/{id}/status         device  heartbeat: the status document (JSON)
//   GET  /v1/fleet                       read    every device with its derived liveness
//   GET  /v1/devices/{id}/status         read    one device: heartbeat, ZooKeeper view, config
//   GET  /v1/devices/{id}/series         read    ?window=1h|24h|7d: rolled-up counters
//   GET  /v1/issues                      read    what an operator should act on
//   GET  /v1/scans                       read    shared scan jobs with shard progress (--zk)
//   POST /v1/scans                       admin   submit a job (--db)
//   POST /v1/scans/{job}/cancel          admin   cancel a job (--db)
//   PUT  /v1/devices/{id}/config         admin   replace a device's config row (--db)
//   POST /v1/login                       public  token -> session cookie (+ CSRF token)
//   POST /v1/logout                      read    ends the cookie session
//   GET  /v1/whoami                      read    role and CSRF token of this session
//   GET  /metrics                        read    Prometheus text format
//   GET  /healthz, /readyz               public  liveness, readiness
//   GET  /, /ui/{asset}                  public  the web page (it holds no data)
// Every request carries "Authorization: Bearer <token>" (unless the collector
// runs with --insecure-no-auth); a device token only writes its own device id;
// the operator token reads everything and writes nothing.
//
// Pure functions and constants: no I/O, any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::wire {

// ---- Routes -------------------------------------------------------------------

enum class Endpoint {
  kPutChunk,     // PUT  /v1/devices/{id}/chunks/{seq}
  kGetChunk,     // GET  /v1/devices/{id}/chunks/{seq}
  kListChunks,   // GET  /v1/devices/{id}/chunks?since=&limit=
  kPostResults,  // POST /v1/devices/{id}/results
  kPostLogs,     // POST /v1/devices/{id}/logs
  kListDevices,  // GET  /v1/devices
  kListResults,  // GET  /v1/results?device=&job=&since=&limit=
  kListLogs,     // GET  /v1/logs?device=&since=&since_ms=&limit=&follow=
  kListSessions,    // GET  /v1/sessions?device=&since=&until=&ip=&port=&proto=&app=&risk=&state=&after=&limit=
  kGetSession,      // GET  /v1/sessions/{id}
  kGetSessionPcap,  // GET  /v1/sessions/{id}/pcap
  kPostStatus,       // POST /v1/devices/{id}/status
  kGetFleet,         // GET  /v1/fleet
  kGetDeviceStatus,  // GET  /v1/devices/{id}/status
  kGetDeviceSeries,  // GET  /v1/devices/{id}/series?window=
  kListIssues,       // GET  /v1/issues
  kListScans,        // GET  /v1/scans
  kSubmitScan,       // POST /v1/scans
  kCancelScan,       // POST /v1/scans/{job}/cancel
  kPutDeviceConfig,  // PUT  /v1/devices/{id}/config
  kLogin,            // POST /v1/login
  kLogout,           // POST /v1/logout
  kWhoami,           // GET  /v1/whoami
  kMetrics,          // GET  /metrics
  kHealthz,          // GET  /healthz
  kReadyz,           // GET  /readyz
  kPageAsset,        // GET  / and /ui/{asset}: Route::asset is "" for "/" (index.html)
};

// Who may call an endpoint. kRead: an operator token of either role (or its
// cookie session); kAdmin: the admin role only; kDevice: that device's token.
enum class Access { kPublic, kDevice, kRead, kAdmin };
Access EndpointAccess(Endpoint endpoint);

// Device writes need that device's own token and carry a body; everything
// else is an operator read without one.
bool IsDeviceWrite(Endpoint endpoint);
std::string_view EndpointName(Endpoint endpoint);    // "put_chunk", ... for logs and metrics
std::string_view EndpointMethod(Endpoint endpoint);  // "PUT", "GET" or "POST"

// [A-Za-z0-9._-]{1,64} except "." and "..": device ids are path segments in
// URLs and directory names on the collector's disk.
inline constexpr std::size_t kMaxDeviceIdLength = 64;
bool IsValidDeviceId(std::string_view id);

// Session ids are SQLite row ids: 1 … 2^63-1; errors name the text.
Result<std::uint64_t> ParseSessionId(std::string_view text);

// Chunk files are named with 12 digits, so seq is 0 … 999999999999.
inline constexpr std::uint64_t kMaxChunkSeq = 999'999'999'999ull;
// Decimal without sign or spaces, at most kMaxChunkSeq; errors name the text.
Result<std::uint64_t> ParseChunkSeq(std::string_view text);

// ---- Query parameters ---------------------------------------------------------
// Numbers are non-negative decimals. A parameter given twice is a 400.

inline constexpr std::string_view kDeviceParam = "device";     // results, logs: one device only
inline constexpr std::string_view kJobParam = "job";           // results: one scan job only
inline constexpr std::string_view kSinceParam = "since";       // rows (chunks: seqs) after this id
inline constexpr std::string_view kSinceMsParam = "since_ms";  // logs: received at or after, ms
inline constexpr std::string_view kLimitParam = "limit";    // rows per answer: 1000, at most 10000
inline constexpr std::string_view kFollowParam = "follow";  // logs: "1"/"true" streams
// logs: start with the newest N lines (1 … kMaxLogTail) instead of the oldest;
// with follow, the stream begins with them (like `tail -n N -f`).
inline constexpr std::string_view kTailParam = "tail";
inline constexpr std::uint64_t kMaxLogTail = 10000;
// Sessions (config/API.md): since/until are an RFC 3339 time or a duration back
// from now ("1h"); the session overlaps [since, until). after = the last id seen.
inline constexpr std::string_view kUntilParam = "until";
inline constexpr std::string_view kAfterParam = "after";
inline constexpr std::string_view kIpParam = "ip";        // either end
inline constexpr std::string_view kPortParam = "port";    // either end
inline constexpr std::string_view kProtoParam = "proto";  // number or tcp/udp/icmp/icmp6/sctp
inline constexpr std::string_view kAppParam = "app";
inline constexpr std::string_view kRiskParam = "risk";
inline constexpr std::string_view kStateParam = "state";
inline constexpr std::uint64_t kDefaultSessionLimit = 1000;
inline constexpr std::uint64_t kMaxSessionLimit = 100000;

// ---- Request targets, for clients ----------------------------------------------
// Paths relative to the collector's base URL ("https://host:port[/base]").
// Device ids and query values are percent-encoded except for the RFC 3986
// unreserved characters, so a valid id appears as it is and an invalid one
// can never change which route the collector picks.

struct ChunksQuery {
  std::optional<std::uint64_t> since;
  std::optional<std::uint64_t> limit;
};

struct ResultsQuery {
  std::optional<std::string> device;
  std::optional<std::string> job;
  std::optional<std::uint64_t> since;
  std::optional<std::uint64_t> limit;
};

struct LogsQuery {
  std::optional<std::string> device;
  bool follow = false;
  std::optional<std::uint64_t> since;
  std::optional<std::uint64_t> limit;
  std::optional<std::int64_t> since_ms;
  std::optional<std::uint64_t> tail;
};

struct SessionsQuery {
  std::optional<std::string> device, since, until, ip, port, proto, app, risk, state;
  std::optional<std::uint64_t> after;
  std::optional<std::uint64_t> limit;
};

std::string DevicesPath();
std::string ChunksPath(std::string_view device, const ChunksQuery& query = {});
std::string ChunkPath(std::string_view device, std::uint64_t seq);
std::string DeviceResultsPath(std::string_view device);  // POST
std::string DeviceLogsPath(std::string_view device);     // POST
std::string ResultsPath(const ResultsQuery& query = {});
std::string LogsPath(const LogsQuery& query = {});
std::string SessionsPath(const SessionsQuery& query = {});
std::string SessionPath(std::uint64_t id);
std::string SessionPcapPath(std::uint64_t id);
std::string DeviceStatusPath(std::string_view device);  // POST (device) and GET (operator)
std::string DeviceSeriesPath(std::string_view device, std::string_view window);
std::string DeviceConfigPath(std::string_view device);
std::string FleetPath();
std::string IssuesPath();
std::string ScansPath();
std::string CancelScanPath(std::string_view job);
std::string LoginPath();
std::string LogoutPath();
std::string WhoamiPath();
inline constexpr std::string_view kMetricsPath = "/metrics";
inline constexpr std::string_view kHealthzPath = "/healthz";
inline constexpr std::string_view kReadyzPath = "/readyz";
inline constexpr std::string_view kWindowParam = "window";  // series: 1h, 24h, 7d

// ---- Routing, for the collector ----------------------------------------------

struct Route {
  Endpoint endpoint = Endpoint::kListDevices;
  std::string device;  // path {id}, validated; empty for collection-wide endpoints
  std::uint64_t seq = 0;
  std::uint64_t session_id = 0;  // path {id} of the session routes
  std::string job;               // path {job} of /v1/scans/{job}/cancel, validated
  std::string asset;             // kPageAsset: file name under /ui/ ([A-Za-z0-9._-], no "..")
  std::map<std::string, std::string, std::less<>> query;  // percent-decoded, '+' is a space
};

struct RouteMatch {
  int http_status = 0;  // 0 when matched, else 400, 404 or 405
  std::string error;    // what was wrong, for the JSON error body
  std::string allow;    // the Allow header for 405
  Route route;
  bool matched() const { return http_status == 0; }
};

// Path segments are compared as they are, never percent-decoded: "a%2Fb" is
// a bad id (400), not a device "a/b". Order: a path outside "/v1/..." is 404;
// a malformed query (bad %-escape, a name twice) 400; an unknown path 404; a
// wrong method 405 (with allow); a bad id or seq 400.
RouteMatch MatchRoute(std::string_view method, std::string_view target);

// A non-negative decimal query parameter; nullopt when absent. Errors name it.
Result<std::optional<std::uint64_t>> QueryNumber(const Route& route, std::string_view name);
std::optional<std::string> QueryText(const Route& route, std::string_view name);

// ---- Headers ------------------------------------------------------------------

inline constexpr std::string_view kAuthorizationHeader = "Authorization";       // "Bearer <token>"
inline constexpr std::string_view kWwwAuthenticateHeader = "WWW-Authenticate";  // with 401
inline constexpr std::string_view kBearerScheme = "Bearer";
inline constexpr std::string_view kAllowHeader = "Allow";  // with 405
inline constexpr std::string_view kContentTypeHeader = "Content-Type";
inline constexpr std::string_view kContentEncodingHeader = "Content-Encoding";  // gzip or none
inline constexpr std::string_view kGzipEncoding = "gzip";  // "x-gzip" and "identity" accepted too
inline constexpr std::string_view kZstdEncoding = "zstd";  // picketd's default (config upload.encoding)
inline constexpr std::string_view kAcceptHeader = "Accept";
inline constexpr std::string_view kLastEventIdHeader = "Last-Event-ID";  // logs follow: a row id
inline constexpr std::string_view kDigestHeader = "Digest";            // "sha-256=<base64>"
inline constexpr std::string_view kIdempotencyKeyHeader = "Idempotency-Key";  // 1..256 bytes
inline constexpr std::string_view kRetryAfterHeader = "Retry-After";   // seconds

// Chunk metadata, decimal integers.
inline constexpr std::string_view kPacketsHeader = "X-Picket-Packets";
inline constexpr std::string_view kFirstTsHeader = "X-Picket-First-Ts-Us";   // first packet, µs since epoch
inline constexpr std::string_view kLastTsHeader = "X-Picket-Last-Ts-Us";
inline constexpr std::string_view kKernelDropsHeader = "X-Picket-Kernel-Drops";     // during this chunk
inline constexpr std::string_view kInterfaceDropsHeader = "X-Picket-Interface-Drops";
// Received by the worker but in no chunk (disk slower than capture, write errors).
inline constexpr std::string_view kLostPacketsHeader = "X-Picket-Lost-Packets";
inline constexpr std::string_view kGapBeforeHeader = "X-Picket-Gap-Before-Ms";  // capture down before it
// The chunk's capture took over from a running one on a config change, with no
// gap: every packet stamped up to this (µs since the epoch) is in the chunks
// before it, every later one in this chunk or after. Absent: no switch.
inline constexpr std::string_view kSwitchedAtHeader = "X-Picket-Switched-At-Us";
// Packets stamped earlier than the packet before them (the clock stepped back); 0: in order.
inline constexpr std::string_view kTsBackwardsHeader = "X-Picket-Ts-Backwards";
inline constexpr std::string_view kInterfaceHeader = "X-Picket-Interface";       // text
// Device counters, sent on every upload so the collector always has the latest.
inline constexpr std::string_view kEvictedChunksHeader = "X-Picket-Evicted-Chunks";
inline constexpr std::string_view kEvictedBytesHeader = "X-Picket-Evicted-Bytes";

// "Name: value", the form libcurl's header list takes.
std::string HeaderLine(std::string_view name, std::string_view value);
// "Authorization: Bearer <token>".
std::string BearerHeaderLine(std::string_view token);
// The token of an Authorization value "Bearer <token>" (scheme case-insensitive,
// spaces trimmed); nullopt for another scheme or none.
std::optional<std::string_view> ParseBearerToken(std::string_view authorization);

// ---- Content types -----------------------------------------------------------

inline constexpr std::string_view kJsonContentType = "application/json";  // answers, errors
inline constexpr std::string_view kNdjsonContentType = "application/x-ndjson";
inline constexpr std::string_view kPcapContentType = "application/vnd.tcpdump.pcap";
inline constexpr std::string_view kEventStreamContentType = "text/event-stream";  // logs follow

// ---- Status codes ------------------------------------------------------------
// Every error answer is {"error": "<message>"} as application/json.

inline constexpr int kHttpOk = 200;                    // a read; a replayed chunk or batch
inline constexpr int kHttpCreated = 201;               // chunk stored now
inline constexpr int kHttpBadRequest = 400;            // bad id, seq, query, header, body, digest
inline constexpr int kHttpUnauthorized = 401;          // no or unknown bearer token
inline constexpr int kHttpForbidden = 403;             // token valid, not for this route or device
inline constexpr int kHttpNotFound = 404;              // no such route, no such chunk
inline constexpr int kHttpMethodNotAllowed = 405;      // with Allow
inline constexpr int kHttpConflict = 409;              // same chunk seq, other content
inline constexpr int kHttpPayloadTooLarge = 413;       // body over the limit (also after gunzip)
inline constexpr int kHttpUnsupportedMediaType = 415;  // Content-Encoding other than gzip
inline constexpr int kHttpUnprocessable = 422;         // Idempotency-Key reused with another body
inline constexpr int kHttpTooManyRequests = 429;       // over --max-inflight, with Retry-After
inline constexpr int kHttpHeaderTooLarge = 431;        // request header block over 16 KiB
inline constexpr int kHttpInternalError = 500;         // storage failure; the client retries
inline constexpr int kHttpNotImplemented = 501;        // admin action without --db
inline constexpr int kHttpUnavailable = 503;           // storage busy or too many log followers,
                                                       // with Retry-After

}  // namespace picket::wire
