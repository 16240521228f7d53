// Request bodies arrive gzip-compressed; the size cap applies to the
// decompressed bytes and is enforced while inflating, so a zip bomb costs at
// most `max_output` bytes of memory, never its claimed size.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "collector/body_decoder.h"
#include "picket/common/status.h"

namespace picket::collector {

// Inflates one or more concatenated gzip members that arrive in pieces; each
// piece of output goes to `sink` as it is made (at most 64 KiB at a time), so
// memory stays ~100 KiB whatever the body's size. Not thread-safe.
class GunzipStream final : public BodyDecoder {
 public:
  GunzipStream(std::size_t max_output, Sink sink);
  ~GunzipStream() override;
  GunzipStream(const GunzipStream&) = delete;
  GunzipStream& operator=(const GunzipStream&) = delete;

  // Errors as GunzipCapped's; a sink error is passed on as it is.
  Status Feed(std::string_view compressed) override;
  // InvalidArgument when the input ended inside a member (or held none).
  Status Finish() override;
  std::size_t output_bytes() const { return produced_; }

 private:
  struct State;
  Status Fail(Status st);  // every later call fails too
  // One inflate call over `input` (empty: drain what zlib holds), its output
  // to the sink; takes what it consumed off `input`. *progress: bytes in + out.
  Status Step(std::string_view& input, std::size_t* progress);
  std::unique_ptr<State> state_;
  const std::size_t max_output_;
  Sink sink_;
  std::size_t produced_ = 0;
  bool member_done_ = false;
  bool started_ = false;   // a member has begun
  bool failed_ = false;    // an error was returned: every later call fails
};

// Inflates one or more concatenated gzip members.
// ResourceExhausted when the output would exceed max_output bytes;
// InvalidArgument for a corrupt or truncated stream or trailing garbage.
Result<std::string> GunzipCapped(std::string_view compressed, std::size_t max_output);

// Compresses with gzip framing (tests and tools; the collector never compresses).
Result<std::string> GzipCompress(std::string_view data);

}  // namespace picket::collector
