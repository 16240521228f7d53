#include "cli/scan_jobs_command.h"

#include <curl/curl.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "cli/operator_support.h"
#include "cli/scan_progress.h"
#include "picket/common/units.h"
#include "picket/common/c_handle.h"
#include "picket/common/clock.h"
#include "picket/common/file_io.h"
#include "picket/common/shared_job.h"
#include "picket/common/url.h"
#include "picket/common/wire.h"
#include "picket/scan/scanner.h"
#include "picket/sync/operator_rows.h"
#include "picket/sync/sync_documents.h"
#include "picket/zk/zk_session.h"
#include "picket/sync/mariadb_connection.h"
#include "picket/zk/znode_layout.h"

namespace picket::cli {

namespace {

using nlohmann::json;
constexpr std::string_view kName = "scan";

Result<std::uint64_t> UintFlag(const FlagParser& flags, std::string_view name, std::uint64_t min,
                               std::uint64_t max) {
  auto text = flags.Value(name);
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size() || n < min ||
      n > max) {
    return Status::InvalidArgument("--" + std::string(name) + " '" + *text +
                                   "': expected an integer " + std::to_string(min) + ".." +
                                   std::to_string(max));
  }
  return n;
}

// ---- submit ----------------------------------------------------------------

int RunSubmit(const std::vector<std::string>& positionals, const FlagParser& flags) {
  if (positionals.size() > 1) {
    return Fail(kName, "submit takes no positional argument (got '" + positionals[1] + "')", 2);
  }
  sync::ScanJobFields fields;
  fields.targets = flags.Value("targets");
  fields.ports = flags.Value("ports");
  fields.rate = flags.Value("rate");
  fields.shards = flags.Value("shards");
  fields.mode = flags.Value("mode");
  fields.group = flags.Value("group");
  fields.devices = flags.Value("devices");
  fields.id = flags.Value("id");
  fields.max_parallel = flags.Value("max-parallel");
  fields.exclude = flags.Value("exclude");
  fields.retries = flags.Value("retries");
  fields.wait = flags.Value("wait");
  fields.seed = flags.Value("seed");
  if (flags.Has("banners")) fields.banners = "true";
  const auto flag_name = [](std::string_view field) {
    std::string flag = "--" + std::string(field);
    std::replace(flag.begin(), flag.end(), '_', '-');
    return flag;
  };
  std::random_device rd;
  const std::string drawn =
      MakeJobId(SystemClock::Instance().WallMillis(), static_cast<std::uint16_t>(rd()));
  auto row = sync::ParseScanJobFields(fields, flag_name, drawn);
  if (!row.ok()) return Fail(kName, "submit: " + row.status().message(), 2);
  if (Status st = sync::CheckScanJob(*row); !st.ok()) {
    // Name the job only when the operator chose its id: a drawn one never existed.
    const std::string what = fields.id ? "job " + row->id : "the job";
    std::fprintf(stderr, "picket scan: submit: %s is invalid, nothing submitted:\n", what.c_str());
    std::istringstream lines(st.message());  // one "/field: problem" a line
    for (std::string line; std::getline(lines, line);) {
      line.erase(0, line.find_first_not_of(' '));
      std::fprintf(stderr, "  %s\n", line.c_str());
    }
    return 1;
  }
  const sync::SizeVerdict size =
      sync::JudgeScanJobSize(sync::EstimateScanJobSize(*row), flags.Has("force"));
  if (size.refuse) return Fail(kName, "submit: " + size.message + ", nothing submitted", 1);
  int exit_code = 0;
  auto db = OpenDbOrFail(kName, flags, &exit_code);
  if (!db) return exit_code;
  auto warnings = sync::EligibilityWarnings(*db, *row);
  if (!warnings.ok()) return Fail(kName, "submit: " + warnings.status().ToString(), 1);
  if (Status st = sync::InsertScanJob(*db, *row); !st.ok()) {
    return Fail(kName,
                "submit: " + (st.code() == StatusCode::kAlreadyExists ? st.message() : st.ToString()),
                1);
  }
  // Warnings after the insert: the job exists, and stderr says what will slow or stall it.
  if (!size.message.empty()) std::fprintf(stderr, "picket scan: %s\n", size.message.c_str());
  for (const auto& w : *warnings) std::fprintf(stderr, "picket scan: %s\n", w.c_str());
  std::printf("%s\n", row->id.c_str());
  return 0;
}

// The one JOB argument of status, results and cancel; nullopt once the
// reason is printed.
std::optional<std::string> JobArgument(const std::vector<std::string>& positionals,
                                       const std::string& action) {
  if (positionals.size() != 2) {
    Fail(kName, action + ": exactly one JOB is required", 2);
    return std::nullopt;
  }
  if (!sync::IsValidNodeName(positionals[1])) {
    Fail(kName, "JOB '" + positionals[1] + "': expected [A-Za-z0-9._-]{1,64}", 2);
    return std::nullopt;
  }
  return positionals[1];
}

// ---- cancel ----------------------------------------------------------------

int RunCancel(const std::vector<std::string>& positionals, const FlagParser& flags) {
  const auto job_arg = JobArgument(positionals, "cancel");
  if (!job_arg) return 2;
  const std::string& job = *job_arg;
  int exit_code = 0;
  auto db = OpenDbOrFail(kName, flags, &exit_code);
  if (!db) return exit_code;
  auto outcome = sync::CancelScanJob(*db, job);
  if (!outcome.ok()) {
    const Status& st = outcome.status();
    return Fail(kName, st.code() == StatusCode::kNotFound ? st.message() : st.ToString(), 1);
  }
  if (!outcome->cancelled) {
    std::printf("job %s is %s already: nothing to cancel%s\n", job.c_str(), outcome->was.c_str(),
                outcome->was == "finished" ? " (its status and results stay)" : "");
    return 0;
  }
  std::printf("job %s cancelled: picket sync removes it from ZooKeeper and the devices stop its "
              "shards\n",
              job.c_str());
  return 0;
}

// ---- status ----------------------------------------------------------------

// sync's refusal of the job's row ({"version","error","at_ms"}), "" when none.
std::string SyncRefusal(zk::ZkSession& zk, const zk::ZnodeLayout& layout, const std::string& job) {
  auto node = GetIfExists(zk, layout.SyncJobError(job));
  if (!node.ok() || !*node) return "";
  json doc = json::parse(**node, nullptr, false);
  if (!doc.is_object() || !doc.contains("error") || !doc["error"].is_string()) return "";
  std::string out = doc["error"].get<std::string>();
  if (doc.contains("version") && doc["version"].is_number_integer()) {
    out = "row version " + std::to_string(doc["version"].get<std::int64_t>()) + ": " + out;
  }
  return out;
}

struct JobRead {
  std::optional<SharedJobSpec> spec;  // nullopt: no job node
  JobStatusView view;
};

Result<JobRead> ReadJob(zk::ZkSession& zk, const zk::ZnodeLayout& layout, const std::string& job) {
  JobRead out;
  const std::string path = layout.Job(job);
  auto spec_text = GetIfExists(zk, path);
  if (!spec_text.ok()) return spec_text.status();
  if (!*spec_text) return out;
  auto spec = ParseSharedJobSpec(job, **spec_text);
  if (!spec.ok()) {
    return Status::InvalidArgument(path + ": not a valid job: " + spec.status().message());
  }
  auto nodes = zk::ReadJobNodes(zk, layout, *spec);
  if (!nodes.ok()) return nodes.status();
  out.view = zk::BuildJobStatus(*spec, *nodes, scan::ScanSpec{}.connect_timeout);
  out.spec = std::move(*spec);
  return out;
}

// Polls the job every `interval` until 100 % or until it leaves ZooKeeper
// (cancelled): one line rewritten with \r, or one JSON event a line.
int WatchJob(zk::ZkSession& zk, const zk::ZnodeLayout& layout, const std::string& job,
             std::chrono::milliseconds interval, bool as_json) {
  ProgressSmoother smoother;
  std::size_t last_width = 0;
  const auto started = SystemClock::Instance().MonotonicNow();
  while (true) {
    auto read = ReadJob(zk, layout, job);
    if (!read.ok()) {
      if (!as_json && last_width) std::fputc('\n', stdout);
      return Fail(kName, "status: " + read.status().ToString(), 1);
    }
    WatchSample s;
    s.job = job;
    s.ts_ms = SystemClock::Instance().WallMillis();
    if (!read->spec) {
      s.state = "cancelled";
    } else {
      const JobStatusView& v = read->view;
      // The claimers' live counts come with their status (every 5 s); checkpoints lag behind
      // connect timeouts.
      LiveDone live;
      std::set<std::string> claimers;
      for (const auto& r : v.rows) {
        if (r.state == "claimed" && wire::IsValidDeviceId(r.device)) claimers.insert(r.device);
      }
      for (const auto& device : claimers) {
        auto status = GetIfExists(zk, layout.DeviceStatus(device));
        if (status.ok() && *status) AddLiveDone(**status, job, live);
      }
      s.fraction = JobFraction(v, live);
      const double t = std::chrono::duration<double>(SystemClock::Instance().MonotonicNow() -
                                                     started).count();
      smoother.Add(t, s.fraction);
      if (auto r = smoother.FractionPerSecond()) {
        s.pairs_per_s = *r * static_cast<double>(JobPairs(v, *read->spec));
      }
      s.eta_s = smoother.EtaSeconds();
      s.found = v.results;
      s.shards = v.shards;
      s.done = v.done;
      s.claimed = v.claimed;
      s.waiting = v.waiting;
      s.state = v.done == v.shards ? "finished" : "running";
    }
    if (as_json) {
      std::printf("%s\n", WatchEventJson(s).c_str());
    } else {
      std::string line = FormatWatchLine(s);
      const std::size_t width = line.size();
      if (width < last_width) line += std::string(last_width - width, ' ');  // wipe the longer line
      last_width = width;
      std::printf("\r%s", line.c_str());
    }
    std::fflush(stdout);
    if (s.state == "finished") {
      if (!as_json) std::fputc('\n', stdout);
      return 0;
    }
    if (s.state == "cancelled") {
      if (!as_json) std::fputc('\n', stdout);
      std::fprintf(stderr, "picket scan: job %s left ZooKeeper (cancelled or deleted)\n", job.c_str());
      return 1;
    }
    std::this_thread::sleep_for(interval);  // the poll period, not a synchronisation
  }
}

int RunStatus(const std::vector<std::string>& positionals, const FlagParser& flags) {
  const auto job_arg = JobArgument(positionals, "status");
  if (!job_arg) return 2;
  const std::string& job = *job_arg;
  std::chrono::milliseconds interval{1000};
  if (auto text = flags.Value("interval")) {
    auto d = ParseDuration(*text);
    if (!d.ok() || d->count() < 100 || d->count() > 3'600'000) {
      return Fail(kName, "status: --interval '" + *text + "': expected a duration 100ms..1h", 2);
    }
    interval = *d;
  }
  int exit_code = 0;
  auto connection = OpenZkOrFail(kName, flags, &exit_code);
  if (!connection) return exit_code;
  const zk::ZnodeLayout layout(connection->address.root);
  zk::ZkSession& zk = *connection->session;
  auto read = ReadJob(zk, layout, job);
  if (!read.ok()) return Fail(kName, "status: " + read.status().ToString(), 1);
  const std::string refused = SyncRefusal(zk, layout, job);
  if (!read->spec) {
    if (!refused.empty()) {
      return Fail(kName, "status: job '" + job + "' was refused by picket sync (" + refused + ")",
                  1);
    }
    return Fail(kName,
                "status: no job '" + job + "' in ZooKeeper at " + layout.Job(job) +
                    " (not submitted, cancelled, or picket sync has not pushed it yet)",
                1);
  }
  if (!refused.empty()) {
    std::fprintf(stderr, "picket scan: job %s: a newer row was refused by picket sync (%s)\n",
                 job.c_str(), refused.c_str());
  }
  if (flags.Has("watch")) return WatchJob(zk, layout, job, interval, flags.Has("json"));
  std::fputs((flags.Has("json") ? FormatJobStatusJson(read->view)
                                : FormatJobStatusTable(read->view))
                 .c_str(),
             stdout);
  return 0;
}

// ---- list ------------------------------------------------------------------

int RunList(const std::vector<std::string>& positionals, const FlagParser& flags) {
  if (positionals.size() > 1) {
    return Fail(kName, "list takes no positional argument (got '" + positionals[1] + "')", 2);
  }
  std::uint64_t limit = 50;
  if (flags.Value("limit")) {
    auto n = UintFlag(flags, "limit", 1, 10'000);
    if (!n.ok()) return Fail(kName, "list: " + n.status().message(), 2);
    limit = *n;
  }
  const std::string state = flags.Value("state").value_or("");
  if (!state.empty() && !sync::IsValidNodeName(state)) {
    return Fail(kName, "list: --state '" + state + "': expected active, finished or cancelled", 2);
  }
  int exit_code = 0;
  auto db = OpenDbOrFail(kName, flags, &exit_code);
  if (!db) return exit_code;
  auto rows = sync::ListScanJobs(*db, limit, state);
  if (!rows.ok()) return Fail(kName, "list: " + rows.status().ToString(), 1);
  // ZooKeeper adds progress and refusals; without it the rows still print.
  auto connection = OpenZkOrFail(kName, flags, &exit_code);
  if (!connection) std::fputs("picket scan: list: progress unknown (no ZooKeeper)\n", stderr);
  std::vector<JobListEntry> entries;
  for (auto& row : *rows) {
    JobListEntry e;
    e.row = std::move(row);
    if (connection && sync::IsValidNodeName(e.row.id)) {
      const zk::ZnodeLayout layout(connection->address.root);
      e.refused = SyncRefusal(*connection->session, layout, e.row.id);
      auto read = ReadJob(*connection->session, layout, e.row.id);
      if (read.ok() && read->spec) {
        e.fraction = JobFraction(read->view);
        e.shards_done = read->view.done;
        e.found = read->view.results;
        for (const auto& [device, shards] : read->view.devices) e.devices.push_back(device);
      } else if (!read.ok()) {
        std::fprintf(stderr, "picket scan: list: job %s: %s\n", e.row.id.c_str(),
                     read.status().ToString().c_str());
      }
    }
    entries.push_back(std::move(e));
  }
  std::fputs((flags.Has("json") ? FormatJobListJson(entries) : FormatJobListTable(entries)).c_str(),
             stdout);
  return 0;
}

// ---- results ---------------------------------------------------------------

using CurlEasy = CHandle<CURL, curl_easy_cleanup>;
using CurlHeaders = CHandle<curl_slist, curl_slist_free_all>;

extern "C" size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  try {
    body->append(data, size * count);
  } catch (...) {
    return 0;
  }
  return size * count;
}

int RunResults(const std::vector<std::string>& positionals, const FlagParser& flags) {
  const auto job_arg = JobArgument(positionals, "results");
  if (!job_arg) return 2;
  const std::string& job = *job_arg;
  std::uint64_t limit = 1000;
  if (flags.Value("limit")) {
    auto n = UintFlag(flags, "limit", 1, 100'000'000);
    if (!n.ok()) return Fail(kName, n.status().message(), 2);
    limit = *n;
  }
  auto config = LoadCliConfig();
  if (!config.ok()) return Fail(kName, config.status().message(), 2);
  auto access = ResolveCollector(flags, *config);
  if (!access.ok()) return Fail(kName, access.status().message(), 2);
  const std::string token = access->token;
  std::string url = access->base_url;
  url += wire::ResultsPath({.job = job, .limit = limit});

  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CurlEasy easy(curl_easy_init());
  if (!easy) return Fail(kName, "curl_easy_init failed", 1);
  CurlHeaders headers;
  if (!token.empty()) {
    headers.reset(curl_slist_append(nullptr, wire::BearerHeaderLine(token).c_str()));
    if (!headers) return Fail(kName, "curl_slist_append failed", 1);
  }
  std::string body;
  char error[CURL_ERROR_SIZE] = {0};
  CURL* h = easy.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  SetCommonCurlOptions(h, error);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 120'000L);
  CURLcode code = curl_easy_perform(h);
  if (code != CURLE_OK) {
    return Fail(kName,
                "cannot reach the collector at " + url + " (" + access->origin +
                    "): " + curl_easy_strerror(code) + (error[0] ? std::string(": ") + error : ""),
                1);
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status != wire::kHttpOk) {
    json j = json::parse(body, nullptr, false);
    std::string message = j.is_object() && j.contains("error") && j["error"].is_string()
                              ? j["error"].get<std::string>()
                              : body.substr(0, 300);
    return Fail(kName, url + ": HTTP " + std::to_string(status) + ": " + message, 1);
  }
  json rows = json::parse(body, nullptr, false);
  if (!rows.is_array()) return Fail(kName, url + ": the answer is not a JSON array", 1);
  if (flags.Has("json")) {
    std::printf("%s\n", rows.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    std::fputs(FormatResultsTable(body).c_str(), stdout);
  }
  return 0;
}

std::string FormatUtc(std::int64_t ms) { return FormatRfc3339Seconds(ms); }

std::string Cell(const json& row, const char* key) {
  if (!row.contains(key) || row[key].is_null()) return "-";
  const json& v = row[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// "45s", "3m05s", "2h07m", rounded up.
std::string FormatSeconds(double seconds) {
  const auto s = static_cast<std::uint64_t>(std::ceil(seconds));
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%us", static_cast<unsigned>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%um%02us", static_cast<unsigned>(s / 60),
                  static_cast<unsigned>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lluh%02um", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned>(s % 3600 / 60));
  }
  return buf;
}

json EtaJson(const std::optional<double>& eta_s) {
  return eta_s ? json(std::round(*eta_s * 10) / 10) : json();  // 0.1 s is plenty
}

}  // namespace

std::string MakeJobId(std::int64_t wall_ms, std::uint16_t random) {
  return sync::MakeScanJobId(wall_ms, random);
}

JobStatusView BuildJobStatus(const SharedJobSpec& spec,
                             const std::map<std::uint32_t, std::string>& claims,
                             const std::map<std::uint32_t, std::string>& progress,
                             const std::map<std::uint32_t, std::string>& done,
                             const std::map<std::uint32_t, std::uint64_t>& totals) {
  return zk::BuildJobStatus(spec, zk::JobNodes{claims, progress, done, totals},
                            scan::ScanSpec{}.connect_timeout);
}

std::string FormatJobStatusTable(const JobStatusView& v) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : v.rows) {
    std::string progress = "-";
    if (r.checkpoint && r.total) {
      progress = std::to_string(*r.checkpoint) + "/" + std::to_string(*r.total);
      if (*r.total > 0) {
        progress += " (" + std::to_string(*r.checkpoint * 100 / *r.total) + "%)";
      }
    } else if (r.checkpoint) {
      progress = std::to_string(*r.checkpoint);
    }
    rows.push_back({std::to_string(r.shard), r.state, r.device.empty() ? "-" : r.device, progress,
                    r.results ? std::to_string(*r.results) : "-"});
  }
  std::string out = FormatTable({"SHARD", "STATE", "DEVICE", "CHECKPOINT", "RESULTS"}, rows);
  out += "job " + v.job + ": " + std::to_string(v.done) + "/" + std::to_string(v.shards) +
         " shards done, " + std::to_string(v.claimed) + " claimed, " + std::to_string(v.waiting) +
         " waiting; " + std::to_string(v.results) + " results from done shards\n";
  if (!v.eta_s) {
    out += "ETA unknown (" + v.eta_unknown + ")\n";
  } else if (v.done == v.shards) {
    out += "ETA 0 (all shards done)\n";
  } else {
    out += "ETA ~" + FormatSeconds(*v.eta_s) + "\n";
  }
  if (!v.devices.empty()) {
    std::string line;
    for (const auto& [device, d] : v.devices) {
      line += (line.empty() ? "" : ", ") + device;
      if (d.done) line += " " + std::to_string(d.done) + " done";
      if (d.done && d.claimed) line += " +";
      if (d.claimed) line += " " + std::to_string(d.claimed) + " claimed";
      if (d.total_pps) line += " (" + std::to_string(std::llround(*d.total_pps)) + " pps over all its scans)";
    }
    out += "per device: " + line + "\n";
  }
  return out;
}

