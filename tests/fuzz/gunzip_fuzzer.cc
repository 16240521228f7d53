// libFuzzer target for the collector's gzip body decoder (GunzipCapped): a
// device's Content-Encoding: gzip body is inflated under a cap, so a corrupt
// stream or a zip bomb must end in an error, never a crash, and never
// produce more than the cap. The first byte picks the cap (0 B to 4 MiB).
// Inputs whose first byte has the top bit set are compressed first
// (GzipCompress), so the round trip is checked on arbitrary data too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "collector/gunzip.h"

using picket::collector::GunzipCapped;
using picket::collector::GzipCompress;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t knob = data[0];
  const std::size_t cap = (knob & 0x3F) == 0x3F ? 0 : std::size_t{1} << (knob & 0x3F) % 23;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  if (knob & 0x80) {
    auto gz = GzipCompress(rest);
    if (!gz.ok()) std::abort();
    auto back = GunzipCapped(*gz, rest.size());
    if (!back.ok() || *back != rest) std::abort();  // the round trip must hold
    auto capped = GunzipCapped(*gz, cap);
    if (capped.ok() != (rest.size() <= cap)) std::abort();  // the cap is exact
    return 0;
  }
  auto out = GunzipCapped(rest, cap);
  if (out.ok() && out->size() > cap) std::abort();
  return 0;
}
