// `picket sessions` against the collector: GET /v1/sessions (NDJSON, read as
// it streams in and printed line by line), /v1/sessions/{id} and
// /v1/sessions/{id}/pcap (written to a temp file, renamed when complete).
#include "cli/sessions_online.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_config.h"
#include "cli/operator_support.h"
#include "picket/analysis/session.h"
#include "picket/common/json_limits.h"
#include "picket/common/c_handle.h"
#include "picket/common/command_line.h"
#include "picket/common/file_io.h"
#include "picket/common/url.h"
#include "picket/common/wire.h"

namespace picket::cli {

namespace {

using nlohmann::json;
using CurlEasy = CHandle<CURL, curl_easy_cleanup>;
using CurlHeaders = CHandle<curl_slist, curl_slist_free_all>;

constexpr std::uint64_t kPage = 10'000;
constexpr std::size_t kMaxErrorBody = 64 * 1024;
constexpr std::size_t kMaxLine = 16 << 20;  // one session's JSON line

int Fail(const std::string& message, int code = 1) { return cli::Fail("sessions", message, code); }

using Collector = CollectorAccess;

Result<Collector> ResolveCollector(const FlagParser& flags) {
  auto config = LoadCliConfig();
  if (!config.ok()) return config.status();
  return cli::ResolveCollector(flags, *config);
}

struct Transfer {
  CURLcode code = CURLE_OK;
  std::string curl_error;
  long status = 0;
  std::string error_body;
};

struct TransferState {
  CURL* easy = nullptr;
  Transfer* result = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
};

extern "C" size_t OnSessionsBody(char* data, size_t size, size_t count, void* user) {
  auto* st = static_cast<TransferState*>(user);
  const size_t n = size * count;
  if (st->result->status == 0) {
    curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &st->result->status);
  }
  if (st->result->status != wire::kHttpOk) {
    if (st->result->error_body.size() < kMaxErrorBody) st->result->error_body.append(data, n);
    return n;
  }
  try {
    return (*st->on_data)(std::string_view(data, n)) ? n : 0;
  } catch (...) {
    return 0;  // no exception crosses into libcurl
  }
}

// One GET; the body goes to on_data as it arrives when the status is 200.
Transfer Get(const Collector& c, const std::string& path,
             const std::function<bool(std::string_view)>& on_data) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  Transfer result;
  CurlEasy easy(curl_easy_init());
  if (!easy) {
    result.code = CURLE_FAILED_INIT;
    result.curl_error = "curl_easy_init failed";
    return result;
  }
  CurlHeaders headers;
  if (!c.token.empty()) {
    headers.reset(curl_slist_append(nullptr, wire::BearerHeaderLine(c.token).c_str()));
  }
  const std::string url = c.base_url + path;
  TransferState state{easy.get(), &result, &on_data};
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, &OnSessionsBody);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &state);
  SetCommonCurlOptions(easy.get(), error);
  // A big listing or pcap may take long; a stalled one may not.
  curl_easy_setopt(easy.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(easy.get(), CURLOPT_LOW_SPEED_TIME, 60L);
  result.code = curl_easy_perform(easy.get());
  if (result.code != CURLE_OK) {
    result.curl_error = std::string(curl_easy_strerror(result.code)) +
                        (error[0] != '\0' ? std::string(": ") + error : std::string());
  }
  if (result.status == 0) curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &result.status);
  return result;
}

std::string ErrorFromBody(long status, const std::string& body) {
  auto j = ParseJsonBounded(body, kMaxJsonAnswerDepth);
  std::string message = j.is_object() && j.contains("error") && j["error"].is_string()
                            ? j["error"].get<std::string>()
                            : body.substr(0, 300);
  return "HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
}

