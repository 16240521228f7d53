#include "chunk_body.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "gzip.h"
#include "picket/common/digest.h"

namespace picket::upload {

namespace {
constexpr std::size_t kInput = 64 * 1024;
}  // namespace

ChunkBody::~ChunkBody() {
  if (zlib_ready_) deflateEnd(&zs_);
  ZSTD_freeCCtx(zstd_);
}

Status ChunkBody::Open(const std::string& path, std::uint64_t max_bytes) {
  path_ = path;
  fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_.valid()) return FromErrno("open " + path, errno);
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) return FromErrno("stat " + path, errno);
  size_ = static_cast<std::uint64_t>(st.st_size);
  if (size_ > max_bytes) {
    return Status::InvalidArgument(path + ": " + std::to_string(size_) + " bytes, over the " +
                                   std::to_string(max_bytes) + " a chunk may have");
  }
  return Status::Ok();
}

bool ChunkBody::WorthCompressing(Compression c) {
  if (size_ <= kGzipSampleBytes) return true;
  std::string sample(kGzipSampleBytes, '\0');
  const auto at = static_cast<off_t>(size_ / 2 - kGzipSampleBytes / 2);
  std::size_t got = 0;
  while (got < sample.size()) {
    const ssize_t r = ::pread(fd_.get(), sample.data() + got, sample.size() - got,
                              at + static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  sample.resize(got);
  return CompressionPays(c, sample, size_);
}

Status ChunkBody::UseGzip() {
  ZSTD_freeCCtx(std::exchange(zstd_, nullptr));
  if (zlib_ready_) {
    gzip_ = true;
    return Rewind();
  }
  // Level 1: on a gateway CPU the uploader must keep up with capture.
  // windowBits 15 + 16: gzip header and trailer; memLevel 8 is zlib's default.
  if (deflateInit2(&zs_, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::Internal("deflateInit2 failed");
  }
  zlib_ready_ = gzip_ = true;
  in_.resize(kInput);
  return Rewind();
}

Status ChunkBody::UseZstd() {
  if (zlib_ready_) deflateEnd(&zs_);
  zlib_ready_ = gzip_ = false;
  if (zstd_ == nullptr) zstd_ = ZSTD_createCCtx();
  if (zstd_ == nullptr) return Status::ResourceExhausted("ZSTD_createCCtx failed");
  ZSTD_CCtx_setParameter(zstd_, ZSTD_c_compressionLevel, kZstdLevel);  // why: gzip.h
  ZSTD_CCtx_setParameter(zstd_, ZSTD_c_checksumFlag, 1);
  in_.resize(kInput);
  return Rewind();
}

Result<std::size_t> ChunkBody::ReadFile(void* out, std::size_t n) {
  while (true) {
    const ssize_t r = ::read(fd_.get(), out, n);
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno != EINTR) return FromErrno("read " + path_, errno);
  }
}

Result<std::size_t> ChunkBody::Read(char* out, std::size_t n) {
  if (zstd_ != nullptr) return ReadZstd(out, n);
  if (gzip_) return ReadGzip(out, n);
  return ReadFile(out, n);
}

Status ChunkBody::FillInput() {
  if (in_pos_ < in_len_ || input_done_) return Status::Ok();
  auto got = ReadFile(in_.data(), in_.size());
  if (!got.ok()) return got.status();
  input_done_ = *got == 0;
  in_pos_ = 0;
  in_len_ = *got;
  return Status::Ok();
}

Result<std::size_t> ChunkBody::ReadZstd(char* out, std::size_t n) {
  ZSTD_outBuffer output{out, n, 0};
  // Feed input until some output is ready (zstd buffers up to a block).
  while (output.pos == 0 && !output_done_) {
    PICKET_RETURN_IF_ERROR(FillInput());
    ZSTD_inBuffer input{in_.data() + in_pos_, in_len_ - in_pos_, 0};
    const std::size_t left =
        ZSTD_compressStream2(zstd_, &output, &input, input_done_ ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(left)) {
      return Status::Internal("zstd " + path_ + ": " + ZSTD_getErrorName(left));
    }
    in_pos_ += input.pos;
    if (input_done_ && left == 0) output_done_ = true;
  }
  return output.pos;
}

Result<std::size_t> ChunkBody::ReadGzip(char* out, std::size_t n) {
  zs_.next_out = reinterpret_cast<Bytef*>(out);
  zs_.avail_out = static_cast<uInt>(n);
  // Feed input until some output is ready (deflate keeps up to a window back).
  while (zs_.avail_out == n && !output_done_) {
    if (zs_.avail_in == 0 && !input_done_) {
      auto got = ReadFile(in_.data(), in_.size());
      if (!got.ok()) return got.status();
      input_done_ = *got == 0;
      zs_.next_in = in_.data();
      zs_.avail_in = static_cast<uInt>(*got);
    }
    const int rc = deflate(&zs_, input_done_ ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      output_done_ = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Status::Internal("deflate " + path_ + ": " + std::to_string(rc));
    }
  }
  return n - zs_.avail_out;
}

Status ChunkBody::Rewind() {
  if (::lseek(fd_.get(), 0, SEEK_SET) != 0) return FromErrno("seek " + path_, errno);
  if (gzip_) {
    if (deflateReset(&zs_) != Z_OK) return Status::Internal("deflateReset failed");
    zs_.avail_in = 0;
  }
  if (zstd_ != nullptr) {
    const std::size_t rc = ZSTD_CCtx_reset(zstd_, ZSTD_reset_session_only);
    if (ZSTD_isError(rc)) return Status::Internal(std::string("zstd reset: ") + ZSTD_getErrorName(rc));
  }
  in_pos_ = in_len_ = 0;
  input_done_ = output_done_ = false;
  return Status::Ok();
}

Result<std::array<std::uint8_t, 32>> ChunkBody::HashFile() {
  Sha256 hash;
  std::vector<char> buf(kInput);
  while (true) {
    auto got = ReadFile(buf.data(), buf.size());
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    hash.Update(buf.data(), *got);
  }
  if (Status st = Rewind(); !st.ok()) return st;
  return hash.Finish();
}

}  // namespace picket::upload
