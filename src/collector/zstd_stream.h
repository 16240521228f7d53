// zstd request bodies, inflated as they arrive (body_decoder.h): one or more
// frames back to back, at most max_output bytes out, windows up to
// kMaxZstdWindowLog only.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "collector/body_decoder.h"

namespace picket::collector {

class ZstdStream final : public BodyDecoder {
 public:
  ZstdStream(std::size_t max_output, Sink sink);
  ~ZstdStream() override;
  ZstdStream(const ZstdStream&) = delete;
  ZstdStream& operator=(const ZstdStream&) = delete;

  Status Feed(std::string_view encoded) override;
  Status Finish() override;
  std::size_t output_bytes() const { return produced_; }

 private:
  struct State;
  Status Fail(Status st);
  std::unique_ptr<State> state_;
  const std::size_t max_output_;
  Sink sink_;
  std::size_t produced_ = 0;
  bool started_ = false;
  bool frame_open_ = false;  // the last call ended inside a frame
  bool failed_ = false;
};

}  // namespace picket::collector
