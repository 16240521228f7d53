#include "cli/sessions_command.h"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/operator_support.h"
#include "cli/sessions_online.h"
#include "picket/analysis/session.h"
#include "picket/common/c_handle.h"
#include "picket/common/command_line.h"
#include "picket/common/units.h"

namespace picket::cli {

namespace {

using CFile = CHandle<std::FILE, std::fclose>;

// Longest idle timer accepted: a week of packet time is beyond any real flow.
constexpr std::int64_t kMaxIdleMs = 7LL * 24 * 3600 * 1000;

int Fail(const std::string& message, int code) { return cli::Fail("sessions", message, code); }

Result<std::int64_t> ParseIdleUs(const FlagParser& flags, std::string_view name,
                                 std::int64_t default_us) {
  auto text = flags.Value(name);
  if (!text) return default_us;
  const std::string where = "--" + std::string(name) + " '" + *text + "'";
  auto d = ParseDuration(*text);
  if (!d.ok()) return d.status().WithContext(where);
  if (d->count() <= 0 || d->count() > kMaxIdleMs) {
    return Status::InvalidArgument(where + ": expected a duration from 1ms to 7d (e.g. 30s, 5m)");
  }
  return static_cast<std::int64_t>(d->count()) * 1000;
}

Result<std::size_t> ParseFeatureCount(const std::string& text) {
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n == 0 ||
      n > kMaxFeaturePackets) {
    return Status::InvalidArgument("--features '" + text + "': expected an integer 1.." +
                                   std::to_string(kMaxFeaturePackets));
  }
  return n;
}

// stdout is written in large blocks (a file can give millions of sessions);
// a failed write (full disk, closed pipe) is reported once at the end.
void WriteText(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

std::string WithNewline(std::string text) {
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

// gzip is the one wrapper people meet (.pcap.gz samples); name it instead of
// "bad magic". Only for seekable files: stdin is handed on untouched.
bool LooksGzipped(std::FILE* file) {
  unsigned char magic[2] = {0, 0};
  const long start = std::ftell(file);
  if (start < 0) return false;
  const bool gz = std::fread(magic, 1, 2, file) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  std::fseek(file, start, SEEK_SET);
  return gz;
}

int ReadOffline(const SessionsReadOptions& o) {
  const bool from_stdin = o.file == "-";
  const std::string name = from_stdin ? "stdin" : o.file;
  CFile owned;
  std::FILE* in = stdin;
  if (!from_stdin) {
    owned.reset(std::fopen(o.file.c_str(), "rb"));
    if (!owned) return Fail("--read " + o.file + ": " + std::strerror(errno), 1);
    in = owned.get();
    if (LooksGzipped(in)) {
      return Fail(name + ": gzip-compressed; decompress it first (zcat " + o.file +
                      " | picket sessions --read -)",
                  1);
    }
  }

  const bool json = o.json;
  const bool with_packets = o.with_packets;
  // The table's header goes out with the first row (or at a clean end), so a
  // file that is not a capture prints only its error.
  bool header_done = json;
  auto header = [&header_done] {
    if (!header_done) WriteText(WithNewline(analysis::TableHeader()));
    header_done = true;
  };
  analysis::Analyzer analyzer(o.analyzer, [json, with_packets, &header](analysis::Session&& s) {
    if (json) {
      WriteText(analysis::ToJson(s, with_packets)
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                '\n');
    } else {
      header();
      WriteText(WithNewline(analysis::TableRow(s)));
    }
  });

  const auto start = std::chrono::steady_clock::now();
  Status read =
      analysis::ReadCapture(in, 0, [&analyzer](const analysis::RawPacket& p) { analyzer.Feed(p); });
  analyzer.CloseAll(analysis::EndReason::kEndOfData);
  if (read.ok()) header();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool write_failed = std::fflush(stdout) != 0 || std::ferror(stdout) != 0;

  const analysis::AnalyzerStats st = analyzer.stats();
  if (read.ok() || st.packets > 0) {
    std::fprintf(stderr,
                 "picket sessions: %s: %llu packets, %llu sessions, %llu undecodable, %llu not IP, "
                 "peak open flows: %llu, %.3f s (%.0f packets/s)\n",
                 name.c_str(), static_cast<unsigned long long>(st.packets),
                 static_cast<unsigned long long>(st.sessions),
                 static_cast<unsigned long long>(st.undecodable),
                 static_cast<unsigned long long>(st.not_ip),
                 static_cast<unsigned long long>(st.peak_open_flows), seconds,
                 seconds > 0 ? static_cast<double>(st.packets) / seconds : 0.0);
  }
  if (!read.ok()) return Fail(name + ": " + read.message(), 1);
  if (write_failed) return Fail("writing the sessions to stdout failed", 1);
  return 0;
}

}  // namespace

SessionsForm PickSessionsForm(std::span<char* const> args) {
  for (char* a : args) {
    const std::string_view arg(a);
    if (arg == "--read" || arg.starts_with("--read=")) return SessionsForm::kRead;
  }
  if (!args.empty()) {
    const std::string_view first(args[0]);
    if (first == "show") return SessionsForm::kShow;
    if (first == "pcap") return SessionsForm::kPcap;
  }
  return SessionsForm::kList;
}

Result<SessionsReadOptions> ParseSessionsReadOptions(std::span<char* const> args) {
  FlagParser flags({"read", "features", "tcp-idle", "udp-idle", "icmp-idle", "other-idle"},
                   {"json", "packets", "no-labels"});
  PICKET_RETURN_IF_ERROR(flags.Parse(args));
  SessionsReadOptions o;
  auto file = flags.Value("read");
  if (!file || file->empty())
    return Status::InvalidArgument("--read FILE: a file name, or - for stdin");
  o.file = *file;
  o.json = flags.Has("json");
  o.with_packets = flags.Has("packets");
  if (o.with_packets && !o.json) {
    return Status::InvalidArgument("--packets needs --json (the table has no packet column)");
  }
  if (auto features = flags.Value("features")) {
    if (!o.json) {
      return Status::InvalidArgument("--features needs --json (the table has no feature columns)");
    }
    auto n = ParseFeatureCount(*features);
    if (!n.ok()) return n.status();
    o.analyzer.features_packets = *n;
  }
  o.analyzer.label = !flags.Has("no-labels");
  // Offline each session carries its own refs and frees them when it ends.
  o.analyzer.refs_in_session = true;
  o.analyzer.keep_packet_refs = o.with_packets;
  auto tcp = ParseIdleUs(flags, "tcp-idle", o.analyzer.tcp_idle_us);
  if (!tcp.ok()) return tcp.status();
  auto udp = ParseIdleUs(flags, "udp-idle", o.analyzer.udp_idle_us);
  if (!udp.ok()) return udp.status();
  auto icmp = ParseIdleUs(flags, "icmp-idle", o.analyzer.icmp_idle_us);
  if (!icmp.ok()) return icmp.status();
  auto other = ParseIdleUs(flags, "other-idle", o.analyzer.other_idle_us);
  if (!other.ok()) return other.status();
  o.analyzer.tcp_idle_us = *tcp;
  o.analyzer.udp_idle_us = *udp;
  o.analyzer.icmp_idle_us = *icmp;
  o.analyzer.other_idle_us = *other;
  return o;
}

int RunSessionsCommand(std::span<char* const> args) {
  switch (PickSessionsForm(args)) {
    case SessionsForm::kRead: {
      auto options = ParseSessionsReadOptions(args);
      if (!options.ok()) return picket::ReportFlagError("picket", "sessions", options.status());
      return ReadOffline(*options);
    }
    case SessionsForm::kShow:
      return RunSessionsShow(args.subspan(1));
    case SessionsForm::kPcap:
      return RunSessionsPcap(args.subspan(1));
    case SessionsForm::kList:
      return RunSessionsList(args);
  }
  return 2;
}

}  // namespace picket::cli
