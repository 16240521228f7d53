#include "worker/restart_gap.h"

#include <doctest/doctest.h>

namespace picket::worker {

TEST_SUITE("worker.restart_gap") {
  TEST_CASE("within one boot the gap is boot-clock time, whatever the wall clock did") {
    const SealMark sealed{"b1", 100'000, 1'800'000'000'000};
    // The wall clock was stepped back an hour while the worker was down for 1 s.
    const SealMark now_back{"b1", 101'000, 1'800'000'000'000 - 3'600'000 + 1'000};
    CHECK(RestartGapMs(sealed, sealed.wall_ms, now_back) == 1'000);
    // ... and forward an hour.
    const SealMark now_fwd{"b1", 101'000, 1'800'000'000'000 + 3'601'000};
    CHECK(RestartGapMs(sealed, sealed.wall_ms, now_fwd) == 1'000);
  }

  TEST_CASE("across a reboot only the wall clock is left, never negative") {
    const SealMark sealed{"b1", 100'000, 1'800'000'000'000};
    CHECK(RestartGapMs(sealed, sealed.wall_ms, SealMark{"b2", 5'000, 1'800'000'060'000}) == 60'000);
    CHECK(RestartGapMs(sealed, sealed.wall_ms, SealMark{"b2", 5'000, 1'700'000'000'000}) == 0);
    // No mark (a buffer from before marks, or /proc unreadable): the wall clock too.
    CHECK(RestartGapMs(std::nullopt, 1'000, SealMark{"", 5'000, 4'000}) == 3'000);
    CHECK(RestartGapMs(SealMark{"", 1, 1}, 1'000, SealMark{"", 500, 4'000}) == 3'000);
    CHECK(RestartGapMs(std::nullopt, std::nullopt, SealMark{"b", 1, 1}) == 0);
  }

  TEST_CASE("elapsed time (scan job intervals) ignores wall steps within a boot") {
    const SealMark then{"b1", 10'000, 1'800'000'000'000};
    CHECK(ElapsedMs(then, SealMark{"b1", 70'000, 1'800'000'000'000 - 3'600'000}) == 60'000);
    CHECK(ElapsedMs(then, SealMark{"b2", 1'000, 1'800'000'000'000 - 5'000}) == -5'000);
    CHECK(ElapsedMs(SealMark{"", 0, 1'000}, SealMark{"", 99, 3'000}) == 2'000);  // no boot id: wall
  }

  TEST_CASE("marks round-trip and anything else is refused") {
    const SealMark m{"2d1f6b1e-0000-4000-8000-000000000001", 123, 1'800'000'000'000};
    auto parsed = ParseSealMark(EncodeSealMark(m));
    REQUIRE(parsed.has_value());
    CHECK(parsed->boot_id == m.boot_id);
    CHECK(parsed->boot_ms == 123);
    CHECK(parsed->wall_ms == m.wall_ms);
    for (const char* bad : {"", "[]", "{}", R"({"boot_id":1,"boot_ms":1,"wall_ms":1})",
                            R"({"boot_id":"a","boot_ms":"1","wall_ms":1})",
                            R"({"boot_id":"a","boot_ms":1.5,"wall_ms":1})", "{\"boot_id\":"}) {
      CAPTURE(bad);
      CHECK_FALSE(ParseSealMark(bad).has_value());
    }
    CHECK_FALSE(ParseSealMark(std::string(600, ' ') + "{}").has_value());
  }

  TEST_CASE("a hand-over is taken only in the same boot and while fresh") {
    const CaptureHandOver h{{1'800'000'000'123'456, 2}, SealMark{"b1", 50'000, 1'800'000'000'200}, 77};
    auto parsed = ParseHandOver(EncodeHandOver(h));
    REQUIRE(parsed.has_value());
    CHECK(parsed->cut == h.cut);
    CHECK(parsed->at.boot_id == "b1");
    CHECK(FreshCut(parsed, SealMark{"b1", 50'300, 0}, 77) == h.cut);
    CHECK_FALSE(FreshCut(parsed, SealMark{"b1", 50'300, 0}, 78).has_value());  // another worker
    CHECK(FreshCut(parsed, SealMark{"b1", 50'000 + kHandOverMaxAgeMs, 0}, 77) == h.cut);
    CHECK_FALSE(FreshCut(parsed, SealMark{"b1", 50'001 + kHandOverMaxAgeMs, 0}, 77).has_value());
    CHECK_FALSE(FreshCut(parsed, SealMark{"b2", 50'300, 0}, 77).has_value());  // rebooted
    CHECK_FALSE(FreshCut(parsed, SealMark{"b1", 49'000, 0}, 77).has_value());  // from the future
    CHECK_FALSE(FreshCut(std::nullopt, SealMark{"b1", 50'300, 0}, 77).has_value());
    // A cut stamped after the record was written (damage) would skip everything: refused.
    CaptureHandOver future = h;
    future.cut.ts_us = h.at.wall_ms * 1000 + 1'000'001;
    CHECK_FALSE(FreshCut(future, SealMark{"b1", 50'300, 0}, 77).has_value());
    future.cut.ts_us = h.at.wall_ms * 1000 + 1'000'000;
    CHECK(FreshCut(future, SealMark{"b1", 50'300, 0}, 77) == future.cut);
    CHECK_FALSE(FreshCut(CaptureHandOver{{1, 1}, SealMark{"", 1, 1}, 77}, SealMark{"", 2, 2}, 77).has_value());
    for (const char* bad : {"", "{}", R"({"cut_ts_us":1,"cut_at_ts":-1,"at":{"boot_id":"b","boot_ms":1,"wall_ms":1},"successor_pid":7})",
                            R"({"cut_ts_us":1,"cut_at_ts":1,"at":{"boot_id":"b","boot_ms":1,"wall_ms":1}})",
                            R"({"cut_ts_us":1,"cut_at_ts":1,"at":{}})", R"({"cut_ts_us":"1","cut_at_ts":1})"}) {
      CAPTURE(bad);
      CHECK_FALSE(ParseHandOver(bad).has_value());
    }
  }
}

}  // namespace picket::worker
