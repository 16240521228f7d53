#include "collector/operator_actions.h"

#include <random>

#include "picket/common/json_limits.h"
#include "picket/common/log.h"
#include "picket/common/wire.h"
#include "picket/sync/mariadb_connection.h"

namespace picket::collector {

namespace {

using nlohmann::json;

// The API's field names are the CLI's flags with '_' for '-'.
std::string ApiFieldName(std::string_view field) { return "field '" + std::string(field) + "'"; }

std::string Shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 200 ? text.substr(0, 200) + "..." : text;
}

Result<json> ParseBodyObject(std::string_view body, std::string_view what) {
  json doc = ParseJsonBounded(body);
  if (doc.is_discarded()) {
    return Status::InvalidArgument(std::string(what) + ": not valid JSON (or nested deeper than " +
                                   std::to_string(kMaxJsonDepth) + " levels)");
  }
  if (!doc.is_object()) return Status::InvalidArgument(std::string(what) + ": not a JSON object");
  return doc;
}

}  // namespace

OperatorActions::OperatorActions(sync::DbUrl url, const Clock* clock)
    : url_(std::move(url)), clock_(clock) {}

OperatorActions::~OperatorActions() = default;

Result<sync::ScanJobFields> OperatorActions::ScanFieldsFromJson(std::string_view body) {
  auto doc = ParseBodyObject(body, "scan job");
  if (!doc.ok()) return doc.status();
  sync::ScanJobFields f;
  const std::pair<const char*, std::optional<std::string>*> fields[] = {
      {"targets", &f.targets}, {"ports", &f.ports},   {"rate", &f.rate},
      {"shards", &f.shards},   {"mode", &f.mode},     {"group", &f.group},
      {"devices", &f.devices}, {"id", &f.id},         {"max_parallel", &f.max_parallel},
      {"exclude", &f.exclude}, {"retries", &f.retries}, {"wait", &f.wait},
      {"banners", &f.banners}, {"seed", &f.seed},         {"force", &f.force}};
  for (const auto& [key, value] : doc->items()) {
    std::optional<std::string>* out = nullptr;
    for (const auto& [name, slot] : fields) {
      if (key == name) out = slot;
    }
    if (out == nullptr) {
      return Status::InvalidArgument("unknown field '" + key +
                                     "' (expected targets, ports, rate, shards, mode, group, "
                                     "devices, id, max_parallel, exclude, retries, wait, "
                                     "banners, seed, force)");
    }
    if (value.is_null()) continue;  // the same as leaving it out
    if (value.is_string()) {
      *out = value.get<std::string>();
    } else if (value.is_number_integer() ||
               ((key == "banners" || key == "force") && value.is_boolean())) {
      *out = value.dump();
    } else if (key == "devices" && value.is_array()) {
      std::string list;
      for (const json& one : value) {
        if (!one.is_string()) {
          return Status::InvalidArgument("field 'devices': " + Shown(one) +
                                         " is not a device id string");
        }
        list += (list.empty() ? "" : ",") + one.get<std::string>();
      }
      *out = list;
    } else {
      return Status::InvalidArgument("field '" + key + "': expected a string or an integer, got " +
                                     Shown(value));
    }
  }
  // An empty string is what a blank form field sends: the same as absent,
  // except for the required fields, whose check below names them.
  for (auto* optional_field : {&f.mode, &f.group, &f.devices, &f.id, &f.max_parallel, &f.exclude,
                               &f.retries, &f.wait, &f.banners, &f.seed, &f.force}) {
    if (*optional_field && optional_field->value().empty()) optional_field->reset();
  }
  return f;
}

