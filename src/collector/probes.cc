#include "collector/probes.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <charconv>
#include <cstdio>

#include "picket/common/units.h"

namespace picket::collector {

using nlohmann::json;

Result<DiskThreshold> ParseDiskThreshold(std::string_view text) {
  DiskThreshold t;
  if (!text.empty() && text.back() == '%') {
    double pct = 0;
    std::string_view number = text.substr(0, text.size() - 1);
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), pct);
    if (number.empty() || ec != std::errc() || end != number.data() + number.size() || pct < 0 ||
        pct > 100) {
      return Status::InvalidArgument("--min-free-disk " + std::string(text) +
                                     ": expected a size (512MiB) or a percentage 0-100 (2%)");
    }
    t.percent = pct;
    return t;
  }
  auto size = ParseSize(std::string(text));
  if (!size.ok()) return size.status().WithContext("--min-free-disk");
  t.bytes = *size;
  return t;
}

std::string FormatDiskThreshold(const DiskThreshold& t) {
  if (t.percent) {
    char text[32];
    std::snprintf(text, sizeof text, "%g%%", *t.percent);
    return text;
  }
  return FormatSize(t.bytes);
}

Result<DiskSpace> DiskSpaceOf(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return FromErrno(path + ": statvfs", errno);
  DiskSpace d;
  d.free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  d.total_bytes = static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize;
  return d;
}

bool DiskFreeEnough(const DiskSpace& space, const DiskThreshold& threshold) {
  if (threshold.percent) {
    if (space.total_bytes == 0) return false;
    return 100.0 * static_cast<double>(space.free_bytes) /
               static_cast<double>(space.total_bytes) >=
           *threshold.percent;
  }
  return space.free_bytes >= threshold.bytes;
}

Readiness EvaluateReadiness(const ReadinessInput& in) {
  Readiness r;
  r.ready = true;
  json checks = json::object();
  if (in.database.ok()) {
    checks["database"] = {{"ok", true}};
  } else {
    r.ready = false;
    checks["database"] = {{"ok", false}, {"error", in.database.message()}};
  }
  if (!in.disk) {
    r.ready = false;
    checks["disk"] = {{"ok", false}, {"error", in.disk_error}};
  } else {
    const bool enough = DiskFreeEnough(*in.disk, in.threshold);
    checks["disk"] = {{"ok", enough},
                      {"free_bytes", in.disk->free_bytes},
                      {"total_bytes", in.disk->total_bytes},
                      {"min_free", FormatDiskThreshold(in.threshold)}};
    if (!enough) {
      r.ready = false;
      checks["disk"]["error"] = "data disk has " + FormatSize(in.disk->free_bytes) +
                                " free, under --min-free-disk " +
                                FormatDiskThreshold(in.threshold);
    }
  }
  if (in.zookeeper) {
    checks["zookeeper"] = {{"ok", *in.zookeeper}};
    if (!*in.zookeeper) {
      r.ready = false;
      checks["zookeeper"]["error"] = in.zookeeper_error;
    }
  } else {
    checks["zookeeper"] = {{"ok", true}, {"configured", false}};
  }
  r.body = {{"ready", r.ready}, {"checks", std::move(checks)}};
  return r;
}

}  // namespace picket::collector
