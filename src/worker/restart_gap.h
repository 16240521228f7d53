// How long capture was down before a worker starts, for the first chunk's
// gap_before_ms. Measured on CLOCK_BOOTTIME within one boot, so a wall clock
// stepped while the worker was down (NTP, an RTC reset) records no phantom
// gap; only across a reboot is the wall clock the best there is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace picket::worker {

// Where the clocks stood when a chunk was sealed; kept in the buffer's state table.
struct SealMark {
  std::string boot_id;     // /proc/sys/kernel/random/boot_id
  std::int64_t boot_ms = 0;  // CLOCK_BOOTTIME (runs through suspend)
  std::int64_t wall_ms = 0;
};

inline constexpr std::string_view kSealMarkKey = "capture:last_seal";

// The clocks now ("" as boot_id when /proc cannot be read).
SealMark SealMarkNow();

std::string EncodeSealMark(const SealMark& mark);
// nullopt for anything but a small object with the three fields of the right types.
std::optional<SealMark> ParseSealMark(std::string_view text);

// Time from `then` to `now`: the boot clock within one boot, otherwise the
// wall clock (negative when it went back).
std::int64_t ElapsedMs(const SealMark& then, const SealMark& now);

// Same boot: boot_ms difference; otherwise the wall-clock difference from
// `last_sealed_wall_ms` (the last chunk's sealed_at_ms); never negative; 0
// without a previous chunk.
std::int64_t RestartGapMs(const std::optional<SealMark>& last,
                          const std::optional<std::int64_t>& last_sealed_wall_ms,
                          const SealMark& now);

}  // namespace picket::worker
