// picket's own version and the versions of the libraries linked into a binary,
// as printed by `picketd version` and `picket version`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace picket {

std::string_view PicketVersion();

struct LibraryVersion {
  std::string name;
  std::string version;
};

// Libraries every binary links through common (nlohmann_json, libstdc++, glibc).
std::vector<LibraryVersion> CommonLibraryVersions();

}  // namespace picket

namespace picket {

// "picketd 0.1.0\n  libpcap   1.10.3 ...\n" or, with json, {"picketd":"0.1.0","libraries":{...}}.
std::string FormatVersionReport(std::string_view program, const std::vector<LibraryVersion>& libs,
                                bool json);

}  // namespace picket
