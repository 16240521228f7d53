#include "picket/common/config_check.h"

#include "picket/common/filter_check.h"

namespace picket {

namespace {

// The filter is compiled whenever it was read cleanly, so one run lists every
// error; when the document itself is broken there is nothing to compile. A bad
// snaplen does not hide a bad filter: it is compiled with the default snaplen.
void AddLibraryChecks(ConfigCheck& check) {
  bool snaplen_bad = false;
  for (const auto& e : check.errors) {
    if (e.path == "/" || e.path == "/capture" || e.path.rfind("/capture/filter", 0) == 0) return;
    snaplen_bad = snaplen_bad || e.path == "/capture/snaplen";
  }
  if (!snaplen_bad) {
    AddCaptureChecks(check);
    return;
  }
  ConfigCheck filter_only;
  filter_only.config.capture.filter = check.config.capture.filter;
  AddCaptureChecks(filter_only);
  for (auto& e : filter_only.errors) check.errors.push_back(std::move(e));
}

}  // namespace

ConfigCheck CheckDaemonConfigText(std::string_view json_text) {
  ConfigCheck check = ParseDaemonConfig(json_text);
  AddLibraryChecks(check);
  return check;
}

ConfigCheck CheckDaemonConfigValue(const nlohmann::json& document) {
  ConfigCheck check = ParseDaemonConfigValue(document);
  AddLibraryChecks(check);
  return check;
}

ConfigCheck CheckDaemonConfigFile(const std::string& path) {
  ConfigCheck check = LoadDaemonConfigFile(path);
  AddLibraryChecks(check);
  return check;
}

ConfigCheck EmbeddedDefaultConfig() { return ConfigCheck{}; }

std::string FormatConfigErrors(std::string_view origin, const ConfigCheck& check) {
  if (check.errors.size() == 1 && check.errors[0].message.starts_with("cannot read ")) {
    return check.errors[0].message + "\n";  // a missing file is not an invalid one
  }
  std::string out = std::string(origin) + " is invalid, " + std::to_string(check.errors.size()) +
                    " error(s):\n";
  for (const auto& e : check.errors) out += "  " + e.ToString() + "\n";
  return out;
}

}  // namespace picket
