#include "picket/sync/sync_documents.h"

#include <nlohmann/json.hpp>

#include "picket/common/shared_job.h"
#include "picket/sync/operator_rows.h"
#include "picket/common/config_check.h"

namespace picket::sync {

namespace {

using Json = nlohmann::json;

Result<Json> ParseConfigObject(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("config: not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("config: not a JSON object");
  return doc;
}

// Runs the daemon's own validator (types, ranges, CIDRs, ports, BPF) so sync
// never pushes what every device would refuse.
Result<std::string> ValidatedConfig(Json doc, std::int64_t version) {
  doc["version"] = version;
  std::string text = doc.dump();
  ConfigCheck check = CheckDaemonConfigText(text);
  if (!check.ok()) return check.ToStatus();
  return text;
}

std::string Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

Result<Json> DeviceList(std::string_view text) {
  const std::string trimmed = Trim(text);
  if (trimmed.empty()) return Json::array();
  if (trimmed.front() == '[') {
    Json list = Json::parse(trimmed, nullptr, /*allow_exceptions=*/false);
    if (list.is_discarded()) return Status::InvalidArgument("devices: not a valid JSON array");
    return list;  // element checks are ParseSharedJobSpec's
  }
  Json list = Json::array();
  std::string_view rest = trimmed;
  while (true) {
    const std::size_t comma = rest.find(',');
    std::string one = Trim(rest.substr(0, comma));
    if (!one.empty()) list.push_back(one);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return list;
}

}  // namespace

Result<std::string> BuildDeviceDocument(const DeviceRow& row) {
  if (!row.enabled) {
    // Whatever the stored config says: a disabled device captures and scans nothing.
    return ValidatedConfig(Json{{"capture", {{"enabled", false}}}, {"scans", Json::array()}},
                           row.version);
  }
  auto doc = ParseConfigObject(row.config);
  if (!doc.ok()) return doc.status();
  return ValidatedConfig(std::move(doc).value(), row.version);
}

Result<std::string> BuildGroupDocument(const GroupRow& row) {
  auto doc = ParseConfigObject(row.config);
  if (!doc.ok()) return doc.status();
  return ValidatedConfig(std::move(doc).value(), row.version);
}

bool JobIsActive(const JobRow& row) { return row.state == "active"; }

Result<std::string> BuildJobDocument(const JobRow& row) {
  Json doc = {{"targets", row.targets}, {"ports", row.ports}};
  if (!row.exclude.empty()) doc["exclude"] = row.exclude;
  if (row.rate_pps) doc["rate_pps"] = *row.rate_pps;
  // A row without a mode scans like `picket scan submit` does by default (operator_rows.h).
  doc["mode"] = row.mode ? *row.mode : std::string(kDefaultScanMode);
  if (row.retries) doc["retries"] = *row.retries;
  if (row.wait_ms) doc["wait_ms"] = *row.wait_ms;
  if (row.banners) doc["banners"] = *row.banners != 0;
  if (row.shards) doc["shards"] = *row.shards;
  if (row.max_parallel_shards) doc["max_parallel_shards"] = *row.max_parallel_shards;
  if (!row.group.empty()) doc["group"] = row.group;
  auto devices = DeviceList(row.devices);
  if (!devices.ok()) return devices.status();
  if (!devices->empty()) doc["devices"] = std::move(devices).value();
  if (row.seed) doc["seed"] = *row.seed;
  std::string text = doc.dump();
  if (auto spec = ParseSharedJobSpec(row.id, text); !spec.ok()) return spec.status();
  return text;
}

std::optional<std::int64_t> EmbeddedVersion(std::string_view znode_data) {
  Json doc = Json::parse(znode_data, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  auto it = doc.find("version");
  if (it == doc.end()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(INT64_MAX)) return INT64_MAX;
    return static_cast<std::int64_t>(v);
  }
  if (it->is_number_integer()) return it->get<std::int64_t>();
  return std::nullopt;
}

WriteDecision DecideWrite(const std::optional<std::string>& current, std::int64_t row_version) {
  if (!current) return WriteDecision::kCreate;
  const auto version = EmbeddedVersion(*current);
  if (version && *version >= row_version) return WriteDecision::kUpToDate;
  return WriteDecision::kSet;
}

std::string SyncErrorDocument(std::int64_t version, std::string_view error, std::int64_t at_ms) {
  return Json{{"version", version}, {"error", std::string(error)}, {"at_ms", at_ms}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
}

std::string JobVersionDocument(std::int64_t version) { return Json{{"version", version}}.dump(); }

bool IsValidNodeName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace picket::sync