std::string FormatJobStatusJson(const JobStatusView& v) {
  json shards = json::array();
  for (const auto& r : v.rows) {
    shards.push_back({{"shard", r.shard},
                      {"state", r.state},
                      {"device", r.device.empty() ? json() : json(r.device)},
                      {"checkpoint", r.checkpoint ? json(*r.checkpoint) : json()},
                      {"total", r.total ? json(*r.total) : json()},
                      {"results", r.results ? json(*r.results) : json()},
                      {"eta_s", EtaJson(r.eta_s)}});
  }
  json devices = json::object();
  for (const auto& [device, d] : v.devices) {
    devices[device] = {{"done", d.done}, {"claimed", d.claimed}, {"results", d.results}};
    if (d.total_pps) devices[device]["total_pps"] = std::llround(*d.total_pps);
  }
  json out = {{"job", v.job},
              {"shards", v.shards},
              {"done", v.done},
              {"claimed", v.claimed},
              {"waiting", v.waiting},
              {"results", v.results},
              {"eta_s", EtaJson(v.eta_s)},
              {"devices", devices},
              {"shard_states", shards}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string FormatResultsTable(const std::string& rows_json) {
  json rows = json::parse(rows_json, nullptr, false);
  std::vector<std::vector<std::string>> table;
  if (rows.is_array()) {
    for (const json& row : rows) {
      if (!row.is_object()) continue;
      json line = row.contains("result") ? row["result"] : json();
      if (line.is_string()) line = json::parse(line.get<std::string>(), nullptr, false);
      std::string shard = line.is_object() ? Cell(line, "shard") : "-";
      std::string ts = "-";
      if (row.contains("first_seen_ms") && row["first_seen_ms"].is_number_integer()) {
        ts = FormatUtc(row["first_seen_ms"].get<std::int64_t>());
      }
      table.push_back(
          {Cell(row, "ip"), Cell(row, "port"), Cell(row, "proto"), Cell(row, "device"), shard, ts});
    }
  }
  return FormatTable({"IP", "PORT", "PROTO", "DEVICE", "SHARD", "TS"}, table);
}

int RunScanJobsCommand(std::span<char* const> args) {
  const std::vector<std::string_view> value_flags = {
      "targets",    "ports",      "rate",      "shards",  "mode",      "group",
      "devices",    "id",         "max-parallel", "db",   "zk",        "zk-root",
      "collector",  "token-file", "limit",     "zk-user", "zk-password-file",
      "exclude",    "retries",    "wait",      "seed",    "interval",  "state"};
  SplitArgs split = SplitPositionals(args, value_flags);
  const std::string action = split.positionals.empty() ? "" : split.positionals[0];
  const std::vector<std::string_view> zk_flags = {"zk", "zk-root", "zk-user", "zk-password-file"};
  std::vector<std::string_view> allowed;
  std::vector<std::string_view> bools;
  if (action == "submit") {
    allowed = {"targets", "ports",   "rate",    "shards",  "mode", "group", "devices",
               "id",      "max-parallel", "db", "exclude", "retries", "wait", "seed"};
    bools = {"banners", "force"};
  } else if (action == "status") {
    allowed = zk_flags;
    allowed.push_back("interval");
    bools = {"json", "zk-open-acl", "watch"};
  } else if (action == "list") {
    allowed = zk_flags;
    allowed.insert(allowed.end(), {"db", "limit", "state"});
    bools = {"json", "zk-open-acl"};
  } else if (action == "results") {
    allowed = {"collector", "token-file", "limit"};
    bools = {"json"};
  } else if (action == "cancel") {
    allowed = {"db"};
  } else {
    return Fail(kName,
                action.empty()
                    ? "expected submit, list, status, results or cancel (see picket scan --help)"
                    : "unknown action '" + action +
                          "' (expected submit, list, status, results or cancel)",
                2);
  }
  FlagParser flags(allowed, bools);
  if (auto st = flags.Parse(split.flags); !st.ok()) {
    return Fail(kName, action + ": " + st.message(), 2);
  }
  if (action == "submit") return RunSubmit(split.positionals, flags);
  if (action == "list") return RunList(split.positionals, flags);
  if (action == "status") return RunStatus(split.positionals, flags);
  if (action == "cancel") return RunCancel(split.positionals, flags);
  return RunResults(split.positionals, flags);
}

}  // namespace picket::cli
