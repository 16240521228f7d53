// Why capture cannot keep its chunks right now, for the worker's Stats (and so
// `picket devices`): set by a failed room request or buffer commit, cleared by
// the next committed chunk. Written on the writer thread, read on the control
// thread.
#pragma once

#include <atomic>
#include <string>

#include "picket/capture/chunk_writer.h"
#include "picket/common/status.h"

namespace picket::worker {

class CaptureHealth {
 public:
  // Room or a commit was refused: disk full (kResourceExhausted), database
  // locked (kUnavailable), anything else a failed buffer write. Logged once per
  // change of state.
  void Failed(const Status& why);
  // A sealed chunk is committed. A loss record (no packets, the header alone)
  // fits where a chunk may not, so it does not clear the state: only a chunk
  // with packets shows capture works again, and the state does not flap.
  void Committed(capture::SealReason reason);
  // "" while healthy, else "degraded: <why>".
  std::string Text() const;

 private:
  std::atomic<int> state_{0};
};

}  // namespace picket::worker
