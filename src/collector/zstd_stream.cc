#include "collector/zstd_stream.h"

#include <zstd.h>
#include <zstd_errors.h>

#include <vector>

namespace picket::collector {

struct ZstdStream::State {
  ZSTD_DCtx* dctx = nullptr;
  std::vector<char> out;
  ~State() { ZSTD_freeDCtx(dctx); }
};

ZstdStream::ZstdStream(std::size_t max_output, Sink sink)
    : state_(std::make_unique<State>()), max_output_(max_output), sink_(std::move(sink)) {}

ZstdStream::~ZstdStream() = default;

Status ZstdStream::Fail(Status st) {
  failed_ = true;
  return st;
}

Status ZstdStream::Feed(std::string_view input) {
  if (failed_) return Status::FailedPrecondition("zstd stream already failed");
  if (state_->dctx == nullptr) {
    state_->dctx = ZSTD_createDCtx();
    if (state_->dctx == nullptr) return Fail(Status::ResourceExhausted("ZSTD_createDCtx failed"));
    ZSTD_DCtx_setParameter(state_->dctx, ZSTD_d_windowLogMax, kMaxZstdWindowLog);
    state_->out.resize(ZSTD_DStreamOutSize());  // one block, ~128 KiB
  }
  if (!input.empty()) started_ = true;
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  // Until every input byte is taken and zstd has nothing more to give.
  while (true) {
    ZSTD_outBuffer out{state_->out.data(), state_->out.size(), 0};
    const std::size_t rc = ZSTD_decompressStream(state_->dctx, &out, &in);
    if (ZSTD_isError(rc)) {
      if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge) {
        return Fail(Status::InvalidArgument(
            "zstd body needs a window above " + std::to_string(1u << kMaxZstdWindowLog) +
            " bytes (compress with a lower level or --long off)"));
      }
      return Fail(Status::InvalidArgument(std::string("corrupt zstd body: ") +
                                          ZSTD_getErrorName(rc)));
    }
    frame_open_ = rc != 0;
    if (out.pos > max_output_ - produced_) {
      return Fail(Status::ResourceExhausted("decompressed body exceeds the limit of " +
                                            std::to_string(max_output_) + " bytes"));
    }
    produced_ += out.pos;
    if (out.pos > 0) {
      if (Status st = sink_(std::string_view(state_->out.data(), out.pos)); !st.ok()) {
        return Fail(std::move(st));
      }
    }
    // A full output buffer may mean more is waiting inside zstd.
    if (in.pos == in.size && out.pos < out.size) break;
  }
  return Status::Ok();
}

Status ZstdStream::Finish() {
  if (failed_) return Status::FailedPrecondition("zstd stream already failed");
  if (!started_ || frame_open_) return Fail(Status::InvalidArgument("truncated zstd body"));
  return Status::Ok();
}

}  // namespace picket::collector
