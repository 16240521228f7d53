// gzip compression of upload bodies (zlib, gzip wrapper, fastest level).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::upload {

Result<std::string> GzipCompress(std::string_view data);

// Whether a body is worth compressing, judged on a sample of up to kGzipSampleBytes from its
// middle: encrypted or already-compressed traffic does not shrink, and gzipping it costs the
// supervisor ~25 CPU-s per GB (measured by tests/bench/capture_bench) for a 2.5% saving. True
// when the sample shrinks below 80%, or the body is no bigger than a sample.
inline constexpr std::size_t kGzipSampleBytes = 64 * 1024;
bool GzipPays(std::string_view middle_sample, std::uint64_t body_size);

}  // namespace picket::upload
