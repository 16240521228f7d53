#include "picket/common/clock.h"

#include <cstdio>
#include <ctime>

namespace picket {

MonoTime SystemClock::MonotonicNow() const { return std::chrono::steady_clock::now(); }

std::int64_t SystemClock::WallMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

namespace {

std::string FormatRfc3339(std::int64_t unix_ms, bool millis) {
  const auto secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[80];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (millis) {
    n += std::snprintf(buf + n, sizeof buf - n, ".%03d", static_cast<int>(unix_ms % 1000));
  }
  std::snprintf(buf + n, sizeof buf - n, "Z");
  return buf;
}

}  // namespace

std::string FormatRfc3339Millis(std::int64_t unix_ms) { return FormatRfc3339(unix_ms, true); }

std::string FormatRfc3339Seconds(std::int64_t unix_ms) { return FormatRfc3339(unix_ms, false); }

}  // namespace picket
