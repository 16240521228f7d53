// A chunk file as it goes on the wire, read piece by piece for libcurl: as it
// is, or zstd (kZstdLevel) / gzip (level 1) made on the fly. No upload thread
// holds a whole chunk, nor its compressed copy, in memory: 64 KiB of input and
// the compressor's state (zlib ~300 KiB, zstd ~1.3 MiB).
#pragma once

#include <zlib.h>
#include <zstd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "picket/common/c_handle.h"
#include "picket/common/status.h"
#include "gzip.h"

namespace picket::upload {

class ChunkBody {
 public:
  ChunkBody() = default;
  ~ChunkBody();
  // zlib's state points back at its z_stream: the object stays where it is.
  ChunkBody(const ChunkBody&) = delete;
  ChunkBody& operator=(const ChunkBody&) = delete;

  // Opens the file (NotFound when it is gone) and refuses one over max_bytes.
  Status Open(const std::string& path, std::uint64_t max_bytes);
  std::uint64_t file_size() const { return size_; }

  // `c` shrinks a 64 KiB sample from the middle below 80% (small files: always).
  bool WorthCompressing(Compression c);
  // Sends the file compressed from here on; before the first Read (or after a
  // Rewind, to switch: a collector that refused zstd gets gzip).
  Status UseGzip();
  Status UseZstd();
  Status Use(Compression c) { return c == Compression::kZstd ? UseZstd() : UseGzip(); }
  // Compressed bodies have no length before their end (chunked transfer).
  bool compressed() const { return gzip_ || zstd_ != nullptr; }

  // Up to `n` bytes of the body; 0 at its end.
  Result<std::size_t> Read(char* out, std::size_t n);
  // Back to the first byte (libcurl re-sends a body on a reused connection that had closed).
  Status Rewind();
  // SHA-256 of the file (rows written before digests were recorded); rewinds after.
  Result<std::array<std::uint8_t, 32>> HashFile();

 private:
  Result<std::size_t> ReadFile(void* out, std::size_t n);

  UniqueFd fd_;
  std::string path_;
  std::uint64_t size_ = 0;
  Result<std::size_t> ReadGzip(char* out, std::size_t n);
  Result<std::size_t> ReadZstd(char* out, std::size_t n);
  Status FillInput();  // reads the next piece of the file into in_ when it is used up

  bool gzip_ = false, zlib_ready_ = false, input_done_ = false, output_done_ = false;
  z_stream zs_{};
  ZSTD_CCtx* zstd_ = nullptr;
  std::size_t in_pos_ = 0, in_len_ = 0;  // zstd: the unread part of in_
  std::vector<unsigned char> in_;
};

}  // namespace picket::upload
