#include "cli/chunks_command.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_config.h"
#include "cli/collector_client.h"
#include "cli/operator_support.h"
#include "picket/common/clock.h"
#include "picket/common/command_line.h"
#include "picket/common/digest.h"
#include "picket/common/json_limits.h"
#include "picket/common/wire.h"

namespace picket::cli {

namespace {

using nlohmann::json;

constexpr std::uint64_t kPage = 1000;
constexpr std::uint64_t kDefaultLimit = 1000;

int Fail(const std::string& message, int code = 1) { return cli::Fail("chunks", message, code); }

std::string Field(const json& row, const char* name) {
  auto it = row.find(name);
  if (it == row.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::string Time(const json& row, const char* name) {
  auto it = row.find(name);
  if (it == row.end() || !it->is_number_integer()) return "-";
  return FormatRfc3339Micros(it->get<std::int64_t>());
}

std::uint64_t Number(const json& row, const char* name) {
  auto it = row.find(name);
  return it != row.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

Result<std::uint64_t> ParseCount(const std::string& flag, const std::string& text,
                                 std::uint64_t max) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n > max) {
    return Status::InvalidArgument(flag + " '" + text + "': expected an integer 0.." +
                                   std::to_string(max));
  }
  return n;
}

Result<CollectorAccess> Collector(const FlagParser& flags) {
  auto config = LoadCliConfig();
  if (!config.ok()) return config.status();
  return ResolveCollector(flags, *config);
}

// One page of the device's chunk records after `since`.
Result<json> FetchPage(const CollectorAccess& c, const std::string& device,
                       std::optional<std::uint64_t> since, std::uint64_t limit) {
  wire::ChunksQuery query;
  query.since = since;
  query.limit = limit;
  const std::string path = wire::ChunksPath(device, query);
  std::string body;
  CollectorTransfer t = CollectorGet(c, path, [&body](std::string_view data) {
    body.append(data);
    return body.size() <= (64u << 20);  // 1000 records are ~400 KB
  });
  if (std::string why = TransferError(c, path, t); !why.empty()) return Status::Unavailable(why);
  json rows = ParseJsonBounded(body, kMaxJsonAnswerDepth);
  if (!rows.is_array()) return Status::Unavailable(c.base_url + path + ": the answer is not a JSON array");
  return rows;
}

int List(std::span<char* const> args) {
  SplitArgs split = SplitPositionals(args, {"since", "limit", "collector", "token-file"});
  FlagParser flags({"since", "limit", "collector", "token-file"}, {"json"});
  if (Status st = flags.Parse(split.flags); !st.ok()) return Fail(st.message(), 2);
  if (split.positionals.size() != 1) return Fail("usage: picket chunks list DEVICE [flags]", 2);
  const std::string& device = split.positionals[0];
  if (!wire::IsValidDeviceId(device)) {
    return Fail("'" + device + "' is not a device id (expected [A-Za-z0-9._-]{1,64})", 2);
  }
  std::optional<std::uint64_t> since;
  if (auto text = flags.Value("since")) {
    auto n = ParseCount("--since", *text, wire::kMaxChunkSeq);
    if (!n.ok()) return Fail(n.status().message(), 2);
    since = *n;
  }
  std::uint64_t limit = kDefaultLimit;
  if (auto text = flags.Value("limit")) {
    auto n = ParseCount("--limit", *text, 100'000'000);
    if (!n.ok() || *n == 0) return Fail("--limit '" + *text + "': expected an integer 1..100000000", 2);
    limit = *n;
  }
  auto collector = Collector(flags);
  if (!collector.ok()) return Fail(collector.status().message(), 2);
  const bool as_json = flags.Has("json");
  std::vector<std::vector<std::string>> table;  // aligned once all rows are in
  std::uint64_t printed = 0;
  while (printed < limit) {
    const std::uint64_t page = std::min(kPage, limit - printed);
    auto rows = FetchPage(*collector, device, since, page);
    if (!rows.ok()) return Fail(rows.status().message());
    for (const json& row : *rows) {
      if (as_json) {
        std::printf("%s\n", row.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
      } else {
        table.push_back(ChunkTableCells(row));
      }
      if (auto seq = row.find("seq"); seq != row.end() && seq->is_number_unsigned()) {
        since = seq->get<std::uint64_t>();
      }
    }
    printed += rows->size();
    if (rows->size() < page) break;
  }
  if (!as_json) std::fputs(FormatTable(ChunkTableHeader(), table).c_str(), stdout);
  return std::fflush(stdout) == 0 ? 0 : Fail("writing to stdout failed");
}

int Get(std::span<char* const> args) {
  // "-o FILE" as in curl -o; FlagParser reads long flags only.
  static char kOutput[] = "--output";
  std::vector<char*> rewritten(args.begin(), args.end());
  for (char*& a : rewritten) {
    if (std::string_view(a) == "-o") a = kOutput;
  }
  SplitArgs split = SplitPositionals(rewritten, {"output", "collector", "token-file"});
  FlagParser flags({"output", "collector", "token-file"}, {});
  if (Status st = flags.Parse(split.flags); !st.ok()) return Fail(st.message(), 2);
  if (split.positionals.size() != 2) return Fail("usage: picket chunks get DEVICE SEQ [-o FILE]", 2);
  const std::string& device = split.positionals[0];
  if (!wire::IsValidDeviceId(device)) {
    return Fail("'" + device + "' is not a device id (expected [A-Za-z0-9._-]{1,64})", 2);
  }
  auto seq = wire::ParseChunkSeq(split.positionals[1]);
  if (!seq.ok()) return Fail(seq.status().message(), 2);
  const std::string output =
      flags.Value("output").value_or(device + "-" + std::to_string(*seq) + ".pcap");
  if (output.empty()) return Fail("-o: the file name is empty", 2);
  auto collector = Collector(flags);
  if (!collector.ok()) return Fail(collector.status().message(), 2);

  // The record first: its hash checks the bytes, and a missing chunk is
  // reported before a file is created.
  auto rows = FetchPage(*collector, device,
                        *seq == 0 ? std::nullopt : std::optional<std::uint64_t>(*seq - 1), 1);
  if (!rows.ok()) return Fail(rows.status().message());
  if (rows->empty() || Number((*rows)[0], "seq") != *seq) {
    return Fail("device " + device + " has no chunk " + std::to_string(*seq) +
                " at the collector (picket chunks list " + device + ")");
  }
  const std::string expected = Field((*rows)[0], "sha256");
  const std::string path = wire::ChunkPath(device, *seq);
  Sha256 hasher;
  auto hash = [&hasher](std::string_view data) { hasher.Update(data); };
  if (output == "-") {
    CollectorTransfer t = CollectorGet(*collector, path, [&](std::string_view data) {
      hash(data);
      return std::fwrite(data.data(), 1, data.size(), stdout) == data.size();
    });
    if (std::string why = TransferError(*collector, path, t); !why.empty()) return Fail(why);
    if (std::fflush(stdout) != 0) return Fail("writing to stdout failed");
  } else if (Status st = DownloadToFile(*collector, path, output, hash); !st.ok()) {
    return Fail(st.message());
  }
  const auto digest = hasher.Finish();
  const std::string actual = HexEncode(digest.data(), digest.size());
  if (actual != expected) {
    if (output != "-") std::remove(output.c_str());
    return Fail("chunk " + std::to_string(*seq) + " of " + device + ": SHA-256 " + actual +
                " differs from the collector's record " + expected + "; nothing kept");
  }
  if (output != "-") {
    std::fprintf(stderr, "picket chunks: wrote %s (%s packets, %s bytes, sha256 %s)\n",
                 output.c_str(), Field((*rows)[0], "packets").c_str(),
                 Field((*rows)[0], "bytes").c_str(), actual.c_str());
  }
  return 0;
}

}  // namespace

std::vector<std::string> ChunkTableHeader() {
  return {"SEQ",  "PACKETS", "BYTES",   "FIRST",   "LAST",  "DROPS",
          "LOST", "GAP_MS",  "SWITCH", "TS_BACK", "SHA256"};
}

std::vector<std::string> ChunkTableCells(const json& chunk) {
  const std::uint64_t drops = Number(chunk, "kernel_drops") + Number(chunk, "interface_drops");
  std::string sha = Field(chunk, "sha256");
  if (sha.size() > 16) sha.resize(16);
  // A loss record (no packets) has no packet times.
  const bool has_packets = Number(chunk, "packets") > 0;
  return {Field(chunk, "seq"), Field(chunk, "packets"), Field(chunk, "bytes"),
          has_packets ? Time(chunk, "first_ts_us") : "-",
          has_packets ? Time(chunk, "last_ts_us") : "-", std::to_string(drops),
          Field(chunk, "lost_packets"), Field(chunk, "gap_before_ms"),
          // A capture switch without a gap (config change): when, else "-".
          Number(chunk, "switched_at_us") > 0 ? Time(chunk, "switched_at_us") : "-",
          Field(chunk, "ts_backwards"), sha};
}

int RunChunksCommand(std::span<char* const> args) {
  if (args.empty()) return Fail("usage: picket chunks list|get ... (picket help chunks)", 2);
  const std::string_view sub = args[0];
  if (sub == "list") return List(args.subspan(1));
  if (sub == "get") return Get(args.subspan(1));
  return Fail("unknown subcommand '" + std::string(sub) + "' (expected list or get)", 2);
}

}  // namespace picket::cli
