// libFuzzer target for the collector's body decoders (gzip and zstd): a
// device's compressed body is inflated under a cap, so a corrupt stream or a
// bomb must end in an error, never a crash, and never produce more than the
// cap. The first byte is a knob: bits 0-5 pick the cap (0 B to 4 MiB), bit 6
// zstd instead of gzip, bit 7 compresses the rest first so the round trip is
// checked on arbitrary data too. Raw inputs are also fed in 7-byte pieces to
// the streaming decoder (the chunk path), which must agree with the whole.
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "collector/body_decoder.h"
#include "collector/gunzip.h"

using picket::collector::BodyEncoding;
using picket::collector::DecodeBodyCapped;
using picket::collector::GzipCompress;
using picket::collector::MakeBodyDecoder;

namespace {

std::string ZstdCompress(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 1);
  if (ZSTD_isError(n)) std::abort();
  out.resize(n);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t knob = data[0];
  const std::size_t cap = (knob & 0x3F) == 0x3F ? 0 : std::size_t{1} << (knob & 0x3F) % 23;
  const BodyEncoding encoding = (knob & 0x40) ? BodyEncoding::kZstd : BodyEncoding::kGzip;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  if (knob & 0x80) {
    std::string packed;
    if (encoding == BodyEncoding::kZstd) {
      packed = ZstdCompress(rest);
    } else {
      auto gz = GzipCompress(rest);
      if (!gz.ok()) std::abort();
      packed = std::move(*gz);
    }
    auto back = DecodeBodyCapped(encoding, packed, rest.size());
    if (!back.ok() || *back != rest) std::abort();  // the round trip must hold
    auto capped = DecodeBodyCapped(encoding, packed, cap);
    if (capped.ok() != (rest.size() <= cap)) std::abort();  // the cap is exact
    return 0;
  }
  auto whole = DecodeBodyCapped(encoding, std::string(rest), cap);
  if (whole.ok() && whole->size() > cap) std::abort();

  std::string pieces;
  auto decoder = MakeBodyDecoder(encoding, cap, [&](std::string_view out) {
    pieces.append(out);
    return picket::Status::Ok();
  });
  picket::Status st;
  for (std::size_t at = 0; at < rest.size() && st.ok(); at += 7) st = decoder->Feed(rest.substr(at, 7));
  if (st.ok()) st = decoder->Finish();
  if (st.ok() != whole.ok()) std::abort();       // pieces or whole: the same verdict
  if (st.ok() && pieces != *whole) std::abort();  // and the same bytes
  return 0;
}
