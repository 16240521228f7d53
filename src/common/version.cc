#include "picket/common/version.h"

#include <gnu/libc-version.h>

#include <nlohmann/json.hpp>

namespace picket {

#define PICKET_STRINGIFY2(x) #x
#define PICKET_STRINGIFY(x) PICKET_STRINGIFY2(x)

std::string_view PicketVersion() { return PICKET_VERSION_STRING; }

std::vector<LibraryVersion> CommonLibraryVersions() {
  return {
      {"nlohmann_json", PICKET_STRINGIFY(NLOHMANN_JSON_VERSION_MAJOR) "." PICKET_STRINGIFY(
                            NLOHMANN_JSON_VERSION_MINOR) "." PICKET_STRINGIFY(NLOHMANN_JSON_VERSION_PATCH)},
      {"libstdc++", PICKET_STRINGIFY(_GLIBCXX_RELEASE) " (" PICKET_STRINGIFY(__GLIBCXX__) ")"},
      {"glibc", gnu_get_libc_version()},
  };
}

}  // namespace picket

namespace picket {

std::string FormatVersionReport(std::string_view program, const std::vector<LibraryVersion>& libs,
                                bool json) {
  if (json) {
    nlohmann::ordered_json j;
    j["program"] = program;
    j["version"] = PicketVersion();
    for (const auto& lib : libs) j["libraries"][lib.name] = lib.version;
    return j.dump() + "\n";
  }
  std::string out = std::string(program) + " " + std::string(PicketVersion()) + "\n";
  for (const auto& lib : libs) {
    out += "  " + lib.name + std::string(lib.name.size() < 14 ? 14 - lib.name.size() : 1, ' ') +
           lib.version + "\n";
  }
  return out;
}

}  // namespace picket
