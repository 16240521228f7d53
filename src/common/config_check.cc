#include "picket/common/config_check.h"

#include "picket/common/filter_check.h"

namespace picket {

namespace {

// The filter is compiled whenever it was read cleanly, so one run lists every
// error; when the document itself is broken there is nothing to compile.
void AddLibraryChecks(ConfigCheck& check) {
  for (const auto& e : check.errors) {
    if (e.path == "/" || e.path == "/capture" || e.path.rfind("/capture/filter", 0) == 0 ||
        e.path == "/capture/snaplen") {
      return;
    }
  }
  AddCaptureChecks(check);
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
  std::string out = std::string(origin) + " is invalid, " + std::to_string(check.errors.size()) +
                    " error(s):\n";
  for (const auto& e : check.errors) out += "  " + e.ToString() + "\n";
  return out;
}

}  // namespace picket
