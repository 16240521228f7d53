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

Result<std::string> GunzipCapped(std::string_view compressed, std::size_t max_output) {
  InflateStream s;
  int rc = inflateInit2(&s.z, kGzipWindowBits);
  if (rc != Z_OK) return Status::Internal("inflateInit2: " + ZlibMessage(s.z, rc));
  s.initialised = true;

  std::string out;
  auto step = std::make_unique<std::array<unsigned char, kOutputStep>>();
  std::string_view input = compressed;
  bool member_done = false;
  while (true) {
    if (member_done) {
      if (input.empty()) break;
      // A gzip file may hold several members back to back; anything else is garbage.
      if (input.size() < 2 || static_cast<unsigned char>(input[0]) != 0x1f ||
          static_cast<unsigned char>(input[1]) != 0x8b) {
        return Status::InvalidArgument("gzip body has trailing bytes after the end of the stream");
      }
      inflateReset(&s.z);
      member_done = false;
    }
    const uInt chunk_in = static_cast<uInt>(std::min<std::size_t>(input.size(), UINT_MAX));
    s.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    s.z.avail_in = chunk_in;
    s.z.next_out = step->data();
    s.z.avail_out = static_cast<uInt>(step->size());
    rc = inflate(&s.z, Z_NO_FLUSH);
    const std::size_t consumed = chunk_in - s.z.avail_in;
    const std::size_t produced = step->size() - s.z.avail_out;
    input.remove_prefix(consumed);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      return Status::InvalidArgument("corrupt gzip body: " + ZlibMessage(s.z, rc));
    }
    if (produced > max_output - out.size()) {
      return Status::ResourceExhausted("decompressed body exceeds the limit of " +
                                       std::to_string(max_output) + " bytes");
    }
    ReserveWithin(out, produced, max_output);
    out.append(reinterpret_cast<const char*>(step->data()), produced);
    if (rc == Z_STREAM_END) {
      member_done = true;
      continue;
    }
    if (consumed == 0 && produced == 0) {
      // No progress: the input ended inside a member.
      return Status::InvalidArgument("truncated gzip body");
    }
  }
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
