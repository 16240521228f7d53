#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "collector/http_session.h"

using picket::collector::SessionBase;
using picket::collector::SessionRegistry;

namespace {

struct FakeSession : SessionBase {
  bool idle = true;
  int close_requests = 0;
  void CloseIfIdle() override { ++close_requests; }  // the real one closes later, on its strand
  void ForceClose() override {}
  bool IdleNow() const override { return idle; }
};

}  // namespace

TEST_SUITE("collector.session_registry") {
  TEST_CASE("each eviction picks another idle session while the earlier ones are still closing") {
    SessionRegistry registry;
    std::vector<std::shared_ptr<FakeSession>> sessions;
    for (int i = 0; i < 4; ++i) {
      sessions.push_back(std::make_shared<FakeSession>());
      registry.Add(sessions.back());
    }
    sessions[1]->idle = false;  // busy with a request: never evicted
    CHECK(registry.CloseOldestIdle());
    CHECK(registry.CloseOldestIdle());
    CHECK(registry.CloseOldestIdle());
    CHECK_FALSE(registry.CloseOldestIdle());  // 0, 2 and 3 are closing, 1 is busy
    CHECK(sessions[0]->close_requests == 1);
    CHECK(sessions[1]->close_requests == 0);
    CHECK(sessions[2]->close_requests == 1);
    CHECK(sessions[3]->close_requests == 1);
  }

  TEST_CASE("a victim that got a request before closing can be evicted again once idle") {
    SessionRegistry registry;
    auto first = std::make_shared<FakeSession>();
    registry.Add(first);
    CHECK(registry.CloseOldestIdle());
    first->idle = false;  // its request arrived before the close ran: it stays open
    CHECK_FALSE(registry.CloseOldestIdle());
    first->idle = true;
    CHECK(registry.CloseOldestIdle());
    CHECK(first->close_requests == 2);
  }

  TEST_CASE("a session gone from the registry is not evicted") {
    SessionRegistry registry;
    auto gone = std::make_shared<FakeSession>();
    registry.Add(gone);
    gone.reset();  // destroyed without Remove (the weak reference expired)
    CHECK_FALSE(registry.CloseOldestIdle());
  }
}
