// The collector's HTTP API (common/wire.h, config/API.md) independent of the
// transport: the Beast session hands over a request head, gets an Admission
// (everything decidable before the body is read: route, token, size, required
// headers), reads the body only when admitted, then calls Handle.
// Thread-safe: any number of sessions may call Admit and Handle concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "collector/body_decoder.h"
#include "collector/chunk_intake.h"
#include "collector/chunk_store.h"
#include "collector/collector_db.h"
#include "collector/device_quota.h"
#include "collector/log_feed.h"
#include "collector/chunk_pins.h"
#include "collector/metrics.h"
#include "collector/login_sessions.h"
#include "collector/session_store.h"
#include "collector/token_table.h"
#include "picket/common/clock.h"
#include "picket/common/wire.h"

namespace picket::collector {

// Request header fields, looked up case-insensitively.
class HeaderMap {
 public:
  void Add(std::string_view name, std::string_view value);  // a repeated name keeps the first
  std::optional<std::string_view> Get(std::string_view name) const;

 private:
  std::map<std::string, std::string, std::less<>> fields_;  // lower-case names
};

struct RequestHead {
  std::string method;
  std::string target;
  HeaderMap headers;
  std::optional<std::uint64_t> content_length;  // absent for chunked or no body
  // mTLS (--client-ca): the device a verified client certificate names, ""
  // without one; authenticates as that device when no token or cookie is sent.
  std::string client_cert_device;
};

// A body produced piece by piece (GET /v1/sessions, /v1/sessions/{id}/pcap):
// the transport sends a chunked response and calls it again after each piece
// is written, until it returns "" (the end). An error closes the connection
// mid-body, so the client sees a cut transfer, never a complete wrong answer.
// Called on one I/O thread at a time.
using BodyProducer = std::function<Result<std::string>()>;

struct Reply {
  int status = 200;
  std::string content_type = std::string(wire::kJsonContentType);
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  BodyProducer stream;  // set: `body` is ignored and this produces it
};

Reply JsonError(int status, std::string_view message);
Reply JsonReply(int status, const nlohmann::json& body);  // invalid UTF-8 replaced
// 503 + Retry-After for a busy or full store, else 500; logged.
Reply StorageError(const Status& st, std::string_view what);

// GET /v1/logs?follow=1 (server-sent events): what the stream starts from and
// which lines it carries.
struct LogFollow {
  std::optional<std::string> device;     // nullopt: every device
  std::uint64_t cursor = 0;              // row id; events are the rows after it
  std::optional<std::int64_t> since_ms;  // no since/Last-Event-ID given: start at this time
  std::optional<std::uint64_t> tail;     // none of those given: start before the newest N
};

// One batch of events for a follower.
struct LogEvents {
  std::string text;          // "id: <row id>\ndata: <row JSON>\n\n" per row; empty: nothing new
  std::uint64_t cursor = 0;  // the last row id in text (the given cursor when empty)
  bool more = false;         // a full page was read: ask again right away
};

// The wire form of one server-sent event whose data is a single line.
std::string FormatSseEvent(std::uint64_t id, std::string_view data);

struct FleetServices;  // fleet_api.h

struct Admission {
  std::optional<Reply> reject;  // answer this without reading the body
  bool matched = false;         // a route was found (metrics label it, else "unmatched")
  wire::Route route;
  std::uint64_t body_limit = 0;  // bytes on the wire this request may send
  std::optional<std::uint64_t> content_length;  // as declared; absent when chunked
  BodyEncoding encoding = BodyEncoding::kIdentity;  // Content-Encoding of a device write
  DeviceReport report;          // device counters from the headers
  ChunkRecord chunk;            // PUT chunk: metadata from the headers
  std::string expected_digest;  // PUT chunk: base64 SHA-256 from the Digest header
  std::string idempotency_key;  // POST results/logs
  // GET /v1/logs?follow=1: the session streams events itself; Handle is not called.
  std::optional<LogFollow> follow;
  // Who is calling (Authorize): nullopt for a public route called without a
  // credential. login_session: the cookie's session id when the request was
  // authenticated by it (whoami, logout).
  std::optional<Principal> principal;
  std::string login_session;
};

class OperatorActions;

class ApiHandler {
 public:
  // tokens == nullptr: --insecure-no-auth, every request is allowed.
  // max_body caps the decompressed body of every request.
  // max_followers bounds concurrent log followers (more get 503).
  ApiHandler(const TokenTable* tokens, CollectorDb* db, const ChunkStore* store,
             std::uint64_t max_body, const Clock* clock, int max_followers = 64);

  // Session routes read `sessions`. Without this call they answer 503.
  void EnableSessions(SessionStore* sessions) { sessions_ = sessions; }

  // Session pcaps pin the chunks they stream, so retention keeps them until
  // the answer ends (chunk_pins.h). Without this call nothing is pinned.
  void EnableChunkPins(ChunkPins* pins) { pins_ = pins; }

  // Called for every chunk stored, after its transaction commits (it wakes
  // the session analysis and retention's early pass); not for a retry.
  void OnChunkStored(std::function<void(const std::string& device, std::uint64_t bytes)> hook) {
    on_chunk_stored_ = std::move(hook);
  }

