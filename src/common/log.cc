#include "picket/common/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "picket/common/clock.h"

namespace picket::log {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

namespace {

struct Sinks {
  std::mutex mu;
  bool to_stderr = true;
  FileSinkOptions file_options;
  int file_fd = -1;
  std::uint64_t file_bytes = 0;
  LineObserver observer = nullptr;
  void* observer_context = nullptr;
};

Sinks& GetSinks() {
  static Sinks* sinks = new Sinks();  // never destroyed: logging may run during exit
  return *sinks;
}

bool NeedsQuoting(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

// Appends v, escaping so that one event always stays one line.
void AppendEscaped(std::string& out, std::string_view v, bool quote) {
  if (quote) out += '"';
  for (char c : v) {
    switch (c) {
      case '"': out += quote ? "\\\"" : "\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  if (quote) out += '"';
}

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // a broken log sink must never take the daemon down
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Caller holds sinks.mu.
void RotateLocked(Sinks& s) {
  ::close(s.file_fd);
  s.file_fd = -1;
  const std::string& base = s.file_options.path;
  for (int i = s.file_options.keep_files - 1; i >= 1; --i) {
    std::string from = base + "." + std::to_string(i);
    std::string to = base + "." + std::to_string(i + 1);
    ::rename(from.c_str(), to.c_str());
  }
  if (s.file_options.keep_files >= 1) {
    ::rename(base.c_str(), (base + ".1").c_str());
  } else {
    ::unlink(base.c_str());
  }
  s.file_fd = ::open(base.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  s.file_bytes = 0;
}

}  // namespace

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kError: return "ERROR";
    case Level::kWarn: return "WARN";
    case Level::kInfo: return "INFO";
    case Level::kDebug: return "DEBUG";
    case Level::kTrace: return "TRACE";
  }
  return "?";
}

Result<Level> ParseLevel(std::string_view name) {
  if (name == "error") return Level::kError;
  if (name == "warn") return Level::kWarn;
  if (name == "info") return Level::kInfo;
  if (name == "debug") return Level::kDebug;
  if (name == "trace") return Level::kTrace;
  return Status::InvalidArgument("unknown log level '" + std::string(name) +
                                 "' (expected error, warn, info, debug or trace)");
}

void SetLevel(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }
Level CurrentLevel() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

void EnableStderr(bool on) {
  Sinks& s = GetSinks();
  std::lock_guard lock(s.mu);
  s.to_stderr = on;
}

Status OpenFileSink(const FileSinkOptions& options) {
  Sinks& s = GetSinks();
  std::lock_guard lock(s.mu);
  if (s.file_fd >= 0) ::close(s.file_fd);
  s.file_fd = -1;
  s.file_options = options;
  if (options.path.empty()) return Status::Ok();
  int fd = ::open(options.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return FromErrno("open log file " + options.path, errno);
  struct stat st {};
  s.file_bytes = ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  s.file_fd = fd;
  return Status::Ok();
}

void CloseFileSink() {
  Sinks& s = GetSinks();
  std::lock_guard lock(s.mu);
  if (s.file_fd >= 0) ::close(s.file_fd);
  s.file_fd = -1;
  s.file_options = {};
}

void SetLineObserver(LineObserver observer, void* context) {
  Sinks& s = GetSinks();
  std::lock_guard lock(s.mu);
  s.observer = observer;
  s.observer_context = context;
}

std::string FormatLine(std::int64_t unix_ms, Level level, std::string_view component,
                       std::string_view message, std::initializer_list<Field> fields) {
  std::string line;
  line.reserve(64 + message.size() + fields.size() * 16);
  line += FormatRfc3339Millis(unix_ms);
  line += ' ';
  line += LevelName(level);
  line += ' ';
  line += component;
  line += ' ';
  AppendEscaped(line, message, false);
  for (const Field& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    AppendEscaped(line, f.value, NeedsQuoting(f.value));
  }
  return line;
}

void Write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  std::int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  std::string line = FormatLine(ms, level, component, message, fields);
  Sinks& s = GetSinks();
  std::lock_guard lock(s.mu);
  if (s.observer) s.observer(line, s.observer_context);
  line += '\n';
  if (s.to_stderr) WriteAll(STDERR_FILENO, line);
  if (s.file_fd >= 0) {
    if (s.file_bytes + line.size() > s.file_options.max_bytes && s.file_bytes > 0) RotateLocked(s);
    if (s.file_fd >= 0) {
      WriteAll(s.file_fd, line);
      s.file_bytes += line.size();
    }
  }
}

}  // namespace picket::log
