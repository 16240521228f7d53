#include "picket/common/shared_job.h"

#include <charconv>
#include <set>

#include "json_reader.h"
#include "picket/common/net_address.h"

namespace picket {

using config_internal::Describe;
using config_internal::Json;
using config_internal::JsonObjectReader;

namespace {

constexpr int kMaxJobDepth = 8;  // the spec is an object holding one array of strings

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

constexpr std::string_view kNameRule =
    "must be 1-64 characters of A-Z a-z 0-9 . _ - (not '.' or '..')";

// A quoted, escaped form of untrusted text for error messages.
std::string Quote(std::string_view text) {
  return Json(std::string(text)).dump(-1, ' ', true, Json::error_handler_t::replace);
}

void ReadSharding(JsonObjectReader& r, SharedJobSpec& s) {
  std::uint64_t n = 0;
  if (r.Uint("shards", 1, 1024, &n)) s.shards = static_cast<std::uint32_t>(n);
  if (r.Uint("max_parallel_shards", 1, 64, &n))
    s.max_parallel_shards = static_cast<std::uint32_t>(n);
  r.Uint("seed", 0, ~std::uint64_t{0}, &s.seed);
}

void ReadPlacement(JsonObjectReader& r, SharedJobSpec& s) {
  if (r.String("group", &s.group, 64) && !s.group.empty() && !IsValidName(s.group)) {
    r.Error("group", std::string(kNameRule) + ", got " + Quote(s.group));
  }
  const Json* list = r.Child("devices");
  if (!list) return;
  if (!list->is_array()) {
    r.Error("devices", "must be an array of device ids, got " + Describe(*list));
    return;
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    const std::string where = "devices/" + std::to_string(i);
    if (!item.is_string()) {
      r.ErrorBelow(where, "must be a device id string, got " + Describe(item));
      continue;
    }
    const auto& id = item.get_ref<const std::string&>();
    if (!IsValidName(id)) {
      r.ErrorBelow(where, std::string(kNameRule) + ", got " + Quote(id));
    } else if (!seen.insert(id).second) {
      r.ErrorBelow(where, "duplicate device id " + Quote(id));
    } else {
      s.devices.push_back(id);
    }
  }
}

}  // namespace

std::uint64_t DefaultSharedJobSeed(std::string_view job_id) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  for (unsigned char c : job_id) {
    h ^= c;
    h *= 0x100000001b3ull;  // FNV-1a 64 prime
  }
  return h | 1;
}

Result<SharedJobSpec> ParseSharedJobSpec(std::string_view job_id, std::string_view text) {
  const std::string prefix = "shared job " + Quote(job_id) + ": ";
  auto fail = [&](std::string message) { return Status::InvalidArgument(prefix + message); };
  if (!IsValidName(job_id)) return fail("job id " + std::string(kNameRule));
  if (text.size() > kMaxSharedJobBytes) {
    return fail("document is " + std::to_string(text.size()) + " bytes, the limit is " +
                std::to_string(kMaxSharedJobBytes));
  }
  if (!config_internal::JsonNestingWithin(text, kMaxJobDepth)) {
    return fail("JSON nesting deeper than " + std::to_string(kMaxJobDepth) + " levels");
  }
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    return fail("not valid JSON: " + JsonParseErrorText(e));
  }

  SharedJobSpec spec;
  spec.id = std::string(job_id);
  std::vector<ConfigError> errors;
  {
    JsonObjectReader r(root, "/", &errors);
    if (r.valid()) {
      config_internal::ReadScanProbe(r, spec);
      ReadSharding(r, spec);
      ReadPlacement(r, spec);
    }
  }  // the reader reports unknown keys as it closes
  if (!errors.empty()) {
    std::string m = std::to_string(errors.size()) + " error(s):";
    for (const auto& e : errors) m += "\n  " + e.ToString();
    return fail(std::move(m));
  }
  if (spec.seed == 0) spec.seed = DefaultSharedJobSeed(spec.id);
  return spec;
}

std::string SharedJobSpecToJson(const SharedJobSpec& s) {
  Json j = {{"targets", s.targets},
            {"exclude", s.exclude},
            {"ports", s.ports},
            {"rate_pps", s.rate_pps},
            {"mode", s.mode == ScanMode::kSyn ? "syn" : "connect"},
            {"retries", s.retries},
            {"wait_ms", s.wait.count()},
            {"banners", s.banners},
            {"shards", s.shards},
            {"max_parallel_shards", s.max_parallel_shards},
            {"group", s.group},
            {"devices", s.devices},
            {"seed", s.seed}};
  return j.dump();
}

bool JobEligible(const SharedJobSpec& spec, std::string_view device_id, std::string_view group) {
  if (!spec.devices.empty()) {
    for (const auto& d : spec.devices) {
      if (d == device_id) return true;
    }
    return false;
  }
  return spec.group.empty() || spec.group == group;
}

ScanJobConfig ToScanJobConfig(const SharedJobSpec& s) {
  ScanJobConfig c;
  static_cast<ScanProbe&>(c) = s;
  c.id = s.id;
  c.interval = std::chrono::milliseconds(0);
  return c;
}

std::uint32_t CountDoneShards(const std::vector<std::string>& children, std::uint32_t shards) {
  std::set<std::uint32_t> seen;
  for (const auto& name : children) {
    std::uint32_t n = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
    // Canonical decimal only: "01" would count shard 1 twice.
    if (name.empty() || ec != std::errc() || end != name.data() + name.size() || n >= shards ||
        (name.size() > 1 && name[0] == '0')) {
      continue;
    }
    seen.insert(n);
  }
  return static_cast<std::uint32_t>(seen.size());
}

}  // namespace picket
