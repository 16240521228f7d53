#include "collector/gunzip.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <climits>
#include <memory>

namespace picket::collector {

namespace {

constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window, gzip framing only
constexpr std::size_t kOutputStep = 64 * 1024;

// Owns an initialised inflate stream; inflateEnd on every path.
struct InflateStream {
  z_stream z{};
  bool initialised = false;
  ~InflateStream() {
    if (initialised) inflateEnd(&z);
  }
};

std::string ZlibMessage(const z_stream& z, int code) {
  if (z.msg != nullptr) return z.msg;
  return "zlib error " + std::to_string(code);
}

// Grows `out` to hold `extra` more bytes without letting capacity pass `cap`
// (std::string's own geometric growth could allocate up to twice the cap).
void ReserveWithin(std::string& out, std::size_t extra, std::size_t cap) {
  std::size_t need = out.size() + extra;
  if (need <= out.capacity()) return;
  out.reserve(std::min(cap, std::max(need, out.capacity() * 2)));
}

}  // namespace

struct GunzipStream::State {
  InflateStream s;
  std::array<unsigned char, kOutputStep> step;
};

GunzipStream::GunzipStream(std::size_t max_output, Sink sink)
    : state_(std::make_unique<State>()), max_output_(max_output), sink_(std::move(sink)) {}

GunzipStream::~GunzipStream() = default;

Status GunzipStream::Fail(Status st) {
  failed_ = true;
  return st;
}

Status GunzipStream::Step(std::string_view& input, std::size_t* progress) {
  z_stream& z = state_->s.z;
  const uInt chunk_in = static_cast<uInt>(std::min<std::size_t>(input.size(), UINT_MAX));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  z.avail_in = chunk_in;
  z.next_out = state_->step.data();
  z.avail_out = static_cast<uInt>(state_->step.size());
  const int rc = inflate(&z, Z_NO_FLUSH);
  const std::size_t consumed = chunk_in - z.avail_in;
  const std::size_t produced = state_->step.size() - z.avail_out;
  input.remove_prefix(consumed);
  if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
    return Fail(Status::InvalidArgument("corrupt gzip body: " + ZlibMessage(z, rc)));
  }
  if (produced > max_output_ - produced_) {
    return Fail(Status::ResourceExhausted("decompressed body exceeds the limit of " +
                                          std::to_string(max_output_) + " bytes"));
  }
  produced_ += produced;
  if (produced > 0) {
    Status st =
        sink_(std::string_view(reinterpret_cast<const char*>(state_->step.data()), produced));
    if (!st.ok()) return Fail(std::move(st));
  }
  if (rc == Z_STREAM_END) member_done_ = true;
  *progress = consumed + produced;
  return Status::Ok();
}

Status GunzipStream::Feed(std::string_view input) {
  if (failed_) return Status::FailedPrecondition("gzip stream already failed");
  z_stream& z = state_->s.z;
  if (!state_->s.initialised) {
    int rc = inflateInit2(&z, kGzipWindowBits);
    if (rc != Z_OK) return Fail(Status::Internal("inflateInit2: " + ZlibMessage(z, rc)));
    state_->s.initialised = true;
  }
  while (!input.empty()) {
    if (member_done_) {
      // A gzip file may hold several members back to back; anything else is garbage.
      if (static_cast<unsigned char>(input[0]) != 0x1f ||
          (input.size() >= 2 && static_cast<unsigned char>(input[1]) != 0x8b)) {
        return Fail(
            Status::InvalidArgument("gzip body has trailing bytes after the end of the stream"));
      }
      inflateReset(&z);
      member_done_ = false;
    }
    started_ = true;
    std::size_t progress = 0;
    PICKET_RETURN_IF_ERROR(Step(input, &progress));
    // zlib makes progress when it has input and room.
    if (!member_done_ && progress == 0) {
      return Fail(Status::InvalidArgument("corrupt gzip body: inflate made no progress"));
    }
  }
  return Status::Ok();
}

Status GunzipStream::Finish() {
  if (failed_) return Status::FailedPrecondition("gzip stream already failed");
  // Output still inside zlib (the input is all in, but the last call filled
  // the step): drain it.
  while (started_ && !member_done_) {
    std::string_view none;
    std::size_t progress = 0;
    PICKET_RETURN_IF_ERROR(Step(none, &progress));
    if (progress == 0) break;
  }
  if (!member_done_) return Fail(Status::InvalidArgument("truncated gzip body"));
  return Status::Ok();
}

Result<std::string> GunzipCapped(std::string_view compressed, std::size_t max_output) {
  std::string out;
  GunzipStream stream(max_output, [&](std::string_view piece) {
    ReserveWithin(out, piece.size(), max_output);
    out.append(piece);
    return Status::Ok();
  });
  PICKET_RETURN_IF_ERROR(stream.Feed(compressed));
  PICKET_RETURN_IF_ERROR(stream.Finish());
  return out;
}

Result<std::string> GzipCompress(std::string_view data) {
  z_stream z{};
  int rc =
      deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) return Status::Internal("deflateInit2 failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, deflateEnd);
  std::string out;
  out.resize(deflateBound(&z, static_cast<uLong>(data.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  rc = deflate(&z, Z_FINISH);
  if (rc != Z_STREAM_END) return Status::Internal("deflate failed: " + ZlibMessage(z, rc));
  out.resize(out.size() - z.avail_out);
  return out;
}

}  // namespace picket::collector
