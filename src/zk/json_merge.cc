#include "picket/zk/json_merge.h"

#include <string>

#include "picket/common/json_limits.h"

namespace picket::zk {

void DeepMerge(nlohmann::json& base, const nlohmann::json& overlay) {
  if (!base.is_object() || !overlay.is_object()) {
    base = overlay;
    return;
  }
  for (auto it = overlay.begin(); it != overlay.end(); ++it) {
    auto found = base.find(it.key());
    if (found != base.end() && found->is_object() && it.value().is_object()) {
      DeepMerge(*found, it.value());
    } else {
      base[it.key()] = it.value();
    }
  }
}

Result<nlohmann::json> ParseJsonObjectDocument(std::string_view text, std::string_view which) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return nlohmann::json::object();
  // Copying, merging and dumping recurse once per level: refuse deep text first.
  if (!JsonNestingWithin(text)) {
    return Status::InvalidArgument(std::string(which) + ": JSON nesting deeper than " +
                                   std::to_string(kMaxJsonDepth) + " levels");
  }
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument(std::string(which) + ": not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument(std::string(which) + ": not a JSON object");
  return doc;
}

Result<std::string> MergeJsonDocuments(std::string_view base, std::string_view overlay) {
  auto b = ParseJsonObjectDocument(base, "base document");
  if (!b.ok()) return b.status();
  auto o = ParseJsonObjectDocument(overlay, "overlay document");
  if (!o.ok()) return o.status();
  DeepMerge(*b, *o);
  return b->dump();
}

}  // namespace picket::zk
