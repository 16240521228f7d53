// One collector node's data as devices read it (any ZooKeeper writer can put
// anything there): a normalised URL or an error saying why, never a crash.
#include "picket/zk/collector_directory.h"

#include <doctest/doctest.h>

#include <string>

namespace picket::zk {
namespace {

TEST_CASE("CollectorUrlFromNode: the url of an object, normalised") {
  auto url = CollectorUrlFromNode(R"({"url":"http://127.0.0.1:8750","id":"c1"})");
  REQUIRE(url.ok());
  CHECK(url->find("127.0.0.1:8750") != std::string::npos);
}

TEST_CASE("CollectorUrlFromNode: anything else is refused with the reason") {
  CHECK(CollectorUrlFromNode("[1]").status().message().find("object") != std::string::npos);
  CHECK(CollectorUrlFromNode(R"({"url":7})").status().message().find("url") != std::string::npos);
  CHECK_FALSE(CollectorUrlFromNode(R"({"url":"ftp://x"})").ok());
  const std::string deep = R"({"url":"http://h/","x":)" + std::string(200000, '[') +
                           std::string(200000, ']') + "}";
  CHECK_FALSE(CollectorUrlFromNode(deep).ok());
}

}  // namespace
}  // namespace picket::zk
