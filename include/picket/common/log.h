// The log facade: one line per event on stderr (journald/procd store it) and,
// optionally, a size-rotated file. Line format:
//   2026-11-21T10:36:03.123Z INFO capture chunk sealed seq=12 packets=1000 iface=lo
// PICKET_LOG checks the level before anything is formatted, so debug lines on
// hot paths cost one branch when disabled. Thread-safe: any thread may log.
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include "picket/common/status.h"

namespace picket::log {

enum class Level : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3, kTrace = 4 };

std::string_view LevelName(Level level);
// Accepts "error", "warn", "info", "debug", "trace".
Result<Level> ParseLevel(std::string_view name);

// One key=value pair. Values are formatted at construction, which only happens
// after the level check in PICKET_LOG.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v ? v : "(null)") {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  template <typename T>
    requires std::is_arithmetic_v<T>
  Field(std::string_view k, T v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, const Status& s) : key(k), value(s.ToString()) {}

  std::string_view key;
  std::string value;
};

struct FileSinkOptions {
  std::string path;                            // empty: no file sink
  std::uint64_t max_bytes = 10ull << 20;       // rotate when the file would exceed this
  int keep_files = 3;                          // path.1 … path.N are kept
};

// Process-wide settings. Call from main before threads start; SetLevel may be
// called at any time (config reload).
void SetLevel(Level level);
Level CurrentLevel();
void EnableStderr(bool on);
Status OpenFileSink(const FileSinkOptions& options);
void CloseFileSink();

// Test hook: every formatted line is also handed to this function (nullptr: none).
using LineObserver = void (*)(std::string_view line, void* context);
void SetLineObserver(LineObserver observer, void* context);

inline bool Enabled(Level level) {
  extern std::atomic<int> g_level;
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

// Formats one line (no trailing newline). Exposed for tests and for log shipping.
std::string FormatLine(std::int64_t unix_ms, Level level, std::string_view component,
                       std::string_view message, std::initializer_list<Field> fields);

void Write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields);

}  // namespace picket::log

// PICKET_LOG(kInfo, "capture", "chunk sealed", {"seq", seq}, {"packets", n});
#define PICKET_LOG(level, component, message, ...)                                    \
  do {                                                                                \
    if (::picket::log::Enabled(::picket::log::Level::level)) {                        \
      ::picket::log::Write(::picket::log::Level::level, component, message, {__VA_ARGS__}); \
    }                                                                                 \
  } while (0)
