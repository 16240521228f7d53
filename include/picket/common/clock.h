// Time sources. Chunk ages, timeouts and backoff use the monotonic clock, so a
// wall-clock jump (NTP step, RTC reset on a gateway without battery) never
// rotates or stalls anything; wall time is only stamped into records.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace picket {

using MonoTime = std::chrono::steady_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime MonotonicNow() const = 0;
  // Milliseconds since the Unix epoch.
  virtual std::int64_t WallMillis() const = 0;
};

// The real clocks. Stateless; safe from any thread.
class SystemClock final : public Clock {
 public:
  MonoTime MonotonicNow() const override;
  std::int64_t WallMillis() const override;
  static SystemClock& Instance();
};

// The one RFC 3339 formatter, UTC.
// "2026-11-21T13:25:34.494Z": millisecond precision (result and record timestamps).
std::string FormatRfc3339Millis(std::int64_t unix_ms);
// "2026-11-21T13:25:34Z": whole seconds (tables for people).
std::string FormatRfc3339Seconds(std::int64_t unix_ms);
// "2026-11-21T13:25:34.494123Z": microseconds (session records), "" past year 9999.
std::string FormatRfc3339Micros(std::int64_t unix_us);
// The one RFC 3339 parser: "2026-11-21T13:25:34[.fraction](Z|±hh:mm)" (T or a
// space; up to 6 fraction digits kept) to µs since the epoch; nullopt otherwise.
std::optional<std::int64_t> ParseRfc3339Micros(std::string_view text);

}  // namespace picket
