// Reads one JSON object field by field, recording every problem as a
// ConfigError with its JSON Pointer path instead of stopping at the first.
// Fields not asked for are reported as unknown keys by the destructor, with a
// "did you mean" hint, so typos never silently fall back to defaults.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "picket/common/daemon_config.h"
#include "picket/common/json_limits.h"

namespace picket::config_internal {

using Json = nlohmann::json;

using picket::JsonNestingWithin;  // include/picket/common/json_limits.h

// Short printable form of a JSON value for error messages (at most ~60 chars).
std::string Describe(const Json& value);
std::string JoinPath(const std::string& parent, std::string_view key);

class JsonObjectReader {
 public:
  // `value` must outlive the reader. A non-object records one error and reads nothing.
  JsonObjectReader(const Json& value, std::string path, std::vector<ConfigError>* errors);
  ~JsonObjectReader();
  JsonObjectReader(const JsonObjectReader&) = delete;
  JsonObjectReader& operator=(const JsonObjectReader&) = delete;

  bool valid() const { return object_ != nullptr; }
  const std::string& path() const { return path_; }

  // Each returns true when the key was present and valid (and *out was set).
  bool Bool(std::string_view key, bool* out);
  bool String(std::string_view key, std::string* out, std::size_t max_len = 4096);
  bool Int(std::string_view key, std::int64_t min, std::int64_t max, std::int64_t* out);
  bool Int(std::string_view key, int min, int max, int* out);
  bool Uint(std::string_view key, std::uint64_t min, std::uint64_t max, std::uint64_t* out);
  bool Duration(std::string_view key, std::chrono::milliseconds min, std::chrono::milliseconds max,
                std::chrono::milliseconds* out);
  bool Size(std::string_view key, std::uint64_t min, std::uint64_t max, std::uint64_t* out);
  bool Choice(std::string_view key, std::initializer_list<std::string_view> choices,
              std::string* out);
  // The raw child for nested objects and arrays (nullptr when absent); marks the key known.
  const Json* Child(std::string_view key);

  void Error(std::string_view key, std::string message);
  // For errors below this object (array items): `suffix` is appended to the path as is.
  void ErrorBelow(std::string_view suffix, std::string message);

 private:
  const Json* Find(std::string_view key);

  const Json* object_ = nullptr;
  std::string path_;
  std::vector<ConfigError>* errors_;
  std::set<std::string, std::less<>> known_;
};

// The size of a scan's target×port space, as far as it could be read (0: unknown).
struct ScanProbeSize {
  std::uint64_t addresses = 0, ports = 0;
};

// The one scan-job schema reader (targets, exclude, ports, rate_pps, mode,
// retries, wait, banners), for device configs and shared jobs alike. `wait`
// is a duration string; shared jobs, whose MariaDB column is an integer, may
// spell it `wait_ms` instead (not both).
ScanProbeSize ReadScanProbe(JsonObjectReader& r, ScanProbe& p);

}  // namespace picket::config_internal
