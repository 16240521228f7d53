// Reading the collector directory (DESIGN.md §3): every running collector
// holds an ephemeral <root>/collectors/<id> with {"url": "<base URL>", ...};
// devices list them to pick where to upload.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "picket/common/status.h"
#include "picket/zk/zk_session.h"

namespace picket::zk {

// <root>/collectors, the parent of the collector nodes.
std::string CollectorsPath(const std::string& root);

// The advertised base URLs, normalised (common/url.h), sorted, without
// duplicates. Missing <root>/collectors is an empty list. Nodes that are not
// a JSON object with a valid "url" are skipped and logged once per distinct
// content; a node deleted between listing and reading is skipped. Errors
// (connection loss, permissions) name the znode. Any thread; one synchronous
// round trip per collector.
// One collector node's data: its normalised "url"; InvalidArgument saying
// why when the node is not a JSON object with a valid "url" string.
Result<std::string> CollectorUrlFromNode(std::string_view data);

Result<std::vector<std::string>> ListCollectorUrls(ZkSession& session, const std::string& root);

}  // namespace picket::zk
