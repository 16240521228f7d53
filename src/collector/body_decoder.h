// Request bodies may arrive compressed (Content-Encoding gzip or zstd). A
// decoder inflates one that arrives in pieces and hands each piece of output
// to a sink as it is made; the cap on the output is enforced while inflating,
// so a bomb costs at most its cap in output, never its claimed size, and the
// decoder's own memory stays bounded (zstd: frames needing a window above
// kMaxZstdWindowLog are refused).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::collector {

enum class BodyEncoding { kIdentity, kGzip, kZstd };
std::string_view BodyEncodingName(BodyEncoding encoding);

// 2^20 = 1 MiB: picketd compresses at zstd level -1 (a 512 KiB window).
inline constexpr int kMaxZstdWindowLog = 20;

class BodyDecoder {
 public:
  using Sink = std::function<Status(std::string_view)>;
  virtual ~BodyDecoder() = default;
  // ResourceExhausted past the cap; InvalidArgument for a corrupt stream or
  // trailing garbage; a sink's error as it is. After an error every call fails.
  virtual Status Feed(std::string_view encoded) = 0;
  // InvalidArgument when the input ended inside a frame/member (or held none).
  virtual Status Finish() = 0;
};

// Null for kIdentity (nothing to decode).
std::unique_ptr<BodyDecoder> MakeBodyDecoder(BodyEncoding encoding, std::size_t max_output,
                                             BodyDecoder::Sink sink);

// A whole body: decoded (or, identity, checked against the cap and returned).
Result<std::string> DecodeBodyCapped(BodyEncoding encoding, std::string body,
                                     std::size_t max_output);

}  // namespace picket::collector