  // Heartbeats, fleet state, probes and metrics (fleet_api.cc); without this
  // call they answer 503 (GET /healthz still answers).
  void EnableFleet(FleetServices* fleet) { fleet_ = fleet; }
  CollectorMetrics& metrics() { return metrics_; }
  // The page's login sessions and the admin actions (web_api.cc). tls: the
  // collector serves HTTPS (cookies get Secure, the origin is https://).
  // actions == nullptr: no --db, the actions answer 501.
  void EnableWeb(bool tls, OperatorActions* actions);
  // Per-device bytes and rows a minute (device_quota.h); none without this call.
  void EnableQuota(DeviceQuota* quota) { quota_ = quota; }
  // Chunk bytes one device may keep stored (collector.db's count); a PUT past it
  // gets 429 + Retry-After. 0 (the default): no limit.
  void EnableDiskQuota(std::uint64_t bytes_per_device) { disk_quota_ = bytes_per_device; }
  LoginSessions& login_sessions() { return *login_sessions_; }

  Admission Admit(const RequestHead& head) const;
  Reply Handle(Admission admission, std::string body);

  // PUT chunk, streamed: the transport opens an intake once the head is
  // admitted and feeds it the body as it arrives (never whole in memory);
  // null with admission.reject set when the chunk is refused before its body
  // (a device over its disk quota). FinishChunk stores it and answers.
  // Handle(PUT chunk) does the same with a body already in memory.
  std::unique_ptr<ChunkIntake> OpenChunkIntake(Admission& admission);
  Reply FinishChunk(Admission& admission, ChunkIntake& intake);
  // The same, but a chunk to commit joins the group commit without a thread waiting for it:
  // `answer` gets the reply after the commit, on the thread that ran it, or at once when
  // there is nothing to commit (a refusal, a retry). The intake may go when this returns.
  void FinishChunkAsync(Admission& admission, ChunkIntake& intake,
                        std::function<void(Reply)> answer);

  // Log follow mode: POSTed log lines are published here; the cursor a new
  // follower starts from; the next page of events after `cursor`.
  LogFeed& log_feed() { return log_feed_; }
  Result<std::uint64_t> StartCursor(const LogFollow& follow);
  Result<LogEvents> NextLogEvents(const LogFollow& follow, std::uint64_t cursor);

 private:
  Result<std::string> DecodeBody(const Admission& a, std::string body) const;
  Reply PutChunk(Admission& a, std::string_view body);
  struct ChunkCommit;  // a checked chunk body on its way to the database (api_handler.cc)
  // Checks the finished body: the reply when nothing is left to commit, else the commit.
  std::variant<Reply, std::unique_ptr<ChunkCommit>> StageChunk(Admission& a, ChunkIntake& intake);
  Reply AnswerChunk(const ChunkCommit& commit, const Result<ChunkPut>& put);
  Reply PostLines(LineKind kind, Admission& a, std::string body);
  Reply GetChunk(const wire::Route& route);
  Reply List(const wire::Route& route);
  Reply StreamRows(LineKind kind, ListQuery query);
  Reply ListSessions(const wire::Route& route);  // session_api.cc
  Reply GetSession(const wire::Route& route);
  Reply GetSessionPcap(const wire::Route& route);
  Reply HandleFleet(const Admission& a, std::string body);  // fleet_api.cc
  Reply HandleWeb(const Admission& a, std::string body);    // web_api.cc

  const TokenTable* tokens_;
  CollectorDb* db_;
  const ChunkStore* store_;
  std::uint64_t max_body_;
  const Clock* clock_;
  LogFeed log_feed_;
  SessionStore* sessions_ = nullptr;
  ChunkPins* pins_ = nullptr;
  std::function<void(const std::string&, std::uint64_t)> on_chunk_stored_;
  FleetServices* fleet_ = nullptr;
  CollectorMetrics metrics_;
  std::unique_ptr<LoginSessions> login_sessions_;
  bool tls_ = false;
  OperatorActions* actions_ = nullptr;
  DeviceQuota* quota_ = nullptr;
  std::uint64_t disk_quota_ = 0;
  Reply DiskQuotaRefusal(const std::string& device, std::uint64_t stored, std::uint64_t bytes);
  // 429 + Retry-After when the device is over its quota; charges it otherwise.
  std::optional<Reply> ChargeQuota(const std::string& device, std::uint64_t bytes,
                                   std::uint64_t rows);
};

// The base64 SHA-256 named in a Digest header ("sha-256=<base64>", possibly
// among other algorithms); InvalidArgument when absent or malformed.
Result<std::string> Sha256FromDigestHeader(std::string_view value);

// Bounds of one NDJSON request (ResourceExhausted, answered 413, beyond them).
inline constexpr std::size_t kMaxNdjsonLines = 100'000;
inline constexpr std::size_t kMaxNdjsonLineBytes = 64 * 1024;

// Splits an NDJSON body into lines; every non-blank line must be a JSON object.
// For results, fills result_key from ip/port/proto (+ job) when present.
// Errors name the 1-based line number. The views point into `body`.
Result<std::vector<NdjsonLine>> ParseNdjson(std::string_view body, LineKind kind);

}  // namespace picket::collector
