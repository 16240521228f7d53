#include "picket/common/units.h"

#include <charconv>
#include <limits>

namespace picket {

namespace {

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};

// Splits "123abc" into 123 and "abc"; false when there is no leading number or it overflows.
bool SplitNumber(std::string_view text, std::uint64_t* number, std::string_view* suffix) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, *number);
  if (ec != std::errc()) return false;
  *suffix = text.substr(digits);
  while (!suffix->empty() && suffix->front() == ' ') suffix->remove_prefix(1);
  return true;
}

template <size_t N>
bool Scale(std::uint64_t number, std::string_view suffix, const Unit (&units)[N],
           std::uint64_t* out) {
  for (const Unit& u : units) {
    if (suffix == u.suffix) {
      if (number > std::numeric_limits<std::uint64_t>::max() / u.factor) return false;
      *out = number * u.factor;
      return true;
    }
  }
  return false;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  static constexpr Unit kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000},
                                    {"d", 86'400'000}};
  std::uint64_t number = 0, ms = 0;
  std::string_view suffix;
  const std::string quoted = "'" + std::string(text) + "'";
  if (!SplitNumber(text, &number, &suffix)) {
    return Status::InvalidArgument("bad duration " + quoted + " (expected e.g. 150ms, 10s, 5m, 1h)");
  }
  if (suffix.empty()) {
    return Status::InvalidArgument("bad duration " + quoted + ": missing unit (ms, s, m, h, d)");
  }
  if (!Scale(number, suffix, kUnits, &ms) ||
      ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return Status::InvalidArgument("bad duration " + quoted + ": unknown unit or too large");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

Result<std::uint64_t> ParseSize(std::string_view text) {
  static constexpr Unit kUnits[] = {{"", 1},          {"B", 1},          {"KiB", 1ull << 10},
                                    {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
                                    {"KB", 1000},     {"MB", 1000'000},  {"GB", 1000'000'000}};
  std::uint64_t number = 0, bytes = 0;
  std::string_view suffix;
  const std::string quoted = "'" + std::string(text) + "'";
  if (!SplitNumber(text, &number, &suffix)) {
    return Status::InvalidArgument("bad size " + quoted + " (expected e.g. 512KiB, 32MiB, 1GiB)");
  }
  if (!Scale(number, suffix, kUnits, &bytes)) {
    return Status::InvalidArgument("bad size " + quoted +
                                   ": unknown unit or too large (use B, KiB, MiB, GiB, TiB)");
  }
  return bytes;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string FormatSize(std::uint64_t bytes) {
  if (bytes != 0 && bytes % (1ull << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
  if (bytes != 0 && bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes != 0 && bytes % (1ull << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes) + "B";
}

}  // namespace picket
