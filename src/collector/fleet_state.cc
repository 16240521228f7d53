#include "collector/fleet_state.h"

#include <algorithm>
#include <set>

#include "picket/common/json_limits.h"

namespace picket::collector {

namespace {

using nlohmann::json;

constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::size_t kMaxTextField = 512;  // device-supplied strings shown in rows

// The member at "/a/b" (object keys only); null when any step is missing.
// Walks with find: json_pointer parses the path and walks it twice, which
// cost most of GET /v1/fleet's time with 1,000 devices.
const json* At(const json& doc, std::string_view pointer) {
  const json* at = &doc;
  while (!pointer.empty()) {
    pointer.remove_prefix(1);  // '/'
    const std::size_t slash = pointer.find('/');
    const std::string_view key = pointer.substr(0, slash);
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
    pointer = slash == std::string_view::npos ? std::string_view() : pointer.substr(slash);
  }
  return at;
}

std::optional<std::int64_t> IntAt(const json& doc, const char* pointer) {
  const json* v = At(doc, pointer);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v->is_number_integer()) return v->get<std::int64_t>();
  return std::nullopt;
}

std::optional<std::string> TextAt(const json& doc, const char* pointer) {
  const json* v = At(doc, pointer);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  std::string s = v->get<std::string>();
  if (s.size() > kMaxTextField) s.resize(kMaxTextField);
  return s;
}

std::optional<bool> BoolAt(const json& doc, const char* pointer) {
  const json* v = At(doc, pointer);
  if (v == nullptr || !v->is_boolean()) return std::nullopt;
  return v->get<bool>();
}

json ParseObject(const std::optional<std::string>& text) {
  if (!text) return json();
  json j = ParseJsonBounded(*text);
  return j.is_object() ? j : json();
}

// kernel + interface drops; nullopt when the heartbeat has neither.
std::optional<std::int64_t> Drops(const json& doc) {
  auto k = CounterAt(doc, "/counters/kernel_drops");
  auto i = CounterAt(doc, "/counters/if_drops");
  if (!k && !i) return std::nullopt;
  return k.value_or(0) + i.value_or(0);
}

std::optional<std::int64_t> UploadErrors(const json& doc) {
  auto f = CounterAt(doc, "/counters/uploads_failed");
  auto d = CounterAt(doc, "/counters/uploads_dead");
  if (!f && !d) return std::nullopt;
  return f.value_or(0) + d.value_or(0);
}

// Increase of a cumulative counter; nullopt when either side is unknown or it fell.
std::optional<std::int64_t> Increase(const std::optional<std::int64_t>& before,
                                     const std::optional<std::int64_t>& after) {
  if (!before || !after || *after < *before) return std::nullopt;
  return *after - *before;
}

json OrNull(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(); }
json OrNull(const std::optional<double>& v) { return v ? json(*v) : json(); }
json OrNull(const std::optional<std::string>& v) { return v ? json(*v) : json(); }
json OrNull(const std::optional<bool>& v) { return v ? json(*v) : json(); }

}  // namespace

std::optional<std::int64_t> CounterAt(const json& doc, const char* pointer) {
  auto v = IntAt(doc, pointer);
  if (!v || *v < 0) return std::nullopt;
  return v;
}

FleetState::FleetState(FleetStore* store, const Clock* clock) : store_(store), clock_(clock) {}

// The rates a row shows, over the last kRateWindowMs (or all the samples kept
// when they span less): a device's counters move in steps (its worker reports
// every 2 s), so a rate between two heartbeats 1 s apart reads 0 every other time.
void FleetState::ShownRates(Track& t) {
  t.pps = t.bps = t.drop_pct = std::nullopt;
  if (t.minute.size() < 2) return;
  const Sample& last = t.minute.back();
  const Sample* ref = &t.minute.front();
  for (const Sample& s : t.minute) {
    if (s.ms <= last.ms - kRateWindowMs) ref = &s;
  }
  if (ref == &last || last.ms <= ref->ms) return;
  const double seconds = static_cast<double>(last.ms - ref->ms) / 1000.0;
  auto dp = Increase(ref->packets, last.packets);
  auto db = Increase(ref->bytes, last.bytes);
  auto dd = Increase(ref->drops, last.drops);
  if (dp) t.pps = static_cast<double>(*dp) / seconds;
  if (db) t.bps = static_cast<double>(*db) * 8.0 / seconds;
  if (dp && dd) {
    t.drop_pct =
        *dp + *dd > 0 ? 100.0 * static_cast<double>(*dd) / static_cast<double>(*dp + *dd) : 0.0;
  }
}

