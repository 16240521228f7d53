#include "cli/logs_command.h"

#include <curl/curl.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_config.h"
#include "cli/collector_client.h"
#include "cli/operator_support.h"
#include "cli/sse_parser.h"
#include "picket/common/backoff.h"
#include "picket/common/clock.h"
#include "picket/common/command_line.h"
#include "picket/common/json_limits.h"
#include "picket/common/log.h"
#include "picket/common/file_io.h"
#include "picket/common/units.h"
#include "picket/common/url.h"
#include "picket/common/wire.h"

namespace picket::cli {

namespace {

using nlohmann::json;

constexpr std::uint64_t kDefaultLines = 1000;
constexpr std::uint64_t kDefaultFollowLines = 10;  // journalctl -f
constexpr std::uint64_t kPage = 1000;

// Set by SIGINT/SIGTERM while following: the transfer and the backoff wait end.
std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking poll returns at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

struct LogsOptions {
  std::string device;
  bool follow = false;
  bool json = false;
  std::optional<std::int64_t> since_ms;
  std::uint64_t limit = kDefaultLines;
  std::optional<log::Level> level;  // print only lines at this level or worse
  std::string base_url;  // without a trailing '/'
  std::string token;     // "" when none
};

Result<LogsOptions> ParseLogsOptions(std::span<char* const> args) {
  // "-f" is the one short flag (tail -f); FlagParser reads long flags only.
  static char kFollow[] = "--follow";
  static char kLines[] = "--lines";
  std::vector<char*> rewritten(args.begin(), args.end());
  for (char*& a : rewritten) {
    if (std::string_view(a) == "-f") a = kFollow;
    if (std::string_view(a) == "-n") a = kLines;
  }
  FlagParser flags({"device", "since", "limit", "lines", "level", "collector", "token-file"},
                   {"follow", "json"});
  PICKET_RETURN_IF_ERROR(flags.Parse(rewritten));
  auto config = LoadCliConfig();
  if (!config.ok()) return config.status();

  LogsOptions o;
  o.follow = flags.Has("follow");
  o.json = flags.Has("json");
  auto device = flags.Value("device");
  if (!device) return Status::InvalidArgument("--device ID is required");
  if (!wire::IsValidDeviceId(*device)) {
    return Status::InvalidArgument("--device '" + *device +
                                   "': not a device id (expected [A-Za-z0-9._-]{1,64})");
  }
  o.device = *device;

  if (auto since = flags.Value("since")) {
    auto d = ParseDuration(*since);
    if (!d.ok()) return d.status().WithContext("--since " + *since);
    o.since_ms = SystemClock::Instance().WallMillis() - d->count();
  }
  if (flags.Has("limit") && flags.Has("lines")) {
    return Status::InvalidArgument("-n and --limit are the same flag: give one");
  }
  o.limit = o.follow ? kDefaultFollowLines : kDefaultLines;
  if (auto text = flags.Value("lines") ? flags.Value("lines") : flags.Value("limit")) {
    const std::string flag = flags.Has("lines") ? "-n" : "--limit";
    // Newest-first needs the collector's tail (at most kMaxLogTail); lines
    // since a time are paged, so they may be many more.
    const std::uint64_t max = o.since_ms && !o.follow ? 100'000'000 : wire::kMaxLogTail;
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (text->empty() || ec != std::errc() || end != text->data() + text->size() || n == 0 ||
        n > max) {
      return Status::InvalidArgument(flag + " '" + *text + "': expected an integer 1.." +
                                     std::to_string(max));
    }
    o.limit = n;
  }
  if (auto level = flags.Value("level")) {
    auto parsed = log::ParseLevel(*level);
    if (!parsed.ok()) return parsed.status().WithContext("--level");
    o.level = *parsed;
  }

  auto access = ResolveCollector(flags, *config);
  if (!access.ok()) return access.status();
  o.base_url = std::move(access->base_url);
  o.token = std::move(access->token);
  return o;
}

// The level word of a daemon line ("<time> WARN <component> ..."); nullopt for
// lines of another shape (a worker's raw stderr, a drop note): never filtered.
std::optional<log::Level> LineLevel(const std::string& text) {
  const std::size_t start = text.find(' ');
  if (start == std::string::npos) return std::nullopt;
  const std::size_t end = text.find(' ', start + 1);
  const std::string word = text.substr(start + 1, end == std::string::npos ? end : end - start - 1);
  for (log::Level l : {log::Level::kError, log::Level::kWarn, log::Level::kInfo,
                       log::Level::kDebug, log::Level::kTrace}) {
    if (word == log::LevelName(l)) return l;
  }
  return std::nullopt;
}

void PrintRow(const json& row, const LogsOptions& o) {
  if (o.level) {
    auto level = LineLevel(LogLineText(row));
    if (level && static_cast<int>(*level) > static_cast<int>(*o.level)) return;
  }
  const bool as_json = o.json;
  std::string text;
  if (as_json) {
    text = row.dump(-1, ' ', false, json::error_handler_t::replace);
  } else {
    text = row.value("device", std::string("?")) + " " + LogLineText(row);
  }
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);  // a line as soon as it arrives, also into a pipe or file
}

CollectorAccess Access(const LogsOptions& o) { return {o.base_url, o.token, "--collector"}; }

// GET /v1/logs for the one device, from --since if given.
std::string LogsTarget(const LogsOptions& o, wire::LogsQuery query) {
  query.device = o.device;
  query.since_ms = o.since_ms;
  return wire::LogsPath(query);
}

int Fail(const std::string& message, int code = 1) { return cli::Fail("logs", message, code); }

// Whether the collector has ever stored anything of the device (GET /v1/devices).
Result<bool> CollectorKnowsDevice(const LogsOptions& o) {
  const std::string target = wire::DevicesPath();
  std::string body;
  CollectorTransfer t = CollectorGet(Access(o), target, [&body](std::string_view data) {
    body.append(data);
    return body.size() <= (256u << 20);
  });
  if (std::string why = TransferError(Access(o), target, t); !why.empty()) {
    return Status::Unavailable(why);
  }
  json rows = ParseJsonBounded(body, kMaxJsonAnswerDepth);
  if (!rows.is_array()) return Status::Unavailable(o.base_url + target + ": not a JSON array");
  for (const json& row : rows) {
    if (row.is_object() && row.value("id", std::string()) == o.device) return true;
  }
  return false;
}

std::string UnknownDevice(const LogsOptions& o) {
  return "the collector at " + o.base_url + " has no device '" + o.device +
         "' (nothing of it was ever uploaded there; `picket devices` lists the fleet)";
}

int ListOnce(const LogsOptions& o) {
  std::uint64_t printed = 0;
  std::optional<std::uint64_t> cursor;
  // Without --since: the newest o.limit lines in one answer (tail ≤ 10000).
  const bool newest = !o.since_ms;
  while (printed < o.limit) {
    const std::uint64_t page = newest ? o.limit : std::min(kPage, o.limit - printed);
    wire::LogsQuery query;
    query.limit = page;
    query.since = cursor;
    if (newest) query.tail = o.limit;
    const std::string target = LogsTarget(o, query);
    const std::string url = o.base_url + target;
    std::string body;
    CollectorTransfer t = CollectorGet(Access(o), target, [&body](std::string_view data) {
      body.append(data);
      return true;
    });
    if (t.code != CURLE_OK)
      return Fail("cannot reach the collector at " + url + ": " + t.curl_error);
    if (t.status != wire::kHttpOk) return Fail(url + ": " + ErrorFromBody(t.status, t.error_body));
    json rows = ParseJsonBounded(body, kMaxJsonAnswerDepth);
    if (!rows.is_array()) return Fail(url + ": the answer is not a JSON array");
    for (const json& row : rows) {
      PrintRow(row, o);
      ++printed;
      if (row.contains("id") && row["id"].is_number_integer() &&
          row["id"].get<std::int64_t>() >= 0) {
        cursor = row["id"].get<std::uint64_t>();
      }
    }
    if (newest || rows.size() < page || !cursor) break;
  }
  if (printed == 0) {
    auto known = CollectorKnowsDevice(o);
    if (!known.ok()) return Fail(known.status().message());
    if (!*known) return Fail(UnknownDevice(o));
  }
  return 0;
}

// Waits up to `delay`, returning early (true) when a stop signal arrives.
bool WaitOrStop(std::chrono::milliseconds delay) {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (!g_stop.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return false;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(50)));
  }
  return true;
}

