#include "picket/sync/operator_rows.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "picket/common/config_check.h"
#include "picket/common/net_address.h"
#include "picket/common/shared_job.h"
#include "picket/common/units.h"
#include "picket/sync/sync_documents.h"

namespace picket::sync {

namespace {

using nlohmann::json;

Result<std::uint64_t> UintField(const FieldNamer& name, std::string_view field,
                                const std::string& text, std::uint64_t min, std::uint64_t max) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n < min ||
      n > max) {
    return Status::InvalidArgument(name(field) + " '" + text + "': expected an integer " +
                                   std::to_string(min) + ".." + std::to_string(max));
  }
  return n;
}

std::uint64_t SaturatingMul(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
  return a * b;
}

Result<bool> BoolField(const FieldNamer& name, std::string_view field, const std::string& text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return Status::InvalidArgument(name(field) + " '" + text + "': expected true or false");
}

// The optional numeric and text fields that go into the row as given.
Status ParseProbeFields(const ScanJobFields& f, const FieldNamer& name, ScanJobRow& row) {
  if (f.exclude) row.exclude = *f.exclude;
  if (f.retries) {
    auto n = UintField(name, "retries", *f.retries, 0, 10);
    if (!n.ok()) return n.status();
    row.retries = *n;
  }
  if (f.wait) {
    auto d = ParseDuration(*f.wait);
    if (!d.ok() || d->count() < 0 || d->count() > 60'000) {
      return Status::InvalidArgument(name("wait") + " '" + *f.wait +
                                     "': expected a duration 0s..60s (\"500ms\", \"2s\")");
    }
    row.wait_ms = static_cast<std::uint64_t>(d->count());
  }
  if (f.banners) {
    auto b = BoolField(name, "banners", *f.banners);
    if (!b.ok()) return b.status();
    row.banners = *b;
  }
  if (f.seed) {
    auto n = UintField(name, "seed", *f.seed, 1, UINT64_MAX);
    if (!n.ok()) return n.status();
    row.seed = *n;
  }
  return Status::Ok();
}

std::optional<std::uint64_t> OptUint(const SqlValue& v) {
  if (!v) return std::nullopt;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size()) return std::nullopt;
  return n;
}

std::optional<std::int64_t> OptMillis(const SqlValue& v) {
  // UNIX_TIMESTAMP(ts(6)) answers "1764790000.123456".
  if (!v || v->empty()) return std::nullopt;
  char* end = nullptr;
  const double seconds = std::strtod(v->c_str(), &end);
  if (end != v->c_str() + v->size() || seconds <= 0) return std::nullopt;
  return static_cast<std::int64_t>(seconds * 1000);
}

}  // namespace

ScanJobSize EstimateScanJobSize(const ScanJobRow& row) {
  ScanJobSize size;
  if (auto targets = ParseTargetList(row.targets); targets.ok()) {
    size.addresses = CountAddresses(*targets);
  }
  if (auto ports = ParsePortList(row.ports); ports.ok()) size.ports = CountPorts(*ports);
  size.space = SaturatingMul(size.addresses, size.ports);
  size.probes = SaturatingMul(size.space, 1 + row.retries.value_or(ScanProbe{}.retries));
  return size;
}

SizeVerdict JudgeScanJobSize(const ScanJobSize& size, bool force) {
  const std::string what = std::to_string(size.addresses) + " addresses x " +
                           std::to_string(size.ports) + " ports";
  if (size.space > kMaxScanSpace) {
    return {true, what + " = " + std::to_string(size.space) + " targets is over the " +
                      std::to_string(kMaxScanSpace) +
                      " a device scans (split the job into several)"};
  }
  const std::string probes = what + " x (1 + retries) = " + std::to_string(size.probes) + " probes";
  if (size.probes > kMaxProbesUnforced && !force) {
    return {true, probes + " is over " + std::to_string(kMaxProbesUnforced) +
                      " (force it: --force, or \"force\": true in POST /v1/scans)"};
  }
  if (size.probes > kWarnProbes) {
    return {false, "warning: " + probes + " is over " + std::to_string(kWarnProbes) +
                       ": it will run a long time"};
  }
  return {};
}