Status FleetState::Restore() {
  auto latest = store_->LoadLatest();
  if (!latest.ok()) return latest.status();
  std::lock_guard lock(mu_);
  for (const StoredHeartbeat& beat : *latest) {
    json doc = ParseJsonBounded(beat.document);
    if (!doc.is_object()) continue;
    Track& t = tracks_[beat.device];
    t.received_ms = beat.received_ms;
    t.doc = std::move(doc);
  }
  return Status::Ok();
}

Status FleetState::Ingest(const std::string& device, std::string_view body) {
  if (!JsonNestingWithin(body)) {
    return Status::InvalidArgument("heartbeat: JSON nesting deeper than " +
                                   std::to_string(kMaxJsonDepth) + " levels");
  }
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("heartbeat: not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("heartbeat: not a JSON object");
  if (const json* c = At(doc, "/counters"); c != nullptr && !c->is_object()) {
    return Status::InvalidArgument("heartbeat: 'counters' must be an object, got " +
                                   std::string(c->type_name()));
  }
  if (auto iv = At(doc, "/interval_ms"); iv != nullptr && !iv->is_number_integer()) {
    return Status::InvalidArgument("heartbeat: 'interval_ms' must be an integer, got " +
                                   iv->dump().substr(0, 64));
  }
  const std::int64_t now = clock_->WallMillis();

  std::lock_guard lock(mu_);
  ++heartbeats_;
  Track& t = tracks_[device];
  const bool had = !t.doc.is_null();
  const bool restarted =
      had && (IntAt(t.doc, "/pid") != IntAt(doc, "/pid") ||
              IntAt(t.doc, "/started_at_ms") != IntAt(doc, "/started_at_ms"));
  const std::int64_t dt = had ? now - t.received_ms : 0;

  CounterDelta delta;
  delta.t_ms = now;
  delta.backlog_bytes = CounterAt(doc, "/counters/bytes_pending");
  const auto packets = CounterAt(doc, "/counters/packets");
  const auto drops = Drops(doc);
  if (had && !restarted && dt > 0) {
    auto dp = Increase(CounterAt(t.doc, "/counters/packets"), packets);
    auto db = Increase(CounterAt(t.doc, "/counters/bytes_captured"),
                       CounterAt(doc, "/counters/bytes_captured"));
    auto dd = Increase(Drops(t.doc), drops);
    auto du = Increase(CounterAt(t.doc, "/counters/bytes_uploaded"),
                       CounterAt(doc, "/counters/bytes_uploaded"));
    auto de = Increase(UploadErrors(t.doc), UploadErrors(doc));
    delta.covered_ms = dt;
    delta.packets = dp.value_or(0);
    delta.bytes = db.value_or(0);
    delta.drops = dd.value_or(0);
    delta.uploaded_bytes = du.value_or(0);
    delta.upload_errors = de.value_or(0);
    if (dp && *dp > 0) t.last_packet_change_ms = now;
  } else {
    t.pps = t.bps = t.drop_pct = std::nullopt;
    t.minute.clear();
    t.last_packet_change_ms = now;  // the clock for "no packets" starts at the first beat
  }
  if (restarted) t.minute.clear();
  t.minute.push_back(
      {now, packets, drops, delta.backlog_bytes, CounterAt(doc, "/counters/bytes_captured")});
  while (t.minute.size() > 2 && t.minute[1].ms <= now - kMinuteMs) t.minute.pop_front();
  while (t.minute.size() > 64) t.minute.pop_front();  // a device beating too fast
  ShownRates(t);

  const auto desired = IntAt(doc, "/config/desired_version");
  const auto applied = IntAt(doc, "/config/applied_version");
  if (desired && desired != applied) {
    if (!t.drift_since_ms) t.drift_since_ms = now;
  } else {
    t.drift_since_ms = std::nullopt;
  }
  t.received_ms = now;
  t.doc = std::move(doc);
  store_->QueueDelta(device, delta);
  store_->QueueHeartbeat({device, now, std::string(body)});
  return Status::Ok();
}

std::optional<json> FleetState::Latest(const std::string& device) const {
  std::lock_guard lock(mu_);
  auto it = tracks_.find(device);
  if (it == tracks_.end() || it->second.doc.is_null()) return std::nullopt;
  return it->second.doc;
}

std::uint64_t FleetState::heartbeats() const {
  std::lock_guard lock(mu_);
  return heartbeats_;
}

std::vector<DeviceFacts> FleetState::Evaluate(const std::map<std::string, DeviceUploads>& uploads,
                                              const ZkFleetSnapshot* zk, bool with_rows,
                                              const std::string* only) {
  const std::int64_t now = clock_->WallMillis();
  std::lock_guard lock(mu_);
  std::set<std::string> ids;
  if (only != nullptr) {
    if (tracks_.count(*only) || uploads.count(*only) ||
        (zk != nullptr && zk->devices.count(*only))) {
      ids.insert(*only);
    }
  } else {
    for (const auto& [id, _] : tracks_) ids.insert(id);
    for (const auto& [id, _] : uploads) ids.insert(id);
    if (zk != nullptr) {
      for (const auto& [id, _] : zk->devices) ids.insert(id);
    }
  }
  std::vector<DeviceFacts> out;
  out.reserve(ids.size());
  for (const std::string& id : ids) {
    auto t = tracks_.find(id);
    auto u = uploads.find(id);
    const ZkDeviceNodes* nodes = nullptr;
    if (zk != nullptr) {
      if (auto n = zk->devices.find(id); n != zk->devices.end()) nodes = &n->second;
    }
    out.push_back(EvaluateOne(id, t == tracks_.end() ? nullptr : &t->second,
                              u == uploads.end() ? nullptr : &u->second, nodes, zk, now,
                              with_rows));
  }
  return out;
}

DeviceFacts FleetState::EvaluateOne(const std::string& id, const Track* track,
                                    const DeviceUploads* uploads, const ZkDeviceNodes* nodes,
                                    const ZkFleetSnapshot* zk, std::int64_t now, bool with_rows) {
  DeviceFacts f;
  f.id = id;
  LivenessInput& in = f.input;
  in.now_ms = now;
  // The heartbeat, else the ZooKeeper status node (the same document).
  const bool zk_known = zk != nullptr && zk->connected;
  json zk_status = nodes != nullptr ? ParseObject(nodes->status) : json();
  const json& doc = track != nullptr ? track->doc : zk_status;
  if (track != nullptr) {
    in.last_heartbeat_ms = track->received_ms;
    in.interval_ms = IntAt(doc, "/interval_ms");
  }
  if (zk_known) in.zk_alive = nodes != nullptr && nodes->status.has_value();
  in.ever_uploaded = uploads != nullptr;
  in.worker_state = TextAt(doc, "/worker/state");
  in.crash_loop = BoolAt(doc, "/worker/crash_loop").value_or(false);
  in.last_error = TextAt(doc, "/last_error");
  in.zk_configured = BoolAt(doc, "/zookeeper/configured");
  in.zk_connected = BoolAt(doc, "/zookeeper/connected");
  in.applied_version = IntAt(doc, "/config/applied_version");
  in.desired_version = IntAt(doc, "/config/desired_version");

  std::optional<json> device_refused;
  if (const json* r = At(doc, "/config/refused"); r != nullptr && r->is_object()) {
    in.refusals.push_back({"device", IntAt(*r, "/version"),
                           TextAt(*r, "/error").value_or("(no reason given)")});
    device_refused = json{{"version", OrNull(IntAt(*r, "/version"))},
                          {"error", in.refusals.back().error}};
  }
  std::optional<std::string> group = TextAt(doc, "/group");
  if (nodes != nullptr) {
    const json config = ParseObject(nodes->config);
    if (auto v = IntAt(config, "/version")) in.desired_version = v;
    const json sync = ParseObject(nodes->sync);
    auto error = TextAt(sync, "/error");
    auto version = IntAt(sync, "/version");
    if (error && !error->empty() &&
        (!in.applied_version || !version || *version > *in.applied_version)) {
      in.refusals.push_back({"sync", version, *error});
    }
  }
  if (zk != nullptr && group) {
    if (auto g = zk->groups.find(*group); g != zk->groups.end()) {
      const json sync = ParseObject(g->second.sync);
      if (auto error = TextAt(sync, "/error"); error && !error->empty()) {
        in.refusals.push_back({"group", IntAt(sync, "/version"), *error});
      }
    }
  }
  // Drift: the heartbeat's own clock, else since this collector saw it in ZooKeeper.
  const bool drifting = in.desired_version && in.desired_version != in.applied_version;
  if (track != nullptr && track->drift_since_ms && drifting) {
    in.drift_since_ms = track->drift_since_ms;
  } else if (drifting) {
    in.drift_since_ms = drift_since_zk_.try_emplace(id, now).first->second;
  } else {
    drift_since_zk_.erase(id);
  }

  const auto free_bytes = CounterAt(doc, "/disk/free_bytes");
  const auto total_bytes = CounterAt(doc, "/disk/total_bytes");
  if (free_bytes && total_bytes && *total_bytes > 0) {
    in.disk_free_pct =
        100.0 * static_cast<double>(*free_bytes) / static_cast<double>(*total_bytes);
  }
  if (track != nullptr && track->minute.size() >= 2) {
    const Sample& first = track->minute.front();
    const Sample& last = track->minute.back();
    auto dp = Increase(first.packets, last.packets);
    auto dd = Increase(first.drops, last.drops);
    if (dp && dd) {
      in.drop_pct_last_minute =
          *dp + *dd > 0 ? 100.0 * static_cast<double>(*dd) / static_cast<double>(*dp + *dd) : 0.0;
    }
    // Growing: rose across at least 45 s of samples and never fell.
    bool rising = track->minute.size() >= 3 && last.ms - first.ms >= 45'000 && first.backlog &&
                  last.backlog && *last.backlog > *first.backlog;
    for (std::size_t i = 1; rising && i < track->minute.size(); ++i) {
      const auto& a = track->minute[i - 1].backlog;
      const auto& b = track->minute[i].backlog;
      rising = a && b && *b >= *a;
    }
    in.backlog_growing = rising;
  }
  if (track != nullptr) in.last_packet_change_ms = track->last_packet_change_ms;

  f.assessment = AssessDevice(in);
  f.packets = CounterAt(doc, "/counters/packets");
  f.drops = Drops(doc);
  f.backlog_bytes = CounterAt(doc, "/counters/bytes_pending");

  if (!with_rows) return f;
  json reasons = json::array();
  for (const std::string& r : f.assessment.reasons) reasons.push_back(r);
  std::optional<std::int64_t> age_s;
  if (in.last_heartbeat_ms) age_s = std::max<std::int64_t>(0, now - *in.last_heartbeat_ms) / 1000;
  // Emplaced one by one: a json{{...}} initializer list deep-copies every value,
  // which made up most of GET /v1/fleet's time with 1,000 devices.
  f.row = json::object();
  auto& row = f.row.get_ref<json::object_t&>();
  row.emplace("id", id);
  row.emplace("group", OrNull(group));
  row.emplace("status", std::string(DeviceStatusName(f.assessment.status)));
  row.emplace("reasons", std::move(reasons));
  row.emplace("last_heartbeat_ms", OrNull(in.last_heartbeat_ms));
  row.emplace("heartbeat_age_s", OrNull(age_s));
  row.emplace("offline_after_ms", f.assessment.offline_after_ms);
  row.emplace("picketd", OrNull(TextAt(doc, "/picketd")));
  row.emplace("desired_version", OrNull(in.desired_version));
  row.emplace("applied_version", OrNull(in.applied_version));
  row.emplace("drift", in.desired_version.has_value() && in.desired_version != in.applied_version);
  row.emplace("refused", device_refused ? *device_refused : json());
  row.emplace("worker_state", OrNull(in.worker_state));
  row.emplace("crash_loop", OrNull(BoolAt(doc, "/worker/crash_loop")));
  row.emplace("starts", OrNull(CounterAt(doc, "/worker/starts")));
  row.emplace("pps", OrNull(track != nullptr ? track->pps : std::nullopt));
  row.emplace("bps", OrNull(track != nullptr ? track->bps : std::nullopt));
  row.emplace("drop_pct", OrNull(track != nullptr ? track->drop_pct : std::nullopt));
  row.emplace("backlog_bytes", OrNull(f.backlog_bytes));
  row.emplace("backlog_chunks", OrNull(CounterAt(doc, "/counters/chunks_pending")));
  row.emplace("oldest_pending_age_s", OrNull(CounterAt(doc, "/counters/oldest_pending_age_s")));
  row.emplace("upload_errors", OrNull(UploadErrors(doc)));
  row.emplace("disk_free_bytes", OrNull(free_bytes));
  row.emplace("disk_free_pct", OrNull(in.disk_free_pct));
  row.emplace("uptime_s", OrNull(CounterAt(doc, "/uptime_s")));
  row.emplace("last_upload_ms", uploads != nullptr ? json(uploads->last_upload_ms) : json());
  row.emplace("zk_alive", OrNull(in.zk_alive));
  return f;
}

std::vector<IssueRow> FleetState::Issues(const std::vector<DeviceFacts>& facts) {
  const std::int64_t now = clock_->WallMillis();
  std::lock_guard lock(mu_);
  std::vector<IssueRow> out;
  std::set<std::pair<std::string, std::string>> current;
  for (const DeviceFacts& f : facts) {
    for (const Issue& issue : f.assessment.issues) {
      auto key = std::make_pair(f.id, issue.kind);
      current.insert(key);
      const std::int64_t since = issue_since_.try_emplace(key, now).first->second;
      out.push_back({issue, f.id, since});
    }
  }
  std::erase_if(issue_since_, [&](const auto& entry) { return !current.count(entry.first); });
  std::sort(out.begin(), out.end(), [](const IssueRow& a, const IssueRow& b) {
    const bool ac = a.issue.severity == "critical", bc = b.issue.severity == "critical";
    if (ac != bc) return ac;
    if (a.since_ms != b.since_ms) return a.since_ms < b.since_ms;
    return std::tie(a.device, a.issue.kind) < std::tie(b.device, b.issue.kind);
  });
  return out;
}

}  // namespace picket::collector
