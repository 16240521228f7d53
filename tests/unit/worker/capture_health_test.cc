#include "worker/capture_health.h"

#include <doctest/doctest.h>

namespace picket::worker {

TEST_SUITE("worker.capture_health") {
  TEST_CASE("the refusal names the state, and only a chunk with packets clears it") {
    CaptureHealth health;
    CHECK(health.Text().empty());
    health.Failed(Status::ResourceExhausted("no space left on device"));
    CHECK(health.Text() == "degraded: disk full");
    // A loss record reports the packets the full disk cost; capture is still refused.
    health.Committed(capture::SealReason::kLoss);
    CHECK(health.Text() == "degraded: disk full");
    health.Committed(capture::SealReason::kSize);
    CHECK(health.Text().empty());
  }

  TEST_CASE("each cause has its own text, the newest wins") {
    CaptureHealth health;
    health.Failed(Status::Unavailable("database is locked"));
    CHECK(health.Text() == "degraded: database locked");
    health.Failed(Status::IoError("disk I/O error"));
    CHECK(health.Text() == "degraded: buffer write failed");
    health.Failed(Status::ResourceExhausted("full"));
    CHECK(health.Text() == "degraded: disk full");
    for (auto reason :
         {capture::SealReason::kAge, capture::SealReason::kIdle, capture::SealReason::kStop}) {
      health.Failed(Status::Unavailable("locked"));
      health.Committed(reason);
      CHECK(health.Text().empty());
    }
  }
}

}  // namespace picket::worker
