// The skip-or-fail rule of picket's integration tests: a test that needs a
// server (ZooKeeper, MariaDB, root for raw sockets) skips with a message when
// it cannot run here, and fails instead when CI=true, where skipping hides a
// broken machine.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

namespace picket::testing {

inline bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// In a test case: skips (MESSAGE + return) when `missing` (an expression
// giving a std::string) says a server cannot run here, or fails under CI=true.
#define PICKET_REQUIRE_SERVER(missing)                              \
  do {                                                              \
    std::string missing_ = (missing);                               \
    if (!missing_.empty()) {                                        \
      if (::picket::testing::InCi()) FAIL("CI=true: " << missing_); \
      MESSAGE("skipped: " << missing_);                             \
      return;                                                       \
    }                                                               \
  } while (0)

}  // namespace picket::testing
