// The page's files, embedded in the `picket` binary at build time
// (src/collector/web/* and Debian's libjs-chart.js as chart.js; see
// web_assets_embed.cmake), served at / and /ui/<name>. Immutable; any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace picket::collector {

struct EmbeddedFile {
  std::string_view name;   // "index.html", "chart.js", ...
  std::string_view bytes;
};
// Defined in the generated web_assets_data.cc.
extern const EmbeddedFile kEmbeddedWebFiles[];
extern const std::size_t kEmbeddedWebFileCount;

std::optional<EmbeddedFile> FindWebAsset(std::string_view name);
// By extension; "application/octet-stream" for anything unknown.
std::string_view WebAssetContentType(std::string_view name);

// The headers every page answer carries (config/API.md "The page").
inline constexpr std::string_view kPageCsp =
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'";

}  // namespace picket::collector
