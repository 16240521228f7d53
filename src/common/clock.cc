#include "picket/common/clock.h"

#include <cstdio>
#include <ctime>
#include <optional>
#include <string_view>

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

namespace {

// Reads exactly `digits` decimal digits at text[pos].
bool Digits(std::string_view text, std::size_t& pos, int digits, int& out) {
  if (pos + digits > text.size()) return false;
  out = 0;
  for (int i = 0; i < digits; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += digits;
  return true;
}

bool Expect(std::string_view text, std::size_t& pos, std::string_view chars) {
  if (pos >= text.size() || chars.find(text[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::string FormatRfc3339Micros(std::int64_t unix_us) {
  const std::int64_t seconds = FloorDiv(unix_us, 1'000'000);
  const std::int64_t micros = unix_us - seconds * 1'000'000;
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "";
  // By hand: one row per session, millions per file, and printf was a tenth of a read.
  std::string text = "0000-00-00T00:00:00.000000Z";
  auto put = [&text](std::size_t at, std::size_t width, std::int64_t value) {
    for (std::size_t i = at + width; i-- > at; value /= 10) text[i] = static_cast<char>('0' + value % 10);
  };
  const int year = tm.tm_year + 1900;
  if (year < 0 || year > 9999) return "";
  put(0, 4, year);
  put(5, 2, tm.tm_mon + 1);
  put(8, 2, tm.tm_mday);
  put(11, 2, tm.tm_hour);
  put(14, 2, tm.tm_min);
  put(17, 2, tm.tm_sec);
  put(20, 6, micros);
  return text;
}

std::optional<std::int64_t> ParseRfc3339Micros(std::string_view t) {
  std::size_t p = 0;
  int year, mon, day, hour, min, sec;
  if (!Digits(t, p, 4, year) || !Expect(t, p, "-") || !Digits(t, p, 2, mon) ||
      !Expect(t, p, "-") || !Digits(t, p, 2, day) || !Expect(t, p, "Tt ") ||
      !Digits(t, p, 2, hour) || !Expect(t, p, ":") || !Digits(t, p, 2, min) ||
      !Expect(t, p, ":") || !Digits(t, p, 2, sec)) {
    return std::nullopt;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return std::nullopt;
  }
  std::int64_t frac_us = 0;
  if (p < t.size() && t[p] == '.') {
    ++p;
    int n = 0;
    std::int64_t scale = 100000;
    while (p < t.size() && t[p] >= '0' && t[p] <= '9') {
      if (n < 6) frac_us += (t[p] - '0') * scale;
      scale /= 10;
      ++n;
      ++p;
    }
    if (n == 0) return std::nullopt;
  }
  std::int64_t offset_s = 0;
  if (p < t.size() && (t[p] == 'Z' || t[p] == 'z')) {
    ++p;
  } else if (p < t.size() && (t[p] == '+' || t[p] == '-')) {
    const int sign = t[p] == '-' ? -1 : 1;
    ++p;
    int oh, om;
    if (!Digits(t, p, 2, oh) || !Expect(t, p, ":") || !Digits(t, p, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_s = sign * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  if (p != t.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const std::int64_t secs = static_cast<std::int64_t>(::timegm(&tm)) - offset_s;
  return secs * 1'000'000 + frac_us;
}

}  // namespace picket
