#include "status_document.h"

#include <sys/statvfs.h>

#include <cerrno>

namespace picket::supervisor {

namespace {

using nlohmann::json;

constexpr std::size_t kKeptErrors = 3;         // of a refused config's validator messages
constexpr std::size_t kKeptTextBytes = 1024;  // of last_error

std::string Dump(const json& doc) { return doc.dump(-1, ' ', false, json::error_handler_t::replace); }

worker_protocol::Stats Sum(const worker_protocol::Stats& a, const worker_protocol::Stats& b) {
  worker_protocol::Stats s;
  s.packets = a.packets + b.packets;
  s.lost_packets = a.lost_packets + b.lost_packets;
  s.filter_changes = a.filter_changes + b.filter_changes;
  s.kernel_drops = a.kernel_drops + b.kernel_drops;
  s.if_drops = a.if_drops + b.if_drops;
  s.bytes_captured = a.bytes_captured + b.bytes_captured;
  return s;
}

}  // namespace

Result<DiskSpace> StatDisk(const std::string& path) {
  struct statvfs vfs {};
  if (::statvfs(path.c_str(), &vfs) != 0) return FromErrno("statvfs " + path, errno);
  const std::uint64_t unit = vfs.f_frsize ? vfs.f_frsize : vfs.f_bsize;
  return DiskSpace{static_cast<std::uint64_t>(vfs.f_bavail) * unit,
                   static_cast<std::uint64_t>(vfs.f_blocks) * unit};
}

std::string HeartbeatBody(const json& status, const HeartbeatFields& f) {
  json doc = status.is_object() ? status : json::object();
  doc["device"] = f.device;
  doc["group"] = f.group;
  doc["sent_at_ms"] = f.sent_at_ms;
  doc["interval_ms"] = f.interval_ms;
  doc["uptime_s"] = f.uptime_s;
  // The status node says "connected"/"expired"; the heartbeat says whether there is a link at all.
  doc["zookeeper"] = {{"configured", f.zk_configured}, {"connected", f.zk_connected}};
  json disk = {{"path", f.disk_path}, {"free_bytes", nullptr}, {"total_bytes", nullptr}};
  if (f.disk) {
    disk["free_bytes"] = f.disk->free_bytes;
    disk["total_bytes"] = f.disk->total_bytes;
  }
  doc["disk"] = std::move(disk);
  if (!f.scan.is_null()) doc["scan"] = f.scan;
  std::string body = Dump(doc);
  if (body.size() <= kMaxHeartbeatBytes) return body;
  doc["truncated"] = true;
  if (doc.contains("scan")) doc["scan"] = json::array();
  if (auto config = doc.find("config"); config != doc.end() && config->is_object()) {
    if (auto refused = config->find("refused"); refused != config->end() && refused->is_object()) {
      if (auto errors = refused->find("errors"); errors != refused->end() && errors->is_array() &&
                                                  errors->size() > kKeptErrors) {
        errors->erase(errors->begin() + kKeptErrors, errors->end());
      }
    }
  }
  if (auto it = doc.find("last_error"); it != doc.end() && it->is_string()) {
    auto& text = it->get_ref<std::string&>();
    if (text.size() > kKeptTextBytes) text.resize(kKeptTextBytes);
  }
  body = Dump(doc);
  if (body.size() <= kMaxHeartbeatBytes) return body;
  // Still too big (cannot happen with today's document): what liveness needs.
  json small = json::object();
  for (const char* key : {"device", "group", "picketd", "pid", "started_at_ms", "uptime_s",
                          "sent_at_ms", "interval_ms", "zookeeper", "disk", "truncated"}) {
    if (auto it = doc.find(key); it != doc.end()) small[key] = *it;
  }
  return Dump(small);
}

void WorkerCounterTotals::Update(std::uint64_t run, const worker_protocol::Stats& stats) {
  if (run < run_) return;
  if (run > run_) {
    finished_ = Sum(finished_, current_);
    run_ = run;
  }
  current_ = stats;
}

worker_protocol::Stats WorkerCounterTotals::Total() const { return Sum(finished_, current_); }

void WorkerCounterTotals::WriteTo(json& counters) const {
  const worker_protocol::Stats t = Total();
  counters["packets"] = t.packets;
  counters["lost_packets"] = t.lost_packets;
  counters["kernel_drops"] = t.kernel_drops;
  counters["if_drops"] = t.if_drops;
  counters["bytes_captured"] = t.bytes_captured;
}

}  // namespace picket::supervisor
