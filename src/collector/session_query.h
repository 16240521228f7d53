// The query of GET /v1/sessions (config/API.md) → a SessionFilter and a row
// limit. Every error names the parameter and the value.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "collector/session_store.h"
#include "picket/common/status.h"
#include "picket/common/wire.h"

namespace picket::collector {

struct SessionQuery {
  SessionFilter filter;
  std::uint64_t limit = wire::kDefaultSessionLimit;
};

Result<SessionQuery> ParseSessionQuery(const wire::Route& route, std::int64_t now_ms);

// "2026-12-03T09:00:00Z", "2026-12-03T10:00:00.5+01:00" (RFC 3339), or a
// duration back from now_ms ("90s", "1h", "7d"): µs since the epoch.
Result<std::int64_t> ParseTimeOrAgo(std::string_view text, std::int64_t now_ms);

// "tcp" → 6, "udp" → 17, "icmp" → 1, "icmp6"/"ipv6-icmp" → 58, "sctp" → 132, or 0..255.
std::optional<int> ParseProto(std::string_view text);

}  // namespace picket::collector
