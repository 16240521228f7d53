// `picket sessions` against the collector: GET /v1/sessions (NDJSON, read as
// it streams in and printed line by line), /v1/sessions/{id} and
// /v1/sessions/{id}/pcap (written to a temp file, renamed when complete).
#include "cli/sessions_online.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_config.h"
#include "cli/collector_client.h"
#include "cli/operator_support.h"
#include "picket/analysis/session.h"
#include "picket/common/json_limits.h"
#include "picket/common/command_line.h"
#include "picket/common/file_io.h"
#include "picket/common/url.h"
#include "picket/common/wire.h"

namespace picket::cli {

namespace {

using nlohmann::json;

constexpr std::uint64_t kPage = 10'000;
constexpr std::size_t kMaxLine = 16 << 20;  // one session's JSON line

int Fail(const std::string& message, int code = 1) { return cli::Fail("sessions", message, code); }

using Collector = CollectorAccess;

Result<Collector> ResolveCollector(const FlagParser& flags) {
  auto config = LoadCliConfig();
  if (!config.ok()) return config.status();
  return cli::ResolveCollector(flags, *config);
}

// Non-zero exit code and a message when the transfer failed.
std::optional<int> TransferFailed(const Collector& c, const std::string& path,
                                  const CollectorTransfer& t) {
  // The collector checks the filter values (--since, --port, ...): its 400 is a bad flag.
  if (std::string why = TransferError(c, path, t); !why.empty()) return Fail(why, t.status == 400 ? 2 : 1);
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
    CollectorTransfer t = CollectorGet(*collector, path, [&](std::string_view data) {
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
  CollectorTransfer t = CollectorGet(*collector, path, [&body](std::string_view data) {
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
  if (Status st = DownloadToFile(*collector, path, *output); !st.ok()) return Fail(st.message());
  return 0;
}

}  // namespace picket::cli
