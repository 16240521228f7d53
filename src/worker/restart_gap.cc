#include "worker/restart_gap.h"

#include <time.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "picket/common/clock.h"

namespace picket::worker {

namespace {

constexpr std::size_t kMaxMarkBytes = 512;  // three small fields

nlohmann::json MarkJson(const SealMark& mark) {
  return {{"boot_id", mark.boot_id}, {"boot_ms", mark.boot_ms}, {"wall_ms", mark.wall_ms}};
}

std::optional<SealMark> MarkFrom(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  const auto id = j.find("boot_id");
  const auto boot = j.find("boot_ms");
  const auto wall = j.find("wall_ms");
  if (id == j.end() || !id->is_string() || boot == j.end() || !boot->is_number_integer() ||
      wall == j.end() || !wall->is_number_integer()) {
    return std::nullopt;
  }
  return SealMark{id->get<std::string>(), boot->get<std::int64_t>(), wall->get<std::int64_t>()};
}

std::int64_t BootMillis() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

std::string ReadBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id.size() <= 64 ? id : std::string();
}

}  // namespace

SealMark SealMarkNow() {
  static const std::string boot_id = ReadBootId();  // fixed for the process: read once
  return {boot_id, BootMillis(), SystemClock::Instance().WallMillis()};
}

std::string EncodeSealMark(const SealMark& mark) { return MarkJson(mark).dump(); }

std::optional<SealMark> ParseSealMark(std::string_view text) {
  if (text.size() > kMaxMarkBytes) return std::nullopt;
  return MarkFrom(nlohmann::json::parse(text, nullptr, false));
}

std::string EncodeHandOver(const CaptureHandOver& handover) {
  return nlohmann::json{{"cut_ts_us", handover.cut.ts_us},
                        {"cut_at_ts", handover.cut.at_ts},
                        {"at", MarkJson(handover.at)},
                        {"successor_pid", handover.successor_pid}}
      .dump();
}

std::optional<CaptureHandOver> ParseHandOver(std::string_view text) {
  if (text.size() > 2 * kMaxMarkBytes) return std::nullopt;
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const auto ts = j.find("cut_ts_us");
  const auto n = j.find("cut_at_ts");
  const auto at = j.find("at");
  const auto pid = j.find("successor_pid");
  if (ts == j.end() || !ts->is_number_integer() || n == j.end() || !n->is_number_unsigned() ||
      at == j.end() || pid == j.end() || !pid->is_number_integer()) {
    return std::nullopt;
  }
  auto mark = MarkFrom(*at);
  if (!mark) return std::nullopt;
  return CaptureHandOver{
      {ts->get<std::int64_t>(), n->get<std::uint64_t>()}, *mark, pid->get<std::int64_t>()};
}

std::optional<capture::CaptureCut> FreshCut(const std::optional<CaptureHandOver>& handover,
                                            const SealMark& now, std::int64_t self_pid) {
  if (!handover || handover->successor_pid != self_pid || handover->at.boot_id.empty() ||
      handover->at.boot_id != now.boot_id) {
    return std::nullopt;
  }
  const std::int64_t age = now.boot_ms - handover->at.boot_ms;
  if (age < 0 || age > kHandOverMaxAgeMs) return std::nullopt;
  // The cut was taken before the record was written (same clock): one stamped
  // later is damage, and would make the successor skip every packet.
  if (handover->cut.ts_us > handover->at.wall_ms * 1000 + 1'000'000) return std::nullopt;
  return handover->cut;
}

std::int64_t ElapsedMs(const SealMark& then, const SealMark& now) {
  if (!then.boot_id.empty() && then.boot_id == now.boot_id) return now.boot_ms - then.boot_ms;
  return now.wall_ms - then.wall_ms;
}

std::int64_t RestartGapMs(const std::optional<SealMark>& last,
                          const std::optional<std::int64_t>& last_sealed_wall_ms,
                          const SealMark& now) {
  if (last && !last->boot_id.empty() && last->boot_id == now.boot_id) {
    return std::max<std::int64_t>(0, now.boot_ms - last->boot_ms);
  }
  if (!last_sealed_wall_ms) return 0;
  return std::max<std::int64_t>(0, now.wall_ms - *last_sealed_wall_ms);
}

}  // namespace picket::worker
