#include "worker/capture_health.h"

#include "picket/common/log.h"

namespace picket::worker {
namespace {

constexpr const char* kStateText[] = {"", "degraded: disk full", "degraded: database locked",
                                      "degraded: buffer write failed"};

}  // namespace

void CaptureHealth::Failed(const Status& why) {
  const int state = why.code() == StatusCode::kResourceExhausted ? 1
                    : why.code() == StatusCode::kUnavailable     ? 2
                                                                 : 3;
  if (state_.exchange(state) != state) {
    PICKET_LOG(kWarn, "worker", kStateText[state], {"error", why});
  }
}

void CaptureHealth::Committed(capture::SealReason reason) {
  if (reason == capture::SealReason::kLoss) return;
  if (int was = state_.exchange(0); was != 0) {
    PICKET_LOG(kInfo, "worker", "chunks are committed again", {"was", kStateText[was]});
  }
}

std::string CaptureHealth::Text() const { return kStateText[state_.load()]; }

}  // namespace picket::worker
