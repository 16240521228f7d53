// Compression of upload bodies: zstd (the default) or gzip, each at its
// fastest level, and the per-body decision whether compressing pays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::upload {

// zstd's fast mode -1 (its level-1 parameters with an acceleration of 1): on
// captures ~50% faster than level 1 for ~2% less ratio (real traffic x3.04
// vs x3.11, 1,078 vs 706 MB/s on this VM: zstd -b), the same 512 KiB window
// (the collector accepts up to 1 MiB). On a gateway CPU the uploader must keep
// up with capture, and compression is most of its cost.
inline constexpr int kZstdLevel = -1;

Result<std::string> GzipCompress(std::string_view data);
// One zstd frame at kZstdLevel.
Result<std::string> ZstdCompress(std::string_view data);

enum class Compression { kZstd, kGzip };
std::string_view ContentEncodingOf(Compression c);  // "zstd" or "gzip"
Result<std::string> Compress(Compression c, std::string_view data);

// Whether a body is worth compressing, judged by compressing a sample of up to
// kGzipSampleBytes from its middle the same way: encrypted or already-compressed traffic does
// not shrink, and gzipping it cost the supervisor ~25 CPU-s per GB (measured by
// tests/bench/capture_bench) for a 2.5% saving. True when the sample shrinks below 80%, or the
// body is no bigger than a sample.
inline constexpr std::size_t kGzipSampleBytes = 64 * 1024;
bool CompressionPays(Compression c, std::string_view middle_sample, std::uint64_t body_size);

}  // namespace picket::upload