// Non-zero exit code and a message when the transfer failed.
std::optional<int> TransferFailed(const Collector& c, const std::string& path, const Transfer& t) {
  if (t.status != 0 && t.status != wire::kHttpOk) {
    return Fail(c.base_url + path + ": " + ErrorFromBody(t.status, t.error_body));
  }
  if (t.code != CURLE_OK) return Fail(c.base_url + path + ": " + t.curl_error);
  return std::nullopt;
}

void PrintLine(std::string text) {
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stdout);
}

std::string TableLine(std::uint64_t id, const analysis::Session& s) {
  char prefix[128];
  std::snprintf(prefix, sizeof prefix, "%-10llu %-16s ", static_cast<unsigned long long>(id),
                s.device.c_str());
  return prefix + analysis::TableRow(s);
}

Result<std::uint64_t> ParseId(const std::vector<std::string>& positionals, std::string_view usage) {
  if (positionals.size() != 1) return Status::InvalidArgument("usage: picket sessions " + std::string(usage));
  return wire::ParseSessionId(positionals[0]);
}

}  // namespace

int RunSessionsList(std::span<char* const> args) {
  FlagParser flags({"device", "since", "until", "ip", "port", "proto", "app", "risk", "state",
                    "limit", "collector", "token-file"},
                   {"json"});
  if (Status st = flags.Parse(args); !st.ok()) return Fail(st.message(), 2);
  auto collector = ResolveCollector(flags);
  if (!collector.ok()) return Fail(collector.status().message(), 2);
  wire::SessionsQuery query;
  query.device = flags.Value("device");
  query.since = flags.Value("since");
  query.until = flags.Value("until");
  query.ip = flags.Value("ip");
  query.port = flags.Value("port");
  query.proto = flags.Value("proto");
  query.app = flags.Value("app");
  query.risk = flags.Value("risk");
  query.state = flags.Value("state");
  std::uint64_t limit = wire::kDefaultSessionLimit;
  if (auto text = flags.Value("limit")) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (text->empty() || ec != std::errc() || end != text->data() + text->size() || limit == 0 ||
        limit > 100'000'000) {
      return Fail("--limit '" + *text + "': expected an integer 1..100000000", 2);
    }
  }
  const bool as_json = flags.Has("json");
  if (!as_json) PrintLine("ID         DEVICE           " + analysis::TableHeader());

  std::uint64_t printed = 0;
  while (printed < limit) {
    const std::uint64_t page = std::min(kPage, limit - printed);
    query.limit = page;
    const std::string path = wire::SessionsPath(query);
    std::string pending;
    std::uint64_t in_page = 0;
    std::optional<std::uint64_t> last_id;
    std::string bad_line;
    auto handle_line = [&](std::string_view line) -> bool {
      if (line.empty()) return true;
      json row = ParseJsonBounded(line, kMaxJsonAnswerDepth);
      auto session = row.is_discarded() ? Result<analysis::Session>(Status::InvalidArgument("not JSON"))
                                        : analysis::FromJson(row);
      if (!session.ok() || !row.contains("id") || !row["id"].is_number_unsigned()) {
        bad_line = std::string(line.substr(0, 200)) +
                   (session.ok() ? ": no id" : ": " + session.status().message());
        return false;
      }
      const std::uint64_t id = row["id"].get<std::uint64_t>();
      last_id = id;
      ++in_page;
      PrintLine(as_json ? std::string(line) : TableLine(id, *session));
      return true;
    };
    Transfer t = Get(*collector, path, [&](std::string_view data) {
      pending.append(data);
      std::size_t start = 0;
      for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        if (!handle_line(std::string_view(pending).substr(start, nl - start))) return false;
      }
      pending.erase(0, start);
      return pending.size() <= kMaxLine;
    });
    std::fflush(stdout);
    if (!bad_line.empty()) return Fail(collector->base_url + path + ": bad line: " + bad_line);
    if (auto code = TransferFailed(*collector, path, t)) return *code;
    if (!pending.empty() && !handle_line(pending)) {
      return Fail(collector->base_url + path + ": bad line: " + bad_line);
    }
    printed += in_page;
    if (in_page < page || !last_id) break;
    query.after = last_id;
  }
  return 0;
}

