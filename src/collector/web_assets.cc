#include "collector/web_assets.h"

namespace picket::collector {

std::optional<EmbeddedFile> FindWebAsset(std::string_view name) {
  for (std::size_t i = 0; i < kEmbeddedWebFileCount; ++i) {
    if (kEmbeddedWebFiles[i].name == name) return kEmbeddedWebFiles[i];
  }
  return std::nullopt;
}

std::string_view WebAssetContentType(std::string_view name) {
  struct Type {
    std::string_view suffix, type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const Type& t : kTypes) {
    if (name.ends_with(t.suffix)) return t.type;
  }
  return "application/octet-stream";
}

}  // namespace picket::collector
