#include "picket/supervisor/config_loader.h"

#include "picket/capture/filter_check.h"

namespace picket::supervisor {

ConfigCheck CheckDaemonConfigText(std::string_view json_text) {
  ConfigCheck check = ParseDaemonConfig(json_text);
  if (check.ok()) capture::AddCaptureChecks(check);
  return check;
}

ConfigCheck CheckDaemonConfigFile(const std::string& path) {
  ConfigCheck check = LoadDaemonConfigFile(path);
  if (check.ok()) capture::AddCaptureChecks(check);
  return check;
}

ConfigCheck EmbeddedDefaultConfig() { return ConfigCheck{}; }

}  // namespace picket::supervisor