int RunSessionsShow(std::span<char* const> args) {
  SplitArgs split = SplitPositionals(args, {"collector", "token-file"});
  FlagParser flags({"collector", "token-file"}, {"json"});
  if (Status st = flags.Parse(split.flags); !st.ok()) return Fail(st.message(), 2);
  auto id = ParseId(split.positionals, "show ID [--json]");
  if (!id.ok()) return Fail(id.status().message(), 2);
  auto collector = ResolveCollector(flags);
  if (!collector.ok()) return Fail(collector.status().message(), 2);
  const std::string path = wire::SessionPath(*id);
  std::string body;
  Transfer t = Get(*collector, path, [&body](std::string_view data) {
    body.append(data);
    return true;
  });
  if (auto code = TransferFailed(*collector, path, t)) return *code;
  json row = ParseJsonBounded(body, kMaxJsonAnswerDepth);
  auto session = row.is_discarded() ? Result<analysis::Session>(Status::InvalidArgument("not JSON"))
                                    : analysis::FromJson(row);
  if (!session.ok()) return Fail(collector->base_url + path + ": " + session.status().message());
  if (flags.Has("json")) {
    PrintLine(row.dump(-1, ' ', false, json::error_handler_t::replace));
    return 0;
  }
  PrintLine("ID         DEVICE           " + analysis::TableHeader());
  PrintLine(TableLine(*id, *session));
  std::string details = "community_id " + session->community_id + "  history " +
                        session->history + "  end_reason " +
                        std::string(analysis::EndReasonName(session->end_reason)) +
                        "  category " + session->category + "  risk_score " +
                        std::to_string(session->risk_score);
  if (!session->risks.empty()) {
    details += "  risks";
    for (const auto& r : session->risks) details += " " + r;
  }
  PrintLine(details);
  PrintLine("packets " + std::to_string(session->packets.size()) + " in chunks " +
            (session->packets.empty()
                 ? std::string("-")
                 : std::to_string(session->packets.front().chunk_seq) + ".." +
                       std::to_string(session->packets.back().chunk_seq)));
  return 0;
}

int RunSessionsPcap(std::span<char* const> args) {
  // "-o FILE" as in curl -o; FlagParser reads long flags only.
  static char kOutput[] = "--output";
  std::vector<char*> rewritten(args.begin(), args.end());
  for (char*& a : rewritten) {
    if (std::string_view(a) == "-o") a = kOutput;
  }
  SplitArgs split = SplitPositionals(rewritten, {"collector", "token-file", "output"});
  FlagParser flags({"collector", "token-file", "output"}, {});
  if (Status st = flags.Parse(split.flags); !st.ok()) return Fail(st.message(), 2);
  auto id = ParseId(split.positionals, "pcap ID -o FILE");
  if (!id.ok()) return Fail(id.status().message(), 2);
  auto output = flags.Value("output");
  if (!output || output->empty()) return Fail("-o FILE is required (the pcap to write)", 2);
  auto collector = ResolveCollector(flags);
  if (!collector.ok()) return Fail(collector.status().message(), 2);
  const std::string path = wire::SessionPcapPath(*id);
  const std::string temp = *output + ".part";
  std::FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) return Fail(temp + ": cannot create");
  bool write_failed = false;
  Transfer t = Get(*collector, path, [&](std::string_view data) {
    write_failed = std::fwrite(data.data(), 1, data.size(), file) != data.size();
    return !write_failed;
  });
  const bool closed = std::fclose(file) == 0;
  if (auto code = TransferFailed(*collector, path, t)) {
    std::remove(temp.c_str());
    return *code;
  }
  if (write_failed || !closed || std::rename(temp.c_str(), output->c_str()) != 0) {
    std::remove(temp.c_str());
    return Fail(*output + ": cannot write the pcap");
  }
  return 0;
}

}  // namespace picket::cli