std::string MakeScanJobId(std::int64_t wall_ms, std::uint16_t random) {
  std::time_t t = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  char hex[8];
  std::snprintf(hex, sizeof hex, "%04x", static_cast<unsigned>(random));
  return std::string("scan-") + stamp + "-" + hex;
}

Result<ScanJobRow> ParseScanJobFields(const ScanJobFields& f, const FieldNamer& name,
                                      const std::string& drawn_id) {
  for (auto [field, value] : {std::pair{"targets", &f.targets}, std::pair{"ports", &f.ports},
                              std::pair{"rate", &f.rate}, std::pair{"shards", &f.shards}}) {
    if (!*value) return Status::InvalidArgument(name(field) + " is required");
  }
  if (f.group && f.devices) {
    return Status::InvalidArgument("give " + name("group") + " or " + name("devices") +
                                   ", not both");
  }
  ScanJobRow row;
  row.targets = *f.targets;
  row.ports = *f.ports;
  auto rate = UintField(name, "rate", *f.rate, 1, kMaxScanRatePps);
  if (!rate.ok()) return rate.status();
  row.rate_pps = *rate;
  auto shards = UintField(name, "shards", *f.shards, 1, kMaxScanShards);
  if (!shards.ok()) return shards.status();
  row.shards = *shards;
  if (f.max_parallel) {
    auto n = UintField(name, "max_parallel", *f.max_parallel, 1, kMaxScanShards);
    if (!n.ok()) return n.status();
    row.max_parallel = *n;
  }
  row.id = f.id ? *f.id : drawn_id;
  if (!IsValidNodeName(row.id)) {
    return Status::InvalidArgument(name("id") + " '" + row.id + "': expected [A-Za-z0-9._-]{1,64}");
  }
  row.mode = f.mode ? *f.mode : std::string(kDefaultScanMode);
  row.group = f.group;
  PICKET_RETURN_IF_ERROR(ParseProbeFields(f, name, row));
  if (f.devices) {
    std::string_view rest = *f.devices;
    while (true) {
      std::size_t comma = rest.find(',');
      std::string one(rest.substr(0, comma));
      if (!IsValidNodeName(one)) {
        return Status::InvalidArgument(name("devices") + " '" + *f.devices + "': '" + one +
                                       "' is not a device id (expected [A-Za-z0-9._-]{1,64})");
      }
      row.devices.push_back(one);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return row;
}

std::string ScanJobSpecJson(const ScanJobRow& row) {
  json spec = {{"targets", row.targets},
               {"ports", row.ports},
               {"rate_pps", row.rate_pps},
               {"shards", row.shards}};
  if (row.mode) spec["mode"] = *row.mode;
  if (row.max_parallel) spec["max_parallel_shards"] = *row.max_parallel;
  if (row.group) spec["group"] = *row.group;
  if (!row.devices.empty()) spec["devices"] = row.devices;
  if (row.exclude) spec["exclude"] = *row.exclude;
  if (row.retries) spec["retries"] = *row.retries;
  if (row.wait_ms) spec["wait_ms"] = *row.wait_ms;
  if (row.banners) spec["banners"] = *row.banners;
  if (row.seed) spec["seed"] = *row.seed;
  return spec.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status CheckScanJob(const ScanJobRow& row) {
  auto parsed = ParseSharedJobSpec(row.id, ScanJobSpecJson(row));
  if (parsed.ok()) return Status::Ok();
  // The parser's header line names the id, which may be a drawn one nobody created.
  std::string message = parsed.status().message();
  if (message.starts_with("shared job \"")) {
    const std::size_t end = message.find('\n');
    if (end != std::string::npos) message = message.substr(end + 1);
  }
  message.erase(0, message.find_first_not_of(' '));
  return Status::InvalidArgument(message);
}

Status InsertScanJob(MariaDbConnection& sql, const ScanJobRow& row) {
  auto existing = sql.Query("SELECT state FROM scan_jobs WHERE id = " + sql.Quote(row.id));
  if (!existing.ok()) return existing.status();
  if (!existing->empty()) {
    return Status::AlreadyExists("job '" + row.id + "' exists already in scan_jobs");
  }
  auto opt_int = [](std::optional<std::uint64_t> v) {
    return v ? std::to_string(*v) : std::string("NULL");
  };
  auto opt_text = [&sql](const std::optional<std::string>& v) {
    return v ? sql.Quote(*v) : std::string("NULL");
  };
  const std::string statement =
      "INSERT INTO scan_jobs (id, targets, ports, rate_pps, mode, shards, max_parallel_shards, "
      "group_name, devices, exclude, retries, wait_ms, banners, seed) VALUES (" +
      sql.Quote(row.id) + ", " + sql.Quote(row.targets) + ", " + sql.Quote(row.ports) + ", " +
      std::to_string(row.rate_pps) + ", " + opt_text(row.mode) + ", " +
      std::to_string(row.shards) + ", " + opt_int(row.max_parallel) + ", " + opt_text(row.group) +
      ", " + (row.devices.empty() ? std::string("NULL") : sql.Quote(json(row.devices).dump())) +
      ", " + opt_text(row.exclude) + ", " + opt_int(row.retries) + ", " + opt_int(row.wait_ms) +
      ", " + (row.banners ? std::string(*row.banners ? "1" : "0") : std::string("NULL")) + ", " +
      opt_int(row.seed) + ")";
  return sql.Execute(statement);
}

Result<std::vector<std::string>> EligibilityWarnings(MariaDbConnection& sql,
                                                    const ScanJobRow& row) {
  std::vector<std::string> out;
  if (!row.devices.empty()) {
    std::string list;
    for (const auto& d : row.devices) list += (list.empty() ? "" : ", ") + sql.Quote(d);
    auto rows = sql.Query("SELECT id, enabled FROM devices WHERE id IN (" + list + ")");
    if (!rows.ok()) return rows.status();
    std::map<std::string, bool> enabled;
    for (const auto& r : *rows) {
      if (r.size() == 2 && r[0]) enabled[*r[0]] = r[1].value_or("1") != "0";
    }
    std::size_t usable = 0;
    for (const auto& d : row.devices) {
      auto it = enabled.find(d);
      if (it == enabled.end()) {
        out.push_back("warning: device '" + d + "' has no row in devices");
      } else if (!it->second) {
        out.push_back("warning: device '" + d + "' is disabled (enabled = 0): it scans nothing");
      } else {
        ++usable;
      }
    }
    if (usable == 0) {
      out.push_back("warning: no eligible device: the job waits until a listed device exists");
    }
    return out;
  }
  if (row.group) {
    auto rows = sql.Query("SELECT COUNT(*) FROM devices WHERE enabled <> 0 AND group_name = " +
                          sql.Quote(*row.group));
    if (!rows.ok()) return rows.status();
    if (rows->empty() || rows->front().empty() || OptUint(rows->front()[0]).value_or(0) == 0) {
      out.push_back("warning: no enabled device row has group_name '" + *row.group +
                    "': no eligible device, the job waits until one joins the group");
    }
  }
  return out;
}

Result<std::vector<ScanJobListing>> ListScanJobs(MariaDbConnection& sql, std::uint64_t limit,
                                                 const std::string& state) {
  auto rows = sql.Query(
      "SELECT id, targets, exclude, ports, mode, group_name, devices, state, shards, rate_pps, "
      "retries, UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(finished_at), version FROM scan_jobs" +
      (state.empty() ? std::string() : " WHERE state = " + sql.Quote(state)) +
      " ORDER BY created_at DESC, id LIMIT " + std::to_string(limit));
  if (!rows.ok()) return rows.status();
  std::vector<ScanJobListing> out;
  for (const auto& r : *rows) {
    if (r.size() != 14) return Status::Internal("unexpected row shape from scan_jobs");
    ScanJobListing j;
    j.id = r[0].value_or("");
    j.targets = r[1].value_or("");
    j.exclude = r[2].value_or("");
    j.ports = r[3].value_or("");
    j.mode = r[4].value_or("");
    j.group = r[5].value_or("");
    j.devices = r[6].value_or("");
    j.state = r[7].value_or("");
    j.shards = OptUint(r[8]);
    j.rate_pps = OptUint(r[9]);
    j.retries = OptUint(r[10]);
    j.created_ms = OptMillis(r[11]);
    j.finished_ms = OptMillis(r[12]);
    j.version = static_cast<std::int64_t>(OptUint(r[13]).value_or(0));
    out.push_back(std::move(j));
  }
  return out;
}

Result<CancelOutcome> CancelScanJob(MariaDbConnection& sql, std::string_view job) {
  auto state = sql.Query("SELECT state FROM scan_jobs WHERE id = " + sql.Quote(job));
  if (!state.ok()) return state.status();
  if (state->empty()) return Status::NotFound("no job '" + std::string(job) + "' in scan_jobs");
  CancelOutcome out;
  out.was = (*state)[0].empty() ? std::string() : (*state)[0][0].value_or("");
  if (out.was != "active") return out;
  // The state condition keeps a concurrent edit of the row from being undone.
  Status st = sql.Execute("UPDATE scan_jobs SET state = 'cancelled' WHERE id = " + sql.Quote(job) +
                          " AND state = 'active'");
  if (!st.ok()) return st;
  out.cancelled = true;
  return out;
}

Result<std::string> CheckConfigDocument(std::string_view text, std::string_view origin) {
  ConfigCheck check = CheckDaemonConfigText(text);
  if (!check.ok()) return Status::InvalidArgument(FormatConfigErrors(origin, check));
  const json doc = json::parse(text, nullptr, false);
  if (!doc.is_object()) {
    return Status::InvalidArgument(std::string(origin) + " is invalid, 1 error(s):\n  /: not a JSON object\n");
  }
  if (doc.contains("version")) {
    // picket sync sets "version" from the row; a hand-written one would be overwritten.
    return Status::InvalidArgument(std::string(origin) +
                                   " is invalid, 1 error(s):\n  /version: set by the database "
                                   "(row version), leave it out, got " +
                                   doc["version"].dump(-1, ' ', false,
                                                       json::error_handler_t::replace) +
                                   "\n");
  }
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::optional<ConfigRow>> ReadConfigRow(MariaDbConnection& db, const ConfigRowTarget& t) {
  auto rows = db.Query("SELECT config, version FROM " + t.Table() + " WHERE " + t.KeyColumn() +
                       " = " + db.Quote(t.key));
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<ConfigRow>();
  const auto& r = (*rows)[0];
  ConfigRow row;
  row.config = r.size() > 0 && r[0] ? *r[0] : std::string("{}");
  if (r.size() > 1 && r[1]) {
    const std::string& v = *r[1];
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), row.version);
    if (ec != std::errc() || end != v.data() + v.size()) {
      return Status::Internal(t.Describe() + ": version column holds '" + v + "'");
    }
  }
  return std::optional<ConfigRow>(row);
}

Result<ConfigWrite> WriteConfigRow(MariaDbConnection& sql, const ConfigRowTarget& t,
                                   const std::string& compact) {
  auto before = ReadConfigRow(sql, t);
  if (!before.ok()) return before.status();
  Status st;
  if (*before) {
    st = sql.Execute("UPDATE " + t.Table() + " SET config = " + sql.Quote(compact) + " WHERE " +
                     t.KeyColumn() + " = " + sql.Quote(t.key));
  } else {
    st = sql.Execute("INSERT INTO " + t.Table() + " (" + t.KeyColumn() + ", config) VALUES (" +
                     sql.Quote(t.key) + ", " + sql.Quote(compact) + ")");
  }
  if (!st.ok()) return st;
  auto after = ReadConfigRow(sql, t);
  if (!after.ok()) return after.status();
  if (!*after) return Status::Internal(t.Describe() + ": row vanished after the write");
  ConfigWrite out;
  if (*before) out.before = (*before)->version;
  out.after = (*after)->version;
  return out;
}

}  // namespace picket::sync
