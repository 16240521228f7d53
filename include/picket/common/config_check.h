// The supervisor's full config check: the common validator plus the checks
// that need libpcap. Everything that applies a config goes through here, so a
// config the worker would choke on is refused before the worker is touched.
#pragma once

#include <string>
#include <string_view>

#include "picket/common/daemon_config.h"

namespace picket {

ConfigCheck CheckDaemonConfigText(std::string_view json_text);
// For a document already parsed in this process (see ParseDaemonConfigValue).
ConfigCheck CheckDaemonConfigValue(const nlohmann::json& document);
ConfigCheck CheckDaemonConfigFile(const std::string& path);
// The embedded default config (no file): capture on lo, SQLite buffer, collector on loopback.
ConfigCheck EmbeddedDefaultConfig();

// The one message block every command prints when the validator refuses a
// config: "<origin> is invalid, N error(s):\n  /path: message\n...".
std::string FormatConfigErrors(std::string_view origin, const ConfigCheck& check);

}  // namespace picket
