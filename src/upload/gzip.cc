#include "gzip.h"

#include <zlib.h>
#include <zstd.h>

namespace picket::upload {

Result<std::string> GzipCompress(std::string_view data) {
  z_stream zs{};
  // Level 1: on a gateway CPU the uploader must keep up with capture; level 1
  // costs a fraction of the default's CPU for a slightly larger body.
  // windowBits 15 + 16: gzip header and trailer; memLevel 8 is zlib's default.
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::Internal("deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  std::size_t produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return Status::Internal("deflate did not finish: " + std::to_string(rc));
  out.resize(produced);
  return out;
}

Result<std::string> ZstdCompress(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), kZstdLevel);
  if (ZSTD_isError(n)) return Status::Internal(std::string("ZSTD_compress: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

std::string_view ContentEncodingOf(Compression c) {
  return c == Compression::kZstd ? "zstd" : "gzip";
}

Result<std::string> Compress(Compression c, std::string_view data) {
  return c == Compression::kZstd ? ZstdCompress(data) : GzipCompress(data);
}

bool CompressionPays(Compression c, std::string_view middle_sample, std::uint64_t body_size) {
  if (body_size <= kGzipSampleBytes) return true;
  auto packed = Compress(c, middle_sample);
  return packed.ok() && packed->size() < middle_sample.size() * 8 / 10;
}

}  // namespace picket::upload
