// The claim and progress nodes other members write (untrusted): any shape
// reads as "nothing usable", never throws (zk_documents_fuzzer found the
// exceptions json::value raised on a mistyped field or a non-object).
#include <doctest/doctest.h>

#include <string>

#include "supervisor/shard_coordinator.h"

namespace picket::supervisor {
namespace {

TEST_CASE("claim nodes: session and device read only from an object with the right types") {
  CHECK(ClaimSessionOf(R"({"device":"gw-1","session":77})") == 77);
  CHECK(ClaimDeviceOf(R"({"device":"gw-1","session":77})") == std::optional<std::string>("gw-1"));
  for (const char* bad : {"[1]", "7", "\"x\"", "null", R"({"session":"77"})", R"({"session":1.5})",
                          R"({"session":[]})", "{", ""}) {
    CAPTURE(bad);
    CHECK(ClaimSessionOf(bad) == 0);
  }
  for (const char* bad : {"[1]", R"({"device":7})", R"({"device":null})", R"({"device":{}})", "{"}) {
    CAPTURE(bad);
    CHECK_FALSE(ClaimDeviceOf(bad).has_value());
  }
}

TEST_CASE("progress nodes: only a non-negative integer checkpoint counts") {
  CHECK(ProgressCheckpointOf(R"({"checkpoint":12})") == 12);
  for (const char* bad : {R"({"checkpoint":-1})", R"({"checkpoint":"12"})", R"({"checkpoint":1e30})",
                          R"({"checkpoint":2.5})", "[12]", "12", "", "{"}) {
    CAPTURE(bad);
    CHECK(ProgressCheckpointOf(bad) == 0);
  }
}

TEST_CASE("member nodes: a load nobody can read is never lighter than anyone") {
  const MemberLoad ok = MemberLoadOf(R"({"held":2,"pps":950})");
  CHECK(ok.held == 2);
  CHECK(ok.pps == 950);
  CHECK(MemberLoadOf(R"({"held":0})").held == 0);
  for (const char* bad : {"", "{", "[0]", "0", R"({"held":-1})", R"({"held":"0"})", R"({"held":0.5})",
                          R"({"pps":1})"}) {
    CAPTURE(bad);
    CHECK(MemberLoadOf(bad).held == kUnknownLoad);
  }
  CHECK(MemberLoadOf(R"({"held":18446744073709551615})").held == kUnknownLoad - 1);  // capped
  CHECK(MemberLoadOf(R"({"held":1,"pps":-5})").pps == 0);
  CHECK(MemberLoadOf(R"({"held":1,"pps":"fast"})").pps == 0);
  std::string deep(100'000, '[');
  CHECK(MemberLoadOf(deep).held == kUnknownLoad);  // depth-bounded: no recursion
}

}  // namespace
}  // namespace picket::supervisor
