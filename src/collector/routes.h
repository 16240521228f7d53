// The collector's URL space (DESIGN.md §5, common/wire.h): maps a method and a
// request target to an endpoint with its validated path parameters. Pure
// functions, no I/O; the HTTP layer turns a failed match into 400/404/405.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::collector {

enum class Endpoint {
  kPutChunk,     // PUT  /v1/devices/{id}/chunks/{seq}
  kGetChunk,     // GET  /v1/devices/{id}/chunks/{seq}
  kListChunks,   // GET  /v1/devices/{id}/chunks
  kPostResults,  // POST /v1/devices/{id}/results
  kPostLogs,     // POST /v1/devices/{id}/logs
  kListDevices,  // GET  /v1/devices
  kListResults,  // GET  /v1/results?device=&job=&since=&limit=
  kListLogs,     // GET  /v1/logs?device=&since=&limit=
};

// Device writes need that device's token; everything else is an operator read.
bool IsDeviceWrite(Endpoint endpoint);
std::string_view EndpointName(Endpoint endpoint);

// Chunk files are named with 12 digits, so seq is 0 … 999999999999.
inline constexpr std::uint64_t kMaxChunkSeq = 999'999'999'999ull;

struct Route {
  Endpoint endpoint = Endpoint::kListDevices;
  std::string device;  // path {id}, validated; empty for collection-wide endpoints
  std::uint64_t seq = 0;
  std::map<std::string, std::string, std::less<>> query;  // percent-decoded
};

struct RouteMatch {
  int http_status = 0;  // 0 when matched, else 400, 404 or 405
  std::string error;    // what was wrong, for the JSON error body
  std::string allow;    // the Allow header for 405
  Route route;
  bool matched() const { return http_status == 0; }
};

RouteMatch MatchRoute(std::string_view method, std::string_view target);

// Decimal without sign or spaces, at most kMaxChunkSeq.
Result<std::uint64_t> ParseChunkSeq(std::string_view text);

// A non-negative decimal query parameter; nullopt when absent. Errors name it.
Result<std::optional<std::uint64_t>> QueryNumber(const Route& route, std::string_view name);
std::optional<std::string> QueryText(const Route& route, std::string_view name);

}  // namespace picket::collector
