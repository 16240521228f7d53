// Human units in configs: durations ("150ms", "10s", "5m", "1h") and sizes
// ("512KiB", "32MiB", "1GiB", or a plain byte count). Plain integers in a
// duration field are refused: "60" could mean seconds or milliseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket {

Result<std::chrono::milliseconds> ParseDuration(std::string_view text);
Result<std::uint64_t> ParseSize(std::string_view text);

std::string FormatDuration(std::chrono::milliseconds d);
std::string FormatSize(std::uint64_t bytes);

}  // namespace picket
