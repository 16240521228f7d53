#include "picket/zk/json_merge.h"

#include <doctest/doctest.h>

#include "picket/common/json_limits.h"
#include "picket/zk/config_watcher.h"

namespace picket::zk {
namespace {

using nlohmann::json;

TEST_CASE("DeepMerge: objects merge recursively, overlay wins on conflicts") {
  json base = json::parse(R"({"capture":{"iface":"eth0","snaplen":96,"filter":"tcp"},"log":{"level":"info"}})");
  json overlay = json::parse(R"({"capture":{"filter":"udp"},"upload":{"url":"http://c"}})");
  DeepMerge(base, overlay);
  CHECK(base == json::parse(R"({"capture":{"iface":"eth0","snaplen":96,"filter":"udp"},
                                "log":{"level":"info"},"upload":{"url":"http://c"}})"));
}

TEST_CASE("DeepMerge: arrays and scalars are replaced, not merged") {
  json base = json::parse(R"({"scans":[{"id":"a"},{"id":"b"}],"n":1,"o":{"x":1}})");
  DeepMerge(base, json::parse(R"({"scans":[{"id":"c"}],"n":"two","o":[1]})"));
  CHECK(base == json::parse(R"({"scans":[{"id":"c"}],"n":"two","o":[1]})"));
}

TEST_CASE("DeepMerge: an object replaces a scalar and null replaces a value") {
  json base = json::parse(R"({"a":1,"b":{"c":2}})");
  DeepMerge(base, json::parse(R"({"a":{"x":true},"b":null})"));
  CHECK(base == json::parse(R"({"a":{"x":true},"b":null})"));
}

TEST_CASE("DeepMerge: three levels deep") {
  json base = json::parse(R"({"a":{"b":{"c":1,"d":2}}})");
  DeepMerge(base, json::parse(R"({"a":{"b":{"d":3,"e":4}}})"));
  CHECK(base == json::parse(R"({"a":{"b":{"c":1,"d":3,"e":4}}})"));
}

TEST_CASE("MergeJsonDocuments: empty documents count as {}") {
  CHECK(MergeJsonDocuments("", "").value() == "{}");
  CHECK(MergeJsonDocuments(R"({"a":1})", "  ").value() == R"({"a":1})");
  CHECK(MergeJsonDocuments("", R"({"b":2})").value() == R"({"b":2})");
}

TEST_CASE("MergeJsonDocuments: bad JSON or non-objects are InvalidArgument naming the document") {
  auto bad = MergeJsonDocuments("{", "{}");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("base") != std::string::npos);
  auto array = MergeJsonDocuments("{}", "[1,2]");
  REQUIRE_FALSE(array.ok());
  CHECK(array.status().message().find("overlay") != std::string::npos);
}

WatchEvent Node(std::string data, std::int32_t version) {
  return WatchEvent{"/x", true, std::move(data), version};
}

TEST_CASE("ConfigWatcher::Merge: device wins, version from the device document or znode") {
  auto [merged, version] = ConfigWatcher::Merge(Node(R"({"a":{"x":1,"y":2},"version":3})", 5),
                                                Node(R"({"a":{"y":9},"version":42})", 7));
  CHECK(json::parse(merged) == json::parse(R"({"a":{"x":1,"y":9},"version":42})"));
  CHECK(version == 42);

  auto [m2, v2] = ConfigWatcher::Merge(Node(R"({"a":1})", 5), Node(R"({"b":2})", 7));
  CHECK(json::parse(m2) == json::parse(R"({"a":1,"b":2})"));
  CHECK(v2 == 7);
}

TEST_CASE("ConfigWatcher::Merge: missing nodes count as {}") {
  auto [m1, v1] = ConfigWatcher::Merge(std::nullopt, std::nullopt);
  CHECK(m1 == "{}");
  CHECK(v1 == -1);
  auto [m2, v2] = ConfigWatcher::Merge(Node(R"({"a":1})", 2), std::nullopt);
  CHECK(m2 == R"({"a":1})");
  CHECK(v2 == -1);
  auto [m3, v3] = ConfigWatcher::Merge(std::nullopt, Node(R"({"b":1})", 4));
  CHECK(m3 == R"({"b":1})");
  CHECK(v3 == 4);
}

TEST_CASE("ConfigWatcher::Merge: unmergeable text is passed through for the validator") {
  auto [m1, v1] = ConfigWatcher::Merge(Node(R"({"a":1})", 1), Node("not json", 3));
  CHECK(m1 == "not json");
  CHECK(v1 == 3);
  auto [m2, v2] = ConfigWatcher::Merge(Node("[1]", 1), Node(R"({"b":1})", 3));
  CHECK(m2 == "[1]");
}

// A znode holds up to 1 MiB: 200,000 levels of nesting fit. Copying, merging
// or dumping such a document recursed once per level and overflowed the
// stack (zk_documents_fuzzer); the text is refused before it is parsed.
TEST_CASE("Documents nested deeper than kMaxJsonDepth are refused, naming the depth") {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const std::string deep_object = R"({"a":)" + deep + "}";
  auto refused = ParseJsonObjectDocument(deep_object, "device document");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("device document") != std::string::npos);
  CHECK(refused.status().message().find("32") != std::string::npos);
  CHECK_FALSE(MergeJsonDocuments("{}", deep_object).ok());
  auto [merged, version] = ConfigWatcher::Merge(Node("{}", 1), Node(deep_object, 3));
  CHECK(merged == deep_object);  // passed through: the validator refuses it
  CHECK(version == 3);
  const std::string just_deep_enough =
      R"({"a":)" + std::string(kMaxJsonDepth - 1, '[') + std::string(kMaxJsonDepth - 1, ']') + "}";
  CHECK(ParseJsonObjectDocument(just_deep_enough, "device document").ok());
}

TEST_CASE("Config paths") {
  ConfigWatcherOptions o{"/picket", "edge", "dev-1"};
  CHECK(GroupConfigPath(o) == "/picket/groups/edge/config");
  CHECK(DeviceConfigPath(o) == "/picket/devices/dev-1/config");
}

TEST_CASE("ConfigWatcher::GroupVersion: the group document's version, else the znode's") {
  CHECK(ConfigWatcher::GroupVersion(std::nullopt) == -1);
  CHECK(ConfigWatcher::GroupVersion(Node(R"({"version":1764787300000003})", 2)) ==
        1764787300000003);
  CHECK(ConfigWatcher::GroupVersion(Node(R"({"log":{}})", 4)) == 4);
  CHECK(ConfigWatcher::GroupVersion(Node("not json", 5)) == 5);
}

}  // namespace
}  // namespace picket::zk