Result<sync::MariaDbConnection*> OperatorActions::ConnectionLocked() {
  if (connection_) {
    // A cheap round trip finds a connection the server or a timeout has closed.
    auto alive = connection_->Query("SELECT 1");
    if (alive.ok()) return connection_.get();
    PICKET_LOG(kWarn, "collector", "operator database connection lost; reconnecting",
               {"db", url_.Redacted()}, {"status", alive.status()});
    connection_.reset();
  }
  auto opened = sync::MariaDbConnection::Connect(url_);
  if (!opened.ok()) {
    return Status::Unavailable("the operator database (--db " + url_.Redacted() +
                               ") is unavailable: " + opened.status().message());
  }
  connection_ = std::move(opened).value();
  return connection_.get();
}

void OperatorActions::ForgetOnUnavailable(const Status& st) {
  if (st.code() == StatusCode::kUnavailable) connection_.reset();
}

Result<json> OperatorActions::SubmitScan(std::string_view body) {
  auto fields = ScanFieldsFromJson(body);
  if (!fields.ok()) return fields.status();
  std::random_device rd;
  auto row = sync::ParseScanJobFields(
      *fields, ApiFieldName,
      sync::MakeScanJobId(clock_->WallMillis(), static_cast<std::uint16_t>(rd())));
  if (!row.ok()) return row.status();
  if (Status st = sync::CheckScanJob(*row); !st.ok()) {
    // A drawn id never existed: name the job only when the body chose its id.
    return Status::InvalidArgument((fields->id ? "job " + row->id : std::string("the job")) +
                                   " is invalid: " + st.message());
  }
  const sync::SizeVerdict size = sync::JudgeScanJobSize(
      sync::EstimateScanJobSize(*row), fields->force == std::optional<std::string>("true"));
  if (size.refuse) return Status::InvalidArgument(size.message);
  std::lock_guard lock(mu_);
  auto db = ConnectionLocked();
  if (!db.ok()) return db.status();
  auto eligibility = sync::EligibilityWarnings(**db, *row);
  if (!eligibility.ok()) {
    ForgetOnUnavailable(eligibility.status());
    return eligibility.status();
  }
  if (Status st = sync::InsertScanJob(**db, *row); !st.ok()) {
    ForgetOnUnavailable(st);
    return st;
  }
  json warnings = json::array();
  if (!size.message.empty()) warnings.push_back(size.message);
  for (const auto& w : *eligibility) warnings.push_back(w);
  PICKET_LOG(kInfo, "collector", "scan job submitted", {"job", row->id}, {"warnings", warnings.size()});
  return json{{"job", row->id}, {"warnings", warnings}};
}

Result<json> OperatorActions::CancelScan(const std::string& job) {
  std::lock_guard lock(mu_);
  auto db = ConnectionLocked();
  if (!db.ok()) return db.status();
  auto outcome = sync::CancelScanJob(**db, job);
  if (!outcome.ok()) {
    ForgetOnUnavailable(outcome.status());
    return outcome.status();
  }
  if (outcome->cancelled) PICKET_LOG(kInfo, "collector", "scan job cancelled", {"job", job});
  return json{{"job", job}, {"cancelled", outcome->cancelled},
              {"state", outcome->cancelled ? std::string("cancelled") : outcome->was}};
}

Result<json> OperatorActions::SetDeviceConfig(const std::string& device, std::string_view body) {
  if (!JsonNestingWithin(body)) {
    return Status::InvalidArgument("config: nested deeper than " + std::to_string(kMaxJsonDepth) +
                                   " levels");
  }
  auto document = sync::CheckConfigDocument(body, "config");
  if (!document.ok()) return document.status();
  sync::ConfigRowTarget target{false, device};
  std::lock_guard lock(mu_);
  auto db = ConnectionLocked();
  if (!db.ok()) return db.status();
  auto write = sync::WriteConfigRow(**db, target, *document);
  if (!write.ok()) {
    ForgetOnUnavailable(write.status());
    return write.status();
  }
  PICKET_LOG(kInfo, "collector", "device config written", {"device", device},
             {"version", write->after});
  return json{{"device", device}, {"version", write->after}, {"created", !write->before}};
}

}  // namespace picket::collector