int Follow(const LogsOptions& o) {
  InstallStopHandlers();
  SseParser parser;
  JitteredBackoff backoff(std::chrono::milliseconds(500), std::chrono::seconds(15));
  bool ever_connected = false;
  if (auto known = CollectorKnowsDevice(o); known.ok() && !*known) {
    std::fprintf(stderr, "picket logs: warning: %s; waiting for its lines\n",
                 UnknownDevice(o).c_str());
  }
  wire::LogsQuery query;
  query.follow = true;
  if (!o.since_ms) query.tail = o.limit;  // a reconnect's Last-Event-ID takes precedence
  const std::string target = LogsTarget(o, query);
  const std::string url = o.base_url + target;
  std::vector<SseEvent> events;
  while (!g_stop.load()) {
    CollectorGetOptions get;
    get.stream = true;
    get.cancel = &g_stop;
    get.headers.push_back(wire::HeaderLine(wire::kAcceptHeader, wire::kEventStreamContentType));
    if (!parser.last_event_id().empty())
      get.headers.push_back(wire::HeaderLine(wire::kLastEventIdHeader, parser.last_event_id()));
    get.on_connected = [&] {
      std::fprintf(stderr, "picket logs: %s device %s at %s\n",
                   ever_connected ? "following again" : "following", o.device.c_str(),
                   o.base_url.c_str());
      ever_connected = true;
      backoff.Reset();
    };
    parser.ResetConnection();
    bool got_event = false;
    CollectorTransfer t = CollectorGet(
        Access(o), target,
        [&](std::string_view data) {
          events.clear();
          parser.Feed(data, &events);
          for (const SseEvent& e : events) {
            got_event = true;
            json row = ParseJsonBounded(e.data, kMaxJsonAnswerDepth);
            if (row.is_discarded()) {
              std::fprintf(stderr, "picket logs: skipping an event that is not JSON (id %s)\n",
                           e.id.c_str());
              continue;
            }
            PrintRow(row, o);
          }
          return !g_stop.load();
        },
        get);
    if (g_stop.load()) break;
    std::chrono::milliseconds server_hint(0);
    if (t.code == CURLE_OK && t.status == wire::kHttpOk) {
      std::fprintf(stderr, "picket logs: the collector ended the stream; reconnecting\n");
    } else if (t.code != CURLE_OK && !t.got_200) {
      if (!ever_connected) {
        return Fail("cannot reach the collector at " + url + ": " + t.curl_error);
      }
      std::fprintf(stderr, "picket logs: %s: %s; retrying\n", url.c_str(), t.curl_error.c_str());
    } else if (t.code != CURLE_OK) {
      std::fprintf(stderr, "picket logs: connection to %s lost: %s; reconnecting\n",
                   o.base_url.c_str(), t.curl_error.c_str());
    } else if (t.status == wire::kHttpTooManyRequests || t.status >= wire::kHttpInternalError) {
      server_hint = std::chrono::seconds(t.retry_after_s);
      std::fprintf(stderr, "picket logs: %s: %s; retrying\n", url.c_str(),
                   ErrorFromBody(t.status, t.error_body).c_str());
    } else {
      return Fail(url + ": " + ErrorFromBody(t.status, t.error_body));
    }
    if (got_event) backoff.Reset();
    if (WaitOrStop(backoff.NextAtLeast(server_hint))) break;
  }
  return 0;  // interrupted on purpose
}

}  // namespace

std::string LogLineText(const json& row) {
  const json& doc = row.contains("line") ? row["line"] : row;
  if (doc.is_string()) return doc.get<std::string>();
  if (doc.is_object() && doc.contains("line") && doc["line"].is_string()) {
    return doc["line"].get<std::string>();
  }
  if (doc.is_object() && doc.contains("dropped_lines") && doc["dropped_lines"].is_number()) {
    return "(" + doc["dropped_lines"].dump() + " log lines dropped on the device: its queue was full)";
  }
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

int RunLogsCommand(std::span<char* const> args) {
  auto options = ParseLogsOptions(args);
  if (!options.ok()) return Fail(options.status().message(), 2);
  return options->follow ? Follow(*options) : ListOnce(*options);
}

}  // namespace picket::cli
