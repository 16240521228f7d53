// The collector's HTTP API (DESIGN.md §5, common/wire.h) independent of the
// transport: the Beast session hands over a request head, gets an Admission
// (everything decidable before the body is read: route, token, size, required
// headers), reads the body only when admitted, then calls Handle.
// Thread-safe: any number of sessions may call Admit and Handle concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collector/chunk_store.h"
#include "collector/collector_db.h"
#include "collector/routes.h"
#include "collector/token_table.h"
#include "picket/common/clock.h"

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
};

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

Reply JsonError(int status, std::string_view message);

struct Admission {
  std::optional<Reply> reject;  // answer this without reading the body
  Route route;
  std::uint64_t body_limit = 0;  // bytes on the wire this request may send
  bool gzip = false;
  DeviceReport report;          // device counters from the headers
  ChunkRecord chunk;            // PUT chunk: metadata from the headers
  std::string expected_digest;  // PUT chunk: base64 SHA-256 from the Digest header
  std::string idempotency_key;  // POST results/logs
};

class ApiHandler {
 public:
  // tokens == nullptr: --insecure-no-auth, every request is allowed.
  // max_body caps the decompressed body of every request.
  ApiHandler(const TokenTable* tokens, CollectorDb* db, const ChunkStore* store,
             std::uint64_t max_body, const Clock* clock);

  Admission Admit(const RequestHead& head) const;
  Reply Handle(Admission admission, std::string body);

 private:
  Result<std::string> DecodeBody(const Admission& a, std::string body) const;
  Reply PutChunk(Admission& a, std::string body);
  Reply PostLines(LineKind kind, Admission& a, std::string body);
  Reply GetChunk(const Route& route);
  Reply List(const Route& route);

  const TokenTable* tokens_;
  CollectorDb* db_;
  const ChunkStore* store_;
  std::uint64_t max_body_;
  const Clock* clock_;
};

// The base64 SHA-256 named in a Digest header ("sha-256=<base64>", possibly
// among other algorithms); InvalidArgument when absent or malformed.
Result<std::string> Sha256FromDigestHeader(std::string_view value);

// Splits an NDJSON body into lines; every non-blank line must be a JSON object.
// For results, fills result_key from ip/port/proto (+ job) when present.
// Errors name the 1-based line number. The views point into `body`.
Result<std::vector<NdjsonLine>> ParseNdjson(std::string_view body, LineKind kind);

}  // namespace picket::collector
