// Deep merge of configuration documents: objects are merged key by key
// (recursively), everything else (arrays, scalars, null) in the overlay
// replaces the base value.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "picket/common/status.h"

namespace picket::zk {

// Merges `overlay` into `base` in place. When either is not an object, the
// overlay replaces the base wholesale.
void DeepMerge(nlohmann::json& base, const nlohmann::json& overlay);

// One document as a JSON object (empty or blank text counts as {});
// InvalidArgument names `which` when it is not valid JSON or not an object.
Result<nlohmann::json> ParseJsonObjectDocument(std::string_view text, std::string_view which);

// Parses both documents (an empty string counts as {}), deep-merges `overlay`
// over `base` and returns the compact serialization. InvalidArgument names
// which document is not valid JSON or not an object.
Result<std::string> MergeJsonDocuments(std::string_view base, std::string_view overlay);

}  // namespace picket::zk
