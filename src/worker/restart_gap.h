// How long capture was down before a worker starts, for the first chunk's
// gap_before_ms. Measured on CLOCK_BOOTTIME within one boot, so a wall clock
// stepped while the worker was down (NTP, an RTC reset) records no phantom
// gap; only across a reboot is the wall clock the best there is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "picket/capture/sniffer.h"

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

// What a capture stopped by a hand-over (make-before-break) leaves the worker
// after it: where it cut, when, and for which process. Written after its last
// seal; read and cleared by the successor once it holds the buffer.
struct CaptureHandOver {
  capture::CaptureCut cut;
  SealMark at;
  std::int64_t successor_pid = 0;  // the only worker that may take it
};

inline constexpr std::string_view kHandOverKey = "capture:handover";
// A successor takes the buffer within the lock timeout (30 s); anything older
// is a stop long ago, not an overlap.
inline constexpr std::int64_t kHandOverMaxAgeMs = 60'000;

std::string EncodeHandOver(const CaptureHandOver& handover);
// nullopt for anything but a small object with the fields of the right types.
std::optional<CaptureHandOver> ParseHandOver(std::string_view text);

// The cut to skip through: handed to `self_pid`, written in this boot at most
// kHandOverMaxAgeMs ago, and not stamped after the record itself (+1 s).
// Anything else is a stop with a gap after it.
std::optional<capture::CaptureCut> FreshCut(const std::optional<CaptureHandOver>& handover,
                                            const SealMark& now, std::int64_t self_pid);

}  // namespace picket::worker
