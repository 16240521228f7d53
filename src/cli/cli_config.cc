#include "cli/cli_config.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "picket/common/json_limits.h"

namespace picket::cli {

namespace {

struct Key {
  std::string_view name;
  std::optional<std::string> CliConfig::*field;
};

constexpr Key kKeys[] = {
    {"collector", &CliConfig::collector},
    {"token_file", &CliConfig::token_file},
    {"zookeeper", &CliConfig::zookeeper},
    {"zk_root", &CliConfig::zk_root},
    {"zk_user", &CliConfig::zk_user},
    {"zk_password_file", &CliConfig::zk_password_file},
    {"db", &CliConfig::db},
};

std::string KnownKeys() {
  std::string out;
  for (const Key& k : kKeys) {
    if (!out.empty()) out += ", ";
    out += k.name;
  }
  return out + ", zk_open_acl";
}

}  // namespace

Result<CliConfig> ParseCliConfig(std::string_view text, const std::string& origin) {
  using nlohmann::json;
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument(origin + ": not valid JSON: " + JsonParseErrorText(e));
  }
  if (!doc.is_object()) {
    return Status::InvalidArgument(origin + ": expected a JSON object at the top level");
  }
  CliConfig config;
  config.source = origin;
  for (const auto& [name, value] : doc.items()) {
    if (name == "zk_open_acl") {
      if (!value.is_boolean()) {
        return Status::InvalidArgument(origin + ": key 'zk_open_acl' must be true or false, got " +
                                       value.dump(-1, ' ', false, json::error_handler_t::replace));
      }
      config.zk_open_acl = value.get<bool>();
      continue;
    }
    const Key* key = nullptr;
    for (const Key& k : kKeys) {
      if (k.name == name) key = &k;
    }
    if (key == nullptr) {
      return Status::InvalidArgument(origin + ": unknown key '" + name +
                                     "' (known: " + KnownKeys() + ")");
    }
    if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
      return Status::InvalidArgument(origin + ": key '" + name +
                                     "' must be a non-empty string, got " +
                                     value.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    config.*(key->field) = value.get<std::string>();
  }
  return config;
}

Result<CliConfig> LoadCliConfigFile(const std::string& path, bool must_exist) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (err == ENOENT && !must_exist) return CliConfig{};
    return FromErrno("CLI config " + path, err);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IoError("CLI config " + path + ": read failed");
  return ParseCliConfig(text.str(), path);
}

std::string CliConfigPath() {
  if (const char* env = std::getenv(std::string(kCliConfigEnv).c_str()); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.config/picket/cli.json";
}

Result<CliConfig> LoadCliConfig() {
  const char* env = std::getenv(std::string(kCliConfigEnv).c_str());
  const bool named = env != nullptr && *env != '\0';
  auto config = LoadCliConfigFile(CliConfigPath(), named);
  if (!config.ok() && named && config.status().code() == StatusCode::kNotFound) {
    return config.status().WithContext(std::string(kCliConfigEnv));
  }
  return config;
}

std::optional<std::string> FlagOrConfig(const std::optional<std::string>& flag,
                                        const std::optional<std::string>& config) {
  if (flag && !flag->empty()) return flag;
  if (config && !config->empty()) return config;
  return std::nullopt;
}

}  // namespace picket::cli
