#include "supervisor/live_filter.h"

#include <doctest/doctest.h>

namespace picket::supervisor {

using R = LiveFilter::Readiness;

TEST_SUITE("supervisor.live_filter") {
  TEST_CASE("a worker ready on the newest config runs it, whatever was sent") {
    LiveFilter f;
    CHECK(f.OnReady(3, 7, 7) == R::kCurrent);
    f.Sent(2, 9);
    CHECK(f.OnReady(3, 7, 7) == R::kCurrent);
  }

  TEST_CASE("a successor ready on an older config waits for its answer to the newest filter") {
    LiveFilter f;
    f.Sent(4, 8);  // filter change 8 written to run 4 during its hand-over; it read 7
    CHECK(f.OnReady(4, 7, 8) == R::kAwaitAck);
    f.Acked(4, 8, true);
    CHECK(f.OnReady(4, 7, 8) == R::kAcked);
    CHECK(f.Answer(4, 8) == R::kAcked);
  }

  TEST_CASE("an answer that came before Ready counts, a refusal means restart") {
    LiveFilter f;
    f.Sent(4, 8);
    f.Acked(4, 8, false);
    CHECK(f.OnReady(4, 7, 8) == R::kStale);
  }

  TEST_CASE("a filter sent elsewhere, an older one, or none at all means restart") {
    LiveFilter f;
    CHECK(f.OnReady(4, 7, 8) == R::kStale);  // nothing sent
    f.Sent(3, 8);                            // to the predecessor, not the ready successor
    CHECK(f.OnReady(4, 7, 8) == R::kStale);
    f.Sent(4, 8);
    CHECK(f.OnReady(4, 7, 9) == R::kStale);  // a newer change (9) it was not sent
    f.Acked(4, 8, true);
    CHECK(f.OnReady(4, 7, 9) == R::kStale);
  }

  TEST_CASE("a later change the worker need not know keeps the filter in flight current") {
    LiveFilter f;
    f.Restarted(6);
    f.WorkerNeeds(8);
    f.Sent(4, 8);
    // 9 is, say, the log level: the worker's part is still version 8's filter.
    CHECK(f.OnReady(4, 7, 9) == R::kAwaitAck);
    f.Acked(4, 8, true);
    CHECK(f.OnReady(4, 7, 9) == R::kAcked);
    CHECK(f.Answer(4, 9) == R::kAcked);
    f.WorkerNeeds(10);  // a newer filter or restart it was not sent
    CHECK(f.OnReady(4, 7, 10) == R::kStale);
  }

  TEST_CASE("a worker older only by changes it need not know is current") {
    LiveFilter f;
    CHECK_FALSE(f.Current(7, 8));  // nothing known: only the newest version is current
    f.Restarted(7);                // a restart for version 7: the successor read 7
    CHECK(f.Current(7, 7));
    // 8 changes the log level while it hands over: its Ready on 7 needs no restart.
    CHECK(f.OnReady(4, 7, 8) == R::kCurrent);
    CHECK_FALSE(f.Current(6, 8));  // older than the worker's part of the config
    f.WorkerNeeds(9);              // 9 changes capture: 7 and 8 are stale now
    CHECK(f.OnReady(4, 7, 9) == R::kStale);
    CHECK(f.OnReady(4, 8, 9) == R::kStale);
    CHECK(f.Current(9, 10));
    // The device node was recreated: versions start again below the needed one.
    CHECK_FALSE(f.Current(9, 0));
    CHECK(f.Current(0, 0));
  }

  TEST_CASE("only the answer of the run and version sent counts") {
    LiveFilter f;
    f.Sent(4, 8);
    f.Acked(3, 8, true);  // another run
    f.Acked(4, 7, true);  // an older change
    CHECK(f.Answer(4, 8) == R::kAwaitAck);
    f.Sent(4, 9);  // newer filter before the answer: the older answer does not count
    f.Acked(4, 8, true);
    CHECK(f.Answer(4, 9) == R::kAwaitAck);
    f.Acked(4, 9, true);
    CHECK(f.Answer(4, 9) == R::kAcked);
    f.Restarted(9);  // its file has the newest: nothing in flight
    CHECK(f.Answer(4, 9) == R::kStale);
  }
}

}  // namespace picket::supervisor
