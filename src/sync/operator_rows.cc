#include "picket/sync/operator_rows.h"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "picket/common/config_check.h"
#include "picket/common/shared_job.h"
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

}  // namespace

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
  row.mode = f.mode;
  row.group = f.group;
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
  return spec.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status CheckScanJob(const ScanJobRow& row) {
  auto parsed = ParseSharedJobSpec(row.id, ScanJobSpecJson(row));
  return parsed.ok() ? Status::Ok() : parsed.status();
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
      "group_name, devices) VALUES (" +
      sql.Quote(row.id) + ", " + sql.Quote(row.targets) + ", " + sql.Quote(row.ports) + ", " +
      std::to_string(row.rate_pps) + ", " + opt_text(row.mode) + ", " +
      std::to_string(row.shards) + ", " + opt_int(row.max_parallel) + ", " + opt_text(row.group) +
      ", " + (row.devices.empty() ? std::string("NULL") : sql.Quote(json(row.devices).dump())) +
      ")";
  return sql.Execute(statement);
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
