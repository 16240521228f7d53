#include "supervisor/config_trial.h"

#include <doctest/doctest.h>

namespace picket::supervisor {

namespace {

using std::chrono::milliseconds;

MonoTime At(int ms) { return MonoTime{} + milliseconds(ms); }

}  // namespace

TEST_SUITE("supervisor.config_trial") {
  TEST_CASE("a config is proven only after its worker has been ready for proven_after") {
    ConfigTrial t({milliseconds(10'000), 3, milliseconds(60'000)});
    CHECK_FALSE(t.on_trial());
    t.Begin(7);
    CHECK(t.on_trial());
    CHECK_FALSE(t.ProvenAt(At(50'000)));  // never ready: never proven
    t.OnReady(6, At(0));                  // a stale worker's ready
    CHECK_FALSE(t.ProvenAt(At(50'000)));
    t.OnReady(7, At(1'000));
    CHECK_FALSE(t.ProvenAt(At(10'999)));
    CHECK(t.ProvenAt(At(11'000)));
    t.OnExit();  // gone before anyone asked: no proof
    CHECK_FALSE(t.ProvenAt(At(20'000)));
    t.End();
    CHECK_FALSE(t.on_trial());
  }

  TEST_CASE("UntilProven says how much longer a timer that fired early must wait") {
    ConfigTrial t({milliseconds(10'000), 3, milliseconds(60'000)});
    CHECK_FALSE(t.UntilProven(At(0)).has_value());  // nothing on trial
    t.Begin(4);
    CHECK_FALSE(t.UntilProven(At(0)).has_value());  // no ready worker yet
    t.OnReady(4, At(2'000));
    CHECK(t.UntilProven(At(11'990)) == milliseconds(10));  // the loop's clock lagged 10 ms
    CHECK(t.UntilProven(At(12'000)) == milliseconds(0));
    CHECK(t.ProvenAt(At(12'000)));
  }

  TEST_CASE("max_failures within the window roll back, older failures age out") {
    ConfigTrial t({milliseconds(10'000), 3, milliseconds(60'000)});
    t.Begin(2);
    CHECK_FALSE(t.OnFailure(At(0)));
    CHECK_FALSE(t.OnFailure(At(500)));
    CHECK(t.OnFailure(At(1'700)));
    t.Begin(3);  // a new config starts with a clean slate
    CHECK(t.failures() == 0);
    CHECK_FALSE(t.OnFailure(At(0)));
    CHECK_FALSE(t.OnFailure(At(30'000)));
    CHECK_FALSE(t.OnFailure(At(70'000)));  // the first is out of the window
    CHECK(t.failures() == 2);
    CHECK(t.OnFailure(At(80'000)));
  }

  TEST_CASE("a retargeted trial keeps its proof clock and its failures") {
    ConfigTrial t({milliseconds(10'000), 3, milliseconds(60'000)});
    t.Begin(5);
    CHECK_FALSE(t.OnFailure(At(0)));
    t.OnReady(5, At(1'000));
    t.Retarget(6);  // only the log level changed: the same worker runs on
    CHECK(t.version() == 6);
    CHECK(t.failures() == 1);
    CHECK(t.ProvenAt(At(11'000)));
    ConfigTrial none;
    none.Retarget(9);  // nothing on trial: stays so
    CHECK_FALSE(none.on_trial());
  }

  TEST_CASE("running cleanly: ready, and no failure on this trial") {
    ConfigTrial t({milliseconds(10'000), 3, milliseconds(60'000)});
    CHECK_FALSE(t.RunningCleanly());
    t.Begin(8);
    CHECK_FALSE(t.RunningCleanly());  // not ready yet
    t.OnReady(8, At(0));
    CHECK(t.RunningCleanly());
    CHECK_FALSE(t.OnFailure(At(1'000)));
    t.OnReady(8, At(2'000));
    CHECK_FALSE(t.RunningCleanly());  // it failed once on this trial
  }

  TEST_CASE("failures outside a trial never roll anything back") {
    ConfigTrial t;
    for (int i = 0; i < 10; ++i) CHECK_FALSE(t.OnFailure(At(i)));
    CHECK(t.failures() == 0);
  }

  TEST_CASE("a failure after ready withdraws the proof clock") {
    ConfigTrial t({milliseconds(10'000), 3, milliseconds(60'000)});
    t.Begin(4);
    t.OnReady(4, At(0));
    CHECK_FALSE(t.OnFailure(At(5'000)));
    CHECK_FALSE(t.ProvenAt(At(20'000)));
    t.OnReady(4, At(21'000));
    CHECK(t.ProvenAt(At(31'000)));
  }
}

}  // namespace picket::supervisor
